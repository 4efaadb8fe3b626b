"""Public feeds over HTTP: the public snapshot as JSON and GeoJSON, for partners, apps and CDNs.

- `GET /api/public/summary.json`: totals, districts, warnings and restoration progress;
- `GET /api/public/outages.geojson`: the generalised outage areas;
- `GET /api/public/districts.geojson`: district shapes with customers out and the share out.

All three serve the same process-wide snapshot as the public page (`emergency.public.snapshot`), encoded
once per snapshot, with `Cache-Control: public, max-age` up to the next rebuild and an `ETag`, so
a CDN or browser in front of us absorbs the storm traffic. A client that accepts gzip gets the body
gzipped, compressed once per snapshot (the areas at 5,000 outages: 2.30 MB, 0.23 MB gzipped, what
a phone on a loaded mobile network waits for). No login: the snapshot holds no personal data.
503 with `Retry-After` only when no snapshot has ever been built and the database cannot be read.
"""

from __future__ import annotations

import asyncio
import gzip
import hashlib
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
from emergency.public.snapshot import PublicSnapshot, fresh_cached_snapshot, last_cached_snapshot

RETRY_AFTER_SECONDS = 10
# gzip's default level: a 2.3 MB feed in about 0.1 s once per snapshot, within 2 % of level 9's size.
GZIP_LEVEL = 6
JSON_TYPE = "application/json"
GEOJSON_TYPE = "application/geo+json"

log = logging.getLogger(__name__)

FEEDS: dict[str, tuple[str, Callable[[PublicSnapshot], Any]]] = {
    "summary.json": (JSON_TYPE, PublicSnapshot.summary_json),
    "outages.geojson": (GEOJSON_TYPE, lambda s: s.areas_json),  # encoded when the snapshot was built
    "districts.geojson": (GEOJSON_TYPE, lambda s: s.districts_geojson),
}

# The encoded body of each feed (plain and gzipped) for the snapshot it was made from: a thousand
# requests in one interval cost one json.dumps and one gzip, not a thousand.
_encoded: dict[tuple[str, str], tuple[PublicSnapshot, bytes, bytes, str]] = {}
_encoded_lock = threading.Lock()


def encoded_feed(snapshot: PublicSnapshot, db_url: str, name: str) -> bytes:
    return _encoded_pair(snapshot, db_url, name)[0]


def gzipped_feed(snapshot: PublicSnapshot, db_url: str, name: str) -> bytes:
    return _encoded_pair(snapshot, db_url, name)[1]


def content_etag(snapshot: PublicSnapshot, db_url: str, name: str) -> str:
    """The feed's ETag: a hash of its bytes, so a rebuild that changed nothing in it (the areas
    between two storm events) still revalidates as 304, where a time-stamped tag never would."""
    return _encoded_pair(snapshot, db_url, name)[2]


def _cached_pair(snapshot: PublicSnapshot, db_url: str, name: str) -> tuple[bytes, bytes, str] | None:
    with _encoded_lock:
        cached = _encoded.get((db_url, name))
    return (cached[1], cached[2], cached[3]) if cached is not None and cached[0] is snapshot else None


def _encoded_pair(snapshot: PublicSnapshot, db_url: str, name: str) -> tuple[bytes, bytes, str]:
    cached = _cached_pair(snapshot, db_url, name)
    if cached is not None:
        return cached
    _, make = FEEDS[name]
    data = make(snapshot)
    text = data if isinstance(data, str) else json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    body = text.encode("utf-8")
    # mtime 0: the same body always gzips to the same bytes, whichever process makes them.
    packed = gzip.compress(body, compresslevel=GZIP_LEVEL, mtime=0)
    tag = f'"{name}-{hashlib.sha256(body).hexdigest()[:20]}"'
    with _encoded_lock:
        _encoded[(db_url, name)] = (snapshot, body, packed, tag)
    return body, packed, tag


def accepts_gzip(request: Request) -> bool:
    """Whether the client takes gzip (`Accept-Encoding: gzip`, not refused with `q=0`)."""
    for part in request.headers.get("accept-encoding", "").lower().split(","):
        coding, _, params = part.strip().partition(";")
        if coding.strip() in ("gzip", "*"):
            return params.replace(" ", "") not in ("q=0", "q=0.0", "q=0.00", "q=0.000")
    return False


def etag_matches(request: Request, tags: tuple[str, ...]) -> bool:
    """`If-None-Match` names one of `tags` (weak comparison, as RFC 9110 asks for it; `*` too)."""
    header = request.headers.get("if-none-match")
    if not header:
        return False
    sent = {tag.strip().removeprefix("W/") for tag in header.split(",")}
    return "*" in sent or bool(sent & set(tags))


def send_encoded(
    request: Request, plain: bytes, packed: bytes, media_type: str, headers: dict[str, str]
) -> Response:
    """The body gzipped to a client that accepts it, else plain; 304 when its ETag is current.

    The gzipped body has its own ETag (`...-gz"`), as RFC 9110 asks of another representation;
    either one revalidates, since both say the same thing."""
    tag = headers["ETag"]
    gz_tag = tag[:-1] + '-gz"'
    use_gzip = accepts_gzip(request)
    headers = {**headers, "Vary": "Accept-Encoding", "ETag": gz_tag if use_gzip else tag}
    if etag_matches(request, (tag, gz_tag)):
        return Response(status_code=304, headers=headers)
    if use_gzip:
        return Response(packed, media_type=media_type, headers={**headers, "Content-Encoding": "gzip"})
    return Response(plain, media_type=media_type, headers=headers)


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
            # Most requests find the snapshot and its bytes ready: no worker thread for them.
            snapshot = fresh_cached_snapshot(ctx.db.url, clock.now())
            if snapshot is None:
                snapshot = await _snapshot_without_waiting(ctx)
            pair = _cached_pair(snapshot, ctx.db.url, name)
            if pair is None:
                pair = await run_in_threadpool(_encoded_pair, snapshot, ctx.db.url, name)
        except Exception:  # no snapshot yet and the database cannot give one
            log.exception("public feed %s unavailable", name)
            return JSONResponse(
                {"error": "public status is temporarily unavailable"},
                status_code=503,
                headers={"Retry-After": str(RETRY_AFTER_SECONDS), "Cache-Control": "no-store"},
            )
        headers = {
            "Cache-Control": cache_control(snapshot, clock),
            "ETag": pair[2],
            "Last-Modified": format_datetime(snapshot.generated_at.astimezone(UTC), usegmt=True),
            "Access-Control-Allow-Origin": "*",  # partners' pages may read the feeds
        }
        return send_encoded(request, pair[0], pair[1], media_type, headers)

    return endpoint


# Databases whose snapshot one request is rebuilding in the background right now.
_rebuilding: set[str] = set()


async def _snapshot_without_waiting(ctx: Context) -> PublicSnapshot:
    """The snapshot when its rebuild is due: the last one at once while one background task
    rebuilds it (stale for a moment, as `max-age=0` says), so a crowd polling at the turn of the
    interval never queues behind the build; the first build of a process is waited for."""
    last = last_cached_snapshot(ctx.db.url)
    if last is None:
        return await run_in_threadpool(public_snapshot, ctx)
    if ctx.db.url not in _rebuilding:
        _rebuilding.add(ctx.db.url)
        task = asyncio.create_task(run_in_threadpool(public_snapshot, ctx))
        _background.add(task)
        url = ctx.db.url

        def finished(done: asyncio.Task[PublicSnapshot]) -> None:
            _background.discard(done)
            _rebuilding.discard(url)

        task.add_done_callback(finished)
    return last


# Keeps the rebuild tasks referenced until they end (the event loop holds only weak references).
_background: set[asyncio.Task[PublicSnapshot]] = set()


def feed_endpoint(name: str, clock: Clock = SYSTEM_CLOCK) -> Callable[[Request], Any]:
    """The endpoint of one feed, for the light status page to serve the same bytes at its own path."""
    return _feed_endpoint(name, clock)


def public_routes(clock: Clock = SYSTEM_CLOCK) -> list[Route]:
    return [Route(f"/api/public/{name}", _feed_endpoint(name, clock), methods=["GET"]) for name in FEEDS]
