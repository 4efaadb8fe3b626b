"""The complaints and feedback desk: each step in its order, and its refusals (wrong role, wrong
order, a stale version), with the audit trail; restored outages verified with the customer."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from emergency.app.bus import execute
from emergency.app.commands.reporting import RecordFeedbackStep, VerifyRestoration
from emergency.app.context import Context
from emergency.app.queries.reporting import complaints_desk
from emergency.core.actor import PUBLIC, Actor
from emergency.core.errors import Conflict, InvalidInput, PermissionDenied
from emergency.core.models import AuditEvent, Feedback, Outage, OutageState
from emergency.dispatch.sla import ClockState
from tests.support.app_calls import submit_feedback
from tests.support.small_territory import build_small_territory

SHANGHAI = ZoneInfo("Asia/Shanghai")
MANAGER = Actor("manager", "manager")
OTHER_MANAGER = Actor("mei", "manager")
DISPATCHER = Actor("dispatcher", "dispatcher")


def record_step(database, clock, actor: Actor, feedback_id: int, step: str, version: int, **details):
    return execute(
        Context(database, clock, actor, SHANGHAI), RecordFeedbackStep(feedback_id, step, version, **details)
    )


def verify_restoration(database, clock, actor: Actor, outage_id: int, version: int, **details) -> int:
    return execute(
        Context(database, clock, actor, SHANGHAI), VerifyRestoration(outage_id, version, **details)
    )


def list_feedback(database, clock, actor: Actor = MANAGER, **filters) -> list:
    return list(complaints_desk(Context(database, clock, actor, SHANGHAI), **filters).items)


def pending_verifications(database, clock, actor: Actor = MANAGER) -> list:
    return list(complaints_desk(Context(database, clock, actor, SHANGHAI)).pending)


def submit(database, clock, kind: str = "complaint", text: str = "No power for two days") -> Feedback:
    receipt = submit_feedback(database, clock, PUBLIC, kind, text, contact="13900000001")
    with database.read() as session:
        item = session.scalar(select(Feedback).where(Feedback.reference == receipt.reference))
        session.expunge(item)
    return item


def stored(database, feedback_id: int) -> Feedback:
    with database.read() as session:
        item = session.get(Feedback, feedback_id)
        session.expunge(item)
    return item


def audits(database, entity: str, entity_id: int) -> list[AuditEvent]:
    with database.read() as session:
        events = list(
            session.scalars(
                select(AuditEvent)
                .where(AuditEvent.entity == entity, AuditEvent.entity_id == str(entity_id))
                .order_by(AuditEvent.id)
            )
        )
        session.expunge_all()
    return events


def test_a_complaint_goes_through_its_steps_and_each_is_audited(database, clock):
    item = submit(database, clock)
    version = item.version
    for step, minutes, status in (
        ("accept", 5, "in_progress"),
        ("respond", 60, "responded"),
        ("preliminary", 600, "in_progress"),
        ("result", 1440, "resolved"),
    ):
        clock.advance(minutes=minutes)
        desk = record_step(database, clock, MANAGER, item.id, step, version, note=f"{step} done")
        assert (desk.status, desk.handled_by) == (status, "manager")
        version = desk.version
    clock.advance(hours=1)
    closed = record_step(database, clock, MANAGER, item.id, "close", version, satisfaction=4)
    assert (closed.status, closed.satisfaction, closed.next_step) == ("closed", 4, None)
    row = stored(database, item.id)
    start = item.submitted_at
    assert (row.accepted_at, row.responded_at, row.preliminary_at, row.result_at) == (
        start + timedelta(minutes=5),
        start + timedelta(minutes=65),
        start + timedelta(minutes=665),
        start + timedelta(minutes=2105),
    )
    # Response within 2 h, preliminary solution within 24 h, result within 3 working days: all met.
    assert {c.code: c.state for c in closed.clocks} == {
        "complaint_response": ClockState.MET,
        "complaint_preliminary": ClockState.MET,
        "complaint_result": ClockState.MET,
    }
    events = audits(database, "feedback", item.id)
    assert [e.action for e in events] == [
        "feedback.create",
        "feedback.accept",
        "feedback.respond",
        "feedback.preliminary",
        "feedback.result",
        "feedback.close",
    ]
    accept = events[1]
    assert (accept.actor, accept.before["status"], accept.after["status"], accept.detail) == (
        "manager",
        "open",
        "in_progress",
        "accept done",
    )
    assert accept.before["accepted_at"] is None and accept.after["accepted_at"] is not None
    assert (events[-1].before["satisfaction"], events[-1].after["satisfaction"]) == (None, 4)


def test_feedback_is_verified_before_it_is_answered_and_has_no_preliminary_step(database, clock):
    item = submit(database, clock, kind="suggestion", text="Publish ETRs by SMS")
    accepted = record_step(database, clock, MANAGER, item.id, "accept", item.version)
    assert accepted.next_step == "verify"
    with pytest.raises(
        InvalidInput, match="no 'preliminary' step; its steps are accept, verify, respond, close"
    ):
        record_step(database, clock, MANAGER, item.id, "preliminary", accepted.version)
    verified = record_step(database, clock, MANAGER, item.id, "verify", accepted.version)
    assert verified.status == "verified"
    assert [(c.code, c.state) for c in verified.clocks] == [("feedback_verified", ClockState.MET)]


def test_refusals_change_nothing(database, clock):
    item = submit(database, clock)
    with pytest.raises(PermissionDenied):
        record_step(database, clock, DISPATCHER, item.id, "accept", item.version)
    with pytest.raises(Conflict, match="record 'accept' before 'respond'"):
        record_step(database, clock, MANAGER, item.id, "respond", item.version)
    with pytest.raises(InvalidInput, match="satisfaction"):
        record_step(database, clock, MANAGER, item.id, "accept", item.version, satisfaction=5)
    with pytest.raises(InvalidInput, match="step"):
        record_step(database, clock, MANAGER, item.id, "escalate", item.version)
    assert stored(database, item.id).version == item.version
    assert [e.action for e in audits(database, "feedback", item.id)] == ["feedback.create"]

    accepted = record_step(database, clock, MANAGER, item.id, "accept", item.version)
    with pytest.raises(Conflict, match="'accept' is already recorded; the next step is 'respond'"):
        record_step(database, clock, MANAGER, item.id, "accept", accepted.version)
    # A second manager still looking at the version before the acceptance.
    with pytest.raises(Conflict, match=r"was just changed \(feedback.accept by manager\); reload"):
        record_step(database, clock, OTHER_MANAGER, item.id, "respond", item.version)
    with pytest.raises(InvalidInput, match="from 1"):
        for step in ("respond", "preliminary", "result"):
            accepted = record_step(database, clock, MANAGER, item.id, step, accepted.version)
        record_step(database, clock, MANAGER, item.id, "close", accepted.version, satisfaction=6)
    closed = record_step(database, clock, MANAGER, item.id, "close", accepted.version)
    assert closed.satisfaction is None  # the customer could not be reached
    with pytest.raises(Conflict, match="already closed"):
        record_step(database, clock, MANAGER, item.id, "close", closed.version)


def test_the_desk_filters_by_kind_status_and_breach_and_lists_the_most_urgent_first(database, clock):
    late = submit(database, clock, text="first")
    clock.advance(hours=1)
    praise = submit(database, clock, kind="praise", text="Quick repair, thank you")
    clock.advance(hours=1, minutes=30)  # the first complaint's 2-hour response is now overdue
    fresh = submit(database, clock, text="second")
    record_step(database, clock, MANAGER, fresh.id, "accept", fresh.version)
    everything = list_feedback(database, clock)
    complaints = list_feedback(database, clock, kinds=["complaint"])
    in_progress = list_feedback(database, clock, statuses=["in_progress"])
    breached = list_feedback(database, clock, breached_only=True)
    with pytest.raises(PermissionDenied):
        list_feedback(database, clock, DISPATCHER)
    with pytest.raises(InvalidInput, match="kind"):
        list_feedback(database, clock, kinds=["rant"])
    assert [i.id for i in everything] == [late.id, fresh.id, praise.id]
    overdue = everything[0].urgent
    assert (overdue.code, overdue.state, overdue.remaining) == (
        "complaint_response",
        ClockState.BREACHED,
        -timedelta(minutes=30),
    )
    assert {i.id for i in complaints} == {late.id, fresh.id}
    assert [i.id for i in in_progress] == [fresh.id]
    assert [i.id for i in breached] == [late.id]


def test_a_restored_outage_waits_for_the_customers_confirmation_then_closes(database, clock):
    territory = build_small_territory(database, clock)
    restored_at = clock.now() - timedelta(hours=2)
    with database.write() as session:
        rows = [
            Outage(
                state=state,
                device_id=territory.device_ids[device],
                district_id=territory.district_ids["W"],
                first_report_at=restored_at - timedelta(hours=3),
                restored_at=restored_at if state != OutageState.ON_SITE else None,
                closed_at=clock.now() if state == OutageState.CLOSED else None,
                customers_affected=customers,
            )
            for state, device, customers in (
                (OutageState.RESTORED, "FU-1", 7),
                (OutageState.ON_SITE, "FU-2", 1),
                (OutageState.CLOSED, "TX-4", 5),
            )
        ]
        session.add_all(rows)
        session.flush()
        # The closed one was closed by a dispatcher, which counts as verified: it is never listed.
        restored, active, _ = (r.id for r in rows)
    (pending,) = pending_verifications(database, clock)
    with pytest.raises(PermissionDenied):
        pending_verifications(database, clock, DISPATCHER)
    assert (pending.outage_id, pending.device_code, pending.customers_affected) == (restored, "FU-1", 7)
    assert pending.clock.state == ClockState.ON_TRACK
    # Restored Wednesday 1 July 08:00 local: due by the end of Monday 6 July (3 working days).
    assert pending.clock.deadline == datetime(2026, 7, 6, 23, 59, 59, tzinfo=SHANGHAI).astimezone(UTC)

    with pytest.raises(PermissionDenied):
        verify_restoration(database, clock, DISPATCHER, restored, pending.version)
    with pytest.raises(Conflict, match="only a restored outage"):
        verify_restoration(database, clock, MANAGER, active, 1)
    with pytest.raises(Conflict, match="reload"):
        verify_restoration(database, clock, MANAGER, restored, pending.version + 1)
    clock.advance(hours=20)
    verify_restoration(database, clock, MANAGER, restored, pending.version, note="Called Mr Li: power is on")
    with database.read() as session:
        outage = session.get(Outage, restored)
        assert (outage.state, outage.verified_at, outage.closed_at) == (
            OutageState.CLOSED,
            clock.now(),
            clock.now(),
        )
    assert pending_verifications(database, clock) == []
    event = audits(database, "outage", restored)[-1]
    assert (event.action, event.before["state"], event.after["state"], event.detail) == (
        "outage.verify",
        "restored",
        "closed",
        "Called Mr Li: power is on",
    )
