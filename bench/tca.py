"""Benchmark `tca`: how often trouble-call analysis puts an outage at the faulted device.

Single faults on every protective device (sampled when there are many) and on a sample of
transformers; each time a share of the customers below calls (or, separately, their meters' last
gasps arrive), with calls spread over about ten minutes and a few late, through `SubmitReports`
(the command the HTTP route and `ingest` use) minute by minute, on a database reset from one
pristine copy. Faults on different feeders never share a device that can be predicted, so each
reset carries one fault per feeder. Telemetered devices (breakers, reclosers) also send the SCADA
trip they would. Then each fault is classified by the active outages on its feeder: exact, an
ancestor (too high), a descendant (too low), several outages, or nothing. Pairs of faults on
sibling devices (two laterals, or two transformers, under one parent) are classified fault by fault.
Both methods (`tca.method` rules and evidence) see the same drawn reports in the same run.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
from sqlalchemy import MetaData, select, text

from bench.common import BENCH_NOW, INTAKE_ACTOR, BenchRow, fresh_sqlite
from bench.tca_pings import PING_METHOD, method_setting, ping_follow_up, ping_rows
from emergency.app.bus import execute
from emergency.app.commands.intake import SubmitReports
from emergency.app.context import Context
from emergency.core.clock import FakeClock
from emergency.core.config import load_settings
from emergency.core.db import Database
from emergency.core.models import ACTIVE_OUTAGE_STATES, Customer, Device, DeviceKind, Outage, SwitchState
from emergency.core.settings import set_setting
from emergency.core.vocabulary import PROTECTIVE_KINDS
from emergency.demo.load import load_territory
from emergency.demo.parameters import DEFAULT_SEED
from emergency.demo.territory import Territory, generate_territory
from emergency.network.model import RadialNetwork, load_network

TCA_CUSTOMERS = 20_000
SHARES = (0.05, 0.10, 0.30, 0.60)
PAIR_SHARES = (0.10, 0.30)
METER_SHARE, GASP_DELIVERY = 0.5, 0.7  # half the customers metered; 70 % of last gasps get through
MAX_PROTECTIVE = 200  # protective devices faulted at most (a random sample beyond)
TRANSFORMER_SAMPLE = 80
CALL_MEDIAN_MIN, CALL_SIGMA = 4.0, 0.6  # lognormal delay of a call: about 90 % within 10 minutes
STEP = timedelta(minutes=1)  # reports reach analysis minute by minute, as they would live
METHODS = ("rules", "evidence", PING_METHOD)  # the last: evidence with meter pings (#21 point 3)
CLASSES = ("exact", "ancestor", "descendant", "several", "nothing")


@dataclass
class Grid:
    """What the bench needs of a territory: the tree, device codes and telemetry, customers."""

    net: RadialNetwork
    telemetered: set[int]  # device indices
    accounts: dict[int, list[str]]  # transformer index -> account numbers

    def feeder(self, index: int) -> int:
        """The device right below the source on this device's path (its feeder's breaker)."""
        path = self.net.path_to_root(int(self.net.ids[index]))
        return self.net.index_of[path[-2] if len(path) > 1 else path[-1]]

    def accounts_below(self, index: int) -> list[str]:
        tx = self.net.transformers_at_or_below(int(self.net.ids[index]))
        return [a for t in tx for a in self.accounts.get(t, [])]


@dataclass
class Tally:
    """Classified faults per (scenario, method)."""

    counts: dict[tuple[str, str], Counter[str]] = field(default_factory=dict)
    by_kind: dict[tuple[str, str, str], Counter[str]] = field(default_factory=dict)
    # Faulted devices below which nobody reported and nothing tripped: no method can find them.
    unreported: Counter[str] = field(default_factory=Counter)

    def add(self, scenario: str, method: str, kind: str, verdict: str) -> None:
        self.counts.setdefault((scenario, method), Counter())[verdict] += 1
        self.by_kind.setdefault((scenario, method, kind), Counter())[verdict] += 1


def read_grid(db: Database) -> Grid:
    with db.read() as session:
        net = load_network(session)
        telemetered = {
            net.index_of[i] for (i,) in session.execute(select(Device.id).where(Device.telemetered.is_(True)))
        }
        accounts: dict[int, list[str]] = {}
        for account, transformer in session.execute(
            select(Customer.account_no, Customer.transformer_id).order_by(Customer.id)
        ):
            accounts.setdefault(net.index_of[transformer], []).append(account)
    return Grid(net, telemetered, accounts)


def choose_faults(
    grid: Grid, rng: np.random.Generator
) -> tuple[list[tuple[int, ...]], list[tuple[int, ...]]]:
    """Single faults (every protective device, sampled beyond a limit; sampled transformers) and
    sibling pairs (two children of one parent that have customers), as device indices."""
    kinds = grid.net.kinds
    protective = [i for i, k in enumerate(kinds) if k in PROTECTIVE_KINDS and grid.accounts_below(i)]
    if len(protective) > MAX_PROTECTIVE:
        protective = sorted(rng.choice(protective, MAX_PROTECTIVE, replace=False).tolist())
    transformers = [i for i, k in enumerate(kinds) if k == DeviceKind.TRANSFORMER and grid.accounts.get(i)]
    if len(transformers) > TRANSFORMER_SAMPLE:
        transformers = sorted(rng.choice(transformers, TRANSFORMER_SAMPLE, replace=False).tolist())
    children = grid.net._children_of()
    pairs: list[tuple[int, ...]] = []
    for parent, kids in sorted(children.items()):
        for kind in (DeviceKind.FUSE, DeviceKind.TRANSFORMER):
            same = [k for k in kids if kinds[k] == kind and grid.accounts_below(k)]
            if len(same) >= 2 and kinds[parent] != DeviceKind.SUBSTATION:
                pairs.append((same[0], same[1]))
    if len(pairs) > TRANSFORMER_SAMPLE:
        pairs = [pairs[i] for i in sorted(rng.choice(len(pairs), TRANSFORMER_SAMPLE, replace=False))]
    return [(i,) for i in protective + transformers], pairs


def by_feeder(grid: Grid, faults: Sequence[tuple[int, ...]]) -> list[list[tuple[int, ...]]]:
    """Rounds of faults with at most one fault (or pair) per feeder each."""
    queues: dict[int, list[tuple[int, ...]]] = {}
    for fault in faults:
        queues.setdefault(grid.feeder(fault[0]), []).append(fault)
    rounds: list[list[tuple[int, ...]]] = []
    while any(queues.values()):
        rounds.append([queue.pop(0) for queue in queues.values() if queue])
    return rounds


def draw_reports(
    grid: Grid, faults: Sequence[tuple[int, ...]], share: float, gasps: bool, rng: np.random.Generator
) -> list[tuple[datetime, dict[str, object]]]:
    """The reports a round of faults brings: SCADA trips, then calls (or last gasps) below each."""
    start = BENCH_NOW
    found: list[tuple[datetime, dict[str, object]]] = []
    serial = 0
    for fault in faults:
        for device in fault:
            if device in grid.telemetered:
                serial += 1
                found.append(
                    (
                        start + timedelta(seconds=float(rng.uniform(1, 10))),
                        {
                            "channel": "scada",
                            "kind": "device_opened",
                            "device_code": grid.net.codes[device],
                            "external_id": f"SCADA-{serial:07d}",
                        },
                    )
                )
            for account in grid.accounts_below(device):
                if gasps:
                    if rng.random() >= METER_SHARE * GASP_DELIVERY:
                        continue
                    delay = float(rng.uniform(2, 90))
                    channel, kind = "meter", "last_gasp"
                else:
                    if rng.random() >= share:
                        continue
                    delay = 60 * float(rng.lognormal(np.log(CALL_MEDIAN_MIN), CALL_SIGMA))
                    channel, kind = "hotline", "no_power"
                serial += 1
                at = start + timedelta(seconds=delay)
                found.append(
                    (
                        at,
                        {
                            "channel": channel,
                            "kind": kind,
                            "account_no": account,
                            "reported_at": at.isoformat(),
                            "external_id": f"{channel.upper()}-{serial:07d}",
                        },
                    )
                )
    found.sort(key=lambda r: r[0])
    return found


def submit(
    db: Database,
    reports: list[tuple[datetime, dict[str, object]]],
    after: Callable[[FakeClock], None] | None = None,
) -> None:
    """Feed the reports minute by minute through `SubmitReports`, the clock at each minute's end."""
    clock = FakeClock(BENCH_NOW)
    ctx = Context(db, clock, INTAKE_ACTOR, load_settings().timezone)
    position = 0
    edge = BENCH_NOW + STEP
    while position < len(reports):
        chunk = []
        while position < len(reports) and reports[position][0] < edge:
            chunk.append(reports[position][1])
            position += 1
        if chunk:
            clock.set(edge)
            result = execute(ctx, SubmitReports(tuple(chunk)))
            if result.errors:
                raise AssertionError(f"the benchmark's own reports were refused: {result.errors[:3]}")
            if after is not None:  # the analysis follow-up (meter pings) after each batch
                after(clock)
        edge += STEP


def classify(grid: Grid, db: Database, faults: Sequence[tuple[int, ...]]) -> list[tuple[int, str]]:
    """(faulted device, verdict) for each faulted device of a round, from the active outages."""
    with db.read() as session:
        outages = [
            (grid.net.index_of[device], customer is not None)
            for device, customer in session.execute(
                select(Outage.device_id, Outage.customer_id).where(Outage.state.in_(ACTIVE_OUTAGE_STATES))
            )
        ]
    on_feeder: dict[int, list[tuple[int, bool]]] = {}
    for device, service in outages:
        on_feeder.setdefault(grid.feeder(device), []).append((device, service))
    verdicts: list[tuple[int, str]] = []
    for fault in faults:
        found = on_feeder.get(grid.feeder(fault[0]), [])
        for device in fault:
            verdicts.append((device, verdict(grid, device, found, fault)))
    return verdicts


def verdict(grid: Grid, device: int, outages: list[tuple[int, bool]], fault: tuple[int, ...]) -> str:
    """Exact, ancestor, descendant, several or nothing, for one faulted device of `fault`.

    `outages` are (device index, is a service outage): one customer's outage at a transformer is
    below that transformer, never the transformer's own.
    """
    net = grid.net
    above = set(net.path_to_root(int(net.ids[device]))[1:])
    below = {int(net.ids[i]) for i in net._below(int(net.ids[device]))}
    # An outage below a sibling of the pair belongs to that sibling, not to this device.
    others = [o for o in outages if not any(_under(grid, o[0], f) for f in fault if f != device)]
    mine = [o for o in others if int(net.ids[o[0]]) in above | below or o[0] == device]
    if not mine:
        return "nothing"
    if len(mine) > 1:
        return "several"
    ((only, service),) = mine
    if only == device and not service:
        return "exact"
    return "ancestor" if int(net.ids[only]) in above else "descendant"


def _under(grid: Grid, outage: int, device: int) -> bool:
    return (
        outage == device or int(grid.net.ids[device]) in grid.net.path_to_root(int(grid.net.ids[outage]))[1:]
    )


class Resetter:
    """A working SQLite file copied from a pristine one before each round (same address, so the
    process's network model is built once)."""

    def __init__(self, pristine: Path, work: Path) -> None:
        self.pristine, self.work = pristine, work
        self.db: Database | None = None

    def fresh(self, method: str) -> Database:
        if self.db is not None:
            self.db.dispose()
        for suffix in ("-wal", "-shm"):
            Path(f"{self.work}{suffix}").unlink(missing_ok=True)
        shutil.copyfile(self.pristine, self.work)
        self.db = Database(f"sqlite:///{self.work}")
        with self.db.write() as session:
            set_setting(session, "tca.method", method, FakeClock(BENCH_NOW), by="bench")
        return self.db


def quiet(territory: Territory) -> Territory:
    """The demo territory before any fault: without its outages in progress (and their reports,
    ETRs and crews sent), every telemetered switch closed, so each fault of the bench is alone."""
    devices = territory.devices.copy()
    devices.loc[devices["telemetered"].astype(bool), "scada_state"] = SwitchState.CLOSED.value
    return replace(
        territory,
        devices=devices,
        outages=territory.outages.iloc[0:0],
        reports=territory.reports.iloc[0:0],
        etr_changes=territory.etr_changes.iloc[0:0],
        assignments=territory.assignments.iloc[0:0],
    )


def pristine_copy(source: Database, target: Path) -> None:
    """A new SQLite file with the source's districts, network, customers and settings (learned
    `tca.*` values included), and nothing else: no outage, report or crew of its own to get in the
    way. Telemetered switches are closed, as on a healthy network before the faults."""
    directory = target.parent / "pristine-build"
    directory.mkdir(exist_ok=True)
    copy = fresh_sqlite(str(directory), FakeClock(BENCH_NOW))
    copy.dispose()
    Path(copy.engine.url.database or "").rename(target)
    destination = Database(f"sqlite:///{target}")
    names = ("districts", "devices", "customers")
    tables = MetaData()
    tables.reflect(source.engine, only=[*names, "settings"])
    with source.engine.connect() as read, destination.engine.begin() as write:
        write.execute(text("PRAGMA foreign_keys=OFF"))
        for name in names:
            rows = [dict(r._mapping) for r in read.execute(select(tables.tables[name]))]
            if rows:
                write.execute(tables.tables[name].insert(), rows)
        settings = tables.tables["settings"]
        for row in read.execute(select(settings)):
            if str(row.key).startswith(("tca.", "intake.", "territory.")):
                write.execute(settings.delete().where(settings.c.key == row.key))
                write.execute(settings.insert(), [dict(row._mapping)])
        write.execute(text("UPDATE devices SET scada_state = 'closed' WHERE telemetered"))
    destination.dispose()


Draw = Callable[[list[tuple[int, ...]], np.random.Generator], list[tuple[datetime, dict[str, object]]]]


def run_rounds(
    resetter: Resetter,
    grid: Grid,
    rounds: list[list[tuple[int, ...]]],
    scenario: str,
    draw: Draw,
    tally: Tally,
    seed: int,
) -> None:
    for number, faults in enumerate(rounds):
        reports = draw(faults, np.random.default_rng([seed, number]))
        tally.unreported[scenario] += sum(1 for f in faults for d in f if not was_reported(grid, d, reports))
        for method in METHODS:  # the same reports for both methods
            db = resetter.fresh(method_setting(method))
            submit(db, reports, ping_follow_up(db, grid, faults, method, seed))
            for device, found in classify(grid, db, faults):
                tally.add(scenario, method, str(grid.net.kinds[device]), found)


def was_reported(grid: Grid, device: int, reports: list[tuple[datetime, dict[str, object]]]) -> bool:
    below = set(grid.accounts_below(device))
    code = grid.net.codes[device]
    return any(item.get("account_no") in below or item.get("device_code") == code for _, item in reports)


def bench_tca(
    customers: int = TCA_CUSTOMERS, seed: int = DEFAULT_SEED, database: str | None = None
) -> list[BenchRow]:
    """Locate faults by both methods on the demo territory (or the network of `database`)."""
    say = sys.stderr
    clock = FakeClock(BENCH_NOW)
    with tempfile.TemporaryDirectory() as directory:
        pristine = Path(directory) / "pristine.db"
        if database is None:
            print(f"tca: generating the demo territory, {customers:,} customers", file=say)
            source = fresh_sqlite(directory, clock)
            load_territory(source, clock, quiet(generate_territory(customers, seed, clock.now())))
        else:
            source = Database(database)
        pristine_copy(source, pristine)
        source.dispose()
        resetter = Resetter(pristine, Path(directory) / "work.db")
        grid = read_grid(resetter.fresh("rules"))
        singles, pairs = choose_faults(grid, np.random.default_rng(seed))
        single_rounds, pair_rounds = by_feeder(grid, singles), by_feeder(grid, pairs)
        print(
            f"tca: {len(singles)} single faults in {len(single_rounds)} rounds, {len(pairs)} pairs", file=say
        )
        tally = Tally()
        for share in SHARES:
            print(f"tca: calls from {share:.0%} of the customers out", file=say)
            run_rounds(
                resetter,
                grid,
                single_rounds,
                f"calls {share:.0%}",
                calls_at(grid, share),
                tally,
                seed,
            )
        print("tca: last gasps", file=say)
        gasp = f"last gasps {METER_SHARE * GASP_DELIVERY:.0%}"
        run_rounds(
            resetter,
            grid,
            single_rounds,
            gasp,
            lambda f, rng: draw_reports(grid, f, 0, True, rng),
            tally,
            seed,
        )
        for share in PAIR_SHARES:
            print(f"tca: sibling pairs, calls from {share:.0%}", file=say)
            run_rounds(
                resetter,
                grid,
                pair_rounds,
                f"pairs, calls {share:.0%}",
                calls_at(grid, share),
                tally,
                seed,
            )
        if resetter.db is not None:
            resetter.db.dispose()
    print(format_tally(tally))
    return tally_rows(tally) + ping_rows(tally)


def calls_at(grid: Grid, share: float) -> Draw:
    """Draw calls from `share` of the customers below each fault."""
    return lambda faults, rng: draw_reports(grid, faults, share, False, rng)


def format_tally(tally: Tally) -> str:
    header: tuple[str, ...] = ("faults", "method", "located", *CLASSES, "no report sent")
    lines = [header]
    for (scenario, method), counts in tally.counts.items():
        total = sum(counts.values())
        lines.append(
            (
                scenario,
                method,
                f"{counts['exact'] / total:.1%}",
                *(f"{counts[c]}/{total}" for c in CLASSES),
                f"{tally.unreported[scenario]}/{total}",
            )
        )
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    text_lines = [
        "  ".join(
            cell.ljust(w) if i < 2 else cell.rjust(w)
            for i, (cell, w) in enumerate(zip(line, widths, strict=True))
        )
        for line in lines
    ]
    text_lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(text_lines)


def tally_rows(tally: Tally) -> list[BenchRow]:
    """The budget's figures: singles located exactly at 10 % and 30 % calling, and left with nothing."""
    rows: list[BenchRow] = []
    for scenario, budget in (("calls 10%", ">= 90 %"), ("calls 30%", ">= 97 %")):
        evidence, rules = tally.counts.get((scenario, "evidence")), tally.counts.get((scenario, "rules"))
        if evidence is None or rules is None:
            continue
        rows.append(
            BenchRow(
                f"single faults located exactly, {scenario} (evidence)",
                100 * evidence["exact"] / sum(evidence.values()),
                "%",
                budget=budget,
                baseline=100 * rules["exact"] / sum(rules.values()),
                baseline_description="today's rules (tca.method rules) on the same reports in the same run",
                higher_is_better=True,
            )
        )
        # A fault below which nobody called and nothing tripped sent no report at all: no method can
        # open an outage for it (the table's "no report sent" column counts those). The budget is
        # about faults that were reported and still left with no outage.
        silent = tally.unreported[scenario]
        rows.append(
            BenchRow(
                f"reported single faults left with no outage, {scenario} (evidence)",
                float(evidence["nothing"] - silent),
                "faults",
                budget="0" if scenario == "calls 10%" else None,
                baseline=float(rules["nothing"] - silent),
                baseline_description=f"today's rules, same reports ({silent} more sent no report at all)",
            )
        )
    return rows
