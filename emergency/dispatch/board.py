"""The dispatcher's SLA board: every active outage with its clocks, in the one priority order.

The order and each row's reason come from `emergency.dispatch.priority` (its module docstring and the
README's "Priority" list state the doctrine, key by key). A row's urgency word comes from the same
clocks the row shows (`sla.urgency`), so "on track" never stands beside a missed clock.

Built in a handful of queries whatever the number of outages (5,000 in a typhoon), so the live
page can rebuild it every few seconds.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple
from zoneinfo import ZoneInfo

import numpy as np
import numpy.typing as npt
import pandas as pd
from sqlalchemy import String, select, type_coerce
from sqlalchemy.orm import Session

from emergency.core.calendar import load_overrides
from emergency.core.clock import Clock
from emergency.core.models import (
    ACTIVE_OUTAGE_STATES,
    AssignmentStatus,
    Crew,
    CrewAssignment,
    Customer,
    Device,
    District,
    Outage,
    SlaBreach,
)
from emergency.dispatch import priority as ranking
from emergency.dispatch import sla
from emergency.network.service_outages import account_tail
from emergency.warnings.lifecycle import disaster_mode_districts

OPEN_ASSIGNMENTS = (AssignmentStatus.DISPATCHED, AssignmentStatus.EN_ROUTE, AssignmentStatus.ON_SITE)
# The priority band of the most urgent running clock's state: what breaks first comes first.
CLOCK_BAND = {
    sla.ClockState.BREACHED: ranking.BREACHED,
    sla.ClockState.AT_RISK: ranking.AT_RISK,
    sla.ClockState.ON_TRACK: ranking.ON_TRACK,
}
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MICROSECOND = timedelta(microseconds=1)
# The most urgent clock is the smallest key: running clocks by time left, then stopped ones by
# their margin, then none. Margins are clipped far beyond any real clock so the bands never mix.
CLIP = 2**59
URGENT_STOPPED = 2**61
URGENT_NONE = 2**62
NO_DEVICE = -1  # in no device's way up the network


class BoardRow(NamedTuple):
    """One active outage on the board (a named tuple: thousands are built on every refresh)."""

    outage_id: int
    version: int
    state: str
    device_id: int
    device_code: str
    device_kind: str
    lon: float
    lat: float
    district_id: int | None
    district_en: str | None
    district_zh: str | None
    area_type: str | None
    customers_out: int
    important: dict[str, int]
    weighted_customers: float
    hazard: bool
    nested: bool
    reports: int
    first_report_at: datetime
    etr_at: datetime | None
    etr_source: str | None
    clocks: list[sla.ClockStatus]
    urgent: sla.ClockStatus | None
    crews: tuple[str, ...] = ()  # codes of the crews on its open assignments
    breached: tuple[str, ...] = ()  # clocks that breached, even if since stopped
    priority: ranking.Priority | None = None  # its rank and the reason for it
    # A service outage's customer account (one customer's lone call; staff only, never public):
    # the board names it "TX000123 · service: account ending 4821" (`service_label`).
    service_account: str | None = None
    # The posterior probability of analysis's prediction (evidence-weighted analysis), 0 to 1;
    # None when the rules, SCADA or a person put the outage where it is.
    confidence: float | None = None

    @property
    def is_service(self) -> bool:
        return self.service_account is not None

    @property
    def service_tail(self) -> str | None:
        """The end of the service outage's account, as its name shows it."""
        return account_tail(self.service_account)

    @property
    def important_total(self) -> int:
        return sum(self.important.values())

    @property
    def urgency(self) -> str:
        """The colour-giving word (`sla.urgency`), from the clocks this row shows: breached once any
        of them breached or missed, at_risk, on_track, or done when every clock stopped in time."""
        return sla.urgency(self.clocks, bool(self.breached))

    def clock(self, code: str) -> sla.ClockStatus | None:
        return next((c for c in self.clocks if c.code == code), None)


def sla_board(session: Session, clock: Clock, tz: ZoneInfo) -> list[BoardRow]:
    """Every active outage with its clocks, in priority order (`emergency.dispatch.priority`).

    Rows are read as plain columns and the clocks evaluated as arrays (`sla.clock_states`), so a
    typhoon's 5,000 outages cost a few hundred milliseconds, not one ORM object and one Python
    clock evaluation each; `sla.outage_clocks` stays the reference and tests check both agree.
    `tz` is the utility's time zone (working-day clocks end at a local end of day).
    """
    now = clock.now()
    targets = sla.load_targets(session, "outage")
    at_risk = sla.at_risk_window(session)
    # Times come as the driver gives them (ISO text on SQLite, naive UTC on PostgreSQL): numpy
    # parses either in one call, where the UTC column type would convert them one by one.
    time_names = sorted({"first_report", "etr"} | {e for t in targets for e in (t.starts_on, t.stops_on)})
    times = [type_coerce(_event_column(name), String).label(f"{name}_at") for name in time_names]
    # Core rows through the session's connection: no ORM row processing for thousands of tuples.
    result = session.connection().execute(
        select(
            Outage.id,
            Outage.version,
            type_coerce(Outage.state, String),
            Outage.device_id,
            Outage.district_id,
            Outage.customers_affected,
            Outage.customers_restored,
            type_coerce(Outage.important_affected, String),
            Outage.weighted_customers,
            Outage.hazard,
            Outage.nested,
            Outage.report_count,
            type_coerce(Outage.etr_source, String),
            Device.code,
            type_coerce(Device.kind, String),
            Device.lon,
            Device.lat,
            District.name_en,
            District.name_zh,
            type_coerce(District.area_type, String),
            Device.district_id.label("device_district_id"),
            Customer.account_no,
            Outage.prediction_confidence,
            *times,
        )
        .join(Device, Device.id == Outage.device_id)
        .outerjoin(District, District.id == Outage.district_id)
        .outerjoin(Customer, Customer.id == Outage.customer_id)
        .where(Outage.state.in_(ACTIVE_OUTAGE_STATES))
    )
    position = {key: i for i, key in enumerate(result.keys())}
    rows = result.all()
    if not rows:
        return []
    columns = list(zip(*rows, strict=True))
    micros = {name: _micros(columns[position[f"{name}_at"]]) for name in time_names}
    area_types = np.array(columns[position["area_type"]], dtype=object)
    aware = {name: _datetimes(values) for name, values in micros.items()}
    clocks = _board_clocks(session, targets, micros, aware, area_types, now, at_risk, tz)
    first_reports = aware["first_report"]
    etrs = aware["etr"]
    importants = _json_values(columns[position["important_affected"]])
    crews = _open_crews(session)
    breached = _breached_codes(session)
    priorities = _priorities(session, now, columns, position, micros["first_report"], importants, clocks)
    board = [
        BoardRow(
            outage_id=outage_id,
            version=version,
            state=state,
            device_id=device_id,
            device_code=code,
            device_kind=kind,
            lon=lon,
            lat=lat,
            district_id=district_id,
            district_en=name_en,
            district_zh=name_zh,
            area_type=area_type,
            customers_out=max(affected - restored, 0),
            important=important or {},
            weighted_customers=weighted,
            hazard=hazard,
            nested=nested,
            reports=reports,
            first_report_at=first_report_at,
            etr_at=etr_at,
            etr_source=etr_source,
            clocks=outage_clocks,
            urgent=urgent,
            crews=crews.get(outage_id, ()),
            breached=breached.get(outage_id, ()),
            priority=outage_priority,
            service_account=account,
            confidence=confidence,
        )
        for (
            outage_id,
            version,
            state,
            device_id,
            district_id,
            affected,
            restored,
            _,
            weighted,
            hazard,
            nested,
            reports,
            etr_source,
            code,
            kind,
            lon,
            lat,
            name_en,
            name_zh,
            area_type,
            _,
            account,
            confidence,
            *_,
        ), important, first_report_at, etr_at, (outage_clocks, urgent), outage_priority in zip(
            rows, importants, first_reports, etrs, clocks, priorities, strict=True
        )
    ]
    board.sort(key=lambda row: row.priority.rank)  # type: ignore[union-attr]
    return board


def outage_priorities(session: Session, clock: Clock, tz: ZoneInfo) -> dict[int, ranking.Priority]:
    """Each active outage's place in the one ranking, by outage id (the storm plan's order)."""
    return {row.outage_id: row.priority for row in sla_board(session, clock, tz) if row.priority is not None}


def _priorities(
    session: Session,
    now: datetime,
    columns: list[tuple[Any, ...]],
    position: dict[str, int],
    first_report_us: sla.Micros,
    importants: list[Any],
    clocks: list[tuple[list[sla.ClockStatus], sla.ClockStatus | None]],
) -> list[ranking.Priority]:
    """Each row's priority, in the rows' order (`emergency.dispatch.priority.rank` on the board's columns)."""
    ids = np.array(columns[position["id"]], dtype=np.int64)
    in_disaster = disaster_mode_districts(session, now)
    districts = [
        own if own is not None else device
        for own, device in zip(
            columns[position["district_id"]], columns[position["device_district_id"]], strict=True
        )
    ]
    disaster = np.array([d in in_disaster for d in districts], dtype=bool)
    urgents = [urgent if urgent is not None and urgent.running else None for _, urgent in clocks]
    bands = np.array(
        [ranking.NO_CLOCK if u is None else CLOCK_BAND.get(u.state, ranking.ON_TRACK) for u in urgents],
        dtype=np.int8,
    )
    affected = np.array(columns[position["customers_affected"]], dtype=np.int64)
    restored = np.array(columns[position["customers_restored"]], dtype=np.int64)
    # A service outage cuts off its own customer only: no register user below its transformer is
    # its (a device id no chain holds); its recorded `important_affected` names its customer's grade.
    devices = [
        NO_DEVICE if account is not None else device
        for device, account in zip(
            columns[position["device_id"]], columns[position["account_no"]], strict=True
        )
    ]
    users = ranking.important_users_out(session, devices, first_report_us, importants, now)
    by_priority = ranking.rank(
        ranking.RankingInput(
            outage_ids=ids,
            hazard=np.array(columns[position["hazard"]], dtype=bool),
            disaster=disaster,
            clock_band=bands,
            clock_en=[None if u is None else u.name_en for u in urgents],
            clock_zh=[None if u is None else u.name_zh for u in urgents],
            top_grade=users.top_grade,
            important_users=users.count,
            backup_left=users.backup_left,
            customers_out=np.maximum(affected - restored, 0),
            repair_hours=ranking.repair_hours(
                session, columns[position["kind"]], columns[position["area_type"]], disaster
            ),
            first_report_us=first_report_us,
        )
    )
    at = {outage_id: i for i, outage_id in enumerate(ids.tolist())}
    in_row_order: list[ranking.Priority] = [None] * len(ids)  # type: ignore[list-item]
    for item in by_priority:
        in_row_order[at[item.outage_id]] = item
    return in_row_order


def _event_column(event: str) -> Any:
    column = getattr(Outage, f"{event}_at", None)
    if column is None:
        # A target naming an event nobody records is a configuration error worth a loud message.
        raise ValueError(f"an outage target names event {event!r}, but outages record no {event}_at")
    return column


def _micros(values: Sequence[str | datetime | None]) -> sla.Micros:
    """UTC times as epoch microseconds, `sla.NO_TIME` where there is none."""
    return np.array(values, dtype="datetime64[us]").astype(np.int64)


def _json_values(values: Sequence[str | dict[str, int] | None]) -> list[Any]:
    """JSON column values: SQLite hands back text, parsed here in one call; PostgreSQL's driver
    has already parsed them."""
    if all(isinstance(v, str) or v is None for v in values):
        return json.loads("[" + ",".join("null" if v is None else v for v in values) + "]")  # type: ignore[misc]
    return list(values)


def _datetimes(micros: sla.Micros) -> list[datetime | None]:
    """Aware UTC datetimes (None where there is no time), made by pandas in C."""
    present = micros != sla.NO_TIME
    times: list[datetime | None] = [None] * len(micros)
    if present.any():
        made = pd.DatetimeIndex(micros[present].astype("datetime64[us]")).tz_localize(UTC).to_pydatetime()
        for i, when in zip(np.flatnonzero(present).tolist(), made.tolist(), strict=True):
            times[i] = when
    return times


def _board_clocks(
    session: Session,
    targets: list[sla.Target],
    micros: dict[str, sla.Micros],
    aware: dict[str, list[datetime | None]],
    area_types: npt.NDArray[np.object_],
    now: datetime,
    at_risk: timedelta,
    tz: ZoneInfo,
) -> list[tuple[list[sla.ClockStatus], sla.ClockStatus | None]]:
    """Each outage's clocks in the order of `targets`, and the most urgent enforced one
    (`sla.most_urgent`'s order: running first, then the least time left)."""
    count = len(area_types)
    now_us = (now - EPOCH) // MICROSECOND
    at_risk_us = at_risk // MICROSECOND
    per_target = []
    keys = np.full((max(len(targets), 1), count), URGENT_NONE, dtype=np.int64)
    for j, target in enumerate(targets):
        started = micros[target.starts_on]
        stopped = micros[target.stops_on]
        applies = started != sla.NO_TIME
        if target.area_type is not None:
            applies &= area_types == target.area_type
        deadline, deadline_at = _deadlines(session, target, started, aware[target.starts_on], applies, tz)
        deadline = np.where(applies, deadline, sla.NO_TIME)
        states, remaining = sla.clock_states(deadline, stopped, now_us, at_risk_us)
        remaining = np.where(applies, remaining, 0)
        if not target.reference:
            running = stopped == sla.NO_TIME
            keys[j] = np.where(
                applies, np.where(running, 0, URGENT_STOPPED) + remaining.clip(-CLIP, CLIP), keys[j]
            )
        per_target.append(
            (
                target,
                applies.tolist(),
                aware[target.starts_on],
                deadline_at,
                aware[target.stops_on],
                [sla.CLOCK_STATES[s] for s in states.tolist()],
                remaining.astype("timedelta64[us]").tolist(),
            )
        )
    # One list per target, None where the target does not apply: built a target at a time, in
    # comprehensions, then read across for each outage.
    by_target = [
        [
            sla.ClockStatus(
                target.code, target.name_en, target.name_zh, start, end, stop, state, left, target.reference
            )
            if applies
            else None
            for applies, start, end, stop, state, left in zip(
                applies_list, started_at, deadline_at, stopped_at, states_list, remaining_list, strict=True
            )
        ]
        for target, applies_list, started_at, deadline_at, stopped_at, states_list, remaining_list in (
            per_target
        )
    ]
    urgent_index = keys.argmin(axis=0).tolist()
    has_urgent = (keys.min(axis=0) < URGENT_NONE).tolist()
    return [
        ([c for c in outage_clocks if c is not None], outage_clocks[j] if urgent else None)
        for outage_clocks, j, urgent in zip(
            zip(*by_target, strict=True) if by_target else [()] * count, urgent_index, has_urgent, strict=True
        )
    ]


def _deadlines(
    session: Session,
    target: sla.Target,
    started: sla.Micros,
    started_at: list[datetime | None],
    applies: npt.NDArray[np.bool_],
    tz: ZoneInfo,
) -> tuple[sla.Micros, list[datetime | None]]:
    """Each clock's deadline, as microseconds and as a datetime."""
    if target.calendar != "working_days":
        # `deadline_for` validates the target and gives its fixed limit.
        limit = sla.deadline_for(target, EPOCH) - EPOCH
        return started + limit // MICROSECOND, [None if s is None else s + limit for s in started_at]
    # Working days depend on the start day and the holiday calendar: the reference, one by one.
    overrides = load_overrides(session)
    deadlines = np.full(len(started), sla.NO_TIME, dtype=np.int64)
    deadline_at: list[datetime | None] = [None] * len(started)
    for i, start in enumerate(started_at):
        if applies[i] and start is not None:
            deadline_at[i] = sla.deadline_for(target, start, tz=tz, calendar_overrides=overrides)
            deadlines[i] = (deadline_at[i] - EPOCH) // MICROSECOND  # type: ignore[operator]
    return deadlines, deadline_at


def _open_crews(session: Session) -> dict[int, tuple[str, ...]]:
    """Codes of the crews on each active outage's open assignments, sorted."""
    crews: dict[int, list[str]] = {}
    for outage_id, code in session.execute(
        select(CrewAssignment.outage_id, Crew.code)
        .join(Crew, Crew.id == CrewAssignment.crew_id)
        .join(Outage, Outage.id == CrewAssignment.outage_id)
        .where(CrewAssignment.status.in_(OPEN_ASSIGNMENTS), Outage.state.in_(ACTIVE_OUTAGE_STATES))
    ).tuples():
        crews.setdefault(outage_id, []).append(code)
    return {outage_id: tuple(sorted(codes)) for outage_id, codes in crews.items()}


def _breached_codes(session: Session) -> dict[int, tuple[str, ...]]:
    """The clocks each active outage has breached, as recorded (`sla.record_breaches`)."""
    breached: dict[int, set[str]] = {}
    for outage_id, code in session.execute(
        select(SlaBreach.subject_id, SlaBreach.code)
        .join(Outage, Outage.id == SlaBreach.subject_id)
        .where(SlaBreach.subject_kind == "outage", Outage.state.in_(ACTIVE_OUTAGE_STATES))
    ).tuples():
        breached.setdefault(outage_id, set()).add(code)
    return {outage_id: tuple(sorted(codes)) for outage_id, codes in breached.items()}
