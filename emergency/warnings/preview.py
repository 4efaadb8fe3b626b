"""Who and what is inside a warning area: customers, important users, crews and active outages.

The preview a manager reads before publishing, and the recipient lists publishing uses. Staff-only:
it carries important users' names and contacts. Customers are tested against the area in bulk
(SQL narrows them to the area's districts and bounding box, shapely tests the rest at once), so a
preview over a million-customer territory stays interactive.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import numpy as np
from sqlalchemy import Engine, func, or_, select
from sqlalchemy.orm import Session

from emergency.core.models import (
    ACTIVE_OUTAGE_STATES,
    Crew,
    Customer,
    CustomerKind,
    Device,
    District,
    ImportanceGrade,
    Outage,
)
from emergency.core.settings import get_setting
from emergency.core.vocabulary import IMPORTANCE_ORDER
from emergency.warnings.area import ResolvedArea, area_km2, bounds, contains_points, distance_km

GRADE_ORDER = IMPORTANCE_ORDER


@dataclass(frozen=True)
class AreaCustomers:
    ids: np.ndarray
    district_ids: np.ndarray
    lons: np.ndarray
    lats: np.ndarray
    phones: list[str | None] | None


@dataclass(frozen=True)
class ImportantUserAtRisk:
    customer_id: int
    account_no: str
    name: str
    grade: str  # an ImportanceGrade value, or "life_support" for residential life support
    kind: str
    backup_hours: float | None
    contact_name: str | None
    contact_phone: str | None
    district_code: str
    lon: float
    lat: float


@dataclass(frozen=True)
class CrewNearArea:
    code: str
    name: str
    kind: str
    status: str
    distance_km: float  # 0 inside the area


@dataclass(frozen=True)
class OutageInArea:
    outage_id: int
    state: str
    district_code: str
    customers_out: int
    important: int
    hazard: bool


@dataclass(frozen=True)
class WarningPreview:
    area_km2: float
    customers: int
    customers_by_district: tuple[tuple[str, str, str, int], ...]  # code, name_en, name_zh, customers
    important_users: tuple[ImportantUserAtRisk, ...]
    important_by_grade: dict[str, int]
    crews_inside: tuple[CrewNearArea, ...]
    crews_near: tuple[CrewNearArea, ...]
    near_km: float
    outages: tuple[OutageInArea, ...]


def user_grade(importance: str, kind: str) -> str:
    """Life-support customers are not a grade, but count as critical beside grade 2."""
    if importance == ImportanceGrade.NONE and kind == CustomerKind.LIFE_SUPPORT:
        return "life_support"
    return importance


def preview(session: Session, area: ResolvedArea) -> WarningPreview:
    districts = {
        d.id: d for d in session.scalars(select(District).where(District.code.in_(area.district_codes)))
    }
    customers = area_customers(session, area)
    counts = np.bincount(customers.district_ids.astype(np.int64)) if customers.ids.size else np.array([])
    by_district = tuple(
        (d.code, d.name_en, d.name_zh, int(counts[d.id]) if d.id < counts.size else 0)
        for d in sorted(districts.values(), key=lambda d: d.code)
    )
    important = important_users_in_area(session, area)
    by_grade = {grade: 0 for grade in GRADE_ORDER}
    for user in important:
        by_grade[user.grade] = by_grade.get(user.grade, 0) + 1
    near_km = float(get_setting(session, "warnings.crews_near_km"))
    inside, near = _crews(session, area, near_km)
    return WarningPreview(
        area_km2=round(area_km2(area.geometry), 1),
        customers=int(customers.ids.size),
        customers_by_district=by_district,
        important_users=tuple(important),
        important_by_grade=by_grade,
        crews_inside=inside,
        crews_near=near,
        near_km=near_km,
        outages=_outages(session, area, districts),
    )


@dataclass(frozen=True)
class CustomerPoints:
    """Every customer's id, district and position as arrays, for one territory revision."""

    stamp: tuple[int, int, int | None]  # territory revision, customer count, highest id
    ids: np.ndarray
    district_ids: np.ndarray
    lons: np.ndarray
    lats: np.ndarray


_points: dict[str, CustomerPoints] = {}
_points_lock = threading.Lock()


def customer_points(session: Session) -> CustomerPoints:
    """The cached customer positions of this database, reloaded when the territory revision moves.

    Customers move only when the territory is imported again (which bumps the revision), so a
    preview tests the area against arrays in memory instead of reading every customer again. The
    count and highest id are checked too, so a customer added by any other path is never missed.
    """
    bind = session.get_bind()
    engine = bind if isinstance(bind, Engine) else bind.engine
    key = engine.url.render_as_string(hide_password=False)
    count, highest = session.execute(select(func.count(), func.max(Customer.id)).select_from(Customer)).one()
    stamp = (int(get_setting(session, "territory.revision")), int(count), highest)
    with _points_lock:
        cached = _points.get(key)
    if cached is not None and cached.stamp == stamp:
        return cached
    rows = (
        session.execute(
            select(Customer.id, Customer.district_id, Customer.lon, Customer.lat).order_by(Customer.id)
        )
        .tuples()
        .all()
    )
    n = len(rows)
    points = CustomerPoints(
        stamp=stamp,
        ids=np.fromiter((r[0] for r in rows), dtype=np.int64, count=n),
        district_ids=np.fromiter((r[1] for r in rows), dtype=np.int64, count=n),
        lons=np.fromiter((r[2] for r in rows), dtype=np.float64, count=n),
        lats=np.fromiter((r[3] for r in rows), dtype=np.float64, count=n),
    )
    with _points_lock:
        _points[key] = points
    return points


def area_customers(session: Session, area: ResolvedArea, *, with_phone: bool = False) -> AreaCustomers:
    """Every customer in the area: by district for a districts area, else by location."""
    district_ids = list(session.scalars(select(District.id).where(District.code.in_(area.district_codes))))
    points = customer_points(session)
    mask = np.isin(points.district_ids, np.array(district_ids, dtype=np.int64))
    if area.kind != "districts":
        west, south, east, north = bounds(area.geometry)
        mask &= (
            (points.lons >= west) & (points.lons <= east) & (points.lats >= south) & (points.lats <= north)
        )
        candidates = np.flatnonzero(mask)
        mask[candidates] = contains_points(area.geometry, points.lons[candidates], points.lats[candidates])
    ids = points.ids[mask]
    phones = _phones(session, district_ids, ids) if with_phone else None
    return AreaCustomers(ids, points.district_ids[mask], points.lons[mask], points.lats[mask], phones)


def _phones(session: Session, district_ids: list[int], ids: np.ndarray) -> list[str | None]:
    """Phone numbers of these customers (sorted ids), read by district rather than by a huge IN list."""
    rows = (
        session.execute(
            select(Customer.id, Customer.phone)
            .where(Customer.district_id.in_(district_ids))
            .order_by(Customer.id)
        )
        .tuples()
        .all()
    )
    phone_of = dict(rows)
    return [phone_of.get(customer_id) for customer_id in ids.tolist()]


def important_users_in_area(session: Session, area: ResolvedArea) -> list[ImportantUserAtRisk]:
    """Important users and life-support customers in the area, most critical first, then the
    least backup power (unknown backup counts as none: the safe assumption)."""
    # Plain columns, not ORM objects: thousands of users over a large area load several times faster.
    rows = (
        session.execute(
            select(
                Customer.id,
                Customer.account_no,
                Customer.name,
                Customer.importance,
                Customer.kind,
                Customer.backup_hours,
                Customer.contact_name,
                Customer.contact_phone,
                District.code,
                Customer.lon,
                Customer.lat,
            )
            .join(District, District.id == Customer.district_id)
            .where(
                District.code.in_(area.district_codes),
                or_(Customer.importance != ImportanceGrade.NONE, Customer.kind == CustomerKind.LIFE_SUPPORT),
            )
        )
        .tuples()
        .all()
    )
    if not rows:
        return []
    if area.kind == "districts":
        inside = [True] * len(rows)
    else:
        lons = np.array([r[9] for r in rows], dtype=np.float64)
        lats = np.array([r[10] for r in rows], dtype=np.float64)
        inside = contains_points(area.geometry, lons, lats).tolist()
    users = [
        ImportantUserAtRisk(
            customer_id=customer_id,
            account_no=account_no,
            name=name,
            grade=user_grade(str(importance), str(kind)),
            kind=str(kind),
            backup_hours=backup_hours,
            contact_name=contact_name,
            contact_phone=contact_phone,
            district_code=code,
            lon=lon,
            lat=lat,
        )
        for (
            customer_id,
            account_no,
            name,
            importance,
            kind,
            backup_hours,
            contact_name,
            contact_phone,
            code,
            lon,
            lat,
        ), keep in zip(rows, inside, strict=True)
        if keep
    ]
    users.sort(key=lambda u: (GRADE_ORDER.index(u.grade), u.backup_hours or 0.0, u.account_no))
    return users


def _crews(
    session: Session, area: ResolvedArea, near_km: float
) -> tuple[tuple[CrewNearArea, ...], tuple[CrewNearArea, ...]]:
    crews = list(session.scalars(select(Crew).order_by(Crew.code)))
    if not crews:
        return (), ()
    distances = distance_km(
        area.geometry,
        np.array([c.lon for c in crews], dtype=np.float64),
        np.array([c.lat for c in crews], dtype=np.float64),
    )
    inside: list[CrewNearArea] = []
    near: list[CrewNearArea] = []
    for crew, distance in zip(crews, distances.tolist(), strict=True):
        row = CrewNearArea(crew.code, crew.name, str(crew.kind), str(crew.status), round(distance, 1))
        if distance == 0:
            inside.append(row)
        elif distance <= near_km:
            near.append(row)
    near.sort(key=lambda c: (c.distance_km, c.code))
    return tuple(inside), tuple(near)


def _outages(
    session: Session, area: ResolvedArea, districts: dict[int, District]
) -> tuple[OutageInArea, ...]:
    rows = session.execute(
        select(Outage, Device.lon, Device.lat, Device.district_id)
        .join(Device, Device.id == Outage.device_id)
        .where(Outage.state.in_(ACTIVE_OUTAGE_STATES))
        .order_by(Outage.first_report_at, Outage.id)
    ).all()
    if not rows:
        return ()
    lons = np.array([r[1] for r in rows], dtype=np.float64)
    lats = np.array([r[2] for r in rows], dtype=np.float64)
    inside = contains_points(area.geometry, lons, lats).tolist()
    found = []
    for (outage, _lon, _lat, device_district), keep in zip(rows, inside, strict=True):
        if not keep:
            continue
        district = districts.get(outage.district_id or device_district or -1)
        found.append(
            OutageInArea(
                outage_id=outage.id,
                state=str(outage.state),
                district_code=district.code if district else "",
                customers_out=outage.customers_affected - outage.customers_restored,
                important=sum((outage.important_affected or {}).values()),
                hazard=outage.hazard,
            )
        )
    return tuple(found)
