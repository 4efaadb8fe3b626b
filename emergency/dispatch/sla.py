"""SLA clocks: how much time each outage and complaint has left against the service standard.

Targets are data (the `sla_targets` table): each names the event that starts its clock and the
event that stops it, a limit in minutes or in Chinese working days, and whether it is enforced or
shown for reference only (State Grid's average arrival by area type). An event name maps to the
subject's `<event>_at` time: `first_report` -> `Outage.first_report_at`, `dispatched` ->
`dispatched_at`, `accepted` -> `Feedback.accepted_at`, and so on, so a utility can add a target on
any recorded event without a code change.

The clock functions are pure: they take plain values and duck-typed outage or feedback objects,
so they run the same on ORM rows, on test doubles and under the storm simulator. Rules:

- A running clock is on track, at risk in its last `sla.at_risk_minutes` (remaining <= the
  window), or breached once `now` is past the deadline. Exactly at the deadline is on time.
- A stopped clock is met (stopped at or before the deadline) or missed; its `remaining` is the
  margin it stopped with, negative when late.
- An outage's clocks start at its first report, whenever it was confirmed.

`record_breaches` turns breaches into records that stay (`SlaBreach`), one duty-manager
notification and one audit event each, safely when several app processes run it at once.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from enum import StrEnum
from typing import Any, NamedTuple
from zoneinfo import ZoneInfo

import numpy as np
import numpy.typing as npt
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from emergency.core import audit
from emergency.core.actor import Actor
from emergency.core.calendar import NO_OVERRIDES, add_working_days, load_overrides
from emergency.core.clock import Clock
from emergency.core.models import (
    ACTIVE_OUTAGE_STATES,
    District,
    Feedback,
    FeedbackKind,
    FeedbackStatus,
    Notification,
    NotificationChannel,
    Outage,
    OutageState,
    SlaBreach,
    SlaTarget,
)
from emergency.core.settings import DEFAULT_SETTINGS, get_setting

DEFAULT_AT_RISK = timedelta(minutes=DEFAULT_SETTINGS["sla.at_risk_minutes"][0])
SLA_MONITOR = Actor("sla-monitor", "system")
DUTY_RECIPIENT = "duty-manager"
BREACH_TEMPLATE = "sla_breach"
# Feedback in these states is finished; its clocks no longer need watching.
FINISHED_FEEDBACK_STATES = frozenset({FeedbackStatus.VERIFIED, FeedbackStatus.CLOSED})
# When an outage ends without a clock's stop event (a recloser restored supply before anyone was
# dispatched, a false alarm cancelled), the clock stops when the outage ended.
OUTAGE_END_EVENTS = ("restored_at", "cancelled_at", "closed_at")
# Both databases accept this many bound parameters in one IN list with room to spare.
ID_CHUNK = 500


class ClockState(StrEnum):
    ON_TRACK = "on_track"
    AT_RISK = "at_risk"
    BREACHED = "breached"  # running, past its deadline
    MET = "met"  # stopped within the limit
    MISSED = "missed"  # stopped after the limit


@dataclass(frozen=True)
class Target:
    """A copy of one `sla_targets` row, safe to keep after its session closes."""

    code: str
    name_en: str
    name_zh: str
    applies_to: str  # outage | fault | complaint | feedback
    starts_on: str
    stops_on: str
    limit_minutes: int | None = None
    limit_working_days: int | None = None
    calendar: str = "clock"  # clock | working_days
    area_type: str | None = None
    enforced: bool = True

    @property
    def reference(self) -> bool:
        """Shown beside the enforced clocks for comparison, never a breach."""
        return not self.enforced

    @classmethod
    def from_row(cls, row: SlaTarget) -> Target:
        return cls(
            code=row.code,
            name_en=row.name_en,
            name_zh=row.name_zh,
            applies_to=row.applies_to,
            starts_on=row.starts_on,
            stops_on=row.stops_on,
            limit_minutes=row.limit_minutes,
            limit_working_days=row.limit_working_days,
            calendar=row.calendar,
            area_type=row.area_type,
            enforced=row.enforced,
        )


class ClockStatus(NamedTuple):
    """One clock of one outage or complaint at one moment (a named tuple: the board builds
    thousands on every refresh)."""

    code: str
    name_en: str
    name_zh: str
    started_at: datetime
    deadline: datetime
    stopped_at: datetime | None
    state: ClockState
    # Time left (running) or the margin at the stop (stopped); negative is an overrun.
    remaining: timedelta
    reference: bool = False

    @property
    def running(self) -> bool:
        return self.stopped_at is None

    @property
    def breached(self) -> bool:
        """Past its deadline, whether still running or stopped late."""
        return self.state in (ClockState.BREACHED, ClockState.MISSED)

    @property
    def overrun(self) -> timedelta:
        return max(-self.remaining, timedelta(0))


# --- targets and settings -------------------------------------------------------------------


def load_targets(
    session: Session, applies_to: str | None = None, *, include_reference: bool = False
) -> list[Target]:
    """The targets, enforced ones only unless `include_reference`, shortest limit first."""
    query = select(SlaTarget)
    if applies_to is not None:
        query = query.where(SlaTarget.applies_to == applies_to)
    if not include_reference:
        query = query.where(SlaTarget.enforced.is_(True))
    targets = [Target.from_row(row) for row in session.scalars(query)]
    return sorted(targets, key=_order)


def _order(target: Target) -> tuple[str, bool, int, str]:
    # A working day is at least a day, so working-day limits sort after clock limits of a day.
    limit = target.limit_minutes if target.calendar == "clock" else (target.limit_working_days or 0) * 1440
    return (target.applies_to, target.reference, limit or 0, target.code)


def at_risk_window(session: Session) -> timedelta:
    """The `sla.at_risk_minutes` setting: how long before its deadline a clock turns at risk."""
    return timedelta(minutes=float(get_setting(session, "sla.at_risk_minutes")))


def deadline_for(
    target: Target,
    started_at: datetime,
    *,
    tz: ZoneInfo | None = None,
    calendar_overrides: Mapping[date, bool] = NO_OVERRIDES,
) -> datetime:
    """When a clock of `target` started at `started_at` runs out.

    Working-day limits follow `emergency.core.calendar`'s rule (the end of the Nth working day after
    the start day, local time), so they need the utility's time zone.
    """
    if target.calendar == "working_days":
        if target.limit_working_days is None:
            raise ValueError(f"target {target.code} counts working days but has no limit_working_days")
        if tz is None:
            raise ValueError(f"target {target.code} counts working days: pass the utility's time zone")
        return add_working_days(started_at, target.limit_working_days, tz, calendar_overrides)
    if target.calendar != "clock":
        raise ValueError(f"target {target.code} has an unknown calendar {target.calendar!r}")
    if target.limit_minutes is None:
        raise ValueError(f"target {target.code} counts minutes but has no limit_minutes")
    return started_at + timedelta(minutes=target.limit_minutes)


# --- the clocks -----------------------------------------------------------------------------


def clock_status(
    target: Target,
    started_at: datetime,
    deadline: datetime,
    stopped_at: datetime | None,
    now: datetime,
    at_risk: timedelta,
) -> ClockStatus:
    """Evaluate one clock. Exactly at the deadline is on time; any moment after it is late."""
    if stopped_at is not None:
        remaining = deadline - stopped_at
        state = ClockState.MET if stopped_at <= deadline else ClockState.MISSED
    else:
        remaining = deadline - now
        if now > deadline:
            state = ClockState.BREACHED
        elif remaining <= at_risk:
            state = ClockState.AT_RISK
        else:
            state = ClockState.ON_TRACK
    return ClockStatus(
        code=target.code,
        name_en=target.name_en,
        name_zh=target.name_zh,
        started_at=started_at,
        deadline=deadline,
        stopped_at=stopped_at,
        state=state,
        remaining=remaining,
        reference=target.reference,
    )


def _event_time(subject: Any, target: Target, event: str) -> datetime | None:
    try:
        return getattr(subject, f"{event}_at")
    except AttributeError:
        # A target naming an event nobody records is a configuration error worth a loud message.
        raise ValueError(
            f"target {target.code}: {type(subject).__name__} has no time for event {event!r} "
            f"(no attribute {event}_at)"
        ) from None


def _clocks(
    subject: Any,
    targets: Iterable[Target],
    now: datetime,
    at_risk: timedelta,
    tz: ZoneInfo | None,
    calendar_overrides: Mapping[date, bool],
    ended_at: datetime | None = None,
) -> list[ClockStatus]:
    clocks = []
    for target in targets:
        started_at = _event_time(subject, target, target.starts_on)
        if started_at is None:
            continue  # the start event has not happened yet: there is no clock to show
        stopped_at = _event_time(subject, target, target.stops_on) or ended_at
        deadline = deadline_for(target, started_at, tz=tz, calendar_overrides=calendar_overrides)
        clocks.append(clock_status(target, started_at, deadline, stopped_at, now, at_risk))
    return clocks


def outage_clocks(
    outage: Any,
    targets: Iterable[Target],
    now: datetime,
    at_risk: timedelta,
    area_type: str | None = None,
    *,
    tz: ZoneInfo | None = None,
    calendar_overrides: Mapping[date, bool] = NO_OVERRIDES,
) -> list[ClockStatus]:
    """The clocks of a supply-loss outage, in the order of `targets`.

    `outage` needs the `<event>_at` times its targets name (with the defaults: `first_report_at`,
    `dispatched_at`, `on_site_at`); `state` and the end times (`restored_at`, `cancelled_at`,
    `closed_at`) are optional. A target with an area type (State Grid's average arrival by area)
    applies only to outages in that area type (`area_type`, the outage's district's). A merged
    outage has no clocks: they go on in the outage it was merged into, which keeps the earliest
    first report.
    """
    state = getattr(outage, "state", None)
    if state == OutageState.MERGED:
        return []
    ended_at = None
    if state is not None and state not in ACTIVE_OUTAGE_STATES:
        ends = [t for t in (getattr(outage, name, None) for name in OUTAGE_END_EVENTS) if t is not None]
        ended_at = min(ends, default=None)
    chosen = [
        t
        for t in targets
        if t.applies_to == "outage" and (t.area_type is None or t.area_type == _text(area_type))
    ]
    return _clocks(outage, chosen, now, at_risk, tz, calendar_overrides, ended_at)


def feedback_clocks(
    feedback: Any,
    targets: Iterable[Target],
    now: datetime,
    calendar_overrides: Mapping[date, bool],
    tz: ZoneInfo,
    at_risk: timedelta = DEFAULT_AT_RISK,
) -> list[ClockStatus]:
    """The clocks of a complaint (response, preliminary solution, result) or other feedback (verified).

    `feedback` needs `kind` and the `<event>_at` times its targets name. A clock whose start
    event has not happened (a complaint not yet accepted has no result clock) is left out.
    """
    applies_to = "complaint" if _text(feedback.kind) == FeedbackKind.COMPLAINT else "feedback"
    chosen = [t for t in targets if t.applies_to == applies_to]
    return _clocks(feedback, chosen, now, at_risk, tz, calendar_overrides)


# --- many clocks at once ------------------------------------------------------------------------

# `clock_states` answers with an index into this tuple.
CLOCK_STATES = (
    ClockState.ON_TRACK,
    ClockState.AT_RISK,
    ClockState.BREACHED,
    ClockState.MET,
    ClockState.MISSED,
)
# Epoch microseconds of "no time": numpy's NaT seen as an int64.
NO_TIME = np.iinfo(np.int64).min
Micros = npt.NDArray[np.int64]


def clock_states(
    deadline_us: Micros, stopped_us: Micros, now_us: int, at_risk_us: int
) -> tuple[npt.NDArray[np.int8], Micros]:
    """`clock_status`'s rule for thousands of clocks at once, on epoch microseconds.

    Integer microseconds keep "exactly at the deadline" exact, which floats of seconds would not.
    A clock is running where `stopped_us` is `NO_TIME`. Returns each clock's state as an index
    into `CLOCK_STATES` and its remaining microseconds (negative is an overrun); `clock_status`
    stays the reference, and a test checks that both agree.
    """
    running = stopped_us == NO_TIME
    remaining = deadline_us - np.where(running, now_us, stopped_us)
    states = np.where(
        running,
        np.where(remaining < 0, 2, np.where(remaining <= at_risk_us, 1, 0)),
        np.where(remaining >= 0, 3, 4),
    )
    return states.astype(np.int8), remaining


def most_urgent(clocks: Iterable[ClockStatus]) -> ClockStatus | None:
    """The clock that should colour an outage on the board.

    Running clocks come first: the most overdue breach, then the least time left (at risk before
    on track follows from that). Enforced clocks come before reference ones. With no running
    clock, the stopped clock with the worst margin (a miss before a met) stands for the outage.
    """
    return min(clocks, key=lambda c: (not c.running, c.reference, c.remaining), default=None)


# The urgency words of a board row, worst first (`urgency`).
URGENCY_WORDS = ("breached", "at_risk", "on_track", "done")


def urgency(clocks: Iterable[ClockStatus], recorded_breach: bool = False) -> str:
    """The word that colours an outage's row and map point, from the same clocks the row shows,
    so the two can never disagree: a row with a breached or missed clock reads "breached" even
    while a later clock is still on track; "at_risk" when a running clock is in its last minutes;
    "on_track" when a clock runs and none is late; "done" when every clock stopped in time.

    Reference clocks (State Grid's averages) never breach, so they do not count. A breach
    recorded earlier (`SlaBreach`) keeps the row breached even if its target has since changed.
    """
    enforced = [c for c in clocks if not c.reference]
    if recorded_breach or any(c.breached for c in enforced):
        return "breached"
    running = [c for c in enforced if c.running]
    if any(c.state == ClockState.AT_RISK for c in running):
        return "at_risk"
    return "on_track" if running else "done"


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


# --- breaches that stay breached ------------------------------------------------------------


def record_breaches(session: Session, clock: Clock, *, tz: ZoneInfo, language: str) -> list[SlaBreach]:
    """Record every enforced clock of an active outage or open feedback that is past its deadline.

    Each new breach gets an `SlaBreach` row, one outbox notification to the duty manager and one
    audit event, all in a SAVEPOINT: when another process recorded the same breach first, the
    unique constraint refuses the row and this one is skipped, so nobody is told twice. Returns
    the breaches this call recorded. `tz` and `language` are the utility's (the server passes what
    it read at start).
    """
    now = clock.now()
    targets = load_targets(session)
    overrides = load_overrides(session)
    at_risk = at_risk_window(session)

    found: list[tuple[str, Any, ClockStatus]] = []
    outages = session.scalars(
        select(Outage).where(Outage.state.in_(ACTIVE_OUTAGE_STATES)).order_by(Outage.id)
    ).all()
    area_types = {i: str(a) for i, a in session.execute(select(District.id, District.area_type))}
    for outage in outages:
        area_type = area_types.get(outage.district_id) if outage.district_id is not None else None
        for status in outage_clocks(
            outage, targets, now, at_risk, area_type, tz=tz, calendar_overrides=overrides
        ):
            found.append(("outage", outage, status))
    open_feedback = session.scalars(
        select(Feedback).where(Feedback.status.not_in(FINISHED_FEEDBACK_STATES)).order_by(Feedback.id)
    ).all()
    for item in open_feedback:
        for status in feedback_clocks(item, targets, now, overrides, tz, at_risk):
            found.append(("feedback", item, status))

    breached = [(kind, subject, status) for kind, subject, status in found if status.breached]
    known = _recorded(session, breached)
    recorded = []
    for kind, subject, status in breached:
        if (kind, subject.id, status.code) in known:
            continue
        breach = _record_one(session, clock, kind, subject, status, tz, language)
        if breach is not None:
            recorded.append(breach)
    return recorded


def _recorded(
    session: Session, breached: Sequence[tuple[str, Any, ClockStatus]]
) -> set[tuple[str, int, str]]:
    """The (kind, id, code) of breaches already recorded for these subjects."""
    known: set[tuple[str, int, str]] = set()
    for kind in {k for k, _, _ in breached}:
        ids = sorted({subject.id for k, subject, _ in breached if k == kind})
        for chunk in _chunks(ids):
            rows = session.execute(
                select(SlaBreach.subject_id, SlaBreach.code).where(
                    SlaBreach.subject_kind == kind, SlaBreach.subject_id.in_(chunk)
                )
            )
            known.update((kind, subject_id, code) for subject_id, code in rows)
    return known


def _record_one(
    session: Session, clock: Clock, kind: str, subject: Any, status: ClockStatus, tz: ZoneInfo, language: str
) -> SlaBreach | None:
    now = clock.now()
    zh, en = breach_message(kind, subject, status, tz)
    breach = SlaBreach(
        subject_kind=kind,
        subject_id=subject.id,
        code=status.code,
        deadline=status.deadline,
        breached_at=now,
        notified_at=now,
    )
    try:
        with session.begin_nested():
            session.add(breach)
            session.add(
                Notification(
                    created_at=now,
                    channel=NotificationChannel.DUTY,
                    recipient=DUTY_RECIPIENT,
                    language=language,
                    template=BREACH_TEMPLATE,
                    body=f"{zh}\n{en}" if language == "zh" else f"{en}\n{zh}",
                    subject_kind=kind,
                    subject_id=subject.id,
                    dedupe_key=f"sla:{kind}:{subject.id}:{status.code}",
                )
            )
            audit.record(
                session,
                clock,
                SLA_MONITOR,
                "sla.breach",
                kind,
                subject.id,
                after={
                    "code": status.code,
                    "state": str(status.state),
                    "deadline": status.deadline.isoformat(),
                    "overrun_seconds": int(status.overrun.total_seconds()),
                },
                detail=en,
            )
            session.flush()
    except IntegrityError:
        # Another process recorded this breach first; its notification is the one that counts.
        return None
    return breach


def breach_message(kind: str, subject: Any, status: ClockStatus, tz: ZoneInfo) -> tuple[str, str]:
    """The duty manager's short message, in Chinese and in English."""
    deadline = status.deadline.astimezone(tz).strftime("%Y-%m-%d %H:%M:%S")
    over_en, over_zh = format_duration(status.overrun)
    if kind == "outage":
        who_en, who_zh = f"Outage #{subject.id}", f"停电事件 #{subject.id}"
    else:
        reference = getattr(subject, "reference", None)
        label = f"{reference} (#{subject.id})" if reference else f"#{subject.id}"
        complaint = _text(getattr(subject, "kind", None)) == FeedbackKind.COMPLAINT
        who_en = f"{'Complaint' if complaint else 'Feedback'} {label}"
        who_zh = f"{'投诉' if complaint else '客户意见'} {label}"
    if status.running:
        en = f"SLA breach: {who_en}, {status.name_en}, overdue by {over_en} (deadline {deadline})"
        zh = f"时限超时：{who_zh}「{status.name_zh}」已超时 {over_zh}，仍未完成（时限 {deadline}）"
    else:
        en = f"SLA missed: {who_en}, {status.name_en}, done {over_en} late (deadline {deadline})"
        zh = f"时限超时：{who_zh}「{status.name_zh}」超时 {over_zh} 后完成（时限 {deadline}）"
    return zh, en


def format_duration(duration: timedelta) -> tuple[str, str]:
    """A duration in its two largest units, in English and Chinese: '12 min 5 s', '12分5秒'."""
    seconds = max(int(duration.total_seconds()), 0)
    if seconds == 0:
        return "under 1 s", "不足1秒"
    days, rest = divmod(seconds, 86_400)
    hours, rest = divmod(rest, 3_600)
    minutes, secs = divmod(rest, 60)
    units = [
        (days, "d", "天"),
        (hours, "h", "小时"),
        (minutes, "min", "分"),
        (secs, "s", "秒"),
    ]
    first = next(i for i, (n, _, _) in enumerate(units) if n)
    shown = [u for u in units[first : first + 2] if u[0]]
    return " ".join(f"{n} {en}" for n, en, _ in shown), "".join(f"{n}{zh}" for n, _, zh in shown)


def breaches_for(session: Session, subject_kind: str, ids: Iterable[int]) -> dict[int, list[SlaBreach]]:
    """The recorded breaches of these outages (or feedback), by id; an id without any maps to []."""
    wanted = sorted(set(ids))
    result: dict[int, list[SlaBreach]] = {i: [] for i in wanted}
    for chunk in _chunks(wanted):
        rows = session.scalars(
            select(SlaBreach)
            .where(SlaBreach.subject_kind == subject_kind, SlaBreach.subject_id.in_(chunk))
            .order_by(SlaBreach.subject_id, SlaBreach.deadline, SlaBreach.id)
        )
        for breach in rows:
            result[breach.subject_id].append(breach)
    return result


def _chunks(ids: Sequence[int]) -> Iterator[Sequence[int]]:
    for start in range(0, len(ids), ID_CHUNK):
        yield ids[start : start + ID_CHUNK]
