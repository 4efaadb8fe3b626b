"""The radial distribution network as arrays: validation, paths to the substation, subtree sums.

Held in memory because trouble-call analysis walks it for every report; a million-customer
territory has only tens of thousands of devices, a few megabytes of integers.
"""

from __future__ import annotations

import gc
import heapq
import json
import math
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, NamedTuple

import numpy as np
import shapely
import shapely.geometry
from sqlalchemy import bindparam, func, select, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.orm.exc import StaleDataError
from sqlalchemy.sql import Executable

from emergency.core import audit
from emergency.core.actor import Actor
from emergency.core.bulk import driver_rows, on_sqlite, sqlite_utc_text, sqlite_utc_time
from emergency.core.clock import Clock
from emergency.core.ids import IdBlock
from emergency.core.models import (
    ACTIVE_OUTAGE_STATES,
    DEVICE_CHILDREN,
    AssignmentStatus,
    CrewAssignment,
    Customer,
    CustomerKind,
    Device,
    DeviceKind,
    District,
    EtrConfidence,
    EtrSource,
    ImportanceGrade,
    Outage,
    OutageState,
    Report,
    ReportKind,
    ReportStatus,
    SlaBreach,
    SwitchState,
)
from emergency.core.settings import get_setting
from emergency.core.vocabulary import IMPORTANCE_ORDER, SUPPLY_LOSS_KINDS
from emergency.dispatch.outages import furthest, record_restoration


@dataclass(frozen=True)
class NetworkProblem:
    device_code: str
    reason: str


@dataclass
class RadialNetwork:
    """Devices in index order; `parent[i]` is the index of i's parent, -1 for a root."""

    ids: np.ndarray
    codes: list[str]
    kinds: list[DeviceKind]
    parent: np.ndarray
    index_of: dict[int, int] = field(repr=False)
    lon: np.ndarray | None = field(default=None, repr=False)
    lat: np.ndarray | None = field(default=None, repr=False)
    _order: np.ndarray | None = field(default=None, repr=False)
    _children: dict[int, list[int]] | None = field(default=None, repr=False)

    @classmethod
    def from_rows(cls, rows: Iterable[tuple[int, int | None, str | DeviceKind, str]]) -> RadialNetwork:
        """Build from (id, parent_id, kind, code) rows; an unknown parent id becomes -2 (orphan)."""
        rows = list(rows)
        ids = np.array([r[0] for r in rows], dtype=np.int64)
        index_of = {int(device_id): i for i, device_id in enumerate(ids)}
        parent = np.array([-1 if r[1] is None else index_of.get(int(r[1]), -2) for r in rows], dtype=np.int64)
        return cls(
            ids=ids,
            codes=[r[3] for r in rows],
            kinds=[DeviceKind(r[2]) for r in rows],
            parent=parent,
            index_of=index_of,
        )

    def __len__(self) -> int:
        return len(self.ids)

    def problems(self) -> list[NetworkProblem]:
        """What makes this not a radial network of substations -> ... -> transformers."""
        found: list[NetworkProblem] = []
        for i, p in enumerate(self.parent):
            kind = self.kinds[i]
            if p == -2:
                found.append(NetworkProblem(self.codes[i], "parent is not a known device (orphan)"))
            elif p == -1:
                if kind != DeviceKind.SUBSTATION:
                    found.append(NetworkProblem(self.codes[i], f"a {kind} must have a parent device"))
            elif kind not in DEVICE_CHILDREN[self.kinds[p]]:
                found.append(
                    NetworkProblem(
                        self.codes[i], f"a {kind} cannot hang from a {self.kinds[p]} ({self.codes[p]})"
                    )
                )
        for i in self._cycle_members():
            found.append(NetworkProblem(self.codes[i], "is part of a cycle: the network must be radial"))
        return found

    def _cycle_members(self) -> list[int]:
        """Indices that never reach a root by following parents."""
        # 0 unknown, 1 reaches a root, 2 on the current walk, 3 leads into a cycle
        state = np.zeros(len(self), dtype=np.int8)
        in_cycle: list[int] = []
        for start in range(len(self)):
            walk: list[int] = []
            node = start
            while node >= 0 and state[node] == 0:
                state[node] = 2
                walk.append(node)
                node = int(self.parent[node])
            if node >= 0 and state[node] == 2:
                in_cycle.extend(walk[walk.index(node) :])
            leads_into_cycle = node >= 0 and state[node] in (2, 3)
            for n in walk:
                state[n] = 3 if leads_into_cycle else 1
        return sorted(in_cycle)

    def topological_order(self) -> np.ndarray:
        """Indices ordered so every parent comes before its children (needs a valid network)."""
        if self._order is None:
            depth = np.zeros(len(self), dtype=np.int64)
            current = self.parent.copy()
            active = current >= 0
            # Orphans (-2) count as roots here; problems() reports them.
            while active.any():
                if depth.max() > len(self):
                    raise ValueError("the network has a cycle; check problems() first")
                depth[active] += 1
                current[active] = self.parent[current[active]]
                active = current >= 0
            self._order = np.argsort(depth, kind="stable")
        return self._order

    def path_to_root(self, device_id: int) -> list[int]:
        """Device ids from this device up to its substation, inclusive."""
        path = []
        node = self.index_of[device_id]
        while node >= 0:
            path.append(int(self.ids[node]))
            node = int(self.parent[node])
        return path

    def subtree_sums(self, values: Mapping[int, float]) -> dict[int, float]:
        """For every device, the sum of `values` (keyed by device id) over it and everything below."""
        totals = np.zeros(len(self), dtype=np.float64)
        for device_id, value in values.items():
            totals[self.index_of[device_id]] += value
        for node in self.topological_order()[::-1]:
            p = self.parent[node]
            if p >= 0:
                totals[p] += totals[node]
        return {int(self.ids[i]): float(totals[i]) for i in range(len(self))}

    def _children_of(self) -> dict[int, list[int]]:
        if self._children is None:
            children: dict[int, list[int]] = {}
            for i, p in enumerate(self.parent.tolist()):
                if p >= 0:
                    children.setdefault(p, []).append(i)
            self._children = children
        return self._children

    def _below(self, device_id: int) -> list[int]:
        children = self._children_of()
        found: list[int] = []
        stack = list(children.get(self.index_of[device_id], []))
        while stack:
            node = stack.pop()
            found.append(node)
            stack.extend(children.get(node, []))
        return found

    def descendants(self, device_id: int) -> list[int]:
        """Ids of every device below this one (not itself)."""
        return [int(self.ids[i]) for i in self._below(device_id)]

    def transformers_at_or_below(self, device_id: int) -> list[int]:
        """Indices (not ids) of the service transformers this device feeds, itself included."""
        start = self.index_of[device_id]
        nodes = [start, *self._below(device_id)]
        return [i for i in nodes if self.kinds[i] == DeviceKind.TRANSFORMER]


def load_network(session: Session) -> RadialNetwork:
    """The whole network with device positions, in one query."""
    rows = session.execute(
        select(Device.id, Device.parent_id, Device.kind, Device.code, Device.lon, Device.lat).order_by(
            Device.id
        )
    ).all()
    network = RadialNetwork.from_rows((r[0], r[1], r[2], r[3]) for r in rows)
    network.lon = np.array([r[4] for r in rows], dtype=np.float64)
    network.lat = np.array([r[5] for r in rows], dtype=np.float64)
    return network


# --- the network with what hangs below each device ----------------------------------------------

IMPORTANT_KEYS = IMPORTANCE_ORDER
_METRES_PER_DEGREE_LAT = 110_540.0
_METRES_PER_DEGREE_LON_EQUATOR = 111_320.0


@dataclass
class NetworkModel:
    """The network plus, for every device, the customers, weights and important users it feeds.

    Built once per territory revision and shared by every request of the process; only
    telemetered switch states change during a storm, and those are read fresh per analysis.
    """

    revision: int
    net: RadialNetwork
    district: np.ndarray  # district id per device index, -1 when unknown
    telemetered: np.ndarray
    customers_below: np.ndarray
    weight_below: np.ndarray
    important_below: np.ndarray  # one column per IMPORTANT_KEYS entry
    transformers: np.ndarray  # indices of service transformers
    # Customers by account number, sorted as UTF-8 bytes for a vectorised lookup: a dict of a
    # million Python strings would cost ten times the memory.
    accounts: np.ndarray = field(repr=False, default_factory=lambda: np.empty(0, dtype="S1"))
    account_customer: np.ndarray = field(repr=False, default_factory=lambda: np.empty(0, dtype=np.int64))
    account_transformer: np.ndarray = field(repr=False, default_factory=lambda: np.empty(0, dtype=np.int64))
    _tree: Any = field(repr=False, default=None)
    _lat0: float = 0.0
    # Paths to the substation by device index, filled as analysis asks: every report walks one.
    _paths: dict[int, tuple[int, ...]] = field(repr=False, default_factory=dict)
    _parents: list[int] | None = field(repr=False, default=None)
    _territory: Any = field(repr=False, default=None)

    def customers_by_account(self, accounts: Sequence[str]) -> dict[str, tuple[int, int]]:
        """(customer id, transformer id) for each known account number among `accounts`."""
        if not accounts or not len(self.accounts):
            return {}
        wanted = np.array([a.encode("utf-8") for a in accounts], dtype=self.accounts.dtype)
        # A key longer than every stored one is cut to the stored width above; it must not match.
        fits = np.array([len(a.encode("utf-8")) <= self.accounts.dtype.itemsize for a in accounts])
        at = np.minimum(np.searchsorted(self.accounts, wanted), len(self.accounts) - 1)
        found = (self.accounts[at] == wanted) & fits
        customer, transformer = self.account_customer[at].tolist(), self.account_transformer[at].tolist()
        return {account: (customer[n], transformer[n]) for n, account in enumerate(accounts) if found[n]}

    def path(self, index: int) -> tuple[int, ...]:
        """Device indices from this one up to its substation, inclusive."""
        path = self._paths.get(index)
        if path is None:
            if self._parents is None:
                self._parents = self.net.parent.tolist()
            parent = self._parents[index]
            path = (index, *self.path(parent)) if parent >= 0 else (index,)
            self._paths[index] = path
        return path

    def important_at(self, index: int) -> dict[str, int]:
        return {key: int(n) for key, n in zip(IMPORTANT_KEYS, self.important_below[index], strict=True) if n}

    def nearest_transformer(self, lon: float, lat: float, max_metres: float) -> int | None:
        if self._tree is None:
            return None
        distance, position = self._tree.query(self._project([lon], [lat])[0], distance_upper_bound=max_metres)
        if not np.isfinite(distance):
            return None
        return int(self.transformers[position])

    def inside(self, lons: Sequence[float], lats: Sequence[float]) -> np.ndarray:
        if self._territory is None:
            return np.zeros(len(lons), dtype=bool)
        return shapely.contains_xy(self._territory, np.asarray(lons, float), np.asarray(lats, float))

    def _project(self, lons: Sequence[float], lats: Sequence[float]) -> np.ndarray:
        x = np.asarray(lons, float) * _METRES_PER_DEGREE_LON_EQUATOR * math.cos(math.radians(self._lat0))
        y = np.asarray(lats, float) * _METRES_PER_DEGREE_LAT
        return np.column_stack([x, y])


_models: dict[str, NetworkModel] = {}
_models_lock = threading.Lock()


def network_model(session: Session, cache_key: str) -> NetworkModel:
    """The cached model for this database, rebuilt when the territory revision moves."""
    revision = int(get_setting(session, "territory.revision"))
    with _models_lock:
        model = _models.get(cache_key)
    if model is not None and model.revision == revision:
        return model
    model = build_network_model(session, revision)
    with _models_lock:
        _models[cache_key] = model
    # The model and everything the process loaded before it live as long as the process: out of
    # the collector's sight, the full collections a storm's allocations trigger do not walk them
    # again and again (they were an eighth of intake's time).
    gc.collect()
    gc.freeze()
    return model


def build_network_model(session: Session, revision: int = 0) -> NetworkModel:
    rows = session.execute(
        select(
            Device.id,
            Device.parent_id,
            Device.kind,
            Device.code,
            Device.lon,
            Device.lat,
            Device.district_id,
            Device.telemetered,
        ).order_by(Device.id)
    ).all()
    net = RadialNetwork.from_rows((r[0], r[1], r[2], r[3]) for r in rows)
    net.lon = np.array([r[4] for r in rows], dtype=np.float64)
    net.lat = np.array([r[5] for r in rows], dtype=np.float64)
    n = len(net)
    # Columns: customers, weight, then one per important key; summed up the tree level by level.
    totals = np.zeros((n, 2 + len(IMPORTANT_KEYS)), dtype=np.float64)
    grade_column = {key: 2 + i for i, key in enumerate(IMPORTANT_KEYS)}
    for transformer_id, importance, kind, count, weight in session.execute(
        select(
            Customer.transformer_id,
            Customer.importance,
            Customer.kind,
            func.count(),
            func.sum(Customer.priority_weight),
        ).group_by(Customer.transformer_id, Customer.importance, Customer.kind)
    ):
        index = net.index_of.get(transformer_id)
        if index is None:
            continue
        totals[index, 0] += count
        totals[index, 1] += float(weight or 0)
        if str(importance) != ImportanceGrade.NONE:
            totals[index, grade_column[str(importance)]] += count
        if str(kind) == CustomerKind.LIFE_SUPPORT:
            totals[index, grade_column["life_support"]] += count
    _sum_up_the_tree(net, totals)
    accounts, account_customer, account_transformer = _account_index(session)
    transformers = np.array(
        [i for i, k in enumerate(net.kinds) if k == DeviceKind.TRANSFORMER], dtype=np.int64
    )
    model = NetworkModel(
        revision=revision,
        net=net,
        district=np.array([-1 if r[6] is None else r[6] for r in rows], dtype=np.int64),
        telemetered=np.array([bool(r[7]) for r in rows], dtype=bool),
        customers_below=totals[:, 0].astype(np.int64),
        weight_below=totals[:, 1],
        important_below=totals[:, 2:].astype(np.int64),
        transformers=transformers,
        accounts=accounts,
        account_customer=account_customer,
        account_transformer=account_transformer,
    )
    if len(transformers):
        from scipy.spatial import cKDTree

        model._lat0 = float(np.mean(net.lat[transformers]))
        model._tree = cKDTree(model._project(net.lon[transformers], net.lat[transformers]))
    shapes = [shapely.geometry.shape(g) for (g,) in session.execute(select(District.geometry))]
    if shapes:
        model._territory = shapely.union_all(shapes)
        shapely.prepare(model._territory)
    return model


def _account_index(session: Session) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Account numbers (sorted, as UTF-8 bytes) with each one's customer id and transformer id."""
    # Straight through the driver: a million rows as SQLAlchemy rows take three times as long.
    cursor = session.connection().connection.cursor()
    try:
        cursor.execute("SELECT account_no, id, transformer_id FROM customers")
        rows = cursor.fetchall()
    finally:
        cursor.close()
    accounts = np.array([r[0].encode("utf-8") for r in rows], dtype=bytes)
    customer = np.fromiter((r[1] for r in rows), dtype=np.int64, count=len(rows))
    transformer = np.fromiter((r[2] for r in rows), dtype=np.int64, count=len(rows))
    order = np.argsort(accounts, kind="stable")
    return accounts[order], customer[order], transformer[order]


def _sum_up_the_tree(net: RadialNetwork, totals: np.ndarray) -> None:
    """Add every row into its parent's, deepest level first (vectorised per level)."""
    order = net.topological_order()
    depth = np.zeros(len(net), dtype=np.int64)
    for node in order:
        parent = net.parent[node]
        if parent >= 0:
            depth[node] = depth[parent] + 1
    for level in range(int(depth.max(initial=0)), 0, -1):
        nodes = np.nonzero(depth == level)[0]
        parents = net.parent[nodes]
        keep = parents >= 0
        np.add.at(totals, parents[keep], totals[nodes[keep]])


# --- trouble-call analysis -------------------------------------------------------------------------

TCA_ACTOR = "trouble-call analysis"


class IncomingReport(NamedTuple):
    """A stored report as analysis sees it: indices into the model, not database ids.

    A tuple, not a frozen dataclass: a storm builds a thousand per batch, at half the cost.
    """

    id: int
    kind: ReportKind
    reported_at: datetime
    customer_id: int | None
    transformer: int | None
    device: int | None


@dataclass(frozen=True)
class TcaRules:
    calls_to_predict: int
    children_to_roll_up: int
    share_to_roll_up: float
    window: timedelta
    nested_window: timedelta

    @classmethod
    def from_settings(cls, session: Session) -> TcaRules:
        return cls(
            calls_to_predict=int(get_setting(session, "tca.calls_to_predict_transformer")),
            children_to_roll_up=int(get_setting(session, "tca.children_to_roll_up")),
            share_to_roll_up=float(get_setting(session, "tca.share_to_roll_up")),
            window=timedelta(minutes=float(get_setting(session, "tca.window_minutes"))),
            nested_window=timedelta(minutes=float(get_setting(session, "tca.nested_window_minutes"))),
        )


@dataclass
class AnalysisResult:
    predicted: list[int] = field(default_factory=list)
    confirmed: list[int] = field(default_factory=list)
    merged: list[int] = field(default_factory=list)
    nested: list[int] = field(default_factory=list)
    restored: list[int] = field(default_factory=list)
    grouped_reports: int = 0
    # Where each report of the batch belongs: report id -> (outage id or None, status). Reports
    # not named here stay received and unlinked. The caller stores the batch with these values.
    report_links: dict[int, tuple[int | None, ReportStatus]] = field(default_factory=dict, repr=False)

    def summary(self) -> str:
        return (
            f"outages: {len(self.predicted)} predicted, {len(self.confirmed)} confirmed by telemetry, "
            f"{len(self.merged)} merged, {len(self.nested)} nested, "
            f"{len(self.restored)} restored by telemetry"
        )

    def to_json(self) -> dict[str, list[int]]:
        return {
            "predicted": self.predicted,
            "confirmed": self.confirmed,
            "merged": self.merged,
            "nested": self.nested,
            "restored": self.restored,
        }


# What analysis reads of an active outage it finds in the database.
_ACTIVE_COLUMNS = (
    "id",
    "state",
    "device_id",
    "version",
    "report_count",
    "first_report_at",
    "last_report_at",
    "hazard",
    "confirmed_at",
    "confirmed_by",
    "dispatched_at",
    "en_route_at",
    "on_site_at",
    "etr_at",
    "etr_source",
    "etr_confidence",
    "etr_set_at",
    "customers_affected",
    "customers_restored",
)


class _Active:
    """An active outage already in the database, as analysis reads it: plain attributes.

    A storm's batch adds calls to a hundred or so of these and changes nothing else about them;
    loading each as a mapped object, and taking it out of the session again after writing its
    counts, cost a fifth of the intake's time. One is written with a versioned UPDATE of its own
    (calls attached, or taken over by a larger outage); an outage a SCADA event confirms or
    restores is loaded as a mapped object first (`_Analysis._mapped`).
    """

    __slots__ = (*_ACTIVE_COLUMNS, "loaded")

    id: int
    state: OutageState
    device_id: int
    version: int
    report_count: int
    first_report_at: datetime
    last_report_at: datetime | None
    hazard: bool
    confirmed_at: datetime | None
    confirmed_by: str | None
    dispatched_at: datetime | None
    en_route_at: datetime | None
    on_site_at: datetime | None
    etr_at: datetime | None
    etr_source: EtrSource | None
    etr_confidence: EtrConfidence | None
    etr_set_at: datetime | None
    customers_affected: int
    customers_restored: int

    def __init__(self, row: Sequence[Any]) -> None:
        for name, value in zip(_ACTIVE_COLUMNS, row, strict=True):
            setattr(self, name, value)
        self.loaded = self.attached()

    def attached(self) -> tuple[Any, ...]:
        """The values of the columns attaching calls changes (`_ATTACH_COLUMNS`)."""
        return tuple(getattr(self, name) for name in _ATTACH_COLUMNS)


AnyOutage = Outage | _Active


@dataclass
class _Gathered:
    """Reports of a batch that joined one outage: how many, their time span, any hazard."""

    outage: AnyOutage
    count: int
    first: datetime
    last: datetime
    hazard: bool


class _Analysis:
    """One batch of analysis: the active outages it touches, held in memory until it ends."""

    def __init__(self, session: Session, clock: Clock, model: NetworkModel, rules: TcaRules) -> None:
        self.session = session
        self.clock = clock
        self.model = model
        self.net = model.net
        self.rules = rules
        self.result = AnalysisResult()
        self.outage_at: dict[int, AnyOutage] = {}  # device index -> active outage there
        self.switch_state: dict[int, SwitchState | None] = {}
        # Supply-loss reports not yet part of an outage, per transformer index: (report id, customer, time).
        self.pending: dict[int, list[tuple[int, int | None, datetime]]] = {}
        self.children: dict[int, list[int]] = self.net._children_of()
        self.hazard_reports: set[int] = set()  # pending reports of wires down or other danger
        self.batch_ids: set[int] = set()
        # Device indices with an active outage when the batch began (one cheap index-only query),
        # so looking for outages below a device asks the database only where one exists.
        self.active_devices: set[int] = set()
        self.outages_checked: set[int] = set()  # devices already looked up during this batch
        # Outages restored recently on the batch's paths, per device index (for nested outages).
        self.restored_at_device: dict[int, list[Outage]] = {}
        # Where each report of this batch ends up; the caller stores the batch with these links.
        self.report_links: dict[int, tuple[int | None, ReportStatus]] = {}
        # New outages take their ids up front and are written together when the batch ends. Until
        # then nothing may point at them in the database: statements that do wait in `after_flush`,
        # and absorbed outages learn the id of the outage that took them over in `merges`.
        self.outage_ids = IdBlock(session, Outage.__table__)
        self.created_ids: set[int] = set()
        self.carried_breaches: dict[int, list[SlaBreach]] = {}  # added this batch, by outage id
        self.after_flush: list[Executable] = []
        self.merges: list[tuple[AnyOutage, Outage]] = []
        # Reports of this batch joining an active outage, per outage id, until `_count_gathered`.
        self.gathered: dict[int, _Gathered] = {}
        self.audit_rows: list[dict[str, Any]] = []  # written together when the batch ends

    # loading ---------------------------------------------------------------------------------

    def load_around(self, reports: list[IncomingReport]) -> None:
        """Active outages and switch states on the paths of these reports, and pending calls."""
        devices: set[int] = set()
        for report in reports:
            start = (
                report.device
                if report.kind in (ReportKind.DEVICE_OPENED, ReportKind.DEVICE_CLOSED)
                else report.transformer
            )
            if start is None:
                continue
            devices.update(self._path(start))
            if report.device is not None and report.kind == ReportKind.DEVICE_OPENED:
                devices.update(self._below(report.device))
        index_of = self.net.index_of
        self.active_devices = {index_of[device_id] for device_id in _active_devices(self.session)}
        self._load_outages(devices)
        self._load_switches(devices)
        # The batch's own reports join `pending` one by one as the rules see them.
        self.batch_ids = {r.id for r in reports}
        earliest = min((r.reported_at for r in reports), default=self.clock.now())
        # Roll-up looks at pending calls anywhere below a device, up to a window before now.
        self._load_pending(min(earliest, self.clock.now() - self.rules.window))
        self._load_recently_restored(
            self._uncovered(reports, devices),
            earliest,
            max((r.reported_at for r in reports), default=earliest),
        )

    def _uncovered(self, reports: list[IncomingReport], devices: set[int]) -> set[int]:
        """Devices on the paths of supply-loss reports no active outage covers.

        Only those reports can open a nested outage, and in a storm most reports are covered.
        Coverage shrinks during a batch only when a device closes, so a batch with a device
        closed looks at every path.
        """
        if any(r.kind == ReportKind.DEVICE_CLOSED for r in reports):
            return devices
        uncovered: set[int] = set()
        transformers = {
            r.transformer for r in reports if r.kind in SUPPLY_LOSS_KINDS and r.transformer is not None
        }
        for transformer in transformers:
            if self.covering(transformer) is None:
                uncovered.update(self._path(transformer))
        return uncovered

    def _load_recently_restored(self, devices: set[int], earliest: datetime, latest: datetime) -> None:
        ids = [int(self.net.ids[d]) for d in devices]
        since = earliest - self.rules.nested_window
        if ids and on_sqlite(self.session):
            # Nearly always none: look through the driver first, and map only what is there.
            ids = [
                device_id
                for (device_id,) in driver_rows(
                    self.session,
                    _SQLITE_RESTORED_AT,
                    (json.dumps(ids), sqlite_utc_text(since), sqlite_utc_text(latest)),
                )
            ]
        for start in range(0, len(ids), 900):
            for outage in self.session.scalars(
                select(Outage).where(
                    Outage.device_id.in_(ids[start : start + 900]),
                    Outage.state.in_([OutageState.RESTORED, OutageState.CLOSED]),
                    Outage.restored_at <= latest,
                    Outage.restored_at >= since,
                )
            ):
                self.restored_at_device.setdefault(self.net.index_of[outage.device_id], []).append(outage)

    def _load_outages(self, devices: set[int]) -> None:
        fresh = devices - self.outages_checked
        self.outages_checked |= fresh
        ids = [int(self.net.ids[d]) for d in fresh if d in self.active_devices and d not in self.outage_at]
        for row in _active_outages_at(self.session, ids):
            outage = _Active(row)
            self.outage_at[self.net.index_of[outage.device_id]] = outage

    def _mapped(self, index: int) -> Outage:
        """The active outage at device `index` as a mapped object, for a change beyond calls."""
        outage = self.outage_at[index]
        if isinstance(outage, Outage):
            return outage
        mapped = self.session.get(Outage, outage.id)
        if mapped is None or mapped.version != outage.version:
            raise StaleDataError(f"outage {outage.id} changed by someone else while analysis ran")
        for name in _ATTACH_COLUMNS:  # calls this batch attached before the event
            if getattr(mapped, name) != getattr(outage, name):
                setattr(mapped, name, getattr(outage, name))
        self.outage_at[index] = mapped
        return mapped

    def _load_switches(self, devices: set[int]) -> None:
        ids = [
            int(self.net.ids[d]) for d in devices if self.model.telemetered[d] and d not in self.switch_state
        ]
        for device_id, state in _switch_states(self.session, ids):
            self.switch_state[self.net.index_of[device_id]] = state

    def _load_pending(self, earliest: datetime) -> None:
        """Every supply-loss call not yet in an outage, from a window before `earliest` on.

        One query for the whole batch: calls waiting for an outage are few (most join one within a
        batch or two), and they are found through the index on the report's outage.
        """
        since = earliest - self.rules.window
        for report_id, transformer_id, customer_id, reported_at in _waiting_calls(self.session, since):
            transformer = self.net.index_of.get(transformer_id) if transformer_id is not None else None
            if transformer is not None:
                self.pending.setdefault(transformer, []).append((report_id, customer_id, reported_at))

    # walking ---------------------------------------------------------------------------------

    def _path(self, index: int) -> tuple[int, ...]:
        return self.model.path(index)

    def _below(self, index: int) -> list[int]:
        found: list[int] = []
        stack = list(self.children.get(index, []))
        while stack:
            node = stack.pop()
            found.append(node)
            stack.extend(self.children.get(node, []))
        return found

    def covering(self, index: int) -> AnyOutage | None:
        for node in self._path(index):
            outage = self.outage_at.get(node)
            if outage is not None:
                return outage
        return None

    # the rules -------------------------------------------------------------------------------

    def run(self, reports: list[IncomingReport]) -> AnalysisResult:
        # Outage rows change in memory all through the batch; flushing them before every query
        # would cost more than the analysis itself.
        with self.session.no_autoflush:
            self._run(reports)
        self._write()
        return self.result

    def _run(self, reports: list[IncomingReport]) -> None:
        self.load_around(reports)
        touched: set[int] = set()
        for report in sorted(reports, key=lambda r: r.reported_at):
            if report.kind == ReportKind.DEVICE_OPENED and report.device is not None:
                self._count_gathered()  # a SCADA event may merge or restore outages: counts first
                self.device_opened(report)
            elif report.kind == ReportKind.DEVICE_CLOSED and report.device is not None:
                self._count_gathered()
                self.device_closed(report)
            elif report.kind in SUPPLY_LOSS_KINDS and report.transformer is not None:
                if self.supply_loss(report):
                    touched.add(report.transformer)
            else:
                self._set_report(
                    report.id,
                    None,
                    ReportStatus.INFORMATIONAL
                    if report.kind == ReportKind.POWER_RESTORED
                    else ReportStatus.RECEIVED,
                )
        self._count_gathered()
        for transformer in touched:
            self.predict(transformer)
        self.roll_up(touched)

    def _write(self) -> None:
        """New and changed outages in one flush, then what refers to the new ones."""
        self._write_attached_only()
        self.session.flush()
        audit.record_many(self.session, self.audit_rows)
        self._write_merged_into()
        for statement in self.after_flush:
            self.session.execute(statement)
        if self.merges:
            # Reports stored earlier and crews at work follow each merged outage to the one that
            # took it over, in the order of the merges (one may be taken over again, later in
            # the batch); after the statements above, which only ever name outages still active.
            moves = [{"b_from": old.id, "b_to": outage.id} for old, outage in self.merges]
            connection = self.session.connection()
            connection.execute(_MOVE_REPORTS, moves)
            connection.execute(_MOVE_ASSIGNMENTS, moves)
        self.result.report_links = self.report_links

    def _write_attached_only(self) -> None:
        """Outages found in the database whose only change is calls attached, in one UPDATE.

        The version is checked as the unit of work would, but not moved on: it guards people's
        decisions (confirm, dispatch, ETR, restore), and in a storm calls arrive on an outage
        every few seconds, so a version moved by every call would refuse nearly every dispatcher
        action as "changed by someone else".
        """
        rows = [
            {
                "b_id": outage.id,
                "b_version": outage.version,
                "b_new_version": outage.version,
                **{f"b_{name}": getattr(outage, name) for name in _ATTACH_COLUMNS},
            }
            for outage in self.outage_at.values()
            if isinstance(outage, _Active) and outage.attached() != outage.loaded
        ]
        if rows:
            self._update_versioned(_UPDATE_ATTACHED, rows)

    def _write_merged_into(self) -> None:
        """Point every outage merged in this batch at the one that took it over, in one UPDATE.

        They are written after the flush before (the outage that took them over may be new, and
        nothing may point at a row not yet there). An outage found in the database is marked
        merged here too, with any calls it gathered first; one opened in this batch was written
        merged by the flush, and a second flush would update each on its own.
        """
        found = [(old, outage) for old, outage in self.merges if isinstance(old, _Active)]
        opened = [(old, outage) for old, outage in self.merges if isinstance(old, Outage)]
        if found:
            self._update_versioned(
                _UPDATE_MERGED_FOUND,
                [
                    {
                        "b_id": old.id,
                        "b_version": old.version,
                        "b_new_version": old.version + 1,
                        "b_state": OutageState.MERGED,
                        "b_merged_into_id": outage.id,
                        **{f"b_{name}": getattr(old, name) for name in _ATTACH_COLUMNS},
                    }
                    for old, outage in found
                ],
            )
        if not opened:
            return
        self._update_versioned(
            _UPDATE_MERGED_INTO,
            [
                {
                    "b_id": old.id,
                    "b_version": old.version,
                    "b_new_version": old.version + 1,
                    "b_merged_into_id": outage.id,
                }
                for old, outage in opened
            ],
        )
        for old, outage in opened:
            # What the row now holds, without marking the object changed.
            set_committed_value(old, "merged_into_id", outage.id)
            set_committed_value(old, "version", old.version + 1)

    def _update_versioned(self, statement: Executable, rows: list[dict[str, Any]]) -> None:
        """Run a versioned UPDATE for many outages; fail as the unit of work would if any moved on."""
        connection = self.session.connection()
        result = connection.execute(statement, rows)
        if connection.dialect.supports_sane_multi_rowcount and result.rowcount != len(rows):
            raise StaleDataError(
                f"outages changed by someone else while analysis ran: {len(rows) - result.rowcount} "
                f"of {len(rows)} were not updated"
            )

    def supply_loss(self, report: IncomingReport) -> bool:
        """Attach to the outage covering this customer, open a nested one, or hold as pending."""
        assert report.transformer is not None
        outage = self.covering(report.transformer)
        if outage is not None:
            self._gather(outage, report)
            return False
        restored = self._recently_restored_above(report.transformer, report.reported_at)
        if restored is not None:
            # Power came back upstream but not here: a second fault the first repair uncovered.
            outage = self.create(report.transformer, report.reported_at, OutageState.PREDICTED)
            outage.nested = True
            outage.nested_in_id = restored.id
            self.result.nested.append(outage.id)
            self.attach(outage, [report.id], report.reported_at, hazard=report.kind == ReportKind.HAZARD)
            return False
        self.pending.setdefault(report.transformer, []).append(
            (report.id, report.customer_id, report.reported_at)
        )
        if report.kind == ReportKind.HAZARD:
            self.hazard_reports.add(report.id)
        return True

    def _recently_restored_above(self, index: int, at: datetime) -> Outage | None:
        if not self.restored_at_device:
            return None  # nothing restored lately near this batch: no walk per uncovered call
        candidates = [
            outage
            for node in self._path(index)
            for outage in self.restored_at_device.get(node, [])
            if outage.restored_at is not None and at - self.rules.nested_window <= outage.restored_at <= at
        ]
        return max(candidates, key=lambda o: o.restored_at, default=None)

    def _recent_pending(self, transformer: int) -> list[tuple[int, int | None, datetime]]:
        """Pending calls on a transformer close enough in time to the newest to be one event."""
        calls = self.pending.get(transformer, [])
        if not calls:
            return []
        newest = max(c[2] for c in calls)
        return [c for c in calls if c[2] >= newest - self.rules.window]

    def predict(self, transformer: int) -> None:
        calls = self._recent_pending(transformer)
        if calls and self.covering(transformer) is None:
            callers = len({c[1] if c[1] is not None else -c[0] for c in calls})
            needed = 1 if self.model.customers_below[transformer] <= 1 else self.rules.calls_to_predict
            hazard = any(c[0] in self.hazard_reports for c in calls)
            if callers >= needed or hazard:
                outage = self.create(transformer, min(c[2] for c in calls), OutageState.PREDICTED)
                self.result.predicted.append(outage.id)
                self.attach(outage, [c[0] for c in calls], max(c[2] for c in calls), hazard=hazard)
                self.pending.pop(transformer, None)

    def roll_up(self, starts: set[int]) -> None:
        """Move predictions up the network, each device considered once, deepest first."""
        depth = {i: len(self._path(i)) for i in starts}
        queue = [(-depth[i], int(self.net.parent[i])) for i in starts if self.net.parent[i] >= 0]
        heapq.heapify(queue)
        seen: set[int] = set()
        while queue:
            negative_depth, parent = heapq.heappop(queue)
            if parent in seen:
                continue
            seen.add(parent)
            if self.roll_up_to(parent) and self.net.parent[parent] >= 0:
                heapq.heappush(queue, (negative_depth + 1, int(self.net.parent[parent])))

    def roll_up_to(self, parent: int) -> bool:
        """Predict `parent` out when enough below it is out at about the same time."""
        if self.net.kinds[parent] == DeviceKind.SUBSTATION:
            return False
        if self.model.telemetered[parent] and self.switch_state.get(parent) == SwitchState.CLOSED:
            return False  # telemetry says this switch is closed: the fault is below it
        if self.covering(parent) is not None:
            return False
        below = self._below(parent)
        self._load_outages(set(below))
        # Only what happened close together in time is one event: outages below that were
        # last reported long before the newest activity are a different story.
        recent_below = self._within_window(self._outages_below(below))
        recent_children = [
            o for o in recent_below if self.net.index_of[o.device_id] in self.children.get(parent, [])
        ]
        reporters = sum(o.report_count for o in recent_below) + sum(
            len(self._recent_pending(b)) for b in below if b in self.pending
        )
        share = reporters / max(int(self.model.customers_below[parent]), 1)
        if len(recent_children) < self.rules.children_to_roll_up and share < self.rules.share_to_roll_up:
            return False
        self.absorb_into_new(parent, below)
        return True

    def _within_window(self, outages: list[AnyOutage]) -> list[AnyOutage]:
        if not outages:
            return []
        newest = max(o.last_report_at or o.first_report_at for o in outages)
        return [o for o in outages if (o.last_report_at or o.first_report_at) >= newest - self.rules.window]

    def _outages_below(self, below: list[int]) -> list[AnyOutage]:
        return [self.outage_at[b] for b in below if b in self.outage_at]

    def absorb_into_new(
        self,
        index: int,
        below: list[int],
        state: OutageState = OutageState.PREDICTED,
        at: datetime | None = None,
    ) -> Outage:
        """One outage at `index` takes over every active outage and pending call below it."""
        absorbed = self._outages_below(below)
        pending = [c for b in below for c in self._recent_pending(b)]
        times = [o.first_report_at for o in absorbed] + [c[2] for c in pending] + ([at] if at else [])
        outage = self.create(index, min(times), furthest([state, *(o.state for o in absorbed)]))
        for stamp in ("confirmed_at", "dispatched_at", "en_route_at", "on_site_at"):
            values = [getattr(o, stamp) for o in absorbed if getattr(o, stamp) is not None]
            if values:
                setattr(outage, stamp, min(values))
        confirmers = [o.confirmed_by for o in absorbed if o.confirmed_by]
        if confirmers and outage.confirmed_by is None:
            outage.confirmed_by = confirmers[0]
        outage.hazard = any(o.hazard for o in absorbed) or any(c[0] in self.hazard_reports for c in pending)
        outage.report_count = sum(o.report_count for o in absorbed)
        outage.last_report_at = max([o.last_report_at or o.first_report_at for o in absorbed] + times)
        etrs = [o for o in absorbed if o.etr_at is not None]
        if etrs:
            latest = max(etrs, key=lambda o: o.etr_at)  # the most conservative estimate stands
            outage.etr_at, outage.etr_source = latest.etr_at, latest.etr_source
            outage.etr_confidence, outage.etr_set_at = latest.etr_confidence, latest.etr_set_at
        absorbed_ids = [o.id for o in absorbed]
        self._carry_breaches(absorbed_ids, outage)
        absorbed_set = set(absorbed_ids)
        for report_id, (linked, status) in self.report_links.items():
            if linked in absorbed_set:
                self.report_links[report_id] = (outage.id, status)
        for old in absorbed:
            before = {"state": str(old.state)}
            old.state = OutageState.MERGED
            self.merges.append((old, outage))
            del self.outage_at[self.net.index_of[old.device_id]]
            self.result.merged.append(old.id)
            self._audit("outage.merge", old, before, detail=f"merged into outage {outage.id}")
        if outage.id not in self.result.predicted and state == OutageState.PREDICTED:
            self.result.predicted.append(outage.id)
        self.attach(outage, [c[0] for c in pending], outage.last_report_at, hazard=False)
        for b in below:
            self.pending.pop(b, None)
        return outage

    def _carry_breaches(self, absorbed_ids: list[int], outage: Outage) -> None:
        """A clock that already breached stays breached in the outage that took it over, so the
        duty manager is not told twice about one lateness."""
        # Outages opened in this batch have no stored breaches, only those carried into them
        # earlier in the batch (not flushed yet): most absorbed outages of a storm need no query.
        stored = [i for i in absorbed_ids if i not in self.created_ids]
        found = [breach for i in absorbed_ids for breach in self.carried_breaches.get(i, [])]
        if stored:
            found.extend(
                self.session.scalars(
                    select(SlaBreach).where(
                        SlaBreach.subject_kind == "outage", SlaBreach.subject_id.in_(stored)
                    )
                )
            )
        earliest: dict[str, SlaBreach] = {}
        for breach in found:
            if breach.code not in earliest or breach.breached_at < earliest[breach.code].breached_at:
                earliest[breach.code] = breach
        for code, breach in earliest.items():
            carried = SlaBreach(
                subject_kind="outage",
                subject_id=outage.id,
                code=code,
                deadline=breach.deadline,
                breached_at=breach.breached_at,
                notified_at=breach.notified_at,
            )
            self.session.add(carried)
            self.carried_breaches.setdefault(outage.id, []).append(carried)

    def device_opened(self, report: IncomingReport) -> None:
        assert report.device is not None
        self._set_switch(report.device, SwitchState.OPEN, report.reported_at)
        outage = self.outage_at.get(report.device)
        if outage is not None:
            if outage.confirmed_at is None:
                outage = self._mapped(report.device)
                before = {"state": str(outage.state)}
                outage.confirmed_at = report.reported_at
                outage.confirmed_by = "scada"
                if outage.state in (OutageState.REPORTED, OutageState.PREDICTED):
                    outage.state = OutageState.CONFIRMED
                self.result.confirmed.append(outage.id)
                self._audit("outage.confirm", outage, before, detail="SCADA: device opened")
            self.attach(outage, [report.id], report.reported_at, hazard=False)
            return
        outage = self.absorb_into_new(
            report.device, self._below(report.device), OutageState.CONFIRMED, at=report.reported_at
        )
        outage.confirmed_at = min(report.reported_at, outage.confirmed_at or report.reported_at)
        outage.confirmed_by = "scada"
        if outage.id in self.result.predicted:
            self.result.predicted.remove(outage.id)
        self.result.confirmed.append(outage.id)
        self.attach(outage, [report.id], report.reported_at, hazard=False)

    def device_closed(self, report: IncomingReport) -> None:
        assert report.device is not None
        self._set_switch(report.device, SwitchState.CLOSED, report.reported_at)
        outage = self.outage_at.get(report.device)
        self._set_report(report.id, outage, ReportStatus.INFORMATIONAL)
        if outage is None:
            return
        outage = self._mapped(report.device)
        before = {"state": str(outage.state)}
        still_out = outage.customers_affected - outage.customers_restored
        if still_out > 0:
            record_restoration(
                self.session,
                outage,
                report.reported_at,
                still_out,
                "scada",
                note="SCADA: device closed",
                device_id=int(self.net.ids[report.device]),
            )
        del self.outage_at[report.device]
        self.result.restored.append(outage.id)
        self._audit("outage.restore", outage, before, detail="SCADA: device closed")

    # writing ---------------------------------------------------------------------------------

    def create(self, index: int, first_report_at: datetime, state: OutageState) -> Outage:
        now = self.clock.now()
        outage = Outage(
            id=self.outage_ids.take()[0],
            state=state,
            device_id=int(self.net.ids[index]),
            district_id=int(self.model.district[index]) if self.model.district[index] >= 0 else None,
            first_report_at=first_report_at,
            last_report_at=first_report_at,
            predicted_at=now,
            customers_affected=int(self.model.customers_below[index]),
            customers_restored=0,
            weighted_customers=float(self.model.weight_below[index]),
            important_affected=self.model.important_at(index),
            report_count=0,
            hazard=False,
            nested=False,
        )
        self.session.add(outage)
        self.created_ids.add(outage.id)
        self.outage_at[index] = outage
        self._audit("outage.predict" if state == OutageState.PREDICTED else "outage.open", outage, None)
        return outage

    def _gather(self, outage: Outage, report: IncomingReport) -> None:
        """Attach a report of this batch to the active outage that covers it, counted later.

        Most of a storm's batch joins outages already there; the counts and times go onto each
        outage once per batch (`_count_gathered`) instead of as ORM attribute writes per report.
        """
        self.report_links[report.id] = (outage.id, ReportStatus.GROUPED)
        at, hazard = report.reported_at, report.kind == ReportKind.HAZARD
        gathered = self.gathered.get(outage.id)
        if gathered is None:
            self.gathered[outage.id] = _Gathered(outage, 1, at, at, hazard)
            return
        # Analysis takes a batch's reports in time order: the first gathered is the earliest.
        gathered.count += 1
        gathered.last = at
        gathered.hazard = gathered.hazard or hazard

    def _count_gathered(self) -> None:
        for gathered in self.gathered.values():
            self._count(gathered.outage, gathered.count, gathered.first, gathered.last, gathered.hazard)
        self.gathered.clear()

    def attach(self, outage: AnyOutage, report_ids: list[int], at: datetime, *, hazard: bool) -> None:
        if report_ids:
            link = (outage.id, ReportStatus.GROUPED)
            stored_earlier = []
            for report_id in report_ids:
                if report_id in self.batch_ids:
                    self.report_links[report_id] = link
                else:
                    stored_earlier.append(report_id)
            if stored_earlier:
                self.after_flush.append(
                    update(_REPORTS)
                    .where(_REPORTS.c.id.in_(stored_earlier))
                    .values(outage_id=outage.id, status=ReportStatus.GROUPED)
                )
        self._count(outage, len(report_ids), at, at, hazard)

    def _count(self, outage: AnyOutage, reports: int, first: datetime, last: datetime, hazard: bool) -> None:
        """Add attached reports to an outage's count, times and hazard flag."""
        if reports:
            outage.report_count += reports
            self.result.grouped_reports += reports
        # Attribute writes on a mapped object are not free: each is made only when it changes.
        newest = outage.last_report_at
        if newest is None or last > newest:
            outage.last_report_at = last
        if first < outage.first_report_at:
            outage.first_report_at = first
        if hazard and not outage.hazard:
            outage.hazard = True

    def _set_report(self, report_id: int, outage: AnyOutage | None, status: ReportStatus) -> None:
        self.report_links[report_id] = (outage.id if outage is not None else None, status)

    def _set_switch(self, index: int, state: SwitchState, at: datetime) -> None:
        self.switch_state[index] = state
        self.session.execute(
            update(Device)
            .where(Device.id == int(self.net.ids[index]))
            .values(scada_state=state, scada_state_at=at, version=Device.version + 1)
        )

    def _audit(
        self, action: str, outage: AnyOutage, before: dict[str, Any] | None, detail: str | None = None
    ) -> None:
        """Audit a change to an outage; the batch's rows are written together in `_write`."""
        self.audit_rows.append(
            audit.values(
                self.clock,
                Actor(TCA_ACTOR, "system"),
                action,
                "outage",
                outage.id,
                before=before,
                after={
                    "state": str(outage.state),
                    "device_id": outage.device_id,
                    "customers_affected": outage.customers_affected,
                },
                detail=detail,
            )
        )


_ATTACH_COLUMNS = ("report_count", "first_report_at", "last_report_at", "hazard")
_OUTAGES = Outage.__table__
# Report rows are never loaded as objects during analysis: their updates skip the ORM's
# bookkeeping for objects in the session.
_REPORTS = Report.__table__


def _versioned_outage_update(columns: Iterable[str]) -> Executable:
    """UPDATE an outage row still at the version it was read at (`b_version`), moving the version
    on (`b_new_version`); each column's value is bound as `b_<column>`."""
    return (
        update(_OUTAGES)
        .where(_OUTAGES.c.id == bindparam("b_id"), _OUTAGES.c.version == bindparam("b_version"))
        .values(version=bindparam("b_new_version"), **{name: bindparam(f"b_{name}") for name in columns})
    )


_UPDATE_ATTACHED = _versioned_outage_update(_ATTACH_COLUMNS)
_UPDATE_MERGED_INTO = _versioned_outage_update(["merged_into_id"])
_UPDATE_MERGED_FOUND = _versioned_outage_update(["state", "merged_into_id", *_ATTACH_COLUMNS])
_MOVE_REPORTS = (
    update(_REPORTS).where(_REPORTS.c.outage_id == bindparam("b_from")).values(outage_id=bindparam("b_to"))
)
_ASSIGNMENTS = CrewAssignment.__table__
_MOVE_ASSIGNMENTS = (
    update(_ASSIGNMENTS)
    .where(
        _ASSIGNMENTS.c.outage_id == bindparam("b_from"),
        _ASSIGNMENTS.c.status != AssignmentStatus.COMPLETE,
        _ASSIGNMENTS.c.status != AssignmentStatus.CANCELLED,
    )
    .values(outage_id=bindparam("b_to"), version=_ASSIGNMENTS.c.version + 1)
)


# --- reads analysis makes every batch ----------------------------------------------------------
# On SQLite they go straight through the driver, the ids bound as one JSON array (one statement
# text whatever their number): a storm's batch makes each of them, and SQLAlchemy's statement
# building and per-row result processing cost more than SQLite's work.


def _optional(convert: Any) -> Any:
    return lambda value: None if value is None else convert(value)


_ACTIVE_STATES_SQL = ", ".join(f"'{state.value}'" for state in ACTIVE_OUTAGE_STATES)
_SQLITE_ACTIVE_AT = (
    f"SELECT {', '.join(_ACTIVE_COLUMNS)} FROM outages WHERE state IN ({_ACTIVE_STATES_SQL})"
    " AND device_id IN (SELECT value FROM json_each(?))"
)
_SQLITE_ACTIVE_CONVERT = tuple(
    {
        "state": OutageState,
        "hazard": bool,
        "etr_source": _optional(EtrSource),
        "etr_confidence": _optional(EtrConfidence),
    }.get(name, sqlite_utc_time if name.endswith("_at") else None)
    for name in _ACTIVE_COLUMNS
)


def _active_outages_at(session: Session, device_ids: list[int]) -> list[Sequence[Any]]:
    """Rows of `_ACTIVE_COLUMNS` for the active outages at these devices."""
    if not device_ids:
        return []
    if not on_sqlite(session):
        columns = [Outage.__table__.c[name] for name in _ACTIVE_COLUMNS]
        return [
            row
            for start in range(0, len(device_ids), 900)
            for row in session.execute(
                select(*columns).where(
                    Outage.state.in_(ACTIVE_OUTAGE_STATES),
                    Outage.device_id.in_(device_ids[start : start + 900]),
                )
            )
        ]
    return [
        tuple(
            value if convert is None else convert(value)
            for convert, value in zip(_SQLITE_ACTIVE_CONVERT, row, strict=True)
        )
        for row in driver_rows(session, _SQLITE_ACTIVE_AT, (json.dumps(device_ids),))
    ]


def _active_devices(session: Session) -> list[int]:
    """Ids of the devices with an active outage."""
    if not on_sqlite(session):
        return list(session.scalars(select(Outage.device_id).where(Outage.state.in_(ACTIVE_OUTAGE_STATES))))
    return [device_id for (device_id,) in driver_rows(session, _SQLITE_ACTIVE_DEVICES, ())]


_SQLITE_ACTIVE_DEVICES = f"SELECT device_id FROM outages WHERE state IN ({_ACTIVE_STATES_SQL})"
_SQLITE_RESTORED_AT = (
    "SELECT DISTINCT device_id FROM outages WHERE device_id IN (SELECT value FROM json_each(?))"
    f" AND state IN ('{OutageState.RESTORED.value}', '{OutageState.CLOSED.value}')"
    " AND restored_at >= ? AND restored_at <= ?"
)
_SQLITE_SWITCHES = "SELECT id, scada_state FROM devices WHERE id IN (SELECT value FROM json_each(?))"


def _switch_states(session: Session, device_ids: list[int]) -> list[tuple[int, SwitchState | None]]:
    """(device id, telemetered state or None) of these devices."""
    if not device_ids:
        return []
    if not on_sqlite(session):
        return [
            (device_id, state)
            for start in range(0, len(device_ids), 900)
            for device_id, state in session.execute(
                select(Device.id, Device.scada_state).where(Device.id.in_(device_ids[start : start + 900]))
            )
        ]
    return [
        (device_id, None if state is None else SwitchState(state))
        for device_id, state in driver_rows(session, _SQLITE_SWITCHES, (json.dumps(device_ids),))
    ]


_WAITING_CALLS = select(Report.id, Report.transformer_id, Report.customer_id, Report.reported_at).where(
    Report.outage_id.is_(None),
    Report.status == ReportStatus.RECEIVED,
    Report.kind.in_(sorted(SUPPLY_LOSS_KINDS)),
    Report.reported_at >= bindparam("since"),
)
_SQLITE_WAITING_CALLS = (
    "SELECT id, transformer_id, customer_id, reported_at FROM reports WHERE outage_id IS NULL"
    f" AND status = '{ReportStatus.RECEIVED.value}'"
    f" AND kind IN ({', '.join(repr(kind.value) for kind in sorted(SUPPLY_LOSS_KINDS))})"
    " AND reported_at >= ?"
)


def _waiting_calls(
    session: Session, since: datetime
) -> Iterable[tuple[int, int | None, int | None, datetime]]:
    """(id, transformer id, customer id, time) of supply-loss calls in no outage since `since`.

    Both forms use ix_reports_waiting. On SQLite the rows come straight from the driver: a storm's
    batch reads several hundred, and SQLAlchemy's result processing of their times cost more
    than the query.
    """
    if not on_sqlite(session):
        return session.execute(_WAITING_CALLS, {"since": since}).tuples()
    return [
        (report_id, transformer_id, customer_id, sqlite_utc_time(at))
        for report_id, transformer_id, customer_id, at in driver_rows(
            session, _SQLITE_WAITING_CALLS, (sqlite_utc_text(since),)
        )
    ]


def analyse_reports(
    session: Session, clock: Clock, model: NetworkModel, reports: list[IncomingReport]
) -> AnalysisResult:
    """Group a batch of new reports into outages on the network, inside the intake transaction.

    The reports have their ids but are not stored yet: the caller stores them afterwards with the
    outage and status in `report_links`, so each report row is written once.
    """
    if not reports:
        return AnalysisResult()
    return _Analysis(session, clock, model, TcaRules.from_settings(session)).run(reports)
