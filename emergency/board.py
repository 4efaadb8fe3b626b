"""The dispatcher's SLA board: every active outage with its clocks, sorted by what breaks first.

Built in a handful of queries whatever the number of outages (5,000 in a typhoon), so the live
page can rebuild it every few seconds.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from emergency import sla
from emergency.clock import Clock
from emergency.models import (
    ACTIVE_OUTAGE_STATES,
    AssignmentStatus,
    Crew,
    CrewAssignment,
    Device,
    District,
    Outage,
)

OPEN_ASSIGNMENTS = (AssignmentStatus.DISPATCHED, AssignmentStatus.EN_ROUTE, AssignmentStatus.ON_SITE)
# Sort order of the most urgent clock's state: what breaks first comes first.
URGENCY = {
    sla.ClockState.BREACHED: 0,
    sla.ClockState.AT_RISK: 1,
    sla.ClockState.ON_TRACK: 2,
    sla.ClockState.MISSED: 3,
    sla.ClockState.MET: 4,
}


@dataclass(frozen=True)
class BoardRow:
    outage_id: int
    version: int
    state: str
    device_id: int
    device_code: str
    device_kind: str
    lon: float
    lat: float
    district_id: int | None
    district_en: str | None
    district_zh: str | None
    area_type: str | None
    customers_out: int
    important: dict[str, int]
    weighted_customers: float
    hazard: bool
    nested: bool
    reports: int
    first_report_at: datetime
    etr_at: datetime | None
    etr_source: str | None
    clocks: list[sla.ClockStatus]
    urgent: sla.ClockStatus | None
    crews: list[str] = field(default_factory=list)
    breached: list[str] = field(default_factory=list)  # clocks that breached, even if since stopped

    @property
    def important_total(self) -> int:
        return sum(self.important.values())

    @property
    def urgency(self) -> str:
        """The colour-giving word: breached, at_risk, on_track, or done when no clock is running."""
        if self.urgent is None or not self.urgent.running:
            return "breached" if self.breached else "done"
        return str(self.urgent.state)

    def clock(self, code: str) -> sla.ClockStatus | None:
        return next((c for c in self.clocks if c.code == code), None)


def sla_board(session: Session, clock: Clock) -> list[BoardRow]:
    now = clock.now()
    targets = sla.load_targets(session, "outage")
    at_risk = sla.at_risk_window(session)
    # Plain columns, not ORM objects: thousands of outages per refresh, and the clocks only need
    # their times (rows answer `outage.first_report_at` like objects do).
    rows = session.execute(
        select(
            Outage.id,
            Outage.version,
            Outage.state,
            Outage.device_id,
            Outage.district_id,
            Outage.first_report_at,
            Outage.dispatched_at,
            Outage.en_route_at,
            Outage.on_site_at,
            Outage.restored_at,
            Outage.cancelled_at,
            Outage.closed_at,
            Outage.customers_affected,
            Outage.customers_restored,
            Outage.important_affected,
            Outage.weighted_customers,
            Outage.hazard,
            Outage.nested,
            Outage.report_count,
            Outage.etr_at,
            Outage.etr_source,
            Device.code,
            Device.kind,
            Device.lon,
            Device.lat,
            District.name_en,
            District.name_zh,
            District.area_type,
        )
        .join(Device, Device.id == Outage.device_id)
        .outerjoin(District, District.id == Outage.district_id)
        .where(Outage.state.in_(ACTIVE_OUTAGE_STATES))
    ).all()
    ids = [row.id for row in rows]
    crews: dict[int, list[str]] = {}
    for start in range(0, len(ids), 900):
        for outage_id, code in session.execute(
            select(CrewAssignment.outage_id, Crew.code)
            .join(Crew, Crew.id == CrewAssignment.crew_id)
            .where(
                CrewAssignment.outage_id.in_(ids[start : start + 900]),
                CrewAssignment.status.in_(OPEN_ASSIGNMENTS),
            )
        ):
            crews.setdefault(outage_id, []).append(code)
    breaches = sla.breaches_for(session, "outage", ids)
    board = []
    for outage in rows:
        code, kind, lon, lat, name_en, name_zh, area_type = outage[-7:]
        clocks = sla.outage_clocks(outage, targets, now, at_risk, str(area_type) if area_type else None)
        board.append(
            BoardRow(
                outage_id=outage.id,
                version=outage.version,
                state=str(outage.state),
                device_id=outage.device_id,
                device_code=code,
                device_kind=str(kind),
                lon=lon,
                lat=lat,
                district_id=outage.district_id,
                district_en=name_en,
                district_zh=name_zh,
                area_type=str(area_type) if area_type else None,
                customers_out=max(outage.customers_affected - outage.customers_restored, 0),
                important=dict(outage.important_affected or {}),
                weighted_customers=outage.weighted_customers,
                hazard=outage.hazard,
                nested=outage.nested,
                reports=outage.report_count,
                first_report_at=outage.first_report_at,
                etr_at=outage.etr_at,
                etr_source=str(outage.etr_source) if outage.etr_source else None,
                clocks=clocks,
                urgent=sla.most_urgent(c for c in clocks if not c.reference),
                crews=sorted(crews.get(outage.id, [])),
                breached=sorted({b.code for b in breaches.get(outage.id, [])}),
            )
        )
    board.sort(key=_urgency_key)
    return board


def _urgency_key(row: BoardRow) -> tuple[Any, ...]:
    urgent = row.urgent
    if urgent is None or not urgent.running:
        return (9, not row.hazard, -row.weighted_customers, row.first_report_at)
    return (URGENCY[urgent.state], urgent.remaining, not row.hazard, -row.weighted_customers)
