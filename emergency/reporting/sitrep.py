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
import pandas as pd
from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from emergency.core.errors import InvalidInput
from emergency.core.models import (
    Crew,
    CrewAssignment,
    Customer,
    District,
    Outage,
    OutageState,
)
from emergency.core.models import Warning as WarningRow
from emergency.reporting.outage_figures import OutageFigures, figures_at
from emergency.reporting.restoration_curves import restoration_curve
from emergency.reporting.sitrep_damage import Damage, damage_counts
from emergency.warnings.lifecycle import disaster_mode_districts, warnings_in_force
from emergency.warnings.preview import GRADE_ORDER, user_grade

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
    # What crews' damage assessments found (emergency.reporting.sitrep_damage).
    damage: Damage | None = None
    # Crews and workers by company: our own utility (`own`) and each mutual-aid lender.
    companies: tuple[CompanyLine, ...] = ()

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
    session: Session, kind: ReportKind | str, event_start: datetime, now: datetime, tz: ZoneInfo
) -> SituationReport:
    """The situation report of the event that started at `event_start`, generated at `now`
    (for staff only: it names important users; the query checks the reader's role)."""
    if event_start.tzinfo is None:
        raise InvalidInput("needs a time zone", field="event_start")
    kind = ReportKind(kind)
    event_start = event_start.astimezone(UTC)
    as_of, previous = report_times(kind, now, event_start, tz)
    outages = _EventOutages.load(session, event_start, as_of)
    # The restoration curve's own count of customers out, so the report and the chart agree;
    # outages and important users out by the one rule every page uses (`outage_figures`).
    curve = restoration_curve(session, event_start, as_of)
    figures = figures_at(session, as_of)
    active = outages.first_us <= _us(as_of)
    active &= outages.restored_us == NEVER
    restored = (outages.restored_us >= _us(event_start)) & (outages.restored_us <= _us(as_of))
    minutes_out = (_us(as_of) - outages.first_us) / 60e6
    crews = _crews(session, as_of)
    disaster = disaster_mode_districts(session, as_of)
    served = dict(
        session.execute(select(Customer.district_id, func.count()).group_by(Customer.district_id))
        .tuples()
        .all()
    )
    districts = []
    for district in session.scalars(select(District).order_by(District.code)):
        districts.append(
            DistrictLine(
                code=district.code,
                name_en=district.name_en,
                name_zh=district.name_zh,
                customers_served=served.get(district.id, 0),
                progress=_progress(curve[curve["district_id"] == district.id], previous),
                outages_active=figures.district(district.id).outages,
                crews_deployed=crews.by_district.get(district.id, 0),
                disaster_mode=district.id in disaster,
            )
        )
    codes = {d.id: d.code for d in session.scalars(select(District))}
    users = _important_users_out(figures, codes)
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
        progress=_progress(curve[curve["district_id"].isna()], previous),
        outages_active=figures.outages,
        outages_in_event=len(outages.ids),
        outages_restored=int(restored.sum()),
        longest_active=_minutes(minutes_out[active].max()) if active.any() else None,
        mean_active=_minutes(minutes_out[active].mean()) if active.any() else None,
        mean_restoration=(
            _minutes(((outages.restored_us - outages.first_us)[restored] / 60e6).mean())
            if restored.any()
            else None
        ),
        crews=crews.totals,
        important_users=tuple(users),
        districts=tuple(districts),
        disaster_districts=tuple(sorted(codes[i] for i in disaster if i in codes)),
        warnings=tuple(_warning_line(w) for w in warnings_in_force(session, as_of)),
        important_by_grade=by_grade,
        damage=damage_counts(session, outages.ids.tolist(), as_of),
        companies=crews_by_company(session, as_of),
    )


# --- the figures ---------------------------------------------------------------------------------


def _us(when: datetime) -> int:
    return (when - EPOCH) // MICROSECOND


def _minutes(minutes: float) -> timedelta:
    return timedelta(minutes=float(minutes))


def _progress(levels: pd.DataFrame, previous: datetime) -> Progress:
    """Restoration progress from one district's (or the whole territory's) restoration curve.

    The curve holds the level at the event's start, then the level after each moment the count
    changed, up to the report's time. A rise is customers cut off, a fall customers restored; two
    outages changing at the very same microsecond would net out, which real report times do not.
    """
    if levels.empty:
        return Progress(0, 0, None, 0, 0, 0)
    out = levels["customers_out"].to_numpy(dtype=np.int64)
    at = list(levels["at"])
    change = np.diff(out)
    peak = int(np.argmax(out))
    since_previous = (levels["at"].iloc[1:] > pd.Timestamp(previous)).to_numpy()
    return Progress(
        out_now=int(out[-1]),
        peak=int(out[peak]),
        peak_at=at[peak].to_pydatetime() if out[peak] else None,
        affected=int(out[0] + change[change > 0].sum()),
        restored=int(-change[change < 0].sum()),
        restored_since_previous=int(-change[(change < 0) & since_previous].sum()),
    )


NEVER = np.iinfo(np.int64).max


@dataclass
class _EventOutages:
    """The outages that had customers out at some moment of the event, up to the report's time
    (for the durations and restorations; customers and important users out come from
    `outage_figures`)."""

    ids: npt.NDArray[np.int64]
    first_us: npt.NDArray[np.int64]
    restored_us: npt.NDArray[np.int64]  # NEVER while not restored by the report's time

    @classmethod
    def load(cls, session: Session, event_start: datetime, as_of: datetime) -> _EventOutages:
        rows = session.execute(
            select(Outage.id, Outage.first_report_at, Outage.restored_at)
            .where(
                Outage.state.not_in(NOT_COUNTED),
                Outage.merged_into_id.is_(None),
                Outage.first_report_at <= as_of,
                or_(Outage.restored_at.is_(None), Outage.restored_at >= event_start),
            )
            .order_by(Outage.id)
        ).all()
        end = _us(as_of)
        restored = [_us(r[2]) if r[2] is not None and _us(r[2]) <= end else NEVER for r in rows]
        return cls(
            ids=np.array([r[0] for r in rows], dtype=np.int64),
            first_us=np.array([_us(r[1]) for r in rows], dtype=np.int64),
            restored_us=np.array(restored, dtype=np.int64),
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


def _important_users_out(figures: OutageFigures, codes: dict[int, str]) -> list[ImportantUserOut]:
    """Important users (and life-support customers) out at the report's time, most critical first."""
    users = [
        ImportantUserOut(
            name=user.name,
            account_no=user.account_no,
            grade=user_grade(user.importance, user.kind),
            kind=user.kind,
            district_code=codes.get(user.district_id, "") if user.district_id is not None else "",
            outage_id=user.outage_id,
            out_since=user.out_since,
            backup_hours=user.backup_hours,
        )
        for user in figures.important_users
    ]
    users.sort(key=lambda u: (GRADE_ORDER.index(u.grade), u.out_since, u.name))
    return users


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


# --- crews and workers by company (mutual aid, #19 point 4) ----------------------------------------


@dataclass(frozen=True)
class CompanyLine:
    """One company's crews at the report's time: `company` None is our own utility.

    Deployed: on a job, as in `Crews`. Checked in: mutual-aid crews at hand (checked in at their
    staging depot and not yet released), with the workers counted at check-in; None for our own.
    A mutual-aid crew's workers are its head count at check-in, else its roster size.
    """

    company: str | None
    own: bool
    crews_deployed: int
    workers_deployed: int
    crews_checked_in: int | None
    workers_checked_in: int | None


def crews_by_company(session: Session, as_of: datetime) -> tuple[CompanyLine, ...]:
    """Our own utility first, then the lenders by name."""
    on_job = set(
        session.scalars(
            select(CrewAssignment.crew_id).where(
                CrewAssignment.assigned_at <= as_of,
                or_(CrewAssignment.completed_at.is_(None), CrewAssignment.completed_at > as_of),
                or_(CrewAssignment.cancelled_at.is_(None), CrewAssignment.cancelled_at > as_of),
            )
        )
    )
    lenders = select(Crew).where(
        Crew.company.is_not(None),
        Crew.checked_in_at.is_not(None),
        Crew.checked_in_at <= as_of,
        or_(Crew.released_at.is_(None), Crew.released_at > as_of),
    )
    crews = (
        {c.id: c for c in session.scalars(select(Crew).where(Crew.id.in_(sorted(on_job))))} if on_job else {}
    )
    at_hand = {c.id: c for c in session.scalars(lenders)}
    lines: dict[str | None, list[int]] = {}
    for crew in {**crews, **at_hand}.values():
        workers = (crew.checked_in_count or crew.size) if crew.company else crew.size
        line = lines.setdefault(crew.company, [0, 0, 0, 0])
        if crew.id in on_job:
            line[0] += 1
            line[1] += workers
        if crew.id in at_hand:
            line[2] += 1
            line[3] += workers
    own = lines.pop(None, [0, 0, 0, 0])
    result = [CompanyLine(None, True, own[0], own[1], None, None)]
    for company in sorted(c for c in lines if c is not None):
        deployed, workers, checked, counted = lines[company]
        result.append(CompanyLine(company, False, deployed, workers, checked, counted))
    return tuple(result)
