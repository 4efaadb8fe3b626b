"""CAP 1.2 feeds of our warnings for partners: `GET /api/warnings.cap.xml` and `/api/warnings/{id}.cap.xml`.

Public, like the warnings themselves. The feed lists the warnings in force as an Atom feed whose
entries each carry a full CAP alert; one warning's document is its current CAP message (an
Update or Cancel references the earlier ones). Drafts are never shown: a draft id answers 404
exactly like an unknown one.
"""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from dashboard import services
from emergency.app.queries import warnings as queries
from emergency.core.actor import PUBLIC
from emergency.core.errors import DatabaseUnavailable

FEED_PATH = "/api/warnings.cap.xml"
CACHE_SECONDS = 60
RETRY_AFTER_SECONDS = 5

MAX_ROW_ID = 2**63 - 1  # the largest id SQLite and PostgreSQL bigint can hold


def _feed() -> bytes:
    return queries.cap_feed(services.context(PUBLIC), FEED_PATH)


def _one(warning_id: int) -> bytes | None:
    return queries.cap_document(services.context(PUBLIC), warning_id)


def _xml(body: bytes, media_type: str) -> Response:
    return Response(
        body, media_type=media_type, headers={"Cache-Control": f"public, max-age={CACHE_SECONDS}"}
    )


def _unavailable() -> JSONResponse:
    return JSONResponse(
        {"error": "the database is busy or unreachable; try again shortly"},
        status_code=503,
        headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
    )


async def warnings_feed(_request: Request) -> Response:
    try:
        body = await run_in_threadpool(_feed)
    except DatabaseUnavailable:
        return _unavailable()
    return _xml(body, "application/atom+xml; charset=utf-8")


async def warning_document(request: Request) -> Response:
    warning_id = int(request.path_params["warning_id"])
    # No row has an id past a 64-bit integer; asking the driver would fail with a server error.
    body = None
    if warning_id <= MAX_ROW_ID:
        try:
            body = await run_in_threadpool(_one, warning_id)
        except DatabaseUnavailable:
            return _unavailable()
    if body is None:
        return JSONResponse({"error": "no such warning"}, status_code=404)
    return _xml(body, "application/cap+xml; charset=utf-8")


warning_routes = [
    Route(FEED_PATH, warnings_feed, methods=["GET"]),
    Route("/api/warnings/{warning_id:int}.cap.xml", warning_document, methods=["GET"]),
]
