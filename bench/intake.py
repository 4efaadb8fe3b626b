"""Benchmark `intake`: a typhoon's burst of reports through intake and trouble-call analysis."""

from __future__ import annotations

import shutil
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
from sqlalchemy import func, select

from bench import storm_location
from bench.common import (
    BENCH_NOW,
    INTAKE_ACTOR,
    BenchRow,
    fresh_sqlite,
    timed,
)
from emergency.app.bus import execute
from emergency.app.commands.intake import SubmitReports
from emergency.app.context import Context
from emergency.core.clock import FakeClock
from emergency.core.config import load_settings
from emergency.core.db import Database
from emergency.core.models import (
    ACTIVE_OUTAGE_STATES,
    DeviceKind,
    Outage,
    ReportChannel,
    ReportKind,
)
from emergency.demo.load import load_territory
from emergency.demo.parameters import DEFAULT_SEED
from emergency.demo.territory import Territory, generate_territory
from emergency.network.analysis import AnalysisResult
from emergency.network.model import RadialNetwork, network_model

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
    faults: tuple[int, ...] = ()  # the devices out (ids), for location accuracy

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
        item: dict[str, object] = {
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
        item = {
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
    # Each source numbers its reports as they come in (a call centre's tickets, a meter head-end's
    # events), so external ids rise with time on each channel; a retry keeps its first number.
    numbered: dict[str, int] = {}
    renumbered: set[int] = set()
    for _, item in rows:
        if id(item) not in renumbered:
            renumbered.add(id(item))
            prefix = str(item["external_id"]).split("-")[0]
            number = numbered[prefix] = numbered.get(prefix, -1) + 1
            item["external_id"] = f"{prefix}-{number:09d}"
    arrivals = [start + timedelta(seconds=min(at, span_s)) for at, _ in rows]
    return Burst([dict(item) for _, item in rows], arrivals, out_kinds, tuple(sorted(chosen)))


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
    ctx = Context(db, clock, INTAKE_ACTOR, load_settings().timezone)
    for start in range(begin, end, batch):
        stop = min(start + batch, end)
        clock.set(burst.arrivals[stop - 1])
        result = execute(ctx, SubmitReports(tuple(burst.items[start:stop])))
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

    Reports go through `SubmitReports` in batches of `batch` (validation, de-duplication,
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
        db = fresh_sqlite(directory, clock)
        load_territory(db, clock, territory)
        naive_db = _checkpointed_copy(db, Path(directory) / "naive.db")
        model_s = _warm_model(db)
        _warm_model(naive_db)

        print(f"intake: ingesting {reports:,} reports in batches of {batch:,}", file=say)
        analysis, ingest_s = timed(lambda: _submit(db, clock, burst, 0, reports, batch))
        _, last_batch_s = timed(lambda: _submit(db, clock, burst, reports, reports + batch, batch))
        with db.read() as session:
            active = session.scalar(
                select(func.count()).select_from(Outage).where(Outage.state.in_(ACTIVE_OUTAGE_STATES))
            )
            out_customers = session.scalar(
                select(func.sum(Outage.customers_affected - Outage.customers_restored)).where(
                    Outage.state.in_(ACTIVE_OUTAGE_STATES)
                )
            )
            # Lone calls open service outages at once; most are rolled up as neighbours call.
            services_opened, services_active = session.execute(
                select(
                    func.count(),
                    func.count().filter(Outage.state.in_(ACTIVE_OUTAGE_STATES)),
                ).where(Outage.customer_id.is_not(None))
            ).one()
        print(f"intake: {analysis.summary()}", file=say)
        # Location accuracy of the burst, then after the follow-up asked the meters (untimed).
        located = storm_location.locate(db, burst.faults)
        print(f"intake: asking the meters below doubtful predictions ({dict(located)} before)", file=say)
        asked = storm_location.ask_meters(db, clock, burst.faults, seed)
        pinged = storm_location.locate(db, burst.faults)
        db.dispose()

        print(f"intake: naive baseline, {naive_count:,} reports one per call", file=say)
        clock.set(BENCH_NOW)
        _, naive_s = timed(lambda: _submit(naive_db, clock, burst, 0, naive_count, 1))
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
                f"the first {naive_count:,} reports of the same stream, one SubmitReports command each "
                "(one insert, one analysis pass per report), into a copy of the same database"
            ),
            higher_is_better=True,
        ),
        BenchRow(f"re-analyse after {batch:,} new reports (one more batch at the end)", last_batch_s, "s"),
        BenchRow("active outages after the burst", float(active or 0), "outages"),
        BenchRow("customers out after the burst", float(out_customers or 0), "customers"),
        BenchRow(
            "service outages opened by lone calls during the burst", float(services_opened), "service outages"
        ),
        BenchRow(
            "service outages still on their own after the burst", float(services_active), "service outages"
        ),
        *storm_location.location_rows(located, pinged, asked),
    ]
