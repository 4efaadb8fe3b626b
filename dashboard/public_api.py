"""Public feeds over HTTP: the public snapshot as JSON and GeoJSON, for partners, apps and CDNs.

- `GET /api/public/summary.json`: totals, districts, warnings and restoration progress;
- `GET /api/public/outages.geojson`: the generalised outage areas;
- `GET /api/public/districts.geojson`: district shapes with customers out and the share out.

All three serve the same process-wide snapshot as the public page (`emergency.public.snapshot`), encoded
once per snapshot, with `Cache-Control: public, max-age` up to the next rebuild and an `ETag`, so
a CDN or browser in front of us absorbs the storm traffic. No login: the snapshot holds no
personal data. 503 with `Retry-After` only when no snapshot has ever been built and the database
cannot be read.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from datetime import UTC
from email.utils import format_datetime
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from emergency.app.context import Context
from emergency.app.queries.public import public_snapshot
from emergency.core.actor import PUBLIC
from emergency.core.clock import SYSTEM_CLOCK, Clock
from emergency.core.config import load_settings
from emergency.core.db import get_database
from emergency.public.snapshot import PublicSnapshot

RETRY_AFTER_SECONDS = 10
JSON_TYPE = "application/json"
GEOJSON_TYPE = "application/geo+json"

log = logging.getLogger(__name__)

FEEDS: dict[str, tuple[str, Callable[[PublicSnapshot], Any]]] = {
    "summary.json": (JSON_TYPE, PublicSnapshot.summary_json),
    "outages.geojson": (GEOJSON_TYPE, lambda s: s.areas_json),  # encoded when the snapshot was built
    "districts.geojson": (GEOJSON_TYPE, lambda s: s.districts_geojson),
}

# The encoded body of each feed for the snapshot it was made from: a thousand requests in one
# interval cost one json.dumps, not a thousand.
_encoded: dict[tuple[str, str], tuple[PublicSnapshot, bytes]] = {}
_encoded_lock = threading.Lock()


def encoded_feed(snapshot: PublicSnapshot, db_url: str, name: str) -> bytes:
    _, make = FEEDS[name]
    key = (db_url, name)
    with _encoded_lock:
        cached = _encoded.get(key)
    if cached is not None and cached[0] is snapshot:
        return cached[1]
    data = make(snapshot)
    text = data if isinstance(data, str) else json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    body = text.encode("utf-8")
    with _encoded_lock:
        _encoded[key] = (snapshot, body)
    return body


def etag(snapshot: PublicSnapshot, name: str) -> str:
    return f'"{name}-{snapshot.generated_at.timestamp():.6f}"'


def cache_control(snapshot: PublicSnapshot, clock: Clock) -> str:
    """Cache until the next rebuild is due (never longer than one interval, never negative)."""
    left = (snapshot.next_update_at - clock.now()).total_seconds()
    return f"public, max-age={max(0, min(int(left), snapshot.interval_s))}"


def _feed_endpoint(name: str, clock: Clock = SYSTEM_CLOCK) -> Callable[[Request], Any]:
    media_type, _ = FEEDS[name]

    async def endpoint(request: Request) -> Response:
        settings = load_settings()
        ctx = Context(get_database(settings.db_url), clock, PUBLIC, settings.timezone)
        try:
            snapshot = await run_in_threadpool(public_snapshot, ctx)
            body = await run_in_threadpool(encoded_feed, snapshot, ctx.db.url, name)
        except Exception:  # no snapshot yet and the database cannot give one
            log.exception("public feed %s unavailable", name)
            return JSONResponse(
                {"error": "public status is temporarily unavailable"},
                status_code=503,
                headers={"Retry-After": str(RETRY_AFTER_SECONDS), "Cache-Control": "no-store"},
            )
        headers = {
            "Cache-Control": cache_control(snapshot, clock),
            "ETag": etag(snapshot, name),
            "Last-Modified": format_datetime(snapshot.generated_at.astimezone(UTC), usegmt=True),
            "Access-Control-Allow-Origin": "*",  # partners' pages may read the feeds
        }
        if request.headers.get("if-none-match") == headers["ETag"]:
            return Response(status_code=304, headers=headers)
        return Response(body, media_type=media_type, headers=headers)

    return endpoint


def public_routes(clock: Clock = SYSTEM_CLOCK) -> list[Route]:
    return [Route(f"/api/public/{name}", _feed_endpoint(name, clock), methods=["GET"]) for name in FEEDS]
