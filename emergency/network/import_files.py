"""Reading the territory import's files: size limits, text encoding, CSV rows with typed values.

Every problem is collected in a `ProblemLog` naming the file, line and column rather than raised,
so one import reports everything that is wrong at once.
"""

from __future__ import annotations

import csv
import io
import math
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any, Literal, TypeVar

from emergency.core.csv_input import CsvReader, not_text, width_problem
from emergency.core.errors import Problem

MIB = 1024 * 1024
# Largest file accepted per kind. Each file is held in memory while it is checked; these sizes
# cover about a million customers (about 200 bytes a row) with room to spare. Bigger customer
# files can be split and imported in turn, since rows are matched by account number.
MAX_FILE_BYTES: dict[str, int] = {
    "districts": 64 * MIB,
    "network": 128 * MIB,
    "customers": 256 * MIB,
    "crews": 16 * MIB,
}
# Problems kept for the report; past this the count goes on but the rows are not kept, so a file
# with a systematic fault (wrong column order) cannot exhaust memory with error objects.
MAX_ERRORS_KEPT = 1000

_NUMBER = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$")
_INTEGER = re.compile(r"^\+?\d+$")
_CLOCK_TIME = re.compile(r"^(\d{1,2}):(\d{2})$")
# Digits, spaces, "+", "-" and parentheses, with at least three digits.
_PHONE = re.compile(r"^(?=(?:\D*\d){3})[0-9+()\- ]+$")
# Terminal escapes and the like have no place in a name or code; tabs and line breaks (a quoted
# address over two lines) are let through.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_TRUE = frozenset({"true", "t", "yes", "y", "1", "是"})
_FALSE = frozenset({"false", "f", "no", "n", "0", "否"})

E = TypeVar("E", bound=StrEnum)
# Between a file's name and a layer's in the place of a problem: "net.gpkg (layer devices)".
LAYER_MARK = " (layer "


class ProblemLog:
    """The problems an import found, in the order found; past MAX_ERRORS_KEPT only counted."""

    def __init__(self) -> None:
        self.kept: list[Problem] = []
        self.omitted = 0

    def add(
        self,
        file: str,
        line: int | None,
        column: str,
        reason: str,
        unit: Literal["line", "feature"] = "line",
    ) -> None:
        if len(self.kept) < MAX_ERRORS_KEPT:
            self.kept.append(Problem.in_file(file, line, column, reason, unit))
        else:
            self.omitted += 1

    def add_once(
        self,
        file: str,
        line: int | None,
        column: str,
        reason: str,
        unit: Literal["line", "feature"] = "line",
    ) -> None:
        if Problem.in_file(file, line, column, reason, unit) not in self.kept:
            self.add(file, line, column, reason, unit)

    def __bool__(self) -> bool:
        return bool(self.kept) or self.omitted > 0

    def sorted(self, file_order: Sequence[str]) -> list[Problem]:
        rank = {name: i for i, name in enumerate(file_order)}

        def file_rank(label: str) -> tuple[int, str]:
            # A GIS layer is named "file (layer x)": it sorts with its file, layers by name.
            base, _, layer = label.partition(LAYER_MARK)
            return rank.get(base, len(rank)), layer

        # Checks run file by file and then across files; sorting puts each file's problems in
        # line order, whole-file problems first.
        return sorted(
            self.kept,
            key=lambda e: (*file_rank(e.file or ""), -1 if e.line is None else e.line),
        )


def _size(n: int) -> str:
    if n >= MIB:
        return f"{n / MIB:.1f} MiB".replace(".0 MiB", " MiB")
    return f"{n:,} bytes"


def read_text(path: Path, kind: str, problems: ProblemLog) -> str | None:
    """The file as text, or None after reporting why it cannot be read as UTF-8 text."""
    label = str(path)
    try:
        if path.is_dir():
            problems.add(label, None, "", "is a directory, not a file")
            return None
        size = path.stat().st_size
    except OSError as exc:
        problems.add(label, None, "", f"cannot read the file: {exc.strerror or exc}")
        return None
    limit = MAX_FILE_BYTES[kind]
    if size > limit:
        problems.add(
            label,
            None,
            "",
            f"file is {_size(size)}, above the {_size(limit)} limit for a {kind} file; "
            "split it and import the parts one after another",
        )
        return None
    try:
        data = path.read_bytes()
    except OSError as exc:
        problems.add(label, None, "", f"cannot read the file: {exc.strerror or exc}")
        return None
    saved_otherwise = not_text(data)
    if saved_otherwise is not None:
        problems.add(label, None, "", f"is {saved_otherwise}")
        return None
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        problems.add(
            label,
            data.count(b"\n", 0, exc.start) + 1,
            "",
            f"not valid UTF-8 text (byte 0x{data[exc.start]:02x}); save the file as UTF-8 "
            "(files saved as GBK or GB18030 must be converted)",
        )
        return None
    nul = text.find("\x00")
    if nul >= 0:
        problems.add(label, text.count("\n", 0, nul) + 1, "", "contains a NUL character: not a text file")
        return None
    return text


@dataclass
class ParsedFile:
    """One file's rows as parsed (of the type its parser makes), and whether it could be read."""

    label: str
    rows: list[Any]
    # Keys that rows (even broken ones) claimed, so a later reference to them is not reported as
    # unknown on top of the row's own problem.
    claimed: set[str] = field(default_factory=set)
    # False when the file as a whole could not be read: checks that depend on its rows are
    # skipped, since every reference to them would fail and bury the one message that matters.
    readable: bool = True
    # How its rows are numbered: CSV lines, or a GIS layer's feature ids.
    unit: Literal["line", "feature"] = "line"
    # The network file's form: "tree" (parent_code) or "nodes" (from_node/to_node).
    form: str = "tree"
    # The columns the file's header named (CSV), or the attributes a GIS layer has.
    columns: set[str] = field(default_factory=set)
    # Conductors joined into electrical nodes (a GIS line layer), and the coordinate system the
    # positions were given in when it was not WGS84 longitude/latitude.
    conductors_joined: int = 0
    source_crs: str | None = None


@dataclass(frozen=True)
class CsvSpec:
    kind: str
    required: tuple[str, ...]
    optional: tuple[str, ...]
    # Required columns that another group of columns may stand in for: (("lon", "lat"), ("x",
    # "y")) lets a file give x/y (in a projected coordinate system) instead of lon/lat.
    instead: tuple[tuple[str, ...], tuple[str, ...]] | None = None


class Row:
    """One CSV row and typed access to its values; each bad value is reported where it was found."""

    def __init__(
        self,
        file: str,
        line: int,
        values: dict[str, str],
        problems: ProblemLog,
        unit: Literal["line", "feature"] = "line",
    ) -> None:
        self.file = file
        self.line = line
        self.values = values
        self.problems = problems
        self.unit: Literal["line", "feature"] = unit
        self.ok = True
        # A GIS feature whose geometry was already reported: its position is not asked for again.
        self.position_reported = False

    def fail(self, column: str, reason: str) -> None:
        self.problems.add(self.file, self.line, column, reason, self.unit)
        self.ok = False

    def text(self, column: str, max_len: int, *, required: bool = False) -> str | None:
        value = self.values.get(column, "")
        if not value:
            if required:
                self.fail(column, "required value is empty")
            return None
        if len(value) > max_len:
            self.fail(column, f"longer than {max_len} characters ({len(value)})")
            return None
        if _CONTROL.search(value):
            self.fail(column, "contains control characters")
            return None
        return value

    def number(
        self,
        column: str,
        *,
        required: bool = False,
        low: float | None = None,
        high: float | None = None,
        positive: bool = False,
    ) -> float | None:
        value = self.values.get(column, "")
        if not value:
            if required:
                self.fail(column, "required value is empty")
            return None
        if not _NUMBER.match(value):
            self.fail(column, f"not a number: {value!r}")
            return None
        number = float(value)
        if not math.isfinite(number):
            self.fail(column, f"not a finite number: {value!r}")
            return None
        if positive and number <= 0:
            self.fail(column, f"must be greater than 0, not {value}")
            return None
        if low is not None and number < low:
            self.fail(column, f"must be at least {low:g}, not {value}")
            return None
        if high is not None and number > high:
            self.fail(column, f"must be at most {high:g}, not {value}")
            return None
        return number

    def integer(self, column: str, *, low: int, high: int, required: bool = False) -> int | None:
        value = self.values.get(column, "")
        if not value:
            if required:
                self.fail(column, "required value is empty")
            return None
        if not _INTEGER.match(value):
            self.fail(column, f"not a whole number: {value!r}")
            return None
        number = int(value)
        if not low <= number <= high:
            self.fail(column, f"{value} is out of range ({low} to {high})")
            return None
        return number

    def choice(self, column: str, enum: type[E], *, required: bool = False) -> E | None:
        value = self.values.get(column, "")
        if not value:
            if required:
                self.fail(column, "required value is empty")
            return None
        try:
            return enum(value.lower())
        except ValueError:
            allowed = ", ".join(member.value for member in enum)
            self.fail(column, f"unknown value {value!r} (allowed: {allowed})")
            return None

    def flag(self, column: str) -> bool | None:
        value = self.values.get(column, "").lower()
        if not value:
            return None
        if value in _TRUE:
            return True
        if value in _FALSE:
            return False
        self.fail(column, f"not true or false: {self.values[column]!r}")
        return None

    def clock_time(self, column: str, default: str) -> str | None:
        value = self.values.get(column, "")
        if not value:
            return default
        match = _CLOCK_TIME.match(value)
        if not match or int(match[1]) > 23 or int(match[2]) > 59:
            self.fail(column, f"not a time of day HH:MM (00:00 to 23:59): {value!r}")
            return None
        return f"{int(match[1]):02d}:{match[2]}"

    def phone(self, column: str, max_len: int) -> str | None:
        value = self.text(column, max_len)
        if value is None:
            return None
        if not _PHONE.match(value):
            self.fail(column, f"not a phone number (digits, spaces, '+', '-', parentheses): {value!r}")
            return None
        return value

    def position(self, projected: bool = False) -> tuple[float | None, float | None]:
        """Longitude and latitude in degrees; with `projected`, the x and y (or lon and lat) as
        given, checked only as numbers: they are range-checked once reprojected to WGS84."""
        if self.position_reported:
            return None, None
        if projected:
            x, y = ("x", "y") if "x" in self.values else ("lon", "lat")
            return self.number(x, required=True), self.number(y, required=True)
        return (
            self.number("lon", required=True, low=-180.0, high=180.0),
            self.number("lat", required=True, low=-90.0, high=90.0),
        )


def _normalise_header(name: str) -> str:
    # "Depot Name" and "depot-name" mean depot_name: spreadsheets are edited by hand.
    return re.sub(r"[\s\-]+", "_", name.strip().lower())


def read_csv(path: Path, spec: CsvSpec, parsed: ParsedFile, problems: ProblemLog) -> Iterator[Row]:
    """The data rows with their line numbers; marks `parsed` unreadable if the file is not this CSV.

    A generator, so a million-row file is not held as row objects and parsed rows at once.
    """
    text = read_text(path, spec.kind, problems)
    if text is None:
        parsed.readable = False
        return
    label = str(path)
    reader = CsvReader(io.StringIO(text, newline=""))
    try:
        records = iter(reader)
        header = next(records, None)
        if header is None or header.blank:
            problems.add(label, 1, "", "file is empty: the first line must name the columns")
            parsed.readable = False
            return
        names = [_normalise_header(name) for name in header.values]
        if not _check_header(label, header.end, header.values, names, spec, problems):
            parsed.readable = False
            return
        parsed.columns = set(names)
        known = set(spec.required) | set(spec.optional)
        for record in records:
            if record.blank:
                continue
            wrong_width = width_problem(record.values, len(names))
            if wrong_width is not None:
                problems.add(label, record.start, "", wrong_width)
                continue
            values = {
                name: value.strip() for name, value in zip(names, record.values, strict=True) if name in known
            }
            yield Row(label, record.start, values, problems)
    except csv.Error as exc:
        problems.add(label, reader.lines_read, "", f"not a valid CSV file: {exc}")
        parsed.readable = False


def _check_header(
    label: str, line: int, header: list[str], names: list[str], spec: CsvSpec, problems: ProblemLog
) -> bool:
    """Report missing, unknown and repeated columns; False if rows cannot be read at all."""
    known = spec.required + spec.optional
    shown = ",".join(header)
    if len(header) == 1 and (";" in shown or "\t" in shown):
        separator = "tabs" if "\t" in shown else "semicolons"
        # One message, not one per missing column: the whole header is a single value.
        problems.add(
            label, line, "", f"values are separated by {separator}, not commas (the header is: {shown})"
        )
        return False
    seen: set[str] = set()
    for name in names:
        if name in seen:
            problems.add(label, line, name, "column appears twice in the header")
        elif name not in known:
            # Refused rather than ignored: a misspelt "importance" column would silently load a
            # hospital as an ordinary customer.
            problems.add(label, line, name, f"unknown column (known columns: {', '.join(known)})")
        seen.add(name)
    missing = [name for name in spec.required if name not in seen]
    if spec.instead is not None:
        usual, other = spec.instead
        given = [name for name in other if name in seen]
        if given and any(name in seen for name in usual):
            problems.add(label, line, given[0], f"give {'/'.join(usual)} or {'/'.join(other)}, not both")
            return False
        if given:
            missing = [name for name in missing if name not in usual] + [n for n in other if n not in seen]
    for name in missing:
        problems.add(label, line, name, f"required column is missing (the header is: {shown})")
    return not missing
