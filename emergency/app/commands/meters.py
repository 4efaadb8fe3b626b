"""Ask the meters (issue #21 point 3): the follow-up round and a dispatcher's request.

The head-end is asked between a read and a write (`emergency.network.meter_ping.ping_round`), so
no transaction waits on the meters; the write that records the answers and moves the prediction
keeps trouble-call analysis out until it commits, as every change to outages does.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session

from emergency.app.bus import handles
from emergency.app.context import Context
from emergency.core.actor import SYSTEM
from emergency.core.errors import InvalidInput
from emergency.core.models import Role
from emergency.core.settings import get_setting
from emergency.core.unit_of_work import unit_of_work
from emergency.dispatch.crews import OPERATOR_ROLES
from emergency.network import meter_ping
from emergency.network.head_end import HeadEnd, current_head_end
from emergency.network.meter_ping import PingOutcome
from emergency.network.model import NetworkModel, network_model


@dataclass(frozen=True)
class AskMeters:
    """The server's follow-up round (as the system): ping the meters of doubtful predictions."""


@dataclass(frozen=True)
class PingOutageMeters:
    """A dispatcher asks the meters that would tell where `outage_id`'s fault is."""

    outage_id: int


def _head_end(ctx: Context) -> HeadEnd | None:
    with ctx.db.read() as session:
        return current_head_end(str(get_setting(session, "meter_ping.head_end_url") or ""))


def _round(
    ctx: Context, head_end: HeadEnd, roles: tuple[Role | str, ...], outage_ids: list[int] | None
) -> PingOutcome:
    def model_of(session: Session) -> NetworkModel:
        return network_model(session, ctx.db.url)

    return meter_ping.ping_round(
        ctx.db,
        ctx.clock,
        ctx.actor,
        head_end,
        model_of,
        outage_ids,
        write=lambda: unit_of_work(ctx.db, ctx.actor, roles, against_analysis=True),
    )


@handles(AskMeters)
def ask_meters(ctx: Context, cmd: AskMeters) -> PingOutcome:
    """Nothing to do without a head-end: the round returns an empty outcome."""
    ctx.actor.require(SYSTEM.role)
    head_end = _head_end(ctx)
    if head_end is None:
        return PingOutcome()
    return _round(ctx, head_end, (SYSTEM.role,), None)


@handles(PingOutageMeters)
def ping_outage_meters(ctx: Context, cmd: PingOutageMeters) -> PingOutcome:
    """Refused by name: an outage not a prediction, no head-end, or no meter that would tell."""
    ctx.actor.require(*OPERATOR_ROLES)
    with ctx.db.read() as session:
        meter_ping.require_outage(session, cmd.outage_id)
    head_end = _head_end(ctx)
    if head_end is None:
        raise InvalidInput("no meter head-end is configured (setting meter_ping.head_end_url)")
    outcome = _round(ctx, head_end, OPERATOR_ROLES, [cmd.outage_id])
    if cmd.outage_id in outcome.refused:
        raise InvalidInput(f"outage {cmd.outage_id}: {outcome.refused[cmd.outage_id]}")
    return outcome
