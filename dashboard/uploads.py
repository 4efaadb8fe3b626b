"""File upload boxes whose every word is in the page's language.

Streamlit's upload box writes its button ("Upload") and its limits ("200MB per file • CSV") in
English, whatever the page's language. Each box here hides that line and says the same, the size
limit the browser enforces and the file types, in a caption of the page's language; on a Chinese page
the button says 上传.
"""

from __future__ import annotations

from collections.abc import Sequence

import streamlit as st
from streamlit.runtime.uploaded_file_manager import UploadedFile

from dashboard.i18n import current_language, t

# Scoped to upload boxes: the instructions line goes (the caption below says it in the page's
# language); on a Chinese page the button's English word is drawn as 上传 instead.
HIDE_INSTRUCTIONS = '[data-testid="stFileUploaderDropzoneInstructions"] { display: none; }'
CHINESE_BUTTON = (
    '[data-testid="stFileUploaderDropzone"] button p { font-size: 0; }'
    '[data-testid="stFileUploaderDropzone"] button p::after { content: "上传"; font-size: 1rem; }'
)


def upload_box(
    label: str, types: Sequence[str], *, key: str | None = None, limit_mb: int | None = None
) -> UploadedFile | None:
    """One file: `st.file_uploader` with its limits said in the page's language."""
    uploaded = _draw(label, types, key=key, multiple=False, limit_mb=limit_mb)
    assert not isinstance(uploaded, list)
    return uploaded


def upload_boxes(
    label: str, types: Sequence[str], *, key: str | None = None, limit_mb: int | None = None
) -> list[UploadedFile]:
    """Several files: `st.file_uploader` with its limits said in the page's language."""
    uploaded = _draw(label, types, key=key, multiple=True, limit_mb=limit_mb)
    return uploaded if isinstance(uploaded, list) else []


def _draw(
    label: str, types: Sequence[str], *, key: str | None, multiple: bool, limit_mb: int | None
) -> UploadedFile | list[UploadedFile] | None:
    """The box, then a caption naming the size the browser refuses above (`limit_mb`, else the
    server's `server.maxUploadSize`) and the accepted file types."""
    chinese = current_language() == "zh"
    st.html(f"<style>{HIDE_INSTRUCTIONS}{CHINESE_BUTTON if chinese else ''}</style>")
    uploaded = st.file_uploader(
        label, type=list(types), accept_multiple_files=multiple, key=key, max_upload_size=limit_mb
    )
    megabytes = limit_mb if limit_mb is not None else int(st.get_option("server.maxUploadSize"))
    separator = "、" if chinese else ", "
    st.caption(t("upload.limits", mb=megabytes, types=separator.join(kind.upper() for kind in types)))
    return uploaded
