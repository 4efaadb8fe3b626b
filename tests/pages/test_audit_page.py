"""The audit page through the entry script: who reaches it, filters, pages newest first."""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from emergency.core import audit
from emergency.core.actor import Actor
from emergency.core.clock import SYSTEM_CLOCK, FakeClock
from emergency.core.db import get_database
from tests.pages.conftest import page
from tests.support.small_territory import PASSWORDS
from tests.support.staff_login import TIMEOUT, signed_in


def add_confirmations(url: str, count: int) -> None:
    clock = FakeClock(SYSTEM_CLOCK.now())
    with get_database(url).write() as session:
        for n in range(count):
            audit.record(
                session,
                clock,
                Actor("dan", "dispatcher"),
                "outage.confirm",
                "outage",
                n,
                before={"state": "predicted"},
                after={"state": "confirmed"},
                detail=f"<script>alert({n})</script>" if n == 0 else None,
            )
            clock.advance(seconds=1)


def column(at: AppTest, name: str) -> list[str]:
    return list(at.dataframe[0].value[name])


def filter_input(at: AppTest, label: str):  # type: ignore[no-untyped-def]
    return next(w for w in at.text_input if w.label == label)


def button(at: AppTest, label: str):  # type: ignore[no-untyped-def]
    return next(b for b in at.button if b.label == label)


def test_a_dispatcher_has_no_audit_page(territory_db) -> None:
    at = signed_in("dispatcher", PASSWORDS["dispatcher"])
    with pytest.raises(ValueError, match="Could not find a navigation page"):
        at.switch_page(page("audit_log.py"))


def test_the_page_refuses_a_session_without_a_manager(territory_db) -> None:
    at = AppTest.from_file(page("audit_log.py"), default_timeout=TIMEOUT)
    at.run()
    assert not at.dataframe
    assert "Please log in" in at.error[0].value


def test_a_manager_filters_and_pages_newest_first(territory_db) -> None:
    url, _ = territory_db
    add_confirmations(url, 60)
    at = signed_in("manager", PASSWORDS["manager"])
    at.switch_page(page("audit_log.py")).run()
    assert not at.exception, at.exception

    filter_input(at, "Action").input("outage.confirm")
    button(at, "Apply filters").click().run()

    assert "60 events match" in "\n".join(m.value for m in at.markdown)
    first = column(at, "Entity id")
    assert first == [str(n) for n in range(59, 9, -1)]
    assert set(column(at, "Changes (before → after)")) == {"state: predicted → confirmed"}
    button(at, "Older →").click().run()
    assert column(at, "Entity id") == [str(n) for n in range(9, -1, -1)]
    # User-written detail is shown as text in a table cell, never run.
    assert column(at, "Detail")[-1] == "<script>alert(0)</script>"
    assert button(at, "Older →").disabled
    button(at, "← Newer").click().run()
    assert column(at, "Entity id") == first


def test_a_filter_with_no_match_says_so(territory_db) -> None:
    url, _ = territory_db
    add_confirmations(url, 3)
    at = signed_in("admin", PASSWORDS["admin"])
    at.switch_page(page("audit_log.py")).run()

    filter_input(at, "Who").input("nobody")
    button(at, "Apply filters").click().run()

    assert at.info[0].value == "No events match these filters."
    assert not at.dataframe


def test_the_page_reads_in_chinese(territory_db) -> None:
    url, _ = territory_db
    add_confirmations(url, 2)
    at = signed_in("manager", PASSWORDS["manager"])
    at.sidebar.button_group(key="lang").set_value("zh").run()
    at.switch_page(page("audit_log.py")).run()

    assert not at.exception, at.exception
    assert at.title[0].value == "审计日志"
    assert "变更（前 → 后）" in at.dataframe[0].value.columns
