"""Feeds for partners over HTTP (emergency management, telecom operators, a regional dispatch centre):

- `GET /api/partner/outages.json` (a GeoJSON FeatureCollection) and `/api/partner/outages.csv`: each
  active outage with its area, customers out, ETR, crew status and critical facilities out;
- `GET /api/partner/districts.json` and `/api/partner/districts.csv[?hours=N]`: customers out by
  district now and, with `hours`, at every `partner.series_interval_minutes` of the last N hours.

What is in them is `emergency.public.partner_feed`'s. Answers:

- 401 with `WWW-Authenticate: Bearer` and a JSON reason without a token of scope `partner` or
  `partner_named` (an intake or crew token is refused too);
- 429 with `Retry-After` once the token has made `partner.rate_per_minute` requests in a minute;
- 422 with a JSON reason for a bad `hours` (districts feeds only) or `excel` (CSV only);
- 200 with an `ETag` and `Cache-Control: private, max-age` up to the next snapshot (the feeds change
  with the public snapshot), 304 when `If-None-Match` names the current one;
- 503 with `Retry-After` when the database cannot be read.

CSV is UTF-8 without a byte-order mark (machines read it as it is); `?excel=1` adds one, so Excel
opens the Chinese names intact.
"""

from __future__ import annotations

import json
import logging
import math
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from emergency.app.context import Context
from emergency.app.queries.partner import partner_districts, partner_outages
from emergency.core import ratelimit
from emergency.core.actor import Actor
from emergency.core.clock import SYSTEM_CLOCK, Clock
from emergency.core.config import load_settings
from emergency.core.db import get_database
from emergency.core.errors import DatabaseUnavailable, InvalidInput
from emergency.core.tokens import PARTNER_SCOPES, authenticate_token

RETRY_AFTER_SECONDS = 5
CSV_TYPE = "text/csv; charset=utf-8; header=present"
JSON_TYPE = "application/json"
GEOJSON_TYPE = "application/geo+json"
BOM = "\ufeff"

log = logging.getLogger(__name__)


def _error(status: int, reason: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(
        {"error": reason}, status_code=status, headers={"Cache-Control": "no-store", **(headers or {})}
    )


def _unauthorized() -> JSONResponse:
    # The same words for a missing, unknown, revoked or other-scope token: nothing to probe.
    return _error(
        401,
        "a valid bearer token of scope partner or partner_named is required",
        {"WWW-Authenticate": 'Bearer realm="partner"'},
    )


def _bearer(header: str | None) -> str | None:
    if not header:
        return None
    scheme, _, credentials = header.strip().partition(" ")
    return credentials.strip() or None if scheme.lower() == "bearer" else None


def _hours(request: Request, name: str) -> int:
    if "hours" in request.query_params and not name.startswith("districts."):
        raise InvalidInput("only the districts feeds have a series over hours", field="hours")
    text = request.query_params.get("hours", "0").strip()
    if not text.isdigit():
        raise InvalidInput("a whole number of hours, for example hours=24", field="hours")
    return int(text)


def _excel(request: Request, name: str) -> bool:
    if "excel" in request.query_params and not name.endswith(".csv"):
        raise InvalidInput("a byte-order mark is for the CSV feeds only", field="excel")
    text = request.query_params.get("excel", "0").strip().lower()
    if text not in ("0", "1", "true", "false"):
        raise InvalidInput(
            "excel=1 adds a byte-order mark for Excel; excel=0 (the default) does not", field="excel"
        )
    return text in ("1", "true")


# Each feed: (media type, what it reads, how it is encoded).
Read = Callable[[Context, int], Any]
FEEDS: dict[str, tuple[str, Read, Callable[[Any, Context], str]]] = {
    "outages.json": (
        GEOJSON_TYPE,
        lambda ctx, _hours: partner_outages(ctx),
        lambda feed, ctx: json.dumps(feed.to_geojson(ctx.tz), ensure_ascii=False, separators=(",", ":")),
    ),
    "outages.csv": (
        CSV_TYPE,
        lambda ctx, _hours: partner_outages(ctx),
        lambda feed, ctx: feed.to_csv(ctx.tz),
    ),
    "districts.json": (
        JSON_TYPE,
        partner_districts,
        lambda feed, ctx: json.dumps(feed.to_json(ctx.tz), ensure_ascii=False, separators=(",", ":")),
    ),
    "districts.csv": (CSV_TYPE, partner_districts, lambda feed, ctx: feed.to_csv(ctx.tz)),
}


# The encoded body per feed, scope, window and BOM, for the snapshot it was made from: at storm scale
# the outage feed is megabytes, and its encoding costs more than reading it.
_bodies: dict[tuple[str, str, str, int, bool], tuple[datetime, bytes]] = {}
_bodies_lock = threading.Lock()


def _encoded(
    key: tuple[str, str, str, int, bool], generated_at: datetime, encode: Callable[[], str]
) -> bytes:
    """The body for `key` as of the snapshot of `generated_at`, encoded once."""
    with _bodies_lock:
        found = _bodies.get(key)
    if found is not None and found[0] == generated_at:
        return found[1]
    body = encode().encode("utf-8")
    with _bodies_lock:
        # Bodies of older snapshots go: only the current one's are asked for again.
        for old in [k for k, (at, _) in _bodies.items() if k[0] == key[0] and at < generated_at]:
            del _bodies[old]
        _bodies[key] = (generated_at, body)
    return body


def _cache_headers(generated_at: datetime, fresh_until: datetime, clock: Clock) -> dict[str, str]:
    """Fresh until the next snapshot (never negative); private: what a token reads must not sit in a
    shared cache for others to read."""
    left = (fresh_until - clock.now()).total_seconds()
    return {
        "Cache-Control": f"private, max-age={max(0, math.floor(left))}",
        "Vary": "Authorization",
        "Last-Modified": format_datetime(generated_at.astimezone(UTC), usegmt=True),
    }


async def _authorised(request: Request, clock: Clock) -> Actor | Response:
    """The partner the request's token stands for, counted against its rate, or the refusal."""
    db = get_database(load_settings().db_url)
    presented = _bearer(request.headers.get("authorization"))
    if presented is None:
        return _unauthorized()
    try:
        actor = await run_in_threadpool(authenticate_token, db, clock, presented, PARTNER_SCOPES)
        if actor is None:
            return _unauthorized()
        await run_in_threadpool(ratelimit.partner_attempt, db, clock, actor.username)
    except DatabaseUnavailable:
        log.exception("partner feed: the database could not check the token")
        return _error(
            503, "the database is busy or unreachable; try again", {"Retry-After": str(RETRY_AFTER_SECONDS)}
        )
    except ratelimit.RateLimited as limited:
        seconds = max(math.ceil(limited.retry_after.total_seconds()), 1)
        return _error(
            429, f"too many requests with this token; try again in {seconds} s", {"Retry-After": str(seconds)}
        )
    return actor


def _feed_endpoint(name: str, clock: Clock) -> Callable[[Request], Any]:
    media_type, read, encode = FEEDS[name]

    async def endpoint(request: Request) -> Response:
        if request.method not in ("GET", "HEAD"):
            # Without this, other methods fall through to the pages' catch-all and get HTML.
            return JSONResponse({"error": "use GET"}, status_code=405, headers={"Allow": "GET, HEAD"})
        who = await _authorised(request, clock)
        if isinstance(who, Response):
            return who
        try:
            hours, excel = _hours(request, name), _excel(request, name)
        except InvalidInput as bad:
            return _error(422, str(bad))
        settings = load_settings()
        ctx = Context(get_database(settings.db_url), clock, who, settings.timezone)
        try:
            feed = await run_in_threadpool(read, ctx, hours)
        except InvalidInput as bad:
            return _error(422, str(bad))
        except Exception:  # no snapshot yet and the database cannot give one
            log.exception("partner feed %s unavailable", name)
            return _error(
                503, "the partner feed is temporarily unavailable", {"Retry-After": str(RETRY_AFTER_SECONDS)}
            )
        tag = f'"{name}-{who.role}-{hours}-{int(excel)}-{feed.generated_at.timestamp():.6f}"'
        headers = {"ETag": tag, **_cache_headers(feed.generated_at, feed.fresh_until, clock)}
        if request.headers.get("if-none-match") == tag:
            return Response(status_code=304, headers=headers)
        key = (ctx.db.url, name, who.role, hours, excel)
        body = await run_in_threadpool(
            _encoded, key, feed.generated_at, lambda: (BOM if excel else "") + encode(feed, ctx)
        )
        return Response(body, media_type=media_type, headers=headers)

    return endpoint


def partner_routes(clock: Clock = SYSTEM_CLOCK) -> list[Route]:
    """The routes on `clock`: the server's is the system clock; tests step a fake one."""
    methods = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"]
    return [Route(f"/api/partner/{name}", _feed_endpoint(name, clock), methods=methods) for name in FEEDS]
