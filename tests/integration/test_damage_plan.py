"""The storm plan reads damage assessments: an assessed outage's repair time replaces the typical one
for its device kind, and an outage whose assessment asks for more crews gets rows for them, beside
the crew already there, which ApplyStormPlan dispatches."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from emergency.core.models import AssignmentStatus, CrewAssignment
from emergency.dispatch.assessment import AssessmentInput, file_assessment
from emergency.dispatch.plan import storm_plan
from tests.integration.test_dispatch import ALICE, dispatch, outage_at, territory  # noqa: F401 (fixture)
from tests.support.app_context import SHANGHAI
from tests.support.dispatch_actions import apply_plan


def assess(database, clock, outage_id: int, repair: int, crews_needed: int = 0) -> None:
    with database.write() as session:
        file_assessment(
            session, clock, ALICE, AssessmentInput(outage_id, "tree", repair, crews_needed=crews_needed), ()
        )


def test_an_assessed_outage_is_planned_with_its_assessed_repair_time(database, clock, request) -> None:
    built = request.getfixturevalue("territory")
    homes = outage_at(database, clock, built, "TX-4")  # 5 customers, a rural transformer
    others = outage_at(database, clock, built, "TX-1")  # 3 customers, urban
    with database.read() as session:
        before = {r.outage_id: r for r in storm_plan(session, clock, SHANGHAI).rows}
    # Typical: a rural transformer 90 min x 1.3; an urban one 90 min.
    assert before[homes].repair_minutes == pytest.approx(117.0) and not before[homes].repair_assessed
    assert "5 out, 2.6 per crew-hour" in before[homes].reason
    assert "repair 117 min (typical for its kind)" in before[homes].reason

    assess(database, clock, homes, 300)
    with database.read() as session:
        after = {r.outage_id: r for r in storm_plan(session, clock, SHANGHAI).rows}
    row = after[homes]
    assert (row.repair_minutes, row.repair_assessed, row.extra_crew) == (300.0, True, False)
    assert "5 out, 1.0 per crew-hour" in row.reason and "repair 300 min (assessed)" in row.reason
    assert "抢修 300 分钟（现场勘察）" in row.reason_zh
    assert after[others].repair_minutes == pytest.approx(90.0) and not after[others].repair_assessed


def test_an_assessment_asking_for_more_crews_gets_them_from_the_plan(database, clock, request) -> None:
    built = request.getfixturevalue("territory")
    tx1 = outage_at(database, clock, built, "TX-1")
    dispatch(database, clock, built, tx1, "C1")
    with database.read() as session:
        assert storm_plan(session, clock, SHANGHAI).rows == (), "a crew is there and nobody asked for more"

    assess(database, clock, tx1, 240, crews_needed=1)
    with database.read() as session:
        plan = storm_plan(session, clock, SHANGHAI)
    (row,) = plan.rows
    assert (row.outage_id, row.crew_code, row.extra_crew) == (tx1, "C2", True)
    assert "one more crew, as its assessment asks" in row.reason

    (outcome,) = apply_plan(database, clock, ALICE, plan.rows)
    assert outcome.refused is None and outcome.dispatched is not None
    with database.read() as session:
        crews_there = session.scalars(
            select(CrewAssignment.crew_id).where(
                CrewAssignment.outage_id == tx1, CrewAssignment.status != AssignmentStatus.CANCELLED
            )
        ).all()
        assert sorted(crews_there) == sorted([built.crew_ids["C1"], built.crew_ids["C2"]])
        assert storm_plan(session, clock, SHANGHAI).rows == (), "it has the crews it asked for"
    # Applying the same row again does not send the crew twice.
    (again,) = apply_plan(database, clock, ALICE, plan.rows)
    assert again.refused is not None
