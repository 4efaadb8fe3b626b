"""Crew positions over HTTP: `POST /api/crews/positions`, from vehicle trackers and crew phones.

Two ways in, one command (`RecordCrewPositions`, emergency/dispatch/positions.py):

- a vehicle tracker's gateway sends `Authorization: Bearer <token>` with a token of scope
  `crew_position`, and a JSON list (or one object) of `{crew (code), lon, lat, at, accuracy_m}`;
- the crew page's position sharing (dashboard/crew_gps.py) sends the crew leader's fixes with the
  staff session cookie; they are for the leader's own crew only (`crew` may be left out). The
  request must be `application/json`, which a form on another site cannot send without the
  browser asking first, and the cookie is SameSite=Lax, so another site cannot post for a crew.

Answers, like `POST /api/reports`:

- 201 `{"accepted": [{"index", "id", "crew_id", "newest", "duplicate"}], "arrived": [...]}` when all
  were taken (a fix sent again, same crew, time and place, is `duplicate`: stored once);
- 422 `{"errors": [{"index", "field", "reason"}], "accepted": [...], "arrived": [...]}` when any item
  (or the body: index -1) was refused; the good ones are stored all the same;
- 401 without a valid token or live crew leader's session, saying nothing of why;
- 429 with `Retry-After` past `intake.rate_per_minute` requests a minute per token or leader;
- 413 for a body over `MAX_BODY_BYTES`; 503 with `Retry-After` when the database is unavailable.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from dashboard.api import _bearer, _read_body, _too_large, _too_many, _TooLarge, _unauthorized, _unavailable
from dashboard.auth_routes import COOKIE_NAME, token_from_cookie
from emergency.app.bus import execute
from emergency.app.commands.dispatch import RecordCrewPositions
from emergency.app.context import Context
from emergency.app.queries.admin import staff_session
from emergency.core import ratelimit
from emergency.core.actor import PUBLIC, Actor
from emergency.core.clock import SYSTEM_CLOCK, Clock
from emergency.core.config import load_settings
from emergency.core.db import Database, get_database
from emergency.core.errors import DatabaseUnavailable, NotFound, PermissionDenied
from emergency.core.models import Role, TokenScope
from emergency.core.tokens import authenticate_token
from emergency.dispatch.positions import PositionsResult

PATH = "/api/crews/positions"
MAX_POSITIONS = 1000  # a tracker gateway's backlog after a dropped link, a phone's offline queue
BODY = -1

log = logging.getLogger(__name__)


def _refused(reason: str, field: str = "body") -> JSONResponse:
    return JSONResponse(
        {"errors": [{"index": BODY, "field": field, "reason": reason}], "accepted": [], "arrived": []},
        status_code=422,
    )


def parse(body: bytes) -> list[Any] | str:
    """The positions in the body, or why the body is not a position or a list of them."""
    try:
        data = json.loads(body.decode("utf-8-sig"), parse_constant=_no_constant)
    except (UnicodeDecodeError, ValueError, RecursionError) as error:
        return f"not valid JSON: {error}"[:300]
    if isinstance(data, dict):
        data = [data]
    if not isinstance(data, list) or not data:
        return "expected a JSON object (one position) or a non-empty array of positions"
    if len(data) > MAX_POSITIONS:
        return f"at most {MAX_POSITIONS:,} positions per request, got {len(data):,}"
    return data


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def crew_leader(db: Database, clock: Clock, cookie: str | None) -> Actor | None:
    """The crew leader whose live staff session this cookie holds, else None."""
    token = token_from_cookie(cookie)
    if token is None:
        return None
    view = staff_session(Context(db, clock, PUBLIC, load_settings().timezone), token=token)
    if view is None or not view.live_at(clock.now()) or view.actor.role != Role.CREW.value:
        return None
    return view.actor


def _sender(db: Database, clock: Clock, request: Request) -> Actor | None:
    presented = _bearer(request.headers.get("authorization"))
    if presented is not None:
        return authenticate_token(db, clock, presented, TokenScope.CREW_POSITION)
    return crew_leader(db, clock, request.cookies.get(COOKIE_NAME))


def _answer(result: PositionsResult) -> JSONResponse:
    accepted = [
        {"index": a.index, "id": a.id, "crew_id": a.crew_id, "newest": a.newest, "duplicate": a.duplicate}
        for a in result.accepted
    ]
    arrived = [
        {
            "assignment_id": a.assignment_id,
            "crew_id": a.crew_id,
            "outage_id": a.outage_id,
            "at": a.at.isoformat(),
        }
        for a in result.arrived
    ]
    if result.refused:
        errors = [{"index": r.index, "field": r.field, "reason": r.reason} for r in result.refused]
        return JSONResponse({"errors": errors, "accepted": accepted, "arrived": arrived}, status_code=422)
    return JSONResponse({"accepted": accepted, "arrived": arrived}, status_code=201)


async def _post_positions(request: Request, clock: Clock) -> JSONResponse:
    if request.method != "POST":
        return JSONResponse(
            {"error": "use POST to send positions"}, status_code=405, headers={"Allow": "POST"}
        )
    db = get_database(load_settings().db_url)
    try:
        actor = await run_in_threadpool(_sender, db, clock, request)
        if actor is None:
            return _unauthorized()
        await run_in_threadpool(ratelimit.intake_attempt, db, clock, actor.username)
    except DatabaseUnavailable:
        log.exception("POST %s: the database could not check the sender", PATH)
        return _unavailable()
    except ratelimit.RateLimited as limited:
        return _too_many(limited)
    if request.headers.get("content-type", "").split(";")[0].strip().lower() != "application/json":
        return _refused("send the positions as application/json", field="content-type")
    try:
        body = await _read_body(request)
    except _TooLarge:
        return _too_large()
    except ClientDisconnect:
        return _refused("the client disconnected before sending the whole body")
    items = parse(body)
    if isinstance(items, str):
        return _refused(items)
    ctx = Context(db, clock, actor, load_settings().timezone)
    try:
        result = await run_in_threadpool(execute, ctx, RecordCrewPositions(tuple(items)))
    except (PermissionDenied, NotFound) as denied:  # a crew leader whose account leads no crew
        return JSONResponse({"error": str(denied)}, status_code=403)
    except DatabaseUnavailable:
        log.exception("POST %s: database unavailable", PATH)
        return _unavailable()
    return _answer(result)


def crew_positions_route_on(clock: Clock) -> Route:
    """The route on `clock` (tests step a fake one)."""

    async def post_positions(request: Request) -> JSONResponse:
        return await _post_positions(request, clock)

    return Route(PATH, post_positions, methods=["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"])


crew_positions_route = crew_positions_route_on(SYSTEM_CLOCK)
