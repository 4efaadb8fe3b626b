"""The complaints desk page through the real entry script (AppTest): the list with clocks and
filters, recording the next step, a stale edit refused, and a restored outage verified."""

from __future__ import annotations

import re
from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select
from streamlit.testing.v1 import AppTest

from emergency.app.bus import execute
from emergency.app.commands.reporting import RecordFeedbackStep
from emergency.app.context import Context
from emergency.core.actor import PUBLIC, Actor
from emergency.core.clock import SYSTEM_CLOCK
from emergency.core.db import get_database
from emergency.core.models import Feedback, Outage, OutageState
from tests.pages.conftest import APP, page
from tests.pages.test_access import log_in
from tests.support.app_calls import submit_feedback
from tests.support.small_territory import PASSWORDS

TIMEOUT = 30
PAGE = "manager_complaints.py"
NASTY = "Crew was rude <script>alert(1)</script> **loud**"


def open_desk() -> AppTest:
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.run()
    log_in(at, "manager", PASSWORDS["manager"])
    at.switch_page(page(PAGE)).run()
    assert not at.exception, at.exception
    return at


@pytest.fixture
def desk(territory_db):
    url, territory = territory_db
    db = get_database(url)
    complaint = submit_feedback(db, SYSTEM_CLOCK, PUBLIC, "complaint", NASTY, contact="13900000001").reference
    submit_feedback(db, SYSTEM_CLOCK, PUBLIC, "praise", "Thank you for the quick repair")
    now = SYSTEM_CLOCK.now()
    with db.write() as session:
        outage = Outage(
            state=OutageState.RESTORED,
            device_id=territory.device_ids["FU-3"],
            district_id=territory.district_ids["E"],
            first_report_at=now - timedelta(hours=5),
            restored_at=now - timedelta(hours=1),
            customers_affected=7,
            customers_restored=7,
        )
        session.add(outage)
        session.flush()
        outage_id = outage.id
        complaint_id = session.scalar(select(Feedback.id).where(Feedback.reference == complaint))
    return db, complaint, complaint_id, outage_id


def test_dispatchers_are_not_offered_the_desk(territory_db):
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.run()
    log_in(at, "dispatcher", PASSWORDS["dispatcher"])
    with pytest.raises(ValueError, match="Could not find a navigation page"):
        at.switch_page(page(PAGE))


def test_the_desk_lists_items_with_their_clocks_and_records_the_next_step(desk):
    db, reference, complaint_id, _ = desk
    at = open_desk()
    frame = at.dataframe[0].value
    assert list(frame["Kind"]) == ["Complaint", "Praise"]  # the 2-hour response first
    row = frame.iloc[0]
    assert (row["Reference"], row["Status"], row["Next step"], row["Most urgent clock"]) == (
        reference,
        "open",
        "accept",
        "Complaint: response",
    )
    assert re.fullmatch(r"1 h \d+ min left|2 h left", row["Time left"])  # of the 2 hours, whatever the load
    at.multiselect(key="desk-f-kind").set_value(["praise"]).run()
    assert list(at.dataframe[0].value["Kind"]) == ["Praise"]
    at.multiselect(key="desk-f-kind").set_value([]).run()

    at.selectbox(key="desk-pick").set_value(complaint_id).run()
    assert at.text[0].value == NASTY  # shown as plain text, never rendered as HTML or Markdown
    at.text_area(key="desk-note-0").input("Logged; crew supervisor informed")
    next(b for b in at.button if b.label == "Record: accept").click().run()
    assert not at.exception, at.exception
    assert at.success[0].value == f"{reference}: accept recorded."
    assert at.text_area(key="desk-note-1").value == ""  # a recorded step starts the next note afresh
    with db.read() as session:
        stored = session.get(Feedback, complaint_id)
        assert (stored.status, stored.handled_by, stored.accepted_at is not None) == (
            "in_progress",
            "manager",
            True,
        )


def test_a_step_on_a_stale_view_is_refused_with_who_changed_it(desk):
    db, _, complaint_id, _ = desk
    at = open_desk()
    at.selectbox(key="desk-pick").set_value(complaint_id).run()
    colleague = Context(db, SYSTEM_CLOCK, Actor("mei", "manager"), ZoneInfo("Asia/Shanghai"))
    execute(colleague, RecordFeedbackStep(complaint_id, "accept", 1))
    at.text_area(key="desk-note-0").input("Called the customer back twice, no answer")
    next(b for b in at.button if b.label == "Record: accept").click().run()
    # The message is Markdown with the service's text escaped; read it as a person would.
    assert "was just changed (feedback.accept by mei); reload" in at.error[0].value.replace("\\", "")
    # What the manager typed is still there to record again once they have reloaded.
    assert at.text_area(key="desk-note-0").value == "Called the customer back twice, no answer"


def test_a_restored_outage_is_verified_from_the_desk(desk):
    db, _, _, outage_id = desk
    at = open_desk()
    waiting = at.dataframe[1].value
    assert (waiting["Outage"].iloc[0], waiting["Device"].iloc[0], waiting["Customers"].iloc[0]) == (
        outage_id,
        "FU-3",
        7,
    )
    at.text_input(key="desk-verify-note-0").input("Called back: power on")
    next(b for b in at.button if b.label == "Customer confirmed power is back").click().run()
    assert at.success[0].value == f"Outage {outage_id} verified and closed."
    assert any("No restored outage is waiting" in i.value for i in at.info)
    with db.read() as session:
        assert session.get(Outage, outage_id).state == OutageState.CLOSED


def test_the_list_previews_each_text_and_opening_an_item_shows_all_of_it(desk):
    """The list gave no hint of what a complaint was about until each was opened."""
    db, _, _, _ = desk
    long_text = (
        "The power has been off since Tuesday night.\nWe called 95598 three times " + "and waited " * 30
    )
    reference = submit_feedback(db, SYSTEM_CLOCK, PUBLIC, "complaint", long_text).reference
    chinese = submit_feedback(
        db, SYSTEM_CLOCK, PUBLIC, "complaint", "停电已经超过十个小时了，" * 10
    ).reference
    at = open_desk()
    frame = at.dataframe[0].value
    shown = dict(zip(frame["Reference"], frame["What they wrote"], strict=True))
    assert shown[reference] == (
        "The power has been off since Tuesday night. We called 95598 three times and wai…"
    )
    assert len(shown[reference]) == 80
    # A Chinese character takes two columns: half as many of them fill the same cell.
    assert shown[chinese] == ("停电已经超过十个小时了，" * 4)[:39] + "…"
    assert "Thank you for the quick repair" in shown.values()  # a short text whole
    with db.read() as session:
        item_id = session.scalar(select(Feedback.id).where(Feedback.reference == reference))
    at.selectbox(key="desk-pick").set_value(item_id).run()
    assert at.text[0].value == long_text.strip()
