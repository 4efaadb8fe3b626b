"""Machine intake over HTTP: `POST /api/reports` for the call centre, the app and smart meters.

A bearer token of scope "intake" is required. The body is one report (a JSON object) or a list of
them; each item is validated on its own by intake (the `SubmitReports` command), which stores the good
ones even when others are refused. Answers:

- 201 `{"accepted": [{"index", "id", "duplicate"}], "outages": {...}}` when every item was accepted;
- 422 `{"errors": [{"index", "field", "reason"}], "accepted": [...], "outages": {...}}` when any item
  (or the body as a whole: index -1) was refused;
- 401 with `WWW-Authenticate: Bearer` without a valid token, saying nothing of why;
- 429 with `Retry-After` when the token has made `intake.rate_per_minute` requests in the last
  minute (emergency.core.ratelimit), checked before the body is read: nothing of the request is stored;
- 413 for a body over `MAX_BODY_BYTES`, found while reading it;
- 503 with `Retry-After` when the database is busy or unreachable.
"""

from __future__ import annotations

import json
import logging
import math
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from emergency.app.bus import execute
from emergency.app.commands.intake import SubmitReports
from emergency.app.context import Context
from emergency.core import ratelimit
from emergency.core.clock import SYSTEM_CLOCK, Clock
from emergency.core.config import load_settings
from emergency.core.db import get_database
from emergency.core.errors import DatabaseUnavailable
from emergency.core.models import TokenScope
from emergency.core.tokens import authenticate_token
from emergency.intake.reports import MAX_BATCH
from emergency.network.analysis import AnalysisResult

# 5,000 reports of about 1 KiB each (the description alone may be 2,000 characters).
MAX_BODY_BYTES = 5 * 1024 * 1024
BODY = -1  # the index of an error about the request as a whole, as emergency.intake.reports uses it
RETRY_AFTER_SECONDS = 5

log = logging.getLogger(__name__)


class _TooLarge(Exception):
    pass


def _unauthorized() -> JSONResponse:
    return JSONResponse(
        {"error": "a valid bearer token is required"},
        status_code=401,
        headers={"WWW-Authenticate": "Bearer"},
    )


def _refused(reason: str, field: str = "body") -> JSONResponse:
    return JSONResponse(
        {"errors": [{"index": BODY, "field": field, "reason": reason}], "accepted": []}, status_code=422
    )


def _too_many(limited: ratelimit.RateLimited) -> JSONResponse:
    seconds = max(math.ceil(limited.retry_after.total_seconds()), 1)
    return JSONResponse(
        {"error": f"too many requests with this token; nothing was stored, try again in {seconds} s"},
        status_code=429,
        headers={"Retry-After": str(seconds)},
    )


def _too_large() -> JSONResponse:
    return JSONResponse(
        {"error": f"the body is over {MAX_BODY_BYTES // (1024 * 1024)} MiB; send fewer reports per request"},
        status_code=413,
    )


def _bearer(header: str | None) -> str | None:
    if not header:
        return None
    scheme, _, credentials = header.strip().partition(" ")
    if scheme.lower() != "bearer":
        return None
    return credentials.strip() or None


async def _read_body(request: Request) -> bytes:
    """The body, refused as soon as it passes the limit rather than after it is all in memory."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        raise _TooLarge
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise _TooLarge
        chunks.append(chunk)
    return b"".join(chunks)


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _parse(body: bytes) -> list[Any] | str:
    """The reports in the body, or why the body is not a report or a list of reports."""
    if not body.strip():
        return "the body is empty: send a JSON object (one report) or a JSON array of reports"
    try:
        text = body.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        return f"the body is not UTF-8 text (byte 0x{body[error.start]:02x} at offset {error.start})"
    try:
        data = json.loads(text, parse_constant=_reject_constant)
    except json.JSONDecodeError as error:
        return f"not valid JSON: {error.msg} at line {error.lineno}, column {error.colno}"
    except ValueError as error:
        # NaN and Infinity, or an integer of thousands of digits (Python refuses to convert it).
        return f"not valid JSON: {error}"[:300]
    except RecursionError:
        return "not valid JSON: arrays or objects nested too deeply"
    if isinstance(data, dict):
        return [data]
    if isinstance(data, list):
        if not data:
            return "the list is empty: send at least one report"
        return data
    return f"expected a JSON object (one report) or a JSON array of reports, not a {type(data).__name__}"


async def _post_reports(request: Request, clock: Clock) -> JSONResponse:
    if request.method != "POST":
        # Without this, other methods fall through to the pages' catch-all and get HTML.
        return JSONResponse({"error": "use POST to send reports"}, status_code=405, headers={"Allow": "POST"})
    settings = load_settings()
    db = get_database(settings.db_url)
    presented = _bearer(request.headers.get("authorization"))
    if presented is None:
        return _unauthorized()
    try:
        actor = await run_in_threadpool(authenticate_token, db, clock, presented, TokenScope.INTAKE)
        if actor is None:
            return _unauthorized()
        await run_in_threadpool(ratelimit.intake_attempt, db, clock, actor.username)
    except DatabaseUnavailable:
        log.exception("POST /api/reports: the database could not check the token")
        return _unavailable()
    except ratelimit.RateLimited as limited:
        return _too_many(limited)

    try:
        body = await _read_body(request)
    except _TooLarge:
        return _too_large()
    except ClientDisconnect:
        return _refused("the client disconnected before sending the whole body")
    # Parsing up to 5 MiB takes tens of milliseconds: off the event loop, like the database work.
    items = await run_in_threadpool(_parse, body)
    if isinstance(items, str):
        return _refused(items)
    if len(items) > MAX_BATCH:
        return _refused(f"at most {MAX_BATCH:,} reports per request, got {len(items):,}", field="reports")

    try:
        accepted, errors, outages = await run_in_threadpool(
            _submit, Context(db, clock, actor, settings.timezone), items
        )
    except DatabaseUnavailable:
        # SQLite's lock wait ran out, or PostgreSQL went away: nothing was stored, try again.
        log.exception("POST /api/reports: database unavailable")
        return _unavailable()
    if errors:
        return JSONResponse({"errors": errors, "accepted": accepted, "outages": outages}, status_code=422)
    return JSONResponse({"accepted": accepted, "outages": outages}, status_code=201)


def _has_unpaired_surrogate(item: Any) -> bool:
    """True when JSON escapes like "\\ud800" made text that cannot be stored as UTF-8."""
    try:
        json.dumps(item, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def _submit(ctx: Context, items: list[Any]) -> tuple[list[Any], list[Any], dict[str, Any]]:
    """Accepted items, errors and outages as JSON, indexed by position in the request.

    Items whose text no database can store are refused here, item by item, so the others still go in
    rather than the whole batch failing in the database driver.
    """
    broken = {i for i, item in enumerate(items) if _has_unpaired_surrogate(item)}
    keep = [i for i in range(len(items)) if i not in broken]
    errors: list[dict[str, Any]] = [
        {"index": i, "field": "report", "reason": "text with an unpaired surrogate escape (\\ud800-\\udfff)"}
        for i in sorted(broken)
    ]
    if not keep:
        return [], errors, AnalysisResult().to_json()
    result = execute(ctx, SubmitReports(tuple(items[i] for i in keep)))
    accepted = [{"index": keep[a.index], "id": a.id, "duplicate": a.duplicate} for a in result.accepted]
    errors += [
        {**e.to_json(), "index": keep[e.index] if e.index is not None and e.index >= 0 else e.index}
        for e in result.errors
    ]
    errors.sort(key=lambda e: e["index"])
    return accepted, errors, result.analysis.to_json()


def _unavailable() -> JSONResponse:
    return JSONResponse(
        {"error": "the database is busy or unreachable; nothing was stored, try again"},
        status_code=503,
        headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
    )


def reports_route_on(clock: Clock) -> Route:
    """The route on `clock`: the server's is the system clock, tests step a fake one past the rate window."""

    async def post_reports(request: Request) -> JSONResponse:
        return await _post_reports(request, clock)

    return Route("/api/reports", post_reports, methods=["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"])


reports_route = reports_route_on(SYSTEM_CLOCK)
