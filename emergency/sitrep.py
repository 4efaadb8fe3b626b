"""Situation reports in the regulator's format: a quick report when an event starts, then updates
at 08:00 and 17:00 (DOMAIN.md section 2): customers out now and at the peak, outages, how long
they have lasted, restoration progress, crews deployed, important users affected, by district,
with the districts in disaster mode and the warnings in force.

Every figure is computed from the records' own times, as they stood at the report's time: a
quick report is as of now; an update is as of the latest 08:00 or 17:00 (local time), whenever it
is generated, so the same update reads the same later. Customers out at a moment are each
outage's customers less the restoration steps recorded by then. The report names important users:
it is for staff and the regulator, never for the public.

`to_markdown` and `to_xlsx` write the downloads, in English or Chinese.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

import numpy as np
import numpy.typing as npt
from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from emergency.auth import Actor
from emergency.errors import InvalidInput
from emergency.models import (
    Crew,
    CrewAssignment,
    Customer,
    CustomerKind,
    Device,
    District,
    ImportanceGrade,
    Outage,
    OutageState,
    RestorationStep,
    Role,
)
from emergency.models import Warning as WarningRow
from emergency.warning_preview import GRADE_ORDER, user_grade
from emergency.warnings import disaster_mode_districts, warnings_in_force

REPORT_ROLES = (Role.MANAGER, Role.ADMIN)
# Outages that never cut anyone off (a false alarm) or live on inside another outage.
NOT_COUNTED = (OutageState.CANCELLED, OutageState.MERGED)
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MICROSECOND = timedelta(microseconds=1)


class ReportKind(StrEnum):
    QUICK = "quick"  # 快报: within an hour of the event's impact
    MORNING = "morning"  # 08:00 update
    EVENING = "evening"  # 17:00 update


UPDATE_HOURS = {ReportKind.MORNING: 8, ReportKind.EVENING: 17}


# --- the report --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Progress:
    """Customers out over an event, for the whole territory or one district."""

    out_now: int
    peak: int
    peak_at: datetime | None
    affected: int  # out at the event's start plus every customer cut off since
    restored: int  # brought back since the event's start
    restored_since_previous: int

    @property
    def restored_share(self) -> float:
        return self.restored / self.affected if self.affected else 0.0


@dataclass(frozen=True)
class DistrictLine:
    code: str
    name_en: str
    name_zh: str
    customers_served: int
    progress: Progress
    outages_active: int
    crews_deployed: int
    disaster_mode: bool


@dataclass(frozen=True)
class ImportantUserOut:
    name: str
    account_no: str
    grade: str  # GRADE_ORDER
    kind: str
    district_code: str
    outage_id: int
    out_since: datetime
    backup_hours: float | None


@dataclass(frozen=True)
class WarningLine:
    title_en: str
    title_zh: str
    hazard: str
    level: str
    readiness_level: int | None
    disaster_mode: bool
    districts: tuple[str, ...]
    effective_at: datetime
    expires_at: datetime


@dataclass(frozen=True)
class Crews:
    deployed: int
    workers: int
    dispatched: int
    en_route: int
    on_site: int


@dataclass(frozen=True)
class SituationReport:
    kind: ReportKind
    event_start: datetime
    as_of: datetime
    previous_at: datetime  # the report before this one (or the event's start): "since the last report"
    generated_at: datetime
    customers_served: int
    progress: Progress
    outages_active: int
    outages_in_event: int
    outages_restored: int
    longest_active: timedelta | None
    mean_active: timedelta | None
    mean_restoration: timedelta | None  # first report to restored, of outages restored in the event
    crews: Crews
    important_users: tuple[ImportantUserOut, ...]
    districts: tuple[DistrictLine, ...]
    disaster_districts: tuple[str, ...]
    warnings: tuple[WarningLine, ...]
    important_by_grade: dict[str, int] = field(default_factory=dict)

    @property
    def share_out(self) -> float:
        return self.progress.out_now / self.customers_served if self.customers_served else 0.0


def report_times(
    kind: ReportKind | str, now: datetime, event_start: datetime, tz: ZoneInfo
) -> tuple[datetime, datetime]:
    """(as of, previous report): a quick report is as of now and follows the event's start; an
    update is as of the latest 08:00 or 17:00 and follows the other update (or the event's start,
    if that came later)."""
    kind = ReportKind(kind)
    if kind == ReportKind.QUICK:
        as_of = now
        previous = event_start
    else:
        as_of = _latest_at_hour(UPDATE_HOURS[kind], now, tz)
        other = next(h for k, h in UPDATE_HOURS.items() if k != kind)
        previous = max(_latest_at_hour(other, as_of - MICROSECOND, tz), event_start)
    if event_start > as_of:
        raise InvalidInput(
            f"the event starts after this report's time ({as_of.astimezone(tz):%Y-%m-%d %H:%M})",
            field="event_start",
        )
    return as_of, previous


def _latest_at_hour(hour: int, at_or_before: datetime, tz: ZoneInfo) -> datetime:
    local = at_or_before.astimezone(tz)
    candidate = datetime.combine(local.date(), time(hour), tzinfo=tz)
    if candidate > local:
        candidate = datetime.combine(local.date() - timedelta(days=1), time(hour), tzinfo=tz)
    return candidate.astimezone(UTC)


def suggest_event_start(session: Session, now: datetime) -> datetime:
    """The first report of the oldest outage still active, or a day ago when none is."""
    oldest = session.scalar(
        select(func.min(Outage.first_report_at)).where(
            Outage.restored_at.is_(None), Outage.state.not_in(NOT_COUNTED), Outage.state != OutageState.CLOSED
        )
    )
    return oldest if oldest is not None and oldest <= now else now - timedelta(days=1)


def build_report(
    session: Session, actor: Actor, kind: ReportKind | str, event_start: datetime, now: datetime, tz: ZoneInfo
) -> SituationReport:
    """The situation report of the event that started at `event_start`, generated at `now`."""
    actor.require(*REPORT_ROLES)
    if event_start.tzinfo is None:
        raise InvalidInput("needs a time zone", field="event_start")
    kind = ReportKind(kind)
    as_of, previous = report_times(kind, now, event_start, tz)
    outages = _EventOutages.load(session, event_start, as_of)
    curve = outages.curve()
    bounds = (_us(event_start), _us(previous), _us(as_of))
    active = outages.active_at(as_of)
    restored = (outages.restored_us >= bounds[0]) & (outages.restored_us <= bounds[2])
    crews = _crews(session, as_of)
    disaster = disaster_mode_districts(session, as_of)
    served = dict(
        session.execute(select(Customer.district_id, func.count()).group_by(Customer.district_id))
        .tuples()
        .all()
    )
    districts = []
    for district in session.scalars(select(District).order_by(District.code)):
        in_district = outages.district == district.id
        districts.append(
            DistrictLine(
                code=district.code,
                name_en=district.name_en,
                name_zh=district.name_zh,
                customers_served=served.get(district.id, 0),
                progress=curve.progress(*bounds, np.isin(curve.outage, np.flatnonzero(in_district))),
                outages_active=int((active & in_district).sum()),
                crews_deployed=crews.by_district.get(district.id, 0),
                disaster_mode=district.id in disaster,
            )
        )
    codes = {d.id: d.code for d in session.scalars(select(District))}
    users = _important_users_out(session, outages, active, as_of, codes)
    by_grade = {grade: 0 for grade in GRADE_ORDER}
    for user in users:
        by_grade[user.grade] += 1
    return SituationReport(
        kind=kind,
        event_start=event_start,
        as_of=as_of,
        previous_at=previous,
        generated_at=now,
        customers_served=sum(served.values()),
        progress=curve.progress(*bounds),
        outages_active=int(active.sum()),
        outages_in_event=len(outages.ids),
        outages_restored=int(restored.sum()),
        longest_active=_duration(outages.active_minutes(as_of)[active], max),
        mean_active=_duration(outages.active_minutes(as_of)[active], np.mean),
        mean_restoration=_duration(((outages.restored_us - outages.first_us) / 60e6)[restored], np.mean),
        crews=crews.totals,
        important_users=tuple(users),
        districts=tuple(districts),
        disaster_districts=tuple(sorted(codes[i] for i in disaster if i in codes)),
        warnings=tuple(_warning_line(w) for w in warnings_in_force(session, as_of)),
        important_by_grade=by_grade,
    )


# --- the figures ---------------------------------------------------------------------------------


def _us(when: datetime) -> int:
    return (when - EPOCH) // MICROSECOND


def _duration(minutes: npt.NDArray[np.float64], reduce: object) -> timedelta | None:
    if not len(minutes):
        return None
    return timedelta(minutes=float(reduce(minutes)))  # type: ignore[operator]


NEVER = np.iinfo(np.int64).max


@dataclass
class _EventOutages:
    """The outages that had customers out at some moment of the event, up to the report's time."""

    ids: npt.NDArray[np.int64]
    district: npt.NDArray[np.int64]  # -1 when unknown
    device: npt.NDArray[np.int64]
    first_us: npt.NDArray[np.int64]
    restored_us: npt.NDArray[np.int64]  # NEVER while not restored by the report's time
    affected: npt.NDArray[np.int64]
    steps: list[tuple[int, int, int, int | None]]  # (outage index, at us, customers, device id)

    @classmethod
    def load(cls, session: Session, event_start: datetime, as_of: datetime) -> _EventOutages:
        rows = session.execute(
            select(
                Outage.id,
                Outage.district_id,
                Outage.device_id,
                Outage.first_report_at,
                Outage.restored_at,
                Outage.customers_affected,
            )
            .where(
                Outage.state.not_in(NOT_COUNTED),
                Outage.first_report_at <= as_of,
                or_(Outage.restored_at.is_(None), Outage.restored_at >= event_start),
            )
            .order_by(Outage.id)
        ).all()
        end = _us(as_of)
        restored = [_us(r[4]) if r[4] is not None and _us(r[4]) <= end else NEVER for r in rows]
        loaded = cls(
            ids=np.array([r[0] for r in rows], dtype=np.int64),
            district=np.array([-1 if r[1] is None else r[1] for r in rows], dtype=np.int64),
            device=np.array([r[2] for r in rows], dtype=np.int64),
            first_us=np.array([_us(r[3]) for r in rows], dtype=np.int64),
            restored_us=np.array(restored, dtype=np.int64),
            affected=np.array([r[5] for r in rows], dtype=np.int64),
            steps=[],
        )
        index = {int(i): n for n, i in enumerate(loaded.ids)}
        if index:
            event_ids = (
                select(Outage.id)
                .where(
                    Outage.state.not_in(NOT_COUNTED),
                    Outage.first_report_at <= as_of,
                    or_(Outage.restored_at.is_(None), Outage.restored_at >= event_start),
                )
                .scalar_subquery()
            )
            for outage_id, at, customers, device in session.execute(
                select(
                    RestorationStep.outage_id,
                    RestorationStep.at,
                    RestorationStep.customers_restored,
                    RestorationStep.device_id,
                )
                .where(RestorationStep.outage_id.in_(event_ids), RestorationStep.at <= as_of)
                .order_by(RestorationStep.at, RestorationStep.id)
            ):
                loaded.steps.append((index[outage_id], _us(at), customers, device))
        return loaded

    def active_at(self, as_of: datetime) -> npt.NDArray[np.bool_]:
        return (self.first_us <= _us(as_of)) & (self.restored_us == NEVER)

    def active_minutes(self, as_of: datetime) -> npt.NDArray[np.float64]:
        return (_us(as_of) - self.first_us) / 60e6

    def curve(self) -> _Curve:
        """Customers cut off (+) at each first report and brought back (-) at each step; a restored
        outage whose steps fall short of its customers brings the rest back when it is restored."""
        outage, times, amounts = [], [], []
        back = np.zeros(len(self.ids), dtype=np.int64)
        for index, at, customers, _ in self.steps:
            customers = int(min(customers, self.affected[index] - back[index]))
            if customers > 0:
                back[index] += customers
                outage.append(index)
                times.append(at)
                amounts.append(-customers)
        for index in range(len(self.ids)):
            outage.append(index)
            times.append(int(self.first_us[index]))
            amounts.append(int(self.affected[index]))
            rest = int(self.affected[index] - back[index])
            if self.restored_us[index] != NEVER and rest > 0:
                outage.append(index)
                times.append(int(self.restored_us[index]))
                amounts.append(-rest)
        order = np.argsort(np.array(times, dtype=np.int64), kind="stable")
        return _Curve(
            np.array(outage, dtype=np.int64)[order],
            np.array(times, dtype=np.int64)[order],
            np.array(amounts, dtype=np.int64)[order],
        )


@dataclass(frozen=True)
class _Curve:
    """Changes in customers out, in time order, each tagged with its outage's index."""

    outage: npt.NDArray[np.int64]
    times: npt.NDArray[np.int64]
    amounts: npt.NDArray[np.int64]

    def progress(
        self, start: int, previous: int, end: int, mask: npt.NDArray[np.bool_] | None = None
    ) -> Progress:
        times = self.times if mask is None else self.times[mask]
        amounts = self.amounts if mask is None else self.amounts[mask]
        before = times <= start
        during = (times > start) & (times <= end)
        at_start = int(amounts[before].sum())
        running = at_start + np.cumsum(amounts[during])
        # Only the last change at any one moment counts: several at once are one step of the curve.
        moment_ends = (
            np.append(times[during][1:] != times[during][:-1], True) if during.any() else during[during]
        )
        peak, peak_at = at_start, (start if at_start else None)
        if len(running):
            candidates = running[moment_ends]
            best = int(np.argmax(candidates))
            if candidates[best] > peak:
                peak, peak_at = int(candidates[best]), int(times[during][moment_ends][best])
        later = amounts[during]
        return Progress(
            out_now=int(at_start + later.sum()),
            peak=peak,
            peak_at=None if peak_at is None else EPOCH + peak_at * MICROSECOND,
            affected=int(at_start + later[later > 0].sum()),
            restored=int(-later[later < 0].sum()),
            restored_since_previous=int(-amounts[(times > previous) & (times <= end) & (amounts < 0)].sum()),
        )


@dataclass(frozen=True)
class _CrewsAt:
    totals: Crews
    by_district: dict[int, int]


def _crews(session: Session, as_of: datetime) -> _CrewsAt:
    """Crews on a job at the report's time, by where they had got to, and by the job's district."""
    rows = session.execute(
        select(
            CrewAssignment.crew_id,
            Crew.size,
            CrewAssignment.en_route_at,
            CrewAssignment.on_site_at,
            Outage.district_id,
        )
        .join(Crew, Crew.id == CrewAssignment.crew_id)
        .join(Outage, Outage.id == CrewAssignment.outage_id)
        .where(
            CrewAssignment.assigned_at <= as_of,
            or_(CrewAssignment.completed_at.is_(None), CrewAssignment.completed_at > as_of),
            or_(CrewAssignment.cancelled_at.is_(None), CrewAssignment.cancelled_at > as_of),
        )
        .order_by(CrewAssignment.assigned_at, CrewAssignment.id)
    ).all()
    stage: dict[int, str] = {}
    size: dict[int, int] = {}
    district: dict[int, set[int]] = {}
    for crew_id, crew_size, en_route_at, on_site_at, district_id in rows:
        if on_site_at is not None and on_site_at <= as_of:
            stage[crew_id] = "on_site"
        elif en_route_at is not None and en_route_at <= as_of:
            stage[crew_id] = "en_route"
        else:
            stage[crew_id] = "dispatched"
        size[crew_id] = crew_size
        if district_id is not None:
            district.setdefault(district_id, set()).add(crew_id)
    stages = list(stage.values())
    return _CrewsAt(
        Crews(
            deployed=len(stage),
            workers=sum(size.values()),
            dispatched=stages.count("dispatched"),
            en_route=stages.count("en_route"),
            on_site=stages.count("on_site"),
        ),
        {d: len(crews) for d, crews in district.items()},
    )


def _important_users_out(
    session: Session,
    outages: _EventOutages,
    active: npt.NDArray[np.bool_],
    as_of: datetime,
    codes: dict[int, str],
) -> list[ImportantUserOut]:
    """Important users (and life-support customers) below an outage active at the report's time,
    unless a restoration step on their way up (a device restored by then) brought them back."""
    out_at = {int(outages.device[i]): int(i) for i in np.flatnonzero(active)}
    if not out_at:
        return []
    restored_devices: dict[int, set[int]] = {}
    for index, _, _, device in outages.steps:
        if device is not None:
            restored_devices.setdefault(index, set()).add(device)
    parents = dict(session.execute(select(Device.id, Device.parent_id)).tuples().all())
    users = []
    for customer in session.scalars(
        select(Customer).where(
            or_(Customer.importance != ImportanceGrade.NONE, Customer.kind == CustomerKind.LIFE_SUPPORT)
        )
    ):
        path = _path_up(customer.transformer_id, parents)
        index = next(
            (
                out_at[d]
                for d in path
                if d in out_at and not restored_devices.get(out_at[d], set()) & set(path)
            ),
            None,
        )
        if index is None:
            continue
        users.append(
            ImportantUserOut(
                name=customer.name,
                account_no=customer.account_no,
                grade=user_grade(str(customer.importance), str(customer.kind)),
                kind=str(customer.kind),
                district_code=codes.get(customer.district_id, ""),
                outage_id=int(outages.ids[index]),
                out_since=EPOCH + int(outages.first_us[index]) * MICROSECOND,
                backup_hours=customer.backup_hours,
            )
        )
    users.sort(key=lambda u: (GRADE_ORDER.index(u.grade), u.out_since, u.name))
    return users


def _path_up(device: int | None, parents: dict[int, int | None]) -> list[int]:
    path = []
    while device is not None and len(path) < 64:  # 64: far deeper than any radial network
        path.append(device)
        device = parents.get(device)
    return path


def _warning_line(warning: WarningRow) -> WarningLine:
    return WarningLine(
        title_en=warning.title_en,
        title_zh=warning.title_zh,
        hazard=str(warning.hazard),
        level=str(warning.level),
        readiness_level=warning.readiness_level,
        disaster_mode=bool(warning.disaster_mode),
        districts=tuple(warning.area_districts or ()),
        effective_at=warning.effective_at,
        expires_at=warning.expires_at,
    )
