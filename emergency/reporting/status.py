"""The operational picture in numbers, for `python -m emergency status` and page headers.

Customers out, outages and important users out, in total and by district, come from
`emergency.reporting.outage_figures`, the same arithmetic as the public page and the situation
report (a customer counts in the district they live in). "Important users" are the register's:
graded customers and life-support customers.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from emergency.core.clock import Clock
from emergency.core.models import Crew, Customer, Device, DeviceKind, District, Outage
from emergency.core.settings import get_setting
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

    def summary(self) -> str:
        active = sum(self.outages_by_state.values())
        crews = sum(self.crews_by_status.values())
        demo = " (demo territory)" if self.is_demo else ""
        return (
            f"{active} active outages, {self.customers_out:,} of {self.customers:,} customers out, "
            f"{self.important_users_out:,} of {self.important_users:,} important users; "
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
            )
        )
    by_state: dict[str, int] = {}
    for outage in active:
        by_state[outage.state] = by_state.get(outage.state, 0) + 1
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
    )
