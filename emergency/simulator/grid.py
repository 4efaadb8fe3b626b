"""The simulated physical grid: which devices are really broken, and so who really has no power.

This is the truth the outage system does not see; it learns it only from the reports the simulator
sends. The network is read once at the start of a run (positions, kinds, who hangs below whom) and
kept as arrays: a depth-first order makes "everything below a device" a contiguous range.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from emergency.core.models import Customer, Device, District


@dataclass
class Territory:
    """The network and customers as arrays, indexed by position (not by database id)."""

    device_ids: np.ndarray
    codes: list[str]
    kinds: list[str]
    parent: np.ndarray  # index of the parent device, -1 at a substation
    lon: np.ndarray
    lat: np.ndarray
    telemetered: np.ndarray
    area_type: list[str]  # the device's district's area type ("urban" where unknown)
    tin: np.ndarray  # depth-first entry order; the subtree of d is tin[d] <= tin < tout[d]
    tout: np.ndarray
    # Customers, sorted by their transformer's device index.
    customer_ids: np.ndarray
    accounts: list[str]
    customer_lon: np.ndarray
    customer_lat: np.ndarray
    customer_device: np.ndarray
    customers_start: np.ndarray  # customers of device d are customers_start[d]:customers_end[d]
    customers_end: np.ndarray
    index_of: dict[int, int] = field(default_factory=dict)

    @property
    def bbox(self) -> tuple[float, float, float, float]:
        return float(self.lon.min()), float(self.lat.min()), float(self.lon.max()), float(self.lat.max())

    def subtree(self, d: int) -> np.ndarray:
        """Device indices at or below d."""
        return self._by_tin[self.tin[d] : self.tout[d]]

    def path(self, d: int) -> list[int]:
        """d and every device above it, up to the substation."""
        out = []
        while d >= 0:
            out.append(d)
            d = int(self.parent[d])
        return out

    def customers_below(self, d: int) -> np.ndarray:
        """Customer positions (into the customer arrays) at or below d."""
        transformers = [t for t in self.subtree(d) if self.customers_end[t] > self.customers_start[t]]
        if not transformers:
            return np.empty(0, dtype=np.int64)
        return np.concatenate(
            [np.arange(self.customers_start[t], self.customers_end[t]) for t in transformers]
        )

    def __post_init__(self) -> None:
        self._by_tin = np.argsort(self.tin)


def load_territory(session: Session) -> Territory:
    area_of = dict(session.execute(select(District.id, District.area_type)).tuples().all())
    devices = session.execute(
        select(
            Device.id,
            Device.code,
            Device.kind,
            Device.parent_id,
            Device.lon,
            Device.lat,
            Device.telemetered,
            Device.district_id,
        ).order_by(Device.id)
    ).all()
    customers = session.execute(
        select(Customer.id, Customer.account_no, Customer.lon, Customer.lat, Customer.transformer_id)
    ).all()
    return build_territory(
        [(*d[:7], str(area_of.get(d[7], "urban"))) for d in devices], [tuple(c) for c in customers]
    )


def build_territory(
    devices: Sequence[tuple[int, str, str, int | None, float, float, bool, str]],
    customers: Sequence[tuple[int, str, float, float, int]],
) -> Territory:
    """From device rows (id, code, kind, parent id, lon, lat, telemetered, area type) and customer
    rows (id, account, lon, lat, transformer id)."""
    ids = np.array([r[0] for r in devices], dtype=np.int64)
    index_of = {int(i): n for n, i in enumerate(ids)}
    parent = np.array([index_of.get(r[3], -1) if r[3] is not None else -1 for r in devices], dtype=np.int64)
    tin, tout = _euler(parent)
    device_of = np.array([index_of[c[4]] for c in customers], dtype=np.int64)
    order = np.lexsort((np.array([c[0] for c in customers], dtype=np.int64), device_of))
    device_sorted = device_of[order]
    n = len(ids)
    return Territory(
        device_ids=ids,
        codes=[r[1] for r in devices],
        kinds=[str(r[2]) for r in devices],
        parent=parent,
        lon=np.array([r[4] for r in devices], dtype=np.float64),
        lat=np.array([r[5] for r in devices], dtype=np.float64),
        telemetered=np.array([bool(r[6]) for r in devices], dtype=bool),
        area_type=[r[7] for r in devices],
        tin=tin,
        tout=tout,
        customer_ids=np.array([customers[i][0] for i in order], dtype=np.int64),
        accounts=[customers[i][1] for i in order],
        customer_lon=np.array([customers[i][2] for i in order], dtype=np.float64),
        customer_lat=np.array([customers[i][3] for i in order], dtype=np.float64),
        customer_device=device_sorted,
        customers_start=np.searchsorted(device_sorted, np.arange(n), side="left"),
        customers_end=np.searchsorted(device_sorted, np.arange(n), side="right"),
        index_of=index_of,
    )


def _euler(parent: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    n = len(parent)
    children: list[list[int]] = [[] for _ in range(n)]
    for d, p in enumerate(parent):
        if p >= 0:
            children[p].append(d)
    tin = np.zeros(n, dtype=np.int64)
    tout = np.zeros(n, dtype=np.int64)
    clock = 0
    for root in (d for d in range(n) if parent[d] < 0):
        stack: list[tuple[int, bool]] = [(root, False)]
        while stack:
            d, done = stack.pop()
            if done:
                tout[d] = clock
                continue
            tin[d] = clock
            clock += 1
            stack.append((d, True))
            stack.extend((c, False) for c in reversed(children[d]))
    return tin, tout


@dataclass
class Damage:
    device: int
    at_minute: float
    hidden: bool = False  # not seen by the crew repairing the device above it


class Grid:
    """Broken devices and the customers they leave in the dark."""

    def __init__(self, territory: Territory) -> None:
        self.territory = territory
        self.broken: dict[int, Damage] = {}
        # Broken devices on each device's way to the substation, kept for service transformers.
        self.breaks_above = np.zeros(len(territory.device_ids), dtype=np.int64)
        self.ever_dark = np.zeros(len(territory.device_ids), dtype=bool)

    def dark(self, d: int) -> bool:
        return bool(self.breaks_above[d] > 0)

    def break_device(self, damage: Damage) -> np.ndarray:
        """Break a device; returns the customers who lose power because of it."""
        if damage.device in self.broken:
            return np.empty(0, dtype=np.int64)
        self.broken[damage.device] = damage
        below = self.territory.subtree(damage.device)
        newly = below[self.breaks_above[below] == 0]
        self.breaks_above[below] += 1
        self.ever_dark[below] = True
        return self._customers_of(newly)

    def repair(self, devices: list[int]) -> np.ndarray:
        """Repair devices; returns the customers whose power comes back."""
        lit: list[np.ndarray] = []
        for d in devices:
            if self.broken.pop(d, None) is None:
                continue
            below = self.territory.subtree(d)
            self.breaks_above[below] -= 1
            lit.append(below[self.breaks_above[below] == 0])
        if not lit:
            return np.empty(0, dtype=np.int64)
        return self._customers_of(np.unique(np.concatenate(lit)))

    def found_by_crew_at(self, d: int) -> list[int]:
        """What a crew sent to device d repairs: the fault above it that cuts it off (crews patrol
        up the line to it) and every break at or below it that is not hidden. Hidden breaks it
        passes become visible to the next crew."""
        found: list[int] = []
        for up in self.territory.path(d)[1:]:
            if up in self.broken:
                found.append(up)
                break
        below = set(int(x) for x in self.territory.subtree(d))
        for device, damage in sorted(self.broken.items()):
            if device not in below:
                continue
            if damage.hidden and device != d:
                damage.hidden = False
                continue
            found.append(device)
        return found

    def customers_dark_below(self, d: int) -> np.ndarray:
        below = self.territory.subtree(d)
        return self._customers_of(below[self.breaks_above[below] > 0])

    def _customers_of(self, devices: np.ndarray) -> np.ndarray:
        t = self.territory
        ranges = [np.arange(t.customers_start[d], t.customers_end[d]) for d in devices]
        ranges = [r for r in ranges if len(r)]
        return np.concatenate(ranges) if ranges else np.empty(0, dtype=np.int64)
