"""What partners get: emergency management, telecom operators and a regional dispatch centre read
the active outages and customers out by district over `GET /api/partner/*` with a token of scope
`partner` or `partner_named` (dashboard/partner_api.py).

Built from the one truth: the counts are `emergency.reporting.outage_figures`' (a customer counts in
the district they live in), read at the moment of the public snapshot, so a partner, the public page
and `status` say the same thing; the current district rows are the snapshot's own. Each feed is built
once per snapshot and shared by every request of that interval. An outage's stage, crews and ETR are
read when its feed is built, which is within one snapshot interval of that moment.

What a partner never gets: a customer, an account number, a phone, an address, a contact, or (with
scope `partner`) which important user is out: critical facilities without power are counted by kind
(hospital, water, telecom, emergency services ...). Scope `partner_named` adds the names of the
facilities, never of private people (life-support and residential customers are counted, not named,
whatever the scope). An outage's area is generalised as on the public map (a buffered hull of its
transformers, about 200 m round them), and withheld below the public privacy minimum
(`public.min_customers_shown`).

`SCHEMA_VERSION` changes only when a field is removed or changes meaning; new fields may be added.
"""

from __future__ import annotations

import csv
import io
import json
import threading
import weakref
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import shapely
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from emergency.core.db import Database
from emergency.core.models import (
    AssignmentStatus,
    CrewAssignment,
    CustomerKind,
    District,
    Outage,
    OutageState,
)
from emergency.core.settings import get_setting
from emergency.network.model import NetworkModel, network_model
from emergency.public.snapshot import (
    AREA_BUFFER_DEG,
    AREA_DECIMALS,
    AREA_QUAD_SEGMENTS,
    PublicSnapshot,
)
from emergency.reporting.outage_figures import OutageFigures, customers_out_series, figures_at

SCHEMA_VERSION = "1.0"
# What a partner is told of the crews: the outage's stage, as the board shows it.
CREW_STATUS = {
    OutageState.DISPATCHED: "dispatched",
    OutageState.EN_ROUTE: "en_route",
    OutageState.ON_SITE: "on_site",
}
NO_CREW = "none"
OPEN_ASSIGNMENTS = (AssignmentStatus.DISPATCHED, AssignmentStatus.EN_ROUTE, AssignmentStatus.ON_SITE)
# Every kind an important user may be, so the CSV has the same columns whatever is out.
CRITICAL_KINDS: tuple[str, ...] = tuple(kind.value for kind in CustomerKind)
# Private people: counted by kind, never named, whatever the token's scope.
NEVER_NAMED = frozenset({CustomerKind.LIFE_SUPPORT.value, CustomerKind.RESIDENTIAL.value})
CHUNK = 500  # both databases bound the parameters of a query

OUTAGE_COLUMNS = (
    "outage_id",
    "district_code",
    "district_name_en",
    "district_name_zh",
    "customers_by_district",
    "centroid_lon",
    "centroid_lat",
    "customers_out",
    "started_at",
    "etr",
    "etr_confidence",
    "etr_source",
    "etr_set_at",
    "etr_expired",
    "crew_status",
    "crews",
    "hazard",
    "critical_facilities_out",
    *(f"critical_{kind}" for kind in CRITICAL_KINDS),
)
NAMED_COLUMN = "critical_facilities_named"
DISTRICT_COLUMNS = ("time", "area_code", "area_name_en", "area_name_zh", "customers_served", "customers_out")


# --- the outages --------------------------------------------------------------------------------


@dataclass(frozen=True)
class NamedFacility:
    """A critical facility without power, as `partner_named` sees it: its name, kind and grade."""

    name: str
    kind: str
    grade: str

    def to_json(self) -> dict[str, str]:
        return {"name": self.name, "kind": self.kind, "grade": self.grade}


@dataclass(frozen=True)
class PartnerOutage:
    outage_id: int
    district_code: str | None
    district_name_en: str | None
    district_name_zh: str | None
    customers_by_district: dict[str, int]
    customers_out: int
    started_at: datetime
    etr_at: datetime | None
    etr_confidence: str | None
    etr_source: str | None
    etr_set_at: datetime | None
    etr_expired: bool  # the ETR has passed and is being reassessed
    crew_status: str
    crews: int
    hazard: bool
    critical_by_kind: dict[str, int]
    named: tuple[NamedFacility, ...]  # empty unless the feed is for partner_named
    area: dict[str, Any] | None  # a GeoJSON geometry; None when withheld or unknown
    centroid: tuple[float, float] | None

    @property
    def critical_total(self) -> int:
        return sum(self.critical_by_kind.values())


@dataclass(frozen=True)
class PartnerOutages:
    """The active outages at `generated_at`, for one scope."""

    generated_at: datetime
    fresh_until: datetime  # the next public snapshot, when this feed is built again
    names_included: bool
    area_min_customers: int
    outages: tuple[PartnerOutage, ...]

    def without_names(self) -> PartnerOutages:
        return PartnerOutages(
            self.generated_at,
            self.fresh_until,
            False,
            self.area_min_customers,
            tuple(_unnamed(o) for o in self.outages),
        )

    def to_geojson(self, tz: ZoneInfo) -> dict[str, Any]:
        """A GeoJSON FeatureCollection, one feature per outage (its area, or no geometry)."""
        return {
            "type": "FeatureCollection",
            "schema_version": SCHEMA_VERSION,
            "generated_at": _local(self.generated_at, tz),
            "scope": "partner_named" if self.names_included else "partner",
            "area_min_customers": self.area_min_customers,
            "outages": len(self.outages),
            "customers_out": sum(o.customers_out for o in self.outages),
            "features": [
                {
                    "type": "Feature",
                    "id": o.outage_id,
                    "geometry": o.area,
                    "properties": self._properties(o, tz),
                }
                for o in self.outages
            ],
        }

    def _properties(self, o: PartnerOutage, tz: ZoneInfo) -> dict[str, Any]:
        properties: dict[str, Any] = {
            "outage_id": o.outage_id,
            "district_code": o.district_code,
            "district_name_en": o.district_name_en,
            "district_name_zh": o.district_name_zh,
            "customers_by_district": o.customers_by_district,
            "centroid": list(o.centroid) if o.centroid else None,
            "area_withheld": o.area is None,
            "customers_out": o.customers_out,
            "started_at": _local(o.started_at, tz),
            "etr": _local(o.etr_at, tz),
            "etr_confidence": o.etr_confidence,
            "etr_source": o.etr_source,
            "etr_set_at": _local(o.etr_set_at, tz),
            "etr_expired": o.etr_expired,
            "crew_status": o.crew_status,
            "crews": o.crews,
            "hazard": o.hazard,
            "critical_facilities_out": {"total": o.critical_total, "by_kind": o.critical_by_kind},
        }
        if self.names_included:
            properties[NAMED_COLUMN] = [f.to_json() for f in o.named]
        return properties

    def to_csv(self, tz: ZoneInfo) -> str:
        """One row per outage, the columns of `OUTAGE_COLUMNS` (and the names for partner_named)."""
        header = [*OUTAGE_COLUMNS, *([NAMED_COLUMN] if self.names_included else [])]
        rows: list[list[Any]] = []
        for o in self.outages:
            row: list[Any] = [
                o.outage_id,
                o.district_code or "",
                o.district_name_en or "",
                o.district_name_zh or "",
                ";".join(f"{code}={n}" for code, n in o.customers_by_district.items()),
                o.centroid[0] if o.centroid else "",
                o.centroid[1] if o.centroid else "",
                o.customers_out,
                _local(o.started_at, tz),
                _local(o.etr_at, tz) or "",
                o.etr_confidence or "",
                o.etr_source or "",
                _local(o.etr_set_at, tz) or "",
                _flag(o.etr_expired),
                o.crew_status,
                o.crews,
                _flag(o.hazard),
                o.critical_total,
                *(o.critical_by_kind.get(kind, 0) for kind in CRITICAL_KINDS),
            ]
            if self.names_included:
                # A JSON array in one cell: names may hold commas or semicolons, and stay whole.
                row.append(json.dumps([f.to_json() for f in o.named], ensure_ascii=False) if o.named else "")
            rows.append(row)
        return _csv(header, rows)


def _unnamed(outage: PartnerOutage) -> PartnerOutage:
    fields = {**outage.__dict__, "named": ()}
    return PartnerOutage(**fields)


def build_partner_outages(
    session: Session, at: datetime, fresh_until: datetime, model: NetworkModel | None, minimum: int
) -> PartnerOutages:
    """The outages with customers out at `at`, as `figures_at` counts them, with the names of the
    critical facilities out (`without_names` takes them off for scope `partner`)."""
    figures = figures_at(session, at, important=True)
    ids = [o.outage_id for o in figures.active]
    districts = {d.id: d for d in session.scalars(select(District))}
    details = _outage_details(session, ids)
    crews = _open_crews(session, ids)
    by_kind, named = _critical_facilities(figures)
    areas = _areas(model, [(o.outage_id, o.device_id) for o in figures.active if o.customers_out >= minimum])
    outages = []
    for o in figures.active:
        state, etr_at, confidence, source, set_at, hazard = details[o.outage_id]
        district = districts.get(o.district_id) if o.district_id is not None else None
        area, centroid = areas.get(o.outage_id, (None, None))
        outages.append(
            PartnerOutage(
                outage_id=o.outage_id,
                district_code=district.code if district else None,
                district_name_en=district.name_en if district else None,
                district_name_zh=district.name_zh if district else None,
                customers_by_district={
                    districts[d].code: n
                    for d, n in sorted(o.by_district.items(), key=lambda item: districts[item[0]].code)
                },
                customers_out=o.customers_out,
                started_at=o.first_report_at,
                etr_at=etr_at,
                etr_confidence=str(confidence) if confidence else None,
                etr_source=str(source) if source else None,
                etr_set_at=set_at,
                etr_expired=etr_at is not None and etr_at <= at,
                crew_status=CREW_STATUS.get(OutageState(state), NO_CREW),
                crews=crews.get(o.outage_id, 0),
                hazard=bool(hazard),
                critical_by_kind=by_kind.get(o.outage_id, {}),
                named=tuple(named.get(o.outage_id, ())),
                area=area,
                centroid=centroid,
            )
        )
    return PartnerOutages(at, fresh_until, True, minimum, tuple(outages))


def _outage_details(session: Session, ids: list[int]) -> dict[int, tuple[Any, ...]]:
    found: dict[int, tuple[Any, ...]] = {}
    for start in range(0, len(ids), CHUNK):
        query = select(
            Outage.id,
            Outage.state,
            Outage.etr_at,
            Outage.etr_confidence,
            Outage.etr_source,
            Outage.etr_set_at,
            Outage.hazard,
        ).where(Outage.id.in_(ids[start : start + CHUNK]))
        for row in session.execute(query):
            found[int(row[0])] = tuple(row[1:])
    return found


def _open_crews(session: Session, ids: list[int]) -> dict[int, int]:
    """Crews dispatched, en route or on site per outage."""
    counts: dict[int, int] = {}
    for start in range(0, len(ids), CHUNK):
        query = (
            select(CrewAssignment.outage_id, func.count())
            .where(
                CrewAssignment.outage_id.in_(ids[start : start + CHUNK]),
                CrewAssignment.status.in_(OPEN_ASSIGNMENTS),
            )
            .group_by(CrewAssignment.outage_id)
        )
        counts.update({int(outage_id): int(n) for outage_id, n in session.execute(query)})
    return counts


def _critical_facilities(
    figures: OutageFigures,
) -> tuple[dict[int, dict[str, int]], dict[int, list[NamedFacility]]]:
    """Per outage: the important users out by kind, and the facilities among them by name."""
    by_kind: dict[int, dict[str, int]] = {}
    named: dict[int, list[NamedFacility]] = {}
    for user in figures.important_users:
        kinds = by_kind.setdefault(user.outage_id, {})
        kinds[user.kind] = kinds.get(user.kind, 0) + 1
        if user.kind not in NEVER_NAMED:
            named.setdefault(user.outage_id, []).append(NamedFacility(user.name, user.kind, user.importance))
    return (
        {o: dict(sorted(kinds.items())) for o, kinds in by_kind.items()},
        {o: sorted(facilities, key=lambda f: (f.kind, f.name)) for o, facilities in named.items()},
    )


# --- generalised areas --------------------------------------------------------------------------

# Area and centroid per device, kept per network model (they depend on nothing else).
_areas_per_model: dict[int, dict[int, tuple[dict[str, Any] | None, tuple[float, float] | None]]] = {}
_areas_lock = threading.Lock()


def _model_areas(model: NetworkModel) -> dict[int, tuple[dict[str, Any] | None, tuple[float, float] | None]]:
    key = id(model)
    with _areas_lock:
        cache = _areas_per_model.get(key)
        if cache is None:
            cache = {}
            _areas_per_model[key] = cache
            weakref.finalize(model, _areas_per_model.pop, key, None)
    return cache


def _areas(
    model: NetworkModel | None, wanted: Sequence[tuple[int, int]]
) -> dict[int, tuple[dict[str, Any] | None, tuple[float, float] | None]]:
    """Each (outage, device)'s generalised area as GeoJSON and its centroid, made as the public map
    makes its areas: the convex hull of the transformers below the device, buffered about 200 m."""
    if model is None or not wanted:
        return {}
    cache = _model_areas(model)
    missing = sorted({device for _, device in wanted if device not in cache and device in model.net.index_of})
    if missing:
        assert model.net.lon is not None and model.net.lat is not None
        members = [model.net.transformers_at_or_below(d) or [model.net.index_of[d]] for d in missing]
        flat = np.concatenate([np.asarray(m, dtype=np.int64) for m in members])
        owner = np.repeat(np.arange(len(members)), [len(m) for m in members])
        points = shapely.multipoints(
            np.column_stack([model.net.lon[flat], model.net.lat[flat]]), indices=owner
        )
        hulls = shapely.buffer(shapely.convex_hull(points), AREA_BUFFER_DEG, quad_segs=AREA_QUAD_SEGMENTS)
        areas = shapely.set_precision(hulls, 10.0**-AREA_DECIMALS)
        centroids = shapely.get_coordinates(shapely.centroid(areas))
        texts = shapely.to_geojson(areas)
        for n, device in enumerate(missing):
            lon, lat = (round(float(v), AREA_DECIMALS) for v in centroids[n])
            cache[device] = (json.loads(str(texts[n])), (lon, lat))
    return {outage: cache[device] for outage, device in wanted if device in cache}


# --- customers out by district ------------------------------------------------------------------


@dataclass(frozen=True)
class DistrictRow:
    """Customers out in one district at one time: the row national outage aggregators collect."""

    time: datetime
    code: str
    name_en: str
    name_zh: str
    customers_served: int
    customers_out: int

    def values(self, tz: ZoneInfo) -> list[Any]:
        return [
            _local(self.time, tz),
            self.code,
            self.name_en,
            self.name_zh,
            self.customers_served,
            self.customers_out,
        ]


@dataclass(frozen=True)
class PartnerDistricts:
    """The current rows (the snapshot's), and a series at every interval over the last `hours`."""

    generated_at: datetime
    fresh_until: datetime
    interval_minutes: int
    hours: int
    current: tuple[DistrictRow, ...]
    series: tuple[DistrictRow, ...]

    def to_json(self, tz: ZoneInfo) -> dict[str, Any]:
        return {
            "schema_version": SCHEMA_VERSION,
            "generated_at": _local(self.generated_at, tz),
            "interval_minutes": self.interval_minutes,
            "hours": self.hours,
            "current": [dict(zip(DISTRICT_COLUMNS, r.values(tz), strict=True)) for r in self.current],
            "series": [dict(zip(DISTRICT_COLUMNS, r.values(tz), strict=True)) for r in self.series],
        }

    def to_csv(self, tz: ZoneInfo) -> str:
        """The series, oldest first, then the current rows: one row per district and time."""
        return _csv(list(DISTRICT_COLUMNS), [r.values(tz) for r in (*self.series, *self.current)])


def series_times(at: datetime, hours: int, interval_minutes: int) -> list[datetime]:
    """Every multiple of the interval (counted from midnight UTC, so the times are the same for
    every request) from `hours` before `at` up to `at`, oldest first; none when `hours` is 0."""
    if hours <= 0:
        return []
    step = timedelta(minutes=interval_minutes)
    since_epoch = at.astimezone(UTC) - datetime(1970, 1, 1, tzinfo=UTC)
    last = datetime(1970, 1, 1, tzinfo=UTC) + (since_epoch // step) * step
    count = hours * 60 // interval_minutes + 1
    return [last - step * k for k in range(count - 1, -1, -1)]


def build_partner_districts(
    session: Session, snapshot: PublicSnapshot, hours: int, interval_minutes: int
) -> PartnerDistricts:
    """The snapshot's district rows as they are, and the series by `customers_out_series` (the same
    arithmetic as `figures_at`) at the interval's multiples; customers served are today's count."""
    districts = list(session.scalars(select(District).order_by(District.code)))
    served = {d.code: d.customers_served for d in snapshot.districts}
    current = tuple(
        DistrictRow(snapshot.generated_at, d.code, d.name_en, d.name_zh, d.customers_served, d.customers_out)
        for d in snapshot.districts
    )
    times = series_times(snapshot.generated_at, hours, interval_minutes)
    series = [
        DistrictRow(t, d.code, d.name_en, d.name_zh, served.get(d.code, 0), out.get(d.id, 0))
        for t, out in zip(times, customers_out_series(session, times), strict=True)
        for d in districts
    ]
    return PartnerDistricts(
        snapshot.generated_at, snapshot.next_update_at, interval_minutes, hours, current, tuple(series)
    )


# --- shared per snapshot ------------------------------------------------------------------------

_built: dict[tuple[str, str, int], tuple[PublicSnapshot, Any]] = {}
_building: dict[tuple[str, str, int], threading.Lock] = {}
_built_lock = threading.Lock()


def _cached(db: Database, snapshot: PublicSnapshot, key: tuple[str, int], make: Any) -> Any:
    """What `make` builds for this snapshot, once per snapshot however many partners ask: those who
    arrive during a build (seconds at storm scale) wait for it instead of starting their own."""
    full_key = (db.url, *key)
    with _built_lock:
        found = _built.get(full_key)
        lock = _building.setdefault(full_key, threading.Lock())
    if found is not None and found[0] is snapshot:
        return found[1]
    with lock:
        with _built_lock:
            found = _built.get(full_key)
        if found is not None and found[0] is snapshot:
            return found[1]  # built by the request we waited for
        with db.read() as session:
            value = make(session)
        with _built_lock:
            _built[full_key] = (snapshot, value)
    return value


def partner_outages(db: Database, snapshot: PublicSnapshot, *, names: bool) -> PartnerOutages:
    """The outage feed at the snapshot's moment, with the facilities' names only when `names`."""

    def make(session: Session) -> PartnerOutages:
        minimum = int(get_setting(session, "public.min_customers_shown"))
        return build_partner_outages(
            session, snapshot.generated_at, snapshot.next_update_at, network_model(session, db.url), minimum
        )

    full: PartnerOutages = _cached(db, snapshot, ("outages", 0), make)
    return full if names else full.without_names()


def series_limits(session: Session) -> tuple[int, int]:
    """The series' interval in minutes and the longest window in hours a partner may ask for."""
    return (
        int(get_setting(session, "partner.series_interval_minutes")),
        int(get_setting(session, "partner.series_max_hours")),
    )


def partner_districts(db: Database, snapshot: PublicSnapshot, hours: int) -> PartnerDistricts:
    """Customers out by district now and (for `hours` > 0) at every interval before, per snapshot."""

    def make(session: Session) -> PartnerDistricts:
        interval, _ = series_limits(session)
        return build_partner_districts(session, snapshot, hours, interval)

    result: PartnerDistricts = _cached(db, snapshot, ("districts", hours), make)
    return result


def forget_partner_feeds() -> None:
    """Drop the built feeds (tests, after the snapshot cache is reset)."""
    with _built_lock:
        _built.clear()


# --- encoding -----------------------------------------------------------------------------------


def _local(moment: datetime | None, tz: ZoneInfo) -> str | None:
    return moment.astimezone(tz).isoformat(timespec="seconds") if moment is not None else None


def _flag(value: bool) -> str:
    return "true" if value else "false"


def _csv(header: list[str], rows: Iterable[list[Any]]) -> str:
    """RFC 4180 CSV: a header row, CRLF line ends, fields quoted only when they must be."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(header)
    writer.writerows(rows)
    return out.getvalue()
