"""`python -m emergency ingest FILE`: reports from a CSV or JSON Lines file, through the intake service.

For catching up after a link to the call centre was down, or loading a meter head-end's export. The
file is read line by line and handed to intake in batches (the application layer's
`SubmitReports`, each batch one transaction), so a large file never sits in memory whole. Every
refused report, and every line that cannot be read, is reported with its line in the file.
Reports carry their own (channel, external id), so running the same file again stores nothing new;
rows without an external id cannot be recognised and would be stored again, which is why they are
counted and warned about.

CSV: a header row naming the report fields (see `emergency.intake.reports.FIELDS`), values as text, empty
cells meaning "not given", lon and lat read as numbers. JSON Lines (`.jsonl`, `.ndjson`): one JSON
object per line, blank lines skipped.
"""

from __future__ import annotations

import codecs
import csv
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from emergency.core.actor import Actor
from emergency.core.csv_input import CsvReader, not_text, width_problem
from emergency.core.errors import InvalidInput, Problem
from emergency.intake.reports import FIELDS, MAX_BATCH, IntakeResult
from emergency.network.analysis import AnalysisResult

DEFAULT_BATCH = 1_000
CSV_SUFFIXES = frozenset({".csv"})
JSON_LINES_SUFFIXES = frozenset({".jsonl", ".ndjson"})
# No report comes near this; a longer line is a binary file or a runaway value, and is skipped
# without being held in memory.
MAX_LINE_BYTES = 1024 * 1024
NUMBER_FIELDS = frozenset({"lon", "lat"})
REQUIRED_COLUMNS = ("channel", "kind")
# The file's reports arrive as machine intake would; an admin's rights are not needed to ingest.
CLI_INTAKE = Actor("cli", "intake")


@dataclass
class IngestSummary:
    file: str
    stored: int = 0
    duplicates: int = 0
    without_external_id: int = 0
    problems: list[Problem] = field(default_factory=list)  # each on a line of the file
    analysis: AnalysisResult = field(default_factory=AnalysisResult)

    @property
    def refused(self) -> int:
        """Reports (or lines) refused: a report refused for two reasons counts once."""
        return len({p.line for p in self.problems})

    def summary(self) -> str:
        return (
            f"{self.file}: {self.stored} reports stored, {self.duplicates} duplicates, "
            f"{self.refused} refused; {self.analysis.summary()}"
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "file": self.file,
            "stored": self.stored,
            "duplicates": self.duplicates,
            "refused": self.refused,
            "without_external_id": self.without_external_id,
            "problems": [p.to_json() for p in self.problems],
            "outages": self.analysis.to_json(),
        }

    def _problem(self, line: int, field: str, reason: str) -> Problem:
        return Problem.in_file(self.file, line, field, reason)

    def _add(self, result: IntakeResult, lines: list[int]) -> None:
        self.stored += result.stored
        self.duplicates += len(result.accepted) - result.stored
        for error in result.errors:
            assert error.index is not None
            self.problems.append(self._problem(lines[error.index], error.field, error.reason))
        for name in ("predicted", "confirmed", "merged", "nested", "restored"):
            getattr(self.analysis, name).extend(getattr(result.analysis, name))
        self.analysis.grouped_reports += result.analysis.grouped_reports


def ingest_file(
    path: Path, submit: Callable[[list[Any]], IntakeResult], batch_size: int = DEFAULT_BATCH
) -> IngestSummary:
    """Read a file of reports and hand them to `submit` in batches (each batch its own
    transaction); problems are collected, not raised.

    Raises InvalidInput only when the file as a whole cannot be read (missing, wrong type, not text).
    """
    if not 1 <= batch_size <= MAX_BATCH:
        raise InvalidInput(f"from 1 to {MAX_BATCH}", field="batch")
    suffix = path.suffix.lower()
    if suffix not in CSV_SUFFIXES | JSON_LINES_SUFFIXES:
        raise InvalidInput(
            f"{path}: unknown kind of file; name it .csv (CSV with a header row) "
            "or .jsonl / .ndjson (one JSON object per line)"
        )
    summary = IngestSummary(str(path))
    try:
        stream = path.open("rb")
    except OSError as error:
        raise InvalidInput(f"cannot read {path}: {error.strerror or error}") from None
    with stream:
        saved_otherwise = not_text(stream.read(4))
        if saved_otherwise is not None:
            raise InvalidInput(f"{path}: {saved_otherwise}")
        stream.seek(0)
        reports = _csv_reports(stream, summary) if suffix in CSV_SUFFIXES else _json_reports(stream, summary)
        items: list[Any] = []
        lines: list[int] = []
        for line, item in reports:
            items.append(item)
            lines.append(line)
            if isinstance(item, dict) and not item.get("external_id"):
                summary.without_external_id += 1
            if len(items) == batch_size:
                summary._add(submit(items), lines)
                items, lines = [], []
        if items:
            summary._add(submit(items), lines)
    summary.problems.sort(key=lambda p: p.line or 0)
    return summary


def _lines(stream: BinaryIO, summary: IngestSummary) -> Iterator[tuple[int, str | None]]:
    """(line number, text) for each physical line; None as text for a line that cannot be read,
    after reporting why."""
    number = 0
    while True:
        raw = stream.readline(MAX_LINE_BYTES + 1)
        if not raw:
            return
        number += 1
        if len(raw) > MAX_LINE_BYTES and not raw.endswith(b"\n"):
            while raw and not raw.endswith(b"\n"):
                raw = stream.readline(MAX_LINE_BYTES + 1)
            summary.problems.append(
                summary._problem(number, "report", f"line longer than {MAX_LINE_BYTES:,} bytes")
            )
            yield number, None
            continue
        if number == 1 and raw.startswith(codecs.BOM_UTF8):
            raw = raw[len(codecs.BOM_UTF8) :]
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as error:
            summary.problems.append(
                summary._problem(
                    number,
                    "report",
                    f"not UTF-8 text (byte 0x{raw[error.start]:02x} at byte {error.start + 1} of the line); "
                    "save the file as UTF-8",
                )
            )
            yield number, None
            continue
        if "\x00" in text:
            summary.problems.append(summary._problem(number, "report", "contains a NUL character"))
            yield number, None
            continue
        yield number, text


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _json_reports(stream: BinaryIO, summary: IngestSummary) -> Iterator[tuple[int, Any]]:
    for number, text in _lines(stream, summary):
        if text is None or not text.strip():
            continue
        try:
            item = json.loads(text, parse_constant=_reject_constant)
            # A "\\ud800" escape alone makes text that no database driver can store.
            json.dumps(item, ensure_ascii=False).encode("utf-8")
        except UnicodeEncodeError:
            summary.problems.append(
                summary._problem(number, "report", "text with an unpaired surrogate escape (\\ud800-\\udfff)")
            )
        except json.JSONDecodeError as error:
            summary.problems.append(
                summary._problem(number, "report", f"not valid JSON: {error.msg} (column {error.colno})")
            )
        except ValueError as error:
            # NaN or Infinity, or an integer of thousands of digits.
            summary.problems.append(summary._problem(number, "report", f"not valid JSON: {error}"[:300]))
        except RecursionError:
            summary.problems.append(summary._problem(number, "report", "not valid JSON: nested too deeply"))
        else:
            yield number, item


def _csv_reports(stream: BinaryIO, summary: IngestSummary) -> Iterator[tuple[int, dict[str, Any]]]:
    """Rows as report dicts, with the line each row starts on (a quoted value may span lines)."""
    unreadable: set[int] = set()

    def texts() -> Iterator[str]:
        for number, text in _lines(stream, summary):
            if text is None:
                unreadable.add(number)
                # A line break keeps the rows around it apart; the row it belongs to is dropped below.
                yield "\n"
            else:
                yield text

    reader = CsvReader(texts())
    names: list[str] | None = None
    try:
        for record in reader:
            if any(line in unreadable for line in range(record.start, record.end + 1)):
                continue
            if record.blank:
                continue
            if names is None:
                names = _header(record.values, record.start, summary)
                if names is None:
                    return
                continue
            wrong_width = width_problem(record.values, len(names))
            if wrong_width is not None:
                summary.problems.append(summary._problem(record.start, "report", wrong_width))
                continue
            yield record.start, _row(names, record.values)
    except csv.Error as error:
        summary.problems.append(summary._problem(reader.lines_read, "report", f"not valid CSV: {error}"))
        return
    if names is None:
        summary.problems.append(
            summary._problem(1, "header", "the file is empty: the first line must name the columns")
        )


def _header(values: list[str], line: int, summary: IngestSummary) -> list[str] | None:
    """The column names, or None after reporting why this header cannot be used."""
    names = [value.strip().lower().replace(" ", "_").replace("-", "_") for value in values]
    problems: list[str] = []
    unknown = [name or "(empty)" for name in names if name not in FIELDS]
    if unknown:
        problems.append(
            f"unknown column(s) {', '.join(unknown)}; the columns are {', '.join(sorted(FIELDS))}"
        )
    repeated = sorted({name for name in names if name and names.count(name) > 1})
    if repeated:
        problems.append(f"column(s) named twice: {', '.join(repeated)}")
    missing = [name for name in REQUIRED_COLUMNS if name not in names]
    if missing:
        problems.append(f"missing column(s) {', '.join(missing)}")
    if len(values) == 1 and ";" in values[0]:
        problems.append("separate the columns with commas, not semicolons")
    for problem in problems:
        summary.problems.append(summary._problem(line, "header", problem))
    return None if problems else names


def _row(names: list[str], values: list[str]) -> dict[str, Any]:
    item: dict[str, Any] = {}
    for name, raw in zip(names, values, strict=True):
        value = raw.strip()
        if not value:
            continue
        if name in NUMBER_FIELDS:
            try:
                item[name] = float(value)
                continue
            except ValueError:
                pass  # intake refuses it with the value in the message
        item[name] = value
    return item
