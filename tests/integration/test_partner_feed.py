"""Feeds for partners (issue #20, point 4), on SQLite and PostgreSQL: what the outage and district
feeds say on a hand-made territory with known answers, that their figures are the one truth's
(`outage_figures`, the public snapshot, `status --json`) in a replayed storm, and the HTTP routes'
token, rate limit, caching and CSV rules.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import shapely
from sqlalchemy import select, update
from starlette.applications import Starlette
from starlette.testclient import TestClient

from dashboard.partner_api import partner_routes
from emergency.app.queries.partner import partner_districts, partner_outages
from emergency.cli import main
from emergency.core.actor import CLI_ADMIN, Actor
from emergency.core.clock import FakeClock
from emergency.core.db import Database, forget_database
from emergency.core.errors import InvalidInput
from emergency.core.models import (
    AssignmentStatus,
    CrewAssignment,
    District,
    EtrConfidence,
    EtrSource,
    Outage,
    OutageState,
    RestorationStep,
    TokenScope,
)
from emergency.core.settings import set_setting
from emergency.core.tokens import PARTNER_SCOPES, authenticate_token, create_token, revoke_token
from emergency.demo.load import load_demo
from emergency.public.partner_feed import CRITICAL_KINDS, OUTAGE_COLUMNS, series_times
from emergency.public.snapshot import cached_public_snapshot, forget_cached_snapshot
from emergency.reporting.outage_figures import customers_out_series, figures_at
from emergency.simulator.runner import Simulation
from emergency.simulator.scenarios import SCENARIOS
from tests.support.app_context import SHANGHAI, context_of
from tests.support.outage_records import add_outage
from tests.support.small_territory import SmallTerritory, build_small_territory

PARTNER = Actor("token:county-ema", "partner")
NAMED = Actor("token:regional-dispatch", "partner_named")
HOSPITAL = "West Hospital 西镇医院"


# --- a hand-made storm with known answers ---------------------------------------------------------


@pytest.fixture
def storm(database: Database, clock: FakeClock) -> Iterator[SmallTerritory]:
    """At 02:00 UTC: REC-1 (West, 8 customers, the hospital among them) out since 01:20, a crew
    dispatched, 3 customers back by a step at 01:45 exactly; FU-3 (East, 7 customers) out since 01:31
    with a crew on site, wires down and an ETR already passed; TX-5 (East, 2) was out 00:10-00:50."""
    territory = build_small_territory(database, clock)
    at = clock.now()
    with database.write() as session:
        west = add_outage(
            session,
            territory,
            "REC-1",
            OutageState.DISPATCHED,
            customers_affected=8,
            customers_restored=3,
            first_report_at=at - timedelta(minutes=40),
            dispatched_at=at - timedelta(minutes=30),
            etr_at=at + timedelta(hours=2),
            etr_confidence=EtrConfidence.MEDIUM,
            etr_source=EtrSource.DISPATCHER,
            etr_set_at=at - timedelta(minutes=25),
        )
        session.add(RestorationStep(outage_id=west.id, at=at - timedelta(minutes=15), customers_restored=3))
        session.add(
            CrewAssignment(
                outage_id=west.id,
                crew_id=territory.crew_ids["C1"],
                status=AssignmentStatus.DISPATCHED,
                assigned_at=at - timedelta(minutes=30),
            )
        )
        east = add_outage(
            session,
            territory,
            "FU-3",
            OutageState.ON_SITE,
            customers_affected=7,
            first_report_at=at - timedelta(minutes=29),
            hazard=True,
            etr_at=at - timedelta(minutes=5),
            etr_confidence=EtrConfidence.LOW,
            etr_source=EtrSource.SYSTEM,
            etr_set_at=at - timedelta(minutes=28),
        )
        session.add(
            CrewAssignment(
                outage_id=east.id,
                crew_id=territory.crew_ids["C2"],
                status=AssignmentStatus.ON_SITE,
                assigned_at=at - timedelta(minutes=27),
                on_site_at=at - timedelta(minutes=10),
            )
        )
        earlier = add_outage(
            session,
            territory,
            "TX-5",
            OutageState.RESTORED,
            customers_affected=2,
            customers_restored=2,
            first_report_at=at - timedelta(minutes=110),
            restored_at=at - timedelta(minutes=70),
        )
        # A restoration is always a step (emergency.dispatch.outages.record_restoration).
        session.add(RestorationStep(outage_id=earlier.id, at=earlier.restored_at, customers_restored=2))
    forget_cached_snapshot(database.url)
    yield territory
    forget_cached_snapshot(database.url)


def properties_by_district(feed: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {f["properties"]["district_code"]: f["properties"] for f in feed["features"]}


def test_each_outage_says_customers_out_etr_crews_and_critical_facilities_by_kind(
    database: Database, clock: FakeClock, storm: SmallTerritory
) -> None:
    feed = partner_outages(context_of(database, clock, PARTNER)).to_geojson(SHANGHAI)
    assert feed["schema_version"] == "1.0" and feed["scope"] == "partner"
    assert (feed["outages"], feed["customers_out"]) == (2, 12)
    west, east = properties_by_district(feed)["W"], properties_by_district(feed)["E"]
    assert west["customers_out"] == 5 and west["customers_by_district"] == {"W": 5}
    assert (west["district_name_en"], west["district_name_zh"]) == ("West Town", "西镇")
    assert west["started_at"] == "2026-07-01T09:20:00+08:00"  # local time, with its offset
    assert (west["etr"], west["etr_confidence"], west["etr_source"]) == (
        "2026-07-01T12:00:00+08:00",
        "medium",
        "dispatcher",
    )
    assert (west["etr_expired"], west["crew_status"], west["crews"], west["hazard"]) == (
        False,
        "dispatched",
        1,
        False,
    )
    assert west["critical_facilities_out"] == {"total": 1, "by_kind": {"hospital": 1}}
    assert "critical_facilities_named" not in west
    assert HOSPITAL not in json.dumps(feed, ensure_ascii=False)
    assert (east["customers_out"], east["crew_status"], east["crews"], east["hazard"]) == (
        7,
        "on_site",
        1,
        True,
    )
    assert east["etr_expired"] is True  # passed: being reassessed
    assert east["critical_facilities_out"] == {"total": 0, "by_kind": {}}


def test_the_named_scope_also_names_the_facilities(
    database: Database, clock: FakeClock, storm: SmallTerritory
) -> None:
    feed = partner_outages(context_of(database, clock, NAMED)).to_geojson(SHANGHAI)
    assert feed["scope"] == "partner_named"
    west, east = properties_by_district(feed)["W"], properties_by_district(feed)["E"]
    assert west["critical_facilities_named"] == [{"name": HOSPITAL, "kind": "hospital", "grade": "grade1"}]
    assert east["critical_facilities_named"] == []
    # The plain scope's feed, read after the named one, still has no names (one build shared).
    plain = partner_outages(context_of(database, clock, PARTNER)).to_geojson(SHANGHAI)
    assert HOSPITAL not in json.dumps(plain, ensure_ascii=False)


def test_areas_are_withheld_below_the_public_minimum_and_drawn_round_the_transformers_above_it(
    database: Database, clock: FakeClock, storm: SmallTerritory
) -> None:
    feed = partner_outages(context_of(database, clock, PARTNER)).to_geojson(SHANGHAI)
    assert all(f["geometry"] is None and f["properties"]["area_withheld"] for f in feed["features"])
    assert all(f["properties"]["centroid"] is None for f in feed["features"])
    with database.write() as session:
        set_setting(session, "public.min_customers_shown", 6, clock)
    clock.advance(seconds=61)  # the next snapshot
    feed = partner_outages(context_of(database, clock, PARTNER)).to_geojson(SHANGHAI)
    west, east = (next(f for f in feed["features"] if f["properties"]["district_code"] == c) for c in "WE")
    assert west["geometry"] is None  # 5 customers out: under 6
    area = shapely.geometry.shape(east["geometry"])
    assert area.geom_type == "Polygon"
    for lon, lat in ((121.15, 28.06), (121.15, 28.04)):  # TX-4 and TX-5, below FU-3
        assert area.contains(shapely.Point(lon, lat))
    assert area.contains(shapely.Point(*east["properties"]["centroid"]))


def test_the_csv_has_one_row_per_outage_with_every_kind_column(
    database: Database, clock: FakeClock, storm: SmallTerritory
) -> None:
    for actor, named in ((PARTNER, False), (NAMED, True)):
        text = partner_outages(context_of(database, clock, actor)).to_csv(SHANGHAI)
        rows = list(csv.DictReader(io.StringIO(text)))
        assert list(rows[0]) == [*OUTAGE_COLUMNS, *(["critical_facilities_named"] if named else [])]
        west = next(r for r in rows if r["district_code"] == "W")
        assert (west["district_name_zh"], west["customers_out"], west["critical_hospital"]) == (
            "西镇",
            "5",
            "1",
        )
        assert west["critical_facilities_out"] == "1"
        assert sum(int(west[f"critical_{kind}"]) for kind in CRITICAL_KINDS) == 1
        if named:
            assert json.loads(west["critical_facilities_named"]) == [
                {"name": HOSPITAL, "kind": "hospital", "grade": "grade1"}
            ]


def test_customers_out_by_district_now_and_every_interval_of_the_window(
    database: Database, clock: FakeClock, storm: SmallTerritory
) -> None:
    districts = partner_districts(context_of(database, clock, PARTNER), 2)
    assert [(r.code, r.customers_served, r.customers_out) for r in districts.current] == [
        ("E", 7, 7),
        ("W", 8, 5),
    ]
    series: dict[str, list[int]] = {}
    for row in districts.series:
        series.setdefault(row.code, []).append(row.customers_out)
    times = sorted({r.time for r in districts.series})
    assert times[0] == datetime(2026, 7, 1, 0, 0, tzinfo=UTC) and times[-1] == clock.now()
    assert len(times) == 9  # 2 hours at 15 minutes, both ends included
    # 00:00 ... 02:00: TX-5 out 00:10-00:50; FU-3 from 01:31; REC-1 from 01:20, 3 back at 01:45 sharp.
    assert series["E"] == [0, 2, 2, 2, 0, 0, 0, 7, 7]
    assert series["W"] == [0, 0, 0, 0, 0, 0, 8, 5, 5]
    data = districts.to_json(SHANGHAI)
    assert data["current"][1] == {
        "time": "2026-07-01T10:00:00+08:00",
        "area_code": "W",
        "area_name_en": "West Town",
        "area_name_zh": "西镇",
        "customers_served": 8,
        "customers_out": 5,
    }
    assert (data["interval_minutes"], data["hours"]) == (15, 2)
    # Without a window, the current rows alone.
    assert partner_districts(context_of(database, clock, PARTNER), 0).series == ()


def test_a_window_longer_than_the_setting_is_refused_with_the_limit(
    database: Database, clock: FakeClock, storm: SmallTerritory
) -> None:
    with pytest.raises(InvalidInput, match="from 0 to 72"):
        partner_districts(context_of(database, clock, PARTNER), 73)
    with pytest.raises(InvalidInput):
        partner_districts(context_of(database, clock, PARTNER), -1)


def test_series_times_fall_on_the_interval_whatever_the_moment_of_the_request() -> None:
    at = datetime(2026, 7, 1, 2, 7, 31, tzinfo=UTC)
    times = series_times(at, 1, 15)
    assert times == [datetime(2026, 7, 1, 1, 0, tzinfo=UTC) + timedelta(minutes=15 * k) for k in range(5)]
    assert series_times(at, 0, 15) == []


# --- one truth: the series, the snapshot and status agree in a replayed storm ----------------------


def status_districts(db: Database, capsys: pytest.CaptureFixture[str]) -> dict[str, int]:
    capsys.readouterr()
    assert main(["--db", db.url, "status", "--json"]) == 0
    return {d["code"]: d["customers_out"] for d in json.loads(capsys.readouterr().out)["districts_out"]}


def test_the_feed_says_what_the_public_snapshot_status_and_outage_figures_say(
    database: Database, clock: FakeClock, capsys: pytest.CaptureFixture[str]
) -> None:
    load_demo(database, clock, customers=2_000, seed=7)
    sim = Simulation(database, SCENARIOS["typhoon"], seed=7, start=clock.now(), auto_dispatch=True)
    for minute in (80, 150):
        sim.advance_to(sim.at(minute))
        fixed = FakeClock(sim.clock.now())
        forget_cached_snapshot(database.url)
        snapshot = cached_public_snapshot(database, fixed)
        feed = partner_districts(context_of(database, fixed, PARTNER), 3)
        current = {r.code: r.customers_out for r in feed.current}
        assert current == {d.code: d.customers_out for d in snapshot.districts}, minute
        assert current == status_districts(database, capsys), minute
        assert sum(current.values()) > 0, "the storm has customers out"
        outages = partner_outages(context_of(database, fixed, PARTNER))
        assert sum(o.customers_out for o in outages.outages) == snapshot.customers_out
        assert len(outages.outages) == snapshot.outages
        # Every point of the series is figures_at's at that moment.
        times = sorted({r.time for r in feed.series})
        with database.read() as session:
            codes = {d.id: d.code for d in session.scalars(select(District))}
            for moment in times:
                expected = {
                    codes[d]: f.customers_out for d, f in figures_at(session, moment).districts.items()
                }
                got = {r.code: r.customers_out for r in feed.series if r.time == moment and r.customers_out}
                assert got == {c: n for c, n in expected.items() if n}, (minute, moment)


def test_a_step_exactly_at_a_moment_counts_as_back_at_that_moment(
    database: Database, clock: FakeClock, storm: SmallTerritory
) -> None:
    at = clock.now() - timedelta(minutes=15)  # REC-1's step
    with database.read() as session:
        before, exactly = customers_out_series(session, [at - timedelta(microseconds=1), at])
        west = storm.district_ids["W"]
        assert (before[west], exactly[west]) == (8, 5)
        assert exactly[west] == figures_at(session, at).district(west).customers_out
        with pytest.raises(ValueError, match="ascending"):
            customers_out_series(session, [at, at - timedelta(minutes=1)])


# --- over HTTP ------------------------------------------------------------------------------------


@dataclass
class PartnerApi:
    client: TestClient
    tokens: dict[str, str]

    def get(self, path: str, token: str | None = "ema", **headers: str) -> httpx.Response:
        if token is not None:
            headers["Authorization"] = f"Bearer {self.tokens[token]}"
        return self.client.get(f"/api/partner/{path}", headers=headers)


@pytest.fixture
def api(
    database: Database, clock: FakeClock, storm: SmallTerritory, monkeypatch: pytest.MonkeyPatch
) -> Iterator[PartnerApi]:
    monkeypatch.setenv("OUTAGE_DB_URL", database.url)
    scopes = {
        "ema": "partner",
        "dispatch": "partner_named",
        "gateway": "intake",
        "crew": "crew_position",
        "old": "partner",
    }
    with database.write() as session:
        tokens = {
            name: create_token(session, clock, CLI_ADMIN, name, scope) for name, scope in scopes.items()
        }
        revoke_token(session, clock, CLI_ADMIN, "old")
    try:
        with TestClient(Starlette(routes=partner_routes(clock))) as client:
            yield PartnerApi(client, tokens)
    finally:
        forget_database(database.url)


FEED_NAMES = ("outages.json", "outages.csv", "districts.json", "districts.csv")


def test_a_missing_or_wrong_token_gets_401_with_a_reason(api: PartnerApi) -> None:
    for name in FEED_NAMES:
        for token in (None, "gateway", "crew", "old"):
            answer = api.get(name, token)
            assert answer.status_code == 401, (name, token)
            assert answer.json() == {
                "error": "a valid bearer token of scope partner or partner_named is required"
            }
            assert answer.headers["WWW-Authenticate"].startswith("Bearer")
        assert (
            api.client.get(
                f"/api/partner/{name}", headers={"Authorization": "Bearer odk_nonsense"}
            ).status_code
            == 401
        )
        assert (
            api.client.get(f"/api/partner/{name}", headers={"Authorization": "Basic eDp5"}).status_code == 401
        )


def test_a_partner_token_reads_every_feed_with_an_etag_and_a_private_short_cache(api: PartnerApi) -> None:
    for name in FEED_NAMES:
        answer = api.get(name)
        assert answer.status_code == 200, (name, answer.text)
        assert answer.headers["Cache-Control"] == "private, max-age=60"
        assert answer.headers["Vary"] == "Authorization"
        again = api.get(name, **{"If-None-Match": answer.headers["ETag"]})
        assert (again.status_code, again.content) == (304, b"")
    geojson = api.get("outages.json")
    assert geojson.headers["content-type"] == "application/geo+json"
    assert geojson.json()["type"] == "FeatureCollection"
    # Each scope has its own ETag: a cached named answer is never the plain one.
    assert api.get("outages.json", "dispatch").headers["ETag"] != geojson.headers["ETag"]
    assert HOSPITAL in api.get("outages.json", "dispatch").text
    assert HOSPITAL not in geojson.text


def test_csv_is_utf8_with_a_header_and_a_bom_only_for_excel(api: PartnerApi) -> None:
    plain = api.get("districts.csv")
    assert plain.headers["content-type"] == "text/csv; charset=utf-8; header=present"
    assert plain.content.startswith(
        b"time,area_code,area_name_en,area_name_zh,customers_served,customers_out\r\n"
    )
    assert "西镇".encode() in plain.content
    excel = api.client.get(
        "/api/partner/districts.csv?excel=1", headers={"Authorization": f"Bearer {api.tokens['ema']}"}
    )
    assert excel.content.startswith("\ufefftime,".encode())
    assert excel.headers["ETag"] != plain.headers["ETag"]
    rows = list(csv.DictReader(io.StringIO(excel.content.decode("utf-8-sig"))))
    assert {r["area_name_zh"] for r in rows} == {"西镇", "东村"}


def test_bad_parameters_and_methods_are_refused_with_a_reason(api: PartnerApi) -> None:
    auth = {"Authorization": f"Bearer {api.tokens['ema']}"}
    for path, words in (
        ("districts.json?hours=abc", "whole number"),
        ("districts.json?hours=100", "from 0 to 72"),
        ("districts.csv?excel=yes", "excel=1 adds"),
        ("outages.json?hours=24", "only the districts feeds"),
        ("districts.json?excel=1", "CSV feeds only"),
    ):
        answer = api.client.get(f"/api/partner/{path}", headers=auth)
        assert answer.status_code == 422 and words in answer.json()["error"], path
    series = api.client.get("/api/partner/districts.json?hours=2", headers=auth).json()
    assert len(series["series"]) == 9 * 2
    posted = api.client.post("/api/partner/outages.json", headers=auth)
    assert posted.status_code == 405 and posted.headers["Allow"] == "GET, HEAD"


def test_a_partner_token_is_rate_limited_per_minute(
    api: PartnerApi, database: Database, clock: FakeClock
) -> None:
    with database.write() as session:
        set_setting(session, "partner.rate_per_minute", 2, clock)
    assert [api.get("outages.json").status_code for _ in range(2)] == [200, 200]
    refused = api.get("outages.json")
    assert refused.status_code == 429 and int(refused.headers["Retry-After"]) >= 1
    assert "too many requests" in refused.json()["error"]
    assert api.get("outages.json", "dispatch").status_code == 200  # another token has its own count
    clock.advance(seconds=61)
    assert api.get("outages.json").status_code == 200


def test_the_next_snapshot_brings_a_new_body_and_etag(
    api: PartnerApi, database: Database, clock: FakeClock
) -> None:
    first = api.get("outages.csv")
    assert api.get("outages.csv").content == first.content  # the same snapshot: the same body
    with database.write() as session:
        session.execute(update(Outage).where(Outage.hazard.is_(True)).values(hazard=False))
    assert api.get("outages.csv").content == first.content  # until the next snapshot
    clock.advance(seconds=61)
    second = api.get("outages.csv")
    assert second.headers["ETag"] != first.headers["ETag"]
    assert [r["hazard"] for r in csv.DictReader(io.StringIO(second.text))] == ["false", "false"]
    assert "true" in [r["hazard"] for r in csv.DictReader(io.StringIO(first.text))]


def test_the_command_line_makes_partner_tokens_that_read_as_their_scope(
    database: Database, clock: FakeClock, capsys: pytest.CaptureFixture[str]
) -> None:
    for name, scope in (("county-ema", "partner"), ("regional-dispatch", "partner_named")):
        capsys.readouterr()
        assert main(["--db", database.url, "tokens", "add", name, "--scope", scope]) == 0
        token = capsys.readouterr().out.strip()
        actor = authenticate_token(database, clock, token, PARTNER_SCOPES)
        assert actor == Actor(f"token:{name}", scope)
        assert authenticate_token(database, clock, token, TokenScope.INTAKE) is None
    capsys.readouterr()
    assert main(["--db", database.url, "tokens", "list", "--json"]) == 0
    listed = {t["name"]: t["scope"] for t in json.loads(capsys.readouterr().out)}
    assert listed == {"county-ema": "partner", "regional-dispatch": "partner_named"}
