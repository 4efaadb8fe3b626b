"""The demo map: coastline, district boundaries and a kilometre projection, from the parameters alone.

Every seed shows the same city; `settle` moves a point that fell in the sea or across a border back
onto its district's land.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import shapely
from shapely.geometry import Polygon, box

from emergency.demo.parameters import DATA_FILE, load_parameters

_KM_PER_DEG_LAT = 110.574
_KM_PER_DEG_LON_EQUATOR = 111.320


@dataclass(frozen=True)
class Projection:
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
class Geography:
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
def load_geography(path: Path = DATA_FILE) -> Geography:
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
    return Geography(land=land, districts=districts)


def geojson(geometry: shapely.Geometry) -> dict[str, Any]:
    return json.loads(shapely.to_geojson(geometry))


def label_point(geometry: shapely.Geometry) -> tuple[float, float]:
    """The centroid, or a point inside when a concave district's centroid falls outside it."""
    point = geometry.centroid
    if not geometry.contains(point):
        point = geometry.representative_point()
    return float(point.x), float(point.y)


def settle(
    geography: Geography, projection: Projection, candidate_xy: np.ndarray, fallback_lonlat: np.ndarray
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
