"""Customers out, outages and important users out, in total and by district: the one place these
figures are computed, for the public snapshot, the situation report, `status` and the restoration
curve, so every page and command says the same thing.

The rule: **a customer is counted in the district they live in** (the customer's district), not
where the outage's device stands; a feeder outage that crosses a district boundary puts each of
its customers out in their own district.

- An outage's customers still out are shared among districts in the proportion its device serves
  customers there (`district_shares`), rounded by largest remainder, so the districts always add
  up to the outage's own count (restoration steps say how many came back, not always where).
- An outage counts in every district where it has customers out; one with nobody out (yet)
  counts in its own district. The total counts each outage once.
- An important user is a customer with a grade (special, grade 1, grade 2, temporary) or a
  life-support customer, the register's definition (`emergency.network.important_users`). One is
  out while an outage active then is on its way up to the substation, unless a restoration step
  on that way (a device restored by then) brought it back; it counts in its own district.

`figures_at` reads the records as they stood at any moment, so a situation report for 08:00 and
the live public page use the same arithmetic.
"""

from __future__ import annotations

import itertools
import threading
import weakref
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import numpy.typing as npt
from sqlalchemy import Connection, Engine, String, func, or_, select, type_coerce
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from emergency.core.models import (
    Customer,
    CustomerKind,
    Device,
    ImportanceGrade,
    Outage,
    OutageState,
    RestorationStep,
)
from emergency.reporting.reliability import served_territory

# Outages that never cut anyone off (a false alarm) or live on inside another outage.
NOT_COUNTED = (OutageState.CANCELLED, OutageState.MERGED)
IMPORTANT = or_(Customer.importance != ImportanceGrade.NONE, Customer.kind == CustomerKind.LIFE_SUPPORT)
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MAX_DEPTH = 64  # far deeper than any radial network: a guard against a cycle in bad data


# --- sharing customers among districts ---------------------------------------------------------


def apportion(levels: npt.NDArray[np.int64], shares: npt.NDArray[np.float64]) -> npt.NDArray[np.int64]:
    """Whole customers per district: row i shares `levels[i]` by `shares[i]` (rows adding to 1, or
    all zero for an outage with no district), largest remainders first, so each row adds up to its
    level exactly; ties go to the first district. Vectorised: one call for a year of outages."""
    levels = np.maximum(np.asarray(levels, dtype=np.int64), 0)
    if shares.size == 0:
        return np.zeros(shares.shape, dtype=np.int64)
    raw = levels[:, None] * shares
    base = np.floor(raw + 1e-9).astype(np.int64)
    has_district = shares.sum(axis=1) > 0
    left = np.where(has_district, levels - base.sum(axis=1), 0)
    order = np.argsort(-(raw - base), axis=1, kind="stable")
    rank = np.empty_like(order)
    np.put_along_axis(rank, order, np.arange(shares.shape[1])[None, :].repeat(len(levels), axis=0), axis=1)
    return base + (rank < left[:, None]).astype(np.int64)


@dataclass(frozen=True)
class DistrictShares:
    """Each outage's share of customers per district (the columns are `district_ids`)."""

    district_ids: npt.NDArray[np.int64]
    shares: npt.NDArray[np.float64]  # outage row x district


def district_shares(
    session: Session, device_ids: npt.NDArray[np.int64], own_districts: npt.NDArray[np.int64]
) -> DistrictShares:
    """Where the customers below each device live, as shares; a device serving nobody (or one no
    longer in the network) puts its outage wholly in `own_districts` (the outage's district; -1
    for none, which leaves the row all zero: counted in totals, in no district)."""
    served = served_territory(session).served
    district_ids = served.district_ids
    rows = served.rows(np.asarray(device_ids, dtype=np.int64))
    shares = np.zeros((len(rows), len(district_ids)))
    known = rows >= 0
    if known.any():
        below = served.below_by_district[rows[known]]
        total = below.sum(axis=1, keepdims=True)
        shares[known] = np.where(total > 0, below / np.where(total > 0, total, 1.0), 0.0)
    column_of = {int(d): c for c, d in enumerate(district_ids)}
    for i in np.flatnonzero(shares.sum(axis=1) == 0):
        c = column_of.get(int(own_districts[i]))
        if c is not None:
            shares[i, c] = 1.0
    return DistrictShares(np.asarray(district_ids, dtype=np.int64), shares)


# --- the figures at a moment -------------------------------------------------------------------


@dataclass(frozen=True)
class ImportantOut:
    """An important user cut off at the moment the figures are for (staff only: it names them)."""

    customer_id: int
    name: str
    account_no: str
    importance: str
    kind: str
    district_id: int | None
    backup_hours: float | None
    outage_id: int
    out_since: datetime


@dataclass(frozen=True)
class OutageOut:
    """One outage active at the moment: its customers out, where they live, its important users."""

    outage_id: int
    device_id: int
    district_id: int | None  # the outage's own district (its device's when it has none)
    first_report_at: datetime
    customers_out: int
    by_district: dict[int, int]  # district id -> customers out living there (zeros left out)
    important_out: int


@dataclass(frozen=True)
class DistrictFigures:
    customers_out: int = 0
    outages: int = 0
    important_users_out: int = 0


@dataclass(frozen=True)
class OutageFigures:
    """Customers out, outages and important users out at `at`, in total and by district id."""

    at: datetime
    customers_out: int
    outages: int
    important_users_out: int
    districts: dict[int, DistrictFigures]
    active: tuple[OutageOut, ...]
    important_users: tuple[ImportantOut, ...] = field(repr=False, default=())

    def district(self, district_id: int) -> DistrictFigures:
        return self.districts.get(district_id, DistrictFigures())


def counted_at(at: datetime) -> tuple[ColumnElement[bool], ...]:
    """The outages with customers out at `at` (as the records stood then): first reported by
    then and not yet restored; false alarms and merged outages never count."""
    return (
        Outage.state.not_in(NOT_COUNTED),
        Outage.merged_into_id.is_(None),
        Outage.first_report_at <= at,
        or_(Outage.restored_at.is_(None), Outage.restored_at > at),
    )


def figures_at(session: Session, at: datetime, *, important: bool = True) -> OutageFigures:
    """The figures as the records stood at `at` (now, for the live pages). `important=False`
    leaves important users out (zero), for the public, who are never told about them."""
    rows = session.execute(
        select(
            Outage.id,
            Outage.device_id,
            func.coalesce(Outage.district_id, Device.district_id),
            Outage.first_report_at,
            Outage.customers_affected,
            Outage.customers_restored,
            Outage.customer_id,
        )
        .join(Device, Device.id == Outage.device_id)
        .where(*counted_at(at))
        .order_by(Outage.id)
    ).all()
    ids = np.array([r[0] for r in rows], dtype=np.int64)
    devices = np.array([r[1] for r in rows], dtype=np.int64)
    own = np.array([-1 if r[2] is None else r[2] for r in rows], dtype=np.int64)
    later, restored_devices = _steps_by(session, at, [int(i) for i in ids])
    # The outage's own restored count (the board's) less the steps after `at`: now, exactly the
    # board's figure; earlier, what the steps had brought back by then.
    still_out = np.array([max(r[4] - (r[5] - later.get(r[0], 0)), 0) for r in rows], dtype=np.int64)
    split = district_shares(session, devices, own)
    _service_outages_in_their_district(split, [r[6] is not None for r in rows], own)
    per_district = apportion(still_out, split.shares)
    users = _important_out(session, rows, restored_devices) if important else []
    users_per_outage: dict[int, int] = {}
    for user in users:
        users_per_outage[user.outage_id] = users_per_outage.get(user.outage_id, 0) + 1
    active = []
    customers: dict[int, int] = {}
    outages: dict[int, int] = {}
    for n, row in enumerate(rows):
        by_district = {
            int(split.district_ids[c]): int(per_district[n, c]) for c in np.flatnonzero(per_district[n])
        }
        for district_id, count in by_district.items():
            customers[district_id] = customers.get(district_id, 0) + count
        for district_id in by_district or ([int(own[n])] if own[n] >= 0 else []):
            outages[district_id] = outages.get(district_id, 0) + 1
        active.append(
            OutageOut(
                outage_id=int(row[0]),
                device_id=int(row[1]),
                district_id=None if own[n] < 0 else int(own[n]),
                first_report_at=row[3],
                customers_out=int(still_out[n]),
                by_district=by_district,
                important_out=users_per_outage.get(int(row[0]), 0),
            )
        )
    users_by_district: dict[int, int] = {}
    for user in users:
        if user.district_id is not None:
            users_by_district[user.district_id] = users_by_district.get(user.district_id, 0) + 1
    districts = {
        d: DistrictFigures(customers.get(d, 0), outages.get(d, 0), users_by_district.get(d, 0))
        for d in sorted(set(customers) | set(outages) | set(users_by_district))
    }
    return OutageFigures(
        at=at,
        customers_out=int(still_out.sum()),
        outages=len(rows),
        important_users_out=len(users),
        districts=districts,
        active=tuple(active),
        important_users=tuple(users),
    )


def _service_outages_in_their_district(split: DistrictShares, service: list[bool], own: Any) -> None:
    """A service outage is one customer, out in the district they live in (the outage's own), not
    shared like the customers below its transformer."""
    column_of = {int(d): c for c, d in enumerate(split.district_ids)}
    for i in np.flatnonzero(np.asarray(service, dtype=bool)):
        split.shares[i] = 0.0
        if (c := column_of.get(int(own[i]))) is not None:
            split.shares[i, c] = 1.0


def _steps_by(
    session: Session, at: datetime, outage_ids: list[int]
) -> tuple[dict[int, int], dict[int, set[int]]]:
    """Per outage: customers its steps brought back after `at` (to take off the outage's
    `customers_restored`, which is the board's count now), and the devices its steps by `at` named."""
    later: dict[int, int] = {}
    devices: dict[int, set[int]] = {}
    for start in range(0, len(outage_ids), 500):  # both databases bound the parameters of a query
        chunk = outage_ids[start : start + 500]
        query = select(
            RestorationStep.outage_id,
            RestorationStep.at,
            RestorationStep.customers_restored,
            RestorationStep.device_id,
        ).where(RestorationStep.outage_id.in_(chunk))
        for outage_id, step_at, customers, device_id in session.execute(query):
            if step_at > at:
                later[outage_id] = later.get(outage_id, 0) + int(customers)
            elif device_id is not None:
                devices.setdefault(outage_id, set()).add(int(device_id))
    return later, devices


def _important_out(
    session: Session, rows: Sequence[Any], restored_devices: dict[int, set[int]]
) -> list[ImportantOut]:
    """The registered important users below an active outage and not brought back by a step on
    their way up; each once (active outages do not overlap; if records ever say otherwise, the
    nearest outage above the user holds it). A service outage holds its own customer only."""
    out_at = {int(r[1]): r for r in rows if r[6] is None}
    own_outage = {int(r[6]): r for r in rows if r[6] is not None}
    if not out_at and not own_outage:
        return []
    parents = _parents(session)
    users = []
    for (
        customer_id,
        name,
        account_no,
        importance,
        kind,
        transformer_id,
        district_id,
        backup,
    ) in session.execute(
        select(
            Customer.id,
            Customer.name,
            Customer.account_no,
            type_coerce(Customer.importance, String),
            type_coerce(Customer.kind, String),
            Customer.transformer_id,
            Customer.district_id,
            Customer.backup_hours,
        )
        .where(IMPORTANT)
        .order_by(Customer.id)
    ):
        path = _path_up(transformer_id, parents)
        on_path = set(path)
        holder = next(
            (
                out_at[d]
                for d in path
                if d in out_at and not restored_devices.get(int(out_at[d][0]), set()) & on_path
            ),
            own_outage.get(int(customer_id)),
        )
        if holder is None:
            continue
        users.append(
            ImportantOut(
                customer_id=int(customer_id),
                name=name,
                account_no=account_no,
                importance=importance,
                kind=kind,
                district_id=district_id,
                backup_hours=backup,
                outage_id=int(holder[0]),
                out_since=holder[3],
            )
        )
    return users


def _path_up(device: int | None, parents: dict[int, int | None]) -> list[int]:
    path: list[int] = []
    while device is not None and len(path) < MAX_DEPTH:
        path.append(device)
        device = parents.get(device)
    return path


# The network's parent links, kept per engine until the territory changes (the same stamp as the
# customers served): a million-customer territory has tens of thousands of devices.
_parents_cache: weakref.WeakKeyDictionary[Engine | Connection, tuple[object, dict[int, int | None]]] = (
    weakref.WeakKeyDictionary()
)
_parents_lock = threading.Lock()


def _parents(session: Session) -> dict[int, int | None]:
    stamp = served_territory(session).stamp
    bind = session.get_bind()
    with _parents_lock:
        cached = _parents_cache.get(bind)
    if cached is not None and cached[0] == stamp:
        return cached[1]
    parents = dict(session.execute(select(Device.id, Device.parent_id)).tuples().all())
    with _parents_lock:
        _parents_cache[bind] = (stamp, parents)
    return parents


def important_users_registered(session: Session) -> int:
    """How many important users the register holds (graded or life support): `status` and the
    register page count the same customers."""
    return int(session.scalar(select(func.count()).select_from(Customer).where(IMPORTANT)) or 0)


# --- customers out by district over time (the partner feeds' series) ---------------------------


def _micros_since_epoch(moment: datetime) -> int:
    """Exact integer microseconds: float timestamps lose the last digits, and a step exactly at a
    sample time must fall on the same side of it as `figures_at` puts it."""
    return (moment - EPOCH) // timedelta(microseconds=1)


def customers_out_series(session: Session, times: Sequence[datetime]) -> list[dict[int, int]]:
    """Customers out by district id at each of `times`, exactly as `figures_at` counts them at each
    moment (the same outages, restoration steps, shares and rounding), in one read of the records:
    a day at 15-minute steps is 97 moments. Districts with nobody out are left out."""
    if not times:
        return []
    if any(later < earlier for earlier, later in itertools.pairwise(times)):
        raise ValueError("the moments of a series must be in ascending order")
    first, last = times[0], times[-1]
    rows = session.execute(
        select(
            Outage.id,
            Outage.device_id,
            func.coalesce(Outage.district_id, Device.district_id),
            Outage.first_report_at,
            Outage.restored_at,
            Outage.customers_affected,
            Outage.customers_restored,
            Outage.customer_id,
        )
        .join(Device, Device.id == Outage.device_id)
        .where(
            Outage.state.not_in(NOT_COUNTED),
            Outage.merged_into_id.is_(None),
            Outage.first_report_at <= last,
            or_(Outage.restored_at.is_(None), Outage.restored_at > first),
        )
        .order_by(Outage.id)
    ).all()
    if not rows:
        return [{} for _ in times]
    at = np.array([_micros_since_epoch(t) for t in times], dtype=np.int64)
    began = np.array([_micros_since_epoch(r[3]) for r in rows], dtype=np.int64)
    ended = np.array([_micros_since_epoch(r[4]) if r[4] else np.iinfo(np.int64).max for r in rows])
    # Customers brought back by each outage's steps at or before each moment (figures_at takes the
    # steps after the moment off the outage's restored count, which is the same thing).
    row_of = {int(r[0]): n for n, r in enumerate(rows)}
    taken = np.zeros((len(rows), len(at)), dtype=np.int64)
    stepped = np.zeros(len(rows), dtype=np.int64)
    for start in range(0, len(rows), 500):  # both databases bound the parameters of a query
        chunk = [int(r[0]) for r in rows[start : start + 500]]
        query = select(RestorationStep.outage_id, RestorationStep.at, RestorationStep.customers_restored)
        for outage_id, step_at, customers in session.execute(
            query.where(RestorationStep.outage_id.in_(chunk))
        ):
            n = row_of[int(outage_id)]
            stepped[n] += int(customers)
            column = int(np.searchsorted(at, _micros_since_epoch(step_at), side="left"))
            if column < len(at):
                taken[n, column] += int(customers)
    by_then = np.cumsum(taken, axis=1)
    affected = np.array([r[5] for r in rows], dtype=np.int64)
    restored_now = np.array([r[6] for r in rows], dtype=np.int64)
    # still out at t = affected - (restored now - steps after t), as figures_at has it.
    still_out = np.maximum(affected[:, None] - (restored_now[:, None] - (stepped[:, None] - by_then)), 0)
    counted = (began[:, None] <= at[None, :]) & (ended[:, None] > at[None, :])
    own = np.array([-1 if r[2] is None else r[2] for r in rows], dtype=np.int64)
    split = district_shares(session, np.array([r[1] for r in rows], dtype=np.int64), own)
    _service_outages_in_their_district(split, [r[7] is not None for r in rows], own)
    series = []
    for column in range(len(at)):
        levels = np.where(counted[:, column], still_out[:, column], 0)
        per_district = apportion(levels, split.shares).sum(axis=0)
        series.append(
            {int(split.district_ids[c]): int(per_district[c]) for c in np.flatnonzero(per_district)}
        )
    return series
