"""The dispatcher's actions for tests, in one call each: a command executed as `actor`.

Tests that set a scene (an outage confirmed, a crew on site) call these with the database, clock
and actor they already hold. A test acts as a user who has just looked: where it passes no
version, the one current at the call is sent.
"""

from __future__ import annotations

from datetime import datetime

from emergency.app.bus import execute
from emergency.app.commands.dispatch import (
    ApplyStormPlan,
    AssignmentChanged,
    CancelAssignment,
    CancelOutage,
    CloseOutage,
    ConfirmOutage,
    CrewChanged,
    DispatchCrew,
    MarkEnRoute,
    MarkOnSite,
    OutageChanged,
    PlanOutcome,
    RestoreOutage,
    SetCrewAvailable,
    SetCrewOffDuty,
    SetEtr,
    UpdateCrewPosition,
)
from emergency.core.actor import Actor
from emergency.core.clock import Clock
from emergency.core.db import Database
from emergency.core.models import CrewAssignment
from emergency.dispatch.plan import PlanRow
from tests.support.app_context import context_of


def confirm_outage(
    db: Database, clock: Clock, actor: Actor, outage_id: int, expected_version: int | None = None
) -> OutageChanged:
    return execute(context_of(db, clock, actor), ConfirmOutage(outage_id, expected_version))


def restore_outage(
    db: Database,
    clock: Clock,
    actor: Actor,
    outage_id: int,
    customers: int | None = None,
    note: str | None = None,
    expected_version: int | None = None,
) -> OutageChanged:
    return execute(context_of(db, clock, actor), RestoreOutage(outage_id, expected_version, customers, note))


def cancel_outage(
    db: Database, clock: Clock, actor: Actor, outage_id: int, reason: str, expected_version: int | None = None
) -> OutageChanged:
    return execute(context_of(db, clock, actor), CancelOutage(outage_id, reason, expected_version))


def close_outage(
    db: Database, clock: Clock, actor: Actor, outage_id: int, expected_version: int | None = None
) -> OutageChanged:
    return execute(context_of(db, clock, actor), CloseOutage(outage_id, expected_version))


def set_etr(
    db: Database,
    clock: Clock,
    actor: Actor,
    outage_id: int,
    etr_at: datetime,
    confidence: str,
    source: str,
    note: str | None = None,
    *,
    expected_version: int | None = None,
) -> OutageChanged:
    command = SetEtr(outage_id, etr_at, confidence, source, expected_version, note)
    return execute(context_of(db, clock, actor), command)


def dispatch_crew(
    db: Database,
    clock: Clock,
    actor: Actor,
    outage_id: int,
    crew_id: int,
    *,
    crew_version: int,
    outage_version: int | None = None,
) -> AssignmentChanged:
    return execute(
        context_of(db, clock, actor), DispatchCrew(outage_id, crew_id, crew_version, outage_version)
    )


def _assignment_version(db: Database, assignment_id: int) -> int:
    with db.read() as session:
        found = session.get(CrewAssignment, assignment_id)
        # An unknown id is the handler's to refuse (NotFound): any version will do.
        return found.version if found is not None else 0


def mark_en_route(
    db: Database, clock: Clock, actor: Actor, assignment_id: int, *, expected_version: int | None = None
) -> AssignmentChanged:
    version = _assignment_version(db, assignment_id) if expected_version is None else expected_version
    return execute(context_of(db, clock, actor), MarkEnRoute(assignment_id, version))


def mark_on_site(
    db: Database, clock: Clock, actor: Actor, assignment_id: int, *, expected_version: int | None = None
) -> AssignmentChanged:
    version = _assignment_version(db, assignment_id) if expected_version is None else expected_version
    return execute(context_of(db, clock, actor), MarkOnSite(assignment_id, version))


def cancel_assignment(
    db: Database,
    clock: Clock,
    actor: Actor,
    assignment_id: int,
    reason: str,
    *,
    expected_version: int | None = None,
) -> AssignmentChanged:
    return execute(context_of(db, clock, actor), CancelAssignment(assignment_id, reason, expected_version))


def apply_plan(
    db: Database, clock: Clock, actor: Actor, rows: list[PlanRow] | tuple[PlanRow, ...]
) -> tuple[PlanOutcome, ...]:
    return execute(context_of(db, clock, actor), ApplyStormPlan(tuple(rows)))


def set_crew_off_duty(
    db: Database, clock: Clock, actor: Actor, crew_id: int, *, crew_version: int | None = None
) -> CrewChanged:
    return execute(context_of(db, clock, actor), SetCrewOffDuty(crew_id, crew_version))


def set_crew_available(
    db: Database, clock: Clock, actor: Actor, crew_id: int, *, crew_version: int | None = None
) -> CrewChanged:
    return execute(context_of(db, clock, actor), SetCrewAvailable(crew_id, crew_version))


def update_crew_position(
    db: Database, clock: Clock, actor: Actor, crew_id: int, lon: float, lat: float
) -> CrewChanged:
    return execute(context_of(db, clock, actor), UpdateCrewPosition(crew_id, lon, lat))
