"""Who is using this browser session, how long it may sit idle, and the guard every staff page starts with.

A staff session lives in the database (emergency.core.staff_sessions), so a reload, a bookmark
opened in a new tab or another app process keeps the user signed in. The entry script calls
`keep_alive` on every full run, before it builds the navigation: it finds the session (by the id
this browser session kept at login, else by the signed cookie the browser sends), checks that it
has not ended, that the account is enabled and that it has not sat idle, and signs the user in
or out accordingly. Pages reached directly (page tests) read the user from the session state.

A click, a form or a page switch is a full run; the live map's timed refreshes rerun only their
fragment, so watching the board alone does not keep a session open. After
`auth.session_idle_minutes` without a click, the next interaction signs the user out and says why.
Logging out, expiring and an administrator disabling the account are written to the audit trail.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta

import streamlit as st
from streamlit.runtime.scriptrunner import get_script_run_ctx
from streamlit.util import calc_hash

from dashboard import services
from dashboard.auth_routes import (
    COOKIE_NAME,
    LANGUAGE_PARAM,
    LANGUAGES,
    SIGNED_OUT_PARAM,
    cookie_drop,
    cookie_fetch,
    token_from_cookie,
)
from dashboard.i18n import LANGUAGE_KEY, t
from dashboard.public_forms import SESSION_KEY as PUBLIC_FORM_KEY
from emergency.app.bus import execute
from emergency.app.commands.admin import EndSession, TouchSession
from emergency.app.context import Context
from emergency.app.queries.admin import session_idle_minutes, staff_session
from emergency.core.actor import PUBLIC, Actor
from emergency.core.clock import SYSTEM_CLOCK, Clock
from emergency.core.models import Role
from emergency.core.staff_sessions import TOUCH_INTERVAL, SessionView, SignedIn

ACTOR_KEY = "actor"
SESSION_KEY = "staff-session-id"
LAST_ACTIVE_KEY = "actor-last-active"
ENDED_KEY = "session-ended"  # (reason, idle minutes) until shown
REDIRECT_KEY = "staff-session-redirect"  # what the browser fetches next (its cookie, or dropping it)
HOME_KEY = "staff-session-home"  # the page a login lands on, switched to on the next run
WANTED_KEY = "staff-session-wanted"  # the staff page a signed-out visitor asked for (a bookmark)
# The address of every page only staff see. A signed-out visitor who opens one (a bookmark, or a
# reload after the session ended) gets the login form there, then the page itself if their role has
# it; tests/unit/test_staff_paths.py checks the list against the pages dashboard/app.py registers.
STAFF_PATHS = frozenset(
    {
        "dispatch",
        "mutual-aid",
        "warnings",
        "cap-feeds",
        "priority",
        "important-users",
        "sitrep",
        "complaints",
        "compliance",
        "reliability",
        "crew",
        "audit",
        "users",
        "simulator",
    }
)
# Set by `idle_too_long` when the live map reruns the page to check: that run is no click.
RECHECK_KEY = "staff-session-recheck"
CONTROL_ROOM_ROLES = (Role.DISPATCHER, Role.MANAGER)
# What outlives a sign-out: the language, and the public forms' rate-limit identity (a new one on
# every logout would reset this browser's count).
KEPT_ON_SIGN_OUT = frozenset({LANGUAGE_KEY, PUBLIC_FORM_KEY})
# The clock sessions are timed by; page tests put a FakeClock here.
CLOCK: Clock = SYSTEM_CLOCK


def keep_language() -> None:
    """Take the language a login or logout redirect carried (`?lang=zh`): a redirect starts a new
    browser session, which would otherwise fall back to the default language. Before the switch."""
    language = st.query_params.get(LANGUAGE_PARAM)
    if language is None:
        return
    del st.query_params[LANGUAGE_PARAM]
    if language in LANGUAGES and LANGUAGE_KEY not in st.session_state:
        st.session_state[LANGUAGE_KEY] = language


def current_actor() -> Actor | None:
    return st.session_state.get(ACTOR_KEY)


def home_page(actor: Actor) -> str:
    """The page a user lands on after logging in: the console, the crew page for a crew leader, or
    the accounts for an administrator."""
    if actor.role == Role.CREW:
        return "crew"
    return "dispatch" if actor.role in {str(r) for r in CONTROL_ROOM_ROLES} else "users"


def sign_in(signed: SignedIn) -> None:
    """Sign this browser session in, and have the browser fetch its session cookie next."""
    wanted = st.session_state.get(WANTED_KEY)
    _forget()
    if wanted is not None:
        st.session_state[WANTED_KEY] = wanted
    st.session_state[ACTOR_KEY] = signed.actor
    st.session_state[SESSION_KEY] = signed.session_id
    st.session_state[LAST_ACTIVE_KEY] = CLOCK.now()
    st.session_state[REDIRECT_KEY] = cookie_fetch(signed.ticket)
    st.session_state[HOME_KEY] = home_page(signed.actor)


def _forget() -> None:
    """Forget the user and everything they had open.

    A control-room console is shared between shifts: the next user must not inherit a selected
    outage, a storm plan or a half-filled form.
    """
    for key in list(st.session_state):
        if key not in KEPT_ON_SIGN_OUT:
            del st.session_state[key]


def sign_out(reason: str = "logout") -> None:
    """End the session (in the database too, audited with its reason) and forget the user."""
    actor = current_actor()
    session_id: int | None = st.session_state.get(SESSION_KEY)
    _forget()
    if actor is not None:
        execute(_context(actor), EndSession(reason, session_id))


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
    """Whether the signed-in user has not clicked here for longer than the idle limit.

    When it says yes the caller reruns the page, whose `keep_alive` decides against the database
    (the user may have clicked in another tab); that run is marked as a check, not a click.
    """
    actor = current_actor()
    if actor is None:
        return False
    last: datetime | None = st.session_state.get(LAST_ACTIVE_KEY)
    minutes = idle_minutes(actor)
    idle = last is not None and CLOCK.now() - last > timedelta(minutes=minutes)
    if idle:
        st.session_state[RECHECK_KEY] = True
    return idle


def _live(view: SessionView | None) -> bool:
    return view is not None and view.ended_at is None and view.user_active


def browser_cookie() -> str | None:
    """The session cookie this browser sent when it opened the page (page tests replace this:
    AppTest has no browser)."""
    value: str | None = st.context.cookies.get(COOKIE_NAME)
    return value


def _find_session() -> tuple[SessionView | None, bool]:
    """This browser's staff session, and whether it came from the cookie rather than our own state.

    The id kept at login comes first; the cookie serves a reload, a new tab, or a login made in
    another tab. An ended session is returned (to say why) only when it is our own.
    """
    ctx = _context(PUBLIC)
    session_id: int | None = st.session_state.get(SESSION_KEY)
    own = staff_session(ctx, session_id=session_id) if session_id is not None else None
    if _live(own):
        return own, False
    token = token_from_cookie(browser_cookie())
    from_cookie = staff_session(ctx, token=token) if token else None
    another = from_cookie is not None and (own is None or from_cookie.session_id != own.session_id)
    if another and _live(from_cookie):
        return from_cookie, True
    return own, False


def keep_alive() -> None:
    """Sign in the user of a live session, or sign out one that ended; note the click.

    Called on every full run before the language switch and the navigation are drawn, so a
    reloaded or bookmarked staff page is there to land on, in the language last chosen.
    """
    recheck = bool(st.session_state.pop(RECHECK_KEY, False))
    view, from_cookie = _find_session()
    if view is None:
        if current_actor() is not None:
            _forget()  # a user in the state with no session behind it is nobody
        return
    if view.ended_at is not None or not view.user_active:
        _ended_elsewhere(view)
        return
    if from_cookie and current_actor() != view.actor:
        _forget()
    now = CLOCK.now()
    last_active: datetime | None = None if from_cookie else st.session_state.get(LAST_ACTIVE_KEY)
    if not view.live_at(now, last_active):
        _expire(view)
        return
    st.session_state[ACTOR_KEY] = view.actor
    st.session_state[SESSION_KEY] = view.session_id
    if LANGUAGE_KEY not in st.session_state and view.language:
        st.session_state[LANGUAGE_KEY] = view.language  # a reload keeps the language chosen
    if recheck:
        # No click: only learn of clicks made in other tabs, so the live map stops asking.
        st.session_state[LAST_ACTIVE_KEY] = max(view.last_seen_at, last_active or view.last_seen_at)
        return
    st.session_state[LAST_ACTIVE_KEY] = now
    language: str | None = st.session_state.get(LANGUAGE_KEY)
    if now - view.last_seen_at >= TOUCH_INTERVAL or (language and language != view.language):
        execute(_context(view.actor), TouchSession(view.session_id, language))


def _expire(view: SessionView) -> None:
    _forget()
    execute(_context(view.actor), EndSession("idle", view.session_id))
    st.session_state[ENDED_KEY] = ("idle", view.idle_minutes)


def _ended_elsewhere(view: SessionView) -> None:
    """Our session was ended by another tab, the idle limit or an administrator: say so once."""
    _forget()
    reason = view.end_reason if view.end_reason in ("logout", "idle", "password_reset") else "disabled"
    st.session_state[ENDED_KEY] = (reason, view.idle_minutes)


def log_out() -> None:
    """The user's own logout; the browser then drops its cookie and the public page says so."""
    sign_out("logout")
    st.session_state[ENDED_KEY] = ("logout", None)
    st.session_state[REDIRECT_KEY] = cookie_drop()


def landing_page() -> list[str]:
    """The pages (url paths) a login just made should open, once, the first its role has first: the
    staff page asked for before signing in, then the user's own (the console, the accounts)."""
    home: str | None = st.session_state.pop(HOME_KEY, None)
    if home is None:
        return []
    wanted: str | None = st.session_state.pop(WANTED_KEY, None)
    return [page for page in (wanted, home) if page is not None]


def wanted_staff_page() -> str | None:
    """The staff page a signed-out visitor asked for (kept for after the login), if any: by its
    address (a bookmark, a reload) or by the page the app's own history names (back, forward, a
    rerun on the page where the session ended)."""
    path = _requested_path()
    if path in STAFF_PATHS:
        st.session_state[WANTED_KEY] = path
        return path
    if path != "login":
        # Gone on to a public page: a later login opens the user's own page, as a login does.
        st.session_state.pop(WANTED_KEY, None)
    return None


def _requested_path() -> str | None:
    # Streamlit's page manager holds what this run was asked to open: a page name from the address,
    # or a page's hash (the hash of its url path) from the app's own navigation. st.context.url
    # cannot tell: it gives the address of the page the last run showed.
    manager = getattr(get_script_run_ctx(), "pages_manager", None)
    if manager is None:
        return None
    if manager.intended_page_script_hash:
        return next((p for p in STAFF_PATHS if calc_hash(p) == manager.intended_page_script_hash), None)
    name: str | None = manager.intended_page_name
    return name


def fetch_cookie() -> None:
    """Have the browser fetch or drop its session cookie, as a login or logout left for this run.

    A script's `fetch` to our own route (dashboard/auth_routes.py): the cookie is set or cleared
    by the server, HttpOnly, and the page stays as it is; this browser session already knows its
    user, the cookie is for the next reload, bookmark or tab.
    """
    target: str | None = st.session_state.pop(REDIRECT_KEY, None)
    if target is None:
        return
    # json.dumps quotes the address for JavaScript; it is built from our own paths and a url-safe ticket.
    st.html(
        f'<script>fetch({json.dumps(target)}, {{credentials: "same-origin", cache: "no-store"}});</script>',
        unsafe_allow_javascript=True,
    )


def announce_end() -> None:
    """Say once, on the run after a sign-out, that the session ended and why."""
    ended = st.session_state.pop(ENDED_KEY, None)
    if ended is None and st.query_params.get(SIGNED_OUT_PARAM) == "logout":
        # The logout route's landing: the browser came back without its cookie, in a new session.
        del st.query_params[SIGNED_OUT_PARAM]
        ended = ("logout", None)
    if ended is None:
        return
    reason, minutes = ended
    if reason == "idle":
        st.warning(t("session.expired", minutes=f"{minutes:g}"), icon=":material/timer_off:")
    elif reason == "disabled":
        st.warning(t("session.disabled"), icon=":material/person_off:")
    elif reason == "password_reset":
        st.warning(t("session.password_reset"), icon=":material/password:")
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
