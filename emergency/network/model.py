"""The radial distribution network as arrays: validation, paths to the substation, subtree sums.

Held in memory because trouble-call analysis walks it for every report; a million-customer
territory has only tens of thousands of devices, a few megabytes of integers. `NetworkModel` adds,
for every device, the customers, weights and important users it feeds.
"""

from __future__ import annotations

import gc
import math
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import shapely
import shapely.geometry
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from emergency.core.errors import Problem
from emergency.core.models import (
    DEVICE_CHILDREN,
    Customer,
    CustomerKind,
    Device,
    DeviceKind,
    District,
    ImportanceGrade,
)
from emergency.core.settings import get_setting
from emergency.core.vocabulary import IMPORTANCE_ORDER


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

    def problems(self) -> list[Problem]:
        """What makes this not a radial network of substations -> ... -> transformers."""
        found: list[Problem] = []
        for i, p in enumerate(self.parent):
            kind = self.kinds[i]
            if p == -2:
                found.append(Problem.at_device(self.codes[i], "parent is not a known device (orphan)"))
            elif p == -1:
                if kind != DeviceKind.SUBSTATION:
                    found.append(Problem.at_device(self.codes[i], f"a {kind} must have a parent device"))
            elif kind not in DEVICE_CHILDREN[self.kinds[p]]:
                found.append(
                    Problem.at_device(
                        self.codes[i], f"a {kind} cannot hang from a {self.kinds[p]} ({self.codes[p]})"
                    )
                )
        for i in self._cycle_members():
            found.append(Problem.at_device(self.codes[i], "is part of a cycle: the network must be radial"))
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
    important_below: np.ndarray  # one column per IMPORTANCE_ORDER entry
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
        below = self.important_below[index]
        return {key: int(n) for key, n in zip(IMPORTANCE_ORDER, below, strict=True) if n}

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

    def _project(self, lons: Sequence[float] | np.ndarray, lats: Sequence[float] | np.ndarray) -> np.ndarray:
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
    totals = np.zeros((n, 2 + len(IMPORTANCE_ORDER)), dtype=np.float64)
    grade_column = {key: 2 + i for i, key in enumerate(IMPORTANCE_ORDER)}
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
