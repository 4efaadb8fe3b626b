"""The public status page as an anonymous visitor sees it (AppTest, small territory in SQLite)."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest
from streamlit.testing.v1 import AppTest

from emergency.core.clock import SYSTEM_CLOCK, FakeClock
from emergency.core.db import Database, get_database
from emergency.core.models import (
    EtrConfidence,
    Hazard,
    Outage,
    OutageState,
    Warning,
    WarningLevel,
    WarningStatus,
)
from emergency.public import snapshot as publish
from tests.pages.conftest import APP
from tests.support.small_territory import WEST

TIMEOUT = 30


@pytest.fixture
def public_db(territory_db):
    """The page's database with two outages (one ETR passed, one valid) and a red warning whose
    title tries to inject HTML; the shared snapshot cache starts empty."""
    url, territory = territory_db
    now = SYSTEM_CLOCK.now()
    db = Database(url)
    with db.write() as session:
        for device, district, state, etr_at in (
            ("FU-1", "W", OutageState.ON_SITE, now - timedelta(minutes=5)),
            ("FU-3", "E", OutageState.DISPATCHED, now + timedelta(hours=2)),
        ):
            session.add(
                Outage(
                    state=state,
                    device_id=territory.device_ids[device],
                    district_id=territory.district_ids[district],
                    first_report_at=now - timedelta(hours=1),
                    customers_affected=7,
                    etr_at=etr_at,
                    etr_confidence=EtrConfidence.MEDIUM,
                    etr_set_at=now - timedelta(minutes=30),
                )
            )
        session.add(
            Warning(
                cap_identifier="w-1",
                cap_sender="test",
                hazard=Hazard.TYPHOON,
                level=WarningLevel.RED,
                title_en="Typhoon <script>alert(1)</script> & gale",
                title_zh="台风 <b>红色</b> 预警",
                area_kind="districts",
                area=WEST,
                area_districts=["W"],
                effective_at=now - timedelta(hours=1),
                expires_at=now + timedelta(hours=6),
                status=WarningStatus.ACTIVE,
                created_by="manager",
                created_at=now - timedelta(hours=1),
            )
        )
    db.dispose()
    publish.forget_cached_snapshot(get_database(url).url)
    yield url
    publish.forget_cached_snapshot(get_database(url).url)


def run_public_page() -> AppTest:
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.run()
    assert not at.exception, at.exception
    return at


def page_text(at: AppTest) -> str:
    parts = [m.value for m in at.markdown] + [c.value for c in at.caption] + [t.value for t in at.title]
    parts += [h.value for h in at.subheader] + [w.value for w in at.warning] + [s.value for s in at.success]
    parts += [f"{m.label} {m.value}" for m in at.metric]
    parts += [d.value.to_csv() for d in at.dataframe]
    return "\n".join(str(p) for p in parts)


def test_an_anonymous_visitor_sees_warnings_totals_districts_and_progress(public_db):
    at = run_public_page()

    assert at.title[0].value == "Power status"
    banner = next(m.value for m in at.markdown if 'role="alert"' in m.value)
    assert "Red typhoon warning" in banner
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; gale" in banner and "<script>" not in banner
    assert "Areas: West Town" in banner
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Customers without power"] == "14"
    assert metrics["Customers with power"] == "6.67%"
    assert metrics["Active outages"] == "2"
    assert metrics["Restored in the last 24 h"] == "0"
    table = at.dataframe[0].value.set_index("District")
    assert table.loc["West Town", "Without power"] == 7
    assert table.loc["West Town", "Estimated restoration"] == "Being reassessed"  # its ETR has passed
    assert table.loc["East Village", "Estimated restoration"] != "Being reassessed"
    assert [h.value for h in at.subheader] == ["By district", "Restoration progress"]
    assert at.get("vega_lite_chart"), "the restoration progress chart is drawn"
    assert not at.warning  # the snapshot is fresh


def test_a_snapshot_older_than_twice_the_interval_gets_a_stale_banner(public_db, monkeypatch):
    db = get_database(public_db)
    old = FakeClock(SYSTEM_CLOCK.now() - timedelta(minutes=10))
    publish.cached_public_snapshot(db, old)  # the last good build, ten minutes ago

    def unreachable(*args, **kwargs):
        raise RuntimeError("database unreachable")

    monkeypatch.setattr(publish, "build_public_snapshot", unreachable)
    at = run_public_page()

    assert any("may be out of date" in w.value for w in at.warning)
    assert {m.label: m.value for m in at.metric}["Customers without power"] == "14"


def test_a_fresh_snapshot_within_its_interval_is_not_rebuilt_for_the_next_viewer(public_db, monkeypatch):
    first = run_public_page()
    assert not first.warning
    built = publish.cached_public_snapshot(get_database(public_db), SYSTEM_CLOCK)

    def must_not_build(*args, **kwargs):
        raise AssertionError("a second viewer within the interval rebuilt the snapshot")

    monkeypatch.setattr(publish, "build_public_snapshot", must_not_build)
    second = run_public_page()
    assert {m.label: m.value for m in second.metric}["Customers without power"] == "14"
    assert publish.cached_public_snapshot(get_database(public_db), SYSTEM_CLOCK) is built


def test_the_page_in_chinese_has_every_text_translated(public_db, monkeypatch):
    monkeypatch.setenv("OUTAGE_LANG", "zh")
    at = run_public_page()

    assert at.title[0].value == "供电状态"
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["停电用户"] == "14"
    assert "近24小时恢复供电用户" in metrics
    banner = next(m.value for m in at.markdown if 'role="alert"' in m.value)
    assert "台风红色预警" in banner and "&lt;b&gt;红色&lt;/b&gt;" in banner and "范围：西镇" in banner
    table = at.dataframe[0].value.set_index("区域")
    assert table.loc["西镇", "预计恢复时间"] == "正在重新评估"
    text = page_text(at)
    for key_prefix in ("public.", "status.", "popup.", "area."):
        assert key_prefix not in text, f"an untranslated key shows: {key_prefix}"


def test_an_all_clear_territory_says_so(territory_db):
    publish.forget_cached_snapshot(get_database(territory_db[0]).url)
    at = run_public_page()
    assert any("No outages are known" in s.value for s in at.success)
    assert not [m for m in at.markdown if 'role="alert"' in m.value]
    assert not at.get("vega_lite_chart")  # no district had an outage: nothing to chart


def test_the_stale_check_uses_twice_the_interval():
    snapshot = publish.PublicSnapshot(
        generated_at=SYSTEM_CLOCK.now(),
        next_update_at=SYSTEM_CLOCK.now() + timedelta(seconds=60),
        interval_s=60,
        customers_served=0,
        customers_out=0,
        outages=0,
        crews_working=0,
        districts=[],
        areas_json='{"type":"FeatureCollection","features":[]}',
        districts_geojson={"type": "FeatureCollection", "features": []},
        small_outages_not_drawn=0,
        min_customers_shown=25,
    )
    assert not snapshot.is_stale(snapshot.generated_at + timedelta(seconds=120))
    assert snapshot.is_stale(snapshot.generated_at + timedelta(seconds=121))
    assert replace(snapshot, interval_s=300).is_stale(snapshot.generated_at + timedelta(seconds=601))


def test_without_any_snapshot_the_page_says_it_is_unavailable(public_db, monkeypatch):
    def unreachable(*args, **kwargs):
        raise RuntimeError("database unreachable")

    monkeypatch.setattr(publish, "build_public_snapshot", unreachable)
    at = run_public_page()

    assert at.title[0].value == "Power status"
    assert "try again in a minute" in at.error[0].value
    assert not at.metric
