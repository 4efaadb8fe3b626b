"""The crew page's steps (accept, en route, on site, ETR, restore, hand over, ask for help or
materials) and the dispatcher's answer to a crew's request.

A crew leader acts on their own crew's jobs only (checked in `emergency.dispatch.crew_field`
against the account's crew, whatever id the page sent); dispatchers and managers may act on any.
Every step carries an idempotency key made when its button was drawn: the first run stores its
outcome under the key (`emergency.core.command_keys`) in the same transaction, and a repeat (a
double tap, a resend after a dropped connection) returns that outcome and changes nothing.
A step done offline carries `done_at`, the time it was done (checked there).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, fields, replace
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from emergency.app.bus import handles
from emergency.app.context import Context
from emergency.core import command_keys
from emergency.core.errors import Conflict
from emergency.core.models import Crew, CrewAssignment, EtrConfidence, EtrSource, OnSiteSource, Role
from emergency.core.unit_of_work import read_as, unit_of_work
from emergency.core.vocabulary import FieldRequestKind
from emergency.dispatch import crew_field, crews, etr
from emergency.dispatch.crews import OPERATOR_ROLES

# The crew leader, and the control room (which keeps every power it had over crews' jobs).
CREW_ROLES = (Role.CREW, *OPERATOR_ROLES)


@dataclass(frozen=True)
class FieldOutcome:
    """What a crew step did, as stored under its key: a repeat gets the same, with `replayed`."""

    step: str
    assignment_id: int
    outage_id: int
    recorded_at: datetime
    done_at: datetime | None = None  # a late entry's time
    etr_at: datetime | None = None
    customers: int | None = None  # restored by this step
    still_out: int | None = None
    request_id: int | None = None
    replayed: bool = False

    def to_json(self) -> dict[str, Any]:
        return {
            name: value.isoformat() if isinstance(value, datetime) else value
            for name, value in asdict(self).items()
            if name != "replayed"
        }

    @classmethod
    def from_json(cls, stored: dict[str, Any]) -> FieldOutcome:
        times = {"recorded_at", "done_at", "etr_at"}
        values: dict[str, Any] = {
            f.name: (
                datetime.fromisoformat(stored[f.name])
                if f.name in times and stored[f.name]
                else stored[f.name]
            )
            for f in fields(cls)
            if f.name in stored
        }
        return replace(cls(**values), replayed=True)


def _once(ctx: Context, key: str, command: str, work: Callable[[Session], FieldOutcome]) -> FieldOutcome:
    """Run `work` once per key: claim the key, do the step, store its outcome, all in one transaction."""
    try:
        with unit_of_work(ctx.db, ctx.actor, CREW_ROLES, against_analysis=True) as session:
            stored = command_keys.stored_outcome(session, key, ctx.actor, command)
            if stored is not None:
                return FieldOutcome.from_json(stored)
            row = command_keys.claim(session, ctx.clock, key, ctx.actor, command)
            outcome = work(session)
            command_keys.settle(row, outcome.to_json())
            return outcome
    except command_keys.ClaimedElsewhere:
        # The same step, sent twice at once, was stored by the other run while this one waited.
        with read_as(ctx.db, ctx.actor, CREW_ROLES) as session:
            stored = command_keys.stored_outcome(session, key, ctx.actor, command)
        if stored is None:
            raise Conflict("this step is being recorded; reload in a moment") from None
        return FieldOutcome.from_json(stored)


def _of(step: str, assignment: CrewAssignment, ctx: Context, done_at: datetime | None) -> FieldOutcome:
    return FieldOutcome(step, assignment.id, assignment.outage_id, ctx.clock.now(), done_at)


# --- the job's lifecycle -------------------------------------------------------------------------


@dataclass(frozen=True)
class AcceptJob:
    """The crew leader accepts the job (the "crew acknowledged" clock stops)."""

    assignment_id: int
    expected_version: int | None
    key: str
    done_at: datetime | None = None


@handles(AcceptJob)
def accept_job(ctx: Context, cmd: AcceptJob) -> FieldOutcome:
    def work(session: Session) -> FieldOutcome:
        job = crew_field.acknowledge(
            session,
            ctx.clock,
            ctx.actor,
            cmd.assignment_id,
            expected_version=cmd.expected_version,
            done_at=cmd.done_at,
        )
        return _of("accept", job, ctx, cmd.done_at)

    return _once(ctx, cmd.key, "AcceptJob", work)


@dataclass(frozen=True)
class CrewEnRoute:
    """The crew has set off for its job's outage."""

    assignment_id: int
    expected_version: int | None
    key: str
    done_at: datetime | None = None


@handles(CrewEnRoute)
def crew_en_route(ctx: Context, cmd: CrewEnRoute) -> FieldOutcome:
    def work(session: Session) -> FieldOutcome:
        job = crew_field.own_assignment(session, ctx.actor, cmd.assignment_id)
        when = crew_field.step_time(session, ctx.clock, job, cmd.done_at, upto="en_route")
        job = crews.mark_en_route(
            session, ctx.clock, ctx.actor, job.id, expected_version=cmd.expected_version, at=when
        )
        return _of("en_route", job, ctx, when)

    return _once(ctx, cmd.key, "CrewEnRoute", work)


@dataclass(frozen=True)
class CrewOnSite:
    """The crew says it has arrived: recorded with source `crew` and its newest position."""

    assignment_id: int
    expected_version: int | None
    key: str
    done_at: datetime | None = None


@handles(CrewOnSite)
def crew_on_site(ctx: Context, cmd: CrewOnSite) -> FieldOutcome:
    def work(session: Session) -> FieldOutcome:
        job = crew_field.own_assignment(session, ctx.actor, cmd.assignment_id)
        when = crew_field.step_time(session, ctx.clock, job, cmd.done_at, upto="on_site")
        crew = session.get(Crew, job.crew_id)
        assert crew is not None
        arrival = crews.Arrival(OnSiteSource.CREW, crew_field.newest_position(session, crew))
        job = crews.mark_on_site(
            session,
            ctx.clock,
            ctx.actor,
            job.id,
            expected_version=cmd.expected_version,
            arrival=arrival,
            at=when,
        )
        return _of("on_site", job, ctx, when)

    return _once(ctx, cmd.key, "CrewOnSite", work)


@dataclass(frozen=True)
class CrewSetEtr:
    """The crew sets (or confirms) its outage's ETR: source `crew`, which outranks the system's."""

    assignment_id: int
    etr_at: datetime
    confidence: EtrConfidence | str
    key: str


@handles(CrewSetEtr)
def crew_set_etr(ctx: Context, cmd: CrewSetEtr) -> FieldOutcome:
    def work(session: Session) -> FieldOutcome:
        job = crew_field.own_assignment(session, ctx.actor, cmd.assignment_id)
        crew_field.require_open(job)
        outage = etr.set_etr(
            session, ctx.clock, ctx.actor, job.outage_id, cmd.etr_at, cmd.confidence, EtrSource.CREW
        )
        return replace(_of("etr", job, ctx, None), etr_at=outage.etr_at)

    return _once(ctx, cmd.key, "CrewSetEtr", work)


@dataclass(frozen=True)
class CrewRestore:
    """The crew restores everyone still out at its outage, or with `customers` a step of that many."""

    assignment_id: int
    customers: int | None
    key: str
    done_at: datetime | None = None
    note: str | None = None


@handles(CrewRestore)
def crew_restore(ctx: Context, cmd: CrewRestore) -> FieldOutcome:
    def work(session: Session) -> FieldOutcome:
        outage, restored = crew_field.restore(
            session,
            ctx.clock,
            ctx.actor,
            cmd.assignment_id,
            customers=cmd.customers,
            note=cmd.note,
            done_at=cmd.done_at,
        )
        still_out = outage.customers_affected - outage.customers_restored
        return FieldOutcome(
            "restore" if still_out == 0 else "restore_step",
            cmd.assignment_id,
            outage.id,
            ctx.clock.now(),
            cmd.done_at,
            customers=restored,
            still_out=still_out,
        )

    return _once(ctx, cmd.key, "CrewRestore", work)


@dataclass(frozen=True)
class HandOver:
    """The crew ends its part in the job with a note for the next crew; the outage stays active."""

    assignment_id: int
    note: str
    expected_version: int | None
    key: str
    done_at: datetime | None = None


@handles(HandOver)
def hand_over(ctx: Context, cmd: HandOver) -> FieldOutcome:
    def work(session: Session) -> FieldOutcome:
        job = crew_field.hand_over(
            session,
            ctx.clock,
            ctx.actor,
            cmd.assignment_id,
            cmd.note,
            expected_version=cmd.expected_version,
            done_at=cmd.done_at,
        )
        return _of("handover", job, ctx, cmd.done_at)

    return _once(ctx, cmd.key, "HandOver", work)


@dataclass(frozen=True)
class RequestSupport:
    """The crew asks for help (`help`) or materials (`materials`) at its job's outage."""

    assignment_id: int
    kind: FieldRequestKind | str
    text: str
    key: str
    done_at: datetime | None = None


@handles(RequestSupport)
def request_support(ctx: Context, cmd: RequestSupport) -> FieldOutcome:
    def work(session: Session) -> FieldOutcome:
        request = crew_field.request_support(
            session, ctx.clock, ctx.actor, cmd.assignment_id, cmd.kind, cmd.text, done_at=cmd.done_at
        )
        return FieldOutcome(
            f"request_{request.kind}",
            cmd.assignment_id,
            request.outage_id,
            ctx.clock.now(),
            cmd.done_at,
            request_id=request.id,
        )

    return _once(ctx, cmd.key, "RequestSupport", work)


# --- the dispatcher's side -------------------------------------------------------------------------


@dataclass(frozen=True)
class AnswerFieldRequest:
    """A dispatcher answers a crew's request for help or materials."""

    request_id: int
    answer: str
    expected_version: int | None


@handles(AnswerFieldRequest)
def answer_field_request(ctx: Context, cmd: AnswerFieldRequest) -> int:
    """The request's new version."""
    with unit_of_work(ctx.db, ctx.actor, OPERATOR_ROLES) as session:
        request = crew_field.answer_request(
            session, ctx.clock, ctx.actor, cmd.request_id, cmd.answer, expected_version=cmd.expected_version
        )
        return request.version
