"""The light public status page at `/status/`, served by the app process itself.

In a storm most of the public only wants the map and the figures. A Streamlit page costs a
websocket and a script run per viewer; this page is the published static site
(`emergency.public.static_site`): one HTML file, Leaflet, and the snapshot's three feeds, every one
of them bytes made once and handed to every viewer.

- `GET /status/`: the page in the language of `?lang=en|zh`, else of `Accept-Language`, else the
  app's default (`OUTAGE_LANG`); `/status/en/` and `/status/zh/` name it in the address (the
  page's language switch moves the address there). `Cache-Control: public, max-age=60`, an ETag
  and 304 on revalidation; `Vary: Accept-Language` for `/status/`.
- `GET /status/v/<version>/...`: Leaflet's files under a content hash of them all, cached for a
  year (`immutable`): a new Leaflet gets a new version, and an old version answers 404.
- `GET /status/data/summary.json|outages.geojson|districts.geojson`: the same endpoints and bytes
  as `/api/public/...` (dashboard/public_api.py): max-age up to the next rebuild, ETag, gzip.

Check my outage and Report an outage stay on their Streamlit pages, linked from this one: they
keep the per-session and per-address rate limits, the wire-down safety message and the length
checks in one place, and only a few of the viewers use them.
"""

from __future__ import annotations

import gzip
import hashlib
import mimetypes
import threading
from collections.abc import Callable
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from dashboard.public_api import FEEDS, GZIP_LEVEL, feed_endpoint, send_encoded
from emergency.app.context import Context
from emergency.app.queries.public import public_snapshot
from emergency.core.actor import PUBLIC
from emergency.core.clock import SYSTEM_CLOCK, Clock
from emergency.core.config import load_settings
from emergency.core.db import get_database
from emergency.public.snapshot import last_cached_snapshot
from emergency.public.static_site import TITLES, assets_version, leaflet_assets, render_index

BASE = "/status/"
DATA = f"{BASE}data/"
HTML_MAX_AGE_S = 60
IMMUTABLE = "public, max-age=31536000, immutable"
# When no snapshot can be read for its interval, the page polls at the default one.
DEFAULT_REFRESH_S = 60
MIN_REFRESH_S = 15
# The interactive public pages (Streamlit), linked from the light page.
LINKS = {"check": "/check", "report": "/report"}
# Compressing tiny files gains nothing; Leaflet's JS and CSS shrink to about a third.
COMPRESSIBLE = (".js", ".css", ".svg")


class _Assets:
    """Leaflet's files, plain and gzipped, with the version their URLs carry; read once."""

    def __init__(self) -> None:
        files = leaflet_assets()
        self.version = assets_version(files)
        self.prefix = f"{BASE}v/{self.version}/"
        self.files: dict[str, tuple[bytes, bytes | None, str]] = {}
        for name, body in files.items():
            packed = gzip.compress(body, GZIP_LEVEL, mtime=0) if name.endswith(COMPRESSIBLE) else None
            media_type = mimetypes.guess_type(name)[0] or "application/octet-stream"
            self.files[name] = (body, packed, media_type)


_assets: _Assets | None = None
_assets_lock = threading.Lock()


def assets() -> _Assets:
    global _assets
    with _assets_lock:
        if _assets is None:
            _assets = _Assets()
        return _assets


# The rendered page per (language, time zone, refresh), plain and gzipped, with its ETag.
_pages: dict[tuple[str, str, int], tuple[bytes, bytes, str]] = {}
_pages_lock = threading.Lock()


def page_bytes(language: str, timezone: str, refresh_s: int) -> tuple[bytes, bytes, str]:
    key = (language, timezone, refresh_s)
    with _pages_lock:
        cached = _pages.get(key)
    if cached is not None:
        return cached
    config = {
        "timezone": timezone,
        "refresh_s": refresh_s,
        "data": DATA,
        "links": {code: LINKS for code in TITLES},
        "lang_urls": {code: f"{BASE}{code}/" for code in TITLES},
    }
    body = render_index(config, assets=f"{assets().prefix}", language=language).encode("utf-8")
    tag = f'"status-{language}-{hashlib.sha256(body).hexdigest()[:16]}"'
    page = (body, gzip.compress(body, GZIP_LEVEL, mtime=0), tag)
    with _pages_lock:
        _pages[key] = page
    return page


def preferred_language(request: Request, default: str) -> str:
    """`?lang=` when it names one of ours, else the best of `Accept-Language`, else `default`."""
    asked = request.query_params.get("lang", "").lower()
    if asked in TITLES:
        return asked
    best, best_q = default, 0.0
    for part in request.headers.get("accept-language", "").split(","):
        tag, _, params = part.strip().partition(";")
        code = tag.strip().lower().split("-")[0]
        if code not in TITLES:
            continue
        q = _quality(params)
        if q > best_q:
            best, best_q = code, q
    return best


def _quality(params: str) -> float:
    for param in params.split(";"):
        name, _, value = param.strip().partition("=")
        if name == "q":
            try:
                return float(value)
            except ValueError:
                return 0.0
    return 1.0


async def _refresh_seconds(clock: Clock) -> int:
    """The snapshot's interval (at least 15 s), from the last snapshot built when there is one."""
    settings = load_settings()
    # Any snapshot says the interval: the page never waits for a rebuild.
    snapshot = last_cached_snapshot(get_database(settings.db_url).url)
    if snapshot is None:
        ctx = Context(get_database(settings.db_url), clock, PUBLIC, settings.timezone)
        try:
            snapshot = await run_in_threadpool(public_snapshot, ctx)
        except Exception:  # the page still loads, and tells its reader the figures cannot be read
            return DEFAULT_REFRESH_S
    return max(snapshot.interval_s, MIN_REFRESH_S)


def _page_endpoint(fixed: str | None, clock: Clock) -> Callable[[Request], Any]:
    async def endpoint(request: Request) -> Response:
        settings = load_settings()
        language = fixed or preferred_language(request, settings.language)
        body, packed, tag = page_bytes(language, settings.timezone.key, await _refresh_seconds(clock))
        headers = {
            "Cache-Control": f"public, max-age={HTML_MAX_AGE_S}",
            "ETag": tag,
            "Content-Language": "zh-CN" if language == "zh" else "en",
            "X-Content-Type-Options": "nosniff",
        }
        response = send_encoded(request, body, packed, "text/html; charset=utf-8", headers)
        if fixed is None:  # the same address answers in the reader's language
            response.headers["Vary"] = "Accept-Encoding, Accept-Language"
        return response

    return endpoint


async def asset(request: Request) -> Response:
    site = assets()
    found = site.files.get(request.path_params["path"])
    if request.path_params["version"] != site.version or found is None:
        return Response("not found", status_code=404, media_type="text/plain")
    body, packed, media_type = found
    headers = {
        "Cache-Control": IMMUTABLE,
        "ETag": f'"{site.version}"',
        "X-Content-Type-Options": "nosniff",
    }
    if packed is None:
        return Response(body, media_type=media_type, headers=headers)
    return send_encoded(request, body, packed, media_type, headers)


async def to_page(request: Request) -> Response:
    query = f"?{request.url.query}" if request.url.query else ""
    return RedirectResponse(f"{BASE}{query}", status_code=308)


def status_routes(clock: Clock = SYSTEM_CLOCK) -> list[Route]:
    return [
        Route("/status", to_page, methods=["GET"]),
        Route(BASE, _page_endpoint(None, clock), methods=["GET"]),
        *[Route(f"{BASE}{code}/", _page_endpoint(code, clock), methods=["GET"]) for code in TITLES],
        Route(BASE + "v/{version}/{path:path}", asset, methods=["GET"]),
        *[Route(f"{DATA}{name}", feed_endpoint(name, clock), methods=["GET"]) for name in FEEDS],
    ]
