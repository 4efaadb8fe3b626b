"""Benchmark `generate`: the demo territory generated and loaded into SQLite."""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from functools import partial

from bench.common import (
    BASELINE_SIZE,
    BENCH_NOW,
    GENERATE_SIZES,
    BenchRow,
    fresh_sqlite,
    timed,
)
from emergency.core.clock import FakeClock
from emergency.core.db import Database
from emergency.demo.load import insert_territory, load_territory
from emergency.demo.parameters import DEFAULT_SEED
from emergency.demo.territory import Territory, generate_territory


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
        territory, generate_s = timed(partial(generate_territory, size, seed, clock.now()))
        results.append(BenchRow(f"generate {size:,} customers", generate_s, "s"))
        with tempfile.TemporaryDirectory() as directory:
            db = fresh_sqlite(directory, clock)
            _, load_s = timed(partial(load_territory, db, clock, territory))
            db.dispose()
        rows = sum(len(frame) for _, frame in territory.tables())
        results.append(BenchRow(f"load_territory {size:,} customers into SQLite", load_s, "s"))
        if size != baseline_size:
            continue
        with tempfile.TemporaryDirectory() as directory:
            db = fresh_sqlite(directory, clock)
            _, bulk_s = timed(partial(_insert_bulk, db, territory))
            db.dispose()
        with tempfile.TemporaryDirectory() as directory:
            db = fresh_sqlite(directory, clock)
            _, naive_s = timed(partial(_insert_one_object_per_row, db, territory))
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
