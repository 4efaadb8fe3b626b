"""Reconciling and writing the territory import: rows against each other and what is stored, then
one bulk insert or update per table.

Rows are matched to what is stored by their natural key (district code, device code, account
number, crew code): new rows are inserted, known rows updated, nothing is deleted. The
radial-network checks run on the union of what is stored and what the files bring, because a
network file may carry only the part of the network that changed.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
import shapely
from shapely.errors import ShapelyError
from shapely.geometry import shape as geojson_shape
from shapely.geometry.base import BaseGeometry
from sqlalchemy import Table, bindparam, insert, select, update
from sqlalchemy.orm import Session

from emergency.core.clock import Clock
from emergency.core.models import TELEMETERED_KINDS, CrewStatus, DeviceKind
from emergency.network import import_trace
from emergency.network.import_check import (
    CREWS,
    CUSTOMERS,
    DEPOTS,
    DEVICES,
    DISTRICTS,
    CrewIn,
    CustomerIn,
    DeviceIn,
    DistrictIn,
    ImportFiles,
    Placed,
)
from emergency.network.import_files import ParsedFile, ProblemLog
from emergency.network.model import RadialNetwork

# How a file already in WGS84 longitude/latitude names its coordinate system.
WGS84_LABEL = "EPSG:4326 "
BUSY_CREW_STATUSES = frozenset({CrewStatus.DISPATCHED, CrewStatus.EN_ROUTE, CrewStatus.ON_SITE})


@dataclass(frozen=True)
class ImportCounts:
    """What happened to the rows of one kind: matched rows are updated only if a value differs."""

    inserted: int = 0
    updated: int = 0
    unchanged: int = 0

    @property
    def total(self) -> int:
        return self.inserted + self.updated + self.unchanged

    def describe(self, noun: str) -> str:
        parts = [
            f"{n} {label}"
            for n, label in ((self.inserted, "new"), (self.updated, "updated"), (self.unchanged, "unchanged"))
            if n
        ]
        return f"{self.total} {noun}" + (f" ({', '.join(parts)})" if parts else "")


@dataclass(frozen=True)
class ImportSummary:
    """Rows inserted, updated and left unchanged per kind; str() is a one-line summary."""

    districts: ImportCounts
    devices: ImportCounts
    customers: ImportCounts
    crews: ImportCounts
    depots: ImportCounts
    # The coordinate system(s) positions were given in, when not WGS84 lon/lat, and how many
    # conductors of a GIS line layer were joined into nodes.
    source_crs: str | None = None
    conductors_joined: int = 0

    def to_dict(self) -> dict[str, Any]:
        counts: dict[str, Any] = {
            kind: {"inserted": c.inserted, "updated": c.updated, "unchanged": c.unchanged}
            for kind, c in self._kinds()
        }
        if self.source_crs is not None:
            counts["source_crs"] = self.source_crs
        if self.conductors_joined:
            counts["conductors_joined"] = self.conductors_joined
        return counts

    def _kinds(self) -> list[tuple[str, ImportCounts]]:
        return [
            ("districts", self.districts),
            ("devices", self.devices),
            ("customers", self.customers),
            ("crews", self.crews),
            ("depots", self.depots),
        ]

    def __str__(self) -> str:
        text = "imported " + "; ".join(counts.describe(kind) for kind, counts in self._kinds())
        if self.conductors_joined:
            text += f"; {self.conductors_joined} conductors joined into nodes"
        if self.source_crs is not None and self.source_crs.startswith(WGS84_LABEL):
            text += f"; positions in {self.source_crs}"
        elif self.source_crs is not None:
            text += f"; positions reprojected from {self.source_crs} to WGS84"
        return text


@dataclass
class StoredTerritory:
    """The stored territory, keyed by natural key."""

    districts: dict[str, Any]
    devices: dict[str, Any]
    device_code: dict[int, str]
    customers: dict[str, Any]
    crews: dict[str, Any]
    depots: dict[str, Any]

    @classmethod
    def load(cls, session: Session) -> StoredTerritory:
        devices = {row.code: row for row in session.execute(select(DEVICES))}
        return cls(
            districts={row.code: row for row in session.execute(select(DISTRICTS))},
            devices=devices,
            device_code={row.id: code for code, row in devices.items()},
            customers={row.account_no: row for row in session.execute(select(CUSTOMERS))},
            crews={row.code: row for row in session.execute(select(CREWS))},
            depots={row.code: row for row in session.execute(select(DEPOTS))},
        )


class _Territory:
    """Finds the district containing a point; a point on a shared border goes to the first code."""

    def __init__(self, shapes: dict[str, BaseGeometry]) -> None:
        self.codes = sorted(shapes)
        self.tree = shapely.STRtree([shapes[code] for code in self.codes]) if shapes else None

    def locate(self, lons: Sequence[float], lats: Sequence[float]) -> list[str | None]:
        if self.tree is None or not lons:
            return [None] * len(lons)
        points = shapely.points(np.asarray(lons, dtype=float), np.asarray(lats, dtype=float))
        inputs, districts = self.tree.query(points, predicate="covered_by")
        best = np.full(len(lons), len(self.codes), dtype=np.int64)
        np.minimum.at(best, inputs, districts)
        return [self.codes[b] if b < len(self.codes) else None for b in best]


@dataclass
class ImportPlan:
    districts: list[DistrictIn]
    devices: list[DeviceIn]
    # code -> (parent code, feeder code) for every device in the union
    links: dict[str, tuple[str | None, str | None]]
    customers: list[CustomerIn]
    crews: list[CrewIn]
    new_depots: dict[str, tuple[str, CrewIn]]
    conductors_joined: int = 0
    source_crs: str | None = None


def _source_crs(files: ImportFiles) -> str | None:
    """The coordinate systems positions were given in, when not WGS84 longitude/latitude."""
    named = [p.source_crs for p in (files.network, files.customers, files.crews) if p and p.source_crs]
    return ", ".join(dict.fromkeys(named)) or None


def _connect(
    parsed: ParsedFile, stored: StoredTerritory, problems: ProblemLog
) -> dict[str, tuple[str | None, str | None]] | None:
    """Every device's nodes and its place in the supply traced from the sources.

    A tree file passes the radial checks first (their messages name the parent to fix); its
    nodes are then derived, and both forms are traced the same way.
    """
    if parsed.form == "tree" and _check_network(parsed, stored, problems) is None:
        return None
    if not parsed.readable or not all(d.ok for d in parsed.rows):
        return None
    nodes = import_trace.stored_nodes(stored.devices, stored.device_code)
    if parsed.form == "tree":
        import_trace.tree_nodes(parsed, nodes)
    return import_trace.trace_import(parsed, stored.devices, nodes, problems)


def reconcile(files: ImportFiles, stored: StoredTerritory, problems: ProblemLog) -> ImportPlan | None:
    """Run the checks that need more than one row: places, references, the radial network."""
    district_rows = files.districts.rows if files.districts else []
    shapes: dict[str, BaseGeometry] = {}
    for code, row in stored.districts.items():
        try:
            shapes[code] = geojson_shape(row.geometry)
        except (ValueError, TypeError, AttributeError, ShapelyError):
            continue
    for district in district_rows:
        if district.code is not None:
            shapes.pop(district.code, None)
            if district.shape is not None:
                shapes[district.code] = district.shape
    defined = set(stored.districts) | (files.districts.claimed if files.districts else set())
    # With a districts file that could not be read, or a district without a usable boundary,
    # "outside the territory" and "not defined" would be wrong for many rows: the file's own
    # errors come first.
    districts_usable = bool(defined) and (
        files.districts is None
        or (files.districts.readable and all(d.shape is not None for d in district_rows))
    )
    if not defined and files.districts is None:
        problems.add(
            files.network.label,
            None,
            "",
            "no districts are defined: import a districts GeoJSON file with the network or before it",
        )
    territory = _Territory(shapes)
    for parsed in (files.network, files.customers, files.crews):
        if parsed is not None:
            _place(parsed, territory, defined, problems, report=districts_usable)

    links = _connect(files.network, stored, problems)
    _check_customers(files, stored, problems)
    new_depots = _check_crews(files.crews, stored, problems) if files.crews else {}
    if problems or links is None:
        return None
    return ImportPlan(
        districts=district_rows,
        devices=files.network.rows,
        links=links,
        conductors_joined=files.network.conductors_joined,
        source_crs=_source_crs(files),
        customers=files.customers.rows,
        crews=files.crews.rows if files.crews else [],
        new_depots=new_depots,
    )


def _place(
    parsed: ParsedFile, territory: _Territory, defined: set[str], problems: ProblemLog, *, report: bool
) -> None:
    """Give each row its district: the code it names, or the district its point lies in."""
    rows = [r for r in parsed.rows if r.lon is not None and r.lat is not None]
    found = territory.locate([r.lon for r in rows], [r.lat for r in rows])
    outside = [r for r, code in zip(rows, found, strict=True) if code is None]
    swapped = territory.locate([r.lat for r in outside], [r.lon for r in outside])
    swapped_in = {id(r) for r, code in zip(outside, swapped, strict=True) if code is not None}
    for row, code in zip(rows, found, strict=True):
        if code is None:
            if report and territory.codes:
                hint = " (are lon and lat swapped?)" if id(row) in swapped_in else ""
                problems.add(
                    parsed.label,
                    row.line,
                    "lon/lat",
                    f"({row.lon}, {row.lat}) is outside every district of the territory{hint}",
                    parsed.unit,
                )
            row.ok = False
            continue
        row.district = code
    for row in parsed.rows:
        if row.district_code is None:
            continue
        if row.district_code not in defined:
            if not report:
                row.ok = False
                continue
            problems.add(
                parsed.label,
                row.line,
                "district_code",
                f"district {row.district_code!r} is not defined (not in the districts file or the database)",
                parsed.unit,
            )
            row.ok = False
        else:
            # A named district wins over the one the point falls in: billing districts do not
            # always follow the drawn boundary near a border.
            row.district = row.district_code


def _check_network(
    parsed: ParsedFile, stored: StoredTerritory, problems: ProblemLog
) -> dict[str, tuple[str | None, str | None]] | None:
    """Check the union of stored and imported devices is radial; return parent and feeder by code."""
    # code -> (kind or None when the row's kind was unreadable, parent code, file row or None)
    union: dict[str, tuple[DeviceKind | None, str | None, DeviceIn | None]] = {}
    for code, row in stored.devices.items():
        union[code] = (DeviceKind(row.kind), stored.device_code.get(row.parent_id), None)
    for device in parsed.rows:
        if device.code is not None:
            union[device.code] = (device.kind, device.parent_code, device)
    codes = list(union)
    index = {code: i for i, code in enumerate(codes)}
    # Rows whose kind could not be read stand in as roots, and problems next to them are dropped:
    # the row's own error says what to fix, and guessing its kind would only add noise.
    stand_ins: set[int] = set()
    rows: list[tuple[int, int | None, DeviceKind, str]] = []
    for i, code in enumerate(codes):
        kind, parent_code, _ = union[code]
        if kind is None:
            stand_ins.add(i)
            rows.append((i, None, DeviceKind.SUBSTATION, code))
        else:
            # An id no row has makes RadialNetwork mark the device an orphan.
            parent = None if parent_code is None else index.get(parent_code, len(codes))
            rows.append((i, parent, kind, code))
    network = RadialNetwork.from_rows(rows)
    found = False
    for problem in network.problems():
        i = index[problem.subject]
        parent = int(network.parent[i])
        if i in stand_ins or parent in stand_ins:
            continue
        found = True
        _, parent_code, row = union[problem.subject]
        reason = problem.reason
        if parent == -2:
            reason = f"parent {parent_code!r} is not a device in the network file or the database (orphan)"
        if row is not None:
            problems.add(parsed.label, row.line, "parent_code", reason, parsed.unit)
            continue
        # A stored device broken by an imported row: report it on that row, the one to fix (its
        # parent for a wrong kind; for a cycle, the first imported device up the loop).
        culprit = _first_imported_above(i, network, union, codes)
        if culprit is not None:
            stored_kind = stored.devices.get(parent_code) if parent_code is not None else None
            changed_kind = stored_kind is not None and DeviceKind(stored_kind.kind) != culprit.kind
            problems.add_once(
                parsed.label,
                culprit.line,
                "kind" if changed_kind else "parent_code",
                f"stored device {problem.subject}: {reason}",
                parsed.unit,
            )
        else:
            problems.add_once(parsed.label, None, "", f"stored device {problem.subject}: {reason}")
    if found or stand_ins or not all(d.ok for d in parsed.rows):
        return None
    feeder = np.full(len(codes), -1, dtype=np.int64)
    for i in network.topological_order():
        if network.kinds[i] == DeviceKind.BREAKER:
            feeder[i] = i
        elif network.parent[i] >= 0:
            feeder[i] = feeder[network.parent[i]]
    return {
        code: (union[code][1], codes[feeder[i]] if feeder[i] >= 0 else None) for i, code in enumerate(codes)
    }


def _first_imported_above(
    start: int,
    network: RadialNetwork,
    union: dict[str, tuple[DeviceKind | None, str | None, DeviceIn | None]],
    codes: list[str],
) -> DeviceIn | None:
    """The nearest device above `start` that came from the file (a loop is walked once)."""
    node = int(network.parent[start])
    for _ in range(len(codes)):
        if node < 0 or node == start:
            return None
        row = union[codes[node]][2]
        if row is not None:
            return row
        node = int(network.parent[node])
    return None


def _device_kinds(files: ImportFiles, stored: StoredTerritory) -> dict[str, DeviceKind | None]:
    kinds: dict[str, DeviceKind | None] = {code: DeviceKind(row.kind) for code, row in stored.devices.items()}
    for code in files.network.claimed:
        kinds[code] = None  # claimed by a row that may be broken; replaced below when readable
    for device in files.network.rows:
        if device.code is not None:
            kinds[device.code] = device.kind
    return kinds


def _check_customers(files: ImportFiles, stored: StoredTerritory, problems: ProblemLog) -> None:
    if not files.network.readable:
        return
    kinds = _device_kinds(files, stored)
    label = files.customers.label
    for customer in files.customers.rows:
        code = customer.transformer_code
        if code is None:
            continue
        if code not in kinds:
            problems.add(
                label,
                customer.line,
                "transformer_code",
                f"no device {code!r} in the network file or the database",
                files.customers.unit,
            )
            customer.ok = False
        elif kinds[code] is not None and kinds[code] != DeviceKind.TRANSFORMER:
            problems.add(
                label,
                customer.line,
                "transformer_code",
                f"{code!r} is a {kinds[code]}, not a transformer",
                files.customers.unit,
            )
            customer.ok = False
    # A stored transformer the network file turns into another kind must not strand the stored
    # customers it supplies, unless the customers file moves them.
    retyped = {
        stored.devices[d.code].id: d
        for d in files.network.rows
        if d.code in stored.devices
        and d.kind not in (None, DeviceKind.TRANSFORMER)
        and DeviceKind(stored.devices[d.code].kind) == DeviceKind.TRANSFORMER
    }
    if retyped and files.customers.readable:
        moved = {c.account_no for c in files.customers.rows}
        stranded: dict[int, int] = {}
        for account, row in stored.customers.items():
            if row.transformer_id in retyped and account not in moved:
                stranded[row.transformer_id] = stranded.get(row.transformer_id, 0) + 1
        for device_id, count in stranded.items():
            device = retyped[device_id]
            problems.add(
                files.network.label,
                device.line,
                "kind",
                f"{count} stored customers are supplied by this transformer; keep kind transformer "
                "or move them to another transformer in the customers file",
                files.network.unit,
            )


def _check_crews(
    parsed: ParsedFile, stored: StoredTerritory, problems: ProblemLog
) -> dict[str, tuple[str, CrewIn]]:
    """Check depot references; return the depots to create: code -> (name, first crew naming it)."""
    new: dict[str, tuple[str, CrewIn]] = {}
    for crew in parsed.rows:
        code = crew.depot_code
        if code is None:
            if crew.depot_name is not None:
                problems.add(parsed.label, crew.line, "depot_code", "required when depot_name is given")
            continue
        if code in stored.depots:
            continue
        name = crew.depot_name or code
        if code not in new:
            new[code] = (name, crew)
        elif crew.depot_name is not None and crew.depot_name != new[code][0]:
            problems.add(
                parsed.label,
                crew.line,
                "depot_name",
                f"depot {code!r} is named {new[code][0]!r} on line {new[code][1].line}",
            )
    return new


# --- writing ------------------------------------------------------------------------------------


def write_plan(session: Session, clock: Clock, plan: ImportPlan, stored: StoredTerritory) -> ImportSummary:
    now = clock.now()
    district_counts, _ = _upsert(
        session,
        DISTRICTS,
        "code",
        [_district_values(d) for d in plan.districts],
        stored.districts,
        versioned=False,
    )
    district_ids = _ids(session, DISTRICTS, "code")

    depot_counts, _ = _upsert(
        session,
        DEPOTS,
        "code",
        [
            {
                "code": code,
                "name_en": name,
                "name_zh": name,
                "district_id": district_ids[_placed_in(crew)],
                "lon": crew.lon,
                "lat": crew.lat,
                "is_staging": False,
            }
            for code, (name, crew) in plan.new_depots.items()
        ],
        stored.depots,
        versioned=False,
    )
    depot_ids = _ids(session, DEPOTS, "code")

    device_counts, unchanged_devices = _upsert(
        session,
        DEVICES,
        "code",
        [_device_values(d, district_ids) for d in plan.devices],
        stored.devices,
        versioned=True,
        on_insert={"scada_state": None, "scada_state_at": None, "parent_id": None, "feeder_id": None},
    )
    moved = _link_devices(session, plan, stored)
    # A row whose only change is its parent (or feeder) was counted unchanged above.
    relinked = len(moved & unchanged_devices)
    device_counts = ImportCounts(
        device_counts.inserted, device_counts.updated + relinked, device_counts.unchanged - relinked
    )
    device_ids = _ids(session, DEVICES, "code")

    customer_counts, _ = _upsert(
        session,
        CUSTOMERS,
        "account_no",
        [_customer_values(c, district_ids, device_ids) for c in plan.customers],
        stored.customers,
        versioned=True,
    )
    crew_counts, _ = _upsert(
        session,
        CREWS,
        "code",
        [_crew_values(c, stored.crews.get(c.code) if c.code else None, depot_ids, now) for c in plan.crews],
        stored.crews,
        versioned=True,
    )
    return ImportSummary(
        districts=district_counts,
        devices=device_counts,
        customers=customer_counts,
        crews=crew_counts,
        depots=depot_counts,
        source_crs=plan.source_crs,
        conductors_joined=plan.conductors_joined,
    )


def _placed_in(row: Placed) -> str:
    """The district of a row that passed the checks (every such row has one)."""
    assert row.district is not None
    return row.district


def _district_values(district: DistrictIn) -> dict[str, Any]:
    assert district.shape is not None
    centroid = district.shape.centroid
    return {
        "code": district.code,
        "name_en": district.name_en,
        "name_zh": district.name_zh,
        "area_type": district.area_type,
        "geometry": district.geometry,
        "centroid_lon": float(centroid.x),
        "centroid_lat": float(centroid.y),
    }


def _device_values(device: DeviceIn, district_ids: dict[str, int]) -> dict[str, Any]:
    assert device.kind is not None and device.district is not None
    telemetered = device.telemetered
    if telemetered is None:
        telemetered = device.kind in TELEMETERED_KINDS
    return {
        "code": device.code,
        "kind": device.kind,
        "name": device.name,
        "district_id": district_ids[device.district],
        "lon": device.lon,
        "lat": device.lat,
        "telemetered": telemetered,
        "normal_state": device.normal_state,
        "rating_kva": device.rating_kva,
        "from_node": device.from_node,
        "to_node": device.to_node,
    }


def _customer_values(
    customer: CustomerIn, district_ids: dict[str, int], device_ids: dict[str, int]
) -> dict[str, Any]:
    assert customer.district is not None and customer.transformer_code is not None
    return {
        "account_no": customer.account_no,
        "name": customer.name,
        "phone": customer.phone,
        "address": customer.address,
        "lon": customer.lon,
        "lat": customer.lat,
        "transformer_id": device_ids[customer.transformer_code],
        "district_id": district_ids[customer.district],
        "kind": customer.kind,
        "importance": customer.importance,
        "backup_hours": customer.backup_hours,
        "priority_weight": customer.priority_weight,
        "contact_name": customer.contact_name,
        "contact_phone": customer.contact_phone,
        "meter_id": customer.meter_id,
    }


def _crew_values(crew: CrewIn, old: Any, depot_ids: dict[str, int], now: datetime) -> dict[str, Any]:
    values: dict[str, Any] = {
        "code": crew.code,
        "name": crew.name,
        "kind": crew.kind,
        "size": crew.size,
        "home_depot_id": depot_ids[crew.depot_code] if crew.depot_code else None,
        "shift_start": crew.shift_start,
        "shift_end": crew.shift_end,
        "phone": crew.phone,
        "lon": crew.lon,
        "lat": crew.lat,
        "position_at": now,
        "status": crew.status or CrewStatus.AVAILABLE,
        "status_at": now,
    }
    if old is None:
        return values
    if CrewStatus(old.status) in BUSY_CREW_STATUSES:
        # A crew out on a job keeps its live position and status: a roster import must not
        # make a dispatched crew look free (a double booking) or move it on the map.
        values.update(lon=old.lon, lat=old.lat, status=old.status)
    elif crew.status is None:
        values["status"] = old.status
    # The times say when position and status were last set; keep them when neither changes.
    if (values["lon"], values["lat"]) == (old.lon, old.lat):
        values["position_at"] = old.position_at
    if values["status"] == old.status:
        values["status_at"] = old.status_at
    return values


def _ids(session: Session, table: Table, key: str) -> dict[str, int]:
    return {k: i for k, i in session.execute(select(table.c[key], table.c.id))}


def _upsert(
    session: Session,
    table: Table,
    key: str,
    wanted: list[dict[str, Any]],
    stored: dict[str, Any],
    *,
    versioned: bool,
    on_insert: dict[str, Any] | None = None,
) -> tuple[ImportCounts, set[str]]:
    """Insert new rows and update changed ones in bulk; return the counts and the unchanged keys."""
    new: list[dict[str, Any]] = []
    changed: list[dict[str, Any]] = []
    unchanged: set[str] = set()
    for values in wanted:
        old = stored.get(values[key])
        if old is None:
            new.append({**values, **(on_insert or {}), **({"version": 1} if versioned else {})})
        elif any(getattr(old, column) != value for column, value in values.items()):
            changed.append({"p_id": old.id, **{f"p_{c}": v for c, v in values.items()}})
        else:
            unchanged.add(values[key])
    if new:
        session.execute(insert(table), new)
    if changed:
        session.execute(_update_by_id(table, [c for c in wanted[0] if c != key], versioned), changed)
    return ImportCounts(len(new), len(changed), len(unchanged)), unchanged


def _update_by_id(table: Table, columns: Iterable[str], versioned: bool) -> Any:
    values: dict[str, Any] = {c: bindparam(f"p_{c}") for c in columns}
    if versioned:
        # Bulk statements bypass the ORM's version counter; bump it so an edit made from a
        # stale copy of the row still fails instead of overwriting the import.
        values["version"] = table.c.version + 1
    return update(table).where(table.c.id == bindparam("p_id")).values(values)


def _link_devices(session: Session, plan: ImportPlan, stored: StoredTerritory) -> set[str]:
    """Set parent_id and feeder_id of every device whose links differ; return their codes."""
    ids = _ids(session, DEVICES, "code")
    # New rows were inserted without links a moment ago: completing them is not a new version.
    fresh: list[dict[str, Any]] = []
    changed: list[dict[str, Any]] = []
    moved: set[str] = set()
    for code, (parent_code, feeder_code) in plan.links.items():
        parent_id = ids[parent_code] if parent_code else None
        feeder_id = ids[feeder_code] if feeder_code else None
        old = stored.devices.get(code)
        if old is not None and (old.parent_id, old.feeder_id) == (parent_id, feeder_id):
            continue
        (fresh if old is None else changed).append(
            {"p_id": ids[code], "p_parent_id": parent_id, "p_feeder_id": feeder_id}
        )
        moved.add(code)
    for rows, versioned in ((fresh, False), (changed, True)):
        if rows:
            session.execute(_update_by_id(DEVICES, ["parent_id", "feeder_id"], versioned), rows)
    return moved
