"""What the dispatcher console reads: the live board and map layers, one outage's detail, the crews
to recommend for it, and the storm plan. All plain frozen data for the page to draw.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from emergency.app.context import Context
from emergency.core.models import DeviceKind, Role
from emergency.core.unit_of_work import read_as
from emergency.dispatch import board, plan
from emergency.dispatch import outage_detail as detail
from emergency.network import territory
from emergency.network.model import network_model

# The control room: who watches the board and acts on outages.
CONTROL_ROOM = (Role.DISPATCHER, Role.MANAGER)


def staff_layers(ctx: Context, with_network: bool, with_transformers: bool) -> dict[str, Any]:
    """The live console's data: "board" (the SLA board's rows, in priority order), "crews" and
    "network" (GeoJSON collections; the network only when asked for). `bench dispatch` times this."""
    kinds = territory.NETWORK_KINDS_DEFAULT + ((DeviceKind.TRANSFORMER,) if with_transformers else ())
    with read_as(ctx.db, ctx.actor, CONTROL_ROOM) as session:
        return {
            "board": board.sla_board(session, ctx.clock, ctx.tz),
            "crews": territory.crew_collection(session, ctx.clock.now()),
            "network": territory.network_collection(session, kinds) if with_network else None,
        }


def sla_board(ctx: Context) -> list[board.BoardRow]:
    """Every active outage with its clocks, in priority order (the board alone, without the map)."""
    with read_as(ctx.db, ctx.actor, CONTROL_ROOM) as session:
        return board.sla_board(session, ctx.clock, ctx.tz)


def outage_detail(ctx: Context, outage_id: int) -> detail.OutageDetail:
    """One outage with its reports, important users, crews, ETR history and restoration steps."""
    with read_as(ctx.db, ctx.actor, CONTROL_ROOM) as session:
        return detail.outage_detail(session, network_model(session, ctx.db.url), outage_id)


def recommend_crews(ctx: Context, outage_id: int, limit: int = 5) -> tuple[plan.CrewOption, ...]:
    """The best crews for an outage, soonest on site first (`emergency.dispatch.plan.recommend_crews`)."""
    with read_as(ctx.db, ctx.actor, CONTROL_ROOM) as session:
        return tuple(plan.recommend_crews(session, ctx.clock, outage_id, limit))


def storm_plan(
    ctx: Context, *, outage_ids: Sequence[int] | None = None, max_crews: int | None = None
) -> plan.StormPlan:
    """The optimal match of unassigned outages to available crews, for a dispatcher to approve."""
    with read_as(ctx.db, ctx.actor, CONTROL_ROOM) as session:
        return plan.storm_plan(session, ctx.clock, ctx.tz, outage_ids=outage_ids, max_crews=max_crews)
