"""What a crew leader does from the crew page: accept a job, hand it over, ask for help or materials,
restore, and enter later a step done while offline. Dispatchers answer the requests.

A crew leader (role crew) acts only on their own crew's assignments: every function here loads the
assignment through `own_assignment`, which refuses another crew's job whatever id was sent. A
dispatcher or manager may act on any crew's job (they keep all their powers).

A step done without coverage is entered later with the time it was done (`done_at`): it must not be
in the future, nor before the job's previous step (or its dispatch), nor older than
`crew.late_entry_max_hours`. The step's own times (and so the SLA clocks) take `done_at`; the audit
row is written now and carries `done_at` in `after`, so the trail keeps both times.

Each function acts inside the caller's transaction (`emergency.app.commands.crew_field`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from emergency.core import audit
from emergency.core.actor import Actor
from emergency.core.clock import Clock
from emergency.core.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from emergency.core.field_models import CrewPosition, FieldRequest
from emergency.core.models import (
    Crew,
    CrewAssignment,
    Outage,
    OutageState,
    RestorationStep,
    Role,
    User,
)
from emergency.core.settings import get_setting
from emergency.core.vocabulary import FieldRequestKind
from emergency.dispatch.crews import (
    OPEN_ASSIGNMENT,
    Release,
    assignment_snapshot,
    release_assignment,
    require_active,
)
from emergency.dispatch.outages import outage_snapshot, record_restoration

MAX_HANDOVER_CHARS = 1000  # crew_assignments.handover_note
MAX_REQUEST_CHARS = 2000  # field_requests.text
MAX_ANSWER_CHARS = 500  # field_requests.answer
MAX_NOTE_CHARS = 500  # restoration_steps.note


@dataclass(frozen=True)
class FieldRules:
    """The crew page's thresholds, from the settings table."""

    acknowledge_minutes: float
    late_entry_max_hours: float

    @classmethod
    def from_settings(cls, session: Session) -> FieldRules:
        return cls(
            float(get_setting(session, "crew.acknowledge_minutes")),
            float(get_setting(session, "crew.late_entry_max_hours")),
        )


# --- whose job ----------------------------------------------------------------------------------


def crew_of(session: Session, actor: Actor) -> int:
    """The crew a crew leader's account is linked to; refused for an account without one."""
    crew_id = session.scalar(select(User.crew_id).where(User.username == actor.username, User.active))
    if crew_id is None:
        # The account is set up wrong (an administrator links it to its crew), not refused a right.
        raise NotFound(f"account {actor.username} is not linked to a crew; ask an administrator")
    return int(crew_id)


def own_assignment(session: Session, actor: Actor, assignment_id: int) -> CrewAssignment:
    """The assignment, if this actor may act on it: a crew leader only on their own crew's."""
    assignment = session.get(CrewAssignment, assignment_id)
    # A crew leader is checked before being told whether the id exists: a forged id learns nothing.
    if actor.role == Role.CREW and (assignment is None or assignment.crew_id != crew_of(session, actor)):
        raise PermissionDenied(f"assignment {assignment_id} is not your crew's")
    if assignment is None:
        raise NotFound(f"no crew assignment {assignment_id}")
    return assignment


def require_version(assignment: CrewAssignment, expected_version: int | None) -> None:
    if expected_version is not None and assignment.version != expected_version:
        raise Conflict(
            f"your job at outage {assignment.outage_id} was changed by someone else; reload and try again"
        )


def require_open(assignment: CrewAssignment) -> None:
    if assignment.status not in OPEN_ASSIGNMENT:
        raise Conflict(
            f"the job at outage {assignment.outage_id} is {str(assignment.status).replace('_', ' ')}; "
            "it is no longer yours to act on"
        )


# --- when a step was done -----------------------------------------------------------------------


def previous_step_at(session: Session, assignment: CrewAssignment, *, upto: str = "all") -> datetime:
    """The job's latest recorded step before the one being entered (its dispatch at the earliest).

    `upto` names the step being entered: accepting follows only the dispatch, leaving follows the
    acceptance, arriving follows leaving; anything else (restore, hand over, a request) follows them
    all and the outage's latest restoration step.
    """
    order = ["assigned_at", "acknowledged_at", "en_route_at", "on_site_at"]
    limit = {"acknowledge": 1, "en_route": 2, "on_site": 3}.get(upto, len(order))
    times = [t for t in (getattr(assignment, name) for name in order[:limit]) if t is not None]
    if upto == "all":
        last_step = session.scalar(
            select(func.max(RestorationStep.at)).where(RestorationStep.outage_id == assignment.outage_id)
        )
        if last_step is not None:
            times.append(last_step)
    return max(times)


def step_time(
    session: Session,
    clock: Clock,
    assignment: CrewAssignment,
    done_at: datetime | None,
    *,
    upto: str = "all",
) -> datetime | None:
    """Check a late entry's `done_at` (None: the step is done now, returns None)."""
    if done_at is None:
        return None
    if not isinstance(done_at, datetime) or done_at.tzinfo is None:
        raise InvalidInput("a time with its time zone", field="done_at")
    now = clock.now()
    if done_at > now:
        raise InvalidInput("a step cannot be done in the future", field="done_at")
    oldest = now - timedelta(hours=FieldRules.from_settings(session).late_entry_max_hours)
    if done_at < oldest:
        raise InvalidInput(
            f"more than {FieldRules.from_settings(session).late_entry_max_hours:g} hours ago; "
            "ask the dispatcher to record it",
            field="done_at",
        )
    previous = previous_step_at(session, assignment, upto=upto)
    if done_at < previous:
        raise InvalidInput(
            f"before the job's previous step ({previous.isoformat(timespec='minutes')})", field="done_at"
        )
    return done_at


def _times(done_at: datetime | None) -> dict[str, Any]:
    """What an audit row's `after` adds for a late entry: when the step was done."""
    return {"done_at": done_at.isoformat()} if done_at is not None else {}


def newest_position(session: Session, crew: Crew) -> tuple[float, float] | None:
    """Where the crew last said it was: its newest tracked position, else the crew's own position
    if a device or dispatcher ever set it (a crew that never reported has only its depot)."""
    row = session.execute(
        select(CrewPosition.lon, CrewPosition.lat)
        .where(CrewPosition.crew_id == crew.id)
        .order_by(CrewPosition.at.desc(), CrewPosition.id.desc())
        .limit(1)
    ).first()
    if row is not None:
        return (float(row[0]), float(row[1]))
    if crew.position_at is not None:
        return (crew.lon, crew.lat)
    return None


# --- the steps ----------------------------------------------------------------------------------


def acknowledge(
    session: Session,
    clock: Clock,
    actor: Actor,
    assignment_id: int,
    *,
    expected_version: int | None,
    done_at: datetime | None = None,
) -> CrewAssignment:
    """The crew leader accepts the job: `acknowledged_at` (its own clock from dispatch)."""
    assignment = own_assignment(session, actor, assignment_id)
    require_version(assignment, expected_version)
    require_open(assignment)
    if assignment.acknowledged_at is not None:
        raise Conflict(f"the job at outage {assignment.outage_id} was already accepted")
    when = step_time(session, clock, assignment, done_at, upto="acknowledge")
    before = assignment_snapshot(assignment)
    assignment.acknowledged_at = when or clock.now()
    _flush(session, assignment)
    audit.record(
        session,
        clock,
        actor,
        "crew.acknowledge",
        "crew_assignment",
        assignment.id,
        before=before,
        after={**assignment_snapshot(assignment), **_times(when)},
        detail=f"outage {assignment.outage_id}",
    )
    return assignment


def hand_over(
    session: Session,
    clock: Clock,
    actor: Actor,
    assignment_id: int,
    note: str,
    *,
    expected_version: int | None,
    done_at: datetime | None = None,
) -> CrewAssignment:
    """The crew ends its part in the job (end of shift, wrong skills) and says what the next crew
    must know. The outage stays active: with no other crew on it, it goes back to waiting for one
    (confirmed, or predicted if nobody confirmed it), so the console shows it needing a crew."""
    text = _text(note, MAX_HANDOVER_CHARS, "note", required="say what the next crew must know") or ""
    assignment = own_assignment(session, actor, assignment_id)
    require_version(assignment, expected_version)
    require_open(assignment)
    when = step_time(session, clock, assignment, done_at)
    release_assignment(
        session,
        clock,
        actor,
        assignment,
        Release(
            action="crew.handover",
            detail=text,
            verb="handed over",
            conflict=_changed(assignment),
            done_at=when,
            handover_note=text,
        ),
    )
    return assignment


def restore(
    session: Session,
    clock: Clock,
    actor: Actor,
    assignment_id: int,
    *,
    customers: int | None,
    note: str | None = None,
    done_at: datetime | None = None,
) -> tuple[Outage, int]:
    """The crew restores everyone still out, or a step of `customers`, at its outage; returns the
    outage and how many customers this step brought back.

    The same restoration record as the console's (`emergency.dispatch.outages.record_restoration`),
    stamped with `done_at` for a late entry.
    """
    text = _text(note, MAX_NOTE_CHARS, "note")
    assignment = own_assignment(session, actor, assignment_id)
    require_open(assignment)
    outage = session.get(Outage, assignment.outage_id)
    assert outage is not None
    require_active(outage)
    still_out = outage.customers_affected - outage.customers_restored
    if customers is None:
        customers = still_out
    elif isinstance(customers, bool) or not isinstance(customers, int) or not 0 < customers <= still_out:
        raise InvalidInput(f"from 1 to the {still_out} customers still out", field="customers")
    when = step_time(session, clock, assignment, done_at)
    before = outage_snapshot(outage)
    record_restoration(session, outage, when or clock.now(), customers, actor.username, text)
    try:
        session.flush()
    except StaleDataError:
        raise Conflict(f"outage {outage.id} was changed by someone else; reload and try again") from None
    action = "outage.restore" if outage.state == OutageState.RESTORED else "outage.restore_step"
    audit.record(
        session,
        clock,
        actor,
        action,
        "outage",
        outage.id,
        before=before,
        after={**outage_snapshot(outage), **_times(when)},
        detail=f"{customers} customers, by the crew on assignment {assignment.id}",
    )
    return outage, customers


def request_support(
    session: Session,
    clock: Clock,
    actor: Actor,
    assignment_id: int,
    kind: FieldRequestKind | str,
    text: str,
    *,
    done_at: datetime | None = None,
) -> FieldRequest:
    """The crew asks for help (more crews, a specialist) or materials for its job's outage."""
    try:
        kind_value = FieldRequestKind(kind)
    except ValueError:
        raise InvalidInput(f"one of {', '.join(k.value for k in FieldRequestKind)}", field="kind") from None
    body = _text(text, MAX_REQUEST_CHARS, "text", required="say what you need")
    assignment = own_assignment(session, actor, assignment_id)
    require_open(assignment)
    when = step_time(session, clock, assignment, done_at)
    now = clock.now()
    request = FieldRequest(
        outage_id=assignment.outage_id,
        crew_id=assignment.crew_id,
        kind=kind_value,
        text=body,
        at=now,
        done_at=when or now,
        by=actor.username,
    )
    session.add(request)
    session.flush()
    audit.record(
        session,
        clock,
        actor,
        f"crew.request_{kind_value.value}",
        "field_request",
        request.id,
        after={
            "outage_id": request.outage_id,
            "crew_id": request.crew_id,
            "kind": kind_value.value,
            **_times(when),
        },
        detail=body,
    )
    return request


def answer_request(
    session: Session,
    clock: Clock,
    actor: Actor,
    request_id: int,
    answer: str,
    *,
    expected_version: int | None,
) -> FieldRequest:
    """A dispatcher answers a crew's request (sent, on its way, refused and why)."""
    text = _text(answer, MAX_ANSWER_CHARS, "answer", required="write the answer the crew will read")
    request = session.get(FieldRequest, request_id)
    if request is None:
        raise NotFound(f"no field request {request_id}")
    if expected_version is not None and request.version != expected_version:
        raise Conflict(f"request {request_id} was changed by someone else; reload and try again")
    if request.answered_at is not None:
        raise Conflict(f"request {request_id} was already answered by {request.answered_by}")
    request.answered_at = clock.now()
    request.answered_by = actor.username
    request.answer = text
    try:
        session.flush()
    except StaleDataError:
        raise Conflict(f"request {request_id} was changed by someone else; reload and try again") from None
    audit.record(
        session,
        clock,
        actor,
        "crew.request_answer",
        "field_request",
        request.id,
        before={"answered_at": None},
        after={"answered_by": actor.username, "answer": text, "version": request.version},
        detail=f"outage {request.outage_id}",
    )
    return request


def _text(value: str | None, limit: int, field: str, *, required: str | None = None) -> str | None:
    """Trimmed text, refused (never cut) when longer than the column holds."""
    text = (value or "").strip()
    if not text:
        if required:
            raise InvalidInput(required, field=field)
        return None
    if len(text) > limit:
        raise InvalidInput(f"at most {limit} characters ({len(text)} given)", field=field)
    return text


def _flush(session: Session, assignment: CrewAssignment) -> None:
    try:
        session.flush()
    except StaleDataError:
        raise Conflict(_changed(assignment)) from None


def _changed(assignment: CrewAssignment) -> str:
    """The refusal when someone changed the crew's job between its page's draw and its tap."""
    return f"your job at outage {assignment.outage_id} was changed by someone else; reload and try again"
