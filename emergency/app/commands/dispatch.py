"""The dispatcher's actions: confirm, dispatch, en route, on site, ETR, restore, cancel, the storm
plan, crew duty and positions.

Every action on an outage or a crew assignment carries the version the user saw, so an edit made
on a stale screen is refused with a Conflict instead of overwriting a colleague's. (`None` is for
the callers that act on whatever is current, with no screen: the simulator, the CLI.) Each handler
opens the unit of work (role check, write transaction, and the analysis lock where outages or crews
change) and returns plain frozen data.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from emergency.app.bus import handles
from emergency.app.context import Context
from emergency.core.actor import SYSTEM
from emergency.core.errors import Conflict
from emergency.core.models import (
    Crew,
    CrewAssignment,
    EtrConfidence,
    EtrSource,
    Outage,
    Role,
    TokenScope,
)
from emergency.core.unit_of_work import unit_of_work
from emergency.core.vocabulary import PositionSource
from emergency.dispatch import crews, etr, outages, positions, sla
from emergency.dispatch.crews import OPERATOR_ROLES, POSITION_ROLES
from emergency.dispatch.plan import PlanRow

# --- what the handlers return ------------------------------------------------------------------


@dataclass(frozen=True)
class OutageChanged:
    """An outage as an action left it."""

    id: int
    version: int
    state: str
    customers_affected: int
    customers_restored: int
    etr_at: datetime | None
    restored_at: datetime | None

    @property
    def still_out(self) -> int:
        return self.customers_affected - self.customers_restored


@dataclass(frozen=True)
class AssignmentChanged:
    """A crew assignment as an action left it."""

    id: int
    version: int
    outage_id: int
    crew_id: int
    status: str
    eta_at: datetime | None
    assigned_by: str | None


@dataclass(frozen=True)
class CrewChanged:
    id: int
    version: int
    code: str
    status: str
    lon: float
    lat: float


@dataclass(frozen=True)
class PlanOutcome:
    """One approved plan row: dispatched, or refused with the Conflict's words."""

    row: PlanRow
    dispatched: AssignmentChanged | None
    refused: str | None


def _outage(outage: Outage) -> OutageChanged:
    return OutageChanged(
        outage.id,
        outage.version,
        str(outage.state),
        outage.customers_affected,
        outage.customers_restored,
        outage.etr_at,
        outage.restored_at,
    )


def _assignment(assignment: CrewAssignment) -> AssignmentChanged:
    return AssignmentChanged(
        assignment.id,
        assignment.version,
        assignment.outage_id,
        assignment.crew_id,
        str(assignment.status),
        assignment.eta_at,
        assignment.assigned_by,
    )


def _crew(crew: Crew) -> CrewChanged:
    return CrewChanged(crew.id, crew.version, crew.code, str(crew.status), crew.lon, crew.lat)


# --- outages -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class ConfirmOutage:
    outage_id: int
    expected_version: int | None


@handles(ConfirmOutage)
def confirm_outage(ctx: Context, cmd: ConfirmOutage) -> OutageChanged:
    with unit_of_work(ctx.db, ctx.actor, OPERATOR_ROLES, against_analysis=True) as session:
        outage = outages.confirm_outage(session, ctx.clock, ctx.actor, cmd.outage_id, cmd.expected_version)
        return _outage(outage)


@dataclass(frozen=True)
class SetEtr:
    """A dispatcher's ETR, their own or one a crew phoned in (`source`)."""

    outage_id: int
    etr_at: datetime
    confidence: EtrConfidence | str
    source: EtrSource | str
    expected_version: int | None
    note: str | None = None


@handles(SetEtr)
def set_etr(ctx: Context, cmd: SetEtr) -> OutageChanged:
    with unit_of_work(ctx.db, ctx.actor, OPERATOR_ROLES, against_analysis=True) as session:
        outage = etr.set_etr(
            session,
            ctx.clock,
            ctx.actor,
            cmd.outage_id,
            cmd.etr_at,
            cmd.confidence,
            cmd.source,
            cmd.note,
            expected_version=cmd.expected_version,
        )
        return _outage(outage)


@dataclass(frozen=True)
class RestoreOutage:
    """Restore everyone still out, or, with `customers`, a step of that many."""

    outage_id: int
    expected_version: int | None
    customers: int | None = None
    note: str | None = None


@handles(RestoreOutage)
def restore_outage(ctx: Context, cmd: RestoreOutage) -> OutageChanged:
    with unit_of_work(ctx.db, ctx.actor, OPERATOR_ROLES, against_analysis=True) as session:
        outage = outages.restore_outage(
            session,
            ctx.clock,
            ctx.actor,
            cmd.outage_id,
            customers=cmd.customers,
            note=cmd.note,
            expected_version=cmd.expected_version,
        )
        return _outage(outage)


@dataclass(frozen=True)
class CancelOutage:
    """A false alarm or a duplicate: cancelled with the reason, never deleted."""

    outage_id: int
    reason: str
    expected_version: int | None


@handles(CancelOutage)
def cancel_outage(ctx: Context, cmd: CancelOutage) -> OutageChanged:
    with unit_of_work(ctx.db, ctx.actor, OPERATOR_ROLES, against_analysis=True) as session:
        outage = outages.cancel_outage(
            session, ctx.clock, ctx.actor, cmd.outage_id, cmd.reason, expected_version=cmd.expected_version
        )
        return _outage(outage)


@dataclass(frozen=True)
class CloseOutage:
    """Restoration verified: the outage leaves the board for good."""

    outage_id: int
    expected_version: int | None


@handles(CloseOutage)
def close_outage(ctx: Context, cmd: CloseOutage) -> OutageChanged:
    with unit_of_work(ctx.db, ctx.actor, OPERATOR_ROLES, against_analysis=True) as session:
        outage = outages.close_outage(session, ctx.clock, ctx.actor, cmd.outage_id, cmd.expected_version)
        return _outage(outage)


# --- crews on outages --------------------------------------------------------------------------


@dataclass(frozen=True)
class DispatchCrew:
    """Send an available crew, as the dispatcher saw it (`crew_version`), to an active outage.

    With `outage_version`, an outage changed since is refused too.
    """

    outage_id: int
    crew_id: int
    crew_version: int
    outage_version: int | None = None


@handles(DispatchCrew)
def dispatch_crew(ctx: Context, cmd: DispatchCrew) -> AssignmentChanged:
    with unit_of_work(ctx.db, ctx.actor, OPERATOR_ROLES, against_analysis=True) as session:
        assignment = crews.dispatch_crew(
            session,
            ctx.clock,
            ctx.actor,
            cmd.outage_id,
            cmd.crew_id,
            crew_version=cmd.crew_version,
            outage_version=cmd.outage_version,
        )
        return _assignment(assignment)


@dataclass(frozen=True)
class MarkEnRoute:
    """The crew has left for the outage. With `outage_id` and `outage_version` (the outage on the
    screen), a job since moved to another outage, or an outage changed since, is refused too."""

    assignment_id: int
    expected_version: int
    outage_id: int | None = None
    outage_version: int | None = None


@handles(MarkEnRoute)
def mark_en_route(ctx: Context, cmd: MarkEnRoute) -> AssignmentChanged:
    with unit_of_work(ctx.db, ctx.actor, OPERATOR_ROLES, against_analysis=True) as session:
        assignment = crews.mark_en_route(
            session,
            ctx.clock,
            ctx.actor,
            cmd.assignment_id,
            expected_version=cmd.expected_version,
            seen=crews.SeenOutage(cmd.outage_id, cmd.outage_version),
        )
        return _assignment(assignment)


@dataclass(frozen=True)
class MarkOnSite:
    """The crew has arrived (a dispatcher's click): this stops the on-site clock. `outage_id` and
    `outage_version` as for `MarkEnRoute`. When the crew's newest fresh GPS position is farther than
    the arrival radius from the outage, a `reason` is required (positions.ReasonNeeded otherwise,
    saying how far away GPS puts the crew) and kept on the assignment."""

    assignment_id: int
    expected_version: int
    outage_id: int | None = None
    outage_version: int | None = None
    reason: str | None = None


@handles(MarkOnSite)
def mark_on_site(ctx: Context, cmd: MarkOnSite) -> AssignmentChanged:
    with unit_of_work(ctx.db, ctx.actor, OPERATOR_ROLES, against_analysis=True) as session:
        arrival = positions.dispatcher_arrival(session, ctx.clock, cmd.assignment_id, cmd.reason, ctx.tz)
        assignment = crews.mark_on_site(
            session,
            ctx.clock,
            ctx.actor,
            cmd.assignment_id,
            expected_version=cmd.expected_version,
            seen=crews.SeenOutage(cmd.outage_id, cmd.outage_version),
            arrival=arrival,
        )
        return _assignment(assignment)


@dataclass(frozen=True)
class CancelAssignment:
    """Call a crew off a job, saying why; the crew is available again. `outage_id` and
    `outage_version` as for `MarkEnRoute`."""

    assignment_id: int
    reason: str
    expected_version: int | None
    outage_id: int | None = None
    outage_version: int | None = None


@handles(CancelAssignment)
def cancel_assignment(ctx: Context, cmd: CancelAssignment) -> AssignmentChanged:
    with unit_of_work(ctx.db, ctx.actor, OPERATOR_ROLES, against_analysis=True) as session:
        assignment = crews.cancel_assignment(
            session,
            ctx.clock,
            ctx.actor,
            cmd.assignment_id,
            cmd.reason,
            expected_version=cmd.expected_version,
            seen=crews.SeenOutage(cmd.outage_id, cmd.outage_version),
        )
        return _assignment(assignment)


@dataclass(frozen=True)
class ApplyStormPlan:
    """Dispatch the plan rows a dispatcher approved (`emergency.dispatch.plan.storm_plan`)."""

    rows: tuple[PlanRow, ...]


@handles(ApplyStormPlan)
def apply_storm_plan(ctx: Context, cmd: ApplyStormPlan) -> tuple[PlanOutcome, ...]:
    """Each row in its own transaction, against the crew and outage versions planned. A row whose
    crew was taken, or whose outage changed (got a crew, closed, a colleague's edit) since the plan
    was made, is reported with its Conflict; the other rows still go ahead."""
    ctx.actor.require(*OPERATOR_ROLES)
    results: list[PlanOutcome] = []
    for row in cmd.rows:
        try:
            with unit_of_work(ctx.db, ctx.actor, OPERATOR_ROLES, against_analysis=True) as session:
                assignment = crews.dispatch_crew(
                    session,
                    ctx.clock,
                    ctx.actor,
                    row.outage_id,
                    row.crew_id,
                    crew_version=row.crew_version,
                    # A row for one more crew, as the outage's damage assessment asks (#19.3), goes
                    # beside the crew already there (which moved the outage's version on).
                    outage_version=None if row.extra_crew else row.outage_version,
                    require_unassigned=not row.extra_crew,
                )
                done = _assignment(assignment)
        except Conflict as conflict:
            results.append(PlanOutcome(row, None, str(conflict)))
        else:
            results.append(PlanOutcome(row, done, None))
    return tuple(results)


# --- crews on and off duty ---------------------------------------------------------------------


@dataclass(frozen=True)
class SetCrewOffDuty:
    """The crew's shift ends (or it stands down); it must not be on a job."""

    crew_id: int
    crew_version: int | None


@handles(SetCrewOffDuty)
def set_crew_off_duty(ctx: Context, cmd: SetCrewOffDuty) -> CrewChanged:
    with unit_of_work(ctx.db, ctx.actor, OPERATOR_ROLES) as session:
        crew = crews.set_crew_off_duty(
            session, ctx.clock, ctx.actor, cmd.crew_id, crew_version=cmd.crew_version
        )
        return _crew(crew)


@dataclass(frozen=True)
class SetCrewAvailable:
    """The crew is ready for work: back on duty, or released from a job that ended without a
    restoration."""

    crew_id: int
    crew_version: int | None


@handles(SetCrewAvailable)
def set_crew_available(ctx: Context, cmd: SetCrewAvailable) -> CrewChanged:
    with unit_of_work(ctx.db, ctx.actor, OPERATOR_ROLES) as session:
        crew = crews.set_crew_available(
            session, ctx.clock, ctx.actor, cmd.crew_id, crew_version=cmd.crew_version
        )
        return _crew(crew)


@dataclass(frozen=True)
class UpdateCrewPosition:
    """Where the crew is now: from its device (a `crew_position` token) or moved by a dispatcher."""

    crew_id: int
    lon: float
    lat: float


@handles(UpdateCrewPosition)
def update_crew_position(ctx: Context, cmd: UpdateCrewPosition) -> CrewChanged:
    # A tracker's fix may record an arrival (outage and crew change): keep analysis out.
    with unit_of_work(ctx.db, ctx.actor, POSITION_ROLES, against_analysis=True) as session:
        crew = positions.move_crew(session, ctx.clock, ctx.actor, cmd.crew_id, cmd.lon, cmd.lat)
        return _crew(crew)


@dataclass(frozen=True)
class RecordCrewPositions:
    """Positions from vehicle trackers (by crew code), the simulator, or a crew leader's phone
    (their own crew only): each accepted or refused with a reason; a stay at the outage records the
    crew on site by GPS. `items` are untrusted mappings {crew, lon, lat, at, accuracy_m}.

    The source follows the sender: a crew leader's are `phone`; a `crew_position` token's are
    `tracker`, or `simulator` when it says so."""

    items: tuple[Any, ...]
    simulated: bool = False


RECORD_POSITION_ROLES = (TokenScope.CREW_POSITION.value, Role.CREW)


@handles(RecordCrewPositions)
def record_crew_positions(ctx: Context, cmd: RecordCrewPositions) -> positions.PositionsResult:
    with unit_of_work(ctx.db, ctx.actor, RECORD_POSITION_ROLES, against_analysis=True) as session:
        if ctx.actor.role == Role.CREW.value:
            source = PositionSource.PHONE
        else:
            source = PositionSource.SIMULATOR if cmd.simulated else PositionSource.TRACKER
        return positions.record_positions(session, ctx.clock, ctx.actor, cmd.items, source)


@dataclass(frozen=True)
class RecordBreaches:
    """Record every clock past its deadline and tell the duty manager (the server's SLA monitor, as
    the system). `language` is the utility's, for the duty manager's message."""

    language: str


@handles(RecordBreaches)
def record_breaches(ctx: Context, cmd: RecordBreaches) -> int:
    with unit_of_work(ctx.db, ctx.actor, (SYSTEM.role,)) as session:
        return len(sla.record_breaches(session, ctx.clock, tz=ctx.tz, language=cmd.language))
