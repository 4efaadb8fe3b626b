"""IEEE 1366 reliability indices from the outage records dispatchers work on.

The unit of account is an *interruption piece*: the customers one restoration step brought back,
out from the outage's first report until that step; customers an active outage still holds are a
piece that ends `now`. A piece lasting at most `reliability.momentary_max_minutes` (5 by IEEE 1366)
is momentary (MAIFI), a longer one sustained (SAIFI, SAIDI, CAIDI, CAIFI, ASAI). So an outage
whose first customers were switched back in three minutes and the rest repaired in two hours
counts the first ones as momentary and the others as sustained, each with its own minutes.
Cancelled outages and outages merged into another are left out (the merged one's customers are
in the outage that absorbed it). An interruption belongs to the local day and period it began in.

Denominators are customers *served*: all customers (overall), customers of the district, or
customers below the feeder breaker. An outage's customers are shared among districts in the
proportion its device serves them (a feeder may cross a district boundary). CAIFI's "customers
interrupted" are distinct customers: a network in preorder puts each device's customers in one
run, so the union of the runs of the outages is counted once.

Major event days (IEEE 1366 2.5 beta method): from up to five years of daily SAIDI before the
period, days with SAIDI 0 left out, alpha and beta are the mean and standard deviation (sample,
n - 1) of ln(daily SAIDI), T_MED = exp(alpha + 2.5 beta); a day whose SAIDI exceeds T_MED is a
major event day. `running_saidi` sets today's SAIDI so far (active outages up to now) against it;
a report has one T_MED for its major event days, its daily chart and today's gauge: for a period that
reaches today the threshold in force today, for a past period the one before its first day.

Reading, the costly part on a large territory: the customers served per device and district are
kept per engine until the territory changes (`served_territory`), and a report reads only the
outages of its period and the five years before it, plus any still out (`oldest_day_needed`).
"""

from __future__ import annotations

import gc
import math
import threading
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
from sqlalchemy import Connection, DateTime, Engine, Select, String, func, or_, select, type_coerce
from sqlalchemy.orm import InstrumentedAttribute, Session
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.types import TypeEngine

from emergency.core.models import Customer, Device, DeviceKind, District, Outage, OutageState, RestorationStep
from emergency.core.settings import get_setting

MED_HISTORY_YEARS = 5
# Fewer positive days than this before a period give no usable log-normal fit; the threshold then
# comes from every day on record up to the period's end (said so in `MajorEventThreshold.basis`).
MED_MIN_DAYS = 30
MED_BETA_MULTIPLE = 2.5
LEFT_OUT_STATES = (OutageState.CANCELLED, OutageState.MERGED)
Grouping = Literal["overall", "district", "feeder"]
INDEX_COLUMNS = (
    "customers_served",
    "saifi",
    "saidi",
    "caidi",
    "caifi",
    "asai",
    "maifi",
    "customers_interrupted",
    "customer_minutes",
    "distinct_customers",
    "momentary_interruptions",
)


# --- network arithmetic ----------------------------------------------------------------------


def subtree_totals(parent: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Each node's own values plus all its descendants', for a forest given by parent rows (-1: root).

    Vectorised: nodes are summed into their parents level by level, deepest first, so the cost is
    the tree's depth in numpy calls, not one Python step per node.
    """
    depth = node_depths(parent)
    totals = np.array(values, dtype=float, copy=True)
    for level in range(int(depth.max(initial=0)), 0, -1):
        at_level = np.flatnonzero(depth == level)
        np.add.at(totals, parent[at_level], totals[at_level])
    return totals


def node_depths(parent: np.ndarray) -> np.ndarray:
    """Steps from each node up to its root (a root is at depth 0)."""
    depth = np.zeros(len(parent), dtype=np.int64)
    current = parent.copy()
    while True:
        up = current >= 0
        if not up.any():
            return depth
        depth += up
        current[up] = parent[current[up]]


def preorder(parent: np.ndarray) -> np.ndarray:
    """Each node's position in a depth-first preorder, so every subtree is one run of positions.

    Sorting nodes by their path from the root (root first, padded with -1, which sorts before any
    child) is such an order, found with one lexsort instead of a walk.
    """
    depth = node_depths(parent)
    width = int(depth.max(initial=0)) + 1
    paths = np.full((len(parent), width), -1, dtype=np.int64)
    nodes = np.arange(len(parent))
    current = nodes.copy()
    level = depth.copy()
    while True:
        alive = current >= 0
        if not alive.any():
            break
        paths[nodes[alive], level[alive]] = current[alive]
        level[alive] -= 1
        current[alive] = parent[current[alive]]
    order = np.lexsort(paths.T[::-1])
    position = np.empty(len(parent), dtype=np.int64)
    position[order] = np.arange(len(parent))
    return position


@dataclass(frozen=True)
class ServedCustomers:
    """Who each device serves: counts by district, its feeder, and its run in network preorder."""

    device_ids: np.ndarray
    district_ids: np.ndarray  # the columns of `below_by_district` and `by_position`
    below_by_district: np.ndarray  # device row x district: customers at or below the device
    device_district: np.ndarray  # the device's own district id (0: none)
    feeder: np.ndarray  # the feeder breaker's device id per device row (0: none)
    run_start: np.ndarray  # preorder position of the device
    run_end: np.ndarray  # one past its last descendant's position
    by_position: np.ndarray  # preorder position x district: customers attached to that device
    feeder_by_position: np.ndarray  # feeder id of the device at each preorder position

    def rows(self, device_ids: np.ndarray) -> np.ndarray:
        return pd.Index(self.device_ids).get_indexer(device_ids)

    @property
    def served_by_district(self) -> pd.Series:
        return pd.Series(self.by_position.sum(axis=0), index=self.district_ids)

    @property
    def served_by_feeder(self) -> pd.Series:
        per_position = self.by_position.sum(axis=1)
        frame = pd.DataFrame({"feeder": self.feeder_by_position, "customers": per_position})
        return frame[frame["feeder"] > 0].groupby("feeder")["customers"].sum()

    @property
    def served_total(self) -> float:
        return float(self.by_position.sum())

    def district_shares(self, rows: np.ndarray) -> np.ndarray:
        """Share of each device's customers in each district (its own district if it serves none)."""
        below = self.below_by_district[rows]
        total = below.sum(axis=1, keepdims=True)
        own = (self.device_district[rows][:, None] == self.district_ids[None, :]).astype(float)
        return np.where(total > 0, below / np.where(total > 0, total, 1.0), own)


def served_customers(
    devices: pd.DataFrame, customers_at: pd.DataFrame, district_ids: np.ndarray
) -> ServedCustomers:
    """From devices (id, parent_id, feeder_id, district_id) and customer counts per
    (transformer_id, district_id, customers)."""
    ids = devices["id"].to_numpy(dtype=np.int64)
    index = pd.Index(ids)
    parent_ids = devices["parent_id"].fillna(-1).to_numpy(dtype=np.int64)
    parent = np.where(parent_ids >= 0, index.get_indexer(parent_ids), -1)
    district_ids = np.asarray(district_ids, dtype=np.int64)
    own = np.zeros((len(ids), len(district_ids)))
    rows = index.get_indexer(customers_at["transformer_id"].to_numpy(dtype=np.int64))
    columns = pd.Index(district_ids).get_indexer(customers_at["district_id"].to_numpy(dtype=np.int64))
    known = (rows >= 0) & (columns >= 0)
    np.add.at(own, (rows[known], columns[known]), customers_at["customers"].to_numpy(dtype=float)[known])
    position = preorder(parent)
    size = subtree_totals(parent, np.ones(len(ids)))
    feeder = devices["feeder_id"].fillna(0).to_numpy(dtype=np.int64)
    by_position = np.zeros_like(own)
    by_position[position] = own
    feeder_by_position = np.zeros(len(ids), dtype=np.int64)
    feeder_by_position[position] = feeder
    return ServedCustomers(
        device_ids=ids,
        district_ids=district_ids,
        below_by_district=subtree_totals(parent, own),
        device_district=devices["district_id"].fillna(0).to_numpy(dtype=np.int64),
        feeder=feeder,
        run_start=position,
        run_end=position + size.astype(np.int64),
        by_position=by_position,
        feeder_by_position=feeder_by_position,
    )


# --- interruption pieces -----------------------------------------------------------------------


def interruption_pieces(outages: pd.DataFrame, steps: pd.DataFrame, now: datetime) -> pd.DataFrame:
    """One row per group of customers who came back together (or are still out at `now`).

    `outages`: id, device_id, first_report_at, restored_at, customers_affected;
    `steps`: outage_id, at, customers_restored. Returns outage_id, device_id, start, end,
    customers, minutes (UTC timestamps).
    """
    outage_rows = pd.Index(outages["id"])
    restored_steps = steps[steps["outage_id"].isin(outage_rows)]
    counted = restored_steps.groupby("outage_id")["customers_restored"].sum()
    still_out = outages["customers_affected"].to_numpy() - counted.reindex(outages["id"]).fillna(0).to_numpy()
    # Restored without steps for everyone (an outage older than step records): they came back at
    # restored_at; an active outage's customers are out until now.
    end_rest = pd.to_datetime(outages["restored_at"], utc=True).fillna(pd.Timestamp(now).tz_convert("UTC"))
    rest = still_out > 0
    pieces = pd.DataFrame(
        {
            "outage_id": np.concatenate(
                [restored_steps["outage_id"].to_numpy(), outages["id"].to_numpy()[rest]]
            ),
            # Series, not numpy: an aware timestamp column turned into numpy is an array of Python
            # objects (0.7 s of the read at 1,000,000 customers, measured), slow to subtract too.
            "end": pd.concat(
                [pd.to_datetime(restored_steps["at"], utc=True), end_rest[rest]], ignore_index=True
            ),
            "customers": np.concatenate(
                [restored_steps["customers_restored"].to_numpy(dtype=float), still_out[rest].astype(float)]
            ),
        }
    )
    rows = outage_rows.get_indexer(pieces["outage_id"])
    pieces["start"] = pd.to_datetime(outages["first_report_at"], utc=True).iloc[rows].reset_index(drop=True)
    pieces["device_id"] = outages["device_id"].to_numpy()[rows]
    pieces["minutes"] = ((pieces["end"] - pieces["start"]).dt.total_seconds() / 60).clip(lower=0.0)
    return pieces[["outage_id", "device_id", "start", "end", "customers", "minutes"]]


@dataclass
class ReliabilityData:
    """Everything the indices are computed from, loaded once and reused for every question."""

    served: ServedCustomers
    pieces: pd.DataFrame
    now: datetime
    timezone: ZoneInfo
    momentary_max_minutes: float
    district_names: dict[int, tuple[str, str, str]] = field(default_factory=dict)  # id -> code, en, zh
    feeder_names: dict[int, str] = field(default_factory=dict)  # breaker id -> code
    device_rows: np.ndarray = field(init=False)  # each piece's device as a row of `served`

    def __post_init__(self) -> None:
        pieces = self.pieces
        self.device_rows = self.served.rows(pieces["device_id"].to_numpy(dtype=np.int64))
        local = pd.to_datetime(pieces["start"], utc=True).dt.tz_convert(self.timezone)
        self.pieces = pieces.assign(
            # Local midnight as a naive timestamp: compared and grouped in numpy, not as date objects.
            day=local.dt.tz_localize(None).dt.normalize(),
            sustained=pieces["minutes"].to_numpy() > self.momentary_max_minutes,
        )


def load_reliability_data(
    session: Session,
    now: datetime,
    timezone: ZoneInfo,
    momentary_max_minutes: float | None = None,
    since: date | None = None,
) -> ReliabilityData:
    """Read the customers served (cached per territory revision) and the counted outages with their
    steps: those that began on or after the local day `since` (every one when None), and any outage
    still out, whenever it began, since its customers are out now."""
    if momentary_max_minutes is None:
        momentary_max_minutes = float(get_setting(session, "reliability.momentary_max_minutes"))
    territory = served_territory(session)
    counted: ColumnElement[bool] = Outage.state.not_in(LEFT_OUT_STATES)
    if since is not None:
        counted = counted & or_(
            Outage.first_report_at >= day_start(since, timezone),
            Outage.restored_at.is_(None),
            Outage.restored_at >= now,
        )
    dialect = session.get_bind().dialect.name
    outages = _frame(
        session,
        select(
            Outage.id,
            Outage.device_id,
            _as_stored(Outage.first_report_at, dialect),
            _as_stored(Outage.restored_at, dialect),
            Outage.customers_affected,
        ).where(counted),
    )
    steps = _frame(
        session,
        select(
            RestorationStep.outage_id,
            _as_stored(RestorationStep.at, dialect),
            RestorationStep.customers_restored,
        )
        .join(Outage, Outage.id == RestorationStep.outage_id)
        .where(counted),
    )
    for frame, columns in ((outages, ("first_report_at", "restored_at")), (steps, ("at",))):
        for column in columns:
            frame[column] = pd.to_datetime(frame[column], utc=True, format="ISO8601")
    return ReliabilityData(
        served=territory.served,
        pieces=interruption_pieces(outages, steps, now),
        now=now,
        timezone=timezone,
        momentary_max_minutes=momentary_max_minutes,
        district_names=territory.district_names,
        feeder_names=territory.feeder_names,
    )


def _as_stored(column: InstrumentedAttribute[Any], dialect: str) -> ColumnElement[Any]:
    """A UTC timestamp column as the driver hands it over (SQLite's text, PostgreSQL's naive
    datetime), for one vectorised `pd.to_datetime` instead of the column type's per-row conversion:
    with the ORM's row handling, four fifths of reading the steps (measured at 1,000,000 customers)."""
    stored: TypeEngine[Any] = String() if dialect == "sqlite" else DateTime()
    return type_coerce(column, stored).label(column.key)


def _frame(session: Session, statement: Select[Any]) -> pd.DataFrame:
    """The result as columns: run on the session's connection (rows without the ORM's per-row
    handling) and transposed by zip in C, since pandas builds a frame from row objects one
    attribute lookup at a time (a quarter of the read, measured at 200,000 customers)."""
    with _collector_paused():
        result = session.connection().execute(statement)
        keys = list(result.keys())
        columns = list(zip(*result.tuples().all(), strict=True)) or [()] * len(keys)
    return pd.DataFrame({key: pd.Series(values) for key, values in zip(keys, columns, strict=True)})


@contextmanager
def _collector_paused() -> Iterator[None]:
    """Hold back the cyclic garbage collector while rows are read.

    Tens of thousands of row tuples, which hold no cycles, set off collections that walk every
    object of the process again and again: half the CPU of a report at 1,000,000 customers once
    the territory is cached (0.6 s against 0.3 s, measured). Reference counting still frees
    everything; the collector's state is put back as it was found.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


# One pass over ix_customers_transformer_district (migration 0007), no table rows read.
CUSTOMERS_PER_TRANSFORMER_AND_DISTRICT = select(
    Customer.transformer_id, Customer.district_id, func.count().label("customers")
).group_by(Customer.transformer_id, Customer.district_id)


@dataclass(frozen=True)
class ServedTerritory:
    """What the indices need of the territory, which changes only when the territory does."""

    stamp: tuple[int, int | None, int | None]  # territory revision, highest customer id, highest device id
    served: ServedCustomers
    district_names: dict[int, tuple[str, str, str]]  # id -> code, en, zh
    feeder_names: dict[int, str]  # breaker id -> code


# One entry per engine (one per database in a process), dropped with the engine.
_territories: weakref.WeakKeyDictionary[Engine | Connection, ServedTerritory] = weakref.WeakKeyDictionary()
_territories_lock = threading.Lock()


def served_territory(session: Session) -> ServedTerritory:
    """Customers served by each device, and district and feeder names, read again only when the
    territory revision or the highest customer or device id moves.

    Counting a million customers by transformer and district was over a third of reading the
    report (0.9 s, measured); importing, loading the demo and editing important users all bump
    the revision, and the highest ids catch rows added by any other path.
    """
    bind = session.get_bind()
    highest_customer, highest_device = session.execute(
        select(select(func.max(Customer.id)).scalar_subquery(), select(func.max(Device.id)).scalar_subquery())
    ).one()
    stamp = (int(get_setting(session, "territory.revision")), highest_customer, highest_device)
    with _territories_lock:
        cached = _territories.get(bind)
    if cached is not None and cached.stamp == stamp:
        return cached
    territory = _read_territory(session, stamp)
    with _territories_lock:
        _territories[bind] = territory
    return territory


def _read_territory(session: Session, stamp: tuple[int, int | None, int | None]) -> ServedTerritory:
    devices = _frame(
        session,
        select(Device.id, Device.parent_id, Device.feeder_id, Device.district_id, Device.kind, Device.code),
    )
    customers_at = _frame(session, CUSTOMERS_PER_TRANSFORMER_AND_DISTRICT)
    districts = _frame(session, select(District.id, District.code, District.name_en, District.name_zh))
    breakers = devices[devices["kind"] == DeviceKind.BREAKER.value]
    return ServedTerritory(
        stamp=stamp,
        served=served_customers(devices, customers_at, districts["id"].to_numpy(dtype=np.int64)),
        district_names={
            int(row.id): (str(row.code), str(row.name_en), str(row.name_zh)) for row in districts.itertuples()
        },
        feeder_names=dict(zip(breakers["id"].astype(int), breakers["code"].astype(str), strict=True)),
    )


# --- periods and indices ---------------------------------------------------------------------


def day_start(day: date, timezone: ZoneInfo) -> datetime:
    return datetime.combine(day, time(0), timezone)


def period_minutes(first_day: date, last_day: date, timezone: ZoneInfo, now: datetime) -> float:
    """Minutes from the period's first local midnight to its end, or to now if it is still going."""
    end = min(day_start(last_day + timedelta(days=1), timezone), now)
    return max((end - day_start(first_day, timezone)).total_seconds() / 60, 0.0)


def compute_indices(
    data: ReliabilityData,
    first_day: date,
    last_day: date,
    by: Grouping = "overall",
    leave_out_days: frozenset[date] = frozenset(),
) -> pd.DataFrame:
    """SAIFI, SAIDI, CAIDI, CAIFI, ASAI and MAIFI for interruptions that began in the period.

    One row per group: "all" for overall, a district id or a feeder breaker id; `leave_out_days`
    (major event days) drops interruptions that began on them. CAIDI and CAIFI are NaN when no
    customer had a sustained interruption.
    """
    pieces = data.pieces
    days = pieces["day"]
    chosen = ((days >= pd.Timestamp(first_day)) & (days <= pd.Timestamp(last_day))).to_numpy()
    if leave_out_days:
        chosen = chosen & ~days.isin([pd.Timestamp(day) for day in leave_out_days]).to_numpy()
    rows = data.device_rows[chosen]
    customers = pieces["customers"].to_numpy(dtype=float)[chosen]
    minutes = pieces["minutes"].to_numpy(dtype=float)[chosen]
    sustained = pieces["sustained"].to_numpy()[chosen]
    per_group = _GroupSums(data.served, by)
    interrupted = per_group.sum(rows, np.where(sustained, customers, 0.0))
    customer_minutes = per_group.sum(rows, np.where(sustained, customers * minutes, 0.0))
    momentary = per_group.sum(rows, np.where(sustained, 0.0, customers))
    distinct = per_group.distinct(rows[sustained])
    served = per_group.served
    span = period_minutes(first_day, last_day, data.timezone, data.now)
    with np.errstate(divide="ignore", invalid="ignore"):
        saifi = interrupted / served
        saidi = customer_minutes / served
        table = pd.DataFrame(
            {
                "customers_served": served,
                "saifi": saifi,
                "saidi": saidi,
                "caidi": np.where(interrupted > 0, customer_minutes / interrupted, np.nan),
                "caifi": np.where(distinct > 0, interrupted / distinct, np.nan),
                "asai": 1.0 - customer_minutes / (served * span) if span else np.nan,
                "maifi": momentary / served,
                "customers_interrupted": interrupted,
                "customer_minutes": customer_minutes,
                "distinct_customers": distinct,
                "momentary_interruptions": momentary,
            },
            index=pd.Index(per_group.keys, name=by),
        )
    return table[table["customers_served"] > 0]


class _GroupSums:
    """Sums of per-piece values into groups, and customers served and distinct customers per group."""

    def __init__(self, served: ServedCustomers, by: Grouping) -> None:
        self.served_customers = served
        self.by = by
        if by == "overall":
            self.keys: list[object] = ["all"]
            self.served = np.array([served.served_total])
        elif by == "district":
            self.keys = served.district_ids.tolist()
            self.served = served.by_position.sum(axis=0)
        elif by == "feeder":
            per_feeder = served.served_by_feeder
            self.keys = per_feeder.index.tolist()
            self.served = per_feeder.to_numpy(dtype=float)
            self._feeder_index = pd.Index(per_feeder.index)
        else:
            raise ValueError(f"unknown grouping {by!r}")

    def sum(self, rows: np.ndarray, values: np.ndarray) -> np.ndarray:
        served = self.served_customers
        if self.by == "overall":
            return np.array([values.sum()])
        if self.by == "district":
            return values @ served.district_shares(rows)
        feeders = served.feeder[rows]
        index = self._feeder_index.get_indexer(feeders)
        known = index >= 0
        totals = np.bincount(index[known], weights=values[known], minlength=len(self.keys)).astype(float)
        # A substation outage has no feeder of its own: share it among the feeders it feeds, worked
        # out once per substation rather than once per piece.
        orphans = index < 0
        if orphans.any():
            substations, which = np.unique(rows[orphans], return_inverse=True)
            for row, value in zip(substations, np.bincount(which, weights=values[orphans]), strict=True):
                totals += value * self._feeder_shares(row)
        return totals

    def _feeder_shares(self, row: int) -> np.ndarray:
        """Each feeder's share of the customers at or below the device (all zero if it serves none)."""
        served = self.served_customers
        run = slice(served.run_start[row], served.run_end[row])
        feeders = self._feeder_index.get_indexer(served.feeder_by_position[run])
        known = feeders >= 0
        customers = served.by_position[run].sum(axis=1)
        below = np.bincount(feeders[known], weights=customers[known], minlength=len(self.keys))
        total = below.sum()
        return below / total if total > 0 else below

    def distinct(self, rows: np.ndarray) -> np.ndarray:
        """Customers below any of these devices, each counted once (runs in network preorder)."""
        served = self.served_customers
        edges = np.zeros(len(served.device_ids) + 1)
        np.add.at(edges, served.run_start[rows], 1)
        np.add.at(edges, served.run_end[rows], -1)
        covered = np.cumsum(edges[:-1]) > 0
        counts = served.by_position[covered]
        if self.by == "overall":
            return np.array([counts.sum()])
        if self.by == "district":
            return counts.sum(axis=0)
        index = self._feeder_index.get_indexer(served.feeder_by_position[covered])
        return np.bincount(
            index[index >= 0], weights=counts.sum(axis=1)[index >= 0], minlength=len(self.keys)
        ).astype(float)


# --- major event days ------------------------------------------------------------------------


def daily_saidi(data: ReliabilityData, first_day: date, last_day: date) -> pd.Series:
    """System SAIDI of each local day (interruptions that began that day), zero days included."""
    pieces = data.pieces
    days = pieces["day"]
    sustained = pieces[
        pieces["sustained"] & (days >= pd.Timestamp(first_day)) & (days <= pd.Timestamp(last_day))
    ]
    minutes = (sustained["customers"] * sustained["minutes"]).groupby(sustained["day"]).sum()
    every_day = pd.date_range(first_day, last_day, freq="D")
    served = data.served.served_total
    saidi = minutes.reindex(every_day, fill_value=0.0) / (served or 1.0)
    return pd.Series(saidi.to_numpy(), index=pd.Index(every_day.date, name="day"), name="saidi")


def major_event_threshold(daily: pd.Series | np.ndarray) -> tuple[float, float, float, int] | None:
    """(T_MED, alpha, beta, days used) by the 2.5 beta method, or None with under two positive days."""
    values = np.asarray(daily, dtype=float)
    positive = values[values > 0]
    if len(positive) < 2:
        return None
    logs = np.log(positive)
    alpha = float(logs.mean())
    beta = float(logs.std(ddof=1))
    return math.exp(alpha + MED_BETA_MULTIPLE * beta), alpha, beta, len(positive)


@dataclass(frozen=True)
class MajorEventThreshold:
    t_med: float
    alpha: float
    beta: float
    days_used: int
    first_day: date
    last_day: date
    previous_only: bool  # False: too little history before the period, so the period was included


def threshold_for(
    data: ReliabilityData, first_day: date, last_day: date | None = None
) -> MajorEventThreshold | None:
    """T_MED for a period starting `first_day`: from the five years of days before it.

    With fewer than MED_MIN_DAYS positive days before it (a new system), the days up to
    `last_day` are used too, and the result says so.
    """
    start = years_before(first_day, MED_HISTORY_YEARS)
    before = first_day - timedelta(days=1)
    fitted = major_event_threshold(daily_saidi(data, start, before))
    previous_only = fitted is not None and fitted[3] >= MED_MIN_DAYS
    end = before
    if not previous_only and last_day is not None:
        end = last_day
        fitted = major_event_threshold(daily_saidi(data, start, last_day))
    if fitted is None:
        return None
    return MajorEventThreshold(*fitted, first_day=start, last_day=end, previous_only=previous_only)


def years_before(day: date, years: int) -> date:
    """The same calendar day `years` earlier (28 February for a 29th that year lacks)."""
    try:
        return day.replace(year=day.year - years)
    except ValueError:
        return day.replace(year=day.year - years, day=28)


@dataclass(frozen=True)
class RunningSaidi:
    """Today's SAIDI so far against T_MED: the day is becoming a major event day when it passes."""

    day: date
    saidi: float
    customers_out: float
    threshold: MajorEventThreshold | None

    @property
    def share_of_threshold(self) -> float | None:
        return self.saidi / self.threshold.t_med if self.threshold and self.threshold.t_med else None

    @property
    def is_major_event(self) -> bool:
        return self.threshold is not None and self.saidi > self.threshold.t_med


def running_saidi(data: ReliabilityData) -> RunningSaidi:
    """Customer minutes of today's interruptions, the active ones counted up to now, against
    T_MED for a period starting today (the five years before it)."""
    return running_saidi_against(data, threshold_for(data, data.now.astimezone(data.timezone).date()))


def running_saidi_against(data: ReliabilityData, threshold: MajorEventThreshold | None) -> RunningSaidi:
    """Today's SAIDI so far against a given threshold (a report's own)."""
    today = data.now.astimezone(data.timezone).date()
    pieces = data.pieces
    still_out = pieces["end"] >= pd.Timestamp(data.now)
    return RunningSaidi(
        day=today,
        saidi=float(daily_saidi(data, today, today).iloc[0]),
        customers_out=float(pieces.loc[still_out, "customers"].sum()),
        threshold=threshold,
    )


# --- the report a manager reads ---------------------------------------------------------------


@dataclass(frozen=True)
class ReliabilityReport:
    first_day: date
    last_day: date
    district_id: int | None
    overall: pd.DataFrame  # index: "all_days", "without_major_events"
    by_district: pd.DataFrame
    by_district_without_major_events: pd.DataFrame
    by_feeder: pd.DataFrame
    by_feeder_without_major_events: pd.DataFrame
    daily: pd.Series  # system SAIDI of each day of the period
    threshold: MajorEventThreshold | None
    major_event_days: list[date]
    running: RunningSaidi
    district_names: dict[int, tuple[str, str, str]]
    feeder_names: dict[int, str]
    momentary_max_minutes: float


def reliability_report(
    session: Session,
    now: datetime,
    first_day: date,
    last_day: date,
    timezone: ZoneInfo,
    district_id: int | None = None,
) -> ReliabilityReport:
    """Indices for the period, with and without major event days, overall (or for one district),
    by district and by feeder; the period's daily SAIDI and T_MED; today's running SAIDI."""
    since = oldest_day_needed(first_day, now.astimezone(timezone).date())
    data = load_reliability_data(session, now, timezone, since=since)
    return build_report(data, first_day, last_day, district_id)


def oldest_day_needed(first_day: date, today: date) -> date:
    """The first local day a report on a period from `first_day` looks at: five years before the
    period for its major event threshold, or before today for the running SAIDI's."""
    return years_before(min(first_day, today), MED_HISTORY_YEARS)


def build_report(
    data: ReliabilityData, first_day: date, last_day: date, district_id: int | None = None
) -> ReliabilityReport:
    # One T_MED per report. A period that reaches today is read against the threshold in force
    # today (the five years before today), the one today's gauge needs; a past period against
    # the five years before its first day (IEEE 1366).
    today = data.now.astimezone(data.timezone).date()
    threshold = threshold_for(data, today if first_day <= today <= last_day else first_day, last_day)
    daily = daily_saidi(data, first_day, last_day)
    med_days = [] if threshold is None else [d for d, v in daily.items() if v > threshold.t_med]
    leave_out = frozenset(med_days)

    def both(by: Grouping) -> tuple[pd.DataFrame, pd.DataFrame]:
        return (
            compute_indices(data, first_day, last_day, by),
            compute_indices(data, first_day, last_day, by, leave_out),
        )

    by_district, by_district_less = both("district")
    by_feeder, by_feeder_less = both("feeder")
    if district_id is None:
        whole, whole_less = both("overall")
    else:
        by_district = by_district.loc[by_district.index == district_id]
        by_district_less = by_district_less.loc[by_district_less.index == district_id]
        whole, whole_less = by_district, by_district_less
        rows = data.served.rows(by_feeder.index.to_numpy(dtype=np.int64))
        in_district = data.served.device_district[rows] == district_id
        by_feeder, by_feeder_less = by_feeder[in_district], by_feeder_less[in_district]
    overall = pd.concat([whole, whole_less], ignore_index=True)
    overall.index = pd.Index(["all_days", "without_major_events"][: len(overall)], name="days")
    return ReliabilityReport(
        first_day=first_day,
        last_day=last_day,
        district_id=district_id,
        overall=overall,
        by_district=by_district,
        by_district_without_major_events=by_district_less,
        by_feeder=by_feeder,
        by_feeder_without_major_events=by_feeder_less,
        daily=daily,
        threshold=threshold,
        major_event_days=med_days,
        # One T_MED on the page: today's gauge is read against the report's threshold, the one
        # the daily chart draws and the major event days are found with.
        running=running_saidi_against(data, threshold),
        district_names=data.district_names,
        feeder_names=data.feeder_names,
        momentary_max_minutes=data.momentary_max_minutes,
    )
