"""Who is using this browser session, how long it may sit idle, and the guard every staff page starts with.

A staff session is the user in Streamlit's server-side session state. The entry script calls
`keep_alive` on every full run, which is what a click, a form or a page switch causes; the live
map's timed refreshes rerun only their fragment, so watching the board alone does not keep a
session open. After `auth.session_idle_minutes` without a click, the next interaction signs the
user out and says why. Logging out and expiring are both written to the audit trail.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import streamlit as st

from dashboard import services
from dashboard.i18n import LANGUAGE_KEY, t
from dashboard.public_forms import SESSION_KEY as PUBLIC_FORM_KEY
from emergency.app.bus import execute
from emergency.app.commands.admin import EndSession
from emergency.app.context import Context
from emergency.app.queries.admin import session_idle_minutes
from emergency.core.actor import Actor
from emergency.core.clock import SYSTEM_CLOCK, Clock
from emergency.core.models import Role

ACTOR_KEY = "actor"
LAST_ACTIVE_KEY = "actor-last-active"
ENDED_KEY = "session-ended"  # (reason, idle minutes) until shown
CONTROL_ROOM_ROLES = (Role.DISPATCHER, Role.MANAGER)
# What outlives a sign-out: the language, and the public forms' rate-limit identity (a new one on
# every logout would reset this browser's count).
KEPT_ON_SIGN_OUT = frozenset({LANGUAGE_KEY, PUBLIC_FORM_KEY})
# The clock sessions are timed by; page tests put a FakeClock here.
CLOCK: Clock = SYSTEM_CLOCK


def current_actor() -> Actor | None:
    return st.session_state.get(ACTOR_KEY)


def sign_in(actor: Actor) -> None:
    st.session_state[ACTOR_KEY] = actor
    st.session_state[LAST_ACTIVE_KEY] = CLOCK.now()


def sign_out(reason: str = "logout") -> None:
    """End the session: record why, and forget the user and everything they had open.

    A control-room console is shared between shifts: the next user must not inherit a selected
    outage, a storm plan or a half-filled form.
    """
    actor = current_actor()
    for key in list(st.session_state):
        if key not in KEPT_ON_SIGN_OUT:
            del st.session_state[key]
    if actor is not None:
        execute(_context(actor), EndSession(reason))


def _context(actor: Actor) -> Context:
    """The page's context, timed by this module's CLOCK (a FakeClock in page tests)."""
    ctx = services.context(actor)
    return Context(ctx.db, CLOCK, ctx.actor, ctx.tz)


@st.cache_data(ttl=60, show_spinner=False)
def _idle_minutes(db_url: str, _ctx: Context) -> float:
    # Keyed by the database alone: the limit is the same for every user of it.
    return session_idle_minutes(_ctx)


def idle_minutes(actor: Actor) -> float:
    """Minutes without a click after which `actor`'s session ends (`auth.session_idle_minutes`)."""
    ctx = _context(actor)
    return _idle_minutes(ctx.db.url, ctx)


def idle_too_long() -> bool:
    """Whether the signed-in user has not clicked for longer than the idle limit."""
    actor = current_actor()
    if actor is None:
        return False
    last: datetime | None = st.session_state.get(LAST_ACTIVE_KEY)
    minutes = idle_minutes(actor)
    return last is not None and CLOCK.now() - last > timedelta(minutes=minutes)


def keep_alive() -> None:
    """Sign out a session idle for too long; otherwise note that its user is active now."""
    actor = current_actor()
    if actor is None:
        return
    if idle_too_long():
        minutes = idle_minutes(actor)
        sign_out("idle")
        st.session_state[ENDED_KEY] = ("idle", minutes)
    else:
        st.session_state[LAST_ACTIVE_KEY] = CLOCK.now()


def log_out() -> None:
    """The user's own logout; the next run says so."""
    sign_out("logout")
    st.session_state[ENDED_KEY] = ("logout", None)


def announce_end() -> None:
    """Say once, on the run after a sign-out, that the session ended and why."""
    ended = st.session_state.pop(ENDED_KEY, None)
    if ended is None:
        return
    reason, minutes = ended
    if reason == "idle":
        st.warning(t("session.expired", minutes=f"{minutes:g}"), icon=":material/timer_off:")
    else:
        st.success(t("session.logged_out"), icon=":material/logout:")


def require_role(*roles: Role) -> Actor:
    """Stop the page unless the session's user has one of these roles.

    Navigation already hides staff pages from the public; this guard is the second lock, for a
    page reached some other way.
    """
    actor = current_actor()
    if actor is None or actor.role not in {str(r) for r in roles}:
        st.error(t("denied"))
        st.stop()
    return actor
