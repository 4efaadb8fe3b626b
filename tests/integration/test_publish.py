"""The public snapshot on SQLite and PostgreSQL: counts, generalised areas, status words, ETRs,
warnings, restoration progress, the shared cache, the JSON feeds and the static site."""

from __future__ import annotations

import json
import re
import threading
import time
from datetime import timedelta

import pytest
import shapely
import shapely.geometry
from starlette.applications import Starlette
from starlette.testclient import TestClient

from dashboard.public_api import public_routes
from emergency.cli import main as cli_main
from emergency.core.clock import FakeClock
from emergency.core.db import Database, forget_database
from emergency.core.models import (
    EtrConfidence,
    Hazard,
    Outage,
    OutageState,
    RestorationStep,
    Warning,
    WarningLevel,
    WarningStatus,
)
from emergency.core.settings import set_setting
from emergency.public import snapshot as publish
from emergency.public.snapshot import build_public_snapshot, cached_public_snapshot, forget_cached_snapshot
from emergency.public.static_site import write_static_site
from tests.support.small_territory import DEVICES, EAST, WEST, SmallTerritory, build_small_territory

# Customers below each device of the small territory (tests/support/small_territory.py).
CUSTOMERS = {"FU-1": 7, "FU-3": 7, "TX-1": 3, "TX-2": 4, "TX-3": 1, "TX-4": 5, "TX-5": 2}
DISTRICT_OF = {"FU-1": "W", "TX-1": "W", "TX-2": "W", "TX-3": "W", "FU-3": "E", "TX-4": "E", "TX-5": "E"}


def add_outage(
    db: Database, territory: SmallTerritory, device: str, state: OutageState, first_report_at, **fields
) -> int:
    with db.write() as session:
        outage = Outage(
            state=state,
            device_id=territory.device_ids[device],
            district_id=territory.district_ids[DISTRICT_OF[device]],
            first_report_at=first_report_at,
            customers_affected=CUSTOMERS[device],
            **fields,
        )
        session.add(outage)
        session.flush()
        return outage.id


def set_minimum(db: Database, clock: FakeClock, customers: int) -> None:
    with db.write() as session:
        set_setting(session, "public.min_customers_shown", customers, clock)


def snapshot_of(db: Database, clock: FakeClock) -> publish.PublicSnapshot:
    with db.read() as session:
        return build_public_snapshot(session, clock)


def by_code(snapshot: publish.PublicSnapshot) -> dict[str, publish.DistrictStatus]:
    return {d.code: d for d in snapshot.districts}


def test_customers_out_are_counted_per_district_and_small_areas_are_not_drawn(database, clock):
    territory = build_small_territory(database, clock)
    now = clock.now()
    add_outage(database, territory, "FU-1", OutageState.CONFIRMED, now - timedelta(minutes=20))
    add_outage(database, territory, "FU-3", OutageState.DISPATCHED, now - timedelta(minutes=10))

    snapshot = snapshot_of(database, clock)

    assert (snapshot.customers_served, snapshot.customers_out, snapshot.outages) == (15, 14, 2)
    assert snapshot.share_with_power == pytest.approx(1 / 15)
    districts = by_code(snapshot)
    assert (districts["W"].customers_out, districts["W"].outages) == (7, 1)
    assert (districts["E"].customers_out, districts["E"].outages) == (7, 1)
    # Both outages are under the default minimum of 25 customers: counted above, drawn nowhere.
    assert snapshot.min_customers_shown == 25
    assert snapshot.areas["features"] == []
    assert snapshot.small_outages_not_drawn == 2


def test_drawn_areas_are_generalised_inside_their_district(database, clock):
    territory = build_small_territory(database, clock)
    now = clock.now()
    add_outage(database, territory, "FU-1", OutageState.CONFIRMED, now - timedelta(minutes=20))
    add_outage(database, territory, "FU-3", OutageState.DISPATCHED, now - timedelta(minutes=10))
    set_minimum(database, clock, 5)

    features = snapshot_of(database, clock).areas["features"]

    assert sorted((f["properties"]["status"], f["properties"]["customers_out"]) for f in features) == [
        ("assessing", 7),
        ("crew_assigned", 7),
    ]
    transformers = {code: (lon, lat) for code, _, _, lon, lat in DEVICES}
    for feature, district, covered in zip(
        sorted(features, key=lambda f: f["properties"]["status"]),
        (WEST, EAST),
        (("TX-1", "TX-2"), ("TX-4", "TX-5")),
        strict=True,
    ):
        area = shapely.geometry.shape(feature["geometry"])
        assert area.geom_type in ("Polygon", "MultiPolygon")  # an area, never a point
        assert shapely.geometry.shape(district).buffer(1e-9).contains(area)
        for code in covered:  # the area covers its transformers with a margin
            assert area.contains(shapely.Point(transformers[code]).buffer(publish.AREA_BUFFER_DEG / 2))


def test_a_partly_restored_outage_counts_only_customers_still_out(database, clock):
    territory = build_small_territory(database, clock)
    add_outage(
        database,
        territory,
        "FU-3",
        OutageState.ON_SITE,
        clock.now() - timedelta(hours=1),
        customers_restored=5,
    )
    set_minimum(database, clock, 5)

    snapshot = snapshot_of(database, clock)

    assert by_code(snapshot)["E"].customers_out == 2
    assert snapshot.areas["features"] == []  # 2 still out: below the minimum of 5
    assert snapshot.small_outages_not_drawn == 1


def test_status_words_follow_the_outage_and_restored_areas_show_for_an_hour(database, clock):
    territory = build_small_territory(database, clock)
    now = clock.now()
    start = now - timedelta(hours=3)
    add_outage(database, territory, "TX-1", OutageState.PREDICTED, start)
    add_outage(database, territory, "TX-2", OutageState.CONFIRMED, start)
    add_outage(database, territory, "TX-3", OutageState.EN_ROUTE, start)
    add_outage(database, territory, "TX-4", OutageState.ON_SITE, start)
    add_outage(
        database,
        territory,
        "TX-5",
        OutageState.RESTORED,
        start,
        restored_at=now - timedelta(minutes=30),
        customers_restored=2,
    )
    add_outage(
        database,
        territory,
        "FU-1",
        OutageState.CLOSED,
        start,
        restored_at=now - timedelta(minutes=90),
        customers_restored=7,
    )
    set_minimum(database, clock, 1)

    snapshot = snapshot_of(database, clock)

    statuses = sorted(
        (f["properties"]["status"], f["properties"]["customers_out"], f["properties"]["customers_restored"])
        for f in snapshot.areas["features"]
    )
    assert statuses == [
        ("assessing", 4, 0),
        ("crew_assigned", 1, 0),
        ("crew_on_site", 5, 0),
        ("reported", 3, 0),
        ("restored", 0, 2),  # restored 30 min ago; the one restored 90 min ago is off the map
    ]
    assert snapshot.outages == 4


def test_an_expired_etr_is_shown_as_being_reassessed_never_as_valid(database, clock):
    territory = build_small_territory(database, clock)
    now = clock.now()
    expired_at = now - timedelta(minutes=1)
    valid_at = now + timedelta(hours=2)
    add_outage(
        database,
        territory,
        "FU-1",
        OutageState.ON_SITE,
        now - timedelta(hours=3),
        etr_at=expired_at,
        etr_confidence=EtrConfidence.HIGH,
        etr_set_at=now - timedelta(hours=2),
    )
    add_outage(
        database,
        territory,
        "FU-3",
        OutageState.DISPATCHED,
        now - timedelta(minutes=30),
        etr_at=valid_at,
        etr_confidence=EtrConfidence.MEDIUM,
        etr_set_at=now - timedelta(minutes=5),
    )
    set_minimum(database, clock, 5)

    snapshot = snapshot_of(database, clock)

    props = {f["properties"]["status"]: f["properties"] for f in snapshot.areas["features"]}
    expired, valid = props["crew_on_site"], props["crew_assigned"]
    assert (expired["etr"], expired["etr_confidence"], expired["etr_set_at"], expired["etr_expired"]) == (
        None,
        None,
        None,
        True,
    )
    assert valid["etr"] == valid_at.isoformat()
    assert (valid["etr_confidence"], valid["etr_expired"]) == ("medium", False)
    assert valid["etr_set_at"] == (now - timedelta(minutes=5)).isoformat()
    districts = by_code(snapshot)
    assert (districts["W"].etr_earliest, districts["W"].etrs_reassessed) == (None, 1)
    assert (districts["E"].etr_earliest, districts["E"].etr_latest) == (valid_at, valid_at)
    # The passed time appears nowhere in what the public is sent.
    everything = json.dumps(snapshot.to_json())
    assert expired_at.isoformat() not in everything

    clock.advance(hours=3)  # now the other ETR has passed too
    later = snapshot_of(database, clock)
    assert all(f["properties"]["etr"] is None for f in later.areas["features"])
    assert all(f["properties"]["etr_expired"] for f in later.areas["features"])
    assert by_code(later)["E"].etrs_reassessed == 1


def test_restored_so_far_and_progress_come_from_outage_rows_and_steps(database, clock):
    territory = build_small_territory(database, clock)
    now = clock.now()
    restored = add_outage(
        database,
        territory,
        "FU-3",
        OutageState.RESTORED,
        now - timedelta(hours=3),
        restored_at=now - timedelta(hours=1),
        customers_restored=7,
    )
    with database.write() as session:
        session.add(RestorationStep(outage_id=restored, at=now - timedelta(hours=2), customers_restored=5))
        session.add(RestorationStep(outage_id=restored, at=now - timedelta(hours=1), customers_restored=2))
    add_outage(database, territory, "FU-1", OutageState.CONFIRMED, now - timedelta(minutes=30))

    snapshot = snapshot_of(database, clock)

    assert by_code(snapshot)["E"].customers_restored == 7
    assert by_code(snapshot)["W"].customers_restored == 0
    assert snapshot.customers_restored == 7
    times = snapshot.progress_times
    assert len(times) == publish.PROGRESS_POINTS and times[-1] == now
    assert times[0] == now - timedelta(hours=3) - publish.PROGRESS_LEAD  # the chart starts with the event

    def expected_east(moment):
        if moment < now - timedelta(hours=3) or moment >= now - timedelta(hours=1):
            return 0
        return 7 if moment < now - timedelta(hours=2) else 2

    def expected_west(moment):
        return 7 if moment >= now - timedelta(minutes=30) else 0

    assert snapshot.progress_out["E"] == [expected_east(m) for m in times]
    assert snapshot.progress_out["W"] == [expected_west(m) for m in times]
    assert snapshot.progress_out["W"][-1] == by_code(snapshot)["W"].customers_out

    with database.write() as session:  # a shorter event window leaves the earlier step out
        set_setting(session, "public.event_hours", 1, clock)
    assert snapshot_of(database, clock).customers_restored == 2


def add_warning(db, clock, identifier, level, status, expires_in_hours, districts=("W",)):
    now = clock.now()
    with db.write() as session:
        session.add(
            Warning(
                cap_identifier=identifier,
                cap_sender="test",
                hazard=Hazard.TYPHOON,
                level=level,
                title_en=f"{identifier} warning",
                title_zh=f"{identifier} 预警",
                area_kind="districts",
                area=WEST,
                area_districts=list(districts),
                effective_at=now - timedelta(hours=1),
                expires_at=now + timedelta(hours=expires_in_hours),
                status=status,
                created_by="manager",
                created_at=now - timedelta(hours=1),
            )
        )


def test_warnings_in_force_are_published_most_severe_first(database, clock):
    build_small_territory(database, clock)
    add_warning(database, clock, "yellow-updated", WarningLevel.YELLOW, WarningStatus.UPDATED, 5)
    add_warning(database, clock, "red-active", WarningLevel.RED, WarningStatus.ACTIVE, 5, ("W", "E"))
    add_warning(database, clock, "orange-past", WarningLevel.ORANGE, WarningStatus.ACTIVE, -1)
    add_warning(database, clock, "blue-draft", WarningLevel.BLUE, WarningStatus.DRAFT, 5)
    add_warning(database, clock, "red-cancelled", WarningLevel.RED, WarningStatus.CANCELLED, 5)
    add_warning(database, clock, "blue-expired", WarningLevel.BLUE, WarningStatus.EXPIRED, 5)

    warnings = snapshot_of(database, clock).warnings

    assert [(w.title_en, w.colour) for w in warnings] == [
        ("red-active warning", publish.WARNING_COLOURS[WarningLevel.RED]),
        ("yellow-updated warning", publish.WARNING_COLOURS[WarningLevel.YELLOW]),
    ]
    assert warnings[0].districts == ["W", "E"]


# --- the shared cache ----------------------------------------------------------------------------


@pytest.fixture
def counted_builds(monkeypatch):
    """Count (and slow down a little) every snapshot build, to see the cache share them."""
    builds: list[float] = []
    real = publish.build_public_snapshot

    def counting(*args, **kwargs):
        builds.append(time.monotonic())
        time.sleep(0.05)  # long enough for concurrent viewers to overlap the build
        return real(*args, **kwargs)

    monkeypatch.setattr(publish, "build_public_snapshot", counting)
    return builds


def test_the_snapshot_is_built_once_per_interval_for_all_viewers(database, clock, counted_builds):
    build_small_territory(database, clock)
    forget_cached_snapshot(database.url)
    results: list[publish.PublicSnapshot] = []
    start = threading.Barrier(20)

    def viewer() -> None:
        start.wait()
        results.append(cached_public_snapshot(database, clock))

    threads = [threading.Thread(target=viewer) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert len(counted_builds) == 1
    assert len({id(snapshot) for snapshot in results}) == 1
    clock.advance(seconds=59)
    assert cached_public_snapshot(database, clock) is results[0]
    clock.advance(seconds=2)
    fresh = cached_public_snapshot(database, clock)
    assert fresh is not results[0] and fresh.generated_at == clock.now()
    assert len(counted_builds) == 2
    forget_cached_snapshot(database.url)


def test_a_failed_rebuild_serves_the_last_snapshot_which_then_goes_stale(database, clock, monkeypatch):
    build_small_territory(database, clock)
    forget_cached_snapshot(database.url)
    first = cached_public_snapshot(database, clock)
    attempts: list[int] = []

    def broken(*args, **kwargs):
        attempts.append(1)
        raise RuntimeError("database unreachable")

    monkeypatch.setattr(publish, "build_public_snapshot", broken)
    clock.advance(seconds=61)
    assert cached_public_snapshot(database, clock) is first
    assert not first.is_stale(clock.now())
    assert cached_public_snapshot(database, clock) is first
    assert len(attempts) == 1  # viewers within the retry pause do not hammer the database
    clock.advance(seconds=publish.RETRY_AFTER_FAILURE_S + 60)
    assert cached_public_snapshot(database, clock) is first
    assert len(attempts) == 2
    assert first.is_stale(clock.now())  # older than twice the 60 s interval
    forget_cached_snapshot(database.url)


def test_without_any_snapshot_a_failed_build_is_an_error(database, clock, monkeypatch):
    forget_cached_snapshot(database.url)

    def broken(*args, **kwargs):
        raise RuntimeError("database unreachable")

    monkeypatch.setattr(publish, "build_public_snapshot", broken)
    with pytest.raises(RuntimeError):
        cached_public_snapshot(database, clock)


# --- the feeds -----------------------------------------------------------------------------------


@pytest.fixture
def feeds(database, clock, monkeypatch):
    monkeypatch.setenv("OUTAGE_DB_URL", database.url)
    forget_cached_snapshot(database.url)
    with TestClient(Starlette(routes=public_routes(clock))) as client:
        yield client
    forget_cached_snapshot(database.url)
    forget_database(database.url)


def test_the_feeds_serve_the_shared_snapshot_with_cache_headers(database, clock, feeds):
    territory = build_small_territory(database, clock)
    add_outage(database, territory, "FU-1", OutageState.CONFIRMED, clock.now() - timedelta(minutes=20))
    set_minimum(database, clock, 5)

    summary = feeds.get("/api/public/summary.json")
    outages = feeds.get("/api/public/outages.geojson")
    districts = feeds.get("/api/public/districts.geojson")

    assert summary.status_code == outages.status_code == districts.status_code == 200
    assert summary.headers["content-type"] == "application/json"
    assert outages.headers["content-type"] == "application/geo+json"
    assert summary.headers["cache-control"] == "public, max-age=60"
    body = summary.json()
    assert (body["customers_out"], body["outages"], body["share_with_power"]) == (7, 1, round(8 / 15, 4))
    assert {d["code"]: d["customers_out"] for d in body["districts"]} == {"W": 7, "E": 0}
    assert [f["properties"]["customers_out"] for f in outages.json()["features"]] == [7]
    assert {f["properties"]["code"] for f in districts.json()["features"]} == {"W", "E"}
    # Every feed is the same snapshot as the page's.
    assert body["generated_at"] == cached_public_snapshot(database, clock).generated_at.isoformat()

    again = feeds.get("/api/public/summary.json", headers={"If-None-Match": summary.headers["etag"]})
    assert again.status_code == 304
    clock.advance(seconds=45)
    assert feeds.get("/api/public/outages.geojson").headers["cache-control"] == "public, max-age=15"


def test_the_feeds_answer_503_when_no_snapshot_can_be_built(tmp_path, clock, monkeypatch):
    url = f"sqlite:///{tmp_path / 'missing' / 'nothing.db'}"
    monkeypatch.setenv("OUTAGE_DB_URL", url)
    with TestClient(Starlette(routes=public_routes(clock))) as client:
        answer = client.get("/api/public/summary.json")
    assert answer.status_code == 503
    assert answer.headers["retry-after"] == "10"
    forget_database(url)


# --- the static site -----------------------------------------------------------------------------

ATTRIBUTE_URL = re.compile(r"""(?:src|href)\s*=\s*["']([^"']+)["']""")
FETCHED_NAMES = re.compile(r"""["']([\w./-]+\.(?:json|geojson))["']""")


def assert_relative(url: str) -> None:
    assert "//" not in url and not url.startswith("/") and ":" not in url, url


def test_publish_writes_a_static_site_with_relative_urls_only(database, clock, tmp_path):
    territory = build_small_territory(database, clock)
    add_outage(database, territory, "FU-3", OutageState.ON_SITE, clock.now() - timedelta(minutes=20))
    set_minimum(database, clock, 5)
    out = tmp_path / "site"

    written = write_static_site(snapshot_of(database, clock), out, "Asia/Shanghai")

    names = {path.relative_to(out).as_posix() for path in written}
    assert {"summary.json", "outages.geojson", "districts.geojson", "index.html"} <= names
    assert {"leaflet/leaflet.js", "leaflet/leaflet.css"} <= names
    assert json.loads((out / "summary.json").read_text(encoding="utf-8"))["customers_out"] == 7
    assert (
        json.loads((out / "outages.geojson").read_text(encoding="utf-8"))["features"][0]["properties"][
            "status"
        ]
        == "crew_on_site"
    )
    assert len(json.loads((out / "districts.geojson").read_text(encoding="utf-8"))["features"]) == 2
    page = (out / "index.html").read_text(encoding="utf-8")
    urls = ATTRIBUTE_URL.findall(page)
    assert "leaflet/leaflet.js" in urls and "leaflet/leaflet.css" in urls
    for url in urls + FETCHED_NAMES.findall(page):
        if url.startswith("#"):  # a link within the page (skip to the status)
            continue
        assert_relative(url)
        assert (out / url).is_file(), f"{url} is referenced but not written"
    assert "http" not in page.lower().replace("http-equiv", "")
    assert not list(out.glob(".*"))  # no temporary files left behind


def test_the_static_page_config_cannot_close_its_script(tmp_path, database, clock):
    build_small_territory(database, clock)
    write_static_site(snapshot_of(database, clock), tmp_path, "</script><script>alert(1)</script>")
    page = (tmp_path / "index.html").read_text(encoding="utf-8")
    assert "alert(1)" in page and "</script><script>alert" not in page


def test_the_publish_command_writes_the_site(database, clock, tmp_path, capsys):
    territory = build_small_territory(database, clock)
    add_outage(database, territory, "FU-1", OutageState.CONFIRMED, clock.now())

    code = cli_main(["--db", database.url, "publish", "--out", str(tmp_path / "out"), "--json"])

    assert code == 0
    printed = json.loads(capsys.readouterr().out)
    assert (printed["customers_out"], printed["outages"]) == (7, 1)
    assert (tmp_path / "out" / "index.html").is_file()
    forget_database(database.url)


def test_the_public_benchmark_runs_at_a_small_size() -> None:
    from bench import bench_public

    rows = {row.name.split(" (")[0]: row for row in bench_public(customers=3_000, outages=30, crews=10)}

    build = rows["public snapshot build"]
    page = rows["public page render from the cached snapshot"]
    assert (build.budget, page.budget) == ("<= 0.5 s", "<= 0.1 s")
    assert build.value > 0 and build.baseline is not None and build.baseline > 0
    assert page.value > 0 and page.baseline is not None and page.baseline > page.value
    assert rows["public page's map, rendered"].value > 0
    assert rows["outage areas feed, encoded once per snapshot"].value > 0
    packed = rows["outage areas feed as a phone receives it"]
    assert packed.budget == "< 1 MB" and packed.baseline is not None and 0 < packed.value < packed.baseline
