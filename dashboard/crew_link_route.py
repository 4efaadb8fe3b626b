"""The one-time link a crew leader opens on their phone: `/crew/link/{token}`.

`GET` only looks: a link that can still be used shows a small page in both languages naming the
crew and its leader, with one button; a used, expired or unknown link (or one of a released crew)
says so, in both languages. Messaging apps fetch links to draw previews, so a `GET` must not use
up a link that works once. The button `POST`s to the same address, which uses the link
(emergency.dispatch.crew_links): the leader's `crew` account is made or reused, a staff session is
opened, its token goes into the normal signed, HttpOnly session cookie (dashboard/auth_routes.py),
and the browser is sent to `/crew` (303).

The token sits in the address, so the answers are never cached and send no Referer onwards.
"""

from __future__ import annotations

from html import escape
from typing import TypeVar

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

from dashboard.auth_routes import COOKIE_NAME, _is_https, sign, signing_key
from emergency.app.bus import execute
from emergency.app.commands.mutual_aid import UseCrewLink
from emergency.app.context import Context
from emergency.app.queries.mutual_aid import crew_link_state
from emergency.core.actor import PUBLIC
from emergency.core.clock import SYSTEM_CLOCK
from emergency.core.config import load_settings
from emergency.core.db import get_database
from emergency.dispatch.crew_links import LinkCheck, LinkSignIn, LinkState

R = TypeVar("R", bound=Response)
CREW_PAGE = "/crew"
USER_AGENT_CHARS = 200

# Each refusal in both languages: the leader's phone may be set to either.
REFUSALS: dict[LinkState, tuple[str, str, int]] = {
    LinkState.USED: (
        "This link has already been used. Ask the dispatcher for a new one.",
        "此链接已使用过。请向调度员索取新的链接。",
        410,
    ),
    LinkState.EXPIRED: (
        "This link has expired. Ask the dispatcher for a new one.",
        "此链接已过期。请向调度员索取新的链接。",
        410,
    ),
    LinkState.RELEASED: (
        "Your crew has been released; this link no longer signs you in. Thank you for your help.",
        "您的班组已解除支援，此链接不再可用。感谢您的支援。",
        410,
    ),
    LinkState.DISABLED: (
        "Your account has been disabled. Call the dispatcher.",
        "您的账号已停用。请联系调度员。",
        403,
    ),
    LinkState.UNKNOWN: (
        "This link is not valid. Check that it was copied whole, or ask the dispatcher for a new one.",
        "此链接无效。请确认链接完整，或向调度员索取新的链接。",
        404,
    ),
}


def _context() -> Context:
    settings = load_settings()
    return Context(get_database(settings.db_url), SYSTEM_CLOCK, PUBLIC, settings.timezone)


def _page(title: str, body: str, status: int = 200) -> HTMLResponse:
    html = (
        '<!doctype html><html lang="zh-CN"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{title}</title>"
        "<style>body{font-family:system-ui,sans-serif;max-width:30rem;margin:2rem auto;padding:0 1rem;"
        "line-height:1.5;color:#1a1a1a}button{font-size:1.2rem;padding:.8rem 1.5rem;width:100%;"
        "background:#0b5394;color:#fff;border:0;border-radius:.4rem}p{margin:.6rem 0}</style>"
        f"</head><body>{body}</body></html>"
    )
    return _private(HTMLResponse(html, status_code=status))


def _private(response: R) -> R:
    response.headers["Cache-Control"] = "no-store"
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["X-Robots-Tag"] = "noindex"
    return response


def refusal_page(state: LinkState) -> HTMLResponse:
    english, chinese, status = REFUSALS[state]
    body = (
        "<h1>Outage Desk · 抢修指挥</h1>"
        f'<p lang="en">{escape(english)}</p><p lang="zh-CN">{escape(chinese)}</p>'
    )
    return _page("Crew link · 班组链接", body, status)


def invitation_page(check: LinkCheck) -> HTMLResponse:
    crew = escape(check.crew_code or "")
    # A crew imported without a leader's name is named by its code alone.
    leader_en = f" ({escape(check.leader_name)})" if check.leader_name else ""
    leader_zh = f"负责人（{escape(check.leader_name)}）" if check.leader_name else "负责人"
    body = (
        "<h1>Outage Desk · 抢修指挥</h1>"
        f'<p lang="en">Sign in as the leader of crew <b>{crew}</b>{leader_en} to see your crew\'s work.'
        " This link works once.</p>"
        f'<p lang="zh-CN">以班组 <b>{crew}</b> {leader_zh}身份登录，查看本班组的抢修任务。'
        "此链接只能使用一次。</p>"
        '<form method="post"><button type="submit">Sign in · 登录</button></form>'
    )
    return _page("Crew link · 班组链接", body)


async def show_link(request: Request) -> Response:
    token = request.path_params["token"]
    check: LinkCheck = await run_in_threadpool(crew_link_state, _context(), token)
    if check.state != LinkState.VALID:
        return refusal_page(check.state)
    return invitation_page(check)


async def use_link(request: Request) -> Response:
    token = request.path_params["token"]
    agent = request.headers.get("user-agent", "")[:USER_AGENT_CHARS] or None
    outcome = await run_in_threadpool(execute, _context(), UseCrewLink(token, agent))
    if not isinstance(outcome, LinkSignIn):
        return refusal_page(outcome)
    key = await run_in_threadpool(signing_key)
    response = RedirectResponse(CREW_PAGE, status_code=303)
    response.set_cookie(
        COOKIE_NAME,
        sign(outcome.session_token, key),
        path="/",
        httponly=True,
        samesite="lax",
        secure=_is_https(request),
    )
    return _private(response)


crew_link_routes = [
    Route("/crew/link/{token}", show_link, methods=["GET"]),
    Route("/crew/link/{token}", use_link, methods=["POST"]),
]
