"""Check my outage says since when the crew is on site, in local time (issue #16, point 3): the
crew's arrival, not the outage's start, which is said on its own line."""

from __future__ import annotations

from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from emergency.core.clock import SYSTEM_CLOCK
from emergency.core.db import Database
from emergency.core.models import Customer, Outage, OutageState
from tests.pages.test_public_forms import open_page, submit, texts

# Half an hour off UTC and off Shanghai: a time shown in either of those would not match.
KOLKATA = ZoneInfo("Asia/Kolkata")
WORDS = {
    "en": ("Crew on site (since {since})", "The outage began at {began}."),
    "zh": ("抢修队伍已到场（自 {since} 起）", "本次停电开始于 {began}。"),
}


@pytest.mark.parametrize("language", ["en", "zh"])
def test_crew_on_site_since_the_crews_arrival_in_local_time(territory_db, monkeypatch, language):
    url, built = territory_db
    monkeypatch.setenv("OUTAGE_TZ", "Asia/Kolkata")
    monkeypatch.setenv("OUTAGE_LANG", language)
    now = SYSTEM_CLOCK.now().replace(microsecond=0)
    began, arrived = now - timedelta(minutes=95), now - timedelta(minutes=20)
    account = built.account_by_transformer["TX-4"][0]
    db = Database(url)
    try:
        with db.write() as session:
            session.add(
                Outage(
                    state=OutageState.ON_SITE,
                    device_id=built.device_ids["TX-4"],
                    district_id=built.district_ids["E"],
                    first_report_at=began,
                    confirmed_at=began + timedelta(minutes=5),
                    dispatched_at=began + timedelta(minutes=8),
                    on_site_at=arrived,
                    customers_affected=5,
                    important_affected={},
                )
            )
        with db.read() as session:
            phone = session.scalar(select(Customer.phone).where(Customer.account_no == account))
    finally:
        db.dispose()

    at = open_page("public_check.py")
    at.text_input(key="check_account").input(account)
    at.text_input(key="check_last4").input(phone[-4:])
    shown = texts(submit(at))
    status_words, began_words = WORDS[language]
    local = "%Y-%m-%d %H:%M"
    assert status_words.format(since=arrived.astimezone(KOLKATA).strftime(local)) in shown
    assert began_words.format(began=began.astimezone(KOLKATA).strftime(local)) in shown
