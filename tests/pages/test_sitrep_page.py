"""The situation report page through the real entry script (AppTest): figures, preview, downloads,
a refused event start, and who may open it."""

from __future__ import annotations

from datetime import timedelta

import pytest
from streamlit.testing.v1 import AppTest

from emergency.core.clock import SYSTEM_CLOCK
from emergency.core.db import get_database
from emergency.core.models import Customer, Outage, OutageState, RestorationStep
from tests.pages.conftest import APP, page
from tests.pages.test_access import log_in
from tests.support.small_territory import PASSWORDS

TIMEOUT = 30
PAGE = "manager_sitrep.py"


def open_page(role: str = "manager") -> AppTest:
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.run()
    log_in(at, role, PASSWORDS[role])
    at.switch_page(page(PAGE)).run()
    assert not at.exception, at.exception
    return at


@pytest.fixture
def storm(territory_db):
    """Two outages in the West: 7 customers on FU-1 since 3 h ago, 3 of them back an hour ago, and
    the hospital on FU-2 since 2 h ago."""
    url, territory = territory_db
    now = SYSTEM_CLOCK.now()
    with get_database(url).write() as session:
        hospital = session.query(Customer).filter(Customer.name.like("West Hospital%")).one()
        hospital.name = "West Hospital [ward](javascript:alert(1))"
        fuse = Outage(
            state=OutageState.ON_SITE,
            device_id=territory.device_ids["FU-1"],
            district_id=territory.district_ids["W"],
            first_report_at=now - timedelta(hours=3),
            customers_affected=7,
            customers_restored=3,
        )
        session.add_all(
            [
                fuse,
                Outage(
                    state=OutageState.CONFIRMED,
                    device_id=territory.device_ids["FU-2"],
                    district_id=territory.district_ids["W"],
                    first_report_at=now - timedelta(hours=2),
                    customers_affected=1,
                ),
            ]
        )
        session.flush()
        session.add(
            RestorationStep(
                outage_id=fuse.id,
                at=now - timedelta(hours=1),
                customers_restored=3,
                device_id=territory.device_ids["TX-1"],
            )
        )
    return url


def test_dispatchers_are_not_offered_the_report(territory_db):
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.run()
    log_in(at, "dispatcher", PASSWORDS["dispatcher"])
    with pytest.raises(ValueError, match="Could not find a navigation page"):
        at.switch_page(page(PAGE))


def test_a_quick_report_shows_the_event_and_offers_both_downloads(storm):
    at = open_page()
    assert at.title[0].value == "Situation report"
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Customers out now"] == "5"
    assert metrics["Peak customers out"] == "8"
    assert metrics["Restored"] == "37.5%"  # 3 of the 8 cut off
    assert metrics["Outages active"] == "2"
    assert metrics["Important users out"] == "1"
    preview = "\n".join(m.value for m in at.markdown)
    assert "| Customers out now | 5 |" in preview
    assert r"West Hospital \[ward\]\(javascript:alert\(1\)\)" in preview
    labels = [b.label for b in at.get("download_button")]
    assert labels == ["Download Markdown", "Download spreadsheet (.xlsx)"]

    at.selectbox(key="sitrep-language-en").set_value("zh").run()
    assert "| 当前停电用户数 | 5 |" in "\n".join(m.value for m in at.markdown)


def test_an_update_before_the_event_began_is_refused_with_the_reason(storm):
    at = open_page("admin")
    at.date_input(key="sitrep-start-day").set_value(SYSTEM_CLOCK.now().date() + timedelta(days=2))
    at.radio(key="sitrep-kind").set_value("morning").run()
    assert not at.exception, at.exception
    assert "the event starts after this report's time" in at.error[0].value
    assert not at.get("download_button")
