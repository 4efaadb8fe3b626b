"""The public snapshot: the one function that decides everything the public may see.

Areas and counts only. Never a name, phone number, address, account number, an exact customer
location, or which important user is out: outage areas are generalised to a buffered hull of the
transformers they cover, and areas with fewer customers than a set minimum are not drawn (their
customers still count in their district's totals).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import Any

import shapely
import shapely.geometry
from shapely.geometry import mapping
from shapely.geometry.base import BaseGeometry
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from emergency.clock import Clock
from emergency.models import ACTIVE_OUTAGE_STATES, Crew, CrewStatus, Customer, District, Outage, OutageState
from emergency.network import NetworkModel, build_network_model
from emergency.settings import get_setting

# Degrees of buffer round an outage's transformers: about 200 m, so a single transformer's
# area never shrinks to a point that would give away where its customers live.
AREA_BUFFER_DEG = 0.002
AREA_SIMPLIFY_DEG = 0.0005

# The words customers understand (DOMAIN.md section 4), keyed for translation.
PUBLIC_STATUS = {
    OutageState.REPORTED: "reported",
    OutageState.PREDICTED: "reported",
    OutageState.CONFIRMED: "assessing",
    OutageState.DISPATCHED: "crew_assigned",
    OutageState.EN_ROUTE: "crew_assigned",
    OutageState.ON_SITE: "crew_on_site",
}


@dataclass(frozen=True)
class DistrictStatus:
    code: str
    name_en: str
    name_zh: str
    area_type: str
    customers_served: int
    customers_out: int
    outages: int

    @property
    def share_with_power(self) -> float:
        if not self.customers_served:
            return 1.0
        return 1 - self.customers_out / self.customers_served


@dataclass(frozen=True)
class PublicSnapshot:
    generated_at: datetime
    next_update_at: datetime
    customers_served: int
    customers_out: int
    outages: int
    crews_working: int
    districts: list[DistrictStatus]
    areas: dict[str, Any]  # GeoJSON FeatureCollection of generalised outage areas
    districts_geojson: dict[str, Any]
    small_outages_not_drawn: int
    min_customers_shown: int
    territory_name: dict[str, str] = field(default_factory=dict)

    @property
    def share_with_power(self) -> float:
        if not self.customers_served:
            return 1.0
        return 1 - self.customers_out / self.customers_served

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["generated_at"] = self.generated_at.isoformat()
        data["next_update_at"] = self.next_update_at.isoformat()
        data["share_with_power"] = round(self.share_with_power, 4)
        return data


def build_public_snapshot(
    session: Session, clock: Clock, model: NetworkModel | None = None
) -> PublicSnapshot:
    """Everything the public may see, built from the live records (callers cache the result)."""
    now = clock.now()
    interval = int(get_setting(session, "public.snapshot_interval_s"))
    minimum = int(get_setting(session, "public.min_customers_shown"))
    districts = list(session.scalars(select(District).order_by(District.code)))
    shapes = {d.id: shapely.geometry.shape(d.geometry) for d in districts}
    served = dict(
        session.execute(select(Customer.district_id, func.count()).group_by(Customer.district_id)).all()
    )
    outages = list(session.scalars(select(Outage).where(Outage.state.in_(ACTIVE_OUTAGE_STATES))))
    if outages and model is None:
        model = build_network_model(session)

    out_by_district: dict[int, float] = {}
    outages_by_district: dict[int, int] = {}
    area_features: list[dict[str, Any]] = []
    hidden = 0
    for outage in outages:
        assert model is not None
        pieces = _pieces_by_district(model, outage)
        still_out = max(outage.customers_affected - outage.customers_restored, 0)
        # Customers are counted in the district they live in, not where the device stands;
        # a partly restored outage is scaled down evenly (steps do not say where power came back).
        scale = still_out / max(sum(n for n, _ in pieces.values()), 1)
        drawn = False
        for district_id, (customers, transformers) in pieces.items():
            out_here = customers * scale
            out_by_district[district_id] = out_by_district.get(district_id, 0.0) + out_here
            outages_by_district[district_id] = outages_by_district.get(district_id, 0) + 1
            if round(out_here) >= minimum and district_id in shapes:
                area_features.append(
                    _area_feature(outage, round(out_here), model, transformers, shapes[district_id], now)
                )
                drawn = True
        hidden += 0 if drawn else 1

    district_rows = [
        DistrictStatus(
            code=d.code,
            name_en=d.name_en,
            name_zh=d.name_zh,
            area_type=str(d.area_type),
            customers_served=int(served.get(d.id, 0)),
            customers_out=min(round(out_by_district.get(d.id, 0)), int(served.get(d.id, 0))),
            outages=outages_by_district.get(d.id, 0),
        )
        for d in districts
    ]
    crews_working = int(
        session.scalar(
            select(func.count())
            .select_from(Crew)
            .where(Crew.status.in_([CrewStatus.DISPATCHED, CrewStatus.EN_ROUTE, CrewStatus.ON_SITE]))
        )
        or 0
    )
    return PublicSnapshot(
        generated_at=now,
        next_update_at=now + timedelta(seconds=interval),
        customers_served=sum(r.customers_served for r in district_rows),
        customers_out=sum(r.customers_out for r in district_rows),
        outages=len(outages),
        crews_working=crews_working,
        districts=district_rows,
        areas={"type": "FeatureCollection", "features": area_features},
        districts_geojson=_district_shapes(districts, district_rows),
        small_outages_not_drawn=hidden,
        min_customers_shown=minimum,
        territory_name={
            "en": str(get_setting(session, "territory.name_en")),
            "zh": str(get_setting(session, "territory.name_zh")),
        },
    )


def _pieces_by_district(model: NetworkModel, outage: Outage) -> dict[int, tuple[int, list[int]]]:
    """The outage's customers and transformers grouped by the district they are in."""
    index = model.net.index_of[outage.device_id]
    transformers = model.net.transformers_at_or_below(outage.device_id) or [index]
    pieces: dict[int, tuple[int, list[int]]] = {}
    for t in transformers:
        district_id = int(model.district[t])
        customers, members = pieces.get(district_id, (0, []))
        members.append(t)
        pieces[district_id] = (customers + int(model.customers_below[t]), members)
    return pieces


def _area_feature(
    outage: Outage,
    customers_out: int,
    model: NetworkModel,
    transformers: list[int],
    district: BaseGeometry,
    now: datetime,
) -> dict[str, Any]:
    """A generalised area: the buffered hull of the transformers, kept inside their district."""
    assert model.net.lon is not None and model.net.lat is not None
    points = shapely.points(model.net.lon[transformers], model.net.lat[transformers])
    area = shapely.convex_hull(shapely.multipoints(points)).buffer(AREA_BUFFER_DEG)
    area = shapely.intersection(area, district).simplify(AREA_SIMPLIFY_DEG)
    area = shapely.set_precision(area, 1e-5)
    etr_valid = outage.etr_at is not None and outage.etr_at > now
    return {
        "type": "Feature",
        "geometry": mapping(area),
        "properties": {
            "status": PUBLIC_STATUS.get(outage.state, "reported"),
            "customers_out": customers_out,
            "since": outage.first_report_at.isoformat(),
            # An ETR in the past is never shown as valid: the public sees it is being reassessed.
            "etr": outage.etr_at.isoformat() if etr_valid and outage.etr_at else None,
            "etr_confidence": str(outage.etr_confidence) if etr_valid and outage.etr_confidence else None,
            "etr_expired": outage.etr_at is not None and not etr_valid,
        },
    }


def _district_shapes(districts: list[District], rows: list[DistrictStatus]) -> dict[str, Any]:
    by_code = {r.code: r for r in rows}
    return {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "geometry": d.geometry,
                "properties": {
                    "code": d.code,
                    "name_en": d.name_en,
                    "name_zh": d.name_zh,
                    "customers_served": by_code[d.code].customers_served,
                    "customers_out": by_code[d.code].customers_out,
                    "share_out": round(1 - by_code[d.code].share_with_power, 4),
                },
            }
            for d in districts
        ],
    }
