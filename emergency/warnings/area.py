"""The area a warning covers: chosen districts, a circle, an uploaded GeoJSON polygon or a CAP area.

Every kind ends as one GeoJSON geometry (lon/lat WGS84) plus the codes of the districts it touches,
which is what disaster mode and the outreach list work from. An area is refused with a message a
manager can act on when it is empty, not a valid polygon (self-intersecting), outside the territory,
too large a file or too detailed.

Distances use a local equirectangular projection around the area: kilometres east and north of its
centre. Over a city or a province it is within a fraction of a percent of the geodesic distance,
which is far finer than a weather warning's edge.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import shapely
from pyproj import Geod
from shapely.errors import GEOSException
from shapely.geometry import MultiPolygon, Polygon, mapping, shape
from shapely.geometry.base import BaseGeometry
from shapely.validation import explain_validity
from sqlalchemy import select
from sqlalchemy.orm import Session

from emergency.core.errors import InvalidInput
from emergency.core.models import District
from emergency.core.settings import get_setting

KM_PER_DEGREE = 111.32
CIRCLE_SEGMENTS = 72
_GEOD = Geod(ellps="WGS84")


@dataclass(frozen=True)
class DistrictsArea:
    codes: tuple[str, ...]


@dataclass(frozen=True)
class CircleArea:
    lon: float
    lat: float
    radius_km: float


@dataclass(frozen=True)
class PolygonArea:
    """A GeoJSON Polygon or MultiPolygon (bare, a Feature or a FeatureCollection), as text or parsed."""

    geojson: str | dict[str, Any]


@dataclass(frozen=True)
class CapArea:
    """The area of an imported CAP message: its polygons and circles, and district codes it named."""

    polygons: tuple[tuple[tuple[float, float], ...], ...]  # rings of (lon, lat)
    circles: tuple[CircleArea, ...]
    district_codes: tuple[str, ...] = ()


AreaSpec = DistrictsArea | CircleArea | PolygonArea | CapArea


@dataclass(frozen=True)
class ResolvedArea:
    kind: str
    geometry: dict[str, Any]  # GeoJSON, lon/lat
    district_codes: tuple[str, ...]  # the districts the area touches, sorted


def resolve_area(session: Session, spec: AreaSpec) -> ResolvedArea:
    """Check an area and turn it into one geometry plus the districts it touches."""
    districts = {d.code: d for d in session.scalars(select(District).order_by(District.code))}
    if not districts:
        raise InvalidInput("the territory has no districts yet; import them first", field="area")
    if isinstance(spec, DistrictsArea):
        return _districts_area(spec, districts)
    if isinstance(spec, CircleArea):
        max_radius = float(get_setting(session, "warnings.max_radius_km"))
        geometry: BaseGeometry = circle_polygon(spec, max_radius)
        kind = "circle"
    elif isinstance(spec, PolygonArea):
        geometry = _polygon_from_geojson(spec.geojson, session)
        kind = "polygon"
    else:
        geometry = _cap_geometry(spec, districts, session)
        kind = "cap"
    _check_vertices(geometry, int(get_setting(session, "warnings.max_vertices")))
    touched = _touched_districts(geometry, districts)
    if not touched:
        raise InvalidInput(
            "the area is outside the territory: it does not overlap any district", field="area"
        )
    out = mapping(geometry)
    if kind == "circle":
        assert isinstance(spec, CircleArea)
        # A foreign member keeps the exact circle for CAP export; GeoJSON readers ignore it.
        out = {**out, "circle": {"lon": spec.lon, "lat": spec.lat, "radius_km": spec.radius_km}}
    return ResolvedArea(kind, _plain(out), tuple(sorted(touched)))


def area_shape(geometry: dict[str, Any]) -> BaseGeometry:
    return shape({"type": geometry["type"], "coordinates": geometry["coordinates"]})


def circle_polygon(circle: CircleArea, max_radius_km: float) -> Polygon:
    """A circle as a geodesic polygon of CIRCLE_SEGMENTS points (CAP circles are in km)."""
    _check_point(circle.lon, circle.lat)
    if not math.isfinite(circle.radius_km) or circle.radius_km <= 0:
        raise InvalidInput("the radius must be more than 0 km", field="radius_km")
    if circle.radius_km > max_radius_km:
        raise InvalidInput(f"the radius must be at most {max_radius_km:g} km", field="radius_km")
    azimuths = np.linspace(0.0, 360.0, CIRCLE_SEGMENTS, endpoint=False)
    lons, lats, _ = _GEOD.fwd(
        np.full(CIRCLE_SEGMENTS, circle.lon),
        np.full(CIRCLE_SEGMENTS, circle.lat),
        azimuths,
        np.full(CIRCLE_SEGMENTS, circle.radius_km * 1000.0),
    )
    ring = [(round(float(x), 6), round(float(y), 6)) for x, y in zip(lons, lats, strict=True)]
    return Polygon([*ring, ring[0]])


def contains_points(geometry: dict[str, Any], lons: np.ndarray, lats: np.ndarray) -> np.ndarray:
    """Which of these points lie inside (or on the edge of) the area: vectorised, for big territories."""
    area = area_shape(geometry)
    shapely.prepare(area)
    return shapely.intersects_xy(area, lons, lats)


def bounds(geometry: dict[str, Any]) -> tuple[float, float, float, float]:
    """(west, south, east, north) of the area."""
    return tuple(float(v) for v in area_shape(geometry).bounds)  # type: ignore[return-value]


def distance_km(geometry: dict[str, Any], lons: np.ndarray, lats: np.ndarray) -> np.ndarray:
    """Distance in km from each point to the area (0 inside), in a projection centred on the area."""
    area = area_shape(geometry)
    centre = area.centroid
    scale_x = KM_PER_DEGREE * math.cos(math.radians(centre.y))

    def to_km(coords: np.ndarray) -> np.ndarray:
        return np.column_stack(
            ((coords[:, 0] - centre.x) * scale_x, (coords[:, 1] - centre.y) * KM_PER_DEGREE)
        )

    projected = shapely.transform(area, to_km)
    points = shapely.points(to_km(np.column_stack((lons, lats)).astype(np.float64)))
    return np.asarray(shapely.distance(projected, points), dtype=np.float64)


def area_km2(geometry: dict[str, Any]) -> float:
    area, _perimeter = _GEOD.geometry_area_perimeter(area_shape(geometry))
    return abs(float(area)) / 1e6


# --- the kinds ---------------------------------------------------------------------------------


def _districts_area(spec: DistrictsArea, districts: dict[str, District]) -> ResolvedArea:
    codes = sorted({c.strip() for c in spec.codes if c.strip()})
    if not codes:
        raise InvalidInput("choose at least one district", field="districts")
    unknown = [c for c in codes if c not in districts]
    if unknown:
        raise InvalidInput(f"unknown district(s): {', '.join(unknown)}", field="districts")
    union = shapely.union_all([shape(districts[c].geometry) for c in codes])
    return ResolvedArea("districts", _plain(mapping(union)), tuple(codes))


def _polygon_from_geojson(geojson: str | dict[str, Any], session: Session) -> BaseGeometry:
    if isinstance(geojson, str):
        limit = int(get_setting(session, "warnings.max_upload_bytes"))
        if len(geojson.encode("utf-8")) > limit:
            raise InvalidInput(f"the file is larger than {limit // 1024} KiB", field="geojson")
        try:
            geojson = json.loads(geojson)
        except json.JSONDecodeError as error:
            raise InvalidInput(f"not JSON: {error.msg} at line {error.lineno}", field="geojson") from None
        except RecursionError:
            raise InvalidInput("not JSON: arrays or objects nested too deeply", field="geojson") from None
    geometries = _geometries(geojson)
    polygons: list[BaseGeometry] = []
    for number, raw in enumerate(geometries, start=1):
        if not isinstance(raw, dict) or raw.get("type") not in ("Polygon", "MultiPolygon"):
            kind = raw.get("type") if isinstance(raw, dict) else type(raw).__name__
            raise InvalidInput(
                f"geometry {number} is a {kind}; a warning area must be a polygon", field="geojson"
            )
        try:
            geometry = shape(raw)
        except (ValueError, TypeError, IndexError, AttributeError, OverflowError, GEOSException) as error:
            raise InvalidInput(f"geometry {number} is malformed: {error}", field="geojson") from None
        _check_polygonal(geometry, f"geometry {number}", "geojson")
        polygons.append(geometry)
    if not polygons:
        raise InvalidInput("the file holds no polygon", field="geojson")
    return shapely.union_all(polygons) if len(polygons) > 1 else polygons[0]


def _geometries(geojson: Any) -> list[Any]:
    if not isinstance(geojson, dict):
        raise InvalidInput("expected a GeoJSON object", field="geojson")
    kind = geojson.get("type")
    if kind == "FeatureCollection":
        features = geojson.get("features")
        if not isinstance(features, list):
            raise InvalidInput("a FeatureCollection needs a list of features", field="geojson")
        return [f.get("geometry") if isinstance(f, dict) else f for f in features]
    if kind == "Feature":
        return [geojson.get("geometry")]
    return [geojson]


def _cap_geometry(spec: CapArea, districts: dict[str, District], session: Session) -> BaseGeometry:
    max_radius = float(get_setting(session, "warnings.max_radius_km"))
    parts: list[BaseGeometry] = []
    for number, ring in enumerate(spec.polygons, start=1):
        if len(ring) < 4:
            raise InvalidInput(f"polygon {number} has fewer than 4 points", field="polygon")
        if ring[0] != ring[-1]:
            raise InvalidInput(f"polygon {number} does not end at its first point", field="polygon")
        for lon, lat in ring:
            _check_point(lon, lat)
        polygon = Polygon(ring)
        _check_polygonal(polygon, f"polygon {number}", "polygon")
        parts.append(polygon)
    parts.extend(circle_polygon(c, max_radius) for c in spec.circles)
    known = [c for c in spec.district_codes if c in districts]
    parts.extend(shape(districts[c].geometry) for c in known)
    if not parts:
        raise InvalidInput("the warning has no polygon, circle or district of this territory", field="area")
    return shapely.union_all(parts) if len(parts) > 1 else parts[0]


# --- checks --------------------------------------------------------------------------------


def _check_point(lon: float, lat: float) -> None:
    if not (math.isfinite(lon) and math.isfinite(lat) and -180 <= lon <= 180 and -90 <= lat <= 90):
        raise InvalidInput(f"({lon}, {lat}) is not a longitude/latitude", field="area")


def _check_polygonal(geometry: BaseGeometry, name: str, field: str) -> None:
    if geometry.is_empty:
        raise InvalidInput(f"{name} is empty (no area)", field=field)
    if not isinstance(geometry, Polygon | MultiPolygon):
        raise InvalidInput(f"{name} is not a polygon", field=field)
    west, south, east, north = geometry.bounds
    if west < -180 or east > 180 or south < -90 or north > 90:
        raise InvalidInput(f"{name} has coordinates outside longitude/latitude range", field=field)
    if not geometry.is_valid:
        # explain_validity says e.g. "Self-intersection[121.05 28.05]": where to look.
        raise InvalidInput(f"{name} is not a valid polygon: {explain_validity(geometry)}", field=field)
    if geometry.area == 0:
        raise InvalidInput(f"{name} is empty (no area)", field=field)


def _check_vertices(geometry: BaseGeometry, limit: int) -> None:
    count = int(shapely.get_num_coordinates(geometry))
    if count > limit:
        raise InvalidInput(f"the area has {count:,} points; at most {limit:,} are accepted", field="area")


def _touched_districts(geometry: BaseGeometry, districts: dict[str, District]) -> list[str]:
    shapely.prepare(geometry)
    touched = []
    for code, district in districts.items():
        overlap = geometry.intersection(shape(district.geometry))
        # Sharing only an edge is not being in the area.
        if not overlap.is_empty and overlap.area > 0:
            touched.append(code)
    return touched


def _plain(value: Any) -> Any:
    """Tuples to lists, so the geometry is the same JSON after a round trip through the database."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value
