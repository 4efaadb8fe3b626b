"""What the mutual-aid page reads: the crews lent to us by company, the depots a roster may name,
and what a crew leader's one-time link would do (the phone's page before the leader taps)."""

from __future__ import annotations

from emergency.app.context import Context
from emergency.core.unit_of_work import read_as
from emergency.dispatch import crew_links, mutual_aid
from emergency.dispatch.crew_links import LinkCheck
from emergency.dispatch.mutual_aid import MUTUAL_AID_ROLES, MutualAidCrew, StagingDepot


def mutual_aid_crews(ctx: Context) -> tuple[MutualAidCrew, ...]:
    with read_as(ctx.db, ctx.actor, MUTUAL_AID_ROLES) as session:
        return tuple(mutual_aid.mutual_aid_crews(session))


def staging_depots(ctx: Context) -> tuple[StagingDepot, ...]:
    with read_as(ctx.db, ctx.actor, MUTUAL_AID_ROLES) as session:
        return tuple(mutual_aid.staging_depots(session))


def crew_link_state(ctx: Context, token: str) -> LinkCheck:
    """Whether a link can still be used, without using it (asked by a phone: the public)."""
    with read_as(ctx.db, ctx.actor, ("public",)) as session:
        return crew_links.check_link(session, ctx.clock, token)
