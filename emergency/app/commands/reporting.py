"""The manager's reporting desk writes: a step on a complaint or piece of feedback, a restoration
verified with the customer, and an export of the audit trail (itself recorded in the trail)."""

from __future__ import annotations

from dataclasses import dataclass, field

from emergency.app.bus import handles
from emergency.app.context import Context
from emergency.core.unit_of_work import read_as, unit_of_work
from emergency.reporting import audit_log, complaints


@dataclass(frozen=True)
class RecordFeedbackStep:
    """Record the next step (`complaints.Step`) on a complaint or piece of feedback, as seen at
    `expected_version`; `satisfaction` (1-5) only when closing."""

    feedback_id: int
    step: str
    expected_version: int
    note: str | None = None
    satisfaction: int | None = None


@handles(RecordFeedbackStep)
def record_feedback_step(ctx: Context, cmd: RecordFeedbackStep) -> complaints.DeskItem:
    with unit_of_work(ctx.db, ctx.actor, complaints.DESK_ROLES) as session:
        return complaints.record_step(
            session,
            ctx.clock,
            ctx.actor,
            ctx.tz,
            cmd.feedback_id,
            cmd.step,
            cmd.expected_version,
            note=cmd.note,
            satisfaction=cmd.satisfaction,
        )


@dataclass(frozen=True)
class VerifyRestoration:
    """The customer confirmed power is back at a restored outage, as seen at `expected_version`:
    the outage is verified and closed."""

    outage_id: int
    expected_version: int
    note: str | None = None


@handles(VerifyRestoration)
def verify_restoration(ctx: Context, cmd: VerifyRestoration) -> int:
    """Returns the outage's id."""
    with unit_of_work(ctx.db, ctx.actor, complaints.DESK_ROLES, against_analysis=True) as session:
        complaints.verify_restoration(
            session, ctx.clock, ctx.actor, cmd.outage_id, cmd.expected_version, note=cmd.note
        )
    return cmd.outage_id


@dataclass(frozen=True)
class ExportAuditTrail:
    """Take a CSV copy of the audit events matching `wanted`, newest first, at most `max_rows`."""

    wanted: audit_log.AuditFilter = field(default_factory=audit_log.AuditFilter)
    max_rows: int = audit_log.MAX_EXPORT_ROWS


@handles(ExportAuditTrail)
def export_audit_trail(ctx: Context, cmd: ExportAuditTrail) -> bytes:
    """The CSV bytes; the export is recorded (who, which filters, how many rows) once it is read.

    Read in a read session, then recorded in a short write: a large export never holds the write
    lock while it reads.
    """
    with read_as(ctx.db, ctx.actor, audit_log.READER_ROLES) as session:
        data, rows = audit_log.audit_csv(session, cmd.wanted, cmd.max_rows)
    with unit_of_work(ctx.db, ctx.actor, audit_log.READER_ROLES) as session:
        audit_log.record_export(session, ctx.clock, ctx.actor, cmd.wanted, rows)
    return data
