"""SLA compliance for any period, district, area type and crew, computed from the outage records.

`outage_timings` is the one table every figure comes from: one row per outage whose first report
falls in the period (cancelled outages and outages merged into another are left out: a false
alarm has no clocks, and a merged outage's clocks go on in the outage that absorbed it). Its
clocks follow `emergency.dispatch.sla` exactly, limits from the `sla_targets` table:

- a clock starts at its start event and stops at its stop event, or, when the outage ended
  without that event (a recloser restored supply before anyone was dispatched), when it ended;
- stopped at or before the deadline is met; exactly at the deadline is on time;
- a clock still running is missed once the deadline has passed, and undecided (NA) before.

`breach_list` says what caused each missed dispatch or on-site clock; the rule is written at
`dispatch_causes`. `compliance_summary` gives each clock's share met and its distribution.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import numpy.typing as npt
import pandas as pd
from sqlalchemy import Select, func, or_, select
from sqlalchemy.orm import Session

from emergency.core.calendar import load_overrides
from emergency.core.clock import Clock
from emergency.core.models import (
    ACTIVE_OUTAGE_STATES,
    AuditEvent,
    Crew,
    CrewAssignment,
    CrewStatus,
    Device,
    District,
    OnSiteSource,
    Outage,
    OutageState,
)
from emergency.dispatch.sla import OUTAGE_END_EVENTS, Target, deadline_for, load_targets
from emergency.reporting.outage_figures import district_shares

DISPATCH_TARGET = "outage_dispatch"
ON_SITE_TARGET = "outage_on_site"
# The outage events a target may name as its start or stop, as `<event>_at` columns of the timings.
OUTAGE_EVENTS = (
    "first_report",
    "predicted",
    "confirmed",
    "dispatched",
    "en_route",
    "on_site",
    "restored",
    "closed",
    "cancelled",
)
TIMESTAMP = "datetime64[us, UTC]"
TIMING_COLUMNS = (
    "outage_id",
    "district_id",
    "district",
    "district_zh",
    "area_type",
    "crew_id",
    "customers_affected",
    *(f"{event}_at" for event in OUTAGE_EVENTS),
    "ended_at",
    "dispatch_minutes",
    "on_site_minutes",
    "travel_minutes",
    "restore_minutes",
    "dispatch_met",
    "on_site_met",
    "on_site_source",
)
# Audit actions that take a crew off duty and put it back (emergency.dispatch.crews._set_duty).
OFF_DUTY_ACTION = f"crew.{CrewStatus.OFF_DUTY.value}"
ON_DUTY_ACTION = f"crew.{CrewStatus.AVAILABLE.value}"
NEVER = np.iinfo(np.int64).max
EARLIEST = np.iinfo(np.int64).min


class BreachCause(StrEnum):
    NO_CREW_FREE = "no_crew_free"
    LATE_CONFIRMATION = "late_confirmation"
    DISPATCHER_DELAY = "dispatcher_delay"
    TRAVEL = "travel"


# --- the timings ------------------------------------------------------------------------------


def outage_timings(
    session: Session,
    start: datetime,
    end: datetime,
    *,
    clock: Clock,
    tz: ZoneInfo,
    district_id: int | None = None,
    area_type: str | None = None,
    crew_id: int | None = None,
) -> pd.DataFrame:
    """One row per outage first reported in [start, end), with its lifecycle times and clocks.

    Columns: outage_id, district_id, district (English name), district_zh, area_type, crew_id
    (the first crew assigned, whatever became of that assignment), customers_affected, the
    `<event>_at` times of `OUTAGE_EVENTS`, ended_at (restored, cancelled or closed), the minutes
    from first report to dispatch, on site and restored and from dispatch to on site (travel;
    NaN where the event has not happened), and dispatch_met / on_site_met (nullable booleans:
    NA while a clock runs within its limit, or when the utility has no such target). `clock`
    decides whether a running clock has run out yet; working-day limits count local days in `tz`.
    `district_id` / `area_type` keep the outages that cut off customers living in that district
    (or a district of that area type), as every report counts by district.
    """
    frame = counted_outages(
        session,
        Outage.state,
        Outage.device_id,
        Outage.customers_affected,
        Outage.on_site_source,
        *(getattr(Outage, f"{event}_at") for event in OUTAGE_EVENTS),
        where=(Outage.first_report_at >= start, Outage.first_report_at < end),
    )
    if district_id is not None or area_type is not None:
        frame = frame[_reaches(session, frame, district_id, area_type)].reset_index(drop=True)
    frame["crew_id"] = _first_crews(session, frame["outage_id"].tolist())
    if crew_id is not None:
        frame = frame[frame["crew_id"] == crew_id].reset_index(drop=True)
    return _with_clocks(session, frame, clock.now(), tz)


def _reaches(
    session: Session, frame: pd.DataFrame, district_id: int | None, area_type: str | None
) -> npt.NDArray[np.bool_]:
    """Which outages cut off customers living in the district (or in a district of the area type):
    the one rule of `outage_figures`, so a feeder outage that crosses a boundary is in both."""
    split = district_shares(
        session,
        frame["device_id"].to_numpy(dtype=np.int64),
        frame["district_id"].fillna(-1).to_numpy(dtype=np.int64),
    )
    wanted = session.execute(select(District.id, District.area_type)).all()
    chosen = [
        i
        for i, kind in wanted
        if (district_id is None or i == district_id) and (area_type is None or str(kind) == area_type)
    ]
    columns = np.isin(split.district_ids, np.asarray(chosen, dtype=np.int64))
    return np.asarray((split.shares[:, columns] > 0).any(axis=1), dtype=bool)


def counted_outages(
    session: Session,
    *columns: Any,
    where: Iterable[Any] = (),
) -> pd.DataFrame:
    """The outages reports count, with `columns` of theirs, as a frame in outage id order.

    Cancelled outages (false alarms) and outages merged into another (their customers and clocks
    live on in the one that absorbed them) are left out. Each outage is in its own district, or
    its device's when it has none. The frame starts with outage_id, district_id, district (English
    name), district_zh and area_type, then the columns by name; `*_at` columns are UTC timestamps.
    """
    district = func.coalesce(Outage.district_id, Device.district_id)
    query = (
        select(
            Outage.id.label("outage_id"),
            district.label("district_id"),
            District.name_en.label("district"),
            District.name_zh.label("district_zh"),
            District.area_type.label("area_type"),
            *columns,
        )
        .join(Device, Device.id == Outage.device_id)
        .outerjoin(District, District.id == district)
        .where(
            Outage.state.not_in([OutageState.CANCELLED, OutageState.MERGED]),
            Outage.merged_into_id.is_(None),
            *where,
        )
        .order_by(Outage.id)
    )
    frame = pd.DataFrame(session.execute(query).all(), columns=list(query.selected_columns.keys()))
    frame["district_id"] = frame["district_id"].astype("Int64")
    frame["area_type"] = frame["area_type"].map(lambda v: None if v is None else str(v)).astype("object")
    for name in frame.columns:
        if name.endswith("_at"):
            frame[name] = pd.to_datetime(frame[name], utc=True).astype(TIMESTAMP)
    return frame


def rows_for_outages(
    session: Session, query: Select[Any], outage_column: Any, outage_ids: Sequence[int]
) -> list[Any]:
    """`query`'s rows for these outages, asked a chunk of ids at a time (both databases bound the
    number of parameters); each chunk keeps the query's order."""
    rows: list[Any] = []
    for chunk in chunks(outage_ids):
        rows.extend(session.execute(query.where(outage_column.in_(chunk))).all())
    return rows


def _first_crews(session: Session, outage_ids: Sequence[int]) -> pd.Series:
    """The first crew assigned to each outage, as a nullable integer aligned with `outage_ids`."""
    query = select(CrewAssignment.outage_id, CrewAssignment.crew_id).order_by(
        CrewAssignment.outage_id, CrewAssignment.assigned_at, CrewAssignment.id
    )
    first: dict[int, int] = {}
    for outage_id, crew in rows_for_outages(session, query, CrewAssignment.outage_id, outage_ids):
        first.setdefault(outage_id, crew)
    return pd.Series([first.get(i) for i in outage_ids], dtype="Int64")


def chunks(ids: Sequence[int], size: int = 500) -> Iterable[Sequence[int]]:
    for at in range(0, len(ids), size):
        yield ids[at : at + size]


def _with_clocks(session: Session, frame: pd.DataFrame, now: datetime, tz: ZoneInfo) -> pd.DataFrame:
    ended = frame[[f"{name}" for name in OUTAGE_END_EVENTS]].min(axis=1)
    active = frame["state"].isin([str(s) for s in ACTIVE_OUTAGE_STATES])
    frame["ended_at"] = ended.where(~active).astype(TIMESTAMP)
    frame["customers_affected"] = frame["customers_affected"].astype("int64")
    first = frame["first_report_at"]
    frame["dispatch_minutes"] = _minutes(frame["dispatched_at"] - first)
    frame["on_site_minutes"] = _minutes(frame["on_site_at"] - first)
    frame["travel_minutes"] = _minutes(frame["on_site_at"] - frame["dispatched_at"])
    frame["restore_minutes"] = _minutes(frame["restored_at"] - first)
    frame["on_site_source"] = arrival_sources(frame["on_site_source"], frame["on_site_at"])
    targets = {t.code: t for t in load_targets(session, "outage")}
    for code, column in ((DISPATCH_TARGET, "dispatch_met"), (ON_SITE_TARGET, "on_site_met")):
        target = targets.get(code)
        if target is None:
            frame[column] = pd.Series(pd.NA, index=frame.index, dtype="boolean")
        else:
            frame[column] = clock_outcomes(session, frame, target, now, tz)["met"]
    return frame[list(TIMING_COLUMNS)]


def _minutes(delta: pd.Series) -> pd.Series:
    return delta.dt.total_seconds().astype("float64") / 60.0


# --- one clock over many outages -----------------------------------------------------------------


def clock_outcomes(
    session: Session, timings: pd.DataFrame, target: Target, now: datetime, tz: ZoneInfo
) -> pd.DataFrame:
    """Each outage's clock of `target`, as `emergency.dispatch.sla.outage_clocks` would judge it at `now`.

    Working-day deadlines count local days in `tz`. Returns, aligned with `timings`: started_at,
    deadline, stopped_at (the stop event, or the outage's end), and met (nullable boolean: NA
    where the clock has not started, does not apply to the outage's area type, or still runs
    within its limit).
    """
    started = _event_column(timings, target, target.starts_on)
    stopped = _event_column(timings, target, target.stops_on).fillna(timings["ended_at"])
    deadline = _deadlines(session, started, target, tz)
    applies = started.notna()
    if target.area_type is not None:
        applies &= timings["area_type"] == target.area_type
    met = pd.Series(pd.NA, index=timings.index, dtype="boolean")
    decided = applies & stopped.notna()
    met[decided] = (stopped <= deadline)[decided]
    met[applies & stopped.isna() & (deadline < pd.Timestamp(now))] = False
    return pd.DataFrame({"started_at": started, "deadline": deadline, "stopped_at": stopped, "met": met})


def _event_column(timings: pd.DataFrame, target: Target, event: str) -> pd.Series:
    column = f"{event}_at"
    if column not in timings:
        # A target naming an event outages do not record is a configuration error worth a loud message.
        raise ValueError(f"target {target.code}: outages record no time for event {event!r}")
    return timings[column]


def _deadlines(session: Session, started: pd.Series, target: Target, tz: ZoneInfo) -> pd.Series:
    if target.calendar == "clock" and target.limit_minutes is not None:
        return started + pd.Timedelta(minutes=target.limit_minutes)
    # Working-day limits depend on each start's local day and the holiday calendar.
    overrides = load_overrides(session)
    deadlines = [
        pd.NaT
        if pd.isna(at)
        else deadline_for(target, at.to_pydatetime(), tz=tz, calendar_overrides=overrides)
        for at in started
    ]
    return pd.Series(pd.to_datetime(deadlines, utc=True), index=started.index).astype(TIMESTAMP)


# --- breaches and their causes ------------------------------------------------------------------

BREACH_COLUMNS = (
    "outage_id",
    "district",
    "district_zh",
    "area_type",
    "crew_id",
    "code",
    "clock_en",
    "clock_zh",
    "limit_minutes",
    "first_report_at",
    "deadline",
    "stopped_at",
    "overrun_minutes",
    "idle_crews_at_deadline",
    "cause",
)


def breach_list(session: Session, timings: pd.DataFrame, clock: Clock, tz: ZoneInfo) -> pd.DataFrame:
    """Every missed dispatch or on-site clock in `timings`, with its cause, latest deadline first.

    The cause of a late dispatch is decided by `dispatch_causes`. A late arrival after a timely
    dispatch is `travel`; a late arrival after a late dispatch has the late dispatch's cause,
    because that delay came first. `overrun_minutes` counts to the stop, or to now while the
    clock still runs.
    """
    now = clock.now()
    targets = {t.code: t for t in load_targets(session, "outage")}
    dispatch_target = targets.get(DISPATCH_TARGET)
    if dispatch_target is None:
        return pd.DataFrame(columns=list(BREACH_COLUMNS))
    dispatch = clock_outcomes(session, timings, dispatch_target, now, tz)
    idle = idle_crews_at(session, dispatch["deadline"])
    causes = dispatch_causes(timings, dispatch, idle)
    parts = [_breaches(timings, dispatch_target, dispatch, idle, causes, now)]
    on_site_target = targets.get(ON_SITE_TARGET)
    if on_site_target is not None:
        on_site = clock_outcomes(session, timings, on_site_target, now, tz)
        after_late_dispatch = causes.where(dispatch["met"].eq(False).fillna(False))
        on_site_causes = after_late_dispatch.fillna(BreachCause.TRAVEL.value)
        parts.append(_breaches(timings, on_site_target, on_site, idle, on_site_causes, now))
    found = pd.concat([p for p in parts if len(p)] or [parts[0]], ignore_index=True)
    return found.sort_values(["deadline", "outage_id", "code"], ascending=[False, True, True]).reset_index(
        drop=True
    )


def dispatch_causes(
    timings: pd.DataFrame, dispatch: pd.DataFrame, idle_at_deadline: npt.NDArray[np.int64]
) -> pd.Series:
    """Why each dispatch clock was missed (computed for every row; only missed ones are used).

    The rule, first match wins:

    1. `no_crew_free`: when the clock ran out, no crew was idle (every crew was on a job or off
       duty; see `idle_crews_at`). Dispatching at the deadline would have met the clock, so a
       crew idle then means the clock could have been met; none idle means the outage waited
       in a queue for crews. Checked at the deadline rather than at the first report, because
       in a storm a crew free at the first report is often sent to another outage a minute later.
    2. `late_confirmation`: the outage was predicted (trouble-call analysis, not yet confirmed),
       was still unconfirmed when the clock ran out, and no crew went before its confirmation:
       the dispatch waited for someone to confirm it.
    3. `dispatcher_delay`: otherwise; a crew was idle and the outage was known, yet nobody was
       sent in time.
    """
    deadline = dispatch["deadline"]
    confirmed = timings["confirmed_at"]
    unconfirmed_at_deadline = confirmed.isna() | (confirmed > deadline)
    waited_for_confirmation = timings["dispatched_at"].isna() | (timings["dispatched_at"] >= confirmed)
    late_confirmation = timings["predicted_at"].notna() & unconfirmed_at_deadline & waited_for_confirmation
    cause = np.where(
        idle_at_deadline == 0,
        BreachCause.NO_CREW_FREE.value,
        np.where(
            late_confirmation.to_numpy(dtype=bool, na_value=False),
            BreachCause.LATE_CONFIRMATION.value,
            BreachCause.DISPATCHER_DELAY.value,
        ),
    )
    return pd.Series(cause, index=timings.index, dtype="object")


def _breaches(
    timings: pd.DataFrame,
    target: Target,
    outcome: pd.DataFrame,
    idle: npt.NDArray[np.int64],
    causes: pd.Series,
    now: datetime,
) -> pd.DataFrame:
    missed = outcome["met"].eq(False).fillna(False).to_numpy(dtype=bool)
    until = outcome["stopped_at"].fillna(pd.Timestamp(now)).astype(TIMESTAMP)
    rows = pd.DataFrame(
        {
            "outage_id": timings["outage_id"],
            "district": timings["district"],
            "district_zh": timings["district_zh"],
            "area_type": timings["area_type"],
            "crew_id": timings["crew_id"],
            "code": target.code,
            "clock_en": target.name_en,
            "clock_zh": target.name_zh,
            "limit_minutes": target.limit_minutes,
            "first_report_at": timings["first_report_at"],
            "deadline": outcome["deadline"],
            "stopped_at": outcome["stopped_at"],
            "overrun_minutes": _minutes(until - outcome["deadline"]),
            "idle_crews_at_deadline": idle,
            "cause": causes,
        }
    )
    return rows[missed].reset_index(drop=True)


# --- crew availability ------------------------------------------------------------------------


def idle_crews_at(session: Session, moments: pd.Series) -> npt.NDArray[np.int64]:
    """How many crews were idle (on duty and on no job) at each moment; 0 where a moment is NaT.

    A crew is busy from an assignment's `assigned_at` until it completed or was cancelled (still
    busy if neither), and off duty between an `crew.off_duty` audit event and the next
    `crew.available` one; a crew off duty now with no such event has been off since its
    `status_at` (always, without one). Busy at the very moment it was assigned, idle at the very
    moment it was released. Counted by searching sorted interval ends, so a year of history is
    one pass, not a loop over outages.
    """
    at = _micros(moments)
    crews = session.execute(select(Crew.id, Crew.status, Crew.status_at)).tuples().all()
    if not crews or not len(at):
        return np.zeros(len(at), dtype=np.int64)
    known = moments.dropna()
    if known.empty:
        return np.zeros(len(at), dtype=np.int64)
    busy = _busy_intervals(session, known.min().to_pydatetime(), known.max().to_pydatetime())
    intervals = pd.concat([busy, _off_duty_intervals(session, crews)], ignore_index=True)
    starts, ends = _merged_per_crew(intervals)
    unavailable = np.searchsorted(starts, at, side="right") - np.searchsorted(ends, at, side="right")
    idle = len(crews) - unavailable
    return np.where(at == EARLIEST, 0, idle).astype(np.int64)


def _micros(times: pd.Series | Sequence[datetime | None]) -> npt.NDArray[np.int64]:
    """Epoch microseconds; NaT and None become EARLIEST, which no interval covers."""
    stamps = pd.Series(pd.to_datetime(pd.Series(times, dtype="object"), utc=True)).astype(TIMESTAMP)
    values = stamps.to_numpy(dtype="datetime64[us]", na_value=np.datetime64("NaT"))
    micros = values.astype(np.int64)
    return np.where(np.isnat(values), EARLIEST, micros)


def _busy_intervals(session: Session, first: datetime, last: datetime) -> pd.DataFrame:
    """Assignments that cover some moment in [first, last] (years of history are not loaded)."""
    ended = func.coalesce(CrewAssignment.completed_at, CrewAssignment.cancelled_at)
    rows = session.execute(
        select(CrewAssignment.crew_id, CrewAssignment.assigned_at, ended).where(
            CrewAssignment.assigned_at <= last, or_(ended.is_(None), ended > first)
        )
    ).all()
    crew, start, end = zip(*rows, strict=True) if rows else ((), (), ())
    return _intervals(crew, start, end)


def _off_duty_intervals(
    session: Session, crews: Sequence[tuple[int, CrewStatus, datetime | None]]
) -> pd.DataFrame:
    events = session.execute(
        select(AuditEvent.entity_id, AuditEvent.at, AuditEvent.action)
        .where(AuditEvent.entity == "crew", AuditEvent.action.in_([OFF_DUTY_ACTION, ON_DUTY_ACTION]))
        .order_by(AuditEvent.at, AuditEvent.id)
    ).all()
    off_since: dict[int, datetime | None] = {}
    crew_ids, starts, ends = [], [], []
    for entity_id, at, action in events:
        crew = int(entity_id)
        if action == OFF_DUTY_ACTION:
            off_since.setdefault(crew, at)
        elif crew in off_since:
            crew_ids.append(crew)
            starts.append(off_since.pop(crew))
            ends.append(at)
    recorded = {int(entity_id) for entity_id, _, _ in events}
    for crew, status, status_at in crews:
        if str(status) != CrewStatus.OFF_DUTY.value:
            continue  # a crew on duty now closed any off-duty time it had
        if crew in off_since:
            since = off_since[crew]
        elif crew not in recorded:
            since = status_at  # off duty before the audit trail knew it (an import, the demo)
        else:
            continue  # its last recorded change put it back on duty: trust the trail
        crew_ids.append(crew)
        starts.append(since)
        ends.append(None)
    return _intervals(crew_ids, starts, ends)


def _intervals(
    crews: Sequence[int], starts: Sequence[datetime | None], ends: Sequence[datetime | None]
) -> pd.DataFrame:
    start = _micros(list(starts))
    end = _micros(list(ends))
    return pd.DataFrame(
        {
            "crew": np.asarray(crews, dtype=np.int64),
            "start": start,
            "end": np.where(end == EARLIEST, NEVER, end),
        }
    )


def _merged_per_crew(intervals: pd.DataFrame) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """Sorted starts and ends of each crew's unavailable time, overlaps merged.

    After merging, a crew's intervals are disjoint, so the number of crews unavailable at t is
    the number of starts at or before t minus the number of ends at or before t.
    """
    if intervals.empty:
        return np.array([], dtype=np.int64), np.array([], dtype=np.int64)
    ordered = intervals.sort_values(["crew", "start", "end"], ignore_index=True)
    reach = ordered.groupby("crew")["end"].cummax()
    previous_reach = reach.groupby(ordered["crew"]).shift()
    block = (previous_reach.isna() | (ordered["start"] > previous_reach)).cumsum()
    merged = ordered.groupby(block).agg(start=("start", "min"), end=("end", "max"))
    return np.sort(merged["start"].to_numpy(np.int64)), np.sort(merged["end"].to_numpy(np.int64))


# --- the summary --------------------------------------------------------------------------------

SUMMARY_COLUMNS = (
    "code",
    "clock_en",
    "clock_zh",
    "limit_minutes",
    "area_type",
    "enforced",
    "outages",
    "met",
    "missed",
    "running",
    "share_met",
    "median_minutes",
    "p90_minutes",
    "mean_minutes",
)


def compliance_summary(session: Session, timings: pd.DataFrame, clock: Clock, tz: ZoneInfo) -> pd.DataFrame:
    """One row per outage clock in `sla_targets`, enforced ones first, on the outages of `timings`.

    `outages` counts the outages the clock applies to (started; an area-type target only for
    outages of that area type); `share_met` is met / (met + missed), NaN with nothing decided;
    clocks still running within their limit count in `running` only. The minutes (median, 90th
    percentile, mean) are from start to the stop event, over the outages where it happened. A
    reference target (State Grid's average arrival by area type) is a commitment on the mean:
    compare `mean_minutes` with `limit_minutes`.
    """
    now = clock.now()
    rows = []
    for target in load_targets(session, "outage", include_reference=True):
        outcome = clock_outcomes(session, timings, target, now, tz)
        applies = outcome["started_at"].notna()
        if target.area_type is not None:
            applies &= timings["area_type"] == target.area_type
        met = int(outcome["met"].eq(True).sum())
        missed = int(outcome["met"].eq(False).sum())
        minutes = _minutes(_event_column(timings, target, target.stops_on) - outcome["started_at"])[
            applies
        ].dropna()
        rows.append(
            {
                "code": target.code,
                "clock_en": target.name_en,
                "clock_zh": target.name_zh,
                "limit_minutes": target.limit_minutes,
                "area_type": target.area_type,
                "enforced": target.enforced,
                "outages": int(applies.sum()),
                "met": met,
                "missed": missed,
                "running": int(applies.sum()) - met - missed,
                "share_met": met / (met + missed) if met + missed else float("nan"),
                "median_minutes": float(minutes.median()) if len(minutes) else float("nan"),
                "p90_minutes": float(minutes.quantile(0.9)) if len(minutes) else float("nan"),
                "mean_minutes": float(minutes.mean()) if len(minutes) else float("nan"),
            }
        )
    return pd.DataFrame(rows, columns=list(SUMMARY_COLUMNS))


# --- the on-site clock by how the arrival was recorded -------------------------------------------

# How an outage's first arrival was recorded (OnSiteSource), `unknown` for arrivals recorded before
# sources were kept, and `not_arrived` for outages no crew has reached yet.
UNKNOWN_SOURCE = "unknown"
NOT_ARRIVED = "not_arrived"
ARRIVAL_SOURCES = (*(s.value for s in OnSiteSource), UNKNOWN_SOURCE, NOT_ARRIVED)
BY_SOURCE_COLUMNS = ("source", "outages", "met", "missed", "running", "share_met", "median_minutes")


def arrival_sources(source: pd.Series, on_site_at: pd.Series) -> pd.Series:
    """Each outage's arrival source as a word of `ARRIVAL_SOURCES`."""
    words = source.map(lambda v: None if v is None or pd.isna(v) else str(v)).astype("object")
    words = words.where(on_site_at.notna(), NOT_ARRIVED)
    return words.fillna(UNKNOWN_SOURCE)


def on_site_by_source(session: Session, timings: pd.DataFrame, clock: Clock, tz: ZoneInfo) -> pd.DataFrame:
    """The 30-minute on-site clock (`outage_on_site`) by how each outage's first arrival was recorded.

    One row per source in `ARRIVAL_SOURCES` order (all of them, zeros included, so a reader sees a
    source is absent rather than forgotten). The rows' `outages` add up to the summary's for the
    clock: the outages it applies to. `share_met` is met / (met + missed); the minutes are from the
    first report to on site. Empty when the utility has no such target.
    """
    targets = {t.code: t for t in load_targets(session, "outage")}
    target = targets.get(ON_SITE_TARGET)
    if target is None:
        return pd.DataFrame(columns=list(BY_SOURCE_COLUMNS))
    outcome = clock_outcomes(session, timings, target, clock.now(), tz)
    applies = outcome["started_at"].notna()
    if target.area_type is not None:
        applies &= timings["area_type"] == target.area_type
    minutes = _minutes(timings["on_site_at"] - outcome["started_at"])
    rows = []
    for source in ARRIVAL_SOURCES:
        mine = applies & (timings["on_site_source"] == source)
        met = int((outcome["met"].eq(True) & mine).sum())
        missed = int((outcome["met"].eq(False) & mine).sum())
        taken = minutes[mine].dropna()
        rows.append(
            {
                "source": source,
                "outages": int(mine.sum()),
                "met": met,
                "missed": missed,
                "running": int(mine.sum()) - met - missed,
                "share_met": met / (met + missed) if met + missed else float("nan"),
                "median_minutes": float(taken.median()) if len(taken) else float("nan"),
            }
        )
    return pd.DataFrame(rows, columns=list(BY_SOURCE_COLUMNS))


# --- what the report can be filtered by -----------------------------------------------------


@dataclass(frozen=True)
class ReportChoices:
    """The districts (id, English name, Chinese name, area type) and crews (id, code, name), and
    each district's id by its code (for the command line)."""

    districts: list[tuple[int, str, str, str]]
    crews: list[tuple[int, str, str]]
    codes: dict[str, int] = field(default_factory=dict)


def report_choices(session: Session) -> ReportChoices:
    districts = session.execute(
        select(District.id, District.name_en, District.name_zh, District.area_type, District.code).order_by(
            District.code
        )
    ).all()
    crews = session.execute(select(Crew.id, Crew.code, Crew.name).order_by(Crew.code)).all()
    return ReportChoices(
        districts=[(i, en, zh, str(area)) for i, en, zh, area, _ in districts],
        crews=[(i, code, name) for i, code, name in crews],
        codes={code: i for i, _, _, _, code in districts},
    )


def right_closed_bins(values: pd.Series, max_bins: int) -> pd.DataFrame:
    """Counts of `values` (minutes) in bins (low, high] of whole minutes, wider when the values
    spread over more than `max_bins` minutes; only bins with a value are listed.

    Closed on the right, so a clock stopped exactly at its limit (met) counts below the limit
    and one a moment later above it; histogram tools bin closed on the left.
    """
    if values.empty:
        return pd.DataFrame({"low": pd.Series(dtype="float64"), "high": [], "outages": []})
    width = max(1, math.ceil((values.max() - values.min()) / max_bins))
    high = np.ceil(values.to_numpy(dtype="float64") / width) * width
    counts = pd.Series(high).value_counts().sort_index()
    return pd.DataFrame(
        {
            "low": counts.index.to_numpy() - width,
            "high": counts.index.to_numpy(),
            "outages": counts.to_numpy(),
        }
    )
