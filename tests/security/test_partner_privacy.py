"""Privacy of the partner feeds (issue #20, point 4), on SQLite and PostgreSQL.

Every value of both feeds, JSON and CSV, read over HTTP with a token of each partner scope on the
demo territory (customers, important users out, areas drawn down to one customer): no customer
name, account, phone, address, contact name or phone, nor a crew's name or phone, and no exact
customer location. Important users' names appear only in the named-facility fields, only for
`partner_named`, and never a private person's (life-support or residential). A token of any other
scope is refused.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import or_, select
from starlette.applications import Starlette
from starlette.testclient import TestClient

from dashboard.partner_api import FEEDS, partner_routes
from emergency.core.actor import CLI_ADMIN
from emergency.core.clock import FakeClock
from emergency.core.db import Database, forget_database
from emergency.core.models import Crew, Customer, CustomerKind, ImportanceGrade
from emergency.core.settings import set_setting
from emergency.core.tokens import create_token
from emergency.demo.load import load_territory
from emergency.demo.territory import generate_territory
from emergency.public.partner_feed import NAMED_COLUMN
from emergency.public.snapshot import forget_cached_snapshot

DEMO_CUSTOMERS = 1_500
DEMO_SEED = 11
# Private people, whom no scope names (written here, not imported: the test must not follow the code).
PRIVATE_KINDS = {CustomerKind.LIFE_SUPPORT.value, CustomerKind.RESIDENTIAL.value}
SCOPES = {"ema": "partner", "dispatch": "partner_named", "gateway": "intake", "crew": "crew_position"}


@pytest.fixture
def demo(database: Database, clock: FakeClock, monkeypatch: pytest.MonkeyPatch) -> Iterator[TestClient]:
    load_territory(database, clock, generate_territory(DEMO_CUSTOMERS, DEMO_SEED, clock.now()))
    with database.write() as session:
        set_setting(session, "public.min_customers_shown", 1, clock)  # every area drawn: the most shown
        tokens = {
            name: create_token(session, clock, CLI_ADMIN, name, scope) for name, scope in SCOPES.items()
        }
    monkeypatch.setenv("OUTAGE_DB_URL", database.url)
    forget_cached_snapshot(database.url)
    try:
        with TestClient(Starlette(routes=partner_routes(clock))) as client:
            client.tokens = tokens  # type: ignore[attr-defined]
            yield client
    finally:
        forget_cached_snapshot(database.url)
        forget_database(database.url)


def secrets_of(db: Database) -> tuple[set[str], set[str], set[tuple[float, float]]]:
    """Personal data never to be shown; the facility names `partner_named` may show; customer spots."""
    with db.read() as session:
        rows = session.execute(
            select(
                Customer.name,
                Customer.phone,
                Customer.address,
                Customer.account_no,
                Customer.contact_name,
                Customer.contact_phone,
            )
        ).all()
        crews = session.execute(select(Crew.name, Crew.phone)).all()
        important = session.execute(
            select(Customer.name, Customer.kind).where(
                or_(Customer.importance != ImportanceGrade.NONE, Customer.kind == CustomerKind.LIFE_SUPPORT)
            )
        ).all()
        places = {
            (round(lon, 5), round(lat, 5)) for lon, lat in session.execute(select(Customer.lon, Customer.lat))
        }
    secrets = {str(v).strip() for row in [*rows, *crews] for v in row if v and str(v).strip()}
    facilities = {name for name, kind in important if str(kind) not in PRIVATE_KINDS}
    return secrets, facilities, places


def values(data: Any, path: str = "") -> Iterator[tuple[str, Any]]:
    """Every scalar in a JSON document, with where it is."""
    if isinstance(data, dict):
        for key, item in data.items():
            yield from values(item, f"{path}.{key}")
    elif isinstance(data, list):
        for n, item in enumerate(data):
            yield from values(item, f"{path}[{n}]")
    else:
        yield path, data


def cells(text: str) -> Iterator[tuple[str, Any]]:
    """Every cell of a CSV, with its column; a named-facility cell is opened as the JSON it is."""
    for n, row in enumerate(csv.DictReader(io.StringIO(text))):
        for column, cell in row.items():
            if column == NAMED_COLUMN and cell:
                yield from values(json.loads(cell), f"[{n}].{NAMED_COLUMN}")
            else:
                yield f"[{n}].{column}", cell


def scan(client: TestClient, token: str) -> tuple[list[tuple[str, Any]], list[tuple[float, float]]]:
    """Every value of every feed for one token, and every coordinate pair of the outage areas."""
    found: list[tuple[str, Any]] = []
    coordinates: list[tuple[float, float]] = []
    for name in FEEDS:
        query = "?hours=24" if name.startswith("districts") else ""
        answer = client.get(
            f"/api/partner/{name}{query}",
            headers={"Authorization": f"Bearer {client.tokens[token]}"},  # type: ignore[attr-defined]
        )
        assert answer.status_code == 200, (name, answer.text)
        if name.endswith(".csv"):
            found += [(f"{name}{path}", value) for path, value in cells(answer.text)]
            continue
        document = answer.json()
        found += [(f"{name}{path}", value) for path, value in values(document)]
        for feature in document.get("features", []):
            if feature["geometry"] is not None:
                coordinates += pairs(feature["geometry"]["coordinates"])
            coordinates += pairs(feature["properties"]["centroid"] or [])
    return found, coordinates


def pairs(nested: Any) -> list[tuple[float, float]]:
    """The [lon, lat] pairs in GeoJSON coordinates, rounded as customers' places are."""
    if len(nested) == 2 and all(isinstance(v, int | float) for v in nested):
        return [(round(nested[0], 5), round(nested[1], 5))]
    return [pair for part in nested for pair in pairs(part)]


def is_facility_name(path: str) -> bool:
    return NAMED_COLUMN in path and path.endswith(".name")


def test_no_partner_feed_holds_personal_data_and_names_only_for_the_named_scope(
    demo: TestClient, database: Database
) -> None:
    secrets, facilities, places = secrets_of(database)
    assert len(secrets) > DEMO_CUSTOMERS and facilities  # something to look for
    named_seen: set[str] = set()
    for token in ("ema", "dispatch"):
        found, spots = scan(demo, token)
        assert any(path.startswith("outages.json") for path, _ in found), "the scan needs outages"
        for path, value in found:
            if is_facility_name(path):
                assert token == "dispatch", f"a facility named for scope partner at {path}"
                assert value in facilities, f"{path} names someone who is not a facility: {value!r}"
                named_seen.add(value)
                continue
            text = str(value)
            leaks = [secret for secret in secrets | facilities if secret in text]
            assert leaks == [], f"{token}: {path} holds {leaks[:3]}"
        assert spots, "the scan needs drawn areas"
        assert not places & set(spots), "an exact customer location in an area or centroid"
    # The named scope did name facilities, and private people were out unnamed, so the checks ran.
    assert named_seen, "no facility was named: the scan proved nothing"
    kinds_out = [
        v for path, v in found if ".by_kind.life_support" in path or path.endswith("critical_life_support")
    ]
    assert any(int(v) > 0 for v in kinds_out), "no life-support customer was out: the scan proved nothing"


def test_tokens_of_other_scopes_are_refused(demo: TestClient) -> None:
    for token in ("gateway", "crew"):
        for name in FEEDS:
            answer = demo.get(
                f"/api/partner/{name}",
                headers={"Authorization": f"Bearer {demo.tokens[token]}"},  # type: ignore[attr-defined]
            )
            assert answer.status_code == 401, (token, name)
            assert "partner" in answer.json()["error"]
