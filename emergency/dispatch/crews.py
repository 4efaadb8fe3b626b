"""The crew lifecycle: dispatch, en route, on site, called off, on and off duty.

Positions (and arrival by GPS) are in emergency/dispatch/positions.py, which calls `mark_on_site`.

A crew goes available -> dispatched -> en route -> on site -> (outage restored) -> available, or
off duty. Dispatching is a conditional update on the crew version the dispatcher saw, so when two
dispatchers pick the same crew at once exactly one wins and the other is told who took it and where.

Each function acts inside the caller's transaction (`emergency.app.commands.dispatch` opens it,
checks the role and keeps trouble-call analysis out) and writes the audit events of its change.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import CursorResult, select, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from emergency.core import audit
from emergency.core.actor import Actor
from emergency.core.clock import Clock
from emergency.core.errors import Conflict, EmergencyError, InvalidInput, NotFound
from emergency.core.models import (
    ACTIVE_OUTAGE_STATES,
    AssignmentStatus,
    Crew,
    CrewAssignment,
    CrewStatus,
    Device,
    EtrSource,
    OnSiteSource,
    Outage,
    OutageState,
    Role,
    TokenScope,
)
from emergency.dispatch import routing
from emergency.dispatch.etr import EtrRules, apply_etr, disaster_mode_active, system_etr
from emergency.dispatch.outages import LIFECYCLE, outage_snapshot

OPERATOR_ROLES = (Role.DISPATCHER, Role.MANAGER)
POSITION_ROLES = (*OPERATOR_ROLES, TokenScope.CREW_POSITION.value)
OPEN_ASSIGNMENT = (AssignmentStatus.DISPATCHED, AssignmentStatus.EN_ROUTE, AssignmentStatus.ON_SITE)
BUSY_CREW = (CrewStatus.DISPATCHED, CrewStatus.EN_ROUTE, CrewStatus.ON_SITE)
MAX_REASON_CHARS = 500


def open_assignment(session: Session, crew_id: int) -> CrewAssignment | None:
    """The crew's current job, if it has one."""
    return session.scalar(
        select(CrewAssignment)
        .where(CrewAssignment.crew_id == crew_id, CrewAssignment.status.in_(OPEN_ASSIGNMENT))
        .order_by(CrewAssignment.assigned_at.desc(), CrewAssignment.id.desc())
        .limit(1)
    )


# --- the crew lifecycle ---------------------------------------------------------------------


def crew_snapshot(crew: Crew) -> dict[str, Any]:
    """The crew fields an audit event records before and after a change."""
    return {
        "status": str(crew.status),
        "lon": crew.lon,
        "lat": crew.lat,
        "version": crew.version,
    }


def assignment_snapshot(assignment: CrewAssignment) -> dict[str, Any]:
    return {
        "status": str(assignment.status),
        "on_site_source": assignment.on_site_source and str(assignment.on_site_source),
        "outage_id": assignment.outage_id,
        "crew_id": assignment.crew_id,
        "version": assignment.version,
    }


def dispatch_crew(
    session: Session,
    clock: Clock,
    actor: Actor,
    outage_id: int,
    crew_id: int,
    *,
    crew_version: int,
    outage_version: int | None = None,
    require_unassigned: bool = False,
) -> CrewAssignment:
    """Send an available crew to an active outage, if the crew is still as the dispatcher saw it.

    `crew_version` is the version the dispatcher's screen showed; if anyone dispatched the crew or
    changed its status since, this raises Conflict saying who took it and where. The outage moves
    to dispatched (a predicted outage may be dispatched; confirming it stays a separate act) and
    gets a system ETR unless a crew's or dispatcher's ETR still stands. With `require_unassigned`,
    an outage that already has a crew is refused (a plan row must not double-crew an outage).
    """
    now = clock.now()
    outage = get_outage(session, outage_id)
    if outage_version is not None and outage.version != outage_version:
        raise Conflict(f"outage {outage_id} was changed by someone else; reload and try again")
    require_active(outage)
    if require_unassigned:
        _require_no_crew(session, outage)
    # An UPDATE's result is a cursor result, which counts the rows it changed.
    taken = cast(
        CursorResult[Any],
        session.execute(
            update(Crew)
            .where(Crew.id == crew_id, Crew.version == crew_version, Crew.status == CrewStatus.AVAILABLE)
            .values(status=CrewStatus.DISPATCHED, status_at=now, version=Crew.version + 1)
            .execution_options(synchronize_session=False)
        ),
    )
    if taken.rowcount != 1:
        raise _why_not_available(session, crew_id, crew_version)
    crew = session.get(Crew, crew_id, populate_existing=True)
    assert crew is not None
    crew_before = {**crew_snapshot(crew), "status": CrewStatus.AVAILABLE.value, "version": crew_version}

    rules = routing.DispatchRules.from_settings(session)
    site = routing.sites(session, [outage])[0]
    distance, minutes = routing.travel_one(rules, site, crew.lon, crew.lat)
    assignment = CrewAssignment(
        outage_id=outage.id,
        crew_id=crew.id,
        status=AssignmentStatus.DISPATCHED,
        assigned_at=now,
        assigned_by=actor.username,
        eta_at=now + timedelta(minutes=minutes),
    )
    session.add(assignment)
    outage_before = outage_snapshot(outage)
    _advance_outage(outage, OutageState.DISPATCHED, now)
    _flush(session, f"outage {outage_id} was changed by someone else; reload and try again")

    etr, confidence = system_etr(
        outage,
        site.device_kind,
        site.area_type,
        minutes,
        now,
        disaster_mode_active(session, now),
        rules=EtrRules.from_settings(session),
    )
    apply_etr(
        session,
        clock,
        actor,
        outage,
        etr,
        confidence,
        EtrSource.SYSTEM,
        note=f"crew {crew.code} dispatched, {minutes:.0f} min away",
    )
    audit.record(
        session,
        clock,
        actor,
        "crew.dispatch",
        "crew_assignment",
        assignment.id,
        before={"crew": crew_before},
        after={"crew": crew_snapshot(crew), "assignment": assignment_snapshot(assignment)},
        detail=f"crew {crew.code} to outage {outage.id}, {distance:.1f} km, ETA {minutes:.0f} min",
    )
    audit.record(
        session,
        clock,
        actor,
        "outage.dispatch",
        "outage",
        outage.id,
        before=outage_before,
        after=outage_snapshot(outage),
        detail=f"crew {crew.code}",
    )
    return assignment


def _require_no_crew(session: Session, outage: Outage) -> None:
    existing = session.execute(
        select(CrewAssignment.assigned_by, Crew.code)
        .join(Crew, Crew.id == CrewAssignment.crew_id)
        .where(CrewAssignment.outage_id == outage.id, CrewAssignment.status.in_(OPEN_ASSIGNMENT))
        .limit(1)
    ).first()
    if existing is not None:
        by, code = existing
        raise Conflict(f"outage {outage.id} already has crew {code} (dispatched by {by})")


def _why_not_available(session: Session, crew_id: int, seen_version: int) -> EmergencyError:
    """Why the conditional update matched no row, in words a dispatcher can act on."""
    crew = session.get(Crew, crew_id, populate_existing=True)
    if crew is None:
        return NotFound(f"no crew {crew_id}")
    if crew.status == CrewStatus.OFF_DUTY:
        return Conflict(f"crew {crew.code} is off duty")
    job = open_assignment(session, crew_id)
    if job is not None:
        outage, by = job.outage_id, job.assigned_by
        where = {
            AssignmentStatus.DISPATCHED: f"was just dispatched to outage {outage} by {by}",
            AssignmentStatus.EN_ROUTE: f"is en route to outage {outage} (dispatched by {by})",
            AssignmentStatus.ON_SITE: f"is on site at outage {outage} (dispatched by {by})",
        }[AssignmentStatus(job.status)]
        return Conflict(f"crew {crew.code} {where}")
    if crew.status != CrewStatus.AVAILABLE:
        return Conflict(f"crew {crew.code} is {str(crew.status).replace('_', ' ')}, not available")
    return Conflict(
        f"crew {crew.code} was changed by someone else since you looked "
        f"(version {seen_version}, now {crew.version}); reload and try again"
    )


@dataclass(frozen=True)
class SeenOutage:
    """The outage a person acting on a crew's job had on screen: its id and version. A job moved to
    another outage (a merge), or an outage changed since, is refused rather than acted on blind."""

    outage_id: int | None = None
    outage_version: int | None = None

    def require(self, outage: Outage, crew: Crew) -> None:
        if self.outage_id is not None and outage.id != self.outage_id:
            raise Conflict(
                f"crew {crew.code}'s job is at outage {outage.id} now, not outage {self.outage_id}; "
                "reload and try again"
            )
        if self.outage_version is not None and outage.version != self.outage_version:
            raise Conflict(f"outage {outage.id} was changed by someone else; reload and try again")


ANY_OUTAGE = SeenOutage()


def mark_en_route(
    session: Session,
    clock: Clock,
    actor: Actor,
    assignment_id: int,
    *,
    expected_version: int | None = None,
    seen: SeenOutage = ANY_OUTAGE,
    at: datetime | None = None,
) -> CrewAssignment:
    """The crew has left for the outage (at `at` when entered later, after being offline)."""
    return _advance(
        session, clock, actor, assignment_id, AssignmentStatus.EN_ROUTE, expected_version, seen, at=at
    )


@dataclass(frozen=True)
class Arrival:
    """How a crew's arrival was recorded: by whom (`source`), where the crew was, and why.

    `position` is (lon, lat) where the crew was when recorded (the geofence's fix, or the crew's
    newest position); `reason` is a dispatcher's when the crew's positions put it elsewhere.
    """

    source: OnSiteSource = OnSiteSource.DISPATCHER
    position: tuple[float, float] | None = None
    reason: str | None = None


BY_DISPATCHER = Arrival()


def mark_on_site(
    session: Session,
    clock: Clock,
    actor: Actor,
    assignment_id: int,
    *,
    expected_version: int | None = None,
    seen: SeenOutage = ANY_OUTAGE,
    arrival: Arrival = BY_DISPATCHER,
    at: datetime | None = None,
) -> CrewAssignment:
    """The crew has arrived: this stops the on-site clock. A crew may report arrival without having
    reported leaving; its en-route time then stays unknown rather than invented.

    The assignment keeps how the arrival was recorded (`arrival`); the outage keeps the source of
    its first arrival, which compliance reports the 30-minute clock by. `at` is when it happened,
    for a step entered later (the caller has checked it); the clocks stop then.
    """
    return _advance(
        session, clock, actor, assignment_id, AssignmentStatus.ON_SITE, expected_version, seen, arrival, at
    )


_ADVANCES_FROM = {
    AssignmentStatus.EN_ROUTE: (AssignmentStatus.DISPATCHED,),
    AssignmentStatus.ON_SITE: (AssignmentStatus.DISPATCHED, AssignmentStatus.EN_ROUTE),
}


def _advance(
    session: Session,
    clock: Clock,
    actor: Actor,
    assignment_id: int,
    target: AssignmentStatus,
    expected_version: int | None,
    seen: SeenOutage,
    arrival: Arrival = BY_DISPATCHER,
    at: datetime | None = None,
) -> CrewAssignment:
    # A step entered later takes effect at the time it was done; its audit row is written now and
    # carries both times (`done_at` in `after`).
    now = at if at is not None else clock.now()
    assignment = _get_assignment(session, assignment_id, expected_version)
    crew = session.get(Crew, assignment.crew_id)
    outage = session.get(Outage, assignment.outage_id)
    assert crew is not None and outage is not None
    seen.require(outage, crew)
    if assignment.status not in _ADVANCES_FROM[target]:
        raise Conflict(
            f"crew {crew.code} is {str(assignment.status).replace('_', ' ')} at outage "
            f"{outage.id}; it cannot be marked {target.value.replace('_', ' ')}"
        )
    before = {"assignment": assignment_snapshot(assignment), "crew": crew_snapshot(crew)}
    outage_before = outage_snapshot(outage)
    assignment.status = target
    crew.status = CrewStatus(target.value)
    crew.status_at = now
    if target == AssignmentStatus.EN_ROUTE:
        assignment.en_route_at = now
        _advance_outage(outage, OutageState.EN_ROUTE, now)
    else:
        assignment.on_site_at = now
        _record_arrival(assignment, outage, arrival, now)
        _advance_outage(outage, OutageState.ON_SITE, now)
        # The crew is at the device now; recommendations for its next job start from here.
        device = session.get(Device, outage.device_id)
        assert device is not None
        crew.lon, crew.lat, crew.position_at = device.lon, device.lat, now
    _flush(session, f"crew {crew.code} or outage {outage.id} was changed by someone else; reload")
    audit.record(
        session,
        clock,
        actor,
        f"crew.{target.value}",
        "crew_assignment",
        assignment.id,
        before=before,
        after={
            "assignment": assignment_snapshot(assignment),
            "crew": crew_snapshot(crew),
            **({"done_at": at.isoformat()} if at is not None else {}),
        },
        detail=f"crew {crew.code} at outage {outage.id}",
    )
    if outage_snapshot(outage) != outage_before:
        audit.record(
            session,
            clock,
            actor,
            f"outage.{target.value}",
            "outage",
            outage.id,
            before=outage_before,
            after=outage_snapshot(outage),
            detail=f"crew {crew.code}",
        )
    return assignment


def _record_arrival(assignment: CrewAssignment, outage: Outage, arrival: Arrival, now: datetime) -> None:
    """Keep how the arrival was recorded; the outage keeps the source of its first arrival."""
    assignment.on_site_source = arrival.source
    if arrival.position is not None:
        assignment.on_site_lon, assignment.on_site_lat = arrival.position
    assignment.on_site_reason = arrival.reason
    if outage.on_site_at is None:
        outage.on_site_source = arrival.source


def _advance_outage(outage: Outage, state: OutageState, now: datetime) -> None:
    """Move the outage forward to `state` (never back: another crew may be further along), and stamp
    the first time it reached each stage."""
    if outage.state in LIFECYCLE and LIFECYCLE.index(outage.state) < LIFECYCLE.index(state):
        outage.state = state
    stamp = {
        OutageState.DISPATCHED: "dispatched_at",
        OutageState.EN_ROUTE: "en_route_at",
        OutageState.ON_SITE: "on_site_at",
    }[state]
    if getattr(outage, stamp) is None:
        setattr(outage, stamp, now)


def cancel_assignment(
    session: Session,
    clock: Clock,
    actor: Actor,
    assignment_id: int,
    reason: str,
    *,
    expected_version: int | None = None,
    seen: SeenOutage = ANY_OUTAGE,
) -> CrewAssignment:
    """Call a crew off a job (needed elsewhere, wrong crew kind...): the crew is available again.

    An outage left with no crew goes back to confirmed (or predicted, if nobody confirmed it); its
    first dispatch time stays on record.
    """
    reason_text = (reason or "").strip()
    if not reason_text:
        raise InvalidInput("say why the crew is called off", field="reason")
    if len(reason_text) > MAX_REASON_CHARS:
        raise InvalidInput(f"at most {MAX_REASON_CHARS} characters", field="reason")
    assignment = _get_assignment(session, assignment_id, expected_version)
    crew = session.get(Crew, assignment.crew_id)
    outage = session.get(Outage, assignment.outage_id)
    assert crew is not None and outage is not None
    seen.require(outage, crew)
    if assignment.status not in OPEN_ASSIGNMENT:
        raise Conflict(f"crew {crew.code}'s assignment to outage {outage.id} is already {assignment.status}")
    release_assignment(
        session,
        clock,
        actor,
        assignment,
        Release(
            action="crew.cancel",
            detail=reason_text,
            verb="called off",
            conflict=f"crew {crew.code} or outage {outage.id} was changed by someone else; reload",
        ),
    )
    return assignment


@dataclass(frozen=True)
class Release:
    """How a crew leaves a job: the audit action and texts, the refusal if someone changed it
    meanwhile, and, for a step entered late, when it was done."""

    action: str
    detail: str
    verb: str  # what the crew did, in the outage's audit row: "crew C1 <verb>: <detail>"
    conflict: str
    done_at: datetime | None = None
    handover_note: str | None = None


def release_assignment(
    session: Session, clock: Clock, actor: Actor, assignment: CrewAssignment, release: Release
) -> None:
    """End an open assignment without a restoration: the crew is free again and an outage left with
    no crew waits for one (confirmed, or predicted if nobody confirmed it); its first dispatch time
    stays on record. The one step behind a dispatcher's call-off and a crew's handover, audited on
    the assignment and, when the outage changed, on the outage."""
    crew = session.get(Crew, assignment.crew_id)
    outage = session.get(Outage, assignment.outage_id)
    assert crew is not None and outage is not None
    at = release.done_at or clock.now()
    late = {"done_at": release.done_at.isoformat()} if release.done_at is not None else {}
    before = {"assignment": assignment_snapshot(assignment), "crew": crew_snapshot(crew)}
    outage_before = outage_snapshot(outage)
    assignment.status = AssignmentStatus.CANCELLED
    assignment.cancelled_at = at
    if release.handover_note is not None:
        assignment.handover_note = release.handover_note
    if crew.status in BUSY_CREW:
        crew.status = CrewStatus.AVAILABLE
        crew.status_at = at
    others = session.scalar(
        select(CrewAssignment.id)
        .where(
            CrewAssignment.outage_id == outage.id,
            CrewAssignment.id != assignment.id,
            CrewAssignment.status.in_(OPEN_ASSIGNMENT),
        )
        .limit(1)
    )
    if others is None and outage.state in (OutageState.DISPATCHED, OutageState.EN_ROUTE, OutageState.ON_SITE):
        outage.state = OutageState.CONFIRMED if outage.confirmed_at is not None else OutageState.PREDICTED
    _flush(session, release.conflict)
    after = {"assignment": assignment_snapshot(assignment), "crew": crew_snapshot(crew), **late}
    audit.record(
        session,
        clock,
        actor,
        release.action,
        "crew_assignment",
        assignment.id,
        before=before,
        after=after,
        detail=release.detail,
    )
    if outage_snapshot(outage) != outage_before:
        audit.record(
            session,
            clock,
            actor,
            "outage.undispatch",
            "outage",
            outage.id,
            before=outage_before,
            after={**outage_snapshot(outage), **late},
            detail=f"crew {crew.code} {release.verb}: {release.detail}",
        )


def set_crew_off_duty(
    session: Session, clock: Clock, actor: Actor, crew_id: int, *, crew_version: int | None = None
) -> Crew:
    """The crew's shift ends (or it stands down); it must not be on a job."""
    return _set_duty(session, clock, actor, crew_id, CrewStatus.OFF_DUTY, crew_version)


def set_crew_available(
    session: Session, clock: Clock, actor: Actor, crew_id: int, *, crew_version: int | None = None
) -> Crew:
    """The crew is ready for work: back on duty, or released when its job ended without a restoration
    (for instance an outage cancelled as a false alarm)."""
    return _set_duty(session, clock, actor, crew_id, CrewStatus.AVAILABLE, crew_version)


def _set_duty(
    session: Session, clock: Clock, actor: Actor, crew_id: int, target: CrewStatus, crew_version: int | None
) -> Crew:
    now = clock.now()
    crew = _get_crew(session, crew_id, crew_version)
    job = open_assignment(session, crew_id)
    if job is not None:
        raise Conflict(
            f"crew {crew.code} is {str(job.status).replace('_', ' ')} for outage {job.outage_id}; "
            "call it off that job first"
        )
    if crew.status == target:
        raise Conflict(f"crew {crew.code} is already {target.value.replace('_', ' ')}")
    if target == CrewStatus.AVAILABLE and crew.company is not None:
        # A mutual-aid crew is offered only from its check-in to its release (dispatch/mutual_aid.py).
        if crew.released_at is not None:
            raise Conflict(f"crew {crew.code} of {crew.company} was released; it is no longer offered")
        if crew.checked_in_at is None:
            raise Conflict(
                f"crew {crew.code} of {crew.company} has not checked in at {crew.staging_site} yet"
            )
    before = crew_snapshot(crew)
    crew.status = target
    crew.status_at = now
    _flush(session, f"crew {crew.code} was changed by someone else; reload and try again")
    audit.record(
        session,
        clock,
        actor,
        f"crew.{target.value}",
        "crew",
        crew.id,
        before=before,
        after=crew_snapshot(crew),
    )
    return crew


# --- loading ----------------------------------------------------------------------------------


def get_outage(session: Session, outage_id: int) -> Outage:
    outage = session.get(Outage, outage_id)
    if outage is None:
        raise NotFound(f"no outage {outage_id}")
    return outage


def require_active(outage: Outage) -> None:
    if outage.state not in ACTIVE_OUTAGE_STATES:
        merged = f" into outage {outage.merged_into_id}" if outage.merged_into_id else ""
        raise Conflict(f"outage {outage.id} is {outage.state}{merged}, no longer active")


def _get_crew(session: Session, crew_id: int, expected_version: int | None) -> Crew:
    crew = session.get(Crew, crew_id)
    if crew is None:
        raise NotFound(f"no crew {crew_id}")
    if expected_version is not None and crew.version != expected_version:
        raise Conflict(f"crew {crew.code} was changed by someone else; reload and try again")
    return crew


def _get_assignment(session: Session, assignment_id: int, expected_version: int | None) -> CrewAssignment:
    assignment = session.get(CrewAssignment, assignment_id)
    if assignment is None:
        raise NotFound(f"no crew assignment {assignment_id}")
    if expected_version is not None and assignment.version != expected_version:
        raise Conflict(f"crew assignment {assignment_id} was changed by someone else; reload and try again")
    return assignment


def _flush(session: Session, message: str) -> None:
    """Write pending changes now, turning a lost optimistic-lock race into a Conflict."""
    try:
        session.flush()
    except StaleDataError:
        raise Conflict(message) from None
