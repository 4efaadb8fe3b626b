"""Location accuracy of `bench intake`'s typhoon burst (#21 point 4), before and after meter pings.

The burst faults a few hundred devices, none above or below another. After it, each fault is
judged against the active outages as the simulator judges one (`emergency.simulator.location`):
exact, too high (an outage above it), too low (below it, or a customer's service outage), split
(several), none. Then the analysis follow-up asks the meters (`AskMeters`, as the server's loop
does: round after round, the most doubtful first; when every doubtful outage has been asked, the
clock moves on `meter_ping.repeat_minutes`, up to `meter_ping.max_rounds` times) against a head-end
that knows the faults and delivers `PING_DELIVERY` of the answers, and the faults are judged
again. Untimed: pings never run in intake's path.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

from sqlalchemy import select

from bench.common import BenchRow
from bench.tca_pings import PING_DELIVERY
from emergency.app.bus import execute
from emergency.app.commands.meters import AskMeters
from emergency.app.context import Context
from emergency.core.actor import SYSTEM
from emergency.core.clock import FakeClock
from emergency.core.config import load_settings
from emergency.core.db import Database
from emergency.core.models import ACTIVE_OUTAGE_STATES, Customer, Outage
from emergency.core.settings import get_setting
from emergency.network.head_end import FakeHeadEnd, use_head_end
from emergency.network.model import RadialNetwork, network_model
from emergency.simulator.progress import LOCATION_VERDICTS

MAX_ROUNDS = 60  # follow-up rounds at most (each asks about up to meter_ping.max_outages outages)


def judge_faults(net: RadialNetwork, faults: Iterable[int], outages: list[tuple[int, bool]]) -> Counter[str]:
    """Verdicts of disjoint faults (device ids) against active outages (device id, is a service)."""
    faults = set(faults)
    mine: dict[int, list[tuple[int, bool]]] = {f: [] for f in faults}
    above: dict[int, list[int]] = {}  # device id -> the faults below it
    for fault in faults:
        for up in net.path_to_root(fault)[1:]:
            above.setdefault(up, []).append(fault)
    for device, service in outages:
        owner = next((d for d in net.path_to_root(device) if d in faults), None)
        if owner is not None:
            mine[owner].append((device, service))
        for fault in above.get(device, []):
            mine[fault].append((device, service))
    verdicts: Counter[str] = Counter()
    for fault, found in mine.items():
        if not found:
            verdicts["none"] += 1
        elif len(found) > 1:
            verdicts["split"] += 1
        elif found[0] == (fault, False):
            verdicts["exact"] += 1
        else:
            verdicts["too_high" if found[0][0] in set(net.path_to_root(fault)[1:]) else "too_low"] += 1
    return verdicts


def locate(db: Database, faults: Iterable[int]) -> Counter[str]:
    with db.read() as session:
        net = network_model(session, db.url).net
        outages = [
            (int(d), c is not None)
            for d, c in session.execute(
                select(Outage.device_id, Outage.customer_id).where(Outage.state.in_(ACTIVE_OUTAGE_STATES))
            )
        ]
    return judge_faults(net, faults, outages)


def ask_meters(db: Database, clock: FakeClock, faults: Iterable[int], seed: int) -> int:
    """Follow-up rounds until none asks anything; returns the meters asked."""
    with db.read() as session:
        net = network_model(session, db.url).net
        dark = {t for f in faults for t in net.transformers_at_or_below(f)}
        transformer_of = {
            str(m): net.index_of[t]
            for m, t in session.execute(
                select(Customer.meter_id, Customer.transformer_id).where(Customer.meter_id.is_not(None))
            )
        }
        repeat = float(get_setting(session, "meter_ping.repeat_minutes"))
        rounds = int(get_setting(session, "meter_ping.max_rounds"))
    head_end = FakeHeadEnd(
        lambda meter: transformer_of.get(meter) not in dark, loss=1 - PING_DELIVERY, seed=seed
    )
    ctx = Context(db, clock, SYSTEM, load_settings().timezone)
    asked = 0
    waited = 0
    use_head_end(head_end)
    try:
        for _ in range(MAX_ROUNDS):
            outcome = execute(ctx, AskMeters())
            asked += sum(len(a) for a in outcome.asked.values())
            if outcome.asked:
                continue
            # Every doubtful outage asked once: the next round is due `repeat` minutes later.
            waited += 1
            if waited >= rounds:
                break
            clock.advance(minutes=repeat)
    finally:
        use_head_end(None)
    return asked


def location_rows(before: Counter[str], after: Counter[str], asked: int) -> list[BenchRow]:
    total = sum(before.values()) or 1
    rows = [
        BenchRow(
            f"burst faults located exactly after meter pings ({PING_DELIVERY:.0%} of answers delivered)",
            100 * after["exact"] / total,
            "%",
            baseline=100 * before["exact"] / total,
            baseline_description="the same faults right after the burst, before the follow-up asked meters",
            higher_is_better=True,
        )
    ]
    for verdict in LOCATION_VERDICTS:
        if verdict in ("exact", "behind"):
            continue  # behind: the burst's faults are never one above another
        rows.append(
            BenchRow(
                f"burst faults {verdict.replace('_', ' ')} after meter pings",
                float(after[verdict]),
                "faults",
                baseline=float(before[verdict]),
                baseline_description="the same faults before meter pings",
            )
        )
    rows.append(BenchRow("meters pinged by the follow-up after the burst", float(asked), "meters"))
    return rows
