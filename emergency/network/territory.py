"""The territory as plain GeoJSON for maps: districts, network, crews and active outages.

Staff-facing: these layers carry device codes and crew names. The public side never reads them;
it reads `emergency.public.snapshot` instead.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import String, func, select, type_coerce
from sqlalchemy.orm import Session, aliased

from emergency.core.models import (
    ACTIVE_OUTAGE_STATES,
    Crew,
    Customer,
    Device,
    DeviceKind,
    District,
    Outage,
)
from emergency.core.settings import get_setting

FeatureCollection = dict[str, Any]
NETWORK_KINDS_DEFAULT = (DeviceKind.BREAKER, DeviceKind.RECLOSER, DeviceKind.FUSE)


@dataclass(frozen=True)
class Extent:
    south: float
    west: float
    north: float
    east: float

    @property
    def centre(self) -> tuple[float, float]:
        return ((self.south + self.north) / 2, (self.west + self.east) / 2)


def _collection(features: list[dict[str, Any]]) -> FeatureCollection:
    return {"type": "FeatureCollection", "features": features}


def _point(lon: float, lat: float, properties: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "Feature",
        "geometry": {"type": "Point", "coordinates": [round(lon, 6), round(lat, 6)]},
        "properties": properties,
    }


def territory_extent(session: Session) -> Extent | None:
    lons: list[float] = []
    lats: list[float] = []
    for (geometry,) in session.execute(select(District.geometry)):
        for lon, lat in _coordinates(geometry):
            lons.append(lon)
            lats.append(lat)
    if not lons:
        return None
    return Extent(min(lats), min(lons), max(lats), max(lons))


def _coordinates(geometry: dict[str, Any]) -> list[tuple[float, float]]:
    polygons = [geometry["coordinates"]] if geometry["type"] == "Polygon" else geometry["coordinates"]
    return [(pt[0], pt[1]) for polygon in polygons for ring in polygon for pt in ring]


def district_collection(session: Session) -> FeatureCollection:
    served: dict[int, int] = {
        district_id: count
        for district_id, count in session.execute(
            select(Customer.district_id, func.count()).group_by(Customer.district_id)
        ).tuples()
    }
    features = [
        {
            "type": "Feature",
            "geometry": d.geometry,
            "properties": {
                "code": d.code,
                "name_en": d.name_en,
                "name_zh": d.name_zh,
                "area_type": str(d.area_type),
                "customers": int(served.get(d.id, 0)),
            },
        }
        for d in session.scalars(select(District).order_by(District.code))
    ]
    return _collection(features)


def network_collection(
    session: Session, kinds: tuple[DeviceKind, ...] = NETWORK_KINDS_DEFAULT
) -> FeatureCollection:
    """Each device of these kinds as a line to its parent, plus substations as points."""
    parent = aliased(Device)
    rows = session.execute(
        select(Device.code, Device.kind, Device.lon, Device.lat, Device.scada_state, parent.lon, parent.lat)
        .join(parent, parent.id == Device.parent_id)
        .where(Device.kind.in_(kinds))
    ).all()
    features: list[dict[str, Any]] = [
        {
            "type": "Feature",
            "geometry": {
                "type": "LineString",
                "coordinates": [[round(plon, 6), round(plat, 6)], [round(lon, 6), round(lat, 6)]],
            },
            "properties": {"code": code, "kind": str(kind), "scada_state": str(state) if state else None},
        }
        for code, kind, lon, lat, state, plon, plat in rows
    ]
    for code, name, lon, lat in session.execute(
        select(Device.code, Device.name, Device.lon, Device.lat).where(Device.kind == DeviceKind.SUBSTATION)
    ):
        features.append(_point(lon, lat, {"code": code, "name": name, "kind": "substation"}))
    return _collection(features)


def crew_collection(session: Session, now: datetime | None = None) -> FeatureCollection:
    """The crews as points, with `age` (whole minutes since the position was taken; None when its
    time is unknown) and `stale` (older than `crew.position_stale_minutes` at `now`). The collection
    carries `stale_minutes` for the map's legend."""
    stale_minutes = float(get_setting(session, "crew.position_stale_minutes"))
    rows = session.execute(
        select(
            Crew.code,
            Crew.name,
            type_coerce(Crew.kind, String),
            Crew.size,
            type_coerce(Crew.status, String),
            Crew.lon,
            Crew.lat,
            Crew.position_at,
        ).order_by(Crew.code)
    ).tuples()
    features = []
    for code, name, kind, size, status, lon, lat, position_at in rows:
        age = None if now is None or position_at is None else (now - position_at).total_seconds() / 60
        properties = {
            "code": code,
            "name": name,
            "kind": kind,
            "size": size,
            "status": status,
            "age": None if age is None else max(int(age), 0),
            "stale": age is not None and age > stale_minutes,
        }
        features.append(_point(lon, lat, properties))
    return {**_collection(features), "stale_minutes": stale_minutes}


def outage_collection(session: Session) -> FeatureCollection:
    rows = session.execute(
        select(Outage, Device.code, Device.kind, Device.lon, Device.lat)
        .join(Device, Device.id == Outage.device_id)
        .where(Outage.state.in_(ACTIVE_OUTAGE_STATES))
        .order_by(Outage.first_report_at)
    ).all()
    features = []
    for outage, code, kind, lon, lat in rows:
        important = sum((outage.important_affected or {}).values())
        features.append(
            _point(
                lon,
                lat,
                {
                    "id": outage.id,
                    "state": str(outage.state),
                    "device_code": code,
                    "device_kind": str(kind),
                    "customers": outage.customers_affected - outage.customers_restored,
                    "important": important,
                    "hazard": outage.hazard,
                    "reports": outage.report_count,
                    "first_report_at": outage.first_report_at.isoformat(),
                    "etr_at": outage.etr_at.isoformat() if outage.etr_at else None,
                },
            )
        )
    return _collection(features)
