"""Hostile payloads against `POST /api/reports`, through the real route on SQLite and PostgreSQL.

Inert text is stored exactly as sent; anything else is refused with the item, field and reason
(or a body-level 413/422) and nothing of it is stored; no payload gets a server error (the test
client re-raises any exception the route lets through).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import xstatic.pkg.leaflet
from sqlalchemy import select
from starlette.applications import Starlette
from starlette.routing import Mount
from starlette.staticfiles import StaticFiles
from starlette.testclient import TestClient

from dashboard.public_api import public_routes
from dashboard.warnings_api import warning_routes
from emergency.core.clock import FakeClock
from emergency.core.db import Database, forget_database
from emergency.core.models import Report
from tests.security.payloads import (
    DEEP_JSON,
    HOSTILE_NUMBERS,
    HOSTILE_TIMES,
    HUGE_TEXT,
    INERT_TEXT,
    MIB,
    REFUSED_TEXT,
)
from tests.support.intake_api import IntakeApi, intake_api
from tests.support.small_territory import build_small_territory


def serve(db: Database, clock: FakeClock, monkeypatch: pytest.MonkeyPatch) -> Iterator[IntakeApi]:
    territory = build_small_territory(db, clock)
    with intake_api(db, clock, monkeypatch) as api:
        api.account = territory.account_by_transformer["TX-4"][0]
        yield api


@pytest.fixture
def api(database, clock, monkeypatch):
    """On SQLite and PostgreSQL: for what reaches the database."""
    yield from serve(database, clock, monkeypatch)


@pytest.fixture
def sqlite_api(sqlite_database, clock, monkeypatch):
    """On SQLite only: for what is refused before any query."""
    yield from serve(sqlite_database, clock, monkeypatch)


def report(api: IntakeApi, **fields: Any) -> dict[str, Any]:
    return {
        "channel": "hotline",
        "kind": "no_power",
        "external_id": f"SEC-{uuid.uuid4().hex[:12]}",
        "account_no": api.account,
        **fields,
    }


def stored(api: IntakeApi, external_ids: list[str]) -> list[Report]:
    with api.db.read() as session:
        return list(session.scalars(select(Report).where(Report.external_id.in_(external_ids))))


def post_json_text(api: IntakeApi, text: str) -> Any:
    return api.post(
        content=text.encode("utf-8", "surrogatepass"), headers={"Content-Type": "application/json"}
    )


def test_hostile_text_is_stored_exactly_as_written(api):
    items = [
        report(api, external_id=payload, description=payload, contact_name=payload)
        for payload in INERT_TEXT.values()
    ]

    response = api.post(items)

    assert response.status_code == 201, response.text
    kept = {r.external_id: (r.description, r.contact_name) for r in stored(api, list(INERT_TEXT.values()))}
    assert kept == {payload: (payload, payload) for payload in INERT_TEXT.values()}


def test_control_characters_and_broken_unicode_are_refused_per_field(api):
    fields = ["description", "contact_name", "external_id", "account_no", "device_code"]
    sent = [(field, report(api, **{field: payload})) for field in fields for payload in REFUSED_TEXT.values()]
    body = json.dumps([item for _, item in sent])  # "\ud800" travels as an escape, as a client would send it

    response = post_json_text(api, body)

    assert response.status_code == 422, response.text
    errors = {e["index"]: e for e in response.json()["errors"]}
    assert sorted(errors) == list(range(len(sent)))
    for index, (field, _) in enumerate(sent):
        # A lone surrogate is refused for the whole item, before intake, as no database can store it.
        assert errors[index]["field"] in (field, "report") and errors[index]["reason"], errors[index]
    assert api.report_count() == 0


def test_hostile_text_in_codes_is_an_unknown_account_or_device_not_a_query(api):
    account_items = [report(api, account_no=payload[:32]) for payload in INERT_TEXT.values()]
    device_items = [
        report(api, kind="device_opened", account_no=None, device_code=payload[:48])
        for payload in INERT_TEXT.values()
    ]

    response = api.post(account_items + device_items)

    assert response.status_code == 422, response.text
    errors = response.json()["errors"]
    fields = {e["index"]: e["field"] for e in errors}
    assert fields == {n: "account_no" for n in range(len(account_items))} | {
        len(account_items) + n: "device_code" for n in range(len(device_items))
    }
    assert api.report_count() == 0


@pytest.mark.parametrize("field", ["lon", "lat"])
def test_hostile_coordinates_are_refused(sqlite_api, field):
    for name, number in HOSTILE_NUMBERS.items():
        item = report(sqlite_api, account_no=None, lon=121.15, lat=28.06) | {field: number}

        response = post_json_text(sqlite_api, json.dumps(item))  # NaN and Infinity as Python writes them

        assert response.status_code == 422, (name, response.text)
        [error] = response.json()["errors"]
        assert error["field"] in (field, "body") and error["reason"], (name, error)
    assert sqlite_api.report_count() == 0


def test_hostile_times_are_refused(sqlite_api):
    for name, when in HOSTILE_TIMES.items():
        response = sqlite_api.post(report(sqlite_api, reported_at=when))

        assert response.status_code == 422, (name, response.text)
        [error] = response.json()["errors"]
        assert error["field"] == "reported_at" and error["reason"], (name, error)
    assert sqlite_api.report_count() == 0


def test_a_megabyte_description_is_refused_with_its_length(api):
    response = api.post([report(api, description=HUGE_TEXT), report(api)])

    assert response.status_code == 422, response.text
    [error] = response.json()["errors"]
    assert (error["index"], error["field"]) == (0, "description")
    assert f"({len(HUGE_TEXT)})" in error["reason"]
    assert api.report_count() == 1, "the good report of the same request is stored"


MALFORMED_BODIES = {
    "6 MiB body": (b"[" + b" " * (6 * MIB) + b"]", 413),
    "deep nesting": (DEEP_JSON.encode(), 422),
    "broken UTF-8": (b'[{"channel": "hotline", "description": "\xff\xfe broken"}]', 422),
    "200,000 keys": (b'{"channel": "hotline"' + b', "x": 1' * 200_000 + b"}", 422),
    "object where text belongs": (json.dumps([{"description": {"nested": ["deep"] * 1000}}]).encode(), 422),
}


def test_malformed_bodies_are_refused_and_nothing_stored(sqlite_api):
    for name, (content, status) in MALFORMED_BODIES.items():
        response = sqlite_api.post(content=content, headers={"Content-Type": "application/json"})

        assert response.status_code == status, (name, response.text)
        assert response.json()["errors" if status == 422 else "error"], name
    assert sqlite_api.report_count() == 0


# --- the public feeds and CAP routes --------------------------------------------------------------

HOSTILE_PATHS = [
    "/api/warnings/99999999999999999999999999.cap.xml",
    "/api/warnings/-1.cap.xml",
    "/api/warnings/1%00.cap.xml",
    "/api/warnings/1'%20OR%201=1.cap.xml",
    "/api/warnings/%3Cscript%3E.cap.xml",
    "/api/public/..%2F..%2Femergency%2Fsettings.py",
    "/vendor/leaflet/..%2F..%2F..%2Fetc%2Fpasswd",
    "/vendor/leaflet/../../../etc/passwd",
]


def test_hostile_paths_are_not_found_never_a_server_error(sqlite_database, monkeypatch):
    monkeypatch.setenv("OUTAGE_DB_URL", sqlite_database.url)
    app = Starlette(
        routes=[
            *public_routes(),
            *warning_routes,
            Mount("/vendor/leaflet", StaticFiles(directory=xstatic.pkg.leaflet.BASE_DIR)),
        ]
    )
    try:
        with TestClient(app) as client:
            answers = {path: client.get(path) for path in HOSTILE_PATHS}
            feed = client.get("/api/public/summary.json", headers={"If-None-Match": '"x"\r\nSet-Cookie: a=b'})
    finally:
        forget_database(sqlite_database.url)

    assert {path: r.status_code for path, r in answers.items()} == dict.fromkeys(HOSTILE_PATHS, 404)
    assert all(b"root:" not in r.content for r in answers.values())
    assert feed.status_code == 200 and "set-cookie" not in feed.headers


def test_hostile_bearer_tokens_are_401_and_store_nothing(sqlite_api):
    forged = [
        "odk_" + "x" * 100_000,
        "odk_' OR '1'='1",
        "odk_%",
        "odk__%",
        sqlite_api.tokens["gateway"] + "'--",
        sqlite_api.tokens["gateway"].upper(),
    ]
    for token in forged:
        sqlite_api.tokens["forged"] = token
        response = sqlite_api.post(report(sqlite_api), token="forged")

        assert response.status_code == 401, token[:40]
    assert sqlite_api.report_count() == 0
