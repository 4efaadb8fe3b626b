"""The staff session cookie: the two HTTP routes that set and clear it, and its signature.

A Streamlit script cannot set an HttpOnly cookie (it talks to the browser over a websocket), so
the login page opens the session in the database and sends the browser here with a one-time
ticket (emergency.core.staff_sessions):

- `GET /staff/session?ticket=...&next=dispatch` redeems the ticket for the session's token, puts
  it in a signed, HttpOnly, SameSite=Lax cookie (Secure over https) and sends the browser on to the
  page (303). A used, expired or unknown ticket sets nothing and lands on the login page.
- `GET /staff/logout` clears the cookie and sends the browser to the public page.

The app itself calls both with `mode=fetch` (a script's `fetch`, see dashboard/session.py): the
answer is then 204 No Content with the same cookie, and the page stays where it is. A login or
logout that reloaded the page would make the person (or a tool walking the pages) wait for a
second page load and lose what the first one showed.

The cookie holds the token signed with the key every process shares (`OUTAGE_SECRET_KEY`, else the
one the database generated), so a forged or altered cookie is refused before the database is asked.
The paths stay clear of Streamlit's own `/auth/...` routes.
"""

from __future__ import annotations

import re
from functools import lru_cache

from itsdangerous import BadSignature, Signer
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from emergency.app.bus import execute
from emergency.app.commands.admin import RedeemTicket
from emergency.app.context import Context
from emergency.app.queries.admin import cookie_signing_key
from emergency.core.actor import PUBLIC, SYSTEM
from emergency.core.clock import SYSTEM_CLOCK
from emergency.core.config import load_settings
from emergency.core.db import get_database

COOKIE_NAME = "outage_desk_session"
SESSION_PATH = "/staff/session"
LOGOUT_PATH = "/staff/logout"
# Where the login route may send the browser: one of our page paths, never another site.
PAGE_PATH = re.compile(r"^[a-z][a-z-]{0,39}$")
# Separates this use of the key from any other it may be put to.
SALT = "outage-desk.staff-session"
# The public page says "You are logged out" when it is opened with this parameter.
SIGNED_OUT_PARAM = "signed_out"
# The language the user chose, carried across the redirect (the new page starts a new session).
LANGUAGE_PARAM = "lang"
LANGUAGES = ("en", "zh")


@lru_cache(maxsize=8)
def _database_key(db_url: str) -> str:
    settings = load_settings()
    context = Context(get_database(db_url), SYSTEM_CLOCK, SYSTEM, settings.timezone)
    return cookie_signing_key(context)


def signing_key() -> str:
    """`OUTAGE_SECRET_KEY`, or the key in the database (read once per process)."""
    settings = load_settings()
    return settings.secret_key or _database_key(settings.db_url)


def _signer(key: str) -> Signer:
    return Signer(key, salt=SALT)


def sign(token: str, key: str) -> str:
    return _signer(key).sign(token).decode("ascii")


def unsign(value: str, key: str) -> str | None:
    """The token in a cookie, or None if its signature is not ours."""
    try:
        return _signer(key).unsign(value).decode("ascii")
    except (BadSignature, UnicodeError):
        return None


def token_from_cookie(value: str | None) -> str | None:
    """The session token in a browser's cookie, if it is present and signed by us."""
    if not value or len(value) > 256:
        return None
    return unsign(value, signing_key())


def login_redirect(ticket: str, page: str, language: str = "en") -> str:
    """Where the login page sends the browser to get its cookie."""
    return f"{SESSION_PATH}?ticket={ticket}&next={page}&{LANGUAGE_PARAM}={language}"


FETCH_PARAM = "mode=fetch"


def cookie_fetch(ticket: str) -> str:
    """What the app's script fetches after a login to get the cookie, staying on its page."""
    return f"{SESSION_PATH}?ticket={ticket}&{FETCH_PARAM}"


def cookie_drop() -> str:
    """What the app's script fetches after a logout to drop the cookie."""
    return f"{LOGOUT_PATH}?{FETCH_PARAM}"


def _fetched(request: Request) -> bool:
    return request.query_params.get("mode") == "fetch"


def logout_redirect(language: str = "en") -> str:
    """Where the logout page sends the browser to drop its cookie."""
    return f"{LOGOUT_PATH}?{LANGUAGE_PARAM}={language}"


def _language_query(request: Request) -> str:
    """`&lang=..` for the page the browser lands on, if the request named one of ours."""
    language = request.query_params.get(LANGUAGE_PARAM, "")
    return f"&{LANGUAGE_PARAM}={language}" if language in LANGUAGES else ""


def _is_https(request: Request) -> bool:
    # A forged X-Forwarded-Proto only makes the sender's own cookie stricter, so it is believed.
    forwarded = request.headers.get("x-forwarded-proto", "").split(",")[0].strip().lower()
    return request.url.scheme == "https" or forwarded == "https"


def _redeem(ticket: str) -> str | None:
    settings = load_settings()
    context = Context(get_database(settings.db_url), SYSTEM_CLOCK, PUBLIC, settings.timezone)
    token: str | None = execute(context, RedeemTicket(ticket))
    return token


async def start_session(request: Request) -> Response:
    ticket = request.query_params.get("ticket", "")
    page = request.query_params.get("next", "")
    token = await run_in_threadpool(_redeem, ticket) if ticket else None
    if token is None:
        refused = Response(status_code=403) if _fetched(request) else RedirectResponse("/login", 303)
        return _no_store(refused)
    target = f"/{page}" if PAGE_PATH.match(page) else "/"
    language = _language_query(request)
    response: Response
    if _fetched(request):
        response = Response(status_code=204)
    else:
        response = RedirectResponse(f"{target}?{language[1:]}" if language else target, status_code=303)
    key = await run_in_threadpool(signing_key)
    response.set_cookie(
        COOKIE_NAME,
        sign(token, key),
        path="/",
        httponly=True,
        samesite="lax",
        secure=_is_https(request),
    )
    return _no_store(response)


async def end_session(request: Request) -> Response:
    """Clear the cookie; the session itself was ended by the logout page (in the database)."""
    response: Response
    if _fetched(request):
        response = Response(status_code=204)
    else:
        target = f"/?{SIGNED_OUT_PARAM}=logout{_language_query(request)}"
        response = RedirectResponse(target, status_code=303)
    response.delete_cookie(COOKIE_NAME, path="/", httponly=True, samesite="lax", secure=_is_https(request))
    return _no_store(response)


def _no_store(response: Response) -> Response:
    response.headers["Cache-Control"] = "no-store"
    return response


auth_routes = [
    Route(SESSION_PATH, start_session, methods=["GET"]),
    Route(LOGOUT_PATH, end_session, methods=["GET"]),
]
