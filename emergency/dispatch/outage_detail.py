"""One outage as the dispatcher sees it: the device, the reports, who is affected, the crews and ETRs.

Staff-only: this carries important users' names and contacts and report texts as customers wrote them.
Everything here is plain frozen data, read in one session, for a page to draw.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, or_, select, true
from sqlalchemy.orm import Session

from emergency.core.errors import NotFound
from emergency.core.models import (
    ACTIVE_OUTAGE_STATES,
    Crew,
    CrewAssignment,
    Customer,
    CustomerKind,
    Device,
    District,
    EtrChange,
    ImportanceGrade,
    Outage,
    Report,
    RestorationStep,
)
from emergency.core.vocabulary import IMPORTANCE_ORDER
from emergency.network.model import NetworkModel
from emergency.warnings.preview import user_grade

MAX_REPORTS_SHOWN = 200
# `OutageFacts.state` is the state's text: compare text with text.
ACTIVE_STATE_NAMES = frozenset(str(state) for state in ACTIVE_OUTAGE_STATES)


@dataclass(frozen=True)
class ReportLine:
    id: int
    channel: str
    kind: str
    reported_at: datetime
    account_no: str | None
    description: str | None
    contact_name: str | None
    contact_phone: str | None


@dataclass(frozen=True)
class ImportantUser:
    account_no: str
    name: str
    grade: str
    kind: str
    backup_hours: float | None
    contact_name: str | None
    contact_phone: str | None


@dataclass(frozen=True)
class AssignmentLine:
    id: int
    crew_code: str
    crew_name: str
    status: str
    assigned_at: datetime
    assigned_by: str | None
    eta_at: datetime | None
    version: int


@dataclass(frozen=True)
class OutageFacts:
    """The outage itself, as the page shows it and as its actions need it (`version`)."""

    id: int
    version: int
    state: str
    customers_affected: int
    customers_restored: int
    first_report_at: datetime
    confirmed_at: datetime | None
    etr_at: datetime | None
    hazard: bool  # a hazard was reported on it, ever (the record keeps it)
    nested: bool
    nested_in_id: int | None

    @property
    def hazard_live(self) -> bool:
        """Whether "make safe first" still applies: a hazard reported on an outage still active.
        Restoring (or cancelling, merging) the outage ends the danger we can act on, so the
        console stops asking for it; there is no separate "made safe" state to wait for."""
        return self.hazard and self.state in ACTIVE_STATE_NAMES


@dataclass(frozen=True)
class EtrLine:
    set_at: datetime
    etr_at: datetime | None
    source: str
    confidence: str
    set_by: str | None


@dataclass(frozen=True)
class StepLine:
    at: datetime
    customers_restored: int
    by: str | None


@dataclass(frozen=True)
class OutageDetail:
    outage: OutageFacts
    device_code: str
    device_kind: str
    device_name: str
    district_name_en: str | None
    district_name_zh: str | None
    area_type: str | None
    reports: tuple[ReportLine, ...]
    report_total: int
    important_users: tuple[ImportantUser, ...]
    assignments: tuple[AssignmentLine, ...]
    etr_history: tuple[EtrLine, ...]
    steps: tuple[StepLine, ...]
    # A service outage's customer account (one customer's lone call; staff see it in full).
    service_account: str | None = None


def outage_detail(session: Session, model: NetworkModel, outage_id: int) -> OutageDetail:
    outage = session.get(Outage, outage_id)
    if outage is None:
        raise NotFound(f"no outage {outage_id}")
    device = session.get(Device, outage.device_id)
    assert device is not None
    district = session.get(District, outage.district_id) if outage.district_id else None
    reports = session.scalars(
        select(Report)
        .where(Report.outage_id == outage_id)
        .order_by(Report.reported_at.desc())
        .limit(MAX_REPORTS_SHOWN)
    ).all()
    report_total = outage.report_count
    transformer_ids = [int(model.net.ids[i]) for i in model.net.transformers_at_or_below(outage.device_id)]
    important: list[ImportantUser] = []
    # A service outage has one customer out: its own, not everyone on the transformer.
    own: ColumnElement[bool] = Customer.id == outage.customer_id if outage.customer_id is not None else true()
    service = session.get(Customer, outage.customer_id) if outage.customer_id is not None else None
    for start in range(0, len(transformer_ids), 900):
        for customer in session.scalars(
            select(Customer).where(
                Customer.transformer_id.in_(transformer_ids[start : start + 900]),
                or_(Customer.importance != ImportanceGrade.NONE, Customer.kind == CustomerKind.LIFE_SUPPORT),
                own,
            )
        ):
            important.append(
                ImportantUser(
                    account_no=customer.account_no,
                    name=customer.name,
                    grade=str(customer.importance),
                    kind=str(customer.kind),
                    backup_hours=customer.backup_hours,
                    contact_name=customer.contact_name,
                    contact_phone=customer.contact_phone,
                )
            )
    important.sort(
        key=lambda u: (
            IMPORTANCE_ORDER.index(user_grade(u.grade, u.kind)),
            u.backup_hours if u.backup_hours is not None else 1e9,
        )
    )
    assignments = [
        AssignmentLine(a.id, code, name, str(a.status), a.assigned_at, a.assigned_by, a.eta_at, a.version)
        for a, code, name in session.execute(
            select(CrewAssignment, Crew.code, Crew.name)
            .join(Crew, Crew.id == CrewAssignment.crew_id)
            .where(CrewAssignment.outage_id == outage_id)
            .order_by(CrewAssignment.assigned_at)
        )
    ]
    etrs = tuple(
        EtrLine(e.set_at, e.etr_at, str(e.source), str(e.confidence), e.set_by)
        for e in session.scalars(
            select(EtrChange).where(EtrChange.outage_id == outage_id).order_by(EtrChange.set_at)
        )
    )
    steps = tuple(
        StepLine(s.at, s.customers_restored, s.by)
        for s in session.scalars(
            select(RestorationStep).where(RestorationStep.outage_id == outage_id).order_by(RestorationStep.at)
        )
    )
    return OutageDetail(
        outage=OutageFacts(
            id=outage.id,
            version=outage.version,
            state=str(outage.state),
            customers_affected=outage.customers_affected,
            customers_restored=outage.customers_restored,
            first_report_at=outage.first_report_at,
            confirmed_at=outage.confirmed_at,
            etr_at=outage.etr_at,
            hazard=outage.hazard,
            nested=outage.nested,
            nested_in_id=outage.nested_in_id,
        ),
        device_code=device.code,
        device_kind=str(device.kind),
        device_name=device.name,
        district_name_en=district.name_en if district else None,
        district_name_zh=district.name_zh if district else None,
        area_type=str(district.area_type) if district else None,
        reports=tuple(
            ReportLine(
                r.id,
                str(r.channel),
                str(r.kind),
                r.reported_at,
                r.account_no,
                r.description,
                r.contact_name,
                r.contact_phone,
            )
            for r in reports
        ),
        report_total=report_total,
        important_users=tuple(important),
        assignments=tuple(assignments),
        etr_history=etrs,
        steps=steps,
        service_account=service.account_no if service is not None else None,
    )
