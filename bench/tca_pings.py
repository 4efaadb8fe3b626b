"""`bench tca`'s meter-ping variant (#21 point 3): evidence-weighted analysis with its follow-up
asking the smart meters below doubtful predictions, beside the same analysis without it.

The head-end answers from the faults of the round: a meter below a faulted device stays silent,
any other answers with chance `PING_DELIVERY` (a lost answer looks silent, as in a storm). The
follow-up (`AskMeters`, as the server's loop runs it) runs after each minute's batch of reports,
on the same reports as the other methods.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from sqlalchemy import select

from bench.common import BenchRow
from emergency.app.bus import execute
from emergency.app.commands.meters import AskMeters
from emergency.app.context import Context
from emergency.core.actor import SYSTEM
from emergency.core.clock import FakeClock
from emergency.core.config import load_settings
from emergency.core.db import Database
from emergency.core.models import Customer
from emergency.network.head_end import FakeHeadEnd, use_head_end

if TYPE_CHECKING:
    from bench.tca import Grid, Tally

PING_DELIVERY = 0.8  # answers to a ping that reach the head-end in the storm
PING_METHOD = f"evidence + meter pings {PING_DELIVERY:.0%}"
PING_SCENARIOS = ("calls 5%", "calls 10%", "calls 30%")


def method_setting(method: str) -> str:
    """The `tca.method` a bench method runs under."""
    return "evidence" if method == PING_METHOD else method


def ping_follow_up(
    db: Database, grid: Grid, faults: list[tuple[int, ...]], method: str, seed: int
) -> Callable[[FakeClock], None] | None:
    """What runs after each minute's reports for `method`: for the ping method, a round of the
    follow-up against a head-end that knows the round's faults; nothing for the others."""
    if method != PING_METHOD:
        return None
    with db.read() as session:
        rows = session.execute(
            select(Customer.meter_id, Customer.transformer_id).where(Customer.meter_id.is_not(None))
        )
        transformer_of = {str(meter): grid.net.index_of[t] for meter, t in rows}
    dark = {
        t
        for fault in faults
        for device in fault
        for t in grid.net.transformers_at_or_below(int(grid.net.ids[device]))
    }
    head_end = FakeHeadEnd(
        lambda meter: transformer_of.get(meter) not in dark, loss=1 - PING_DELIVERY, seed=seed
    )
    tz = load_settings().timezone

    def after(clock: FakeClock) -> None:
        use_head_end(head_end)
        try:
            execute(Context(db, clock, SYSTEM, tz), AskMeters())
        finally:
            use_head_end(None)

    return after


def ping_rows(tally: Tally) -> list[BenchRow]:
    """Singles located exactly with meter pings, beside the same analysis without them."""
    rows: list[BenchRow] = []
    for scenario in PING_SCENARIOS:
        pinged, plain = tally.counts.get((scenario, PING_METHOD)), tally.counts.get((scenario, "evidence"))
        if pinged is None or plain is None:
            continue
        rows.append(
            BenchRow(
                f"single faults located exactly, {scenario} ({PING_METHOD})",
                100 * pinged["exact"] / sum(pinged.values()),
                "%",
                baseline=100 * plain["exact"] / sum(plain.values()),
                baseline_description="evidence analysis without meter pings, same reports, same run",
                higher_is_better=True,
            )
        )
    return rows
