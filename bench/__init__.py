"""Benchmarks for `python -m emergency bench NAME`: timed figures printed beside a naive baseline.

Performance budgets are checked by benchmarks, not timed tests (DESIGN.md). A benchmark is a function
returning `BenchRow`s; it measures its naive baseline in the same run, so the ratio is honest on
whatever machine runs it. Register new benchmarks in `BENCHMARKS`.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from dataclasses import asdict

from bench.common import GENERATE_SIZES, BenchRow, format_table, print_table
from bench.crowd import CROWD_ARRIVAL_S, CROWD_POLL_S, CROWD_VIEWERS, bench_crowd
from bench.dispatch import DISPATCH_CREWS, DISPATCH_CUSTOMERS, DISPATCH_OUTAGES, bench_dispatch
from bench.generate import bench_generate
from bench.intake import INTAKE_CUSTOMERS, INTAKE_REPORTS, bench_intake
from bench.load import LOAD_CLIENTS, LOAD_CUSTOMERS, LOAD_REPORTS, bench_load
from bench.public import PUBLIC_CUSTOMERS, bench_public
from bench.reliability import RELIABILITY_CUSTOMERS, bench_reliability
from bench.tca import TCA_CUSTOMERS, bench_tca

__all__ = [
    "BENCHMARKS",
    "BenchRow",
    "bench_crowd",
    "bench_dispatch",
    "bench_generate",
    "bench_intake",
    "bench_load",
    "bench_public",
    "bench_reliability",
    "bench_tca",
    "format_table",
    "main",
    "print_table",
]


BENCHMARKS: dict[str, Callable[[argparse.Namespace], list[BenchRow]]] = {
    "generate": lambda args: bench_generate(sizes=args.sizes),
    "intake": lambda args: bench_intake(
        customers=args.customers or INTAKE_CUSTOMERS, reports=args.reports or INTAKE_REPORTS
    ),
    "load": lambda args: bench_load(
        customers=args.customers or LOAD_CUSTOMERS,
        reports=args.reports or LOAD_REPORTS,
        clients=args.clients,
        pg_url=args.pg,
    ),
    "dispatch": lambda args: bench_dispatch(
        customers=args.customers or DISPATCH_CUSTOMERS, outages=args.outages, crews=args.crews
    ),
    "public": lambda args: bench_public(
        customers=args.customers or PUBLIC_CUSTOMERS, outages=args.outages, crews=args.crews
    ),
    "reliability": lambda args: bench_reliability(customers=args.customers or RELIABILITY_CUSTOMERS),
    "tca": lambda args: bench_tca(customers=args.customers or TCA_CUSTOMERS, database=args.database),
    "crowd": lambda args: bench_crowd(
        viewers=args.viewers,
        arrival_seconds=args.arrival_seconds,
        poll_seconds=args.poll_seconds,
        streamlit_viewers=args.streamlit_viewers,
    ),
}


def _sizes(text: str) -> tuple[int, ...]:
    try:
        sizes = tuple(int(part.replace("_", "")) for part in text.split(",") if part.strip())
    except ValueError:
        raise argparse.ArgumentTypeError("comma-separated customer counts, e.g. 50000,1000000") from None
    if not sizes:
        raise argparse.ArgumentTypeError("give at least one customer count")
    return sizes


def _count(text: str) -> int:
    try:
        value = int(text.replace("_", "").replace(",", ""))
    except ValueError:
        raise argparse.ArgumentTypeError("a whole number, e.g. 100000") from None
    if value <= 0:
        raise argparse.ArgumentTypeError("must be a positive number")
    return value


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError("a number of seconds, e.g. 300") from None
    if value <= 0:
        raise argparse.ArgumentTypeError("must be a positive number of seconds")
    return value


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
    parser.add_argument(
        "--customers",
        type=_count,
        default=None,
        help=(
            f"territory size for 'intake' (default {INTAKE_CUSTOMERS}), 'load' (default {LOAD_CUSTOMERS}) "
            f"and 'dispatch' and 'public' (default {DISPATCH_CUSTOMERS}), 'reliability' (default "
            f"{RELIABILITY_CUSTOMERS}), 'tca' (default {TCA_CUSTOMERS})"
        ),
    )
    parser.add_argument(
        "--database",
        default=None,
        metavar="URL",
        help="'tca': locate faults on the network and customers of this database (read only) instead of "
        "a generated demo territory",
    )
    parser.add_argument(
        "--reports",
        type=_count,
        default=None,
        help=f"reports for 'intake' (default {INTAKE_REPORTS}) and 'load' (default {LOAD_REPORTS})",
    )
    parser.add_argument(
        "--clients",
        type=_count,
        default=LOAD_CLIENTS,
        help=f"concurrent intake clients for 'load' (default {LOAD_CLIENTS})",
    )
    parser.add_argument(
        "--outages",
        type=_count,
        default=DISPATCH_OUTAGES,
        help=f"active outages for 'dispatch' and 'public' (default {DISPATCH_OUTAGES})",
    )
    parser.add_argument(
        "--crews",
        type=_count,
        default=DISPATCH_CREWS,
        help=f"crews for 'dispatch' and 'public' (default {DISPATCH_CREWS})",
    )
    parser.add_argument(
        "--pg",
        metavar="URL",
        default=None,
        help=(
            "'load' on this PostgreSQL server (an account that may create databases) through one app "
            "process and then two, instead of one process on SQLite"
        ),
    )
    parser.add_argument(
        "--viewers",
        type=_count,
        default=CROWD_VIEWERS,
        help=f"public viewers of the light page for 'crowd' (default {CROWD_VIEWERS})",
    )
    parser.add_argument(
        "--arrival-seconds",
        type=_seconds,
        default=CROWD_ARRIVAL_S,
        help=f"the time over which 'crowd' viewers arrive (default {CROWD_ARRIVAL_S:g})",
    )
    parser.add_argument(
        "--poll-seconds",
        type=_seconds,
        default=CROWD_POLL_S,
        help=f"how often a 'crowd' viewer's page polls its feeds (default {CROWD_POLL_S:g})",
    )
    parser.add_argument(
        "--streamlit-viewers",
        type=_count,
        default=None,
        help="the most Streamlit sessions 'crowd' ramps up to (default: --viewers)",
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
