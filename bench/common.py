"""Shared parts of the benchmarks: the result row, the table, timing and a fresh database."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TextIO, TypeVar

from emergency.core.actor import Actor
from emergency.core.clock import FakeClock
from emergency.core.db import Database
from emergency.core.settings import seed_defaults

T = TypeVar("T")

# A fixed "now" so that runs on different days generate the same territory.
BENCH_NOW = datetime(2026, 7, 1, 2, 0, tzinfo=UTC)
GENERATE_SIZES = (50_000, 1_000_000)
BASELINE_SIZE = 50_000
INTAKE_ACTOR = Actor("bench", "intake")


@dataclass(frozen=True)
class BenchRow:
    """One measured figure, with its budget and a baseline measured in the same run."""

    name: str
    value: float
    unit: str
    budget: str | None = None
    baseline: float | None = None
    baseline_description: str = ""
    higher_is_better: bool = False

    @property
    def ratio(self) -> float | None:
        """How many times better than the baseline (above 1 means better)."""
        if self.baseline is None or self.baseline <= 0 or self.value <= 0:
            return None
        return self.value / self.baseline if self.higher_is_better else self.baseline / self.value


def _figure(value: float, unit: str) -> str:
    text = f"{value:,.0f}" if abs(value) >= 100 else f"{value:,.2f}"
    return f"{text} {unit}"


def format_table(rows: Sequence[BenchRow]) -> str:
    """The rows as an aligned plain-text table; baselines are described under it."""
    header = ("benchmark", "result", "budget", "baseline", "ratio")
    lines = [header]
    notes: list[str] = []
    for row in rows:
        baseline = "-"
        if row.baseline is not None:
            notes.append(row.baseline_description)
            baseline = f"{_figure(row.baseline, row.unit)} [{len(notes)}]"
        ratio = "-" if row.ratio is None else f"{row.ratio:,.1f}x"
        lines.append((row.name, _figure(row.value, row.unit), row.budget or "-", baseline, ratio))
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    text = [
        "  ".join(
            cell.ljust(width) if i == 0 else cell.rjust(width)
            for i, (cell, width) in enumerate(zip(line, widths, strict=True))
        )
        for line in lines
    ]
    text.insert(1, "  ".join("-" * width for width in widths))
    text.extend(f"[{n}] baseline: {note}" for n, note in enumerate(notes, start=1))
    return "\n".join(text)


def print_table(rows: Sequence[BenchRow], out: TextIO | None = None) -> None:
    print(format_table(rows), file=out or sys.stdout)


def timed(action: Callable[[], T]) -> tuple[T, float]:
    """Run `action` once: its result and the seconds it took."""
    start = time.perf_counter()
    result = action()
    return result, time.perf_counter() - start


def fresh_sqlite(directory: str, clock: FakeClock) -> Database:
    """A new migrated SQLite file with the default settings, as `init` leaves it."""
    db = Database(f"sqlite:///{Path(directory) / 'bench.db'}")
    db.migrate()
    with db.write() as session:
        seed_defaults(session, clock)
    return db
