"""Working-day clocks on the desk across National Day 2026 (Golden Week, 1-7 October off; Saturday
10 October a moved working day), on SQLite and PostgreSQL.

    Wed 30 Sep  working      Thu 1 - Wed 7 Oct  off      Thu 8, Fri 9  working
    Sat 10 Oct  working (调休)   Sun 11  off   Mon 12, Tue 13  working

A Monday-to-Friday rule would count Thu 1, Fri 2 and Mon 5 October and be wrong by a week.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select

from emergency.app.bus import execute
from emergency.app.commands.reporting import RecordFeedbackStep
from emergency.app.context import Context
from emergency.app.queries.reporting import complaints_desk
from emergency.core.actor import PUBLIC, Actor
from emergency.core.clock import FakeClock
from emergency.core.models import CalendarDay, Feedback, Outage, OutageState
from emergency.dispatch.sla import ClockState
from tests.support.app_calls import submit_feedback
from tests.support.small_territory import build_small_territory

SHANGHAI = ZoneInfo("Asia/Shanghai")
MANAGER = Actor("manager", "manager")


def at(month: int, day: int, hour: int, minute: int = 0, second: int = 0) -> datetime:
    return datetime(2026, month, day, hour, minute, second, tzinfo=SHANGHAI).astimezone(UTC)


def desk(database, clock: FakeClock):
    return complaints_desk(Context(database, clock, MANAGER, SHANGHAI))


def record_step(database, clock: FakeClock, actor: Actor, feedback_id: int, step: str, version: int):
    return execute(Context(database, clock, actor, SHANGHAI), RecordFeedbackStep(feedback_id, step, version))


def clocks_of(database, clock: FakeClock, reference: str) -> dict[str, object]:
    (item,) = [i for i in desk(database, clock).items if i.reference == reference]
    return {c.code: c for c in item.clocks}


def test_a_complaint_accepted_before_golden_week_is_due_on_the_make_up_saturday(database):
    clock = FakeClock(at(9, 30, 15))
    receipt = submit_feedback(database, clock, PUBLIC, "complaint", "Meter replaced without notice")
    with database.read() as session:
        item = session.scalar(select(Feedback).where(Feedback.reference == receipt.reference))
        item_id, version = item.id, item.version
    accepted = record_step(database, clock, MANAGER, item_id, "accept", version)

    clock.set(at(10, 10, 23, 59, 59))  # the end of the third working day: still on time
    result = clocks_of(database, clock, receipt.reference)["complaint_result"]
    assert result.deadline == at(10, 10, 23, 59, 59)
    assert result.state == ClockState.AT_RISK
    clock.set(at(10, 11, 0, 0, 0))
    assert clocks_of(database, clock, receipt.reference)["complaint_result"].state == ClockState.BREACHED

    for step in ("respond", "preliminary"):
        accepted = record_step(database, clock, MANAGER, item_id, step, accepted.version)
    clock.set(at(10, 12, 9))
    done = record_step(database, clock, MANAGER, item_id, "result", accepted.version)
    missed = {c.code: c for c in done.clocks}["complaint_result"]
    assert (missed.state, missed.remaining) == (ClockState.MISSED, -timedelta(hours=33, seconds=1))


def test_feedback_and_a_restored_outage_count_the_saturday_and_follow_the_utilitys_override(database, clock):
    territory = build_small_territory(database, clock)
    clock.set(at(10, 9, 16))  # Friday 9 October
    receipt = submit_feedback(database, clock, PUBLIC, "suggestion", "Text me when power is back")
    with database.write() as session:
        session.add(
            Outage(
                state=OutageState.RESTORED,
                device_id=territory.device_ids["FU-1"],
                district_id=territory.district_ids["W"],
                first_report_at=clock.now() - timedelta(hours=4),
                restored_at=clock.now(),
                customers_affected=7,
            )
        )
    # Sat 10 (1), Mon 12 (2), Tue 13 (3).
    assert clocks_of(database, clock, receipt.reference)["feedback_verified"].deadline == at(
        10, 13, 23, 59, 59
    )
    (pending,) = desk(database, clock).pending
    assert pending.clock.deadline == at(10, 13, 23, 59, 59)

    # The utility learns that Saturday is not worked locally: every deadline moves a day.
    with database.write() as session:
        session.add(CalendarDay(day="2026-10-10", working=False, note="local decision"))
    assert clocks_of(database, clock, receipt.reference)["feedback_verified"].deadline == at(
        10, 14, 23, 59, 59
    )
    clock.set(at(10, 14, 12))
    (pending,) = desk(database, clock).pending
    assert (pending.clock.deadline, pending.clock.state) == (at(10, 14, 23, 59, 59), ClockState.ON_TRACK)
