"""Parsing the territory import's rows: each file's rows checked one by one into typed records.

Checks that need one row only live here (values, lengths against the columns they go to, repeated
keys within a file); `import_write` checks rows against each other and the database.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import shapely
from shapely.errors import ShapelyError
from shapely.geometry import shape as geojson_shape
from shapely.geometry.base import BaseGeometry
from sqlalchemy import Table

from emergency.core.models import (
    AreaType,
    Base,
    Crew,
    CrewKind,
    CrewStatus,
    Customer,
    CustomerKind,
    Depot,
    Device,
    DeviceKind,
    District,
    ImportanceGrade,
    SwitchState,
)
from emergency.network import gis_read
from emergency.network.gis_read import SourceCrs
from emergency.network.import_files import CsvSpec, ParsedFile, ProblemLog, Row, read_csv, read_text

# Default weight for sorting outages by weighted customers (DOMAIN.md section 3), by grade.
DEFAULT_PRIORITY_WEIGHT: dict[ImportanceGrade, float] = {
    ImportanceGrade.SPECIAL: 10.0,
    ImportanceGrade.GRADE1: 5.0,
    ImportanceGrade.GRADE2: 3.0,
    ImportanceGrade.TEMPORARY: 2.0,
    ImportanceGrade.NONE: 1.0,
}
# Life-support customers are not an importance grade but are treated as critical (DOMAIN.md 2).
LIFE_SUPPORT_MIN_WEIGHT = 5.0


@dataclass
class DistrictIn:
    index: int
    code: str | None
    name_en: str | None
    name_zh: str | None
    area_type: AreaType | None
    geometry: dict[str, Any] | None
    shape: BaseGeometry | None
    ok: bool


@dataclass(slots=True)
class Placed:
    """A row with a position; `district` is filled in when the territory is known."""

    line: int
    ok: bool
    lon: float | None
    lat: float | None
    district_code: str | None
    district: str | None = field(default=None, init=False)


@dataclass(slots=True)
class DeviceIn(Placed):
    code: str | None = None
    kind: DeviceKind | None = None
    parent_code: str | None = None
    # The nodes the device stands between (the "nodes" form; derived from the tree otherwise).
    from_node: str | None = None
    to_node: str | None = None
    name: str | None = None
    telemetered: bool | None = None
    normal_state: SwitchState = SwitchState.CLOSED
    rating_kva: float | None = None


@dataclass(slots=True)
class CustomerIn(Placed):
    account_no: str | None = None
    name: str | None = None
    phone: str | None = None
    address: str | None = None
    transformer_code: str | None = None
    kind: CustomerKind = CustomerKind.RESIDENTIAL
    importance: ImportanceGrade = ImportanceGrade.NONE
    backup_hours: float | None = None
    priority_weight: float = 1.0
    contact_name: str | None = None
    contact_phone: str | None = None
    # The customer's smart meter at the head-end, where there is one (fault location asks it).
    meter_id: str | None = None


@dataclass(slots=True)
class CrewIn(Placed):
    code: str | None = None
    name: str | None = None
    kind: CrewKind | None = None
    size: int | None = None
    depot_code: str | None = None
    depot_name: str | None = None
    shift_start: str | None = None
    shift_end: str | None = None
    phone: str | None = None
    status: CrewStatus | None = None


@dataclass
class ImportFiles:
    districts: ParsedFile | None
    network: ParsedFile
    customers: ParsedFile
    crews: ParsedFile | None


def _lengths(table: Table) -> dict[str, int]:
    """Declared string lengths, so a value PostgreSQL would refuse is refused here first."""
    return {c.name: int(length) for c in table.c if (length := getattr(c.type, "length", None))}


def _duplicates(parsed: ParsedFile, key: str, column: str, noun: str, problems: ProblemLog) -> None:
    """Report and drop every repeat of a key; the first row with it stays."""
    first: dict[str, int] = {}
    kept = []
    for row in parsed.rows:
        value = getattr(row, key)
        if value is None:
            kept.append(row)
            continue
        if value in first:
            problems.add(
                parsed.label, row.line, column, f"duplicate {noun} {value!r} (first on line {first[value]})"
            )
            continue
        first[value] = row.line
        kept.append(row)
    parsed.rows = kept


# The tables as `Table`s (a model's `__table__` is typed as any FROM clause).
DEVICES = Base.metadata.tables[Device.__tablename__]
CUSTOMERS = Base.metadata.tables[Customer.__tablename__]
CREWS = Base.metadata.tables[Crew.__tablename__]
DEPOTS = Base.metadata.tables[Depot.__tablename__]
DISTRICTS = Base.metadata.tables[District.__tablename__]
DEVICE_LEN = _lengths(DEVICES)
CUSTOMER_LEN = _lengths(CUSTOMERS)
CREW_LEN = _lengths(CREWS)
DEPOT_LEN = _lengths(DEPOTS)
DISTRICT_LEN = _lengths(DISTRICTS)

# x/y may stand in for lon/lat: positions in the coordinate system --crs names.
POSITION_INSTEAD = (("lon", "lat"), ("x", "y"))
# parent_code (the tree) and from_node/to_node (the nodes) are the two forms; each is optional
# here and `_network_form` requires exactly one of them.
NETWORK_SPEC = CsvSpec(
    "network",
    ("code", "kind", "name", "lon", "lat"),
    (
        "parent_code",
        "from_node",
        "to_node",
        "telemetered",
        "normal_state",
        "rating_kva",
        "district_code",
        "x",
        "y",
    ),
    POSITION_INSTEAD,
)
CUSTOMERS_SPEC = CsvSpec(
    "customers",
    ("account_no", "name", "phone", "address", "lon", "lat", "transformer_code"),
    (
        "district_code",
        "kind",
        "importance",
        "backup_hours",
        "priority_weight",
        "contact_name",
        "contact_phone",
        "meter_id",
        "x",
        "y",
    ),
    POSITION_INSTEAD,
)
CREWS_SPEC = CsvSpec(
    "crews",
    ("code", "name", "kind", "size", "lon", "lat"),
    ("depot_code", "depot_name", "shift_start", "shift_end", "phone", "status", "x", "y"),
    POSITION_INSTEAD,
)
# A GIS layer's attributes: the CSV columns less the position, which is the geometry.
_POSITION_COLUMNS = frozenset({"lon", "lat", "x", "y"})
DEVICE_ATTRIBUTES = tuple(
    c for c in NETWORK_SPEC.required + NETWORK_SPEC.optional if c not in _POSITION_COLUMNS
)
CUSTOMER_ATTRIBUTES = tuple(
    c for c in CUSTOMERS_SPEC.required + CUSTOMERS_SPEC.optional if c not in _POSITION_COLUMNS
)
CONDUCTOR_ATTRIBUTES = ("code", "from_node", "to_node", "name")
# Kinds that may head the network (a source) and so need no from_node.
SOURCE_KINDS = frozenset({DeviceKind.SUBSTATION, DeviceKind.BREAKER})


def parse_network(path: Path, problems: ProblemLog, crs: SourceCrs | None = None) -> ParsedFile:
    """The network file (CSV, or a GIS file's layer of devices with its conductors joined)."""
    parsed = ParsedFile(str(path), [])
    gis = gis_read.is_gis(path)
    conductors: list[Row] = []
    if gis:
        layers = gis_read.open_layers(path, "network", crs, problems)
        if layers is None:
            parsed.readable = False
            return parsed
        parsed.label = layers.points.label
        parsed.unit = "feature"
        parsed.source_crs = layers.points.source.label if layers.points.source else None
        parsed.columns = gis_read.check_attributes(layers.points, DEVICE_ATTRIBUTES, problems)
        if not _has_attributes(parsed, ("code", "kind", "name"), problems):
            return parsed
        for line in layers.lines:
            gis_read.check_attributes(line, CONDUCTOR_ATTRIBUTES, problems)
            conductors.extend(gis_read.line_rows(line, CONDUCTOR_ATTRIBUTES, problems))
        rows: Iterable[Row] = gis_read.point_rows(layers.points, DEVICE_ATTRIBUTES, problems)
    else:
        rows = read_csv(path, NETWORK_SPEC, parsed, problems)
    form: str | None = None
    for row in rows:
        if form is None:
            form = _network_form(parsed, problems, has_conductors=bool(conductors))
            if not form:
                break
        device = _device(row, form, projected=_projected(parsed, crs, gis))
        if device.code is not None:
            parsed.claimed.add(device.code)
        parsed.rows.append(device)
    if form is None:
        form = _network_form(parsed, problems, has_conductors=bool(conductors)) if parsed.readable else "tree"
    parsed.form = form or "tree"
    if not form:
        parsed.readable = False
        return parsed
    if not gis:
        _reproject_csv(parsed, crs, problems)
    if conductors:
        parsed.conductors_joined = join_conductors(parsed, conductors, problems)
    _duplicates(parsed, "code", "code", "device code", problems)
    return parsed


def _has_attributes(parsed: ParsedFile, required: Iterable[str], problems: ProblemLog) -> bool:
    """Whether a GIS layer has every required attribute; reports each one missing."""
    missing = [c for c in required if c not in parsed.columns]
    for column in missing:
        problems.add(parsed.label, None, column, "required attribute is missing")
    parsed.readable = not missing
    return not missing


def _projected(parsed: ParsedFile, crs: SourceCrs | None, gis: bool) -> bool:
    """Whether a CSV's positions are read as plain numbers and reprojected after: x/y columns,
    or lon/lat with a geographic --crs (degrees of another datum, such as CGCS2000). Lon/lat
    columns are degrees: beside a projected --crs (meant for x/y files) they stay WGS84."""
    if gis:
        return False
    return "x" in parsed.columns or (crs is not None and crs.crs.is_geographic and not crs.is_wgs84)


def _network_form(parsed: ParsedFile, problems: ProblemLog, *, has_conductors: bool) -> str:
    """ "tree" or "nodes" from the columns given; "" after reporting a file giving both or neither."""
    columns = parsed.columns
    tree = "parent_code" in columns
    nodes = [c for c in ("from_node", "to_node") if c in columns]
    line = 1 if parsed.unit == "line" else None  # a CSV header, or a whole GIS layer
    if tree and nodes:
        problems.add(
            parsed.label,
            line,
            nodes[0],
            "give either parent_code (a tree) or from_node and to_node (nodes), not both",
        )
        return ""
    if tree and has_conductors:
        problems.add(
            parsed.label, line, "parent_code", "conductors join nodes: give devices from_node and to_node"
        )
        return ""
    if tree:
        return "tree"
    if len(nodes) == 2:
        return "nodes"
    missing = "to_node" if nodes == ["from_node"] else "from_node" if nodes else "parent_code"
    problems.add(
        parsed.label,
        line,
        missing,
        "required column is missing (give parent_code, or from_node and to_node)",
    )
    return ""


def _device(row: Row, form: str, *, projected: bool) -> DeviceIn:
    code = row.text("code", DEVICE_LEN["code"], required=True)
    kind = row.choice("kind", DeviceKind, required=True)
    lon, lat = row.position(projected)
    device = DeviceIn(
        line=row.line,
        ok=True,
        lon=lon,
        lat=lat,
        district_code=row.text("district_code", DISTRICT_LEN["code"]),
        code=code,
        kind=kind,
        # Length is checked against the code column: a longer parent can never match.
        parent_code=row.text("parent_code", DEVICE_LEN["code"]),
        from_node=row.text("from_node", DEVICE_LEN["from_node"]),
        to_node=row.text("to_node", DEVICE_LEN["to_node"]),
        name=row.text("name", DEVICE_LEN["name"], required=True),
        telemetered=row.flag("telemetered"),
        normal_state=row.choice("normal_state", SwitchState) or SwitchState.CLOSED,
        rating_kva=row.number("rating_kva", positive=True, high=1e6),
    )
    if form == "nodes" and kind is not None:
        # A source feeds its to_node; a service transformer ends the network at its from_node.
        if device.from_node is None and kind not in SOURCE_KINDS:
            row.fail("from_node", f"required for a {kind} (only substations and feeder breakers are sources)")
        if device.to_node is None and kind != DeviceKind.TRANSFORMER:
            row.fail("to_node", f"required for a {kind}")
        if device.from_node is not None and device.from_node == device.to_node:
            row.fail("to_node", f"the same node as from_node ({device.from_node!r})")
    device.ok = row.ok
    return device


def _reproject_csv(parsed: ParsedFile, crs: SourceCrs | None, problems: ProblemLog) -> None:
    """Positions given in --crs (lon/lat of another datum, or x/y) as WGS84 longitude/latitude."""
    if not _projected(parsed, crs, gis=False):
        return
    columns = "x/y" if "x" in parsed.columns else "lon/lat"
    if crs is None:
        problems.add(
            parsed.label,
            1,
            "x",
            "x/y columns need the coordinate system they are in: give --crs, e.g. EPSG:4527",
        )
        for row in parsed.rows:
            row.ok = False
        return
    parsed.source_crs = crs.label
    rows = [r for r in parsed.rows if r.lon is not None and r.lat is not None]
    lons, lats = gis_read.to_wgs84([r.lon for r in rows], [r.lat for r in rows], crs)
    for row, lon, lat in zip(rows, lons.tolist(), lats.tolist(), strict=True):
        if not (math.isfinite(lon) and math.isfinite(lat) and -180 <= lon <= 180 and -90 <= lat <= 90):
            problems.add(
                parsed.label,
                row.line,
                columns,
                f"({row.lon}, {row.lat}) cannot be placed: not a position in {crs.label}",
            )
            row.ok = False
            row.lon = row.lat = None
            continue
        # A tenth of a millimetre: the same point gives the same degrees on every import.
        row.lon, row.lat = round(lon, 9), round(lat, 9)


def join_conductors(parsed: ParsedFile, conductors: list[Row], problems: ProblemLog) -> int:
    """Join the nodes at both ends of each conductor into one electrical node (a conductor is a
    closed connection), renaming every device's nodes to their node's name: the first in sort
    order of the names joined, so the same drawing always gives the same names. Returns how
    many conductors were joined."""
    parent: dict[str, str] = {}

    def find(node: str) -> str:
        root = node
        while parent.get(root, root) != root:
            root = parent[root]
        while node != root:  # path compression: a long line of spans stays fast
            parent[node], node = root, parent[node]
        return root

    joined = 0
    for row in conductors:
        ends = [row.text(c, DEVICE_LEN["from_node"], required=True) for c in ("from_node", "to_node")]
        if ends[0] is None or ends[1] is None:
            continue
        a, b = find(ends[0]), find(ends[1])
        if a != b:
            parent[max(a, b)] = min(a, b)
        joined += 1
    for device in parsed.rows:
        if device.from_node is not None:
            device.from_node = find(device.from_node)
        if device.to_node is not None:
            device.to_node = find(device.to_node)
            if device.from_node == device.to_node:
                # A conductor from a device's one side to its other bypasses it.
                problems.add(
                    parsed.label,
                    device.line,
                    "to_node",
                    f"conductors join this {device.kind}'s two sides into one node ({device.to_node!r})",
                    "feature",
                )
                device.ok = False
    return joined


def parse_customers(path: Path, problems: ProblemLog, crs: SourceCrs | None = None) -> ParsedFile:
    """The customers file (CSV, or a GIS file's layer of customers)."""
    parsed = ParsedFile(str(path), [])
    gis = gis_read.is_gis(path)
    rows: Iterable[Row]
    if gis:
        layers = gis_read.open_layers(path, "customers", crs, problems)
        if layers is None:
            parsed.readable = False
            return parsed
        parsed.label = layers.points.label
        parsed.unit = "feature"
        parsed.source_crs = layers.points.source.label if layers.points.source else None
        parsed.columns = gis_read.check_attributes(layers.points, CUSTOMER_ATTRIBUTES, problems)
        if not _has_attributes(parsed, CUSTOMER_ATTRIBUTES[:5], problems):
            return parsed
        rows = gis_read.point_rows(layers.points, CUSTOMER_ATTRIBUTES, problems)
    else:
        rows = read_csv(path, CUSTOMERS_SPEC, parsed, problems)
    for row in rows:
        parsed.rows.append(_customer(row, projected=_projected(parsed, crs, gis)))
    if not gis:
        _reproject_csv(parsed, crs, problems)
    _duplicates(parsed, "account_no", "account_no", "account number", problems)
    _duplicates(parsed, "meter_id", "meter_id", "meter id", problems)
    return parsed


def _customer(row: Row, *, projected: bool) -> CustomerIn:
    lon, lat = row.position(projected)
    kind = row.choice("kind", CustomerKind) or CustomerKind.RESIDENTIAL
    importance = row.choice("importance", ImportanceGrade) or ImportanceGrade.NONE
    weight = row.number("priority_weight", positive=True, high=1000.0)
    if weight is None:
        weight = DEFAULT_PRIORITY_WEIGHT[importance]
        if kind == CustomerKind.LIFE_SUPPORT:
            weight = max(weight, LIFE_SUPPORT_MIN_WEIGHT)
    customer = CustomerIn(
        line=row.line,
        ok=True,
        lon=lon,
        lat=lat,
        district_code=row.text("district_code", DISTRICT_LEN["code"]),
        account_no=row.text("account_no", CUSTOMER_LEN["account_no"], required=True),
        name=row.text("name", CUSTOMER_LEN["name"], required=True),
        phone=row.phone("phone", CUSTOMER_LEN["phone"]),
        address=row.text("address", CUSTOMER_LEN["address"]),
        transformer_code=row.text("transformer_code", DEVICE_LEN["code"], required=True),
        kind=kind,
        importance=importance,
        backup_hours=row.number("backup_hours", low=0.0, high=10_000.0),
        priority_weight=weight,
        contact_name=row.text("contact_name", CUSTOMER_LEN["contact_name"]),
        contact_phone=row.phone("contact_phone", CUSTOMER_LEN["contact_phone"]),
        meter_id=row.text("meter_id", CUSTOMER_LEN["meter_id"]),
    )
    customer.ok = row.ok
    return customer


def parse_crews(path: Path, problems: ProblemLog, crs: SourceCrs | None = None) -> ParsedFile:
    parsed = ParsedFile(str(path), [])
    for row in read_csv(path, CREWS_SPEC, parsed, problems):
        lon, lat = row.position(_projected(parsed, crs, gis=False))
        crew = CrewIn(
            line=row.line,
            ok=True,
            lon=lon,
            lat=lat,
            district_code=None,
            code=row.text("code", CREW_LEN["code"], required=True),
            name=row.text("name", CREW_LEN["name"], required=True),
            kind=row.choice("kind", CrewKind, required=True),
            size=row.integer("size", low=1, high=100, required=True),
            depot_code=row.text("depot_code", DEPOT_LEN["code"]),
            depot_name=row.text("depot_name", DEPOT_LEN["name_en"]),
            shift_start=row.clock_time("shift_start", "08:00"),
            shift_end=row.clock_time("shift_end", "20:00"),
            phone=row.phone("phone", CREW_LEN["phone"]),
            status=row.choice("status", CrewStatus),
        )
        crew.ok = row.ok
        parsed.rows.append(crew)
    _reproject_csv(parsed, crs, problems)
    _duplicates(parsed, "code", "code", "crew code", problems)
    return parsed


def parse_districts(path: Path, problems: ProblemLog) -> ParsedFile:
    label = str(path)
    parsed = ParsedFile(label, [])
    text = read_text(path, "districts", problems)
    if text is None:
        parsed.readable = False
        return parsed
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        problems.add(label, exc.lineno, "", f"not valid JSON: {exc.msg} (column {exc.colno})")
        parsed.readable = False
        return parsed
    except RecursionError:
        problems.add(label, None, "", "not valid JSON: nested too deeply")
        parsed.readable = False
        return parsed
    if not isinstance(document, dict) or document.get("type") != "FeatureCollection":
        problems.add(
            label, None, "", "not a GeoJSON FeatureCollection (the top level needs type FeatureCollection)"
        )
        parsed.readable = False
        return parsed
    features = document.get("features")
    if not isinstance(features, list):
        problems.add(label, None, "features", "must be a list of features")
        parsed.readable = False
        return parsed
    for index, feature in enumerate(features):
        parsed.rows.append(_parse_district(label, index, feature, problems))
    parsed.claimed = {d.code for d in parsed.rows if d.code is not None}
    first: dict[str, int] = {}
    kept = []
    for district in parsed.rows:
        if district.code is not None and district.code in first:
            problems.add(
                label,
                district.index,
                "code",
                f"duplicate district code {district.code!r} (first at feature {first[district.code]})",
                "feature",
            )
            continue
        if district.code is not None:
            first[district.code] = district.index
        kept.append(district)
    parsed.rows = kept
    return parsed


def _parse_district(label: str, index: int, feature: Any, problems: ProblemLog) -> DistrictIn:
    district = DistrictIn(index, None, None, None, None, None, None, ok=True)

    def fail(column: str, reason: str) -> None:
        problems.add(label, index, column, reason, "feature")
        district.ok = False

    if not isinstance(feature, dict) or feature.get("type") != "Feature":
        fail("", "not a GeoJSON Feature")
        return district
    properties = feature.get("properties") or {}
    if not isinstance(properties, dict):
        fail("properties", "must be an object")
        return district

    def text(name: str, max_len: int, required: bool) -> str | None:
        value = properties.get(name)
        # GIS tools often write numeric codes as numbers; they are still codes.
        if isinstance(value, int | float) and not isinstance(value, bool):
            value = str(value)
        if value is None or (isinstance(value, str) and not value.strip()):
            if required:
                fail(name, "required property is missing or empty")
            return None
        if not isinstance(value, str):
            fail(name, "must be text")
            return None
        value = value.strip()
        if len(value) > max_len:
            fail(name, f"longer than {max_len} characters ({len(value)})")
            return None
        return value

    district.code = text("code", DISTRICT_LEN["code"], True)
    district.name_en = text("name_en", DISTRICT_LEN["name_en"], True)
    district.name_zh = text("name_zh", DISTRICT_LEN["name_zh"], False) or district.name_en
    area_type = text("area_type", 24, True)
    if area_type is not None:
        try:
            district.area_type = AreaType(area_type.lower())
        except ValueError:
            allowed = ", ".join(a.value for a in AreaType)
            fail("area_type", f"unknown value {area_type!r} (allowed: {allowed})")
    district.geometry, district.shape = _district_geometry(feature.get("geometry"), fail)
    return district


def _district_geometry(
    geometry: Any, fail: Callable[[str, str], None]
) -> tuple[dict[str, Any] | None, BaseGeometry | None]:
    """The GeoJSON geometry and its shape; the shape is kept (repaired) even when invalid, so
    points inside a district with a faulty boundary are not also reported as outside."""
    if geometry is None:
        fail("geometry", "is missing (a Polygon or MultiPolygon is required)")
        return None, None
    if not isinstance(geometry, dict) or geometry.get("type") not in ("Polygon", "MultiPolygon"):
        kind = geometry.get("type") if isinstance(geometry, dict) else type(geometry).__name__
        fail("geometry", f"must be a Polygon or MultiPolygon, not {kind}")
        return None, None
    clean = {"type": geometry["type"], "coordinates": geometry.get("coordinates")}
    try:
        geom = geojson_shape(clean)
    except (ValueError, TypeError, AttributeError, IndexError, KeyError, ShapelyError) as exc:
        fail("geometry", f"not a valid GeoJSON {geometry['type']}: {exc}")
        return None, None
    coords = shapely.get_coordinates(geom)
    if geom.is_empty or len(coords) == 0:
        fail("geometry", "is empty")
        return None, None
    if (
        not np.isfinite(coords).all()
        or (np.abs(coords[:, 0]) > 180).any()
        or (np.abs(coords[:, 1]) > 90).any()
    ):
        fail("geometry", "coordinates must be longitude, latitude in degrees (WGS84), not projected")
        return None, None
    if not geom.is_valid:
        fail("geometry", f"invalid polygon: {shapely.is_valid_reason(geom)}")
        return clean, shapely.make_valid(geom)
    if geom.area == 0:
        fail("geometry", "has no area")
        return None, None
    return clean, geom
