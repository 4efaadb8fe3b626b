"""The operational picture in numbers, for `python -m emergency status` and page headers.

Customers out, outages and important users out, in total and by district, come from
`emergency.reporting.outage_figures`, the same arithmetic as the public page and the situation
report (a customer counts in the district they live in). "Important users" are the register's:
graded customers and life-support customers.

Beside them, what a control room must not miss: supply-loss calls in no outage yet (waiting
calls, however old: a lone call nobody grouped is exactly the call nobody sees), service outages
(one customer's supply, `outages.customer_id`), nested outages (opened under a device restored
shortly before) and the outages merged into an active one.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from emergency.core.clock import Clock
from emergency.core.models import (
    Crew,
    Customer,
    Device,
    DeviceKind,
    District,
    Outage,
    OutageState,
    Report,
    ReportStatus,
)
from emergency.core.settings import get_setting
from emergency.core.vocabulary import SUPPLY_LOSS_KINDS
from emergency.dispatch.sla import ID_CHUNK
from emergency.reporting.outage_figures import counted_at, figures_at, important_users_registered


@dataclass(frozen=True)
class ActiveOutage:
    id: int
    device_id: int
    device_code: str
    device_kind: str
    state: str
    first_report_at: datetime
    customers_affected: int  # still out
    important_affected: dict[str, int]  # below the device when the outage was found, by grade
    report_count: int
    important_users_out: int = 0
    customers_by_district: dict[str, int] = field(default_factory=dict)  # district code -> out
    service: bool = False  # one customer's supply (a service outage)
    nested_in_id: int | None = None  # a nested outage: the restored outage it opened under
    merged_ids: list[int] = field(default_factory=list)  # outages merged into this one


@dataclass(frozen=True)
class WaitingCalls:
    """Supply-loss calls (no power, last gasp, wire down) that are in no outage yet."""

    count: int = 0
    oldest_at: datetime | None = None
    report_ids: list[int] = field(default_factory=list)  # the oldest first, at most MAX_IDS_LISTED


@dataclass(frozen=True)
class OutageIds:
    """A kind of outage among the active ones (or merged into one): how many, and which."""

    count: int = 0
    ids: list[int] = field(default_factory=list)


@dataclass(frozen=True)
class DistrictOut:
    code: str
    name_en: str
    name_zh: str
    customers_out: int
    outages: int
    important_users_out: int


@dataclass(frozen=True)
class Status:
    at: datetime
    is_demo: bool
    districts: int
    customers: int
    important_users: int
    transformers: int
    feeders: int
    crews_by_status: dict[str, int]
    outages_by_state: dict[str, int]
    customers_out: int
    active_outages: list[ActiveOutage] = field(default_factory=list)
    important_users_out: int = 0
    districts_out: list[DistrictOut] = field(default_factory=list)
    waiting_calls: WaitingCalls = field(default_factory=WaitingCalls)
    service_outages: OutageIds = field(default_factory=OutageIds)
    nested_outages: OutageIds = field(default_factory=OutageIds)
    merged_outages: OutageIds = field(default_factory=OutageIds)  # merged into an active outage

    def summary(self) -> str:
        active = sum(self.outages_by_state.values())
        crews = sum(self.crews_by_status.values())
        demo = " (demo territory)" if self.is_demo else ""
        kinds = [
            f"{group.count} {name}"
            for name, group in (
                ("service", self.service_outages),
                ("nested", self.nested_outages),
                ("merged into them", self.merged_outages),
            )
            if group.count
        ]
        waiting = self.waiting_calls.count
        of_which = f" ({', '.join(kinds)})" if kinds else ""
        return (
            f"{active} active outages{of_which}, "
            f"{self.customers_out:,} of {self.customers:,} customers out, "
            f"{self.important_users_out:,} of {self.important_users:,} important users; "
            f"{crews} crews ({self.crews_by_status.get('available', 0)} available); "
            f"{waiting} call{'' if waiting == 1 else 's'} waiting for an outage{demo}"
        )

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["at"] = self.at.isoformat()
        for outage in data["active_outages"]:
            outage["first_report_at"] = outage["first_report_at"].isoformat()
        oldest = self.waiting_calls.oldest_at
        data["waiting_calls"]["oldest_at"] = oldest.isoformat() if oldest else None
        return data


def current_status(session: Session, clock: Clock) -> Status:
    def count(model: Any, *where: Any) -> int:
        return int(session.scalar(select(func.count()).select_from(model).where(*where)) or 0)

    now = clock.now()
    figures = figures_at(session, now)
    districts = list(session.scalars(select(District).order_by(District.code)))
    codes = {d.id: d.code for d in districts}
    rows = {
        o.id: (o, code, kind)
        for o, code, kind in session.execute(
            select(Outage, Device.code, Device.kind)
            .join(Device, Device.id == Outage.device_id)
            .where(Outage.id.in_(select(Outage.id).where(*counted_at(now))))
        ).all()
    }
    active = []
    for figure in sorted(figures.active, key=lambda o: (o.first_report_at, o.outage_id)):
        outage, code, kind = rows[figure.outage_id]
        active.append(
            ActiveOutage(
                id=outage.id,
                device_id=outage.device_id,
                device_code=code,
                device_kind=str(kind),
                state=str(outage.state),
                first_report_at=outage.first_report_at,
                customers_affected=figure.customers_out,
                important_affected=dict(outage.important_affected or {}),
                report_count=outage.report_count,
                important_users_out=figure.important_out,
                customers_by_district={codes.get(d, str(d)): n for d, n in figure.by_district.items()},
                service=outage.customer_id is not None,
                nested_in_id=outage.nested_in_id if outage.nested else None,
            )
        )
    by_state: dict[str, int] = {}
    for outage in active:
        by_state[outage.state] = by_state.get(outage.state, 0) + 1
    merged = _merged_into(session, [o.id for o in active])
    active = [
        replace(o, merged_ids=[m for m, into in merged if into == o.id]) if merged else o for o in active
    ]
    crews = dict(session.execute(select(Crew.status, func.count()).group_by(Crew.status)).tuples().all())
    return Status(
        at=now,
        is_demo=bool(get_setting(session, "territory.is_demo")),
        districts=len(districts),
        customers=count(Customer),
        important_users=important_users_registered(session),
        transformers=count(Device, Device.kind == DeviceKind.TRANSFORMER),
        feeders=count(Device, Device.kind == DeviceKind.BREAKER),
        crews_by_status={str(k): int(v) for k, v in crews.items()},
        outages_by_state=by_state,
        customers_out=figures.customers_out,
        active_outages=active,
        important_users_out=figures.important_users_out,
        districts_out=[
            DistrictOut(
                code=d.code,
                name_en=d.name_en,
                name_zh=d.name_zh,
                customers_out=figures.district(d.id).customers_out,
                outages=figures.district(d.id).outages,
                important_users_out=figures.district(d.id).important_users_out,
            )
            for d in districts
        ],
        waiting_calls=waiting_calls(session),
        service_outages=_ids([o.id for o in active if o.service]),
        nested_outages=_ids([o.id for o in active if o.nested_in_id is not None]),
        merged_outages=_ids(sorted(m for m, _ in merged)),
    )


# Enough ids for a script to look at; the count is always the whole count.
MAX_IDS_LISTED = 100


def _ids(ids: list[int]) -> OutageIds:
    return OutageIds(len(ids), ids[:MAX_IDS_LISTED])


def waiting_calls(session: Session) -> WaitingCalls:
    """Supply-loss calls still in no outage: received, not informational, not grouped. Through
    the partial index of waiting calls (ix_reports_waiting), which holds only such rows."""
    waiting = (
        Report.outage_id.is_(None),
        Report.status == ReportStatus.RECEIVED,
        Report.kind.in_(sorted(SUPPLY_LOSS_KINDS)),
    )
    count, oldest = session.execute(select(func.count(), func.min(Report.reported_at)).where(*waiting)).one()
    ids = session.scalars(
        select(Report.id).where(*waiting).order_by(Report.reported_at, Report.id).limit(MAX_IDS_LISTED)
    )
    return WaitingCalls(int(count or 0), oldest, list(ids))


def _merged_into(session: Session, active_ids: list[int]) -> list[tuple[int, int]]:
    """(merged outage, the active outage it was merged into), for the active outages given."""
    pairs: list[tuple[int, int]] = []
    for start in range(0, len(active_ids), ID_CHUNK):
        chunk = active_ids[start : start + ID_CHUNK]
        pairs.extend(
            (m, into)
            for m, into in session.execute(
                select(Outage.id, Outage.merged_into_id).where(
                    Outage.state == OutageState.MERGED, Outage.merged_into_id.in_(chunk)
                )
            ).tuples()
            if into is not None  # the IN above rules it out; this tells the type checker
        )
    return sorted(pairs)
