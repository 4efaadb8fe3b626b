"""Upload boxes in the page's language (dashboard/uploads.py): Streamlit's English limits line is
hidden and said again below the box in the page's language, with the size the browser enforces."""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest


def box_script(language: str, limit_mb: int | None) -> None:
    import streamlit as st

    from dashboard.uploads import upload_box

    st.session_state.setdefault("lang", language)
    upload_box("Roster file", ["csv", "xlsx"], key="roster", limit_mb=limit_mb)


def run(language: str, limit_mb: int | None = None) -> AppTest:
    at = AppTest.from_function(box_script, args=(language, limit_mb), default_timeout=30)
    at.run()
    assert not at.exception, at.exception
    return at


def styles(at: AppTest) -> str:
    return "".join(element.proto.body for element in at.get("html"))


@pytest.mark.parametrize(
    ("language", "caption", "button"),
    [
        ("en", "Up to 200 MB per file · CSV, XLSX", False),
        ("zh", "每个文件不超过 200 MB · CSV、XLSX", True),
    ],
)
def test_the_limits_are_said_in_the_pages_language(language: str, caption: str, button: bool) -> None:
    at = run(language)
    assert [c.value for c in at.caption] == [caption]
    css = styles(at)
    assert "stFileUploaderDropzoneInstructions" in css  # Streamlit's English line is hidden
    assert ("上传" in css) is button


def test_a_box_with_its_own_limit_says_that_limit() -> None:
    at = run("zh", limit_mb=15)
    assert [c.value for c in at.caption] == ["每个文件不超过 15 MB · CSV、XLSX"]
