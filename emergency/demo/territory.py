"""The demo territory: a fictional typhoon-coast city, Lanhai City (澜海市), generated from a seed.

`generate_territory` is pure: from the shipped parameters (data/demo/territory.json), a customer count,
a seed and a "now", it builds districts, a radial network, customers with important users, depots,
crews and a handful of active outages as pandas DataFrames whose columns are the model columns.
`load_territory` writes such a territory into a migrated database in one transaction with Core bulk
inserts, marks the database as the demo and adds the demo accounts; `load_demo` generates and loads.

The map (coastline and district boundaries) comes from the parameters alone, so every seed shows the
same city; the seed varies where people live, the network built to serve them, and the outages.

Conventions other code relies on: `Device.feeder_id` is the feeder breaker's id for every device
below a breaker and the breaker's own id for a breaker (None for substations); customers are numbered
along the network, transformer by transformer; `Outage.important_affected` counts only the keys in
`IMPORTANT_KEYS` that are non-zero.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
import shapely
from scipy.spatial import cKDTree
from shapely.geometry import Polygon, box
from sqlalchemy import Integer, func, insert, select, text
from sqlalchemy.orm import Session

from emergency.core import audit
from emergency.core.actor import CLI_ADMIN
from emergency.core.auth import create_user
from emergency.core.clock import Clock
from emergency.core.config import REPO_ROOT
from emergency.core.db import Database
from emergency.core.errors import Conflict, InvalidInput
from emergency.core.models import (
    ACTIVE_OUTAGE_STATES,
    AssignmentStatus,
    Base,
    Crew,
    CrewAssignment,
    CrewKind,
    CrewStatus,
    Customer,
    CustomerKind,
    Depot,
    Device,
    DeviceKind,
    District,
    EtrChange,
    EtrConfidence,
    EtrSource,
    ImportanceGrade,
    Outage,
    OutageState,
    Report,
    ReportChannel,
    ReportKind,
    ReportStatus,
    SwitchState,
    User,
)
from emergency.core.settings import bump_territory_revision, set_setting
from emergency.core.vocabulary import IMPORTANCE_ORDER
from emergency.network.model import RadialNetwork

DATA_FILE = REPO_ROOT / "data" / "demo" / "territory.json"
MIN_CUSTOMERS = 1_000
DEFAULT_CUSTOMERS = 50_000
DEFAULT_SEED = 7

# (username, role, password) of the demo's accounts: public on purpose, like the fictional territory
# they come with; a real deployment creates its own users.
DEMO_ACCOUNTS: tuple[tuple[str, str, str], ...] = (
    ("dispatcher", "dispatcher", "demo-dispatcher"),
    ("manager", "manager", "demo-manager"),
    ("admin", "admin", "demo-admin"),
)

# Keys of Outage.important_affected: the important grades, and life-support homes, which are not a grade.
IMPORTANT_KEYS = IMPORTANCE_ORDER

_KM_PER_DEG_LAT = 110.574
_KM_PER_DEG_LON_EQUATOR = 111.320
_TEXT = np.dtypes.StringDType()
_KIND_ORDER = (
    DeviceKind.SUBSTATION,
    DeviceKind.BREAKER,
    DeviceKind.RECLOSER,
    DeviceKind.FUSE,
    DeviceKind.TRANSFORMER,
)
_ORDINARY_KINDS = (CustomerKind.RESIDENTIAL, CustomerKind.COMMERCIAL, CustomerKind.INDUSTRIAL)
_INSERT_CHUNK = 10_000


# --- the result ------------------------------------------------------------------------------


@dataclass(frozen=True)
class DemoSummary:
    """What a generated or loaded territory holds, for a one-line report."""

    districts: int
    substations: int
    feeders: int
    devices: int
    transformers: int
    customers: int
    important_users: int
    crews: int
    active_outages: int

    def __str__(self) -> str:
        return (
            f"{self.districts} districts, {self.substations} substations, {self.feeders} feeders, "
            f"{self.devices:,} devices ({self.transformers:,} transformers), {self.customers:,} customers "
            f"({self.important_users:,} important), {self.crews} crews, {self.active_outages} active outages"
        )


@dataclass
class Territory:
    """A generated territory; every frame's columns are the columns of its model."""

    name_en: str
    name_zh: str
    land: dict[str, Any]  # GeoJSON geometry of all land (the union of the districts)
    districts: pd.DataFrame
    depots: pd.DataFrame
    devices: pd.DataFrame
    customers: pd.DataFrame
    crews: pd.DataFrame
    outages: pd.DataFrame
    reports: pd.DataFrame
    etr_changes: pd.DataFrame
    assignments: pd.DataFrame

    def tables(self) -> list[tuple[type[Base], pd.DataFrame]]:
        """Models and frames in an order that inserts every row after the rows it refers to."""
        return [
            (District, self.districts),
            (Depot, self.depots),
            (Device, self.devices),
            (Customer, self.customers),
            (Crew, self.crews),
            (Outage, self.outages),
            (Report, self.reports),
            (EtrChange, self.etr_changes),
            (CrewAssignment, self.assignments),
        ]

    def rows(self, chunk_size: int = _INSERT_CHUNK) -> Iterator[tuple[type[Base], list[dict[str, Any]]]]:
        """Every row as a dict of plain Python values, in insert order and in chunks."""
        for model, frame in self.tables():
            for rows in _rows(frame, chunk_size):
                yield model, rows

    def summary(self) -> DemoSummary:
        kinds = self.devices["kind"]
        important = (self.customers["importance"] != ImportanceGrade.NONE.value) | (
            self.customers["kind"] == CustomerKind.LIFE_SUPPORT.value
        )
        active = self.outages["state"].isin([s.value for s in ACTIVE_OUTAGE_STATES])
        return DemoSummary(
            districts=len(self.districts),
            substations=int((kinds == DeviceKind.SUBSTATION.value).sum()),
            feeders=int((kinds == DeviceKind.BREAKER.value).sum()),
            devices=len(self.devices),
            transformers=int((kinds == DeviceKind.TRANSFORMER.value).sum()),
            customers=len(self.customers),
            important_users=int(important.sum()),
            crews=len(self.crews),
            active_outages=int(active.sum()),
        )


# --- parameters and geometry -----------------------------------------------------------------


@lru_cache(maxsize=4)
def load_parameters(path: Path = DATA_FILE) -> dict[str, Any]:
    """The shipped territory parameters (cached: treat the result as read-only)."""
    with open(path, encoding="utf-8") as handle:
        return json.load(handle)


@dataclass(frozen=True)
class _Projection:
    """Equirectangular kilometres around the territory's middle: exact enough for 100 km."""

    lon0: float
    lat0: float

    @property
    def km_per_deg(self) -> np.ndarray:
        return np.array([_KM_PER_DEG_LON_EQUATOR * math.cos(math.radians(self.lat0)), _KM_PER_DEG_LAT])

    def to_km(self, lonlat: np.ndarray) -> np.ndarray:
        return (lonlat - np.array([self.lon0, self.lat0])) * self.km_per_deg

    def to_lonlat(self, xy: np.ndarray) -> np.ndarray:
        return xy / self.km_per_deg + np.array([self.lon0, self.lat0])


@dataclass(frozen=True)
class _Geography:
    land: shapely.Geometry
    districts: list[shapely.Geometry]  # in the order of the parameters; prepared for fast lookups

    def district_of(self, lonlat: np.ndarray) -> np.ndarray:
        """Index of the district strictly containing each point, -1 for none (sea or outside)."""
        found = np.full(len(lonlat), -1, dtype=np.int64)
        for index, geometry in enumerate(self.districts):
            todo = np.flatnonzero(found < 0)
            if len(todo) == 0:
                break
            inside = shapely.contains_xy(geometry, lonlat[todo, 0], lonlat[todo, 1])
            found[todo[inside]] = index
        return found

    def inside_own(self, lonlat: np.ndarray, district: np.ndarray) -> np.ndarray:
        """Whether each point lies strictly inside the district it is meant to be in."""
        inside = np.zeros(len(lonlat), dtype=bool)
        for index, geometry in enumerate(self.districts):
            rows = np.flatnonzero(district == index)
            if len(rows):
                inside[rows] = shapely.contains_xy(geometry, lonlat[rows, 0], lonlat[rows, 1])
        return inside


def _roughen(points: np.ndarray, rng: np.random.Generator, roughness: float, levels: int) -> np.ndarray:
    """Midpoint displacement: a few hand-placed points become a natural-looking coastline."""
    for _ in range(levels):
        start, end = points[:-1], points[1:]
        step = end - start
        normal = np.column_stack([-step[:, 1], step[:, 0]])
        middle = (start + end) / 2 + normal * rng.uniform(-roughness, roughness, (len(step), 1))
        merged = np.empty((len(points) + len(middle), 2))
        merged[0::2] = points
        merged[1::2] = middle
        points = merged
    return points


def _polygons_only(geometry: shapely.Geometry) -> shapely.Geometry:
    """Drop the points and lines an intersection of touching polygons can leave behind."""
    parts = [p for p in shapely.get_parts(geometry) if p.geom_type in ("Polygon", "MultiPolygon")]
    return shapely.union_all(parts)


@lru_cache(maxsize=4)
def _geography(path: Path = DATA_FILE) -> _Geography:
    params = load_parameters(path)
    spec = params["geography"]
    # A fixed seed of its own: the map must not change with the demo seed.
    rng = np.random.default_rng(spec["shape_seed"])
    levels = int(spec["detail_levels"])
    coast = _roughen(np.array(spec["coastline"], dtype=float), rng, spec["coast_roughness"], levels)
    border = _roughen(np.array(spec["land_border"], dtype=float), rng, spec["border_roughness"], levels)
    mainland = Polygon(np.concatenate([coast, border[1:-1]]))
    islands = []
    for outline in spec["islands"]:
        ring = np.array([*outline, outline[0]], dtype=float)
        islands.append(Polygon(_roughen(ring, rng, spec["coast_roughness"], levels - 1)))
    for shape in [mainland, *islands]:
        if not shape.is_valid:
            raise ValueError(f"{path}: an outline crosses itself; lower its roughness")

    seeds = np.array([d["seed"] for d in params["districts"]], dtype=float)
    minx, miny, maxx, maxy = mainland.bounds
    frame = box(minx - 1, miny - 1, maxx + 1, maxy + 1)
    cells = list(shapely.get_parts(shapely.voronoi_polygons(shapely.multipoints(seeds), extend_to=frame)))
    cell_of_seed: list[shapely.Geometry] = []
    for x, y in seeds:
        cell_of_seed.append(next(c for c in cells if shapely.contains_xy(c, x, y)))
    districts = [_polygons_only(shapely.intersection(cell, mainland)) for cell in cell_of_seed]
    # An island joins whole the district whose cell holds its middle, so no island is split.
    for island in islands:
        point = island.representative_point()
        owner = next(i for i, c in enumerate(cell_of_seed) if c.contains(point))
        districts[owner] = shapely.union(districts[owner], island)
    for index, geometry in enumerate(districts):
        if not shapely.contains_xy(geometry, *seeds[index]):
            raise ValueError(f"{path}: the seed of district {params['districts'][index]['code']} is at sea")
        shapely.prepare(geometry)
    land = shapely.union_all([mainland, *islands])
    return _Geography(land=land, districts=districts)


def _geojson(geometry: shapely.Geometry) -> dict[str, Any]:
    return json.loads(shapely.to_geojson(geometry))


def _label_point(geometry: shapely.Geometry) -> tuple[float, float]:
    """The centroid, or a point inside when a concave district's centroid falls outside it."""
    point = geometry.centroid
    if not geometry.contains(point):
        point = geometry.representative_point()
    return float(point.x), float(point.y)


# --- small helpers -------------------------------------------------------------------------


def _apportion(total: int, weights: np.ndarray, minimum: int = 0) -> np.ndarray:
    """Split an integer total by weights (largest remainder), giving each part at least `minimum`."""
    weights = np.asarray(weights, dtype=float)
    spare = total - minimum * len(weights)
    if spare < 0:
        raise ValueError(f"cannot give {len(weights)} parts {minimum} each out of {total}")
    raw = weights / weights.sum() * spare
    counts = np.floor(raw).astype(np.int64)
    short = spare - int(counts.sum())
    counts[np.argsort(-(raw - counts), kind="stable")[:short]] += 1
    return counts + minimum


def _zh_number(n: int) -> str:
    """Chinese numerals up to 99 (第十二中学); larger numbers stay Arabic, as signs write them."""
    digits = "零一二三四五六七八九"
    if n < 10:
        return digits[n]
    if n < 20:
        return "十" + (digits[n % 10] if n % 10 else "")
    if n < 100:
        return digits[n // 10] + "十" + (digits[n % 10] if n % 10 else "")
    return str(n)


def _texts(values: Sequence[str]) -> np.ndarray:
    return np.array(list(values), dtype=_TEXT)


def _numbers(values: np.ndarray, width: int = 0) -> np.ndarray:
    text_values = np.asarray(values).astype(_TEXT)
    return np.strings.zfill(text_values, width) if width else text_values


def _phones(rng: np.random.Generator, count: int) -> np.ndarray:
    # No Chinese mobile number starts with 10, so a demo SMS can never reach a real person.
    return "10" + _numbers(rng.integers(0, 10**9, count), 9)


def _object_column(values: np.ndarray) -> pd.Series:
    return pd.Series(values.tolist(), dtype=object)


def _columns(model: type[Base]) -> list[str]:
    """A table's columns in order: every frame of a territory has exactly these."""
    return [column.name for column in model.__table__.columns]


def _frame(records: list[dict[str, Any]], model: type[Base]) -> pd.DataFrame:
    """A frame of a table's rows; integer columns with gaps stay integers (pandas would use floats)."""
    frame = pd.DataFrame(records, columns=_columns(model))
    for column in model.__table__.columns:
        if isinstance(column.type, Integer) and frame[column.name].dtype != np.int64:
            frame[column.name] = frame[column.name].astype("Int64")
    return frame


def _round_up(moment: datetime, minutes: int = 5) -> datetime:
    """ETRs are given on the five minutes, as people say them."""
    seconds = minutes * 60
    stamp = moment.timestamp()
    return moment + timedelta(seconds=(-stamp) % seconds)


# --- where people live: transformers and customers -------------------------------------------


def _transformer_sizes(customers: int, low: int, high: int, rng: np.random.Generator) -> np.ndarray:
    """Customer counts of the transformers of one district: each in [low, high], summing exactly."""
    count = max(1, round(customers / ((low + high) / 2)))
    while customers / count > high:
        count += 1
    while count > 1 and customers / count < low:
        count -= 1
    sizes = np.full(count, customers // count, dtype=np.int64)
    sizes[: customers % count] += 1
    # Moving customers between random pairs keeps the sum and the bounds and spreads the sizes out.
    for _ in range(4):
        order = rng.permutation(count)
        pairs = count // 2
        give, take = order[:pairs], order[pairs : 2 * pairs]
        room = np.minimum(sizes[give] - low, high - sizes[take])
        amount = np.minimum(rng.integers(0, (high - low) // 2 + 1, pairs), room)
        sizes[give] -= amount
        sizes[take] += amount
    return sizes


def _uniform_in(geometry: shapely.Geometry, count: int, rng: np.random.Generator) -> np.ndarray:
    minx, miny, maxx, maxy = geometry.bounds
    found: list[np.ndarray] = []
    have = 0
    while have < count:
        batch = rng.uniform((minx, miny), (maxx, maxy), (max(16, 2 * (count - have)), 2))
        batch = batch[shapely.contains_xy(geometry, batch[:, 0], batch[:, 1])]
        found.append(batch)
        have += len(batch)
    return np.concatenate(found)[:count] if found else np.empty((0, 2))


def _settled_points(
    geometry: shapely.Geometry,
    seat: np.ndarray,
    count: int,
    style: dict[str, Any],
    projection: _Projection,
    rng: np.random.Generator,
) -> np.ndarray:
    """Points clustered in towns and villages, the district seat the largest, with some scattered."""
    settlements = int(rng.integers(style["settlements"][0], style["settlements"][1] + 1))
    centres = np.vstack([seat, _uniform_in(geometry, settlements - 1, rng)])
    weights = rng.lognormal(0.0, 0.7, settlements)
    weights[0] *= style["seat_weight"]
    spreads = rng.uniform(*style["spread_km"], settlements)
    background = style["background_share"]
    shares = np.append(weights / weights.sum() * (1 - background), background)
    minx, miny, maxx, maxy = geometry.bounds
    found: list[np.ndarray] = []
    have = 0
    while have < count:
        size = max(32, 2 * (count - have))
        component = rng.choice(settlements + 1, size=size, p=shares)
        offsets = rng.normal(0.0, 1.0, (size, 2)) * spreads[np.minimum(component, settlements - 1), None]
        batch = centres[np.minimum(component, settlements - 1)] + offsets / projection.km_per_deg
        scattered = component == settlements
        batch[scattered] = rng.uniform((minx, miny), (maxx, maxy), (int(scattered.sum()), 2))
        batch = batch[shapely.contains_xy(geometry, batch[:, 0], batch[:, 1])]
        found.append(batch)
        have += len(batch)
    return np.concatenate(found)[:count]


@dataclass
class _Transformers:
    lonlat: np.ndarray
    size: np.ndarray
    district: np.ndarray


def _place_transformers(
    params: dict[str, Any],
    geography: _Geography,
    projection: _Projection,
    customers: int,
    rng: np.random.Generator,
) -> _Transformers:
    low, high = params["network"]["transformer_customers"]
    shares = np.array([d["customer_share"] for d in params["districts"]])
    per_district = _apportion(customers, shares, minimum=low)
    lonlats, sizes, districts = [], [], []
    for index, spec in enumerate(params["districts"]):
        style = params["area_types"][spec["area_type"]]
        district_sizes = _transformer_sizes(int(per_district[index]), low, high, rng)
        seat = np.array(spec["seed"], dtype=float)
        points = _settled_points(
            geography.districts[index], seat, len(district_sizes), style, projection, rng
        )
        lonlats.append(points)
        sizes.append(district_sizes)
        districts.append(np.full(len(district_sizes), index, dtype=np.int64))
    return _Transformers(np.concatenate(lonlats), np.concatenate(sizes), np.concatenate(districts))


# --- the radial network ----------------------------------------------------------------------


def _kmeans(
    points: np.ndarray, weights: np.ndarray, k: int, rng: np.random.Generator, iterations: int = 50
) -> np.ndarray:
    """Weighted k-means (k-means++ start); returns each point's cluster, clusters numbered 0..k'-1."""
    n = len(points)
    centres = np.empty((k, 2))
    centres[0] = points[rng.choice(n, p=weights / weights.sum())]
    nearest = ((points - centres[0]) ** 2).sum(axis=1)
    for j in range(1, k):
        score = weights * nearest
        pick = rng.choice(n, p=score / score.sum()) if score.sum() > 0 else rng.integers(n)
        centres[j] = points[pick]
        nearest = np.minimum(nearest, ((points - centres[j]) ** 2).sum(axis=1))
    labels = cKDTree(centres).query(points)[1]
    for _ in range(iterations):
        mass = np.bincount(labels, weights=weights, minlength=k)
        moved = centres.copy()
        used = mass > 0
        for axis in (0, 1):
            moved[used, axis] = (
                np.bincount(labels, weights=weights * points[:, axis], minlength=k)[used] / mass[used]
            )
        centres = moved
        new_labels = cKDTree(centres).query(points)[1]
        if np.array_equal(new_labels, labels):
            break
        labels = new_labels
    _, dense = np.unique(labels, return_inverse=True)
    return dense


def _angular_order(xy: np.ndarray, centre: np.ndarray) -> np.ndarray:
    """Indices sorted by bearing from the centre, starting after the widest empty bearing.

    A coastal substation has the sea on one side: starting the sweep there keeps every feeder's
    sector on land and contiguous.
    """
    angle = np.arctan2(xy[:, 1] - centre[1], xy[:, 0] - centre[0])
    order = np.argsort(angle, kind="stable")
    swept = angle[order]
    gaps = np.diff(np.append(swept, swept[0] + 2 * np.pi))
    return np.roll(order, -((int(np.argmax(gaps)) + 1) % len(order)))


def _laterals(
    xy: np.ndarray, centre: np.ndarray, low: int, high: int, rng: np.random.Generator
) -> list[np.ndarray]:
    """Split a section's transformers into compact groups of about low..high, in bearing order."""
    groups = max(1, round(len(xy) / ((low + high) / 2)))
    if groups == 1:
        return [np.arange(len(xy))]
    label = _kmeans(xy, np.ones(len(xy)), groups, rng, iterations=10)
    members = [np.flatnonzero(label == g) for g in range(int(label.max()) + 1)]
    middles = np.array([xy[m].mean(axis=0) for m in members])
    return [members[g] for g in _angular_order(middles, centre)]


@dataclass
class _DeviceDraft:
    """Non-transformer devices before ids exist; a reference is (kind position, index in kind)."""

    kind: int
    code: str
    name: str
    parent: tuple[int, int] | None
    feeder: int | None  # index of the breaker
    candidate_xy: np.ndarray
    fallback_lonlat: np.ndarray  # a transformer's spot, used when the candidate falls at sea


@dataclass
class _Network:
    devices: pd.DataFrame
    transformer_ids: np.ndarray  # in network order; customers follow this order
    lonlat: np.ndarray
    size: np.ndarray
    district: np.ndarray
    place_zh: np.ndarray  # the road or village the transformer stands on
    place_number: np.ndarray  # the transformer's number on its road or in its village


def _place_names(params: dict[str, Any], rng: np.random.Generator) -> list[np.ndarray]:
    """For each district, the roads (urban) or villages (elsewhere) its transformers are named after."""
    names = params["names"]
    chosen = []
    for spec in params["districts"]:
        style = params["area_types"][spec["area_type"]]
        pool = len(names["roads"]) if spec["area_type"] == "urban" else len(names["villages"])
        chosen.append(rng.choice(pool, size=min(style["places"], pool), replace=False))
    return chosen


class _Tree:
    """The network as it grows: non-transformer devices as drafts, transformers as arrays.

    A reference to a draft is (kind position, index within that kind); ids are given at the end,
    kind by kind, so every parent gets a smaller id than its children.
    """

    def __init__(self) -> None:
        self.drafts: list[_DeviceDraft] = []
        self.per_kind = [0, 0, 0, 0]
        self.order: list[np.ndarray] = []  # transformer indices, in network order
        self.parent: list[np.ndarray] = []  # their parents' references
        self.breaker: list[np.ndarray] = []  # their breakers' indices
        self.lateral: list[np.ndarray] = []  # which lateral each belongs to

    def add(self, draft: _DeviceDraft) -> tuple[int, int]:
        self.drafts.append(draft)
        self.per_kind[draft.kind] += 1
        return draft.kind, self.per_kind[draft.kind] - 1

    def hang(self, transformers: np.ndarray, parent: tuple[int, int], breaker: int) -> None:
        self.lateral.append(np.full(len(transformers), len(self.order)))
        self.order.append(transformers)
        self.parent.append(np.tile(np.array(parent), (len(transformers), 1)))
        self.breaker.append(np.full(len(transformers), breaker))


def _substation_sites(
    params: dict[str, Any],
    geography: _Geography,
    projection: _Projection,
    transformers: _Transformers,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray]:
    """Cluster transformers into substations; returns each transformer's substation and their sites."""
    net = params["network"]
    xy = projection.to_km(transformers.lonlat)
    total = int(transformers.size.sum())
    wanted = max(2, round(total / (net["customers_per_feeder"] * net["feeders_per_substation"])))
    # Weighting by customers alone would crowd substations into the city and leave the countryside
    # on 40 km feeders; damping by local density spreads them the way planners spread them.
    crowd = cKDTree(xy).query_ball_point(xy, r=3.0, return_length=True).astype(float)
    cluster = _kmeans(xy, transformers.size / np.sqrt(crowd), min(len(xy), wanted), rng)
    count = int(cluster.max()) + 1
    centres = np.array([xy[cluster == s].mean(axis=0) for s in range(count)])
    # Number substations north to south, then west to east, as a map is read.
    reading = np.lexsort((centres[:, 0], -centres[:, 1]))
    rank = np.empty(count, dtype=np.int64)
    rank[reading] = np.arange(count)
    cluster = rank[cluster]
    centres = centres[reading]
    nearest = np.array(
        [
            np.flatnonzero(cluster == s)[np.argmin(((xy[cluster == s] - centres[s]) ** 2).sum(1))]
            for s in range(count)
        ]
    )
    sites, _ = _settle(geography, projection, centres, transformers.lonlat[nearest])
    return cluster, sites


def _grow_feeder(
    params: dict[str, Any],
    projection: _Projection,
    tree: _Tree,
    xy: np.ndarray,
    transformers: _Transformers,
    members: np.ndarray,
    station: tuple[int, int],
    site: np.ndarray,
    names: tuple[str, str, str],
    rng: np.random.Generator,
) -> None:
    """One feeder: its breaker, 1-3 reclosers in series splitting it by distance, then laterals.

    `site` is the substation's lon/lat; `names` is (code suffix like "03-2", English line name,
    Chinese line name).
    """
    net = params["network"]
    station_xy = projection.to_km(site)
    suffix, line_en, line_zh = names
    heading = xy[members].mean(axis=0) - station_xy
    # The breaker sits at the substation, nudged towards its feeder so map symbols do not stack.
    exit_xy = station_xy + 0.15 * heading / max(float(np.hypot(*heading)), 1e-9)
    breaker = tree.add(
        _DeviceDraft(
            1,
            f"F{suffix}",
            f"10kV {line_en} {line_zh}",
            station,
            None,
            exit_xy,
            site,
        )
    )
    distance = np.hypot(*(xy[members] - station_xy).T)
    by_distance = members[np.argsort(distance, kind="stable")]
    reclosers = round(float(distance.max()) / net["recloser_spacing_km"]) + int(rng.integers(0, 2))
    reclosers = min(max(reclosers, 1), 3, len(members) - 1)
    area = params["districts"][int(np.bincount(transformers.district[members]).argmax())]["area_type"]
    low, high = params["area_types"][area]["lateral_size"]
    direct_share = params["area_types"][area]["direct_share"]
    section, upstream = breaker, exit_xy
    fuses = 0
    for number, band in enumerate(np.array_split(by_distance, reclosers + 1)):
        if number > 0:
            head = xy[band[0]]
            spot = head + 0.25 * (upstream - head)
            section = tree.add(
                _DeviceDraft(
                    2,
                    f"R{suffix}-{number}",
                    f"{line_en} recloser {number} {line_zh}{number}号柱上开关",
                    section,
                    breaker[1],
                    spot,
                    transformers.lonlat[band[0]],
                )
            )
            upstream = spot
        for group in _laterals(xy[band], station_xy, low, high, rng):
            lateral = band[group]
            parent = section
            # Some transformers stand on the main line itself, with no fuse of their own.
            if len(lateral) > 1 and rng.random() >= direct_share:
                fuses += 1
                tap = lateral[np.argmin(((xy[lateral] - upstream) ** 2).sum(1))]
                parent = tree.add(
                    _DeviceDraft(
                        3,
                        f"FU{suffix}-{fuses:02d}",
                        f"{line_en} fuse {fuses} {line_zh}{fuses}号支线熔断器",
                        section,
                        breaker[1],
                        xy[tap] + 0.3 * (upstream - xy[tap]),
                        transformers.lonlat[tap],
                    )
                )
            tree.hang(lateral, parent, breaker[1])


def _build_network(
    params: dict[str, Any],
    geography: _Geography,
    projection: _Projection,
    transformers: _Transformers,
    now: datetime,
    rng: np.random.Generator,
) -> _Network:
    """Build the tree bottom-up: substations by clustering, feeders by bearing, sections by distance."""
    xy = projection.to_km(transformers.lonlat)
    cluster, sites = _substation_sites(params, geography, projection, transformers, rng)
    sites_xy = projection.to_km(sites)
    substations = len(sites)
    width = max(2, len(str(substations)))
    station_names = params["names"]["substations"]
    roman = ("", " II", " III", " IV", " V", " VI", " VII", " VIII")
    tree = _Tree()
    for s in range(substations):
        zh, en = station_names[s % len(station_names)]
        lap = s // len(station_names)
        en, zh = en + roman[lap % len(roman)], zh + (_zh_number(lap + 1) if lap else "")
        ss = f"{s + 1:0{width}d}"
        station = tree.add(
            _DeviceDraft(
                0, f"SS-{ss}", f"{en} 110kV Substation 110kV{zh}变电站", None, None, sites_xy[s], sites[s]
            )
        )
        members = np.flatnonzero(cluster == s)
        customers_here = int(transformers.size[members].sum())
        feeders = min(len(members), max(1, round(customers_here / params["network"]["customers_per_feeder"])))
        swept = members[_angular_order(xy[members], sites_xy[s])]
        for f, feeder_members in enumerate(np.array_split(swept, feeders), start=1):
            names = (f"{ss}-{f}", f"{en} Line {f}", f"{zh}{f}线")
            _grow_feeder(
                params, projection, tree, xy, transformers, feeder_members, station, sites[s], names, rng
            )
    return _network_frame(params, geography, projection, transformers, tree, now, rng)


def _network_frame(
    params: dict[str, Any],
    geography: _Geography,
    projection: _Projection,
    transformers: _Transformers,
    tree: _Tree,
    now: datetime,
    rng: np.random.Generator,
) -> _Network:
    """Give the grown tree its ids, places and names: one devices frame, transformers last."""
    net = params["network"]
    drafts = tree.drafts
    offsets = np.concatenate([[0], np.cumsum(tree.per_kind)])
    by_kind = sorted(range(len(drafts)), key=lambda i: drafts[i].kind)
    ids = np.empty(len(drafts), dtype=np.int64)
    ids[by_kind] = np.arange(1, len(drafts) + 1)
    lonlat, district = _settle(
        geography,
        projection,
        np.array([d.candidate_xy for d in drafts]),
        np.array([d.fallback_lonlat for d in drafts]),
    )
    breaker_base = 1 + int(offsets[1])
    telemetered_since = now - timedelta(days=9, hours=5)
    head: dict[str, list[Any]] = {
        key: [] for key in _columns(Device) if key not in ("normal_state", "version")
    }
    for i in by_kind:
        draft = drafts[i]
        kind = _KIND_ORDER[draft.kind]
        telemetered = kind in (DeviceKind.BREAKER, DeviceKind.RECLOSER)
        if kind == DeviceKind.BREAKER:
            feeder = int(ids[i])
        else:
            feeder = None if draft.feeder is None else breaker_base + draft.feeder
        parent = None if draft.parent is None else 1 + int(offsets[draft.parent[0]]) + draft.parent[1]
        head["id"].append(int(ids[i]))
        head["code"].append(draft.code)
        head["kind"].append(kind.value)
        head["name"].append(draft.name)
        head["parent_id"].append(parent)
        head["feeder_id"].append(feeder)
        head["district_id"].append(int(district[i]) + 1)
        head["lon"].append(float(lonlat[i, 0]))
        head["lat"].append(float(lonlat[i, 1]))
        head["telemetered"].append(telemetered)
        head["scada_state"].append(SwitchState.CLOSED.value if telemetered else None)
        head["scada_state_at"].append(telemetered_since if telemetered else None)
        head["rating_kva"].append(np.nan)

    order = np.concatenate(tree.order)
    parent_refs = np.concatenate(tree.parent)
    count = len(order)
    tx_district = transformers.district[order]
    tx_size = transformers.size[order]
    tx_ids = np.arange(1 + len(drafts), 1 + len(drafts) + count, dtype=np.int64)
    place_zh, place_en = _transformer_places(params, tx_district, np.concatenate(tree.lateral), rng)
    place_number = (
        pd.DataFrame({"d": tx_district, "p": place_zh}).groupby(["d", "p"], sort=False).cumcount().to_numpy()
        + 1
    )
    number = _numbers(place_number)
    standards = np.array(net["transformer_kva"], dtype=float)
    rating = standards[
        np.minimum(np.searchsorted(standards, tx_size * net["kva_per_customer"]), len(standards) - 1)
    ]
    tail = pd.DataFrame(
        {
            "id": tx_ids,
            "code": _object_column("TX" + _numbers(np.arange(1, count + 1), max(6, len(str(count))))),
            "kind": DeviceKind.TRANSFORMER.value,
            "name": _object_column(
                place_en + " No. " + number + " Transformer " + place_zh + number + "号公变"
            ),
            "parent_id": 1 + offsets[parent_refs[:, 0]] + parent_refs[:, 1],
            "feeder_id": breaker_base + np.concatenate(tree.breaker),
            "district_id": tx_district + 1,
            "lon": transformers.lonlat[order, 0],
            "lat": transformers.lonlat[order, 1],
            "telemetered": False,
            "scada_state": None,
            "rating_kva": rating,
        }
    )
    head_frame = pd.DataFrame(head)
    tail["scada_state_at"] = pd.Series(pd.NaT, index=tail.index, dtype=head_frame["scada_state_at"].dtype)
    devices = pd.concat([head_frame, tail], ignore_index=True)
    for key in ("parent_id", "feeder_id"):
        devices[key] = devices[key].astype("Int64")
    devices["normal_state"] = SwitchState.CLOSED.value
    devices["version"] = 1
    return _Network(
        devices=devices[_columns(Device)],
        transformer_ids=tx_ids,
        lonlat=transformers.lonlat[order],
        size=tx_size,
        district=tx_district,
        place_zh=place_zh,
        place_number=place_number,
    )


def _transformer_places(
    params: dict[str, Any], district: np.ndarray, lateral: np.ndarray, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """The road (urban) or village (elsewhere) of each transformer; a lateral runs along one of them."""
    names = params["names"]
    chosen = _place_names(params, rng)
    pick = rng.integers(0, 1 << 30, int(lateral.max()) + 1)[lateral]
    place_zh = np.empty(len(district), dtype=_TEXT)
    place_en = np.empty(len(district), dtype=_TEXT)
    for index, spec in enumerate(params["districts"]):
        rows = np.flatnonzero(district == index)
        table = names["roads"] if spec["area_type"] == "urban" else names["villages"]
        zh = _texts([table[i][0] for i in chosen[index]])
        en = _texts([table[i][1] for i in chosen[index]])
        slot = pick[rows] % len(chosen[index])
        place_zh[rows] = zh[slot]
        place_en[rows] = en[slot]
    return place_zh, place_en


def _settle(
    geography: _Geography, projection: _Projection, candidate_xy: np.ndarray, fallback_lonlat: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Put devices at their candidate spot, or at the fallback (a transformer) when that is at sea."""
    lonlat = projection.to_lonlat(candidate_xy)
    district = geography.district_of(lonlat)
    outside = district < 0
    if outside.any():
        lonlat[outside] = fallback_lonlat[outside]
        district[outside] = geography.district_of(lonlat[outside])
    if (district < 0).any():
        raise ValueError("a device fell outside the territory; its fallback must be a transformer")
    return lonlat, district


# --- customers and important users -----------------------------------------------------------


@dataclass
class _Customers:
    """Customer columns as arrays while important users are picked; text in numpy StringDType."""

    account_no: np.ndarray
    name: np.ndarray
    phone: np.ndarray
    address: np.ndarray
    lonlat: np.ndarray
    transformer: np.ndarray  # index into the network's transformers
    district: np.ndarray
    kind: np.ndarray  # object array of CustomerKind values
    importance: np.ndarray
    backup_hours: np.ndarray
    priority_weight: np.ndarray
    contact_name: np.ndarray
    contact_phone: np.ndarray

    def frame(self, transformer_ids: np.ndarray) -> pd.DataFrame:
        count = len(self.account_no)
        return pd.DataFrame(
            {
                "id": np.arange(1, count + 1, dtype=np.int64),
                "account_no": _object_column(self.account_no),
                "name": _object_column(self.name),
                "phone": _object_column(self.phone),
                "address": _object_column(self.address),
                "lon": self.lonlat[:, 0],
                "lat": self.lonlat[:, 1],
                "transformer_id": transformer_ids[self.transformer],
                "district_id": self.district + 1,
                "kind": pd.Series(self.kind, dtype=object),
                "importance": pd.Series(self.importance, dtype=object),
                "backup_hours": self.backup_hours,
                "priority_weight": self.priority_weight,
                "contact_name": pd.Series(self.contact_name, dtype=object),
                "contact_phone": pd.Series(self.contact_phone, dtype=object),
                "version": np.ones(count, dtype=np.int64),
            },
            copy=False,
        )


def _people(names: dict[str, Any], count: int, rng: np.random.Generator) -> np.ndarray:
    surnames = names["surnames"]
    weights = np.array([w for _, w in surnames], dtype=float)
    family = _texts([s for s, _ in surnames])[rng.choice(len(surnames), count, p=weights / weights.sum())]
    return family + _texts(names["given"])[rng.integers(0, len(names["given"]), count)]


def _make_customers(
    params: dict[str, Any],
    geography: _Geography,
    projection: _Projection,
    network: _Network,
    rng: np.random.Generator,
) -> _Customers:
    names = params["names"]
    area_names = ("urban", "rural", "remote")
    district_area = np.array([area_names.index(d["area_type"]) for d in params["districts"]])
    sizes = network.size
    count = int(sizes.sum())
    transformer = np.repeat(np.arange(len(sizes)), sizes)
    rank = np.arange(count) - np.repeat(np.cumsum(sizes) - sizes, sizes)
    district = network.district[transformer]
    area = district_area[district]

    # Scattered around the transformer, tighter in town; a customer who lands outside the
    # transformer's district (across a boundary or at sea) is pulled back towards the transformer.
    spread = np.array([params["area_types"][a]["customer_spread_km"] for a in area_names])[area]
    home = network.lonlat[transformer]
    lonlat = home + rng.normal(0.0, 1.0, (count, 2)) * spread[:, None] / projection.km_per_deg
    outside = np.flatnonzero(~geography.inside_own(lonlat, district))
    for _ in range(6):
        if len(outside) == 0:
            break
        lonlat[outside] = home[outside] + (lonlat[outside] - home[outside]) * 0.5
        still = ~geography.inside_own(lonlat[outside], district[outside])
        outside = outside[still]
    lonlat[outside] = home[outside]

    kind = np.empty(count, dtype=object)
    draw = rng.random(count)
    for index, area_name in enumerate(area_names):
        rows = np.flatnonzero(area == index)
        shares = params["area_types"][area_name]["kinds"]
        bounds = np.cumsum([shares[k.value] for k in _ORDINARY_KINDS])
        chosen = np.minimum(np.searchsorted(bounds / bounds[-1], draw[rows], side="right"), 2)
        kind[rows] = np.array([k.value for k in _ORDINARY_KINDS], dtype=object)[chosen]

    # Shops and firms are named like the signs on their doors; only their rows pay for the text work.
    name = _people(names, count, rng)
    shops = np.flatnonzero(kind == CustomerKind.COMMERCIAL.value)
    family = _texts([s for s, _ in names["surnames"]])[rng.integers(0, len(names["surnames"]), len(shops))]
    name[shops] = family + "记" + _texts(names["shops"])[rng.integers(0, len(names["shops"]), len(shops))]
    firms = np.flatnonzero(kind == CustomerKind.INDUSTRIAL.value)
    name[firms] = (
        params["city"]["short_zh"]
        + _texts(names["firm_words"])[rng.integers(0, len(names["firm_words"]), len(firms))]
        + _texts(names["industries"])[rng.integers(0, len(names["industries"]), len(firms))]
        + "有限公司"
    )

    # Addresses follow the transformer's road or village; neighbours under one transformer share a
    # block of flats in town (3 units, 6 floors, 2 flats a floor; shops and firms give the building
    # only) or have neighbouring house numbers.
    district_zh = _texts([d["name_zh"] for d in params["districts"]])
    stem = (params["city"]["name_zh"] + district_zh[network.district] + network.place_zh)[transformer]
    number = network.place_number[transformer]
    address = np.empty(count, dtype=_TEXT)
    town = np.flatnonzero(area == 0)
    r = rank[town]
    building = stem[town] + _numbers(3 * (number[town] - 1) + 1 + r // 36) + "号"
    flat = _numbers((r % 36) // 12 + 1) + "单元" + _numbers(((r % 12) // 2 + 1) * 100 + r % 2 + 1)
    address[town] = np.where(kind[town] == CustomerKind.RESIDENTIAL.value, building + flat, building)
    village = np.flatnonzero(area != 0)
    address[village] = stem[village] + _numbers((number[village] - 1) * 80 + rank[village] + 1) + "号"

    # Sparse but rising along the network, as utilities number accounts area by area; rising keys
    # also keep the unique index append-only when a million rows are loaded.
    account = "6" + _numbers(np.sort(rng.choice(10**9, size=count, replace=False)), 9)
    weights = params["priority_weights"]
    return _Customers(
        account_no=account,
        name=name,
        phone=_phones(rng, count),
        address=address,
        lonlat=lonlat,
        transformer=transformer,
        district=district,
        kind=kind,
        importance=np.full(count, ImportanceGrade.NONE.value, dtype=object),
        backup_hours=np.full(count, np.nan),
        priority_weight=np.full(count, float(weights["ordinary"])),
        contact_name=np.full(count, None, dtype=object),
        contact_phone=np.full(count, None, dtype=object),
    )


def _assign_important_users(params: dict[str, Any], customers: _Customers, rng: np.random.Generator) -> None:
    """Turn about 1 % of customers into important users, every grade and every kind present.

    Templates come from the parameters (kind, grade, name pattern, areas, caps, backup hours); the
    first template of each kind and of each grade is placed before the weighted draw, so even a
    small territory has them all.
    """
    spec = params["important_users"]
    weights = params["priority_weights"]
    templates = spec["templates"]
    districts = params["districts"]
    count = len(customers.account_no)
    graded_target = round(count * spec["graded_share"])
    life_target = max(1, round(count * spec["life_support_share"]))

    required: list[int] = []
    for key in [k.value for k in CustomerKind] + [g.value for g in ImportanceGrade]:
        match = next((i for i, t in enumerate(templates) if key in (t["kind"], t["grade"])), None)
        if match is not None and match not in required:
            required.append(match)

    # Candidates per district in a random order; each important user takes the next one.
    queue = {d: list(rng.permutation(np.flatnonzero(customers.district == d))) for d in range(len(districts))}
    used_total = [0] * len(templates)
    used_in = [[0] * len(districts) for _ in templates]
    numbered: dict[tuple[int, int], int] = {}
    district_size = np.bincount(customers.district, minlength=len(districts)).astype(float)
    template_weight = np.array([t["weight"] for t in templates], dtype=float)
    # Staff contacts drawn in one go: enough for every template placed plus the weighted draw.
    contact_names = _people(params["names"], graded_target + len(templates), rng).tolist()
    contact_phones = _phones(rng, graded_target + len(templates)).tolist()

    def open_districts(t: int) -> np.ndarray:
        template = templates[t]
        if used_total[t] >= template.get("max", math.inf):
            return np.empty(0, dtype=np.int64)
        cap = template.get("max_per_district", math.inf)
        return np.array(
            [
                d
                for d, spec_d in enumerate(districts)
                if spec_d["area_type"] in template["areas"] and used_in[t][d] < cap and queue[d]
            ],
            dtype=np.int64,
        )

    def place(t: int) -> bool:
        candidates = open_districts(t)
        if len(candidates) == 0:
            return False
        share = district_size[candidates]
        d = int(candidates[rng.choice(len(candidates), p=share / share.sum())])
        row = int(queue[d].pop())
        template = templates[t]
        per_district = "{d_" in template["name_en"] or "{d_" in template["name_zh"]
        key = (t, d if per_district else -1)
        numbered[key] = numbered.get(key, 0) + 1
        fields = {
            "n": numbered[key],
            "n_zh": _zh_number(numbered[key]),
            "d_en": districts[d]["name_en"],
            "d_zh": districts[d]["name_zh"],
        }
        label_en = template["name_en"].format(**fields)
        label_zh = template["name_zh"].format(**fields)
        low, high = template["backup_hours"]
        none_share = template.get("backup_zero_share", 0.0)
        backup = 0.0 if rng.random() < none_share else round(float(rng.uniform(low, high)) * 2) / 2
        customers.name[row] = f"{label_en} {label_zh}"
        customers.address[row] = str(customers.address[row]).split("号", 1)[0] + "号"  # no flat number
        customers.kind[row] = template["kind"]
        customers.importance[row] = template["grade"]
        customers.backup_hours[row] = backup
        customers.priority_weight[row] = float(weights[template["grade"]])
        customers.contact_name[row] = contact_names.pop()
        customers.contact_phone[row] = contact_phones.pop()
        used_total[t] += 1
        used_in[t][d] += 1
        return True

    placed = sum(place(t) for t in required)
    # Availability changes only for the template just used, or when a district runs out of customers.
    available = np.array([len(open_districts(t)) > 0 for t in range(len(templates))])
    while placed < graded_target and available.any():
        weight = np.where(available, template_weight, 0.0)
        t = int(rng.choice(len(templates), p=weight / weight.sum()))
        placed += place(t)
        if any(not q for q in queue.values()):
            available = np.array([len(open_districts(u)) > 0 for u in range(len(templates))])
        else:
            available[t] = len(open_districts(t)) > 0

    # Life-support homes: ordinary households, critical for what their equipment needs.
    households = np.flatnonzero(
        (customers.kind == CustomerKind.RESIDENTIAL.value)
        & (customers.importance == ImportanceGrade.NONE.value)
    )
    homes = np.sort(rng.choice(households, size=min(life_target, len(households)), replace=False))
    low, high = spec["life_support_backup_hours"]
    customers.kind[homes] = CustomerKind.LIFE_SUPPORT.value
    customers.backup_hours[homes] = np.round(rng.uniform(low, high, len(homes)) * 2) / 2
    customers.priority_weight[homes] = float(weights["life_support"])
    customers.contact_name[homes] = _people(params["names"], len(homes), rng).tolist()
    customers.contact_phone[homes] = _phones(rng, len(homes)).tolist()


# --- depots and crews ----------------------------------------------------------------------


def _depot_frame(params: dict[str, Any], geography: _Geography) -> pd.DataFrame:
    codes = [d["code"] for d in params["districts"]]
    rows = []
    for index, depot in enumerate(params["depots"], start=1):
        district = codes.index(depot["district"])
        lon, lat = depot["lonlat"]
        if not shapely.contains_xy(geography.districts[district], lon, lat):
            raise ValueError(f"{DATA_FILE}: depot {depot['code']} is not inside district {depot['district']}")
        rows.append(
            {
                "id": index,
                "code": depot["code"],
                "name_en": depot["name_en"],
                "name_zh": depot["name_zh"],
                "district_id": district + 1,
                "lon": float(lon),
                "lat": float(lat),
                "is_staging": bool(depot.get("staging", False)),
            }
        )
    return pd.DataFrame(rows)


def _make_crews(
    params: dict[str, Any],
    geography: _Geography,
    projection: _Projection,
    customers_per_district: np.ndarray,
    now: datetime,
    rng: np.random.Generator,
) -> pd.DataFrame:
    """About one crew per 2,000 customers, spread over the depots by the customers they serve.

    Mutual-aid crews wait at the staging areas. Most crews work the shift that covers "now"; the
    rest work the other shift and are off duty, so the board looks like a real hour of a real day.
    """
    spec = params["crews"]
    depots = params["depots"]
    codes = [d["code"] for d in params["districts"]]
    total = int(customers_per_district.sum())
    crews = max(spec["minimum"], round(total / spec["customers_per_crew"]))
    staging = [i for i, d in enumerate(depots) if d.get("staging")]
    homes = [i for i, d in enumerate(depots) if not d.get("staging")]
    mutual = max(1, round(crews * spec["mutual_aid_share"])) if staging else 0
    served = np.array(
        [sum(customers_per_district[codes.index(c)] for c in depots[i]["serves"]) for i in homes]
    )
    per_depot = np.zeros(len(depots), dtype=np.int64)
    per_depot[homes] = _apportion(crews - mutual, np.maximum(served, 1), minimum=1)
    for n in range(mutual):
        per_depot[staging[n % len(staging)]] += 1

    local_hour = now.astimezone(ZoneInfo(params["city"]["timezone"])).hour
    day, night = tuple(spec["day_shift"]), tuple(spec["night_shift"])
    on_shift, off_shift = (day, night) if int(day[0][:2]) <= local_hour < int(day[1][:2]) else (night, day)
    kind_names = list(spec["kinds"])
    kind_shares = np.array([spec["kinds"][k] for k in kind_names])
    rows = []
    for depot_index, depot in enumerate(depots):
        short_code = depot["code"].split("-", 1)[1]
        numbers: dict[str, int] = {}
        for n in range(int(per_depot[depot_index])):
            if depot.get("staging"):
                kind = CrewKind.MUTUAL_AID.value
            elif n == 0:
                kind = CrewKind.LINE.value  # every depot keeps at least one line crew
            else:
                kind = kind_names[int(rng.choice(len(kind_names), p=kind_shares / kind_shares.sum()))]
            numbers[kind] = numbers.get(kind, 0) + 1
            label_en, label_zh = spec["names"][kind]
            low, high = spec["sizes"][kind]
            off = rng.random() < spec["off_duty_share"]
            shift = off_shift if off else on_shift
            rows.append(
                {
                    "code": f"C-{short_code}-{n + 1:02d}",
                    "name": f"{depot['short_en']} {label_en} {numbers[kind]} "
                    f"{depot['short_zh']}{label_zh}{numbers[kind]}队",
                    "kind": kind,
                    "size": int(rng.integers(low, high + 1)),
                    "home_depot_id": depot_index + 1,
                    "xy": projection.to_km(np.array(depot["lonlat"], dtype=float)) + rng.normal(0.0, 0.03, 2),
                    "depot_lonlat": np.array(depot["lonlat"], dtype=float),
                    "position_at": now - timedelta(minutes=int(rng.integers(5, 90))),
                    "status": CrewStatus.OFF_DUTY.value if off else CrewStatus.AVAILABLE.value,
                    "status_at": now - timedelta(minutes=int(rng.integers(20, 300))),
                    "shift_start": shift[0],
                    "shift_end": shift[1],
                    "phone": str(_phones(rng, 1)[0]),
                }
            )
    # Parked near the depot, but never in the sea: a spot off land falls back to the depot itself.
    lonlat, _ = _settle(
        geography,
        projection,
        np.array([r.pop("xy") for r in rows]),
        np.array([r.pop("depot_lonlat") for r in rows]),
    )
    frame = pd.DataFrame(rows)
    frame.insert(0, "id", np.arange(1, len(frame) + 1))
    frame["lon"] = lonlat[:, 0]
    frame["lat"] = lonlat[:, 1]
    frame["version"] = 1
    return frame[_columns(Crew)]


# --- active outages ----------------------------------------------------------------------------


@dataclass
class _Incidents:
    outages: pd.DataFrame
    reports: pd.DataFrame
    etr_changes: pd.DataFrame
    assignments: pd.DataFrame


@dataclass
class _Plan:
    """One demo outage before its reports exist: the device, the story and when calls come in."""

    device: int  # row in the devices frame
    story: str
    calls: list[tuple[int, int]]  # (transformer index, calls on it)
    start: datetime  # the fault: a SCADA trip, or the first customer's call
    calls_until: datetime


_BREAKER_STORIES = ("on_site", "dispatched", "confirmed")
_FUSE_STORIES = ("predicted", "dispatched")
_TRANSFORMER_STORIES = ("hazard", "predicted", "late", "predicted", "predicted")
_CALL_CHANNELS = (ReportChannel.HOTLINE, ReportChannel.APP, ReportChannel.WEB, ReportChannel.SMS)
_CALL_SHARES = np.array([0.45, 0.35, 0.1, 0.1])
_REPAIR_CREW_KINDS = (CrewKind.LINE.value, CrewKind.CABLE.value, CrewKind.MUTUAL_AID.value)
_STORM_SPEED_KMH = 35.0


class _IncidentBuilder:
    """Active outages for the first screen: a SCADA-tripped feeder, fuses, transformers, one hazard.

    About eight per 50,000 customers. A tripped breaker shows SCADA open, crews sent out leave the
    available pool, and every count is taken from the network the way the services take it.
    """

    def __init__(
        self,
        params: dict[str, Any],
        projection: _Projection,
        devices: pd.DataFrame,
        network: _Network,
        customers: _Customers,
        crews: pd.DataFrame,
        now: datetime,
        rng: np.random.Generator,
    ) -> None:
        self.params = params
        self.projection = projection
        self.devices = devices
        self.customers = customers
        self.crews = crews
        self.now = now
        self.rng = rng
        self.ids = devices["id"].to_numpy()
        self.kinds = devices["kind"].to_numpy()
        self.codes = devices["code"].tolist()
        self.parent = devices["parent_id"].to_numpy(dtype=np.int64, na_value=0)
        self.feeder = devices["feeder_id"].to_numpy(dtype=np.int64, na_value=0)
        self.lonlat = devices[["lon", "lat"]].to_numpy()
        self.tx_ids = network.transformer_ids
        self.sizes = network.size
        self.starts = np.cumsum(self.sizes) - self.sizes
        tx_rows = np.flatnonzero(self.kinds == DeviceKind.TRANSFORMER.value)
        self.tx_rows = tx_rows
        self.tx_parent = self.parent[tx_rows]
        self.tx_feeder = self.feeder[tx_rows]
        self.local_date = now.astimezone(ZoneInfo(params["city"]["timezone"])).strftime("%Y%m%d")
        self.crew_free = crews["status"].to_numpy() == CrewStatus.AVAILABLE.value
        self.outages: list[dict[str, Any]] = []
        self.reports: list[dict[str, Any]] = []
        self.etrs: list[dict[str, Any]] = []
        self.assignments: list[dict[str, Any]] = []
        self._count_below()

    def _count_below(self) -> None:
        radial = RadialNetwork.from_rows(
            (int(i), int(p) if p else None, k, c)
            for i, p, k, c in zip(self.ids, self.parent, self.kinds, self.codes, strict=True)
        )
        customers = self.customers
        tx_ids = self.tx_ids.tolist()

        def below(per_transformer: np.ndarray) -> dict[int, float]:
            return radial.subtree_sums(dict(zip(tx_ids, per_transformer.tolist(), strict=True)))

        self.customers_below = below(self.sizes)
        self.weight_below = below(
            np.bincount(customers.transformer, weights=customers.priority_weight, minlength=len(tx_ids))
        )
        self.important_below: dict[str, dict[int, float]] = {}
        for key in IMPORTANT_KEYS:
            if key == "life_support":
                marked = customers.kind == CustomerKind.LIFE_SUPPORT.value
            else:
                marked = customers.importance == key
            self.important_below[key] = below(
                np.bincount(customers.transformer[marked], minlength=len(tx_ids))
            )

    def transformers_below(self, row: int) -> np.ndarray:
        """Indices (into the network's transformers) of the transformers this device feeds."""
        kind = self.kinds[row]
        if kind == DeviceKind.TRANSFORMER.value:
            return np.array([self.ids[row] - self.tx_ids[0]])
        if kind == DeviceKind.BREAKER.value:
            return np.flatnonzero(self.tx_feeder == self.ids[row])
        return np.flatnonzero(self.tx_parent == self.ids[row])

    def _ago(self, low_minutes: float, high_minutes: float) -> datetime:
        return self.now - timedelta(seconds=int(self.rng.uniform(low_minutes * 60, high_minutes * 60)))

    def plan(self) -> list[_Plan]:
        """Pick devices that do not overlap (no outage under another) and give each a story."""
        rng, ids, kinds = self.rng, self.ids, self.kinds
        scale = len(self.customers.account_no) / DEFAULT_CUSTOMERS
        last_call = self.now - timedelta(seconds=40)
        breakers = np.flatnonzero(kinds == DeviceKind.BREAKER.value)
        tripped = np.sort(rng.choice(breakers, size=min(max(1, round(scale)), len(breakers)), replace=False))
        on_tripped = np.isin(self.feeder, ids[tripped])
        laterals = np.bincount(self.tx_parent, minlength=len(ids) + 1)[ids]
        fuse_rows = np.flatnonzero((kinds == DeviceKind.FUSE.value) & ~on_tripped & (laterals >= 2))
        fuses = np.sort(
            rng.choice(fuse_rows, size=min(max(2, round(2 * scale)), len(fuse_rows)), replace=False)
        )
        free_tx = self.tx_rows[~on_tripped[self.tx_rows] & ~np.isin(self.tx_parent, ids[fuses])]
        single = np.sort(rng.choice(free_tx, size=min(max(3, round(5 * scale)), len(free_tx)), replace=False))

        plans: list[_Plan] = []
        for n, row in enumerate(tripped):
            story = _BREAKER_STORIES[n % len(_BREAKER_STORIES)]
            start = {"on_site": (38, 46), "dispatched": (7, 9), "confirmed": (4, 6)}[story]
            below = self.transformers_below(int(row))
            hit = rng.choice(below, size=min(len(below), int(rng.integers(4, 8))), replace=False)
            calls = [(int(t), int(rng.integers(1, 3))) for t in hit]
            plans.append(_Plan(int(row), "breaker_" + story, calls, self._ago(*start), last_call))
        for n, row in enumerate(fuses):
            story = _FUSE_STORIES[n % len(_FUSE_STORIES)]
            below = self.transformers_below(int(row))
            hit = rng.choice(below, size=min(len(below), int(rng.integers(2, 4))), replace=False)
            # Two calls on each of two transformers is what rolls a prediction up to the fuse.
            calls = [(int(t), 2 + int(rng.integers(0, 2)) if i < 2 else 1) for i, t in enumerate(hit)]
            start = self._ago(6, 8) if story == "predicted" else self._ago(13, 16)
            until = last_call if story == "predicted" else start + timedelta(minutes=7)
            plans.append(_Plan(int(row), "fuse_" + story, calls, start, until))
        for n, row in enumerate(single):
            story = _TRANSFORMER_STORIES[n % len(_TRANSFORMER_STORIES)]
            start = {"hazard": (9, 12), "late": (14, 18)}.get(story, (2, 6))
            calls = [(int(ids[row] - self.tx_ids[0]), int(rng.integers(2, 5)))]
            plans.append(_Plan(int(row), "transformer_" + story, calls, self._ago(*start), last_call))
        return plans

    def _report(
        self, outage_id: int, at: datetime, channel: ReportChannel, kind: ReportKind, **fields: Any
    ) -> None:
        report_id = len(self.reports) + 1
        external = {
            ReportChannel.HOTLINE: f"95598{self.local_date}{report_id:06d}",
            ReportChannel.SCADA: f"SOE-{report_id:08d}",
            ReportChannel.METER: f"LG-{report_id:08d}",
        }.get(channel, f"{channel.value.upper()}{report_id:010d}")
        delay = {ReportChannel.HOTLINE: 45, ReportChannel.SCADA: 1, ReportChannel.METER: 5}.get(channel, 2)
        record: dict[str, Any] = dict.fromkeys(_columns(Report))
        record.update(
            id=report_id,
            channel=channel.value,
            external_id=external,
            kind=kind.value,
            reported_at=at,
            received_at=min(at + timedelta(seconds=delay), self.now),
            status=ReportStatus.GROUPED.value,
            outage_id=outage_id,
            **fields,
        )
        self.reports.append(record)

    def _from_customer(self, row: int, with_contact: bool) -> dict[str, Any]:
        customers = self.customers
        fields: dict[str, Any] = {
            "account_no": str(customers.account_no[row]),
            "customer_id": row + 1,
            "lon": float(customers.lonlat[row, 0]),
            "lat": float(customers.lonlat[row, 1]),
            "transformer_id": int(self.tx_ids[customers.transformer[row]]),
        }
        if with_contact:
            # Important users call through their staff contact; everyone else calls for themselves.
            name = customers.contact_name[row] or str(customers.name[row])
            phone = customers.contact_phone[row] or str(customers.phone[row])
            fields.update(contact_name=name[:120], contact_phone=phone)
        return fields

    def _set_etr(
        self,
        outage: dict[str, Any],
        at: datetime,
        etr: datetime,
        source: EtrSource,
        confidence: EtrConfidence,
        by: str,
        note: str | None = None,
    ) -> None:
        self.etrs.append(
            {
                "id": len(self.etrs) + 1,
                "outage_id": outage["id"],
                "etr_at": etr,
                "source": source.value,
                "confidence": confidence.value,
                "set_at": at,
                "set_by": by,
                "note": note,
            }
        )
        outage.update(etr_at=etr, etr_source=source.value, etr_confidence=confidence.value, etr_set_at=at)

    def _nearest_free_crew(self, row: int) -> int:
        """The nearest available crew that repairs lines: a dispatcher's first choice."""
        kinds = self.crews["kind"].to_numpy()
        able = self.crew_free & np.isin(kinds, _REPAIR_CREW_KINDS)
        pool = np.flatnonzero(able if able.any() else self.crew_free)
        gap = self.projection.to_km(self.crews[["lon", "lat"]].to_numpy()[pool]) - self.projection.to_km(
            self.lonlat[row]
        )
        chosen = int(pool[np.argmin(np.hypot(gap[:, 0], gap[:, 1]))])
        self.crew_free[chosen] = False
        return chosen

    def _scada_trip(self, outage_id: int, plan: _Plan) -> list[datetime]:
        """The breaker's trip, then smart meters' last gasps within seconds of it."""
        row, rng = plan.device, self.rng
        self._report(
            outage_id,
            plan.start,
            ReportChannel.SCADA,
            ReportKind.DEVICE_OPENED,
            device_id=int(self.ids[row]),
            lon=float(self.lonlat[row, 0]),
            lat=float(self.lonlat[row, 1]),
            description=f"SCADA: {self.codes[row]} opened (protection trip)",
        )
        self.devices.loc[row, "scada_state"] = SwitchState.OPEN.value
        self.devices.loc[row, "scada_state_at"] = plan.start
        below = self.transformers_below(row)
        homes = np.concatenate([np.arange(self.starts[t], self.starts[t] + self.sizes[t]) for t in below])
        gasps = rng.choice(homes, size=min(40, max(3, round(0.02 * len(homes)))), replace=False)
        times = [plan.start]
        for customer in np.sort(gasps):
            at = plan.start + timedelta(seconds=int(rng.integers(0, 30)))
            self._report(
                outage_id,
                at,
                ReportChannel.METER,
                ReportKind.LAST_GASP,
                **self._from_customer(int(customer), False),
            )
            times.append(at)
        return times

    def _calls(
        self, outage_id: int, plan: _Plan, hazard: bool
    ) -> tuple[list[datetime], dict[int, list[datetime]]]:
        """Customers' calls; returns their times, and the times of the calls on each transformer."""
        rng = self.rng
        texts = self.params["reports"]
        count = sum(n for _, n in plan.calls)
        span = max((plan.calls_until - plan.start).total_seconds(), 60.0)
        offsets = np.sort(rng.uniform(0, span, count))
        if self.kinds[plan.device] != DeviceKind.BREAKER.value:
            offsets -= offsets[0]  # without SCADA, the first call is the start of the outage
        # Calls about different transformers interleave in time, as on a real switchboard.
        slot = rng.permutation(count)
        position = 0
        times: list[datetime] = []
        per_transformer: dict[int, list[datetime]] = {}
        for t, n in plan.calls:
            for pick in rng.choice(int(self.sizes[t]), size=n, replace=False):
                at = plan.start + timedelta(seconds=int(offsets[slot[position]]))
                channel = _CALL_CHANNELS[int(rng.choice(len(_CALL_CHANNELS), p=_CALL_SHARES))]
                kind = ReportKind.NO_POWER
                if hazard and slot[position] == 0:
                    channel, kind = ReportChannel.HOTLINE, ReportKind.HAZARD
                pool = texts["hazard"] if kind == ReportKind.HAZARD else texts[channel.value]
                fields = self._from_customer(int(self.starts[t] + pick), channel != ReportChannel.WEB)
                self._report(outage_id, at, channel, kind, description=str(rng.choice(pool)), **fields)
                times.append(at)
                per_transformer.setdefault(t, []).append(at)
                position += 1
        return times, per_transformer

    def _dispatch(self, outage: dict[str, Any], plan: _Plan) -> None:
        row, story, now = plan.device, plan.story, self.now
        crew = self._nearest_free_crew(row)
        if story == "fuse_dispatched":
            dispatched = plan.start + timedelta(minutes=8)
            outage.update(confirmed_at=dispatched - timedelta(minutes=1), confirmed_by="dispatcher")
        elif story == "breaker_dispatched":
            dispatched = now - timedelta(minutes=2)
        else:
            dispatched = plan.start + timedelta(minutes=5)
        gap = self.projection.to_km(self.crews[["lon", "lat"]].to_numpy()[crew]) - self.projection.to_km(
            self.lonlat[row]
        )
        travel = timedelta(minutes=8 + 60 * float(np.hypot(*gap)) / _STORM_SPEED_KMH)
        assignment: dict[str, Any] = dict.fromkeys(_columns(CrewAssignment))
        assignment.update(
            id=len(self.assignments) + 1,
            outage_id=outage["id"],
            crew_id=crew + 1,
            status=AssignmentStatus.DISPATCHED.value,
            assigned_at=dispatched,
            assigned_by="dispatcher",
            eta_at=dispatched + travel,
            version=1,
        )
        outage.update(state=OutageState.DISPATCHED.value, dispatched_at=dispatched)
        status, status_at = CrewStatus.DISPATCHED.value, dispatched
        if story == "breaker_on_site":
            en_route, on_site = dispatched + timedelta(minutes=2), plan.start + timedelta(minutes=24)
            assignment.update(status=AssignmentStatus.ON_SITE.value, en_route_at=en_route, on_site_at=on_site)
            outage.update(
                state=OutageState.ON_SITE.value,
                en_route_at=en_route,
                on_site_at=on_site,
                cause="Tree fell on the line in typhoon gusts 台风大风致树木倒伏压线",
            )
            status, status_at = CrewStatus.ON_SITE.value, on_site
            self.crews.loc[crew, ["lon", "lat"]] = self.lonlat[row]
            self.crews.loc[crew, "position_at"] = on_site
            self._set_etr(
                outage,
                on_site + timedelta(minutes=6),
                _round_up(now + timedelta(hours=2, minutes=10)),
                EtrSource.CREW,
                EtrConfidence.MEDIUM,
                str(self.crews.at[crew, "code"]),
                "Two spans down, tree to clear first 两档导线断落，需先清理倒树",
            )
        if story == "fuse_dispatched":
            self._set_etr(
                outage,
                dispatched,
                _round_up(dispatched + timedelta(hours=2)),
                EtrSource.DISPATCHER,
                EtrConfidence.MEDIUM,
                "dispatcher",
                "Crew dispatched; lateral fuse to replace 已派工，更换支线熔断器",
            )
        self.crews.loc[crew, "status"] = status
        self.crews.loc[crew, "status_at"] = status_at
        self.assignments.append(assignment)

    def build(self) -> _Incidents:
        for outage_id, plan in enumerate(self.plan(), start=1):
            row, story = plan.device, plan.story
            kind = self.kinds[row]
            device_id = int(self.ids[row])
            times = self._scada_trip(outage_id, plan) if kind == DeviceKind.BREAKER.value else []
            hazard = story == "transformer_hazard"
            call_times, per_transformer = self._calls(outage_id, plan, hazard)
            times += call_times
            # A transformer is predicted out at its second call; a fuse when a second transformer is.
            second_calls = sorted(sorted(at)[1] for at in per_transformer.values() if len(at) >= 2)
            outage: dict[str, Any] = dict.fromkeys(_columns(Outage))
            outage.update(
                id=outage_id,
                state=OutageState.PREDICTED.value,
                device_id=device_id,
                district_id=int(self.devices.at[row, "district_id"]),
                hazard=hazard,
                nested=False,
                first_report_at=min(times),
                customers_affected=int(self.customers_below[device_id]),
                customers_restored=0,
                weighted_customers=float(self.weight_below[device_id]),
                important_affected={
                    key: int(below[device_id])
                    for key, below in self.important_below.items()
                    if below[device_id]
                },
                report_count=len(times),
                version=1,
            )
            if kind == DeviceKind.BREAKER.value:
                outage.update(
                    state=OutageState.CONFIRMED.value,
                    predicted_at=plan.start,
                    confirmed_at=plan.start,
                    confirmed_by="scada",
                )
            else:
                outage["predicted_at"] = second_calls[1] if kind == DeviceKind.FUSE.value else second_calls[0]
            if kind == DeviceKind.BREAKER.value or story == "fuse_predicted":
                # The system's first estimate from the storm backlog: low confidence, on the safe side.
                predicted = outage["predicted_at"]
                self._set_etr(
                    outage,
                    predicted,
                    _round_up(predicted + timedelta(hours=4)),
                    EtrSource.SYSTEM,
                    EtrConfidence.LOW,
                    "system",
                )
            if story in ("breaker_on_site", "breaker_dispatched", "fuse_dispatched"):
                self._dispatch(outage, plan)
            self.outages.append(outage)
        return _Incidents(
            outages=_frame(self.outages, Outage),
            reports=_frame(self.reports, Report),
            etr_changes=_frame(self.etrs, EtrChange),
            assignments=_frame(self.assignments, CrewAssignment),
        )


# --- the generator ---------------------------------------------------------------------------


def generate_territory(customers: int, seed: int, now: datetime) -> Territory:
    """Build the demo territory with exactly `customers` customers, without touching a database.

    Deterministic: the same customers, seed and now give identical frames.
    """
    if customers < MIN_CUSTOMERS:
        raise InvalidInput(f"at least {MIN_CUSTOMERS:,} customers", field="customers")
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    params = load_parameters()
    geography = _geography()
    rng = np.random.default_rng(seed)
    minx, miny, maxx, maxy = geography.land.bounds
    projection = _Projection((minx + maxx) / 2, (miny + maxy) / 2)

    transformers = _place_transformers(params, geography, projection, customers, rng)
    network = _build_network(params, geography, projection, transformers, now, rng)
    people = _make_customers(params, geography, projection, network, rng)
    _assign_important_users(params, people, rng)
    per_district = np.bincount(people.district, minlength=len(params["districts"]))
    crews = _make_crews(params, geography, projection, per_district, now, rng)
    devices = network.devices
    incidents = _IncidentBuilder(params, projection, devices, network, people, crews, now, rng).build()

    district_rows = []
    for index, spec in enumerate(params["districts"]):
        geometry = geography.districts[index]
        lon, lat = _label_point(geometry)
        district_rows.append(
            {
                "id": index + 1,
                "code": spec["code"],
                "name_en": spec["name_en"],
                "name_zh": spec["name_zh"],
                "area_type": spec["area_type"],
                "geometry": _geojson(geometry),
                "centroid_lon": lon,
                "centroid_lat": lat,
            }
        )
    return Territory(
        name_en=params["city"]["name_en"],
        name_zh=params["city"]["name_zh"],
        land=_geojson(geography.land),
        districts=pd.DataFrame(district_rows),
        depots=_depot_frame(params, geography),
        devices=devices,
        customers=people.frame(network.transformer_ids),
        crews=crews,
        outages=incidents.outages,
        reports=incidents.reports,
        etr_changes=incidents.etr_changes,
        assignments=incidents.assignments,
    )


# --- loading -------------------------------------------------------------------------------


def _python_values(series: pd.Series) -> list[Any]:
    """Plain Python values for the database drivers: int, float, str, datetime, dict or None."""
    if isinstance(series.dtype, pd.DatetimeTZDtype):
        return [None if value is pd.NaT else value.to_pydatetime() for value in series]
    if series.hasnans:
        return series.astype(object).where(series.notna(), None).tolist()
    return series.tolist()


def _rows(frame: pd.DataFrame, chunk_size: int) -> Iterator[list[dict[str, Any]]]:
    columns = list(frame.columns)
    for start in range(0, len(frame), chunk_size):
        part = frame.iloc[start : start + chunk_size]
        values = [_python_values(part[column]) for column in columns]
        yield [dict(zip(columns, row, strict=True)) for row in zip(*values, strict=True)]


def _advance_sequences(session: Session, tables: Sequence[str]) -> None:
    """PostgreSQL hands out ids from a sequence that explicit ids do not move; move it past them."""
    for table in tables:
        session.execute(
            text(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), MAX(id)) FROM {table} "
                "HAVING MAX(id) IS NOT NULL"
            )
        )


def insert_territory(session: Session, territory: Territory, chunk_size: int = _INSERT_CHUNK) -> None:
    """Insert every row of a territory with its own ids: Core bulk inserts of chunks of dicts."""
    for model, rows in territory.rows(chunk_size):
        # Core on the Table: the ORM-enabled insert(Model) bulk path costs ~15 % more for the same SQL.
        session.execute(insert(model.__table__), rows)
    if session.get_bind().dialect.name == "postgresql":
        _advance_sequences(session, [model.__tablename__ for model, _ in territory.tables()])


def load_territory(
    db: Database, clock: Clock, territory: Territory, chunk_size: int = _INSERT_CHUNK
) -> DemoSummary:
    """Write a generated territory into an empty, migrated database in one transaction.

    Core bulk inserts in chunks, with the ids the generator chose. Also marks the database as the demo
    and creates the demo accounts (an account that already exists keeps its password).
    """
    summary = territory.summary()
    with db.write() as session:
        present = session.scalar(select(func.count()).select_from(District)) or 0
        present += session.scalar(select(func.count()).select_from(Device)) or 0
        if present:
            raise Conflict("the database already holds a territory; load the demo into an empty database")
        insert_territory(session, territory, chunk_size)
        set_setting(session, "territory.is_demo", True, clock, by=CLI_ADMIN.username)
        bump_territory_revision(session, clock, CLI_ADMIN.username)
        set_setting(session, "territory.name_en", territory.name_en, clock, by=CLI_ADMIN.username)
        set_setting(session, "territory.name_zh", territory.name_zh, clock, by=CLI_ADMIN.username)
        existing = set(session.scalars(select(User.username)))
        for username, role, password in DEMO_ACCOUNTS:
            if username not in existing:
                create_user(session, clock, CLI_ADMIN, username, password, role, f"Demo {role}")
        audit.record(session, clock, CLI_ADMIN, "territory.load_demo", "territory", detail=str(summary))
    return summary


def load_demo(
    db: Database,
    clock: Clock,
    customers: int = DEFAULT_CUSTOMERS,
    seed: int = DEFAULT_SEED,
    history_years: int | None = None,
) -> DemoSummary:
    """Generate the demo territory for `clock.now()` and load it; see `load_territory`.

    Then years of closed outages before today (emergency.demo.history; None: its default of 3 years,
    0: none), so reliability reports and the major-event threshold have data from the first start.
    """
    from emergency.demo.history import DEFAULT_HISTORY_YEARS, load_history

    years = DEFAULT_HISTORY_YEARS if history_years is None else history_years
    if years < 0:
        raise InvalidInput("history years must be 0 or more", field="history_years")
    territory = generate_territory(customers, seed, clock.now())
    summary = load_territory(db, clock, territory)
    if years:
        load_history(db, clock, territory, years, seed, load_parameters()["city"]["timezone"])
    return summary
