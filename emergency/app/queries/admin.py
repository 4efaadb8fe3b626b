"""What the administrators' pages and the staff session read: accounts, tokens, the live demo's run,
staff sessions and the session idle limit."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from emergency.app.context import Context
from emergency.core import auth, staff_sessions, tokens
from emergency.core.models import Role
from emergency.core.settings import get_setting
from emergency.core.tokens import TokenInfo
from emergency.core.unit_of_work import read_as
from emergency.simulator import live
from emergency.simulator.live import DemoRun

ADMIN = (Role.ADMIN,)
# The demo banner shows on every page, the public's too.
ANYONE = ("public", Role.DISPATCHER, Role.MANAGER, Role.ADMIN)


@dataclass(frozen=True)
class UserRow:
    """A staff account as the users page lists it (never the password hash)."""

    username: str
    display_name: str
    role: str
    active: bool
    locked_until: datetime | None
    last_login_at: datetime | None
    open_sessions: int = 0  # signed in and not idle past the limit, in any browser


def users(ctx: Context) -> tuple[UserRow, ...]:
    """Every staff account, by username."""
    with read_as(ctx.db, ctx.actor, ADMIN) as session:
        open_sessions = staff_sessions.open_session_counts(session, ctx.clock.now())
        return tuple(
            UserRow(
                username=u.username,
                display_name=u.display_name,
                role=str(u.role),
                active=u.active,
                locked_until=u.locked_until,
                last_login_at=u.last_login_at,
                open_sessions=open_sessions.get(u.id, 0),
            )
            for u in auth.list_users(session)
        )


def api_tokens(ctx: Context) -> tuple[TokenInfo, ...]:
    """Every API token, by name: never the token, nor its hash."""
    with read_as(ctx.db, ctx.actor, ADMIN) as session:
        return tuple(tokens.list_tokens(session))


def session_idle_minutes(ctx: Context) -> float:
    """Minutes without a click after which a staff session ends."""
    with read_as(ctx.db, ctx.actor, auth.STAFF_ROLES) as session:
        return float(get_setting(session, "auth.session_idle_minutes"))


# The entry script checks a browser's session before it knows who is there.
SESSION_CHECK_ROLES = ANYONE


def staff_session(
    ctx: Context, *, session_id: int | None = None, token: str | None = None
) -> staff_sessions.SessionView | None:
    """The staff session with this id (kept by the browser session that logged in) or this cookie
    token, with its user and the idle limit; None when there is none. Ended sessions are returned
    too, so the page can say why."""
    with read_as(ctx.db, ctx.actor, SESSION_CHECK_ROLES) as session:
        return staff_sessions.find_session(session, session_id=session_id, token=token)


def cookie_signing_key(ctx: Context) -> str:
    """The secret the session cookie is signed with, shared by every app process (the server's own)."""
    with read_as(ctx.db, ctx.actor, ("system",)) as session:
        return staff_sessions.cookie_signing_key(session)


@dataclass(frozen=True)
class SimulatorState:
    """The live demo as the banner and the simulator page show it."""

    run: DemoRun | None  # None when nothing is simulated here
    is_demo: bool
    demo_enabled: bool  # the `simulator.demo_enabled` setting (the environment may still say off)
    grace_minutes: float


def demo_run(ctx: Context) -> DemoRun | None:
    """The current run of the live demo, or None when nothing is simulated here."""
    with read_as(ctx.db, ctx.actor, ANYONE) as session:
        return live.demo_run(session)


def simulator_state(ctx: Context) -> SimulatorState:
    with read_as(ctx.db, ctx.actor, ADMIN) as session:
        return SimulatorState(
            run=live.demo_run(session),
            is_demo=bool(get_setting(session, "territory.is_demo")),
            demo_enabled=bool(get_setting(session, "simulator.demo_enabled")),
            grace_minutes=float(get_setting(session, "simulator.grace_minutes")),
        )
