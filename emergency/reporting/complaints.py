"""The complaints and feedback desk: every complaint and piece of feedback with its clocks, the steps
a manager records on it, and the restored outages still waiting for the customer's confirmation.

The steps follow the service standard (DOMAIN.md section 1, seed section 3 and 5):

- a complaint is accepted (受理), answered within 2 hours (响应), given a preliminary solution
  within 24 hours (初步解决方案), its investigation result fed back within 3 working days of
  acceptance (处理结果), then closed with the customer's satisfaction;
- other feedback (a suggestion, praise, a question) is accepted, verified within 3 working days of
  submission (核实), answered through the channel it came from, then closed with the customer's
  satisfaction.

Each step is one command (`emergency.app.commands.reporting`), whose handler checks the actor's
role and opens the transaction; `record_step` checks the version the manager saw and that the step
comes next, stamps the step's time (which stops that step's clock) and writes an audit event with
the row before and after. The clocks are `emergency.dispatch.sla`'s, computed from the same
`sla_targets` rows the SLA monitor and the public receipt use.

A restored outage is verified by a return call to a customer, within 3 working days of the
restoration (the `outage_verified` target). Recording it stamps `Outage.verified_at` and closes
the outage; a dispatcher closing a restored outage counts as verified at that moment.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from enum import StrEnum
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from emergency.core import audit
from emergency.core.actor import Actor
from emergency.core.calendar import load_overrides
from emergency.core.clock import Clock
from emergency.core.errors import Conflict, InvalidInput, NotFound
from emergency.core.models import (
    AuditEvent,
    Device,
    District,
    Feedback,
    FeedbackKind,
    FeedbackStatus,
    Outage,
    OutageState,
    Role,
)
from emergency.dispatch.outages import outage_snapshot
from emergency.dispatch.sla import (
    ClockStatus,
    Target,
    at_risk_window,
    clock_status,
    deadline_for,
    feedback_clocks,
    load_targets,
    most_urgent,
)

DESK_ROLES = (Role.MANAGER, Role.ADMIN)
VERIFICATION_TARGET = "restored_outage"  # the `applies_to` of the outage verification clock
MAX_NOTE_CHARS = 500
SATISFACTION_SCORES = range(1, 6)
E = TypeVar("E", bound=StrEnum)


class Step(StrEnum):
    ACCEPT = "accept"
    RESPOND = "respond"
    PRELIMINARY = "preliminary"
    RESULT = "result"
    VERIFY = "verify"
    CLOSE = "close"


# The order of the steps by kind of feedback; each stamps `<time>_at` and moves the status on.
COMPLAINT_STEPS = (Step.ACCEPT, Step.RESPOND, Step.PRELIMINARY, Step.RESULT, Step.CLOSE)
FEEDBACK_STEPS = (Step.ACCEPT, Step.VERIFY, Step.RESPOND, Step.CLOSE)
STEP_TIME = {
    Step.ACCEPT: "accepted_at",
    Step.RESPOND: "responded_at",
    Step.PRELIMINARY: "preliminary_at",
    Step.RESULT: "result_at",
    Step.VERIFY: "verified_at",
}
STEP_STATUS = {
    Step.ACCEPT: FeedbackStatus.IN_PROGRESS,
    Step.RESPOND: FeedbackStatus.RESPONDED,
    Step.PRELIMINARY: FeedbackStatus.IN_PROGRESS,
    Step.RESULT: FeedbackStatus.RESOLVED,
    Step.VERIFY: FeedbackStatus.VERIFIED,
    Step.CLOSE: FeedbackStatus.CLOSED,
}


def steps_for(kind: str) -> tuple[Step, ...]:
    return COMPLAINT_STEPS if str(kind) == FeedbackKind.COMPLAINT else FEEDBACK_STEPS


def next_step(item: Any) -> Step | None:
    """The first step of the item's kind not yet recorded; None once it is closed."""
    if str(item.status) == FeedbackStatus.CLOSED:
        return None
    for step in steps_for(item.kind):
        if step == Step.CLOSE or getattr(item, STEP_TIME[step]) is None:
            return step
    return None


# --- reading ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DeskItem:
    """One complaint or piece of feedback as the desk lists it (staff only: it names the customer)."""

    id: int
    reference: str
    kind: str
    channel: str
    status: str
    submitted_at: datetime
    text: str
    account_no: str | None
    contact_name: str | None
    contact: str | None
    satisfaction: int | None
    handled_by: str | None
    next_step: Step | None
    clocks: tuple[ClockStatus, ...]
    version: int

    @property
    def breached(self) -> bool:
        """A clock past its deadline, running or stopped late."""
        return any(c.breached for c in self.clocks)

    @property
    def urgent(self) -> ClockStatus | None:
        return most_urgent(self.clocks)


@dataclass(frozen=True)
class ClockContext:
    """What every clock of one listing needs: the targets, the calendar and the time."""

    targets: Sequence[Target]
    overrides: Mapping[date, bool]
    tz: ZoneInfo
    now: datetime
    at_risk: timedelta

    @classmethod
    def load(cls, session: Session, now: datetime, tz: ZoneInfo) -> ClockContext:
        return cls(load_targets(session), load_overrides(session), tz, now, at_risk_window(session))


def list_feedback(
    session: Session,
    now: datetime,
    tz: ZoneInfo,
    *,
    kinds: Iterable[str] = (),
    statuses: Iterable[str] = (),
    breached_only: bool = False,
) -> list[DeskItem]:
    """Complaints and feedback, open ones first by their most urgent clock, then the newest closed."""
    query = select(Feedback).order_by(Feedback.submitted_at.desc(), Feedback.id.desc())
    if kinds := [_choice(FeedbackKind, k, "kind") for k in kinds]:
        query = query.where(Feedback.kind.in_(kinds))
    if statuses := [_choice(FeedbackStatus, s, "status") for s in statuses]:
        query = query.where(Feedback.status.in_(statuses))
    context = ClockContext.load(session, now, tz)
    items = [_desk_item(row, context) for row in session.scalars(query)]
    if breached_only:
        items = [item for item in items if item.breached]

    def order(item: DeskItem) -> tuple[bool, float, float]:
        urgent = item.urgent
        running = urgent is not None and urgent.running
        left = urgent.remaining.total_seconds() if running and urgent else 0.0
        return (not running, left, -item.submitted_at.timestamp())

    return sorted(items, key=order)


def _desk_item(row: Feedback, context: ClockContext) -> DeskItem:
    clocks = feedback_clocks(
        row, context.targets, context.now, context.overrides, context.tz, context.at_risk
    )
    return DeskItem(
        id=row.id,
        reference=row.reference,
        kind=str(row.kind),
        channel=str(row.channel),
        status=str(row.status),
        submitted_at=row.submitted_at,
        text=row.text,
        account_no=row.account_no,
        contact_name=row.contact_name,
        contact=row.contact,
        satisfaction=row.satisfaction,
        handled_by=row.handled_by,
        next_step=next_step(row),
        clocks=tuple(clocks),
        version=row.version,
    )


def _choice(enum: type[E], value: str, field: str) -> E:
    try:
        return enum(str(value))
    except ValueError:
        raise InvalidInput(f"one of {', '.join(m.value for m in enum)}", field=field) from None


# --- recording a step -----------------------------------------------------------------------------


def record_step(
    session: Session,
    clock: Clock,
    actor: Actor,
    tz: ZoneInfo,
    feedback_id: int,
    step: Step | str,
    expected_version: int,
    *,
    note: str | None = None,
    satisfaction: int | None = None,
) -> DeskItem:
    """Record one step on a complaint or piece of feedback, now, by `actor` (whose role the caller
    checked); the item is returned with its clocks in the local time zone `tz`.

    Raises NotFound; InvalidInput for a step its kind does not have, an over-long note or a
    satisfaction outside 1-5 (only closing records one); Conflict when someone changed it since
    `expected_version` or the step is not the next one (already recorded, or an earlier step missing).
    """
    chosen = _choice(Step, str(step), "step")
    note_text = _note(note)
    if satisfaction is not None:
        if chosen != Step.CLOSE:
            raise InvalidInput("the customer's satisfaction is recorded when closing", field="satisfaction")
        if satisfaction not in SATISFACTION_SCORES:
            raise InvalidInput("a score from 1 (very unhappy) to 5 (very satisfied)", field="satisfaction")
    item = session.get(Feedback, feedback_id)
    if item is None:
        raise NotFound(f"no feedback {feedback_id}")
    if item.version != expected_version:
        raise Conflict(_changed_by(session, "feedback", item.id, item.reference))
    _require_next(item, chosen)
    before = _feedback_snapshot(item)
    now = clock.now()
    if chosen in STEP_TIME:
        setattr(item, STEP_TIME[chosen], now)
    if chosen == Step.CLOSE:
        item.satisfaction = satisfaction
    item.status = STEP_STATUS[chosen]
    item.handled_by = actor.username
    _flush(session, item.reference)
    audit.record(
        session,
        clock,
        actor,
        f"feedback.{chosen.value}",
        "feedback",
        item.id,
        before=before,
        after=_feedback_snapshot(item),
        detail=note_text,
    )
    return _desk_item(item, ClockContext.load(session, now, tz))


def _require_next(item: Feedback, step: Step) -> None:
    steps = steps_for(item.kind)
    kind = "a complaint" if str(item.kind) == FeedbackKind.COMPLAINT else f"feedback ({item.kind})"
    if step not in steps:
        allowed = ", ".join(s.value for s in steps)
        raise InvalidInput(f"{kind} has no '{step.value}' step; its steps are {allowed}", field="step")
    expected = next_step(item)
    if expected is None:
        raise Conflict(f"{item.reference} is already closed")
    if step == expected:
        return
    if steps.index(step) < steps.index(expected):
        raise Conflict(
            f"{item.reference}: '{step.value}' is already recorded; the next step is '{expected.value}'"
        )
    raise Conflict(f"{item.reference}: record '{expected.value}' before '{step.value}'")


def _feedback_snapshot(item: Feedback) -> dict[str, Any]:
    times = {name: _iso(getattr(item, name)) for name in STEP_TIME.values()}
    return {"status": str(item.status), **times, "satisfaction": item.satisfaction, "version": item.version}


# --- restored outages awaiting the customer's confirmation ---------------------------------------


@dataclass(frozen=True)
class PendingVerification:
    outage_id: int
    district_code: str
    device_code: str
    customers_affected: int
    first_report_at: datetime
    restored_at: datetime
    clock: ClockStatus | None  # None when the utility removed the `outage_verified` target
    version: int


def pending_verifications(session: Session, now: datetime, tz: ZoneInfo) -> list[PendingVerification]:
    """Restored outages nobody has verified or closed yet, the one due soonest first."""
    context = ClockContext.load(session, now, tz)
    targets = [t for t in context.targets if t.applies_to == VERIFICATION_TARGET]
    rows = session.execute(
        select(Outage, District.code, Device.code)
        .join(Device, Device.id == Outage.device_id)
        .outerjoin(District, District.id == Outage.district_id)
        .where(
            Outage.state == OutageState.RESTORED,
            Outage.verified_at.is_(None),
            Outage.restored_at.is_not(None),
        )
        .order_by(Outage.restored_at, Outage.id)
    ).all()
    pending = []
    for outage, district_code, device_code in rows:
        clocks = [_verification_clock(t, outage, context) for t in targets]
        pending.append(
            PendingVerification(
                outage_id=outage.id,
                district_code=district_code or "",
                device_code=device_code,
                customers_affected=outage.customers_affected,
                first_report_at=outage.first_report_at,
                restored_at=outage.restored_at,
                clock=most_urgent(clocks),
                version=outage.version,
            )
        )
    return pending


def _verification_clock(target: Target, outage: Outage, context: ClockContext) -> ClockStatus:
    started = getattr(outage, f"{target.starts_on}_at")
    # A dispatcher's close (`close_outage`) means restoration was verified then.
    stopped = getattr(outage, f"{target.stops_on}_at", None) or outage.closed_at
    deadline = deadline_for(target, started, tz=context.tz, calendar_overrides=context.overrides)
    return clock_status(target, started, deadline, stopped, context.now, context.at_risk)


def verify_restoration(
    session: Session,
    clock: Clock,
    actor: Actor,
    outage_id: int,
    expected_version: int,
    *,
    note: str | None = None,
) -> None:
    """The customer confirmed power is back: stamp `verified_at` and close the outage.

    The caller checked `actor`'s role and holds the analysis lock (it changes an outage's state).
    """
    note_text = _note(note)
    outage = session.get(Outage, outage_id)
    if outage is None:
        raise NotFound(f"no outage {outage_id}")
    if outage.version != expected_version:
        raise Conflict(_changed_by(session, "outage", outage.id, f"outage {outage.id}"))
    if outage.state != OutageState.RESTORED or outage.verified_at is not None:
        raise Conflict(f"outage {outage.id} is {outage.state}; only a restored outage awaits verification")
    before = {**outage_snapshot(outage), "verified_at": None}
    now = clock.now()
    outage.verified_at = now
    outage.state = OutageState.CLOSED
    outage.closed_at = now
    _flush(session, f"outage {outage.id}")
    audit.record(
        session,
        clock,
        actor,
        "outage.verify",
        "outage",
        outage.id,
        before=before,
        after={**outage_snapshot(outage), "verified_at": _iso(now)},
        detail=note_text,
    )


# --- helpers ------------------------------------------------------------------------------------


def _changed_by(session: Session, entity: str, entity_id: int, label: str) -> str:
    """Who changed it last, so the manager knows whom to ask before trying again."""
    last = session.execute(
        select(AuditEvent.actor, AuditEvent.action)
        .where(AuditEvent.entity == entity, AuditEvent.entity_id == str(entity_id))
        .order_by(AuditEvent.at.desc(), AuditEvent.id.desc())
        .limit(1)
    ).first()
    who = f" ({last.action} by {last.actor})" if last is not None else ""
    return f"{label} was just changed{who}; reload and try again"


def _flush(session: Session, label: str) -> None:
    try:
        session.flush()
    except StaleDataError:
        raise Conflict(f"{label} was just changed by someone else; reload and try again") from None


def _note(text: str | None) -> str | None:
    if text is None or not text.strip():
        return None
    text = text.strip()
    if len(text) > MAX_NOTE_CHARS:
        raise InvalidInput(f"at most {MAX_NOTE_CHARS} characters", field="note")
    return text


def _iso(when: datetime | None) -> str | None:
    return None if when is None else when.isoformat()
