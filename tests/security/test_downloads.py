"""CSV downloads: text a spreadsheet would run as a formula is neutralised; the rest is unchanged."""

from __future__ import annotations

import csv
import io

import pandas as pd

from dashboard.downloads import csv_bytes, safe_cell
from tests.security.payloads import INERT_TEXT


def read_back(data: bytes) -> list[list[str]]:
    assert data.startswith(b"\xef\xbb\xbf"), "a byte order mark, so Excel reads the file as UTF-8"
    return list(csv.reader(io.StringIO(data.decode("utf-8-sig"), newline="")))


def test_formula_cells_get_an_apostrophe_and_other_text_is_kept():
    starts = ["=1+1", "+86 571", "-2+3", "@SUM(A1)", "\t=1", "\r=1", INERT_TEXT["CSV formula"]]
    kept = ["plain", "停电", INERT_TEXT["script tag"], "a=b", ""]
    frame = pd.DataFrame({"text": starts + kept, "n": range(len(starts) + len(kept))})

    rows = read_back(csv_bytes(frame))

    assert rows[0] == ["text", "n"]
    assert [r[0] for r in rows[1:]] == ["'" + s for s in starts] + kept
    assert [r[1] for r in rows[1:]] == [str(n) for n in range(len(starts) + len(kept))]


def test_numbers_stay_numbers_and_column_names_are_neutralised_too():
    frame = pd.DataFrame({"=cmd|' /C calc'!A0": ["x"], "delta": [-5], "share": [-0.25]})

    rows = read_back(csv_bytes(frame))

    assert rows == [["'=cmd|' /C calc'!A0", "delta", "share"], ["x", "-5", "-0.25"]]
    assert safe_cell(-5) == -5 and safe_cell(None) is None
