"""The reliability page through the real entry script (AppTest) on the small territory.

The system clock is fixed at 15:00 on 1 July 2026 (Shanghai). Forty earlier days each had TX-4's
5 customers out at noon, for 30 minutes on odd days and 120 on even days: daily SAIDI 10 and 40
over the 15 customers served, so T_MED = exp(ln 20 + 2.5 * (ln 4 / 2) * sqrt(40 / 39)) = 115.66.
Today BRK-1 (8 customers) is out and still out.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from streamlit.testing.v1 import AppTest

from emergency.core.clock import SystemClock
from emergency.core.db import get_database
from emergency.core.models import OutageState
from tests.integration.test_reliability import add_restored_outage
from tests.pages.conftest import APP, page
from tests.pages.test_access import log_in, texts
from tests.support.outage_records import add_outage
from tests.support.small_territory import PASSWORDS

TIMEOUT = 30
PAGE = "manager_reliability.py"
TZ = ZoneInfo("Asia/Shanghai")
NOW = datetime(2026, 7, 1, 15, 0, tzinfo=TZ).astimezone(UTC)


def history_and_today(url: str, territory, out_since_hour: int) -> None:
    with get_database(url).write() as session:
        for n in range(1, 41):
            start = datetime(2026, 7, 1, 12, 0, tzinfo=TZ) - timedelta(days=n)
            add_restored_outage(session, territory, "TX-4", start, 30 if n % 2 else 120)
        add_outage(
            session,
            territory,
            "BRK-1",
            OutageState.CONFIRMED,
            customers_affected=8,
            first_report_at=datetime(2026, 7, 1, out_since_hour, 0, tzinfo=TZ),
        )


@pytest.fixture
def fixed_now(monkeypatch) -> datetime:
    monkeypatch.setattr(SystemClock, "now", lambda self: NOW)
    return NOW


def open_page(username: str = "manager", language: str = "en") -> AppTest:
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.session_state["lang"] = language
    at.run()
    log_in(at, username, PASSWORDS[username])
    at.switch_page(page(PAGE)).run()
    assert not at.exception, at.exception
    return at


def metrics(at: AppTest) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


def test_todays_running_saidi_below_the_threshold_gives_no_warning(territory_db, fixed_now):
    url, territory = territory_db
    history_and_today(url, territory, out_since_hour=14)
    at = open_page()

    shown = metrics(at)
    assert shown["SAIDI so far today (min)"] == f"{8 * 60 / 15:.2f}"
    assert shown["Major event threshold T_MED (min/day)"] == "115.66"
    assert shown["Customers out now"] == "8"
    assert "major event day:" not in texts(at)
    overall = at.dataframe[0].value
    assert list(overall["Period (first report date)"]) == ["All days", "Without major event days"]
    # 40 days of 5 customers plus today's 8, over 15 customers served.
    assert overall["SAIFI"].iloc[0] == pytest.approx(round((40 * 5 + 8) / 15, 3))
    assert overall["Customers served"].iloc[0] == 15


def test_a_day_past_the_threshold_is_flagged_as_a_major_event_day(territory_db, fixed_now):
    url, territory = territory_db
    history_and_today(url, territory, out_since_hour=7)
    at = open_page()

    # 8 customers out for 8 hours: 256 minutes per customer served, above T_MED.
    assert metrics(at)["SAIDI so far today (min)"] == "256.00"
    assert "Today is a major event day: SAIDI so far 256.00 min is above T_MED 115.66 min." in [
        e.value for e in at.error
    ]


def test_a_day_close_to_the_threshold_gets_a_warning(territory_db, fixed_now):
    url, territory = territory_db
    history_and_today(url, territory, out_since_hour=12)
    at = open_page()

    # 8 customers out for 3 hours: 96 minutes per customer served, 83 % of T_MED.
    assert metrics(at)["SAIDI so far today (min)"] == "96.00"
    assert [w.value for w in at.warning] == [
        "Today's SAIDI is at 83% of T_MED: the day may become a major event day."
    ]
    assert not at.error


def test_the_district_filter_and_the_tables_by_district_and_feeder(territory_db, fixed_now):
    url, territory = territory_db
    history_and_today(url, territory, out_since_hour=14)
    at = open_page()
    east = territory.district_ids["E"]
    at.selectbox(key="rel-district").select(east).run()
    assert not at.exception, at.exception

    overall = at.dataframe[0].value
    assert overall["Customers served"].iloc[0] == 7
    assert overall["SAIFI"].iloc[0] == pytest.approx(round(40 * 5 / 7, 3))
    districts, feeders = at.dataframe[1].value, at.dataframe[2].value
    assert list(districts["District"]) == ["E · East Village"]
    assert list(feeders["Feeder"]) == ["BRK-2"]


def test_the_page_speaks_chinese(territory_db, fixed_now):
    url, territory = territory_db
    history_and_today(url, territory, out_since_hour=14)
    at = open_page(language="zh")
    assert at.title[0].value == "供电可靠性指标（IEEE 1366）"
    assert "今日累计 SAIDI（分钟）" in metrics(at)


def test_dispatchers_do_not_get_the_reliability_page(territory_db):
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.run()
    log_in(at, "dispatcher", PASSWORDS["dispatcher"])
    with pytest.raises(ValueError, match="Could not find a navigation page"):
        at.switch_page(page(PAGE))
