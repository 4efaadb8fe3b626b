"""What the crew page shows a crew leader (their crew's jobs), and what the console shows of the
crews' own steps on an outage (accepted when, handover notes, requests waiting for an answer).

A crew leader reads only their own crew's work (`crew_work` looks the crew up from the account,
never from the page). The crew's view of an outage holds no customer's contact or report text:
the important users there by name, kind and grade, the device and district, hazards, clocks.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from emergency.app.context import Context
from emergency.core.errors import InvalidInput, NotFound
from emergency.core.field_models import FieldRequest
from emergency.core.models import Crew, CrewAssignment, Outage, Role
from emergency.core.unit_of_work import read_as
from emergency.dispatch import crew_field, routing, sla
from emergency.dispatch.crews import OPEN_ASSIGNMENT, OPERATOR_ROLES
from emergency.dispatch.outage_detail import outage_detail
from emergency.network.model import network_model

CREW_READERS = (Role.CREW, *OPERATOR_ROLES)


@dataclass(frozen=True)
class Clock:
    """One clock as the crew page shows it: started, deadline, stopped (None while running)."""

    code: str  # acknowledge | outage_dispatch | outage_on_site ...
    name_en: str
    name_zh: str
    deadline: datetime
    stopped_at: datetime | None
    state: str  # sla.ClockState value


@dataclass(frozen=True)
class RequestLine:
    id: int
    version: int
    outage_id: int
    crew_code: str
    kind: str
    text: str
    done_at: datetime
    at: datetime
    by: str
    answered_at: datetime | None
    answered_by: str | None
    answer: str | None


@dataclass(frozen=True)
class ImportantThere:
    name: str
    grade: str
    kind: str


@dataclass(frozen=True)
class CrewJob:
    """One of the crew's open jobs, with what the crew needs on the road and on site."""

    assignment_id: int
    version: int
    status: str  # dispatched | en_route | on_site
    outage_id: int
    outage_state: str
    device_code: str
    device_name: str
    device_kind: str
    district_en: str | None
    district_zh: str | None
    hazard: bool
    customers_out: int
    important: tuple[ImportantThere, ...]
    distance_km: float | None  # road estimate from the crew's newest position; None without one
    travel_minutes: float | None
    assigned_at: datetime
    acknowledged_at: datetime | None
    en_route_at: datetime | None
    on_site_at: datetime | None
    etr_at: datetime | None
    etr_source: str | None
    clocks: tuple[Clock, ...]
    requests: tuple[RequestLine, ...]
    last_step_at: datetime  # a late entry may not be earlier than this


@dataclass(frozen=True)
class CrewWork:
    crew_id: int
    code: str
    name: str
    company: str | None
    position: tuple[float, float] | None
    position_at: datetime | None
    acknowledge_minutes: float
    late_entry_max_hours: float
    jobs: tuple[CrewJob, ...]  # current first (furthest along, then oldest), then the next ones


def crew_work(ctx: Context, crew_id: int | None = None) -> CrewWork:
    """A crew leader's own crew's open jobs; a dispatcher or manager names the crew (`crew_id`)."""
    with read_as(ctx.db, ctx.actor, CREW_READERS) as session:
        if ctx.actor.role == Role.CREW:
            crew_id = crew_field.crew_of(session, ctx.actor)
        elif crew_id is None:
            raise InvalidInput("which crew", field="crew_id")
        crew = session.get(Crew, crew_id)
        if crew is None:
            raise NotFound(f"no crew {crew_id}")
        rules = crew_field.FieldRules.from_settings(session)
        position = crew_field.newest_position(session, crew)
        jobs = session.scalars(
            select(CrewAssignment)
            .where(CrewAssignment.crew_id == crew.id, CrewAssignment.status.in_(OPEN_ASSIGNMENT))
            .order_by(CrewAssignment.assigned_at, CrewAssignment.id)
        ).all()
        progress = {"on_site": 0, "en_route": 1, "dispatched": 2}
        ordered = sorted(jobs, key=lambda a: (progress.get(str(a.status), 3), a.assigned_at, a.id))
        return CrewWork(
            crew.id,
            crew.code,
            crew.name,
            crew.company,
            position,
            crew.position_at,
            rules.acknowledge_minutes,
            rules.late_entry_max_hours,
            tuple(_job(session, ctx, job, crew, position, rules) for job in ordered),
        )


def _job(
    session: Session,
    ctx: Context,
    job: CrewAssignment,
    crew: Crew,
    position: tuple[float, float] | None,
    rules: crew_field.FieldRules,
) -> CrewJob:
    outage = session.get(Outage, job.outage_id)
    assert outage is not None
    detail = outage_detail(session, network_model(session, ctx.db.url), outage.id)
    site = routing.sites(session, [outage])[0]
    distance = minutes = None
    if position is not None:
        distance, minutes = routing.travel_one(routing.DispatchRules.from_settings(session), site, *position)
    return CrewJob(
        assignment_id=job.id,
        version=job.version,
        status=str(job.status),
        outage_id=outage.id,
        outage_state=str(outage.state),
        device_code=detail.device_code,
        device_name=detail.device_name,
        device_kind=detail.device_kind,
        district_en=detail.district_name_en,
        district_zh=detail.district_name_zh,
        hazard=detail.outage.hazard_live,
        customers_out=outage.customers_affected - outage.customers_restored,
        important=tuple(ImportantThere(u.name, u.grade, u.kind) for u in detail.important_users),
        distance_km=distance,
        travel_minutes=minutes,
        assigned_at=job.assigned_at,
        acknowledged_at=job.acknowledged_at,
        en_route_at=job.en_route_at,
        on_site_at=job.on_site_at,
        etr_at=outage.etr_at,
        etr_source=str(outage.etr_source) if outage.etr_source else None,
        clocks=(_acknowledge_clock(ctx, job, rules), *_outage_clocks(session, ctx, outage, detail.area_type)),
        requests=_requests(session, outage_id=outage.id, crew_id=crew.id),
        last_step_at=crew_field.previous_step_at(session, job),
    )


def _acknowledge_clock(ctx: Context, job: CrewAssignment, rules: crew_field.FieldRules) -> Clock:
    deadline = job.assigned_at + timedelta(minutes=rules.acknowledge_minutes)
    return Clock(
        "acknowledge",
        "Crew acknowledged",
        "抢修队确认接单",
        deadline,
        job.acknowledged_at,
        _state(deadline, job.acknowledged_at, ctx.clock.now()),
    )


def _state(deadline: datetime, stopped_at: datetime | None, now: datetime) -> str:
    if stopped_at is not None:
        return (sla.ClockState.MET if stopped_at <= deadline else sla.ClockState.MISSED).value
    return (sla.ClockState.ON_TRACK if now <= deadline else sla.ClockState.BREACHED).value


def _outage_clocks(
    session: Session, ctx: Context, outage: Outage, area_type: str | None
) -> tuple[Clock, ...]:
    """The outage's enforced clocks (10-minute dispatch, 30-minute on site), as the board has them."""
    clocks = sla.outage_clocks(
        outage,
        sla.load_targets(session, "outage"),
        ctx.clock.now(),
        sla.at_risk_window(session),
        area_type,
        tz=ctx.tz,
    )
    return tuple(
        Clock(c.code, c.name_en, c.name_zh, c.deadline, c.stopped_at, str(c.state))
        for c in clocks
        if not c.reference
    )


def _requests(session: Session, *, outage_id: int, crew_id: int | None = None) -> tuple[RequestLine, ...]:
    query = (
        select(FieldRequest, Crew.code)
        .join(Crew, Crew.id == FieldRequest.crew_id)
        .where(FieldRequest.outage_id == outage_id)
        .order_by(FieldRequest.at, FieldRequest.id)
    )
    if crew_id is not None:
        query = query.where(FieldRequest.crew_id == crew_id)
    return tuple(
        RequestLine(
            r.id,
            r.version,
            r.outage_id,
            code,
            str(r.kind),
            r.text,
            r.done_at,
            r.at,
            r.by,
            r.answered_at,
            r.answered_by,
            r.answer,
        )
        for r, code in session.execute(query)
    )


# --- the console's view of the crews' own steps -----------------------------------------------------


@dataclass(frozen=True)
class AssignmentLine:
    """A crew's job on an outage as the console shows the crew's own steps."""

    id: int
    crew_code: str
    status: str
    assigned_at: datetime
    acknowledge_deadline: datetime
    acknowledged_at: datetime | None
    en_route_at: datetime | None
    on_site_at: datetime | None
    on_site_source: str | None
    handover_note: str | None
    ended_at: datetime | None


@dataclass(frozen=True)
class OutageFieldView:
    assignments: tuple[AssignmentLine, ...]
    requests: tuple[RequestLine, ...]

    @property
    def open_requests(self) -> tuple[RequestLine, ...]:
        return tuple(r for r in self.requests if r.answered_at is None)


def outage_field_view(ctx: Context, outage_id: int) -> OutageFieldView:
    """Every crew job on the outage (handed-over ones with their notes) and the crews' requests."""
    with read_as(ctx.db, ctx.actor, OPERATOR_ROLES) as session:
        rules = crew_field.FieldRules.from_settings(session)
        lines = tuple(
            AssignmentLine(
                a.id,
                code,
                str(a.status),
                a.assigned_at,
                a.assigned_at + timedelta(minutes=rules.acknowledge_minutes),
                a.acknowledged_at,
                a.en_route_at,
                a.on_site_at,
                str(a.on_site_source) if a.on_site_source else None,
                a.handover_note,
                a.completed_at or a.cancelled_at,
            )
            for a, code in session.execute(
                select(CrewAssignment, Crew.code)
                .join(Crew, Crew.id == CrewAssignment.crew_id)
                .where(CrewAssignment.outage_id == outage_id)
                .order_by(CrewAssignment.assigned_at, CrewAssignment.id)
            )
        )
        return OutageFieldView(lines, _requests(session, outage_id=outage_id))


# --- the users page: which crew a crew leader's account leads ----------------------------------------


@dataclass(frozen=True)
class CrewChoice:
    crew_id: int
    label: str  # "code · name", and the lending company for a mutual-aid crew


def crew_choices(ctx: Context) -> tuple[CrewChoice, ...]:
    """Every crew, by code, for linking a crew leader's account (administrators)."""
    with read_as(ctx.db, ctx.actor, (Role.ADMIN,)) as session:
        return tuple(
            CrewChoice(crew_id, f"{code} · {name}" + (f" ({company})" if company else ""))
            for crew_id, code, name, company in session.execute(
                select(Crew.id, Crew.code, Crew.name, Crew.company).order_by(Crew.code)
            )
        )
