"""The outreach list of important users in a warning's area, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from emergency.app.bus import execute
from emergency.app.commands.warnings import (
    AcknowledgeOutreach,
    CompleteOutreach,
    CreateWarning,
    EscalateOutreach,
    IssueWarning,
    OutreachStepForMany,
    UpdateWarning,
)
from emergency.core.actor import Actor
from emergency.core.errors import Conflict, InvalidInput, PermissionDenied
from emergency.core.models import AuditEvent, Customer, CustomerKind, ImportanceGrade
from emergency.core.models import Warning as WarningRow
from emergency.warnings.area import DistrictsArea
from emergency.warnings.lifecycle import WarningInput
from emergency.warnings.outreach import outreach_list
from tests.support.app_context import context_of
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
    warning_id = execute(
        context_of(database, clock, MANAGER),
        CreateWarning(
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
            )
        ),
    )
    execute(context_of(database, clock, MANAGER), IssueWarning(warning_id, 1))
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
    assert (
        execute(context_of(database, clock, MANAGER), EscalateOutreach(hospital.task_id, hospital.version))
        == "call"
    )
    line = lines(database, listed)[0]
    assert (
        execute(
            context_of(database, clock, MANAGER),
            EscalateOutreach(line.task_id, line.version, note="no answer"),
        )
        == "visit"
    )
    line = lines(database, listed)[0]
    with pytest.raises(Conflict, match="last step"):
        execute(context_of(database, clock, MANAGER), EscalateOutreach(line.task_id, line.version))
    with pytest.raises(Conflict, match="must be acknowledged first"):
        execute(context_of(database, clock, MANAGER), CompleteOutreach(line.task_id, line.version))
    execute(
        context_of(database, clock, MANAGER),
        AcknowledgeOutreach(line.task_id, line.version, "Dr Wang, duty director"),
    )
    line = next(x for x in lines(database, listed) if x.task_id == hospital.task_id)
    assert (line.status, line.acknowledged_by, line.updated_by) == (
        "acknowledged",
        "Dr Wang, duty director",
        "meng",
    )
    assert line.acknowledged_at == clock.now()
    assert line.note == "no answer"
    execute(
        context_of(database, clock, MANAGER),
        CompleteOutreach(line.task_id, line.version, note="generator tested"),
    )
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
    execute(context_of(database, clock, MANAGER), EscalateOutreach(line.task_id, line.version))
    with pytest.raises(Conflict, match="changed by meng first"):
        execute(context_of(database, clock, MANAGER), EscalateOutreach(line.task_id, line.version))
    fresh = lines(database, listed)[0]
    with pytest.raises(InvalidInput, match="who acknowledged"):
        execute(context_of(database, clock, MANAGER), AcknowledgeOutreach(fresh.task_id, fresh.version, "  "))
    with pytest.raises(PermissionDenied):
        execute(
            context_of(database, clock, Actor("alice", "dispatcher")),
            AcknowledgeOutreach(fresh.task_id, fresh.version, "x"),
        )


def test_an_update_adds_only_newcomers(database, clock, listed):
    with database.write() as session:
        school = session.scalar(select(Customer).where(Customer.name == "Customer 1"))
        school.importance = ImportanceGrade.GRADE2
    with database.read() as session:
        current = session.get(WarningRow, listed)
        seen = current.version
    result = execute(
        context_of(database, clock, MANAGER),
        UpdateWarning(
            listed,
            seen,
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
        ),
    )
    assert result.outreach_added == 1
    assert len(lines(database, listed)) == 3


def test_a_step_is_taken_for_several_users_at_once_each_audited_and_a_stale_one_refused_alone(
    database, clock, listed
):
    """Outreach to hundreds of users was one person at a time; now one step for a selection."""
    hospital, home = lines(database, listed)
    ctx = context_of(database, clock, MANAGER)
    execute(ctx, EscalateOutreach(home.task_id, home.version))  # someone else moved it first

    outcomes = execute(
        ctx,
        OutreachStepForMany(
            "escalate", ((hospital.task_id, hospital.version), (home.task_id, home.version)), note="no reply"
        ),
    )

    assert [(o.task_id, o.refused is None) for o in outcomes] == [
        (hospital.task_id, True),
        (home.task_id, False),
    ]
    assert "was changed by meng first" in outcomes[1].refused
    after = {line.task_id: line for line in lines(database, listed)}
    assert (after[hospital.task_id].step, after[hospital.task_id].note) == ("call", "no reply")
    assert after[home.task_id].step == "call"  # moved once, by the first escalation only

    outcomes = execute(
        ctx,
        OutreachStepForMany(
            "acknowledge",
            tuple((line.task_id, line.version) for line in after.values()),
            by_whom="Duty officer Wu",
        ),
    )
    assert all(o.refused is None for o in outcomes)
    with database.read() as session:
        acknowledged = session.execute(
            select(AuditEvent.entity_id, AuditEvent.actor).where(AuditEvent.action == "outreach.acknowledge")
        ).all()
    assert sorted(acknowledged) == sorted((str(t), "meng") for t in after)  # one audit event per user
    assert {line.acknowledged_by for line in lines(database, listed)} == {"Duty officer Wu"}


@pytest.mark.parametrize(
    ("step", "tasks", "by_whom", "field"),
    [
        ("wave", ((1, 1),), "", "step"),
        ("escalate", (), "", "tasks"),
        ("acknowledge", ((1, 1),), "  ", "acknowledged_by"),
    ],
)
def test_a_step_for_many_that_no_task_could_take_is_refused_before_anything_moves(
    database, clock, listed, step, tasks, by_whom, field
):
    before = [(line.step, line.status, line.version) for line in lines(database, listed)]
    with pytest.raises(InvalidInput) as refused:
        execute(context_of(database, clock, MANAGER), OutreachStepForMany(step, tasks, by_whom=by_whom))
    assert refused.value.field == field
    assert [(line.step, line.status, line.version) for line in lines(database, listed)] == before
