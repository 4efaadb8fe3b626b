"""Outages as `python -m emergency outages ...` reads them: a list (the board's order for active ones),
one outage in full (stage, clocks, crews, links to nested and merged outages) and a crew by its code.

Plain frozen data read in one session; the console's own reads (`board`, `outage_detail`) supply
what they already compute, so the command line never disagrees with the screen.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import InstrumentedAttribute, Session

from emergency.core.calendar import load_overrides
from emergency.core.clock import Clock
from emergency.core.errors import InvalidInput, NotFound
from emergency.core.models import ACTIVE_OUTAGE_STATES, Crew, Customer, Device, District, Outage, OutageState
from emergency.dispatch import board, sla
from emergency.dispatch.outage_detail import OutageDetail, outage_detail
from emergency.network.model import NetworkModel

# Outages no longer active pile up for years: a list of them shows the newest this many.
MAX_INACTIVE_LISTED = 200


@dataclass(frozen=True)
class OutageLine:
    """One outage in `outages list`."""

    id: int
    version: int
    state: str
    device_code: str
    device_kind: str
    district: str | None  # the district's code
    customers_out: int
    reports: int
    first_report_at: datetime
    etr_at: datetime | None
    crews: tuple[str, ...]
    urgency: str | None  # active outages: the board's word (breached, at_risk, on_track, done)
    service: bool  # one customer's supply, not yet rolled up into a device outage
    nested: bool


@dataclass(frozen=True)
class OutageCard:
    """One outage in full for `outages show`: the console's detail and what the board adds."""

    detail: OutageDetail
    district: str | None
    service_account: str | None  # the customer of a service outage
    dispatched_at: datetime | None
    on_site_at: datetime | None
    restored_at: datetime | None
    etr_source: str | None
    etr_confidence: str | None
    clocks: tuple[sla.ClockStatus, ...]
    merged_into_id: int | None
    merged_ids: tuple[int, ...]  # outages merged into this one
    nested_ids: tuple[int, ...]  # outages opened under this one after it was restored


@dataclass(frozen=True)
class CrewRef:
    """A crew by its code, with the version a dispatch must name."""

    id: int
    code: str
    version: int
    status: str


def district_id_by_code(session: Session, code: str | None) -> int | None:
    """The id of district `code` (None for no filter); an unknown code is refused with the known ones."""
    if code is None:
        return None
    codes = dict(session.execute(select(District.code, District.id)).tuples().all())
    found = codes.get(code.strip())
    if found is None:
        raise InvalidInput(
            f"no district {code!r} (known: {', '.join(sorted(codes)) or 'none'})", field="district"
        )
    return found


def outage_lines(
    session: Session, clock: Clock, tz: ZoneInfo, state: str | None = None, district: str | None = None
) -> tuple[OutageLine, ...]:
    """Active outages in the board's priority order, or those in `state` (newest first when the
    state is not an active one), optionally in one district (`district`, its code)."""
    if state is not None and state not in {s.value for s in OutageState}:
        known = ", ".join(s.value for s in OutageState)
        raise InvalidInput(f"no outage state {state!r} (known: {known})", field="state")
    district_id = district_id_by_code(session, district)
    codes = dict(session.execute(select(District.id, District.code)).tuples().all())
    if state is None or OutageState(state) in ACTIVE_OUTAGE_STATES:
        rows = [
            r
            for r in board.sla_board(session, clock, tz)
            if (state is None or r.state == state) and (district_id is None or r.district_id == district_id)
        ]
        service = _service_ids(session, [r.outage_id for r in rows])
        return tuple(
            OutageLine(
                id=r.outage_id,
                version=r.version,
                state=r.state,
                device_code=r.device_code,
                device_kind=r.device_kind,
                district=codes.get(r.district_id) if r.district_id else None,
                customers_out=r.customers_out,
                reports=r.reports,
                first_report_at=r.first_report_at,
                etr_at=r.etr_at,
                crews=r.crews,
                urgency=r.urgency,
                service=r.outage_id in service,
                nested=r.nested,
            )
            for r in rows
        )
    query = (
        select(Outage, Device.code, Device.kind)
        .join(Device, Device.id == Outage.device_id)
        .where(Outage.state == OutageState(state))
        .order_by(Outage.first_report_at.desc(), Outage.id.desc())
        .limit(MAX_INACTIVE_LISTED)
    )
    if district_id is not None:
        query = query.where(Outage.district_id == district_id)
    return tuple(
        OutageLine(
            id=o.id,
            version=o.version,
            state=str(o.state),
            device_code=code,
            device_kind=str(kind),
            district=codes.get(o.district_id) if o.district_id else None,
            customers_out=o.customers_affected - o.customers_restored,
            reports=o.report_count,
            first_report_at=o.first_report_at,
            etr_at=o.etr_at,
            crews=(),
            urgency=None,
            service=o.customer_id is not None,
            nested=o.nested,
        )
        for o, code, kind in session.execute(query).tuples()
    )


def _service_ids(session: Session, ids: list[int]) -> set[int]:
    """Of these outages, the service outages (one customer's supply)."""
    found: set[int] = set()
    for start in range(0, len(ids), sla.ID_CHUNK):
        chunk = ids[start : start + sla.ID_CHUNK]
        found.update(
            session.scalars(select(Outage.id).where(Outage.id.in_(chunk), Outage.customer_id.is_not(None)))
        )
    return found


def outage_card(
    session: Session, model: NetworkModel, clock: Clock, tz: ZoneInfo, outage_id: int
) -> OutageCard:
    """Everything `outages show` prints about one outage, clocks judged at the clock's now."""
    detail = outage_detail(session, model, outage_id)
    outage = session.get(Outage, outage_id)
    if outage is None:  # outage_detail raised already; this keeps the type checker told
        raise NotFound(f"no outage {outage_id}")
    district = session.get(District, outage.district_id) if outage.district_id else None
    clocks = sla.outage_clocks(
        outage,
        sla.load_targets(session, "outage"),
        clock.now(),
        sla.at_risk_window(session),
        str(district.area_type) if district else None,
        tz=tz,
        calendar_overrides=load_overrides(session),
    )
    account = (
        session.scalar(select(Customer.account_no).where(Customer.id == outage.customer_id))
        if outage.customer_id is not None
        else None
    )
    return OutageCard(
        detail=detail,
        district=district.code if district else None,
        service_account=account,
        dispatched_at=outage.dispatched_at,
        on_site_at=outage.on_site_at,
        restored_at=outage.restored_at,
        etr_source=str(outage.etr_source) if outage.etr_source else None,
        etr_confidence=str(outage.etr_confidence) if outage.etr_confidence else None,
        clocks=tuple(clocks),
        merged_into_id=outage.merged_into_id,
        merged_ids=_linked(session, Outage.merged_into_id, outage_id),
        nested_ids=_linked(session, Outage.nested_in_id, outage_id),
    )


def _linked(session: Session, column: InstrumentedAttribute[int | None], outage_id: int) -> tuple[int, ...]:
    return tuple(session.scalars(select(Outage.id).where(column == outage_id).order_by(Outage.id)))


def crew_by_code(session: Session, code: str) -> CrewRef:
    """The crew with this code; an unknown one is refused naming the codes there are."""
    crew = session.scalar(select(Crew).where(Crew.code == code.strip()))
    if crew is None:
        known = ", ".join(session.scalars(select(Crew.code).order_by(Crew.code).limit(20)))
        raise NotFound(f"no crew {code!r} (crews include: {known or 'none'})")
    return CrewRef(crew.id, crew.code, crew.version, str(crew.status))
