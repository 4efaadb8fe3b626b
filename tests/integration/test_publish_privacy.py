"""Privacy scan of every public output on the demo territory (SQLite and PostgreSQL).

The page (both languages, including the map it draws), the JSON and GeoJSON feeds and the static
site must hold no customer or crew name, phone number, address, account number or important-user
name, no exact customer location, and nothing saying which important user is out. Areas are drawn
down to a single customer here, the most the public could ever be shown.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import streamlit as st
from sqlalchemy import select
from starlette.applications import Starlette
from starlette.testclient import TestClient
from streamlit.testing.v1 import AppTest

from dashboard import public_map
from dashboard.i18n import STRINGS
from dashboard.public_api import FEEDS, public_routes
from emergency.core.clock import SYSTEM_CLOCK
from emergency.core.db import Database, forget_database
from emergency.core.models import Crew, Customer, ImportanceGrade, Outage
from emergency.core.settings import set_setting
from emergency.demo.load import load_territory
from emergency.demo.territory import generate_territory
from emergency.public.snapshot import cached_public_snapshot, forget_cached_snapshot
from emergency.public.static_site import write_static_site
from tests.pages.conftest import APP

DEMO_CUSTOMERS = 1_500
DEMO_SEED = 11
# The keys the public outputs may carry; anything else (an "important" count, a name) is a leak.
AREA_KEYS = {
    "district",  # the district's code, public like its name: the areas table groups by it
    "status",
    "customers_out",
    "customers_restored",
    "since",
    "restored_at",
    "etr",
    "etr_confidence",
    "etr_set_at",
    "etr_expired",
}


@pytest.fixture
def demo(database: Database, monkeypatch) -> Iterator[Database]:
    """The demo territory, generated around the real now (the page reads the system clock), with
    every outage area drawn however few customers it has."""
    load_territory(database, SYSTEM_CLOCK, generate_territory(DEMO_CUSTOMERS, DEMO_SEED, SYSTEM_CLOCK.now()))
    with database.write() as session:
        set_setting(session, "public.min_customers_shown", 1, SYSTEM_CLOCK)
        assert session.scalar(select(Outage.id).limit(1)) is not None, "the demo needs outages to scan"
    monkeypatch.setenv("OUTAGE_DB_URL", database.url)
    forget_cached_snapshot(database.url)
    st.cache_data.clear()
    yield database
    forget_cached_snapshot(database.url)
    forget_database(database.url)


def personal_data(db: Database) -> set[str]:
    with db.read() as session:
        customers = session.execute(
            select(
                Customer.name,
                Customer.phone,
                Customer.address,
                Customer.account_no,
                Customer.contact_name,
                Customer.contact_phone,
            )
        ).all()
        important = session.scalars(select(Customer.name).where(Customer.importance != ImportanceGrade.NONE))
        crews = session.execute(select(Crew.name, Crew.phone)).all()
        secrets = {value for row in [*customers, *crews] for value in row if value}
        secrets |= set(important)
    return {value.strip() for value in secrets if value.strip()}


def customer_locations(db: Database) -> set[tuple[float, float]]:
    with db.read() as session:
        rows = session.execute(select(Customer.lon, Customer.lat)).all()
    return {(round(lon, 5), round(lat, 5)) for lon, lat in rows}


def coordinates(geometry: Any) -> Iterator[tuple[float, float]]:
    if (
        isinstance(geometry, list)
        and len(geometry) == 2
        and all(isinstance(v, int | float) for v in geometry)
    ):
        yield (round(geometry[0], 5), round(geometry[1], 5))
    elif isinstance(geometry, list):
        for part in geometry:
            yield from coordinates(part)


def page_outputs(db: Database, language: str, monkeypatch) -> str:
    """Everything the public page shows: its elements, and the map it draws (an iframe component
    AppTest cannot open, so it is rendered here from the same snapshot)."""
    monkeypatch.setenv("OUTAGE_LANG", language)
    at = AppTest.from_file(APP, default_timeout=60)
    at.run()
    assert not at.exception, at.exception
    parts = [m.value for m in at.markdown] + [c.value for c in at.caption] + [t.value for t in at.title]
    parts += [h.value for h in at.subheader] + [f"{m.label} {m.value}" for m in at.metric]
    parts += [d.value.to_csv() for d in at.dataframe]
    index = 1 if language == "zh" else 0

    def translate(key: str, **values: object) -> str:
        text = STRINGS[key][index]
        return text.format(**values) if values else text

    snapshot = cached_public_snapshot(db, SYSTEM_CLOCK)  # the one the page was drawn from
    map_html, rows, chart, banners = public_map.page_parts(
        snapshot, language, translate, ZoneInfo("Asia/Shanghai")
    )
    parts += [map_html, json.dumps(rows, ensure_ascii=False, default=str), chart.to_csv(), *banners]
    return "\n".join(str(p) for p in parts)


def test_no_public_output_holds_personal_data(demo: Database, tmp_path: Path, monkeypatch) -> None:
    secrets = personal_data(demo)
    assert len(secrets) > DEMO_CUSTOMERS  # names, phones, addresses and accounts were found to look for

    outputs: dict[str, str] = {}
    snapshot = cached_public_snapshot(demo, SYSTEM_CLOCK)
    assert snapshot.areas["features"], "the scan needs drawn areas"
    outputs["snapshot"] = json.dumps(snapshot.to_json(), ensure_ascii=False)
    with TestClient(Starlette(routes=public_routes())) as client:
        for name in FEEDS:
            answer = client.get(f"/api/public/{name}")
            assert answer.status_code == 200
            outputs[f"feed {name}"] = answer.text
    site = tmp_path / "site"
    for path in write_static_site(snapshot, site, "Asia/Shanghai"):
        if "leaflet" not in path.relative_to(site).parts:  # the vendored library holds no data
            outputs[f"static {path.name}"] = path.read_text(encoding="utf-8")
    for language in ("en", "zh"):
        outputs[f"page {language}"] = page_outputs(demo, language, monkeypatch)

    leaks = [(secret, where) for where, text in outputs.items() for secret in secrets if secret in text]
    assert leaks == [], f"personal data in public outputs: {leaks[:10]}"
    for where, text in outputs.items():
        assert "important" not in text.lower(), f"{where} says something about important users"

    places = customer_locations(demo)
    for geojson in (snapshot.areas, snapshot.districts_geojson):
        for feature in geojson["features"]:
            assert feature["geometry"]["type"] in ("Polygon", "MultiPolygon")
            assert not places & set(coordinates(feature["geometry"]["coordinates"]))
    assert {key for f in snapshot.areas["features"] for key in f["properties"]} <= AREA_KEYS
