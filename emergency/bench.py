"""Benchmarks for `python -m emergency bench NAME`: timed figures printed beside a naive baseline.

Performance budgets are checked by benchmarks, not timed tests (DESIGN.md). A benchmark is a function
returning `BenchRow`s; it measures its naive baseline in the same run, so the ratio is honest on
whatever machine runs it. Register new benchmarks in `BENCHMARKS`.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TextIO, TypeVar

from emergency.clock import FakeClock
from emergency.db import Database
from emergency.demo import DEFAULT_SEED, Territory, generate_territory, insert_territory, load_territory
from emergency.settings import seed_defaults

T = TypeVar("T")

# A fixed "now" so that runs on different days generate the same territory.
BENCH_NOW = datetime(2026, 7, 1, 2, 0, tzinfo=UTC)
GENERATE_SIZES = (50_000, 1_000_000)
BASELINE_SIZE = 50_000


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


def _timed(action: Callable[[], T]) -> tuple[T, float]:
    start = time.perf_counter()
    result = action()
    return result, time.perf_counter() - start


def _fresh_sqlite(directory: str, clock: FakeClock) -> Database:
    """A new migrated SQLite file with the default settings, as `init` leaves it."""
    db = Database(f"sqlite:///{Path(directory) / 'bench.db'}")
    db.migrate()
    with db.write() as session:
        seed_defaults(session, clock)
    return db


def _insert_bulk(db: Database, territory: Territory) -> None:
    """The rows only, the way `load_territory` writes them."""
    with db.write() as session:
        insert_territory(session, territory)


def _insert_one_object_per_row(db: Database, territory: Territory) -> None:
    """The naive way: one ORM object and one session.add per row, flushed table by table."""
    with db.write() as session:
        for model, rows in territory.rows():
            for row in rows:
                session.add(model(**row))
            session.flush()


def bench_generate(
    sizes: Sequence[int] = GENERATE_SIZES, baseline_size: int = BASELINE_SIZE, seed: int = DEFAULT_SEED
) -> list[BenchRow]:
    """Time generating the demo territory and loading it into a fresh SQLite file, per size.

    At `baseline_size` the rows alone are also inserted both ways (Core bulk, and one ORM object per
    row) into fresh files, so the insert method is compared on the same work.
    """
    clock = FakeClock(BENCH_NOW)
    results: list[BenchRow] = []
    for size in sizes:
        territory, generate_s = _timed(lambda size=size: generate_territory(size, seed, clock.now()))
        results.append(BenchRow(f"generate {size:,} customers", generate_s, "s"))
        with tempfile.TemporaryDirectory() as directory:
            db = _fresh_sqlite(directory, clock)
            _, load_s = _timed(lambda db=db, territory=territory: load_territory(db, clock, territory))
            db.dispose()
        rows = sum(len(frame) for _, frame in territory.tables())
        results.append(BenchRow(f"load_territory {size:,} customers into SQLite", load_s, "s"))
        if size != baseline_size:
            continue
        with tempfile.TemporaryDirectory() as directory:
            db = _fresh_sqlite(directory, clock)
            _, bulk_s = _timed(lambda db=db, territory=territory: _insert_bulk(db, territory))
            db.dispose()
        with tempfile.TemporaryDirectory() as directory:
            db = _fresh_sqlite(directory, clock)
            _, naive_s = _timed(lambda db=db, territory=territory: _insert_one_object_per_row(db, territory))
            db.dispose()
        results.append(
            BenchRow(
                f"insert the {rows:,} rows of {size:,} customers",
                rows / bulk_s,
                "rows/s",
                baseline=rows / naive_s,
                baseline_description=f"the same {rows:,} rows, one ORM object and session.add per row",
                higher_is_better=True,
            )
        )
    return results


BENCHMARKS: dict[str, Callable[[argparse.Namespace], list[BenchRow]]] = {
    "generate": lambda args: bench_generate(sizes=args.sizes),
}


def _sizes(text: str) -> tuple[int, ...]:
    try:
        sizes = tuple(int(part.replace("_", "")) for part in text.split(",") if part.strip())
    except ValueError:
        raise argparse.ArgumentTypeError("comma-separated customer counts, e.g. 50000,1000000") from None
    if not sizes:
        raise argparse.ArgumentTypeError("give at least one customer count")
    return sizes


def main(argv: list[str]) -> int:
    """Run benchmarks by name (all when none is named) and print one table, or JSON lines."""
    parser = argparse.ArgumentParser(prog="python -m emergency bench", description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", metavar="name", help=f"one of: {', '.join(sorted(BENCHMARKS))}")
    parser.add_argument(
        "--sizes",
        type=_sizes,
        default=GENERATE_SIZES,
        help="customer counts for 'generate' (default 50000,1000000)",
    )
    parser.add_argument("--json", action="store_true", help="one JSON object per result row")
    args = parser.parse_args(argv)
    unknown = [name for name in args.names if name not in BENCHMARKS]
    if unknown:
        parser.error(f"unknown benchmark {', '.join(unknown)}; choose from {', '.join(sorted(BENCHMARKS))}")
    rows = [row for name in args.names or sorted(BENCHMARKS) for row in BENCHMARKS[name](args)]
    if args.json:
        for row in rows:
            print(json.dumps({**asdict(row), "ratio": row.ratio}))
    else:
        print_table(rows)
    return 0
