"""The outage lifecycle people drive: confirm, restore (whole or in steps), cancel, close.

Trouble-call analysis (emergency.network.analysis) predicts and merges outages; the actions here are the
dispatcher's and the crew's. Each acts inside the caller's transaction (the handlers in
`emergency.app.commands.dispatch` open it, check the role and keep trouble-call analysis out),
refuses a stale edit (the version the caller saw), and writes an audit event.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from emergency.core import audit
from emergency.core.actor import Actor
from emergency.core.clock import Clock
from emergency.core.errors import Conflict, InvalidInput, NotFound
from emergency.core.models import (
    ACTIVE_OUTAGE_STATES,
    AssignmentStatus,
    Crew,
    CrewAssignment,
    CrewStatus,
    Outage,
    OutageState,
    RestorationStep,
)

# How far along an outage is; merging keeps the furthest state of the outages merged.
LIFECYCLE = (
    OutageState.REPORTED,
    OutageState.PREDICTED,
    OutageState.CONFIRMED,
    OutageState.DISPATCHED,
    OutageState.EN_ROUTE,
    OutageState.ON_SITE,
    OutageState.RESTORED,
    OutageState.CLOSED,
)
MAX_REASON_CHARS = 500


def furthest(states: list[OutageState]) -> OutageState:
    return max(states, key=lambda s: LIFECYCLE.index(s) if s in LIFECYCLE else -1)


def outage_snapshot(outage: Outage) -> dict[str, Any]:
    """The fields an audit event records before and after a change."""
    return {
        "state": str(outage.state),
        "device_id": outage.device_id,
        "customers_affected": outage.customers_affected,
        "customers_restored": outage.customers_restored,
        "version": outage.version,
    }


def record_restoration(
    session: Session,
    outage: Outage,
    at: datetime,
    customers: int,
    by: str,
    note: str | None = None,
    device_id: int | None = None,
) -> RestorationStep:
    """Bring `customers` back; the outage is restored when nobody is left out."""
    step = RestorationStep(
        outage_id=outage.id, at=at, customers_restored=customers, device_id=device_id, by=by, note=note
    )
    session.add(step)
    outage.customers_restored += customers
    if outage.customers_restored >= outage.customers_affected:
        outage.state = OutageState.RESTORED
        outage.restored_at = at
        end_open_assignments(session, outage.id, AssignmentStatus.COMPLETE, at)
    return step


def end_open_assignments(session: Session, outage_id: int, status: AssignmentStatus, at: datetime) -> None:
    """Close the outage's open crew assignments (complete or cancelled) and free their crews.

    Only crews still busy are freed: one that left this outage earlier may be busy elsewhere by now,
    and an off-duty crew stays off duty.
    """
    open_jobs = (
        CrewAssignment.outage_id == outage_id,
        CrewAssignment.status.not_in([AssignmentStatus.COMPLETE, AssignmentStatus.CANCELLED]),
    )
    crew_ids = list(session.scalars(select(CrewAssignment.crew_id).where(*open_jobs)))
    ended_at = {"completed_at": at} if status == AssignmentStatus.COMPLETE else {"cancelled_at": at}
    session.execute(
        update(CrewAssignment)
        .where(*open_jobs)
        .values(status=status, version=CrewAssignment.version + 1, **ended_at)
    )
    if crew_ids:
        session.execute(
            update(Crew)
            .where(
                Crew.id.in_(crew_ids),
                Crew.status.in_([CrewStatus.DISPATCHED, CrewStatus.EN_ROUTE, CrewStatus.ON_SITE]),
            )
            .values(status=CrewStatus.AVAILABLE, status_at=at, version=Crew.version + 1)
        )


def _load(session: Session, outage_id: int, expected_version: int | None) -> Outage:
    outage = session.get(Outage, outage_id)
    if outage is None:
        raise NotFound(f"no outage {outage_id}")
    if expected_version is not None and outage.version != expected_version:
        raise Conflict(f"outage {outage_id} was changed by someone else; reload and try again")
    return outage


def _require_active(outage: Outage) -> None:
    if outage.state not in ACTIVE_OUTAGE_STATES:
        raise Conflict(f"outage {outage.id} is {outage.state}, no longer active")


def confirm_outage(
    session: Session, clock: Clock, actor: Actor, outage_id: int, expected_version: int | None = None
) -> Outage:
    outage = _load(session, outage_id, expected_version)
    _require_active(outage)
    if outage.confirmed_at is not None:
        raise Conflict(f"outage {outage_id} is already confirmed")
    before = outage_snapshot(outage)
    outage.confirmed_at = clock.now()
    outage.confirmed_by = actor.username
    if outage.state in (OutageState.REPORTED, OutageState.PREDICTED):
        outage.state = OutageState.CONFIRMED
    session.flush()
    audit.record(
        session,
        clock,
        actor,
        "outage.confirm",
        "outage",
        outage.id,
        before=before,
        after=outage_snapshot(outage),
    )
    return outage


def restore_outage(
    session: Session,
    clock: Clock,
    actor: Actor,
    outage_id: int,
    customers: int | None = None,
    note: str | None = None,
    expected_version: int | None = None,
) -> Outage:
    """Restore everyone still out, or, with `customers`, a step of that many."""
    outage = _load(session, outage_id, expected_version)
    _require_active(outage)
    still_out = outage.customers_affected - outage.customers_restored
    if customers is None:
        customers = still_out
    elif not 0 < customers <= still_out:
        raise InvalidInput(f"must be from 1 to the {still_out} customers still out", field="customers")
    before = outage_snapshot(outage)
    record_restoration(session, outage, clock.now(), customers, actor.username, _reason(note, "note"))
    session.flush()
    action = "outage.restore" if outage.state == OutageState.RESTORED else "outage.restore_step"
    audit.record(
        session, clock, actor, action, "outage", outage.id, before=before, after=outage_snapshot(outage)
    )
    return outage


def cancel_outage(
    session: Session,
    clock: Clock,
    actor: Actor,
    outage_id: int,
    reason: str,
    expected_version: int | None = None,
) -> Outage:
    """A false alarm or a duplicate: not deleted, cancelled with the reason."""
    reason_text = _reason(reason, "reason")
    if not reason_text:
        raise InvalidInput("say why the outage is cancelled", field="reason")
    outage = _load(session, outage_id, expected_version)
    _require_active(outage)
    before = outage_snapshot(outage)
    outage.state = OutageState.CANCELLED
    outage.cancelled_at = clock.now()
    outage.cancel_reason = reason_text
    end_open_assignments(session, outage.id, AssignmentStatus.CANCELLED, clock.now())
    session.flush()
    audit.record(
        session,
        clock,
        actor,
        "outage.cancel",
        "outage",
        outage.id,
        before=before,
        after=outage_snapshot(outage),
        detail=reason_text,
    )
    return outage


def close_outage(
    session: Session, clock: Clock, actor: Actor, outage_id: int, expected_version: int | None = None
) -> Outage:
    """Restoration verified: the outage leaves the board for good."""
    outage = _load(session, outage_id, expected_version)
    if outage.state != OutageState.RESTORED:
        raise Conflict(f"outage {outage_id} is {outage.state}; only a restored outage can be closed")
    before = outage_snapshot(outage)
    outage.state = OutageState.CLOSED
    outage.closed_at = clock.now()
    session.flush()
    audit.record(
        session,
        clock,
        actor,
        "outage.close",
        "outage",
        outage.id,
        before=before,
        after=outage_snapshot(outage),
    )
    return outage


def _reason(text: str | None, field: str) -> str | None:
    if text is None:
        return None
    text = text.strip()
    if len(text) > MAX_REASON_CHARS:
        raise InvalidInput(f"at most {MAX_REASON_CHARS} characters", field=field)
    return text or None
