"""Staff accounts, API tokens, sessions and the live demo's simulator: what an administrator does,
and logging in and out."""

from __future__ import annotations

from dataclasses import dataclass

from emergency.app.bus import handles
from emergency.app.context import Context
from emergency.core import auth, staff_sessions, tokens
from emergency.core.actor import Actor
from emergency.core.errors import AuthenticationFailed
from emergency.core.models import Role, TokenScope
from emergency.core.staff_sessions import SignedIn
from emergency.core.unit_of_work import unit_of_work
from emergency.simulator import live
from emergency.simulator.live import DemoRun

ADMIN = (Role.ADMIN,)
# Anyone may try to log in: the login form acts as the public until it knows who is there.
LOGIN_ROLES = ("public", Role.DISPATCHER, Role.MANAGER, Role.ADMIN)


# --- logging in and out ---------------------------------------------------------------------------


@dataclass(frozen=True)
class LogIn:
    username: str
    password: str


@handles(LogIn)
def log_in(ctx: Context, cmd: LogIn) -> Actor:
    """The staff member a username and password stand for; AuthenticationFailed otherwise.

    The failure count is committed before the refusal is raised (a transaction rolled back by the
    exception would forget it). Every refusal says the same thing, so an attacker learns nothing
    about which usernames exist or which accounts are locked.
    """
    with unit_of_work(ctx.db, ctx.actor, LOGIN_ROLES) as session:
        actor = auth.attempt_login(session, ctx.clock, cmd.username, cmd.password)
    if actor is None:
        raise AuthenticationFailed("wrong username or password, or the account is locked")
    return actor


@dataclass(frozen=True)
class SignIn:
    """Log in and open a staff session (emergency.core.staff_sessions) in one transaction."""

    username: str
    password: str
    user_agent: str | None = None


@handles(SignIn)
def sign_in(ctx: Context, cmd: SignIn) -> SignedIn:
    """Like LogIn, and the session to go with it; AuthenticationFailed, the same, otherwise."""
    with unit_of_work(ctx.db, ctx.actor, LOGIN_ROLES) as session:
        actor = auth.attempt_login(session, ctx.clock, cmd.username, cmd.password)
        if actor is not None:
            opened = staff_sessions.open_session(session, ctx.clock, actor, cmd.user_agent)
            return SignedIn(actor, opened.session_id, opened.ticket)
    raise AuthenticationFailed("wrong username or password, or the account is locked")


@dataclass(frozen=True)
class RedeemTicket:
    """A browser presents the ticket its login gave it, for the session token its cookie will hold."""

    ticket: str


# A browser is the public until its cookie is set.
COOKIE_ROUTE_ROLES = ("public",)


@handles(RedeemTicket)
def redeem_ticket(ctx: Context, cmd: RedeemTicket) -> str | None:
    """The session token, or None for an unknown, used or expired ticket (each works once)."""
    with unit_of_work(ctx.db, ctx.actor, COOKIE_ROUTE_ROLES) as session:
        return staff_sessions.redeem_ticket(session, ctx.clock, cmd.ticket)


@dataclass(frozen=True)
class TouchSession:
    """The signed-in user clicked: their session's last_seen_at moves on (at most once a minute),
    and the page language they chose is kept for their next reload."""

    session_id: int
    language: str | None = None


@handles(TouchSession)
def touch_session(ctx: Context, cmd: TouchSession) -> bool:
    with unit_of_work(ctx.db, ctx.actor, auth.STAFF_ROLES) as session:
        return staff_sessions.touch(session, ctx.clock, ctx.actor, cmd.session_id, cmd.language)


@dataclass(frozen=True)
class EndSession:
    """The signed-in user's session ended: `reason` is "logout" or "idle".

    With `session_id` the session's row is closed too (and a second ending of it is no ending).
    """

    reason: str
    session_id: int | None = None


@handles(EndSession)
def end_session(ctx: Context, cmd: EndSession) -> None:
    with unit_of_work(ctx.db, ctx.actor, auth.STAFF_ROLES) as session:
        staff_sessions.end_session(session, ctx.clock, ctx.actor, cmd.reason, cmd.session_id)


# --- staff accounts -------------------------------------------------------------------------------


@dataclass(frozen=True)
class CreateUser:
    username: str
    password: str
    role: str
    display_name: str | None = None
    crew_id: int | None = None  # a crew leader's crew (role crew only)


@handles(CreateUser)
def create_user(ctx: Context, cmd: CreateUser) -> str:
    """The new account's username, as stored (trimmed, lower case)."""
    with unit_of_work(ctx.db, ctx.actor, ADMIN) as session:
        user = auth.create_user(
            session, ctx.clock, ctx.actor, cmd.username, cmd.password, cmd.role, cmd.display_name, cmd.crew_id
        )
        return user.username


@dataclass(frozen=True)
class DisableUser:
    """Disable an account; every session it has open ends at once."""

    username: str


@handles(DisableUser)
def disable_user(ctx: Context, cmd: DisableUser) -> None:
    with unit_of_work(ctx.db, ctx.actor, ADMIN) as session:
        auth.disable_user(session, ctx.clock, ctx.actor, cmd.username)


@dataclass(frozen=True)
class EnableUser:
    """Enable a disabled account again (its password stays; a reset also enables)."""

    username: str


@handles(EnableUser)
def enable_user(ctx: Context, cmd: EnableUser) -> None:
    with unit_of_work(ctx.db, ctx.actor, ADMIN) as session:
        auth.enable_user(session, ctx.clock, ctx.actor, cmd.username)


@dataclass(frozen=True)
class ResetPassword:
    """Set a new password; also lifts a lockout and re-enables the account."""

    username: str
    password: str


@handles(ResetPassword)
def reset_password(ctx: Context, cmd: ResetPassword) -> None:
    with unit_of_work(ctx.db, ctx.actor, ADMIN) as session:
        auth.reset_password(session, ctx.clock, ctx.actor, cmd.username, cmd.password)


# --- API tokens -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class CreateToken:
    name: str
    scope: str = TokenScope.INTAKE.value


@handles(CreateToken)
def create_token(ctx: Context, cmd: CreateToken) -> str:
    """The token in plain text: the only time it can be seen."""
    with unit_of_work(ctx.db, ctx.actor, ADMIN) as session:
        return tokens.create_token(session, ctx.clock, ctx.actor, cmd.name, cmd.scope)


@dataclass(frozen=True)
class RevokeToken:
    name: str


@handles(RevokeToken)
def revoke_token(ctx: Context, cmd: RevokeToken) -> None:
    with unit_of_work(ctx.db, ctx.actor, ADMIN) as session:
        tokens.revoke_token(session, ctx.clock, ctx.actor, cmd.name)


# --- the live demo's simulator --------------------------------------------------------------------


@dataclass(frozen=True)
class PauseDemo:
    pass


@handles(PauseDemo)
def pause_demo(ctx: Context, cmd: PauseDemo) -> DemoRun:
    with unit_of_work(ctx.db, ctx.actor, ADMIN) as session:
        return live.pause_demo(session, ctx.clock, ctx.actor)


@dataclass(frozen=True)
class ResumeDemo:
    pass


@handles(ResumeDemo)
def resume_demo(ctx: Context, cmd: ResumeDemo) -> DemoRun:
    with unit_of_work(ctx.db, ctx.actor, ADMIN) as session:
        return live.resume_demo(session, ctx.clock, ctx.actor)


@dataclass(frozen=True)
class RestartDemo:
    """Start a new run now; outages of the old one stay and its crews finish their jobs."""

    scenario: str
    seed: int


@handles(RestartDemo)
def restart_demo(ctx: Context, cmd: RestartDemo) -> DemoRun:
    ctx.actor.require(*ADMIN)  # before the checks of the input, like every handler
    live.check_restart(cmd.scenario, cmd.seed)  # a bad choice never waits for the write lock
    with unit_of_work(ctx.db, ctx.actor, ADMIN) as session:
        return live.restart_demo(session, ctx.clock, ctx.actor, cmd.scenario, cmd.seed)
