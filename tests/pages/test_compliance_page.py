"""The SLA compliance page through the real entry script (AppTest), on hand-made outages of the
last days: one dispatched in time, one late with crews idle (dispatcher delay), one late to site
after a timely dispatch (travel), restored in a step and then whole, with ETRs."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

import pytest
from streamlit.testing.v1 import AppTest

from dashboard.i18n import local_time
from emergency.core.clock import SYSTEM_CLOCK
from emergency.core.db import get_database
from emergency.core.models import EtrChange, EtrConfidence, EtrSource, OutageState, RestorationStep
from tests.pages.conftest import APP, page
from tests.pages.test_access import log_in, texts
from tests.support.outage_records import add_outage, assign
from tests.support.small_territory import PASSWORDS

TIMEOUT = 30
PAGE = "manager_compliance.py"


@pytest.fixture
def outages(territory_db) -> datetime:
    """Three outages two days ago; returns the first one's first report."""
    url, territory = territory_db
    day = (SYSTEM_CLOCK.now() - timedelta(days=2)).replace(hour=2, minute=0, second=0, microsecond=0)
    c1 = territory.crew_ids["C1"]
    restored = OutageState.RESTORED
    with get_database(url).write() as session:
        on_time = add_outage(
            session,
            territory,
            "TX-1",
            restored,
            customers_affected=7,
            first_report_at=day,
            dispatched_at=day + timedelta(minutes=8),
            on_site_at=day + timedelta(minutes=20),
            restored_at=day + timedelta(hours=2),
        )
        assign(session, on_time, c1, day + timedelta(minutes=8), completed_at=day + timedelta(hours=2))
        session.add(RestorationStep(outage_id=on_time.id, at=day + timedelta(hours=1), customers_restored=3))
        session.add(RestorationStep(outage_id=on_time.id, at=day + timedelta(hours=2), customers_restored=4))
        session.add(
            EtrChange(
                outage_id=on_time.id,
                etr_at=day + timedelta(hours=3),
                source=EtrSource.CREW,
                confidence=EtrConfidence.HIGH,
                set_at=day + timedelta(minutes=25),
                set_by="dispatcher",
            )
        )
        later = day + timedelta(hours=4)
        late = add_outage(
            session,
            territory,
            "TX-2",
            restored,
            first_report_at=later,
            dispatched_at=later + timedelta(minutes=12),
            on_site_at=later + timedelta(minutes=25),
            restored_at=later + timedelta(hours=1),
        )
        assign(session, late, c1, later + timedelta(minutes=12), completed_at=later + timedelta(hours=1))
        far = add_outage(
            session,
            territory,
            "TX-4",
            restored,
            first_report_at=later,
            dispatched_at=later + timedelta(minutes=5),
            on_site_at=later + timedelta(minutes=50),
            restored_at=later + timedelta(hours=2),
        )
        assign(
            session,
            far,
            territory.crew_ids["C2"],
            later + timedelta(minutes=5),
            completed_at=later + timedelta(hours=2),
        )
    return day


def layer_rules(spec: dict) -> list[float]:
    """Where a chart's rules stand: the limit lines."""
    return [
        layer["encoding"]["x"]["datum"] for layer in spec.get("layer", []) if layer["mark"]["type"] == "rule"
    ]


def open_page(language: str = "en") -> AppTest:
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.session_state["lang"] = language
    at.run()
    log_in(at, "manager", PASSWORDS["manager"])
    at.switch_page(page(PAGE)).run()
    assert not at.exception, at.exception
    return at


def test_dispatchers_are_not_offered_the_page(territory_db):
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.run()
    log_in(at, "dispatcher", PASSWORDS["dispatcher"])
    with pytest.raises(ValueError, match="Could not find a navigation page"):
        at.switch_page(page(PAGE))


def test_the_figures_breaches_and_etr_accuracy_of_the_last_month(outages):
    at = open_page()
    assert at.title[0].value == "SLA compliance and restoration"
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Outages"] == "3"
    assert metrics["Dispatched within 10 min"] == "66.7%"
    assert metrics["On site within 30 min"] == "66.7%"
    assert metrics["Clocks missed"] == "2"
    assert metrics["Dispatcher delay"] == "1" and metrics["Travel"] == "1" and metrics["No crew free"] == "0"
    assert metrics["Restored by the last ETR"] == "100.0%"
    clocks, by_source, breaches = (frame.value for frame in at.dataframe[:3])
    assert clocks.set_index("Clock").loc["Crew dispatched", "Met"] == 1 + 1
    assert sorted(breaches["Cause"]) == ["Dispatcher delay", "Travel"]
    # Arrivals recorded before sources were kept, by source; the rows add up to the clock's outages.
    sources = by_source.set_index("Recorded by")
    assert list(sources.index) == ["GPS", "Crew", "Dispatcher", "Unknown", "Not arrived"]
    assert sources.loc["Unknown", "Outages"] == 3 and sources["Outages"].sum() == 3
    assert sources.loc["Unknown", "Met"] == 2 and sources.loc["GPS", "Outages"] == 0
    charts = [json.loads(chart.proto.spec) for chart in at.get("vega_lite_chart")]
    assert len(charts) == 4, "two histograms, the curve, the ETR errors"
    assert [layer_rules(chart) for chart in charts] == [[10], [30], [], [0]], "each limit drawn as a rule"
    # The 7 customers of the first outage, before its first step; shown in the utility's time.
    first_report = local_time(outages, fmt="%Y-%m-%d %H:%M:%S")
    assert f"Peak: 7 customers out at {first_report}." in texts(at)


def test_filters_narrow_the_figures(outages):
    at = open_page()
    next(s for s in at.selectbox if s.key == "cmp-area").set_value("rural").run()
    assert not at.exception, at.exception
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Outages"] == "1" and metrics["On site within 30 min"] == "0.0%"


def test_in_chinese_and_with_nothing_to_show(territory_db):
    at = open_page("zh")
    assert at.title[0].value == "服务时限达标与复电情况"
    assert "该期间内没有符合筛选条件的停电事件。" in texts(at)
