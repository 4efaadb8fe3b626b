"""The public snapshot: the one function that decides everything the public may see.

Areas and counts only. Never a name, phone number, address, account number, an exact customer
location, or which important user is out: outage areas are generalised to a buffered hull of the
transformers they cover, and areas with fewer customers than a set minimum are not drawn (their
customers still count in their district's totals).

Every public output (the public page, the JSON routes, the static files) reads the snapshot through
`cached_public_snapshot`, which builds it at most once per interval per database and shares it with
every viewer of the process: public maps that queried the live system per viewer fell over in storms.
"""

from __future__ import annotations

import json
import logging
import re
import threading
import weakref
from dataclasses import dataclass, field, fields
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import shapely
import shapely.geometry
from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from emergency.core.clock import Clock
from emergency.core.db import Database
from emergency.core.models import (
    ACTIVE_OUTAGE_STATES,
    Crew,
    CrewStatus,
    Customer,
    District,
    Outage,
    OutageState,
    RestorationStep,
    Warning,
    WarningLevel,
    WarningStatus,
)
from emergency.core.settings import get_setting
from emergency.network.model import NetworkModel, build_network_model, network_model
from emergency.reporting.outage_figures import district_shares, figures_at

log = logging.getLogger("outage_desk.publish")

# Degrees of buffer round an outage's transformers: about 200 m, so a single transformer's
# area never shrinks to a point that would give away where its customers live.
AREA_BUFFER_DEG = 0.002
# Every area is simplified to about 50 m, a quarter of its buffer: it stays the same recognisable
# shape, and at 5,000 outages the feed went from 2.76 MB to 2.30 MB (0.33 to 0.23 MB gzipped, as
# phones receive it; bench public measures both). Preserving topology keeps every ring valid.
AREA_SIMPLIFY_DEG = 0.0005
AREA_DECIMALS = 5
# Few segments per quarter circle: the areas are generalised anyway and the payload stays small.
AREA_QUAD_SEGMENTS = 3
PROGRESS_POINTS = 25  # samples of customers out across the event window (hourly for 24 h)
PROGRESS_LEAD = timedelta(minutes=10)  # the chart starts this long before the first outage, at zero
# After a failed rebuild, viewers keep the last snapshot this long before anyone tries again, so a
# database that is down is not hammered by every page view.
RETRY_AFTER_FAILURE_S = 10

# The words customers understand (DOMAIN.md section 4), keyed for translation.
PUBLIC_STATUS = {
    OutageState.REPORTED: "reported",
    OutageState.PREDICTED: "reported",
    OutageState.CONFIRMED: "assessing",
    OutageState.DISPATCHED: "crew_assigned",
    OutageState.EN_ROUTE: "crew_assigned",
    OutageState.ON_SITE: "crew_on_site",
    OutageState.RESTORED: "restored",
    OutageState.CLOSED: "restored",
}
RESTORED_STATES = (OutageState.RESTORED, OutageState.CLOSED)
# Outages whose customers really were out: cancelled ones were not, merged ones live on in the
# outage they were merged into.
REAL_OUTAGE_STATES = (*ACTIVE_OUTAGE_STATES, *RESTORED_STATES)
PUBLIC_WARNING_STATES = (WarningStatus.ACTIVE, WarningStatus.UPDATED)
# The meteorological signal colours (DOMAIN.md section 2), most severe first.
WARNING_COLOURS = {
    WarningLevel.RED: "#d7191c",
    WarningLevel.ORANGE: "#f28e2b",
    WarningLevel.YELLOW: "#f2c94c",
    WarningLevel.BLUE: "#1f5fbf",
}
WARNING_SEVERITY = {level: rank for rank, level in enumerate(WARNING_COLOURS)}


@dataclass(frozen=True)
class DistrictStatus:
    code: str
    name_en: str
    name_zh: str
    area_type: str
    customers_served: int
    customers_out: int
    outages: int
    customers_restored: int = 0  # restored within the event window
    etr_earliest: datetime | None = None  # the range of valid (future) ETRs of its outages
    etr_latest: datetime | None = None
    etrs_reassessed: int = 0  # outages whose ETR has passed: shown as being reassessed

    @property
    def share_with_power(self) -> float:
        if not self.customers_served:
            return 1.0
        return 1 - self.customers_out / self.customers_served


@dataclass(frozen=True)
class PublicWarning:
    level: str
    colour: str
    hazard: str
    title_en: str
    title_zh: str
    text_en: str
    text_zh: str
    districts: list[str]  # district codes; empty when the area is drawn, not named
    effective_at: datetime
    expires_at: datetime


@dataclass(frozen=True)
class PublicSnapshot:
    generated_at: datetime
    next_update_at: datetime
    interval_s: int
    customers_served: int
    customers_out: int
    outages: int
    crews_working: int
    districts: list[DistrictStatus]
    # The generalised outage areas as a GeoJSON FeatureCollection, encoded once at build time: the
    # bulk of the bytes, sent on as they are by every map and feed, so a thousand viewers cost one
    # encoding. `<`, `>` and `&` are escaped, so the text can sit inside a <script> as it is.
    areas_json: str = field(repr=False)
    districts_geojson: dict[str, Any]
    small_outages_not_drawn: int
    min_customers_shown: int
    warnings: list[PublicWarning] = field(default_factory=list)
    customers_restored: int = 0  # within the event window
    event_hours: int = 24
    progress_times: list[datetime] = field(default_factory=list)
    progress_out: dict[str, list[int]] = field(default_factory=dict)  # district code -> out at each time
    bounds: tuple[float, float, float, float] | None = None  # west, south, east, north
    territory_name: dict[str, str] = field(default_factory=dict)

    @property
    def areas(self) -> dict[str, Any]:
        """The outage areas decoded (for readers in Python; the hot paths send `areas_json`)."""
        return json.loads(self.areas_json)

    @property
    def share_with_power(self) -> float:
        if not self.customers_served:
            return 1.0
        return 1 - self.customers_out / self.customers_served

    def is_stale(self, now: datetime) -> bool:
        """Older than twice the interval: the rebuilds have stopped, and readers must be told."""
        return now - self.generated_at > timedelta(seconds=2 * self.interval_s)

    def summary_json(self) -> dict[str, Any]:
        """Everything but the map layers, as JSON-ready values."""
        data = {
            f.name: _jsonable(getattr(self, f.name))
            for f in fields(self)
            if f.name not in ("areas_json", "districts_geojson")
        }
        data["share_with_power"] = round(self.share_with_power, 4)
        for district, row in zip(data["districts"], self.districts, strict=True):
            district["share_with_power"] = round(row.share_with_power, 4)
        return data

    def to_json(self) -> dict[str, Any]:
        return {
            **self.summary_json(),
            "areas": self.areas,
            "districts_geojson": self.districts_geojson,
        }


def compact_json(data: Any) -> str:
    return json.dumps(data, ensure_ascii=False, separators=(",", ":"))


def script_safe(text: str) -> str:
    """JSON text with `<`, `>` and `&` escaped: still the same JSON, and safe inside <script>."""
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, DistrictStatus | PublicWarning):
        return {f.name: _jsonable(getattr(value, f.name)) for f in fields(value)}
    if isinstance(value, dict):
        return {key: _jsonable(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(item) for item in value]
    return value


# --- the shared cache ---------------------------------------------------------------------------

_snapshots: dict[str, PublicSnapshot] = {}
_failed_at: dict[str, datetime] = {}
_build_locks: dict[str, threading.Lock] = {}
_guard = threading.Lock()


def cached_public_snapshot(db: Database, clock: Clock) -> PublicSnapshot:
    """The snapshot of this database, built at most once per interval and shared by every caller.

    Viewers who arrive while it is being rebuilt wait for that one build instead of starting their
    own. If a rebuild fails (the database is down or overloaded), the last snapshot is served as it
    is, and it says how old it is: readers see a stale-data banner rather than an error.
    """
    snapshot = _snapshots.get(db.url)
    if snapshot is not None and clock.now() < snapshot.next_update_at:
        return snapshot
    with _guard:
        lock = _build_locks.setdefault(db.url, threading.Lock())
    with lock:
        snapshot = _snapshots.get(db.url)
        now = clock.now()
        if snapshot is not None and now < snapshot.next_update_at:
            return snapshot  # built by the viewer we waited for
        failed = _failed_at.get(db.url)
        if (
            snapshot is not None
            and failed is not None
            and now - failed < timedelta(seconds=RETRY_AFTER_FAILURE_S)
        ):
            return snapshot
        try:
            with db.read() as session:
                fresh = build_public_snapshot(session, clock, network_model(session, db.url))
        except Exception:
            if snapshot is None:
                raise
            _failed_at[db.url] = now
            log.exception("public snapshot rebuild failed; serving the one from %s", snapshot.generated_at)
            return snapshot
        _failed_at.pop(db.url, None)
        _snapshots[db.url] = fresh
        return fresh


def fresh_cached_snapshot(url: str, now: datetime) -> PublicSnapshot | None:
    """The cached snapshot of a database while it is due no rebuild, else None: a dictionary read,
    so a feed answering hundreds of requests a second needs no worker thread for most of them."""
    snapshot = _snapshots.get(url)
    return snapshot if snapshot is not None and now < snapshot.next_update_at else None


def last_cached_snapshot(url: str) -> PublicSnapshot | None:
    """The last snapshot built for a database, however old (None before the first build)."""
    return _snapshots.get(url)


def forget_cached_snapshot(url: str | None = None) -> None:
    """Drop the cached snapshot of one database (all when None): for tests and after a reset."""
    with _guard:
        for key in [url] if url is not None else list(_snapshots):
            _snapshots.pop(key, None)
            _failed_at.pop(key, None)


# --- building it --------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Layout:
    """Where the customers below one device are: customers and transformer indices per district."""

    districts: dict[int, tuple[int, list[int]]]
    total: int


@dataclass(frozen=True, slots=True)
class _OutagePieces:
    """One outage with the layout of the transformers below its device, by the district they
    stand in, for drawing its areas (its parts copied out, as plain attributes are read thousands
    of times a build). Its customers are counted by `outage_figures`, where they live."""

    outage: Any  # a row with the Outage columns build_public_snapshot reads
    districts: dict[int, tuple[int, list[int]]]
    total: int


# Layouts and area shapes depend only on the network model (and the districts, which move with
# it), so they are kept per model: a storm's outages mostly stay from one build to the next, and
# only new ones cost geometry. Entries go when the model is replaced and collected.
_per_model: dict[int, dict[str, dict[Any, Any]]] = {}


def _model_cache(model: NetworkModel) -> dict[str, dict[Any, Any]]:
    key = id(model)
    cache = _per_model.get(key)
    if cache is None:
        cache = {"layouts": {}, "areas": {}, "properties": {}, "districts": {}}
        _per_model[key] = cache
        weakref.finalize(model, _per_model.pop, key, None)
    return cache


def build_public_snapshot(
    session: Session, clock: Clock, model: NetworkModel | None = None
) -> PublicSnapshot:
    """Everything the public may see, built from the live records (callers cache the result)."""
    now = clock.now()
    interval = int(get_setting(session, "public.snapshot_interval_s"))
    minimum = int(get_setting(session, "public.min_customers_shown"))
    event_hours = int(get_setting(session, "public.event_hours"))
    restored_shown = timedelta(minutes=int(get_setting(session, "public.restored_shown_minutes")))
    event_start = now - timedelta(hours=event_hours)
    districts = list(session.scalars(select(District).order_by(District.code)))
    shapes = _district_geometries(districts, model)
    per_district = select(Customer.district_id, func.count()).group_by(Customer.district_id)
    served: dict[int | None, int] = dict(session.execute(per_district).tuples().all())
    # Every outage whose customers were out at some time in the event window.
    in_window = (
        Outage.state.in_(REAL_OUTAGE_STATES),
        Outage.first_report_at <= now,
        or_(Outage.restored_at.is_(None), Outage.restored_at >= event_start),
    )
    recent = list(
        session.execute(
            select(
                Outage.id,
                Outage.state,
                Outage.device_id,
                Outage.district_id,
                Outage.first_report_at,
                Outage.restored_at,
                Outage.customers_affected,
                Outage.customers_restored,
                Outage.etr_at,
                Outage.etr_confidence,
                Outage.etr_set_at,
            ).where(*in_window)
        ).all()
    )
    if recent and model is None:
        model = build_network_model(session)
        shapes = _district_geometries(districts, model)
    layouts = _model_cache(model)["layouts"] if model is not None else {}
    pieces = [_pieces_by_district(model, row, layouts) for row in recent] if model is not None else []
    active = [p for p in pieces if p.outage.state in ACTIVE_OUTAGE_STATES]
    just_restored = [
        p
        for p in pieces
        if p.outage.state in RESTORED_STATES
        and p.outage.restored_at is not None
        and p.outage.restored_at >= now - restored_shown
    ]

    # Customers and outages by district by the one rule every page uses: a customer counts in the
    # district they live in (`emergency.reporting.outage_figures`).
    figures = figures_at(session, now, important=False)
    districts_of = {
        o.outage_id: list(o.by_district) or ([o.district_id] if o.district_id is not None else [])
        for o in figures.active
    }
    etrs_by_district: dict[int, list[datetime]] = {}
    reassessed_by_district: dict[int, int] = {}
    for piece in active:
        outage = piece.outage
        etr_valid = outage.etr_at is not None and outage.etr_at > now
        for district_id in districts_of.get(outage.id, ()):
            if etr_valid:
                etrs_by_district.setdefault(district_id, []).append(outage.etr_at)
            elif outage.etr_at is not None:
                reassessed_by_district[district_id] = reassessed_by_district.get(district_id, 0) + 1
    shares = _customer_shares(session, pieces)

    codes = {d.id: d.code for d in districts}
    areas, hidden = _area_features(active, just_restored, model, shapes, codes, minimum, now)
    steps = _steps(session, in_window) if recent else []
    restored_by_district = _restored_since(shares, steps, event_start)
    district_rows = [
        DistrictStatus(
            code=d.code,
            name_en=d.name_en,
            name_zh=d.name_zh,
            area_type=str(d.area_type),
            customers_served=int(served.get(d.id, 0)),
            customers_out=figures.district(d.id).customers_out,
            outages=figures.district(d.id).outages,
            customers_restored=round(restored_by_district.get(d.id, 0.0)),
            etr_earliest=min(etrs_by_district[d.id]) if d.id in etrs_by_district else None,
            etr_latest=max(etrs_by_district[d.id]) if d.id in etrs_by_district else None,
            etrs_reassessed=reassessed_by_district.get(d.id, 0),
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
    times, progress = _progress(steps, pieces, shares, districts, event_start, now)
    bounds = _bounds(list(shapes.values()))
    areas_json = script_safe('{"type":"FeatureCollection","features":[' + ",".join(areas) + "]}")
    return PublicSnapshot(
        generated_at=now,
        next_update_at=now + timedelta(seconds=interval),
        interval_s=interval,
        customers_served=sum(r.customers_served for r in district_rows),
        customers_out=figures.customers_out,
        outages=figures.outages,
        crews_working=crews_working,
        districts=district_rows,
        areas_json=areas_json,
        districts_geojson=_district_shapes(districts, district_rows),
        small_outages_not_drawn=hidden,
        min_customers_shown=minimum,
        warnings=_active_warnings(session, now),
        customers_restored=sum(r.customers_restored for r in district_rows),
        event_hours=event_hours,
        progress_times=times,
        progress_out=progress,
        bounds=bounds,
        territory_name={
            "en": str(get_setting(session, "territory.name_en")),
            "zh": str(get_setting(session, "territory.name_zh")),
        },
    )


def _district_geometries(districts: list[District], model: NetworkModel | None) -> dict[int, Any]:
    """District shapes as shapely geometries, prepared; parsed once per model when there is one."""
    cache = _model_cache(model)["districts"] if model is not None else {}
    shapes = {}
    for district in districts:
        shape = cache.get(district.id)
        if shape is None:
            shape = shapely.geometry.shape(district.geometry)
            shapely.prepare(shape)
            cache[district.id] = shape
        shapes[district.id] = shape
    return shapes


def _bounds(shapes: list[Any]) -> tuple[float, float, float, float] | None:
    if not shapes:
        return None
    box = shapely.bounds(np.array(shapes, dtype=object))
    west, south = box[:, 0].min(), box[:, 1].min()
    east, north = box[:, 2].max(), box[:, 3].max()
    return (round(float(west), 5), round(float(south), 5), round(float(east), 5), round(float(north), 5))


def _pieces_by_district(model: NetworkModel, outage: Any, layouts: dict[int, _Layout]) -> _OutagePieces:
    """The outage's customers and transformers grouped by the district they are in."""
    layout = layouts.get(outage.device_id)
    if layout is None:
        layout = _layout(model, outage)
        layouts[outage.device_id] = layout
    return _OutagePieces(outage, layout.districts, layout.total)


def _layout(model: NetworkModel, outage: Any) -> _Layout:
    index = model.net.index_of.get(outage.device_id)
    if index is None:  # a device no longer in the network: count it where the outage was recorded
        return _Layout({outage.district_id: (outage.customers_affected, [])}, outage.customers_affected)
    transformers = model.net.transformers_at_or_below(outage.device_id) or [index]
    districts: dict[int, tuple[int, list[int]]] = {}
    for t in transformers:
        district_id = int(model.district[t])
        customers, members = districts.get(district_id, (0, []))
        members.append(t)
        districts[district_id] = (customers + int(model.customers_below[t]), members)
    return _Layout(districts, sum(n for n, _ in districts.values()))


def _area_features(
    active: list[_OutagePieces],
    restored: list[_OutagePieces],
    model: NetworkModel | None,
    shapes: dict[int, Any],
    codes: dict[int, str],
    minimum: int,
    now: datetime,
) -> tuple[list[str], int]:
    """Generalised areas as encoded GeoJSON features: the buffered hull of each outage's transformers
    in each district it reaches. Pieces under `minimum` customers are not drawn; returns the features
    and how many active outages had no piece drawn."""
    drawn: list[tuple[_OutagePieces, int, int]] = []  # piece, district, customers shown
    hidden = 0
    for group, is_active in ((active, True), (restored, False)):
        for piece in group:
            outage = piece.outage
            still_out = max(outage.customers_affected - outage.customers_restored, 0) if is_active else 0
            scale = still_out / max(piece.total, 1)
            any_drawn = False
            for district_id, (customers, transformers) in piece.districts.items():
                shown = round(customers * scale) if is_active else customers
                if shown >= minimum and district_id in shapes and transformers:
                    drawn.append((piece, district_id, shown))
                    any_drawn = True
            hidden += 0 if any_drawn or not is_active else 1
    if not drawn or model is None:
        return [], hidden
    geometries = _area_geometries(model, shapes, [(piece, district_id) for piece, district_id, _ in drawn])
    # Properties are encoded again only when what they say changed (state, counts, ETR, or the ETR
    # passing); the cache keeps just this build's entries.
    cache = _model_cache(model)
    previous, current = cache["properties"], {}
    features = []
    for (piece, district_id, customers), geometry in zip(drawn, geometries, strict=True):
        if geometry is None:
            continue
        outage = piece.outage
        etr_valid = outage.etr_at is not None and outage.etr_at > now
        key = (outage.id, district_id)
        signature = (outage.state, customers, outage.restored_at, outage.etr_at, outage.etr_set_at, etr_valid)
        known = previous.get(key)
        if known is None or known[0] != signature:
            properties = {"district": codes[district_id], **_area_properties(outage, customers, now)}
            text = f'"properties":{compact_json(properties)}}}'
            known = (signature, f'{{"type":"Feature","geometry":{geometry},{text}')
        current[key] = known
        features.append(known[1])
    cache["properties"] = current
    return features, hidden


def _area_geometries(
    model: NetworkModel, shapes: dict[int, Any], wanted: list[tuple[_OutagePieces, int]]
) -> list[str | None]:
    """Each piece's area as GeoJSON text (None when nothing is left inside its district), made on
    arrays with shapely 2 for the pieces not seen before with this model."""
    cache = _model_cache(model)["areas"]
    keys = [(piece.outage.device_id, district_id) for piece, district_id in wanted]
    missing = {key: piece.districts[key[1]][1] for key, (piece, _) in zip(keys, wanted, strict=True)}
    for key in [key for key in missing if key in cache]:
        del missing[key]
    if missing:
        assert model.net.lon is not None and model.net.lat is not None
        members = list(missing.values())
        flat = np.concatenate([np.asarray(m, dtype=np.int64) for m in members])
        owner = np.repeat(np.arange(len(members)), [len(m) for m in members])
        points = shapely.multipoints(
            np.column_stack([model.net.lon[flat], model.net.lat[flat]]), indices=owner
        )
        areas = shapely.buffer(shapely.convex_hull(points), AREA_BUFFER_DEG, quad_segs=AREA_QUAD_SEGMENTS)
        district_of = np.array([shapes[district_id] for _, district_id in missing], dtype=object)
        # Only areas that cross their district's edge need the (costly) clipping and simplifying.
        crossing = ~shapely.contains(district_of, areas)
        if crossing.any():
            areas[crossing] = shapely.intersection(areas[crossing], district_of[crossing])
        # A convex area inside its district stays inside it (simplifying keeps a subset of its
        # corners); a clipped one's cut edge moves by at most the tolerance, as it always did.
        areas = shapely.simplify(areas, AREA_SIMPLIFY_DEG, preserve_topology=True)
        empty = shapely.is_empty(areas)
        texts = shapely.to_geojson(areas)
        for n, key in enumerate(missing):
            cache[key] = None if empty[n] else _LONG_DECIMAL.sub(_rounded, str(texts[n]))
    return [cache[key] for key in keys]


# GEOS writes 17 significant digits; 5 decimals (about 1 m) say as much for an area and cost less.
_LONG_DECIMAL = re.compile(r"-?\d+\.\d{6,}")


def _rounded(number: re.Match[str]) -> str:
    return repr(round(float(number.group()), AREA_DECIMALS))


def _area_properties(outage: Any, customers: int, now: datetime) -> dict[str, Any]:
    restored = outage.state in RESTORED_STATES
    etr_valid = not restored and outage.etr_at is not None and outage.etr_at > now
    return {
        "status": PUBLIC_STATUS.get(outage.state, "reported"),
        "customers_out": 0 if restored else customers,
        "customers_restored": customers if restored else 0,
        "since": outage.first_report_at.isoformat(timespec="seconds"),
        "restored_at": outage.restored_at.isoformat(timespec="seconds")
        if restored and outage.restored_at
        else None,
        # An ETR in the past is never shown as valid: the public sees it is being reassessed.
        "etr": outage.etr_at.isoformat(timespec="seconds") if etr_valid else None,
        "etr_confidence": str(outage.etr_confidence) if etr_valid and outage.etr_confidence else None,
        "etr_set_at": outage.etr_set_at.isoformat(timespec="seconds")
        if etr_valid and outage.etr_set_at
        else None,
        "etr_expired": not restored and outage.etr_at is not None and not etr_valid,
    }


def _customer_shares(session: Session, pieces: list[_OutagePieces]) -> dict[int, dict[int, float]]:
    """Each outage's share of customers per district they live in (`outage_figures.district_shares`)."""
    if not pieces:
        return {}
    split = district_shares(
        session,
        np.array([p.outage.device_id for p in pieces], dtype=np.int64),
        np.array(
            [-1 if p.outage.district_id is None else p.outage.district_id for p in pieces], dtype=np.int64
        ),
    )
    return {
        p.outage.id: {
            int(split.district_ids[c]): float(split.shares[n, c]) for c in np.flatnonzero(split.shares[n])
        }
        for n, p in enumerate(pieces)
    }


def _restored_since(
    shares: dict[int, dict[int, float]], steps: list[tuple[int, datetime, int]], since: datetime
) -> dict[int, float]:
    """Customers restored within the window, per district (shared out like the outage's customers)."""
    restored: dict[int, float] = {}
    for outage_id, at, customers in steps:
        if at < since or outage_id not in shares:
            continue
        for district_id, fraction in shares[outage_id].items():
            restored[district_id] = restored.get(district_id, 0.0) + customers * fraction
    return restored


def _progress(
    steps: list[tuple[int, datetime, int]],
    pieces: list[_OutagePieces],
    shares: dict[int, dict[int, float]],
    districts: list[District],
    start: datetime,
    now: datetime,
) -> tuple[list[datetime], dict[str, list[int]]]:
    """Customers out per district at even times across the event window, from the outage rows and
    their restoration steps (no history table: an outage's start, steps and end are its history).
    The samples start with the earliest of these outages, so a young event fills the chart."""
    if pieces:
        start = max(start, min(p.outage.first_report_at for p in pieces) - PROGRESS_LEAD)
    step = (now - start) / (PROGRESS_POINTS - 1)
    times = [start + step * k for k in range(PROGRESS_POINTS - 1)] + [now]
    codes = [d.code for d in districts]
    if not pieces:
        return times, {code: [0] * len(times) for code in codes}
    t = np.array([moment.timestamp() for moment in times])
    affected = np.array([p.outage.customers_affected for p in pieces], dtype=np.float64)
    first = np.array([p.outage.first_report_at.timestamp() for p in pieces])
    ended = np.array([p.outage.restored_at.timestamp() if p.outage.restored_at else np.inf for p in pieces])
    out = np.where(first[:, None] <= t[None, :], affected[:, None], 0.0)
    # Steps take customers off from the first sample at or after them.
    position = {p.outage.id: i for i, p in enumerate(pieces)}
    taken = np.zeros_like(out)
    for outage_id, at, customers in steps:
        if outage_id not in position:
            continue
        column = int(np.searchsorted(t, at.timestamp(), side="left"))
        if column < len(t):
            taken[position[outage_id], column] += customers
    out = np.clip(out - np.cumsum(taken, axis=1), 0, None)
    out[ended[:, None] <= t[None, :]] = 0.0
    row_of = {d.id: i for i, d in enumerate(districts)}
    owners, rows, fractions = [], [], []
    for i, piece in enumerate(pieces):
        for district_id, fraction in shares.get(piece.outage.id, {}).items():
            if district_id in row_of:
                owners.append(i)
                rows.append(row_of[district_id])
                fractions.append(fraction)
    share = np.zeros((len(districts), len(pieces)))
    np.add.at(share, (np.array(rows, dtype=np.int64), np.array(owners, dtype=np.int64)), fractions)
    by_district = share @ out
    return times, {code: [round(v) for v in by_district[row]] for row, code in enumerate(codes)}


def _steps(session: Session, in_window: tuple[Any, ...]) -> list[tuple[int, datetime, int]]:
    """Restoration steps of the outages in the window, in one query."""
    return list(
        session.execute(
            select(RestorationStep.outage_id, RestorationStep.at, RestorationStep.customers_restored)
            .join(Outage, Outage.id == RestorationStep.outage_id)
            .where(*in_window)
        ).tuples()
    )


def _active_warnings(session: Session, now: datetime) -> list[PublicWarning]:
    """Issued warnings in force now, most severe first (read from the table, whoever issued them)."""
    rows = session.scalars(
        select(Warning).where(Warning.status.in_(PUBLIC_WARNING_STATES), Warning.expires_at > now)
    )
    warnings = [
        PublicWarning(
            level=str(w.level),
            colour=WARNING_COLOURS.get(WarningLevel(w.level), "#888888"),
            hazard=str(w.hazard),
            title_en=w.title_en,
            title_zh=w.title_zh,
            text_en=w.text_en or "",
            text_zh=w.text_zh or "",
            districts=list(w.area_districts or []),
            effective_at=w.effective_at,
            expires_at=w.expires_at,
        )
        for w in rows
    ]
    return sorted(warnings, key=lambda w: (WARNING_SEVERITY.get(WarningLevel(w.level), 9), w.effective_at))


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
                    "area_type": str(d.area_type),
                    "customers_served": by_code[d.code].customers_served,
                    "customers_out": by_code[d.code].customers_out,
                    "share_out": round(1 - by_code[d.code].share_with_power, 4),
                },
            }
            for d in districts
        ],
    }
