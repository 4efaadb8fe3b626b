"""What `python -m emergency outages ...` reads: outages listed and shown, crews by code, and the
staff account a command acts as. The control room's reads, with the console's roles."""

from __future__ import annotations

from emergency.app.context import Context
from emergency.app.queries.dispatch import CONTROL_ROOM
from emergency.core.actor import Actor
from emergency.core.auth import list_users
from emergency.core.errors import InvalidInput, NotFound
from emergency.core.models import Role
from emergency.core.unit_of_work import read_as
from emergency.dispatch import operations_view as view
from emergency.network.model import network_model

# Only an administrator names the account another command acts as (the CLI is one).
ACCOUNT_ROLES = (Role.ADMIN,)


def outage_list(
    ctx: Context, state: str | None = None, district: str | None = None
) -> tuple[view.OutageLine, ...]:
    """Active outages in the board's order, or those in `state`, optionally in one district."""
    with read_as(ctx.db, ctx.actor, CONTROL_ROOM) as session:
        return view.outage_lines(session, ctx.clock, ctx.tz, state, district)


def outage_card(ctx: Context, outage_id: int) -> view.OutageCard:
    """One outage in full: the console's detail, its clocks and its nested and merged links."""
    with read_as(ctx.db, ctx.actor, CONTROL_ROOM) as session:
        return view.outage_card(session, network_model(session, ctx.db.url), ctx.clock, ctx.tz, outage_id)


def crew_by_code(ctx: Context, code: str) -> view.CrewRef:
    """A crew by its code, with the version a dispatch names."""
    with read_as(ctx.db, ctx.actor, CONTROL_ROOM) as session:
        return view.crew_by_code(session, code)


def staff_actor(ctx: Context, username: str) -> Actor:
    """The active staff account `username` as an Actor, with the role its record holds now; an
    unknown or disabled account is refused. The commands it then runs check that role, as they
    check a console user's."""
    with read_as(ctx.db, ctx.actor, ACCOUNT_ROLES) as session:
        user = next((u for u in list_users(session) if u.username == username.strip()), None)
        if user is None:
            raise NotFound(f"no staff account {username!r}")
        if not user.active:
            raise InvalidInput(f"the account {user.username} is disabled", field="as")
        return Actor(user.username, str(user.role))
