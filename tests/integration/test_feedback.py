"""Feedback and complaints on SQLite and PostgreSQL: reference, clocks started, audit, bad input, limit."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy import select

from emergency.core.actor import PUBLIC, Actor
from emergency.core.config import load_settings
from emergency.core.errors import InvalidInput, PermissionDenied
from emergency.core.models import AuditEvent, Feedback, FeedbackStatus
from emergency.core.ratelimit import RateLimited, Requester
from emergency.core.settings import set_setting
from emergency.dispatch.sla import ClockState, feedback_clocks, load_targets
from tests.support.app_calls import submit_feedback
from tests.support.small_territory import build_small_territory

REQUESTER = Requester("session-1", "10.1.1.1")


@pytest.fixture
def territory(database, clock):
    return build_small_territory(database, clock)


def test_a_complaint_gets_a_reference_and_starts_its_response_clocks(database, clock, territory):
    receipt = submit_feedback(
        database,
        clock,
        PUBLIC,
        "complaint",
        "Nobody answered the hotline for an hour.\n<b>twice</b>",
        account_no=territory.account_by_transformer["TX-1"][0],
        contact="+86 139 0000 0001",
        requester=REQUESTER,
    )
    # 2026-07-01 02:00 UTC is 10:00 in Shanghai: the date in the reference is the local one.
    assert re.fullmatch(r"FB-20260701-[2-9A-HJ-NP-Z]{4}", receipt.reference)
    deadlines = {c.code: c.deadline for c in receipt.clocks}
    # The result clock starts only when the complaint is accepted; the other two run now.
    assert deadlines == {
        "complaint_response": clock.now() + timedelta(hours=2),
        "complaint_preliminary": clock.now() + timedelta(hours=24),
    }
    with database.read() as session:
        stored = session.scalars(select(Feedback)).one()
        assert (stored.reference, stored.status, stored.submitted_at) == (
            receipt.reference,
            FeedbackStatus.OPEN,
            clock.now(),
        )
        assert stored.text.endswith("<b>twice</b>")  # stored as written; pages escape it
        assert stored.customer_id is not None
        event = session.scalars(select(AuditEvent).where(AuditEvent.action == "feedback.create")).one()
        assert (event.actor_role, event.entity_id) == ("public", str(stored.id))
        # The SLA monitor sees the same running clock.
        later = clock.now() + timedelta(hours=2, minutes=1)
        clocks = feedback_clocks(stored, load_targets(session), later, {}, _tz())
        assert {c.code: c.state for c in clocks}["complaint_response"] == ClockState.BREACHED


def _tz():
    return load_settings().timezone


def test_other_feedback_is_verified_within_three_working_days(database, clock, territory):
    receipt = submit_feedback(database, clock, PUBLIC, "suggestion", "Text alerts in English too, please.")
    (verified,) = receipt.clocks
    assert verified.code == "feedback_verified"
    # Wed 1 July 2026 -> the end of Mon 6 July (3 working days, weekend skipped), local time.
    assert verified.deadline.astimezone(_tz()).date().isoformat() == "2026-07-06"


def test_an_unknown_account_is_accepted_without_saying_so(database, clock, territory):
    receipt = submit_feedback(
        database, clock, PUBLIC, "inquiry", "When is my bill due?", account_no="12345678"
    )
    with database.read() as session:
        stored = session.scalars(select(Feedback).where(Feedback.reference == receipt.reference)).one()
    assert (stored.account_no, stored.customer_id) == ("12345678", None)


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"kind": "rant", "text": "x"}, "kind"),
        ({"kind": "praise", "text": "   "}, "text"),
        ({"kind": "praise", "text": "x" * 2001}, "text"),
        ({"kind": "praise", "text": "bell \x07"}, "text"),
        ({"kind": "praise", "text": "lone \ud800"}, "text"),
        ({"kind": "praise", "text": "ok", "contact": "call me maybe"}, "contact"),
        ({"kind": "praise", "text": "ok", "account_no": "<script>"}, "account_no"),
        ({"kind": "praise", "text": "ok", "contact_name": "a\nb"}, "contact_name"),
    ],
)
def test_bad_input_is_refused_with_its_field_and_nothing_is_stored(database, clock, territory, fields, field):
    fields = dict(fields)  # the parameter is shared by both database runs
    kind = fields.pop("kind")
    text = fields.pop("text")
    with pytest.raises(InvalidInput) as refused:
        submit_feedback(database, clock, PUBLIC, kind, text, requester=REQUESTER, **fields)
    assert refused.value.field == field
    with database.read() as session:
        assert session.scalar(select(Feedback.id)) is None


def test_feedback_is_rate_limited_per_session(database, clock, territory):
    with database.write() as session:
        set_setting(session, "public.feedback_per_hour", 2, clock)
    for _ in range(2):
        submit_feedback(database, clock, PUBLIC, "praise", "Thanks!", requester=REQUESTER)
    with pytest.raises(RateLimited):
        submit_feedback(database, clock, PUBLIC, "praise", "Thanks!", requester=REQUESTER)
    with database.read() as session:
        assert len(session.scalars(select(Feedback.id)).all()) == 2


def test_references_are_unique(database, clock, territory):
    references = {
        submit_feedback(database, clock, PUBLIC, "praise", f"Thanks {i}").reference for i in range(30)
    }
    assert len(references) == 30


def test_only_the_public_and_staff_may_submit(database, clock, territory):
    with pytest.raises(PermissionDenied):
        submit_feedback(database, clock, Actor("meter-gateway", "intake"), "praise", "Thanks!")
