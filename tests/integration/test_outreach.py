"""The outreach list of important users in a warning's area, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from emergency.core.actor import Actor
from emergency.core.errors import Conflict, InvalidInput, PermissionDenied
from emergency.core.models import AuditEvent, Customer, CustomerKind, ImportanceGrade
from emergency.core.models import Warning as WarningRow
from emergency.warnings.area import DistrictsArea
from emergency.warnings.lifecycle import WarningInput, create_warning, issue_warning, update_warning
from emergency.warnings.outreach import acknowledge, complete, escalate, outreach_list
from tests.support.small_territory import build_small_territory

MANAGER = Actor("meng", "manager")


@pytest.fixture
def listed(database, clock):
    """A red warning over both districts, with a life-support customer added in the east."""
    territory = build_small_territory(database, clock)
    with database.write() as session:
        home = session.scalar(
            select(Customer).where(Customer.account_no == territory.account_by_transformer["TX-5"][0])
        )
        home.kind = CustomerKind.LIFE_SUPPORT
        home.backup_hours = 2
    warning_id = create_warning(
        database,
        clock,
        MANAGER,
        WarningInput(
            "typhoon",
            "red",
            1,
            "Typhoon",
            "台风",
            "",
            "",
            DistrictsArea(("W", "E")),
            clock.now(),
            clock.now() + timedelta(hours=24),
        ),
    )
    issue_warning(database, clock, MANAGER, warning_id, expected_version=1)
    return warning_id


def lines(database, warning_id):
    with database.read() as session:
        return outreach_list(session, warning_id)


def test_the_list_holds_important_and_life_support_users_most_critical_first(database, listed):
    found = lines(database, listed)
    assert [(line.name, line.grade, line.backup_hours) for line in found] == [
        ("West Hospital 西镇医院", "grade1", 8),
        ("Customer 14", "life_support", 2),
    ]
    assert all((line.step, line.status) == ("message", "pending") for line in found)


def test_a_task_climbs_the_ladder_then_is_acknowledged_and_done(database, clock, listed):
    hospital = lines(database, listed)[0]
    clock.advance(minutes=30)
    assert escalate(database, clock, MANAGER, hospital.task_id, expected_version=hospital.version) == "call"
    line = lines(database, listed)[0]
    assert (
        escalate(database, clock, MANAGER, line.task_id, expected_version=line.version, note="no answer")
        == "visit"
    )
    line = lines(database, listed)[0]
    with pytest.raises(Conflict, match="last step"):
        escalate(database, clock, MANAGER, line.task_id, expected_version=line.version)
    with pytest.raises(Conflict, match="must be acknowledged first"):
        complete(database, clock, MANAGER, line.task_id, expected_version=line.version)
    acknowledge(
        database, clock, MANAGER, line.task_id, "Dr Wang, duty director", expected_version=line.version
    )
    line = next(x for x in lines(database, listed) if x.task_id == hospital.task_id)
    assert (line.status, line.acknowledged_by, line.updated_by) == (
        "acknowledged",
        "Dr Wang, duty director",
        "meng",
    )
    assert line.acknowledged_at == clock.now()
    assert line.note == "no answer"
    complete(database, clock, MANAGER, line.task_id, expected_version=line.version, note="generator tested")
    done = next(x for x in lines(database, listed) if x.task_id == hospital.task_id)
    assert done.status == "done"
    # Done tasks sink below open ones.
    assert lines(database, listed)[-1].task_id == hospital.task_id
    with database.read() as session:
        actions = session.scalars(
            select(AuditEvent.action).where(AuditEvent.entity == "outreach_task").order_by(AuditEvent.id)
        ).all()
    assert actions == ["outreach.escalate", "outreach.escalate", "outreach.acknowledge", "outreach.done"]


def test_stale_versions_empty_names_and_dispatchers_are_refused(database, clock, listed):
    line = lines(database, listed)[0]
    escalate(database, clock, MANAGER, line.task_id, expected_version=line.version)
    with pytest.raises(Conflict, match="changed by meng first"):
        escalate(database, clock, MANAGER, line.task_id, expected_version=line.version)
    fresh = lines(database, listed)[0]
    with pytest.raises(InvalidInput, match="who acknowledged"):
        acknowledge(database, clock, MANAGER, fresh.task_id, "  ", expected_version=fresh.version)
    with pytest.raises(PermissionDenied):
        acknowledge(
            database, clock, Actor("alice", "dispatcher"), fresh.task_id, "x", expected_version=fresh.version
        )


def test_an_update_adds_only_newcomers(database, clock, listed):
    with database.write() as session:
        school = session.scalar(select(Customer).where(Customer.name == "Customer 1"))
        school.importance = ImportanceGrade.GRADE2
    with database.read() as session:
        current = session.get(WarningRow, listed)
        seen = current.version
    result = update_warning(
        database,
        clock,
        MANAGER,
        listed,
        WarningInput(
            "typhoon",
            "red",
            1,
            "Typhoon, update",
            "台风更新",
            "",
            "",
            DistrictsArea(("W", "E")),
            clock.now(),
            clock.now() + timedelta(hours=24),
        ),
        expected_version=seen,
    )
    assert result.outreach_added == 1
    assert len(lines(database, listed)) == 3
