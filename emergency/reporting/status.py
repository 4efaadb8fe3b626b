"""The operational picture in numbers, for `python -m emergency status` and page headers."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from emergency.core.clock import Clock
from emergency.core.models import (
    ACTIVE_OUTAGE_STATES,
    Crew,
    Customer,
    Device,
    DeviceKind,
    District,
    ImportanceGrade,
    Outage,
)
from emergency.core.settings import get_setting


@dataclass(frozen=True)
class ActiveOutage:
    id: int
    device_id: int
    device_code: str
    device_kind: str
    state: str
    first_report_at: datetime
    customers_affected: int
    important_affected: dict[str, int]
    report_count: int


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

    def summary(self) -> str:
        active = sum(self.outages_by_state.values())
        crews = sum(self.crews_by_status.values())
        demo = " (demo territory)" if self.is_demo else ""
        return (
            f"{active} active outages, {self.customers_out:,} of {self.customers:,} customers out; "
            f"{crews} crews ({self.crews_by_status.get('available', 0)} available){demo}"
        )

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["at"] = self.at.isoformat()
        for outage in data["active_outages"]:
            outage["first_report_at"] = outage["first_report_at"].isoformat()
        return data


def current_status(session: Session, clock: Clock) -> Status:
    def count(model: Any, *where: Any) -> int:
        return int(session.scalar(select(func.count()).select_from(model).where(*where)) or 0)

    rows = session.execute(
        select(Outage, Device.code, Device.kind)
        .join(Device, Device.id == Outage.device_id)
        .where(Outage.state.in_(ACTIVE_OUTAGE_STATES))
        .order_by(Outage.first_report_at)
    ).all()
    active = [
        ActiveOutage(
            id=o.id,
            device_id=o.device_id,
            device_code=code,
            device_kind=str(kind),
            state=str(o.state),
            first_report_at=o.first_report_at,
            customers_affected=o.customers_affected - o.customers_restored,
            important_affected=dict(o.important_affected or {}),
            report_count=o.report_count,
        )
        for o, code, kind in rows
    ]
    by_state: dict[str, int] = {}
    for outage in active:
        by_state[outage.state] = by_state.get(outage.state, 0) + 1
    crews = dict(session.execute(select(Crew.status, func.count()).group_by(Crew.status)).tuples().all())
    return Status(
        at=clock.now(),
        is_demo=bool(get_setting(session, "territory.is_demo")),
        districts=count(District),
        customers=count(Customer),
        important_users=count(Customer, Customer.importance != ImportanceGrade.NONE),
        transformers=count(Device, Device.kind == DeviceKind.TRANSFORMER),
        feeders=count(Device, Device.kind == DeviceKind.BREAKER),
        crews_by_status={str(k): int(v) for k, v in crews.items()},
        outages_by_state=by_state,
        # Active outages never overlap: trouble-call analysis merges one under another into it.
        customers_out=sum(o.customers_affected for o in active if o.customers_affected > 0),
        active_outages=active,
    )
