"""Benchmarks for `python -m emergency bench NAME`: timed figures printed beside a naive baseline.

Performance budgets are checked by benchmarks, not timed tests (DESIGN.md). A benchmark is a function
returning `BenchRow`s; it measures its naive baseline in the same run, so the ratio is honest on
whatever machine runs it. Register new benchmarks in `BENCHMARKS`.
"""

from __future__ import annotations

import argparse
import html
import json
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TextIO, TypeVar
from zoneinfo import ZoneInfo

import folium
import numpy as np
from sqlalchemy import func, insert, select

from dashboard import maps
from emergency import sla
from emergency.auth import Actor
from emergency.board import BoardRow, sla_board
from emergency.clock import FakeClock
from emergency.db import Database
from emergency.demo import DEFAULT_SEED, Territory, generate_territory, insert_territory, load_territory
from emergency.dispatch import greedy_plan, storm_plan
from emergency.errors import InvalidInput
from emergency.intake import submit_reports
from emergency.models import (
    ACTIVE_OUTAGE_STATES,
    Crew,
    CrewAssignment,
    CrewKind,
    CrewStatus,
    Depot,
    Device,
    DeviceKind,
    Outage,
    OutageState,
    ReportChannel,
    ReportKind,
)
from emergency.network import AnalysisResult, RadialNetwork, build_network_model, network_model
from emergency.settings import seed_defaults
from emergency.territory import Extent, crew_collection, territory_extent

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


# --- intake: a typhoon's burst of reports through intake and trouble-call analysis -------------

INTAKE_CUSTOMERS = 1_000_000
INTAKE_REPORTS = 100_000
INTAKE_BATCH = 1_000
NAIVE_REPORTS = 2_000
BURST_HOURS = 1.0
# Devices out, in the ratio a typhoon leaves them: feeder sections, laterals, single transformers.
OUT_KIND_ROUND = ((DeviceKind.RECLOSER, 2), (DeviceKind.FUSE, 7), (DeviceKind.TRANSFORMER, 11))
# Customers below the devices out, per supply-loss report wanted: each customer below can send a
# last gasp and make a call, and not all of them do.
POOL_PER_REPORT = 0.8
METER_SHARE = 0.5
DUPLICATE_SHARE = 0.02  # retries of a report already sent (same channel and external id)
HEALTHY_SHARE = 0.01  # calls from customers who in fact have power
HAZARD_SHARE = 0.005
CALL_CHANNELS = (ReportChannel.HOTLINE, ReportChannel.APP, ReportChannel.WEB, ReportChannel.SMS)
CALL_CHANNEL_SHARES = (0.5, 0.3, 0.1, 0.1)
CALL_DELAY_MEAN_S = 360.0


@dataclass(frozen=True)
class Burst:
    """Reports as a client would post them, in arrival order, with the time each arrives."""

    items: list[dict[str, object]]
    arrivals: list[datetime]
    devices_out: dict[str, int]

    def __len__(self) -> int:
        return len(self.items)


def typhoon_burst(territory: Territory, count: int, seed: int, start: datetime) -> Burst:
    """`count` reports over `BURST_HOURS` from a seeded choice of a few hundred devices out.

    Last gasps come within seconds of a device's fault and calls over the following minutes; a few
    reports are retries of earlier ones and a few come from customers who have power.
    """
    rng = np.random.default_rng(seed)
    devices, customers = territory.devices, territory.customers
    ids = devices["id"].to_numpy(dtype=np.int64)
    parents = devices["parent_id"].to_numpy(dtype=np.int64, na_value=0)
    net = RadialNetwork.from_rows(
        (int(i), int(p) if p else None, k, c)
        for i, p, k, c in zip(ids, parents, devices["kind"], devices["code"], strict=True)
    )
    # Customers of each transformer, as rows of the customers frame.
    transformer_of = customers["transformer_id"].to_numpy(dtype=np.int64)
    by_transformer = np.argsort(transformer_of, kind="stable")
    tx_ids, first = np.unique(transformer_of[by_transformer], return_index=True)
    tx_rows = dict(zip(tx_ids.tolist(), np.split(by_transformer, first[1:]), strict=True))

    duplicate_count = round(count * DUPLICATE_SHARE)
    loss_count = count - duplicate_count - round(count * HEALTHY_SHARE)
    candidates = {
        kind: rng.permutation(ids[devices["kind"].to_numpy() == kind.value]).tolist()
        for kind, _ in OUT_KIND_ROUND
    }
    chosen: set[int] = set()
    on_paths: set[int] = set()  # the chosen devices and everything above them
    pool: list[np.ndarray] = []
    fault_at: list[float] = []
    out_kinds: dict[str, int] = {}
    span_s = BURST_HOURS * 3600
    while sum(len(p) for p in pool) < loss_count * POOL_PER_REPORT:
        added = 0
        for kind, per_round in OUT_KIND_ROUND:
            taken = 0
            while candidates[kind] and taken < per_round:
                device = candidates[kind].pop()
                path = net.path_to_root(device)
                # Neither above nor below a device already out: each outage is its own.
                if device in on_paths or not chosen.isdisjoint(path[1:]):
                    continue
                below = net.transformers_at_or_below(device)
                pool.append(
                    np.concatenate([tx_rows.get(int(net.ids[t]), np.empty(0, np.int64)) for t in below])
                )
                chosen.add(device)
                on_paths.update(path)
                fault_at.append(float(rng.uniform(0, span_s * 0.85)))
                out_kinds[kind.value] = out_kinds.get(kind.value, 0) + 1
                taken += 1
                added += 1
        if not added:
            break  # the territory is too small for this many reports: they repeat customers
    owner = np.concatenate([np.full(len(p), n) for n, p in enumerate(pool)])
    homes = np.concatenate(pool)
    faults = np.array(fault_at)
    out_rows = np.zeros(len(customers), dtype=bool)
    out_rows[homes] = True
    # In a small territory the devices out may leave nobody with power to call by mistake.
    with_power = np.flatnonzero(~out_rows)
    healthy_count = min(round(count * HEALTHY_SHARE), len(with_power))
    loss_count = count - duplicate_count - healthy_count

    meter_count = round(loss_count * METER_SHARE)
    call_count = loss_count - meter_count
    meters = rng.choice(len(homes), size=meter_count, replace=meter_count > len(homes))
    calls = rng.choice(len(homes), size=call_count, replace=call_count > len(homes))
    meter_at = faults[owner[meters]] + rng.uniform(0, 30, meter_count)
    call_at = faults[owner[calls]] + rng.exponential(CALL_DELAY_MEAN_S, call_count)
    healthy = rng.choice(with_power, size=healthy_count, replace=False)
    healthy_at = rng.uniform(0, span_s, healthy_count)
    channels = rng.choice(len(CALL_CHANNELS), size=call_count + healthy_count, p=CALL_CHANNEL_SHARES)
    # Half the web reports give a map location instead of an account, when the home is close
    # enough to its transformer for the location to resolve to one.
    by_location = (rng.random(call_count + healthy_count) < 0.5) & _near_own_transformer(
        territory, np.concatenate([homes[calls], healthy])
    )
    hazard = rng.random(call_count + healthy_count) < HAZARD_SHARE

    accounts = customers["account_no"].tolist()
    lons, lats = customers["lon"].to_numpy(), customers["lat"].to_numpy()
    rows: list[tuple[float, dict[str, object]]] = []

    def reported(at: float) -> str:
        return (start + timedelta(seconds=min(at, span_s))).isoformat()

    for n, (row, at) in enumerate(zip(homes[meters].tolist(), meter_at.tolist(), strict=True)):
        item = {
            "channel": ReportChannel.METER.value,
            "external_id": f"LG-{n:09d}",
            "kind": ReportKind.LAST_GASP.value,
            "account_no": accounts[row],
            "reported_at": reported(at),
        }
        rows.append((at, item))
    call_rows = np.concatenate([homes[calls], healthy]).tolist()
    call_times = np.concatenate([call_at, healthy_at]).tolist()
    for n, (row, at) in enumerate(zip(call_rows, call_times, strict=True)):
        channel = CALL_CHANNELS[channels[n]]
        item: dict[str, object] = {
            "channel": channel.value,
            "external_id": f"{channel.value.upper()}-{n:09d}",
            "kind": ReportKind.HAZARD.value if hazard[n] else ReportKind.NO_POWER.value,
            "reported_at": reported(at),
        }
        if channel == ReportChannel.WEB and by_location[n]:
            item.update(lon=float(lons[row]), lat=float(lats[row]))
        else:
            item["account_no"] = accounts[row]
        rows.append((at, item))
    for original in rng.choice(len(rows), size=duplicate_count, replace=False).tolist():
        at, item = rows[original]
        rows.append((at + float(rng.uniform(5, 120)), item))  # the same report, sent again
    rows.sort(key=lambda r: r[0])
    arrivals = [start + timedelta(seconds=min(at, span_s)) for at, _ in rows]
    return Burst([dict(item) for _, item in rows], arrivals, out_kinds)


def _near_own_transformer(territory: Territory, rows: np.ndarray, metres: float = 300.0) -> np.ndarray:
    customers, devices = territory.customers, territory.devices
    ids = devices["id"].to_numpy(dtype=np.int64)
    order = np.argsort(ids)
    transformer = order[np.searchsorted(ids, customers["transformer_id"].to_numpy()[rows], sorter=order)]
    lat = customers["lat"].to_numpy()[rows]
    dx = (customers["lon"].to_numpy()[rows] - devices["lon"].to_numpy()[transformer]) * np.cos(
        np.radians(lat)
    )
    dy = lat - devices["lat"].to_numpy()[transformer]
    return np.hypot(dx * 111_320.0, dy * 110_540.0) < metres


def _checkpointed_copy(db: Database, target: Path) -> Database:
    """A copy of a SQLite database file, as it stands (the WAL folded in first)."""
    with db.engine.connect() as connection:
        connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    db.dispose()
    shutil.copyfile(db.engine.url.database or "", target)
    return Database(f"sqlite:///{target}")


def _warm_model(db: Database) -> float:
    """Build the process's network model for this database; returns the seconds it took."""
    start = time.perf_counter()
    with db.read() as session:
        network_model(session, db.url)
    return time.perf_counter() - start


def _submit(db: Database, clock: FakeClock, burst: Burst, begin: int, end: int, batch: int) -> AnalysisResult:
    """Feed reports [begin, end) in batches, the clock at each batch's last arrival."""
    total = AnalysisResult()
    for start in range(begin, end, batch):
        stop = min(start + batch, end)
        clock.set(burst.arrivals[stop - 1])
        result = submit_reports(db, clock, INTAKE_ACTOR, burst.items[start:stop])
        if result.errors:
            raise AssertionError(f"the benchmark's own reports were refused: {result.errors[:3]}")
        for name in ("predicted", "confirmed", "merged", "nested", "restored"):
            getattr(total, name).extend(getattr(result.analysis, name))
    return total


def bench_intake(
    customers: int = INTAKE_CUSTOMERS,
    reports: int = INTAKE_REPORTS,
    seed: int = DEFAULT_SEED,
    naive: int = NAIVE_REPORTS,
    batch: int = INTAKE_BATCH,
) -> list[BenchRow]:
    """Ingest a typhoon-shaped burst of reports into the demo territory in SQLite, end to end.

    Reports go through `submit_reports` in batches of `batch` (validation, de-duplication,
    storage and trouble-call analysis), as the HTTP route would pass them. The naive baseline sends
    the first `naive` reports of the same stream one per call into a copy of the same database.
    The network model both use is built before the clock starts and reported on its own row.
    """
    clock = FakeClock(BENCH_NOW)
    say = sys.stderr
    print(f"intake: generating {customers:,} customers and {reports:,} + {batch:,} reports", file=say)
    territory = generate_territory(customers, seed, clock.now())
    burst = typhoon_burst(territory, reports + batch, seed + 1, clock.now())
    out = ", ".join(f"{n} {kind}s" for kind, n in burst.devices_out.items())
    print(f"intake: devices out: {out}", file=say)
    naive_count = min(naive, reports)
    with tempfile.TemporaryDirectory() as directory:
        db = _fresh_sqlite(directory, clock)
        load_territory(db, clock, territory)
        naive_db = _checkpointed_copy(db, Path(directory) / "naive.db")
        model_s = _warm_model(db)
        _warm_model(naive_db)

        print(f"intake: ingesting {reports:,} reports in batches of {batch:,}", file=say)
        analysis, ingest_s = _timed(lambda: _submit(db, clock, burst, 0, reports, batch))
        _, last_batch_s = _timed(lambda: _submit(db, clock, burst, reports, reports + batch, batch))
        with db.read() as session:
            active = session.scalar(
                select(func.count()).select_from(Outage).where(Outage.state.in_(ACTIVE_OUTAGE_STATES))
            )
            out_customers = session.scalar(
                select(func.sum(Outage.customers_affected - Outage.customers_restored)).where(
                    Outage.state.in_(ACTIVE_OUTAGE_STATES)
                )
            )
        print(f"intake: {analysis.summary()}", file=say)
        db.dispose()

        print(f"intake: naive baseline, {naive_count:,} reports one per call", file=say)
        clock.set(BENCH_NOW)
        _, naive_s = _timed(lambda: _submit(naive_db, clock, burst, 0, naive_count, 1))
        naive_db.dispose()
    return [
        BenchRow(f"build the network model, {customers:,} customers", model_s, "s"),
        BenchRow(
            f"intake + analysis, {reports:,} reports in batches of {batch:,} into SQLite",
            reports / ingest_s,
            "reports/s",
            budget=">= 10,000 reports/s",
            baseline=naive_count / naive_s,
            baseline_description=(
                f"the first {naive_count:,} reports of the same stream, one submit_reports call each "
                "(one insert, one analysis pass per report), into a copy of the same database"
            ),
            higher_is_better=True,
        ),
        BenchRow(f"re-analyse after {batch:,} new reports (one more batch at the end)", last_batch_s, "s"),
        BenchRow("active outages after the burst", float(active or 0), "outages"),
        BenchRow("customers out after the burst", float(out_customers or 0), "customers"),
    ]


# --- dispatch: the dispatcher page and the storm plan with a typhoon's outages and crews ---------

DISPATCH_CUSTOMERS = 250_000  # the smallest demo territory with 5,000 transformers and fuses
DISPATCH_OUTAGES = 5_000
DISPATCH_CREWS = 500
PLAN_OUTAGES = 500
PLAN_CREWS = 200
PAGE_REPEATS = 3
OUTAGE_KINDS = (DeviceKind.TRANSFORMER, DeviceKind.FUSE)
# Shares of the crews: busy on a job (one per dispatched or on-site outage), off duty; the rest are
# available for the storm plan (200 of the default 500).
BUSY_CREW_SHARE = 0.56
OFF_DUTY_CREW_SHARE = 0.04
ON_SITE_SHARE_OF_BUSY = 0.35
CONFIRMED_SHARE = 0.4  # of the outages without a crew; the others are still predicted
HAZARD_OUTAGE_SHARE = 0.03
CREW_KINDS = (CrewKind.LINE, CrewKind.CABLE, CrewKind.TREE, CrewKind.ASSESSMENT, CrewKind.MUTUAL_AID)
CREW_KIND_SHARES = (0.55, 0.12, 0.08, 0.1, 0.15)
BENCH_TZ = ZoneInfo("Asia/Shanghai")
OUTAGE_POPUP_FIELDS = [
    "id",
    "clock",
    "state_label",
    "device_code",
    "customers",
    "important",
    "reports",
    "first_report_local",
]
CREW_POPUP_FIELDS = ["name", "code", "status"]


@dataclass(frozen=True)
class Storm:
    """What `storm_on_territory` inserted: the ids the planner is asked about."""

    unassigned_outage_ids: list[int]
    crews_available: int
    crews_busy: int


def _without_incidents(territory: Territory) -> Territory:
    """The territory's network and customers only: its own crews, outages and reports left out."""
    return replace(
        territory,
        crews=territory.crews.iloc[:0],
        outages=territory.outages.iloc[:0],
        reports=territory.reports.iloc[:0],
        etr_changes=territory.etr_changes.iloc[:0],
        assignments=territory.assignments.iloc[:0],
    )


def storm_on_territory(db: Database, clock: FakeClock, outages: int, crews: int, seed: int) -> Storm:
    """Insert `outages` active outages on distinct transformers and fuses and `crews` crews (Core).

    Outages started within the last hour; customers and important users out come from the network
    model. Busy crews each hold one open assignment to a dispatched or on-site outage.
    """
    rng = np.random.default_rng(seed)
    now = clock.now()
    with db.read() as session:
        model = build_network_model(session)
        devices = session.execute(
            select(Device.id, Device.district_id, Device.lon, Device.lat).where(Device.kind.in_(OUTAGE_KINDS))
        ).all()
        depots = list(session.scalars(select(Depot.id)))
    if len(devices) < outages:
        raise InvalidInput(
            f"{outages:,} outages need as many transformers and fuses; the territory has {len(devices):,}",
            field="customers",
        )
    busy = min(round(crews * BUSY_CREW_SHARE), outages)
    off_duty = round(crews * OFF_DUTY_CREW_SHARE)
    on_site = round(busy * ON_SITE_SHARE_OF_BUSY)
    chosen = [devices[i] for i in rng.choice(len(devices), size=outages, replace=False)]
    age_s = rng.uniform(0, 3600, outages)  # first reports within the last hour
    order = np.argsort(-age_s, kind="stable")  # the oldest outages are the ones a crew has reached
    states = np.empty(outages, dtype=object)
    states[order[:on_site]] = OutageState.ON_SITE.value
    states[order[on_site:busy]] = OutageState.DISPATCHED.value
    rest = order[busy:]
    confirmed = rng.random(len(rest)) < CONFIRMED_SHARE
    states[rest[confirmed]] = OutageState.CONFIRMED.value
    states[rest[~confirmed]] = OutageState.PREDICTED.value
    hazard = rng.random(outages) < HAZARD_OUTAGE_SHARE
    reports = 1 + rng.poisson(8, outages)

    outage_rows: list[dict[str, object]] = []
    for n, (device_id, district_id, _, _) in enumerate(chosen):
        index = model.net.index_of[device_id]
        first = now - timedelta(seconds=float(age_s[n]))
        state = OutageState(states[n])
        crewed = state in (OutageState.DISPATCHED, OutageState.ON_SITE)
        confirmed_at = first + timedelta(minutes=5) if state != OutageState.PREDICTED else None
        dispatched_at = first + timedelta(minutes=6) if crewed else None
        outage_rows.append(
            {
                "id": n + 1,
                "state": state.value,
                "device_id": device_id,
                "district_id": district_id,
                "hazard": bool(hazard[n]),
                "nested": False,
                "first_report_at": first,
                "last_report_at": min(first + timedelta(minutes=int(reports[n])), now),
                "predicted_at": first,
                "confirmed_at": min(confirmed_at, now) if confirmed_at else None,
                "dispatched_at": min(dispatched_at, now) if dispatched_at else None,
                "on_site_at": now if state == OutageState.ON_SITE else None,
                "customers_affected": int(model.customers_below[index]),
                "customers_restored": 0,
                "weighted_customers": float(model.weight_below[index]),
                "important_affected": model.important_at(index),
                "report_count": int(reports[n]),
                "version": 1,
            }
        )

    kinds = rng.choice(len(CREW_KINDS), size=crews, p=CREW_KIND_SHARES)
    crew_statuses = (
        [CrewStatus.ON_SITE] * on_site
        + [CrewStatus.DISPATCHED] * (busy - on_site)
        + [CrewStatus.OFF_DUTY] * off_duty
        + [CrewStatus.AVAILABLE] * (crews - busy - off_duty)
    )
    crewed_outages = order[:busy]
    crew_rows: list[dict[str, object]] = []
    assignment_rows: list[dict[str, object]] = []
    for n in range(crews):
        if n < busy:  # at or near the job's device
            _, _, lon, lat = chosen[crewed_outages[n]]
            kind = CrewKind.LINE if CREW_KINDS[kinds[n]] == CrewKind.ASSESSMENT else CREW_KINDS[kinds[n]]
        else:  # somewhere on the network
            _, _, lon, lat = devices[int(rng.integers(len(devices)))]
            kind = CREW_KINDS[kinds[n]]
        status = crew_statuses[n]
        crew_rows.append(
            {
                "id": n + 1,
                "code": f"BX-{n + 1:04d}",
                "name": f"Storm crew {n + 1}",
                "kind": kind.value,
                "size": int(rng.integers(2, 6)),
                "home_depot_id": depots[n % len(depots)] if depots else None,
                "lon": float(lon) + float(rng.normal(0, 0.002)),
                "lat": float(lat) + float(rng.normal(0, 0.002)),
                "position_at": now,
                "status": status.value,
                "status_at": now,
                "shift_start": "08:00",
                "shift_end": "20:00",
                "version": 1,
            }
        )
        if n < busy:
            outage = outage_rows[crewed_outages[n]]
            assignment_rows.append(
                {
                    "id": n + 1,
                    "outage_id": outage["id"],
                    "crew_id": n + 1,
                    "status": status.value,
                    "assigned_at": outage["dispatched_at"],
                    "assigned_by": "bench",
                    "eta_at": now + timedelta(minutes=10) if status == CrewStatus.DISPATCHED else None,
                    "on_site_at": now if status == CrewStatus.ON_SITE else None,
                    "version": 1,
                }
            )
    with db.write() as session:
        for table, rows in (
            (Crew.__table__, crew_rows),
            (Outage.__table__, outage_rows),
            (CrewAssignment.__table__, assignment_rows),
        ):
            for start in range(0, len(rows), 1_000):
                session.execute(insert(table), rows[start : start + 1_000])
    unassigned = [int(outage_rows[i]["id"]) for i in rest]  # type: ignore[call-overload]
    return Storm(unassigned, crews - busy - off_duty, busy)


def _clock_text(clock: sla.ClockStatus | None) -> str:
    """The board's countdown, in English: '7 min left', '3 min over', 'met'."""
    if clock is None:
        return "-"
    if not clock.running:
        return str(clock.state)
    minutes = int(abs(clock.remaining.total_seconds()) // 60)
    return f"{minutes} min {'over' if clock.remaining < timedelta(0) else 'left'}"


def outage_geojson(rows: Sequence[BoardRow]) -> dict[str, Any]:
    """The outage layer's GeoJSON with the console's properties (`dashboard.console.outage_features`),
    labelled in English so the benchmark needs no Streamlit session for translations."""
    return {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "geometry": {"type": "Point", "coordinates": [round(r.lon, 5), round(r.lat, 5)]},
                "properties": {
                    "id": r.outage_id,
                    "urgency": r.urgency,
                    "state_label": r.state.replace("_", " "),
                    "device_code": r.device_code,
                    "customers": r.customers_out,
                    "important": r.important_total,
                    "hazard": r.hazard,
                    "reports": r.reports,
                    "clock": _clock_text(r.urgent),
                    "first_report_local": r.first_report_at.astimezone(BENCH_TZ).strftime("%H:%M"),
                },
            }
            for r in rows
        ],
    }


def _page_data(db: Database, clock: FakeClock) -> tuple[list[BoardRow], dict[str, Any]]:
    with db.read() as session:
        return sla_board(session, clock), crew_collection(session)


def _empty_map(extent: Extent) -> folium.Map:
    return maps.base_map(extent.centre, ((extent.south, extent.west), (extent.north, extent.east)))


def _render(fmap: folium.Map) -> int:
    """Bytes of the map as rendered to HTML and JavaScript."""
    return len(fmap.get_root().render().encode("utf-8"))


def dispatcher_page(db: Database, clock: FakeClock, extent: Extent) -> tuple[int, int, int]:
    """Build the dispatcher page's live data and map layers as the page does; returns the bytes of
    the rendered map, the outages and the crews."""
    board, crews = _page_data(db, clock)
    fmap = _empty_map(extent)
    maps.crew_layer(crews, CREW_POPUP_FIELDS, ["", "", ""]).add_to(fmap)
    maps.outage_layer(outage_geojson(board), OUTAGE_POPUP_FIELDS, OUTAGE_POPUP_FIELDS).add_to(fmap)
    return _render(fmap), len(board), len(crews["features"])


def _popup(properties: dict[str, Any], fields: Sequence[str]) -> str:
    return "<br>".join(f"<b>{field}</b> {html.escape(str(properties[field]))}" for field in fields)


def dispatcher_page_markers(db: Database, clock: FakeClock, extent: Extent) -> int:
    """The naive page: the same data, one folium CircleMarker with a popup per outage and per crew."""
    board, crews = _page_data(db, clock)
    fmap = _empty_map(extent)
    for feature in crews["features"]:
        lon, lat = feature["geometry"]["coordinates"]
        properties = feature["properties"]
        folium.CircleMarker(
            [lat, lon],
            radius=5,
            fill=True,
            fill_color=maps.CREW_COLOURS.get(properties["status"], maps.CREW_BUSY_COLOUR),
            popup=folium.Popup(_popup(properties, CREW_POPUP_FIELDS)),
        ).add_to(fmap)
    for feature in outage_geojson(board)["features"]:
        lon, lat = feature["geometry"]["coordinates"]
        properties = feature["properties"]
        folium.CircleMarker(
            [lat, lon],
            radius=maps.outage_radius(properties["customers"]),
            fill=True,
            fill_color=maps.URGENCY_COLOURS.get(properties["urgency"], maps.URGENCY_COLOURS["on_track"]),
            popup=folium.Popup(_popup(properties, OUTAGE_POPUP_FIELDS)),
        ).add_to(fmap)
    return _render(fmap)


def bench_dispatch(
    customers: int = DISPATCH_CUSTOMERS,
    outages: int = DISPATCH_OUTAGES,
    crews: int = DISPATCH_CREWS,
    seed: int = DEFAULT_SEED,
    plan_outages: int = PLAN_OUTAGES,
    plan_crews: int = PLAN_CREWS,
) -> list[BenchRow]:
    """The dispatcher page and the storm plan with a typhoon's active outages and crews in SQLite.

    The page's data is the SLA board, the crew collection and the outage and crew map layers
    rendered to HTML and JavaScript (best of `PAGE_REPEATS` after one warm-up); the baseline builds
    the same page with one folium CircleMarker and popup per outage and crew. The storm plan is timed
    for `plan_outages` unassigned outages and at most `plan_crews` crews, beside nearest-crew greedy.
    """
    clock = FakeClock(BENCH_NOW)
    say = sys.stderr
    print(f"dispatch: generating {customers:,} customers, {outages:,} outages and {crews:,} crews", file=say)
    territory = _without_incidents(generate_territory(customers, seed, clock.now()))
    with tempfile.TemporaryDirectory() as directory:
        db = _fresh_sqlite(directory, clock)
        load_territory(db, clock, territory)
        storm = storm_on_territory(db, clock, outages, crews, seed + 2)
        with db.read() as session:
            extent = territory_extent(session)
        if extent is None:
            raise AssertionError("the demo territory has no districts")

        print("dispatch: building the dispatcher page", file=say)
        (payload, board_rows, crew_rows), _ = _timed(lambda: dispatcher_page(db, clock, extent))
        page_s = min(_timed(lambda: dispatcher_page(db, clock, extent))[1] for _ in range(PAGE_REPEATS))
        _, data_s = _timed(lambda: _page_data(db, clock))
        print("dispatch: naive baseline, one CircleMarker per outage and crew", file=say)
        naive_payload, naive_s = _timed(lambda: dispatcher_page_markers(db, clock, extent))

        plan_ids = storm.unassigned_outage_ids[:plan_outages]
        print(f"dispatch: storm plan, {len(plan_ids):,} outages and at most {plan_crews} crews", file=say)
        with db.read() as session:
            optimal, optimal_s = _timed(
                lambda: storm_plan(session, clock, outage_ids=plan_ids, max_crews=plan_crews)
            )
        with db.read() as session:
            greedy, greedy_s = _timed(
                lambda: greedy_plan(session, clock, outage_ids=plan_ids, max_crews=plan_crews)
            )
        db.dispose()
    size = f"{board_rows:,} outages + {crew_rows:,} crews"
    naive = f"the same page with one folium.CircleMarker and popup per outage and crew ({size})"
    plan = f"{len(plan_ids):,} outages x {optimal.crews_available} crews, at most {plan_crews} used"
    greedy_note = f"nearest-crew greedy_plan on the same {len(plan_ids):,} outages and crews"
    return [
        BenchRow(f"SLA board + crew collection queries ({size})", data_s, "s"),
        BenchRow(
            f"dispatcher page data: board, crews, map layers rendered ({size})",
            page_s,
            "s",
            budget="<= 0.5 s",
            baseline=naive_s,
            baseline_description=naive,
        ),
        BenchRow(
            "map payload: outage + crew layers rendered",
            payload / 1e6,
            "MB",
            budget="<= 2 MB",
            baseline=naive_payload / 1e6,
            baseline_description=naive,
        ),
        BenchRow(
            f"storm plan (linear_sum_assignment), {plan}",
            optimal_s,
            "s",
            baseline=greedy_s,
            baseline_description=greedy_note,
        ),
        BenchRow(
            f"storm plan total travel, {len(optimal.rows)} crews sent",
            optimal.total_travel_minutes,
            "min",
            baseline=greedy.total_travel_minutes,
            baseline_description=f"{greedy_note}: {len(greedy.rows)} crews sent",
        ),
        BenchRow(
            "storm plan cost, sum of (arrival minutes - priority)",
            optimal.cost,
            "",
            baseline=greedy.cost,
            baseline_description=greedy_note,
        ),
    ]


BENCHMARKS: dict[str, Callable[[argparse.Namespace], list[BenchRow]]] = {
    "generate": lambda args: bench_generate(sizes=args.sizes),
    "intake": lambda args: bench_intake(customers=args.customers or INTAKE_CUSTOMERS, reports=args.reports),
    "dispatch": lambda args: bench_dispatch(
        customers=args.customers or DISPATCH_CUSTOMERS, outages=args.outages, crews=args.crews
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
            f"territory size for 'intake' (default {INTAKE_CUSTOMERS}) "
            f"and 'dispatch' (default {DISPATCH_CUSTOMERS})"
        ),
    )
    parser.add_argument(
        "--reports",
        type=_count,
        default=INTAKE_REPORTS,
        help=f"reports for 'intake' (default {INTAKE_REPORTS})",
    )
    parser.add_argument(
        "--outages",
        type=_count,
        default=DISPATCH_OUTAGES,
        help=f"active outages for 'dispatch' (default {DISPATCH_OUTAGES})",
    )
    parser.add_argument(
        "--crews",
        type=_count,
        default=DISPATCH_CREWS,
        help=f"crews for 'dispatch' (default {DISPATCH_CREWS})",
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
