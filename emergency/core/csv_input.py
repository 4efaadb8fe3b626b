"""Reading CSV files people upload: the one reader behind the territory import, the important-users
register import and `ingest`.

Spreadsheets are edited by hand and saved in many ways, so the reader tells each caller where a
record starts and ends (a quoted value may span lines), which records are blank, when a record has
the wrong number of values, and when the bytes are not UTF-8 text at all. Each caller keeps its
own limits and words its refusals for its readers.
"""

from __future__ import annotations

import codecs
import csv
from collections.abc import Iterable, Iterator
from typing import NamedTuple

ZIP_MAGIC = b"PK\x03\x04"


class Record(NamedTuple):
    """One CSV record: its values and the lines it starts and ends on (the first line being 1)."""

    start: int
    end: int
    values: list[str]

    @property
    def blank(self) -> bool:
        return not any(value.strip() for value in self.values)


class CsvReader:
    """CSV records from lines of text (an open text file, `io.StringIO(text, newline="")`, or
    any iterable of lines); `csv.Error` is raised as the csv module raises it, and `lines_read`
    then says how far the reader got."""

    def __init__(self, lines: Iterable[str]) -> None:
        self._reader = csv.reader(lines)

    @property
    def lines_read(self) -> int:
        return self._reader.line_num

    def __iter__(self) -> Iterator[Record]:
        end = 0
        for values in self._reader:
            start, end = end + 1, self._reader.line_num
            yield Record(start, end, values)


def width_problem(values: list[str], width: int) -> str | None:
    """Why a record does not fit a header of `width` columns, or None when it does."""
    if len(values) == width:
        return None
    # A quote left open swallows the rest of the file into one value.
    hint = " (is a quote left open?)" if any("\n" in value for value in values) else ""
    return f"row has {len(values)} values, the header has {width}{hint}"


def not_text(head: bytes) -> str | None:
    """Why a file starting with `head` is not UTF-8 text but something saved another way, or None."""
    if head.startswith(ZIP_MAGIC):
        return "a ZIP archive or an Excel workbook, not a text file; save as CSV UTF-8"
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "UTF-16 text; save it as UTF-8"
    return None
