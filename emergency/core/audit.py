"""The audit trail: one append-only row per state change, written in the change's own transaction."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from emergency.core.actor import Actor
from emergency.core.clock import Clock
from emergency.core.models import AuditEvent, Base

AUDIT_TABLE = Base.metadata.tables[AuditEvent.__tablename__]


def record(
    session: Session,
    clock: Clock,
    actor: Actor,
    action: str,
    entity: str,
    entity_id: object | None = None,
    *,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
    detail: str | None = None,
) -> AuditEvent:
    event = AuditEvent(
        **values(clock, actor, action, entity, entity_id, before=before, after=after, detail=detail)
    )
    session.add(event)
    return event


def values(
    clock: Clock,
    actor: Actor,
    action: str,
    entity: str,
    entity_id: object | None = None,
    *,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
    detail: str | None = None,
) -> dict[str, Any]:
    """One audit row's columns, for `record_many`."""
    return {
        "at": clock.now(),
        "actor": actor.username,
        "actor_role": actor.role,
        "action": action,
        "entity": entity,
        "entity_id": None if entity_id is None else str(entity_id),
        "before": before,
        "after": after,
        "detail": detail[:500] if detail else None,
    }


def record_many(session: Session, rows: list[dict[str, Any]]) -> None:
    """Write many audit rows (from `values`) in one statement, in their order.

    Trouble-call analysis audits every outage it opens or merges, dozens per storm batch; as
    mapped objects the unit of work wrote them in many small statements.
    """
    if rows:
        # Core's insert, not the ORM's bulk path: this runs once per intake batch at storm scale.
        session.execute(AUDIT_TABLE.insert(), rows)
