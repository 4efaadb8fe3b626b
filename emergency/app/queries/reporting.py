"""What the manager's report pages read: SLA compliance, reliability, situation reports, the
complaints desk and the audit trail, each as plain frozen data (frozen dataclasses, DataFrames).

Every query checks the reader's role (`read_as`) and reads in one session, so the figures on a
page come from one moment of the database.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime

import pandas as pd

from emergency.app.context import Context
from emergency.core.models import Role
from emergency.core.unit_of_work import read_as
from emergency.reporting import (
    audit_log,
    complaints,
    compliance,
    etr_accuracy,
    location_accuracy,
    reliability,
    restoration_curves,
    sitrep,
)

# Who reads the compliance, reliability and situation reports (the latter names important users);
# the desk and the audit trail name their own (`complaints.DESK_ROLES`, `audit_log.READER_ROLES`).
REPORT_ROLES = (Role.MANAGER, Role.ADMIN)


# --- SLA compliance, ETR accuracy, restoration curves --------------------------------------------


@dataclass(frozen=True)
class ComplianceReport:
    """The compliance page's tables for one period and filter (see `emergency.reporting.compliance`).

    `timings`: one row per outage; `summary`: one row per outage clock; `breaches`: every missed
    dispatch or on-site clock with its cause; `etr`: each restored outage's ETR outcome; `curve`:
    customers out over the period, per district and for the whole territory; `on_site_by_source`:
    the on-site clock by how each arrival was recorded (gps, crew, dispatcher, unknown, not arrived).
    """

    timings: pd.DataFrame
    summary: pd.DataFrame
    breaches: pd.DataFrame
    etr: pd.DataFrame
    curve: pd.DataFrame
    # Each outage whose fault the crew found: where analysis predicted it against where it was
    # (`emergency.reporting.location_accuracy`).
    location: pd.DataFrame
    on_site_by_source: pd.DataFrame = field(default_factory=pd.DataFrame)


def compliance_choices(ctx: Context) -> compliance.ReportChoices:
    """The districts and crews the compliance report can be filtered by."""
    with read_as(ctx.db, ctx.actor, REPORT_ROLES) as session:
        return compliance.report_choices(session)


def compliance_report(
    ctx: Context,
    start: datetime,
    end: datetime,
    *,
    district_id: int | None = None,
    area_type: str | None = None,
    crew_id: int | None = None,
) -> ComplianceReport:
    """The outages first reported in [start, end) with their clocks, breaches and ETRs, and the
    restoration curve from `start` to `end` (or to now, if that is sooner)."""
    with read_as(ctx.db, ctx.actor, REPORT_ROLES) as session:
        timings = compliance.outage_timings(
            session,
            start,
            end,
            clock=ctx.clock,
            tz=ctx.tz,
            district_id=district_id,
            area_type=area_type,
            crew_id=crew_id,
        )
        return ComplianceReport(
            timings=timings,
            summary=compliance.compliance_summary(session, timings, ctx.clock, ctx.tz),
            breaches=compliance.breach_list(session, timings, ctx.clock, ctx.tz),
            etr=etr_accuracy.etr_outcomes(session, timings),
            location=location_accuracy.location_outcomes(session, [int(i) for i in timings["outage_id"]]),
            curve=restoration_curves.restoration_curve(
                session, start, min(end, ctx.clock.now()), district_id=district_id, area_type=area_type
            ),
            on_site_by_source=compliance.on_site_by_source(session, timings, ctx.clock, ctx.tz),
        )


# --- reliability -----------------------------------------------------------------------------


def reliability_report(
    ctx: Context, first_day: date, last_day: date, district_id: int | None = None
) -> reliability.ReliabilityReport:
    """IEEE 1366 indices for the local days `first_day` to `last_day`, major event days, and
    today's running SAIDI (see `emergency.reporting.reliability.reliability_report`)."""
    with read_as(ctx.db, ctx.actor, REPORT_ROLES) as session:
        return reliability.reliability_report(
            session, ctx.clock.now(), first_day, last_day, ctx.tz, district_id
        )


# --- situation reports -------------------------------------------------------------------------


def suggested_event_start(ctx: Context) -> datetime:
    """When the event a situation report covers probably began (UTC)."""
    with read_as(ctx.db, ctx.actor, REPORT_ROLES) as session:
        return sitrep.suggest_event_start(session, ctx.clock.now())


def situation_report(
    ctx: Context, kind: sitrep.ReportKind | str, event_start: datetime
) -> sitrep.SituationReport:
    """The situation report of the event that started at `event_start`, generated now."""
    with read_as(ctx.db, ctx.actor, REPORT_ROLES) as session:
        return sitrep.build_report(session, kind, event_start, ctx.clock.now(), ctx.tz)


# --- the complaints desk -------------------------------------------------------------------------


@dataclass(frozen=True)
class ComplaintsDesk:
    """The desk's two lists: complaints and feedback (filtered), and restored outages awaiting
    the customer's confirmation."""

    items: tuple[complaints.DeskItem, ...]
    pending: tuple[complaints.PendingVerification, ...]


def complaints_desk(
    ctx: Context,
    *,
    kinds: Iterable[str] = (),
    statuses: Iterable[str] = (),
    breached_only: bool = False,
) -> ComplaintsDesk:
    """Complaints and feedback, most urgent first, and the restored outages to verify, due soonest
    first; their clocks as they stand now."""
    now = ctx.clock.now()
    with read_as(ctx.db, ctx.actor, complaints.DESK_ROLES) as session:
        items = complaints.list_feedback(
            session, now, ctx.tz, kinds=kinds, statuses=statuses, breached_only=breached_only
        )
        pending = complaints.pending_verifications(session, now, ctx.tz)
    return ComplaintsDesk(tuple(items), tuple(pending))


# --- the audit trail -----------------------------------------------------------------------------


@dataclass(frozen=True)
class AuditTrail:
    """One page of the matching events, newest first, and how many match (up to `COUNT_CAP`)."""

    total: int
    page: audit_log.AuditPage


def audit_trail(
    ctx: Context,
    wanted: audit_log.AuditFilter,
    *,
    before_id: int | None = None,
    limit: int = audit_log.PAGE_SIZE,
) -> AuditTrail:
    """The events matching `wanted`: a page older than `before_id` (the newest when None), and
    the count, capped at `audit_log.COUNT_CAP`."""
    with read_as(ctx.db, ctx.actor, audit_log.READER_ROLES) as session:
        total = audit_log.count_audit(session, wanted)
        page = audit_log.search_audit(session, wanted, before_id=before_id, limit=limit)
    return AuditTrail(total, page)
