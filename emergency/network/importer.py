"""Import a utility's own territory: districts (GeoJSON), network, customers and crews (CSV).

The import is all or nothing. Every file is read and checked first and each problem is collected as
a `RowError` naming the file, line and column; only when there are none is anything written, in one
transaction. Rows are matched to what is stored by their natural key (district code, device code,
account number, crew code): new rows are inserted, known rows updated, nothing is deleted. The
radial-network checks run on the union of what is stored and what the files bring, because a
network file may carry only the part of the network that changed.

The file formats are documented column by column in docs/import-format.md; keep the two in step.
"""

from __future__ import annotations

import codecs
import csv
import io
import json
import math
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import Any, Literal, TypeVar

import numpy as np
import shapely
from shapely.errors import ShapelyError
from shapely.geometry import shape as geojson_shape
from shapely.geometry.base import BaseGeometry
from sqlalchemy import Table, bindparam, insert, select, update
from sqlalchemy.orm import Session

from emergency.core import audit
from emergency.core.actor import Actor
from emergency.core.clock import Clock
from emergency.core.db import Database
from emergency.core.errors import Conflict, InvalidInput
from emergency.core.models import (
    TELEMETERED_KINDS,
    AreaType,
    Crew,
    CrewKind,
    CrewStatus,
    Customer,
    CustomerKind,
    Depot,
    Device,
    DeviceKind,
    District,
    ImportanceGrade,
    Role,
    SwitchState,
)
from emergency.core.settings import bump_territory_revision, get_setting
from emergency.network.model import RadialNetwork

__all__ = ["ImportCounts", "ImportRejected", "ImportSummary", "RowError", "import_territory"]

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
# Problems listed by str(ImportRejected); the exception's `errors` holds all that were kept.
MAX_ERRORS_SHOWN = 50

# Default weight for sorting outages by weighted customers (DOMAIN.md section 3), by grade.
DEFAULT_PRIORITY_WEIGHT: dict[ImportanceGrade, float] = {
    ImportanceGrade.SPECIAL: 10.0,
    ImportanceGrade.GRADE1: 5.0,
    ImportanceGrade.GRADE2: 3.0,
    ImportanceGrade.TEMPORARY: 2.0,
    ImportanceGrade.NONE: 1.0,
}
# Life-support customers are not an importance grade but are treated as critical (DOMAIN.md 2).
LIFE_SUPPORT_MIN_WEIGHT = 5.0
BUSY_CREW_STATUSES = frozenset({CrewStatus.DISPATCHED, CrewStatus.EN_ROUTE, CrewStatus.ON_SITE})

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


# --- the public surface ---------------------------------------------------------------------


@dataclass(frozen=True)
class RowError:
    """One problem in one place of one file.

    `line` is the line number an editor shows (the header is line 1), or for the districts GeoJSON
    the feature's index in `features` (`unit` "feature", counting from 0); None means the whole
    file. `column` is the CSV column or GeoJSON property, empty when the problem is the row itself.
    """

    file: str
    line: int | None
    column: str
    reason: str
    unit: Literal["line", "feature"] = "line"

    def __str__(self) -> str:
        where = self.file
        if self.line is not None:
            where += f":{self.line}" if self.unit == "line" else f": feature {self.line}"
        return f"{where}: {self.column}: {self.reason}" if self.column else f"{where}: {self.reason}"


class ImportRejected(InvalidInput):
    """The files were refused; nothing was written. `errors` lists the problems in file order."""

    def __init__(self, errors: Sequence[RowError], omitted: int = 0) -> None:
        self.errors = list(errors)
        # Problems found beyond MAX_ERRORS_KEPT: counted, not kept.
        self.omitted = omitted
        total = len(self.errors) + omitted
        super().__init__(f"import refused: {total} problem{'s' if total != 1 else ''}, nothing was written")

    def __str__(self) -> str:
        lines = [self.reason]
        lines.extend(str(error) for error in self.errors[:MAX_ERRORS_SHOWN])
        hidden = len(self.errors) - MAX_ERRORS_SHOWN
        if hidden > 0 or self.omitted:
            lines.append(f"... and {max(hidden, 0) + self.omitted} more")
        return "\n".join(lines)


@dataclass(frozen=True)
class ImportCounts:
    """What happened to the rows of one kind: matched rows are updated only if a value differs."""

    inserted: int = 0
    updated: int = 0
    unchanged: int = 0

    @property
    def total(self) -> int:
        return self.inserted + self.updated + self.unchanged

    def describe(self, noun: str) -> str:
        parts = [
            f"{n} {label}"
            for n, label in ((self.inserted, "new"), (self.updated, "updated"), (self.unchanged, "unchanged"))
            if n
        ]
        return f"{self.total} {noun}" + (f" ({', '.join(parts)})" if parts else "")


@dataclass(frozen=True)
class ImportSummary:
    """Rows inserted, updated and left unchanged per kind; str() is a one-line summary."""

    districts: ImportCounts
    devices: ImportCounts
    customers: ImportCounts
    crews: ImportCounts
    depots: ImportCounts

    def to_dict(self) -> dict[str, dict[str, int]]:
        return {
            kind: {"inserted": c.inserted, "updated": c.updated, "unchanged": c.unchanged}
            for kind, c in self._kinds()
        }

    def _kinds(self) -> list[tuple[str, ImportCounts]]:
        return [
            ("districts", self.districts),
            ("devices", self.devices),
            ("customers", self.customers),
            ("crews", self.crews),
            ("depots", self.depots),
        ]

    def __str__(self) -> str:
        return "imported " + "; ".join(counts.describe(kind) for kind, counts in self._kinds())


def import_territory(
    db: Database,
    clock: Clock,
    actor: Actor,
    *,
    network: Path,
    customers: Path,
    crews: Path | None = None,
    districts: Path | None = None,
) -> ImportSummary:
    """Check the files against each other and the database, then write them in one transaction.

    Raises ImportRejected listing every problem found (nothing written), PermissionDenied for a
    non-admin actor.
    """
    actor.require(Role.ADMIN)
    paths = [Path(p) for p in (districts, network, customers, crews) if p is not None]
    problems = _Problems()
    files = _Files(
        districts=_parse_districts(Path(districts), problems) if districts is not None else None,
        network=_parse_network(Path(network), problems),
        customers=_parse_customers(Path(customers), problems),
        crews=_parse_crews(Path(crews), problems) if crews is not None else None,
    )
    # Checks against stored rows run inside the writing transaction, so the state checked is the
    # state written on (SQLite holds its write lock from here; parsing above needed no lock).
    with db.write() as session:
        if get_setting(session, "territory.is_demo"):
            # A utility's customers mixed into invented ones would be neither demo nor real.
            raise Conflict("this database holds the demo territory; import into a new database")
        stored = _Stored.load(session)
        plan = _reconcile(files, stored, problems)
        if problems or plan is None:
            raise ImportRejected(problems.sorted([str(p) for p in paths]), problems.omitted)
        summary = _write(session, clock, plan, stored)
        bump_territory_revision(session, clock, actor.username)
        audit.record(
            session,
            clock,
            actor,
            "territory.import",
            "territory",
            after=summary.to_dict(),
            detail="files: " + ", ".join(p.name for p in paths),
        )
    return summary


# --- collecting problems ----------------------------------------------------------------------


class _Problems:
    def __init__(self) -> None:
        self.kept: list[RowError] = []
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
            self.kept.append(RowError(file, line, column, reason, unit))
        else:
            self.omitted += 1

    def add_once(self, file: str, line: int | None, column: str, reason: str) -> None:
        if RowError(file, line, column, reason) not in self.kept:
            self.add(file, line, column, reason)

    def __bool__(self) -> bool:
        return bool(self.kept) or self.omitted > 0

    def sorted(self, file_order: Sequence[str]) -> list[RowError]:
        rank = {name: i for i, name in enumerate(file_order)}
        # Checks run file by file and then across files; sorting puts each file's problems in
        # line order, whole-file problems first.
        return sorted(
            self.kept,
            key=lambda e: (rank.get(e.file, len(rank)), -1 if e.line is None else e.line),
        )


# --- reading files ------------------------------------------------------------------------------


def _size(n: int) -> str:
    if n >= MIB:
        return f"{n / MIB:.1f} MiB".replace(".0 MiB", " MiB")
    return f"{n:,} bytes"


def _read_text(path: Path, kind: str, problems: _Problems) -> str | None:
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
    if data.startswith(b"PK\x03\x04"):
        problems.add(
            label, None, "", "is a ZIP archive or an Excel workbook, not a text file; save as CSV UTF-8"
        )
        return None
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        problems.add(label, None, "", "is UTF-16 text; save it as UTF-8")
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


@dataclass(frozen=True)
class _CsvSpec:
    kind: str
    required: tuple[str, ...]
    optional: tuple[str, ...]


class _Row:
    """One CSV row and typed access to its values; each bad value is reported where it was found."""

    def __init__(self, file: str, line: int, values: dict[str, str], problems: _Problems) -> None:
        self.file = file
        self.line = line
        self.values = values
        self.problems = problems
        self.ok = True

    def fail(self, column: str, reason: str) -> None:
        self.problems.add(self.file, self.line, column, reason)
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

    def position(self) -> tuple[float | None, float | None]:
        return (
            self.number("lon", required=True, low=-180.0, high=180.0),
            self.number("lat", required=True, low=-90.0, high=90.0),
        )


def _normalise_header(name: str) -> str:
    # "Depot Name" and "depot-name" mean depot_name: spreadsheets are edited by hand.
    return re.sub(r"[\s\-]+", "_", name.strip().lower())


def _read_csv(path: Path, spec: _CsvSpec, parsed: _Parsed, problems: _Problems) -> Iterator[_Row]:
    """The data rows with their line numbers; marks `parsed` unreadable if the file is not this CSV.

    A generator, so a million-row file is not held as row objects and parsed rows at once.
    """
    text = _read_text(path, spec.kind, problems)
    if text is None:
        parsed.readable = False
        return
    label = str(path)
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader, None)
        if header is None or not any(name.strip() for name in header):
            problems.add(label, 1, "", "file is empty: the first line must name the columns")
            parsed.readable = False
            return
        names = [_normalise_header(name) for name in header]
        if not _check_header(label, reader.line_num, header, names, spec, problems):
            parsed.readable = False
            return
        known = set(spec.required) | set(spec.optional)
        previous = reader.line_num
        for fields in reader:
            # A quoted value may span lines: the row starts on the line after the previous row.
            line, previous = previous + 1, reader.line_num
            if not any(value.strip() for value in fields):
                continue
            if len(fields) != len(names):
                # A quote left open swallows the rest of the file into one value.
                hint = " (is a quote left open?)" if any("\n" in value for value in fields) else ""
                problems.add(
                    label, line, "", f"row has {len(fields)} values, the header has {len(names)}{hint}"
                )
                continue
            values = {name: value.strip() for name, value in zip(names, fields, strict=True) if name in known}
            yield _Row(label, line, values, problems)
    except csv.Error as exc:
        problems.add(label, reader.line_num, "", f"not a valid CSV file: {exc}")
        parsed.readable = False


def _check_header(
    label: str, line: int, header: list[str], names: list[str], spec: _CsvSpec, problems: _Problems
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
    for name in missing:
        problems.add(label, line, name, f"required column is missing (the header is: {shown})")
    return not missing


# --- parsed rows --------------------------------------------------------------------------------


@dataclass
class _DistrictIn:
    index: int
    code: str | None
    name_en: str | None
    name_zh: str | None
    area_type: AreaType | None
    geometry: dict[str, Any] | None
    shape: BaseGeometry | None
    ok: bool


@dataclass(slots=True)
class _Placed:
    """A row with a position; `district` is filled in when the territory is known."""

    line: int
    ok: bool
    lon: float | None
    lat: float | None
    district_code: str | None
    district: str | None = field(default=None, init=False)


@dataclass(slots=True)
class _DeviceIn(_Placed):
    code: str | None = None
    kind: DeviceKind | None = None
    parent_code: str | None = None
    name: str | None = None
    telemetered: bool | None = None
    normal_state: SwitchState = SwitchState.CLOSED
    rating_kva: float | None = None


@dataclass(slots=True)
class _CustomerIn(_Placed):
    account_no: str | None = None
    name: str | None = None
    phone: str | None = None
    address: str | None = None
    transformer_code: str | None = None
    kind: CustomerKind = CustomerKind.RESIDENTIAL
    importance: ImportanceGrade = ImportanceGrade.NONE
    backup_hours: float | None = None
    priority_weight: float = 1.0
    contact_name: str | None = None
    contact_phone: str | None = None


@dataclass(slots=True)
class _CrewIn(_Placed):
    code: str | None = None
    name: str | None = None
    kind: CrewKind | None = None
    size: int | None = None
    depot_code: str | None = None
    depot_name: str | None = None
    shift_start: str | None = None
    shift_end: str | None = None
    phone: str | None = None
    status: CrewStatus | None = None


@dataclass
class _Parsed:
    label: str
    rows: list[Any]
    # Keys that rows (even broken ones) claimed, so a later reference to them is not reported as
    # unknown on top of the row's own problem.
    claimed: set[str] = field(default_factory=set)
    # False when the file as a whole could not be read: checks that depend on its rows are
    # skipped, since every reference to them would fail and bury the one message that matters.
    readable: bool = True


@dataclass
class _Files:
    districts: _Parsed | None
    network: _Parsed
    customers: _Parsed
    crews: _Parsed | None


def _lengths(table: Table) -> dict[str, int]:
    """Declared string lengths, so a value PostgreSQL would refuse is refused here first."""
    return {c.name: int(c.type.length) for c in table.c if getattr(c.type, "length", None)}


def _duplicates(parsed: _Parsed, key: str, column: str, noun: str, problems: _Problems) -> None:
    """Report and drop every repeat of a key; the first row with it stays."""
    first: dict[str, int] = {}
    kept = []
    for row in parsed.rows:
        value = getattr(row, key)
        if value is None:
            kept.append(row)
            continue
        if value in first:
            problems.add(
                parsed.label, row.line, column, f"duplicate {noun} {value!r} (first on line {first[value]})"
            )
            continue
        first[value] = row.line
        kept.append(row)
    parsed.rows = kept


DEVICES = Device.__table__
CUSTOMERS = Customer.__table__
CREWS = Crew.__table__
DEPOTS = Depot.__table__
DISTRICTS = District.__table__
DEVICE_LEN = _lengths(DEVICES)
CUSTOMER_LEN = _lengths(CUSTOMERS)
CREW_LEN = _lengths(CREWS)
DEPOT_LEN = _lengths(DEPOTS)
DISTRICT_LEN = _lengths(DISTRICTS)

NETWORK_SPEC = _CsvSpec(
    "network",
    ("code", "kind", "parent_code", "name", "lon", "lat"),
    ("telemetered", "normal_state", "rating_kva", "district_code"),
)
CUSTOMERS_SPEC = _CsvSpec(
    "customers",
    ("account_no", "name", "phone", "address", "lon", "lat", "transformer_code"),
    (
        "district_code",
        "kind",
        "importance",
        "backup_hours",
        "priority_weight",
        "contact_name",
        "contact_phone",
    ),
)
CREWS_SPEC = _CsvSpec(
    "crews",
    ("code", "name", "kind", "size", "lon", "lat"),
    ("depot_code", "depot_name", "shift_start", "shift_end", "phone", "status"),
)


def _parse_network(path: Path, problems: _Problems) -> _Parsed:
    parsed = _Parsed(str(path), [])
    for row in _read_csv(path, NETWORK_SPEC, parsed, problems):
        code = row.text("code", DEVICE_LEN["code"], required=True)
        kind = row.choice("kind", DeviceKind, required=True)
        lon, lat = row.position()
        device = _DeviceIn(
            line=row.line,
            ok=True,
            lon=lon,
            lat=lat,
            district_code=row.text("district_code", DISTRICT_LEN["code"]),
            code=code,
            kind=kind,
            # Length is checked against the code column: a longer parent can never match.
            parent_code=row.text("parent_code", DEVICE_LEN["code"]),
            name=row.text("name", DEVICE_LEN["name"], required=True),
            telemetered=row.flag("telemetered"),
            normal_state=row.choice("normal_state", SwitchState) or SwitchState.CLOSED,
            rating_kva=row.number("rating_kva", positive=True, high=1e6),
        )
        device.ok = row.ok
        if code is not None:
            parsed.claimed.add(code)
        parsed.rows.append(device)
    _duplicates(parsed, "code", "code", "device code", problems)
    return parsed


def _parse_customers(path: Path, problems: _Problems) -> _Parsed:
    parsed = _Parsed(str(path), [])
    for row in _read_csv(path, CUSTOMERS_SPEC, parsed, problems):
        lon, lat = row.position()
        kind = row.choice("kind", CustomerKind) or CustomerKind.RESIDENTIAL
        importance = row.choice("importance", ImportanceGrade) or ImportanceGrade.NONE
        weight = row.number("priority_weight", positive=True, high=1000.0)
        if weight is None:
            weight = DEFAULT_PRIORITY_WEIGHT[importance]
            if kind == CustomerKind.LIFE_SUPPORT:
                weight = max(weight, LIFE_SUPPORT_MIN_WEIGHT)
        customer = _CustomerIn(
            line=row.line,
            ok=True,
            lon=lon,
            lat=lat,
            district_code=row.text("district_code", DISTRICT_LEN["code"]),
            account_no=row.text("account_no", CUSTOMER_LEN["account_no"], required=True),
            name=row.text("name", CUSTOMER_LEN["name"], required=True),
            phone=row.phone("phone", CUSTOMER_LEN["phone"]),
            address=row.text("address", CUSTOMER_LEN["address"]),
            transformer_code=row.text("transformer_code", DEVICE_LEN["code"], required=True),
            kind=kind,
            importance=importance,
            backup_hours=row.number("backup_hours", low=0.0, high=10_000.0),
            priority_weight=weight,
            contact_name=row.text("contact_name", CUSTOMER_LEN["contact_name"]),
            contact_phone=row.phone("contact_phone", CUSTOMER_LEN["contact_phone"]),
        )
        customer.ok = row.ok
        parsed.rows.append(customer)
    _duplicates(parsed, "account_no", "account_no", "account number", problems)
    return parsed


def _parse_crews(path: Path, problems: _Problems) -> _Parsed:
    parsed = _Parsed(str(path), [])
    for row in _read_csv(path, CREWS_SPEC, parsed, problems):
        lon, lat = row.position()
        crew = _CrewIn(
            line=row.line,
            ok=True,
            lon=lon,
            lat=lat,
            district_code=None,
            code=row.text("code", CREW_LEN["code"], required=True),
            name=row.text("name", CREW_LEN["name"], required=True),
            kind=row.choice("kind", CrewKind, required=True),
            size=row.integer("size", low=1, high=100, required=True),
            depot_code=row.text("depot_code", DEPOT_LEN["code"]),
            depot_name=row.text("depot_name", DEPOT_LEN["name_en"]),
            shift_start=row.clock_time("shift_start", "08:00"),
            shift_end=row.clock_time("shift_end", "20:00"),
            phone=row.phone("phone", CREW_LEN["phone"]),
            status=row.choice("status", CrewStatus),
        )
        crew.ok = row.ok
        parsed.rows.append(crew)
    _duplicates(parsed, "code", "code", "crew code", problems)
    return parsed


def _parse_districts(path: Path, problems: _Problems) -> _Parsed:
    label = str(path)
    parsed = _Parsed(label, [])
    text = _read_text(path, "districts", problems)
    if text is None:
        parsed.readable = False
        return parsed
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        problems.add(label, exc.lineno, "", f"not valid JSON: {exc.msg} (column {exc.colno})")
        parsed.readable = False
        return parsed
    except RecursionError:
        problems.add(label, None, "", "not valid JSON: nested too deeply")
        parsed.readable = False
        return parsed
    if not isinstance(document, dict) or document.get("type") != "FeatureCollection":
        problems.add(
            label, None, "", "not a GeoJSON FeatureCollection (the top level needs type FeatureCollection)"
        )
        parsed.readable = False
        return parsed
    features = document.get("features")
    if not isinstance(features, list):
        problems.add(label, None, "features", "must be a list of features")
        parsed.readable = False
        return parsed
    for index, feature in enumerate(features):
        parsed.rows.append(_parse_district(label, index, feature, problems))
    parsed.claimed = {d.code for d in parsed.rows if d.code is not None}
    first: dict[str, int] = {}
    kept = []
    for district in parsed.rows:
        if district.code is not None and district.code in first:
            problems.add(
                label,
                district.index,
                "code",
                f"duplicate district code {district.code!r} (first at feature {first[district.code]})",
                "feature",
            )
            continue
        if district.code is not None:
            first[district.code] = district.index
        kept.append(district)
    parsed.rows = kept
    return parsed


def _parse_district(label: str, index: int, feature: Any, problems: _Problems) -> _DistrictIn:
    district = _DistrictIn(index, None, None, None, None, None, None, ok=True)

    def fail(column: str, reason: str) -> None:
        problems.add(label, index, column, reason, "feature")
        district.ok = False

    if not isinstance(feature, dict) or feature.get("type") != "Feature":
        fail("", "not a GeoJSON Feature")
        return district
    properties = feature.get("properties") or {}
    if not isinstance(properties, dict):
        fail("properties", "must be an object")
        return district

    def text(name: str, max_len: int, required: bool) -> str | None:
        value = properties.get(name)
        # GIS tools often write numeric codes as numbers; they are still codes.
        if isinstance(value, int | float) and not isinstance(value, bool):
            value = str(value)
        if value is None or (isinstance(value, str) and not value.strip()):
            if required:
                fail(name, "required property is missing or empty")
            return None
        if not isinstance(value, str):
            fail(name, "must be text")
            return None
        value = value.strip()
        if len(value) > max_len:
            fail(name, f"longer than {max_len} characters ({len(value)})")
            return None
        return value

    district.code = text("code", DISTRICT_LEN["code"], True)
    district.name_en = text("name_en", DISTRICT_LEN["name_en"], True)
    district.name_zh = text("name_zh", DISTRICT_LEN["name_zh"], False) or district.name_en
    area_type = text("area_type", 24, True)
    if area_type is not None:
        try:
            district.area_type = AreaType(area_type.lower())
        except ValueError:
            allowed = ", ".join(a.value for a in AreaType)
            fail("area_type", f"unknown value {area_type!r} (allowed: {allowed})")
    district.geometry, district.shape = _district_geometry(feature.get("geometry"), fail)
    return district


def _district_geometry(
    geometry: Any, fail: Callable[[str, str], None]
) -> tuple[dict[str, Any] | None, BaseGeometry | None]:
    """The GeoJSON geometry and its shape; the shape is kept (repaired) even when invalid, so
    points inside a district with a faulty boundary are not also reported as outside."""
    if geometry is None:
        fail("geometry", "is missing (a Polygon or MultiPolygon is required)")
        return None, None
    if not isinstance(geometry, dict) or geometry.get("type") not in ("Polygon", "MultiPolygon"):
        kind = geometry.get("type") if isinstance(geometry, dict) else type(geometry).__name__
        fail("geometry", f"must be a Polygon or MultiPolygon, not {kind}")
        return None, None
    clean = {"type": geometry["type"], "coordinates": geometry.get("coordinates")}
    try:
        geom = geojson_shape(clean)
    except (ValueError, TypeError, AttributeError, IndexError, KeyError, ShapelyError) as exc:
        fail("geometry", f"not a valid GeoJSON {geometry['type']}: {exc}")
        return None, None
    coords = shapely.get_coordinates(geom)
    if geom.is_empty or len(coords) == 0:
        fail("geometry", "is empty")
        return None, None
    if (
        not np.isfinite(coords).all()
        or (np.abs(coords[:, 0]) > 180).any()
        or (np.abs(coords[:, 1]) > 90).any()
    ):
        fail("geometry", "coordinates must be longitude, latitude in degrees (WGS84), not projected")
        return None, None
    if not geom.is_valid:
        fail("geometry", f"invalid polygon: {shapely.is_valid_reason(geom)}")
        return clean, shapely.make_valid(geom)
    if geom.area == 0:
        fail("geometry", "has no area")
        return None, None
    return clean, geom


# --- checking against what is stored ------------------------------------------------------------


@dataclass
class _Stored:
    """The stored territory, keyed by natural key."""

    districts: dict[str, Any]
    devices: dict[str, Any]
    device_code: dict[int, str]
    customers: dict[str, Any]
    crews: dict[str, Any]
    depots: dict[str, Any]

    @classmethod
    def load(cls, session: Session) -> _Stored:
        devices = {row.code: row for row in session.execute(select(DEVICES))}
        return cls(
            districts={row.code: row for row in session.execute(select(DISTRICTS))},
            devices=devices,
            device_code={row.id: code for code, row in devices.items()},
            customers={row.account_no: row for row in session.execute(select(CUSTOMERS))},
            crews={row.code: row for row in session.execute(select(CREWS))},
            depots={row.code: row for row in session.execute(select(DEPOTS))},
        )


class _Territory:
    """Finds the district containing a point; a point on a shared border goes to the first code."""

    def __init__(self, shapes: dict[str, BaseGeometry]) -> None:
        self.codes = sorted(shapes)
        self.tree = shapely.STRtree([shapes[code] for code in self.codes]) if shapes else None

    def locate(self, lons: Sequence[float], lats: Sequence[float]) -> list[str | None]:
        if self.tree is None or not lons:
            return [None] * len(lons)
        points = shapely.points(np.asarray(lons, dtype=float), np.asarray(lats, dtype=float))
        inputs, districts = self.tree.query(points, predicate="covered_by")
        best = np.full(len(lons), len(self.codes), dtype=np.int64)
        np.minimum.at(best, inputs, districts)
        return [self.codes[b] if b < len(self.codes) else None for b in best]


@dataclass
class _Plan:
    districts: list[_DistrictIn]
    devices: list[_DeviceIn]
    # code -> (parent code, feeder code) for every device in the union
    links: dict[str, tuple[str | None, str | None]]
    customers: list[_CustomerIn]
    crews: list[_CrewIn]
    new_depots: dict[str, tuple[str, _CrewIn]]


def _reconcile(files: _Files, stored: _Stored, problems: _Problems) -> _Plan | None:
    """Run the checks that need more than one row: places, references, the radial network."""
    district_rows = files.districts.rows if files.districts else []
    shapes: dict[str, BaseGeometry] = {}
    for code, row in stored.districts.items():
        try:
            shapes[code] = geojson_shape(row.geometry)
        except (ValueError, TypeError, AttributeError, ShapelyError):
            continue
    for district in district_rows:
        if district.code is not None:
            shapes.pop(district.code, None)
            if district.shape is not None:
                shapes[district.code] = district.shape
    defined = set(stored.districts) | (files.districts.claimed if files.districts else set())
    # With a districts file that could not be read, or a district without a usable boundary,
    # "outside the territory" and "not defined" would be wrong for many rows: the file's own
    # errors come first.
    districts_usable = bool(defined) and (
        files.districts is None
        or (files.districts.readable and all(d.shape is not None for d in district_rows))
    )
    if not defined and files.districts is None:
        problems.add(
            files.network.label,
            None,
            "",
            "no districts are defined: import a districts GeoJSON file with the network or before it",
        )
    territory = _Territory(shapes)
    for parsed in (files.network, files.customers, files.crews):
        if parsed is not None:
            _place(parsed, territory, defined, problems, report=districts_usable)

    links = _check_network(files.network, stored, problems)
    _check_customers(files, stored, problems)
    new_depots = _check_crews(files.crews, stored, problems) if files.crews else {}
    if problems or links is None:
        return None
    return _Plan(
        districts=district_rows,
        devices=files.network.rows,
        links=links,
        customers=files.customers.rows,
        crews=files.crews.rows if files.crews else [],
        new_depots=new_depots,
    )


def _place(
    parsed: _Parsed, territory: _Territory, defined: set[str], problems: _Problems, *, report: bool
) -> None:
    """Give each row its district: the code it names, or the district its point lies in."""
    rows = [r for r in parsed.rows if r.lon is not None and r.lat is not None]
    found = territory.locate([r.lon for r in rows], [r.lat for r in rows])
    outside = [r for r, code in zip(rows, found, strict=True) if code is None]
    swapped = territory.locate([r.lat for r in outside], [r.lon for r in outside])
    swapped_in = {id(r) for r, code in zip(outside, swapped, strict=True) if code is not None}
    for row, code in zip(rows, found, strict=True):
        if code is None:
            if report and territory.codes:
                hint = " (are lon and lat swapped?)" if id(row) in swapped_in else ""
                problems.add(
                    parsed.label,
                    row.line,
                    "lon/lat",
                    f"({row.lon}, {row.lat}) is outside every district of the territory{hint}",
                )
            row.ok = False
            continue
        row.district = code
    for row in parsed.rows:
        if row.district_code is None:
            continue
        if row.district_code not in defined:
            if not report:
                row.ok = False
                continue
            problems.add(
                parsed.label,
                row.line,
                "district_code",
                f"district {row.district_code!r} is not defined (not in the districts file or the database)",
            )
            row.ok = False
        else:
            # A named district wins over the one the point falls in: billing districts do not
            # always follow the drawn boundary near a border.
            row.district = row.district_code


def _check_network(
    parsed: _Parsed, stored: _Stored, problems: _Problems
) -> dict[str, tuple[str | None, str | None]] | None:
    """Check the union of stored and imported devices is radial; return parent and feeder by code."""
    # code -> (kind or None when the row's kind was unreadable, parent code, file row or None)
    union: dict[str, tuple[DeviceKind | None, str | None, _DeviceIn | None]] = {}
    for code, row in stored.devices.items():
        union[code] = (DeviceKind(row.kind), stored.device_code.get(row.parent_id), None)
    for device in parsed.rows:
        if device.code is not None:
            union[device.code] = (device.kind, device.parent_code, device)
    codes = list(union)
    index = {code: i for i, code in enumerate(codes)}
    # Rows whose kind could not be read stand in as roots, and problems next to them are dropped:
    # the row's own error says what to fix, and guessing its kind would only add noise.
    stand_ins: set[int] = set()
    rows: list[tuple[int, int | None, DeviceKind, str]] = []
    for i, code in enumerate(codes):
        kind, parent_code, _ = union[code]
        if kind is None:
            stand_ins.add(i)
            rows.append((i, None, DeviceKind.SUBSTATION, code))
        else:
            # An id no row has makes RadialNetwork mark the device an orphan.
            parent = None if parent_code is None else index.get(parent_code, len(codes))
            rows.append((i, parent, kind, code))
    network = RadialNetwork.from_rows(rows)
    found = False
    for problem in network.problems():
        i = index[problem.device_code]
        parent = int(network.parent[i])
        if i in stand_ins or parent in stand_ins:
            continue
        found = True
        _, parent_code, row = union[problem.device_code]
        reason = problem.reason
        if parent == -2:
            reason = f"parent {parent_code!r} is not a device in the network file or the database (orphan)"
        if row is not None:
            problems.add(parsed.label, row.line, "parent_code", reason)
            continue
        # A stored device broken by an imported row: report it on that row, the one to fix (its
        # parent for a wrong kind; for a cycle, the first imported device up the loop).
        culprit = _first_imported_above(i, network, union, codes)
        if culprit is not None:
            stored_kind = stored.devices.get(parent_code)
            changed_kind = stored_kind is not None and DeviceKind(stored_kind.kind) != culprit.kind
            problems.add_once(
                parsed.label,
                culprit.line,
                "kind" if changed_kind else "parent_code",
                f"stored device {problem.device_code}: {reason}",
            )
        else:
            problems.add_once(parsed.label, None, "", f"stored device {problem.device_code}: {reason}")
    if found or stand_ins or not all(d.ok for d in parsed.rows):
        return None
    feeder = np.full(len(codes), -1, dtype=np.int64)
    for i in network.topological_order():
        if network.kinds[i] == DeviceKind.BREAKER:
            feeder[i] = i
        elif network.parent[i] >= 0:
            feeder[i] = feeder[network.parent[i]]
    return {
        code: (union[code][1], codes[feeder[i]] if feeder[i] >= 0 else None) for i, code in enumerate(codes)
    }


def _first_imported_above(
    start: int,
    network: RadialNetwork,
    union: dict[str, tuple[DeviceKind | None, str | None, _DeviceIn | None]],
    codes: list[str],
) -> _DeviceIn | None:
    """The nearest device above `start` that came from the file (a loop is walked once)."""
    node = int(network.parent[start])
    for _ in range(len(codes)):
        if node < 0 or node == start:
            return None
        row = union[codes[node]][2]
        if row is not None:
            return row
        node = int(network.parent[node])
    return None


def _device_kinds(files: _Files, stored: _Stored) -> dict[str, DeviceKind | None]:
    kinds: dict[str, DeviceKind | None] = {code: DeviceKind(row.kind) for code, row in stored.devices.items()}
    for code in files.network.claimed:
        kinds[code] = None  # claimed by a row that may be broken; replaced below when readable
    for device in files.network.rows:
        if device.code is not None:
            kinds[device.code] = device.kind
    return kinds


def _check_customers(files: _Files, stored: _Stored, problems: _Problems) -> None:
    if not files.network.readable:
        return
    kinds = _device_kinds(files, stored)
    label = files.customers.label
    for customer in files.customers.rows:
        code = customer.transformer_code
        if code is None:
            continue
        if code not in kinds:
            problems.add(
                label,
                customer.line,
                "transformer_code",
                f"no device {code!r} in the network file or the database",
            )
            customer.ok = False
        elif kinds[code] is not None and kinds[code] != DeviceKind.TRANSFORMER:
            problems.add(
                label, customer.line, "transformer_code", f"{code!r} is a {kinds[code]}, not a transformer"
            )
            customer.ok = False
    # A stored transformer the network file turns into another kind must not strand the stored
    # customers it supplies, unless the customers file moves them.
    retyped = {
        stored.devices[d.code].id: d
        for d in files.network.rows
        if d.code in stored.devices
        and d.kind not in (None, DeviceKind.TRANSFORMER)
        and DeviceKind(stored.devices[d.code].kind) == DeviceKind.TRANSFORMER
    }
    if retyped and files.customers.readable:
        moved = {c.account_no for c in files.customers.rows}
        stranded: dict[int, int] = {}
        for account, row in stored.customers.items():
            if row.transformer_id in retyped and account not in moved:
                stranded[row.transformer_id] = stranded.get(row.transformer_id, 0) + 1
        for device_id, count in stranded.items():
            device = retyped[device_id]
            problems.add(
                files.network.label,
                device.line,
                "kind",
                f"{count} stored customers are supplied by this transformer; keep kind transformer "
                "or move them to another transformer in the customers file",
            )


def _check_crews(parsed: _Parsed, stored: _Stored, problems: _Problems) -> dict[str, tuple[str, _CrewIn]]:
    """Check depot references; return the depots to create: code -> (name, first crew naming it)."""
    new: dict[str, tuple[str, _CrewIn]] = {}
    for crew in parsed.rows:
        code = crew.depot_code
        if code is None:
            if crew.depot_name is not None:
                problems.add(parsed.label, crew.line, "depot_code", "required when depot_name is given")
            continue
        if code in stored.depots:
            continue
        name = crew.depot_name or code
        if code not in new:
            new[code] = (name, crew)
        elif crew.depot_name is not None and crew.depot_name != new[code][0]:
            problems.add(
                parsed.label,
                crew.line,
                "depot_name",
                f"depot {code!r} is named {new[code][0]!r} on line {new[code][1].line}",
            )
    return new


# --- writing ------------------------------------------------------------------------------------


def _write(session: Session, clock: Clock, plan: _Plan, stored: _Stored) -> ImportSummary:
    now = clock.now()
    district_counts, _ = _upsert(
        session,
        DISTRICTS,
        "code",
        [_district_values(d) for d in plan.districts],
        stored.districts,
        versioned=False,
    )
    district_ids = _ids(session, DISTRICTS, "code")

    depot_counts, _ = _upsert(
        session,
        DEPOTS,
        "code",
        [
            {
                "code": code,
                "name_en": name,
                "name_zh": name,
                "district_id": district_ids[crew.district],
                "lon": crew.lon,
                "lat": crew.lat,
                "is_staging": False,
            }
            for code, (name, crew) in plan.new_depots.items()
        ],
        stored.depots,
        versioned=False,
    )
    depot_ids = _ids(session, DEPOTS, "code")

    device_counts, unchanged_devices = _upsert(
        session,
        DEVICES,
        "code",
        [_device_values(d, district_ids) for d in plan.devices],
        stored.devices,
        versioned=True,
        on_insert={"scada_state": None, "scada_state_at": None, "parent_id": None, "feeder_id": None},
    )
    moved = _link_devices(session, plan, stored)
    # A row whose only change is its parent (or feeder) was counted unchanged above.
    relinked = len(moved & unchanged_devices)
    device_counts = ImportCounts(
        device_counts.inserted, device_counts.updated + relinked, device_counts.unchanged - relinked
    )
    device_ids = _ids(session, DEVICES, "code")

    customer_counts, _ = _upsert(
        session,
        CUSTOMERS,
        "account_no",
        [_customer_values(c, district_ids, device_ids) for c in plan.customers],
        stored.customers,
        versioned=True,
    )
    crew_counts, _ = _upsert(
        session,
        CREWS,
        "code",
        [_crew_values(c, stored.crews.get(c.code), depot_ids, now) for c in plan.crews],
        stored.crews,
        versioned=True,
    )
    return ImportSummary(
        districts=district_counts,
        devices=device_counts,
        customers=customer_counts,
        crews=crew_counts,
        depots=depot_counts,
    )


def _district_values(district: _DistrictIn) -> dict[str, Any]:
    assert district.shape is not None
    centroid = district.shape.centroid
    return {
        "code": district.code,
        "name_en": district.name_en,
        "name_zh": district.name_zh,
        "area_type": district.area_type,
        "geometry": district.geometry,
        "centroid_lon": float(centroid.x),
        "centroid_lat": float(centroid.y),
    }


def _device_values(device: _DeviceIn, district_ids: dict[str, int]) -> dict[str, Any]:
    assert device.kind is not None and device.district is not None
    telemetered = device.telemetered
    if telemetered is None:
        telemetered = device.kind in TELEMETERED_KINDS
    return {
        "code": device.code,
        "kind": device.kind,
        "name": device.name,
        "district_id": district_ids[device.district],
        "lon": device.lon,
        "lat": device.lat,
        "telemetered": telemetered,
        "normal_state": device.normal_state,
        "rating_kva": device.rating_kva,
    }


def _customer_values(
    customer: _CustomerIn, district_ids: dict[str, int], device_ids: dict[str, int]
) -> dict[str, Any]:
    assert customer.district is not None and customer.transformer_code is not None
    return {
        "account_no": customer.account_no,
        "name": customer.name,
        "phone": customer.phone,
        "address": customer.address,
        "lon": customer.lon,
        "lat": customer.lat,
        "transformer_id": device_ids[customer.transformer_code],
        "district_id": district_ids[customer.district],
        "kind": customer.kind,
        "importance": customer.importance,
        "backup_hours": customer.backup_hours,
        "priority_weight": customer.priority_weight,
        "contact_name": customer.contact_name,
        "contact_phone": customer.contact_phone,
    }


def _crew_values(crew: _CrewIn, old: Any, depot_ids: dict[str, int], now: datetime) -> dict[str, Any]:
    values: dict[str, Any] = {
        "code": crew.code,
        "name": crew.name,
        "kind": crew.kind,
        "size": crew.size,
        "home_depot_id": depot_ids[crew.depot_code] if crew.depot_code else None,
        "shift_start": crew.shift_start,
        "shift_end": crew.shift_end,
        "phone": crew.phone,
        "lon": crew.lon,
        "lat": crew.lat,
        "position_at": now,
        "status": crew.status or CrewStatus.AVAILABLE,
        "status_at": now,
    }
    if old is None:
        return values
    if CrewStatus(old.status) in BUSY_CREW_STATUSES:
        # A crew out on a job keeps its live position and status: a roster import must not
        # make a dispatched crew look free (a double booking) or move it on the map.
        values.update(lon=old.lon, lat=old.lat, status=old.status)
    elif crew.status is None:
        values["status"] = old.status
    # The times say when position and status were last set; keep them when neither changes.
    if (values["lon"], values["lat"]) == (old.lon, old.lat):
        values["position_at"] = old.position_at
    if values["status"] == old.status:
        values["status_at"] = old.status_at
    return values


def _ids(session: Session, table: Table, key: str) -> dict[str, int]:
    return {k: i for k, i in session.execute(select(table.c[key], table.c.id))}


def _upsert(
    session: Session,
    table: Table,
    key: str,
    wanted: list[dict[str, Any]],
    stored: dict[str, Any],
    *,
    versioned: bool,
    on_insert: dict[str, Any] | None = None,
) -> tuple[ImportCounts, set[str]]:
    """Insert new rows and update changed ones in bulk; return the counts and the unchanged keys."""
    new: list[dict[str, Any]] = []
    changed: list[dict[str, Any]] = []
    unchanged: set[str] = set()
    for values in wanted:
        old = stored.get(values[key])
        if old is None:
            new.append({**values, **(on_insert or {}), **({"version": 1} if versioned else {})})
        elif any(getattr(old, column) != value for column, value in values.items()):
            changed.append({"p_id": old.id, **{f"p_{c}": v for c, v in values.items()}})
        else:
            unchanged.add(values[key])
    if new:
        session.execute(insert(table), new)
    if changed:
        session.execute(_update_by_id(table, [c for c in wanted[0] if c != key], versioned), changed)
    return ImportCounts(len(new), len(changed), len(unchanged)), unchanged


def _update_by_id(table: Table, columns: Iterable[str], versioned: bool) -> Any:
    values: dict[str, Any] = {c: bindparam(f"p_{c}") for c in columns}
    if versioned:
        # Bulk statements bypass the ORM's version counter; bump it so an edit made from a
        # stale copy of the row still fails instead of overwriting the import.
        values["version"] = table.c.version + 1
    return update(table).where(table.c.id == bindparam("p_id")).values(values)


def _link_devices(session: Session, plan: _Plan, stored: _Stored) -> set[str]:
    """Set parent_id and feeder_id of every device whose links differ; return their codes."""
    ids = _ids(session, DEVICES, "code")
    # New rows were inserted without links a moment ago: completing them is not a new version.
    fresh: list[dict[str, Any]] = []
    changed: list[dict[str, Any]] = []
    moved: set[str] = set()
    for code, (parent_code, feeder_code) in plan.links.items():
        parent_id = ids[parent_code] if parent_code else None
        feeder_id = ids[feeder_code] if feeder_code else None
        old = stored.devices.get(code)
        if old is not None and (old.parent_id, old.feeder_id) == (parent_id, feeder_id):
            continue
        (fresh if old is None else changed).append(
            {"p_id": ids[code], "p_parent_id": parent_id, "p_feeder_id": feeder_id}
        )
        moved.add(code)
    for rows, versioned in ((fresh, False), (changed, True)):
        if rows:
            session.execute(_update_by_id(DEVICES, ["parent_id", "feeder_id"], versioned), rows)
    return moved
