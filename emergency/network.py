"""The radial distribution network as arrays: validation, paths to the substation, subtree sums.

Held in memory because trouble-call analysis walks it for every report; a million-customer
territory has only tens of thousands of devices, a few megabytes of integers.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from emergency.models import DEVICE_CHILDREN, Device, DeviceKind


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
