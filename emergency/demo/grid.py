"""The demo's radial network: transformers placed where people live, substations, feeders grown out to them
with reclosers and fused laterals, and the devices frame in network order.

`Device.feeder_id` is the feeder breaker's id for every device below a breaker and the breaker's own id
for a breaker (None for substations).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd
import shapely
from scipy.spatial import cKDTree

from emergency.core.models import Device, DeviceKind, SwitchState
from emergency.demo.columns import (
    TEXT,
    apportion,
    model_columns,
    number_column,
    object_column,
    text_column,
    zh_number,
)
from emergency.demo.geography import Geography, Projection, settle
from emergency.network.trace import TraceDevice, trace

_KIND_ORDER = (
    DeviceKind.SUBSTATION,
    DeviceKind.BREAKER,
    DeviceKind.RECLOSER,
    DeviceKind.FUSE,
    DeviceKind.TRANSFORMER,
)


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
    projection: Projection,
    rng: np.random.Generator,
) -> np.ndarray:
    """Points clustered in towns and villages, the district seat the largest, with some scattered."""
    settlements = int(rng.integers(style["settlements"][0], style["settlements"][1] + 1))
    centres = np.vstack([seat, _uniform_in(geometry, settlements - 1, rng)])
    weights = rng.lognormal(0.0, 0.7, settlements)
    weights[0] *= style["seat_weight"]
    low_km, high_km = style["spread_km"]
    spreads = rng.uniform(low_km, high_km, settlements)
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


def place_transformers(
    params: dict[str, Any],
    geography: Geography,
    projection: Projection,
    customers: int,
    rng: np.random.Generator,
) -> _Transformers:
    low, high = params["network"]["transformer_customers"]
    shares = np.array([d["customer_share"] for d in params["districts"]])
    per_district = apportion(customers, shares, minimum=low)
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
class Network:
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
        # Normally open ties: (code, English name, Chinese name, the two section heads they join).
        self.ties: list[tuple[str, str, str, tuple[int, int], tuple[int, int]]] = []

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
    geography: Geography,
    projection: Projection,
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
    sites, _ = settle(geography, projection, centres, transformers.lonlat[nearest])
    return cluster, sites


def _grow_feeder(
    params: dict[str, Any],
    projection: Projection,
    tree: _Tree,
    xy: np.ndarray,
    transformers: _Transformers,
    members: np.ndarray,
    station: tuple[int, int],
    site: np.ndarray,
    names: tuple[str, str, str],
    rng: np.random.Generator,
) -> tuple[int, int]:
    """One feeder: its breaker, 1-3 reclosers in series splitting it by distance, then laterals.

    `site` is the substation's lon/lat; `names` is (code suffix like "03-2", English line name,
    Chinese line name). Returns the farthest section's head (its last recloser, or the breaker),
    where a tie to the neighbouring feeder is drawn.
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
    return section


def build_network(
    params: dict[str, Any],
    geography: Geography,
    projection: Projection,
    transformers: _Transformers,
    now: datetime,
    rng: np.random.Generator,
) -> Network:
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
        en, zh = en + roman[lap % len(roman)], zh + (zh_number(lap + 1) if lap else "")
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
        ends: list[tuple[int, int]] = []
        for f, feeder_members in enumerate(np.array_split(swept, feeders), start=1):
            names = (f"{ss}-{f}", f"{en} Line {f}", f"{zh}{f}线")
            ends.append(
                _grow_feeder(
                    params, projection, tree, xy, transformers, feeder_members, station, sites[s], names, rng
                )
            )
        # Feeders next to each other (swept by bearing) meet at a normally open tie at their far ends.
        tree.ties.extend(
            (f"TIE{ss}-{f}-{f + 1}", f"{en} Line {f}-{f + 1} tie", f"{zh}{f}-{f + 1}线联络开关", a, b)
            for f, (a, b) in enumerate(itertools.pairwise(ends), start=1)
        )
    return _network_frame(params, geography, projection, transformers, tree, now, rng)


def _network_frame(
    params: dict[str, Any],
    geography: Geography,
    projection: Projection,
    transformers: _Transformers,
    tree: _Tree,
    now: datetime,
    rng: np.random.Generator,
) -> Network:
    """Give the grown tree its ids, places and names: one devices frame, transformers last."""
    net = params["network"]
    drafts = tree.drafts
    offsets = np.concatenate([[0], np.cumsum(tree.per_kind)])
    by_kind = sorted(range(len(drafts)), key=lambda i: drafts[i].kind)
    ids = np.empty(len(drafts), dtype=np.int64)
    ids[by_kind] = np.arange(1, len(drafts) + 1)
    lonlat, district = settle(
        geography,
        projection,
        np.array([d.candidate_xy for d in drafts]),
        np.array([d.fallback_lonlat for d in drafts]),
    )
    breaker_base = 1 + int(offsets[1])
    telemetered_since = now - timedelta(days=9, hours=5)
    head: dict[str, list[Any]] = {
        key: []
        for key in model_columns(Device)
        if key not in ("normal_state", "version", "from_node", "to_node", "switched_state", "switched_at")
    }
    for i in by_kind:
        draft = drafts[i]
        kind = _KIND_ORDER[draft.kind]
        telemetered = kind in (DeviceKind.BREAKER, DeviceKind.RECLOSER)
        feeder: int | None
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
    number = number_column(place_number)
    standards = np.array(net["transformer_kva"], dtype=float)
    rating = standards[
        np.minimum(np.searchsorted(standards, tx_size * net["kva_per_customer"]), len(standards) - 1)
    ]
    tail = pd.DataFrame(
        {
            "id": tx_ids,
            "code": object_column("TX" + number_column(np.arange(1, count + 1), max(6, len(str(count))))),
            "kind": DeviceKind.TRANSFORMER.value,
            "name": object_column(
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
    # Given as a tree: a device's nodes are its parent's code and its own (none below a transformer).
    code_of = pd.Series(devices["code"].to_numpy(), index=devices["id"].to_numpy())
    devices["from_node"] = (
        devices["parent_id"].map(code_of).astype(object).where(devices["parent_id"].notna(), None)
    )
    devices["to_node"] = devices["code"].where(devices["kind"] != DeviceKind.TRANSFORMER.value, None)
    devices["switched_state"] = None
    devices["switched_at"] = pd.Series(pd.NaT, index=devices.index, dtype=devices["scada_state_at"].dtype)
    devices = _with_ties(devices, tree, offsets)
    return Network(
        devices=devices[model_columns(Device)],
        transformer_ids=tx_ids,
        lonlat=transformers.lonlat[order],
        size=tx_size,
        district=tx_district,
        place_zh=place_zh,
        place_number=place_number,
    )


def _with_ties(devices: pd.DataFrame, tree: _Tree, offsets: np.ndarray) -> pd.DataFrame:
    """The normally open ties, after every other device: each between the nodes of the two section
    heads it joins, midway between them, hung where tracing the supply places it (an open switch
    feeds nothing, so nothing else moves)."""
    if not tree.ties:
        return devices
    index = devices.set_index("id")
    first = int(devices["id"].max()) + 1
    rows = []
    for n, (code, name_en, name_zh, a, b) in enumerate(tree.ties):
        ends = [index.loc[1 + int(offsets[ref[0]]) + ref[1]] for ref in (a, b)]
        rows.append(
            {
                "id": first + n,
                "code": code,
                "kind": DeviceKind.SWITCH.value,
                "name": f"{name_en} {name_zh}",
                "district_id": ends[0]["district_id"],
                "lon": (ends[0]["lon"] + ends[1]["lon"]) / 2,
                "lat": (ends[0]["lat"] + ends[1]["lat"]) / 2,
                "telemetered": False,
                "scada_state": None,
                "rating_kva": np.nan,
                "normal_state": SwitchState.OPEN.value,
                "version": 1,
                "from_node": ends[0]["code"],
                "to_node": ends[1]["code"],
                "switched_state": None,
            }
        )
    ties = pd.DataFrame(rows)
    ties["scada_state_at"] = pd.Series(pd.NaT, index=ties.index, dtype=devices["scada_state_at"].dtype)
    ties["switched_at"] = pd.Series(pd.NaT, index=ties.index, dtype=devices["switched_at"].dtype)
    every = pd.concat([devices, ties], ignore_index=True)
    traced = trace(
        [
            TraceDevice(
                int(r.id),
                str(r.code),
                DeviceKind(r.kind),
                r.from_node,
                r.to_node,
                SwitchState(r.normal_state),
                SwitchState(r.normal_state),
            )
            for r in every[["id", "code", "kind", "from_node", "to_node", "normal_state"]].itertuples()
        ]
    )
    tie_rows = every.index[len(devices) :]
    every.loc[tie_rows, "parent_id"] = [traced.parent[int(i)] for i in every.loc[tie_rows, "id"]]
    every.loc[tie_rows, "feeder_id"] = [traced.feeder[int(i)] for i in every.loc[tie_rows, "id"]]
    for key in ("parent_id", "feeder_id"):
        every[key] = every[key].astype("Int64")
    return every


def _transformer_places(
    params: dict[str, Any], district: np.ndarray, lateral: np.ndarray, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """The road (urban) or village (elsewhere) of each transformer; a lateral runs along one of them."""
    names = params["names"]
    chosen = _place_names(params, rng)
    pick = rng.integers(0, 1 << 30, int(lateral.max()) + 1)[lateral]
    place_zh = np.empty(len(district), dtype=TEXT)
    place_en = np.empty(len(district), dtype=TEXT)
    for index, spec in enumerate(params["districts"]):
        rows = np.flatnonzero(district == index)
        table = names["roads"] if spec["area_type"] == "urban" else names["villages"]
        zh = text_column([table[i][0] for i in chosen[index]])
        en = text_column([table[i][1] for i in chosen[index]])
        slot = pick[rows] % len(chosen[index])
        place_zh[rows] = zh[slot]
        place_en[rows] = en[slot]
    return place_zh, place_en
