"""Mutual-aid crews: a lending utility's roster read and checked, written; staging check-in; release.

In a big storm most crews come from other utilities, onboarded on the day from their spreadsheets.
A roster (CSV UTF-8 or XLSX, first sheet) has one row per crew with the columns of `COLUMNS`
(English or Chinese headers, see `HEADERS`). Every row is checked before anything is written: with
any bad row nothing is stored and each bad row comes back with its row number and reason. A good
roster is written in one transaction; its crews are off duty until they check in at their staging
depot (`check_in`), when they become available at the depot's position and are dispatched like our
own crews (the storm plan and the recommendations take every available crew). At the end a crew
with no open job is released (`release`): off duty and never offered again.

Each function works inside the caller's transaction (`emergency.app.commands.mutual_aid` opens it and
checks the role) and writes the audit events of its change.
"""

from __future__ import annotations

import hashlib
import io
import re
import zipfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from emergency.core import audit, staff_sessions
from emergency.core.actor import Actor
from emergency.core.clock import Clock
from emergency.core.csv_input import ZIP_MAGIC, CsvReader
from emergency.core.errors import Conflict, InvalidInput, NotFound, Problem
from emergency.core.field_models import CrewLink
from emergency.core.models import (
    AuditEvent,
    Crew,
    CrewAssignment,
    CrewKind,
    CrewStatus,
    Depot,
    Role,
    User,
)
from emergency.dispatch.crews import OPEN_ASSIGNMENT, crew_snapshot, open_assignment

# Dispatchers and managers onboard, check in and release crews (the console's people).
MUTUAL_AID_ROLES = (Role.DISPATCHER, Role.MANAGER)
MAX_ROSTER_BYTES = 2_000_000
MAX_ROSTER_ROWS = 2_000
MAX_PROBLEMS_SHOWN = 200
# The canonical columns; `skills` and `vehicles` may be left out of a roster or blank in a row.
COLUMNS = ("company", "crew", "leader", "phone", "size", "skills", "vehicles", "staging_site")
REQUIRED = ("company", "crew", "leader", "phone", "size", "staging_site")
# Headers as lending utilities write them, compared without case, spaces, '_' or '-'.
HEADERS: dict[str, tuple[str, ...]] = {
    "company": ("company", "utility", "单位", "公司", "支援单位", "所属单位"),
    "crew": ("crew", "crewcode", "crewid", "班组", "班组编号", "队伍编号"),
    "leader": ("leader", "crewleader", "负责人", "班组长", "带队人"),
    "phone": ("phone", "leaderphone", "mobile", "电话", "联系电话", "手机"),
    "size": ("size", "workers", "headcount", "人数"),
    "skills": ("skills", "skill", "技能", "专业"),
    "vehicles": ("vehicles", "vehicle", "车辆", "车辆装备"),
    "staging_site": ("stagingsite", "staging", "集结点", "集结地"),
}
CREW_CODE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,23}$")
# Mainland mobile (optionally +86), or a landline with its area code; spaces and dashes ignored.
PHONE = re.compile(r"^(?:(?:\+?86)?1[3-9]\d{9}|0\d{2,3}\d{7,8})$")
CONTROL = re.compile(r"[\x00-\x1f\x7f]")
MAX_SIZE = 50
LIMITS = {"company": 80, "leader": 30, "skills": 200, "vehicles": 200, "staging_site": 120}
# Skill words -> the crew kind the planner understands, checked in this order (a crew that
# repairs lines and clears trees is a line crew). Unrecognised skills are kept as written.
SKILL_KINDS: tuple[tuple[CrewKind, tuple[str, ...]], ...] = (
    (CrewKind.LINE, ("line", "overhead", "线路", "架空", "配网")),
    (CrewKind.CABLE, ("cable", "电缆")),
    (CrewKind.TREE, ("tree", "vegetation", "树障", "树木", "清障")),
    (CrewKind.ASSESSMENT, ("assessment", "patrol", "survey", "巡视", "勘察", "评估")),
)
SKILL_SEPARATORS = re.compile(r"[;,，；、/|]+")


@dataclass(frozen=True)
class RosterRow:
    """One roster row, checked: its row number in the file and clean values."""

    line: int
    company: str
    crew: str
    leader: str
    phone: str
    size: int
    skills: str | None
    vehicles: str | None
    staging_site: str  # as written; resolved to a depot when the roster is written

    @property
    def kind(self) -> CrewKind:
        return kind_from_skills(self.skills)


@dataclass(frozen=True)
class Roster:
    """A roster read and checked row by row; nothing compared with the database yet."""

    batch: str  # the file's fingerprint: the same file imported twice is the same batch
    rows: tuple[RosterRow, ...]
    problems: tuple[Problem, ...]


@dataclass(frozen=True)
class RosterResult:
    stored: int  # crews written; 0 whenever there is a problem
    batch: str
    problems: tuple[Problem, ...] = ()
    companies: tuple[tuple[str, int, int], ...] = ()  # (company, crews, workers) written


@dataclass(frozen=True)
class CheckIn:
    """One crew arriving at its staging depot: its id, the version seen, the head count."""

    crew_id: int
    crew_version: int
    count: int


@dataclass(frozen=True)
class ReleaseResult:
    released: tuple[str, ...]  # crew codes
    refused: tuple[tuple[str, str], ...] = field(default_factory=tuple)  # (crew code, reason)


# --- reading a roster ---------------------------------------------------------------------------


def kind_from_skills(skills: str | None) -> CrewKind:
    """The crew kind its skills say; a general mutual-aid repair crew when none is recognised."""
    words = [w.strip().lower() for w in SKILL_SEPARATORS.split(skills or "") if w.strip()]
    for kind, stems in SKILL_KINDS:
        if any(stem in word for word in words for stem in stems):
            return kind
    return CrewKind.MUTUAL_AID


def _header_key(text: str) -> str:
    return re.sub(r"[\s_\-]+", "", text.strip().lower())


def column_of(header: str) -> str | None:
    """The canonical column a roster header names, or None."""
    key = _header_key(header)
    for column, names in HEADERS.items():
        if key in {_header_key(n) for n in names}:
            return column
    return None


def _cell(value: object) -> str:
    """A spreadsheet cell as text: whole numbers without '.0' (a phone typed as a number)."""
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _xlsx_records(content: bytes) -> list[tuple[int, list[str]]]:
    from openpyxl import load_workbook  # only rosters need it; keeps the CLI's start quick

    try:
        book = load_workbook(io.BytesIO(content), read_only=True, data_only=True)
    except (zipfile.BadZipFile, KeyError, ValueError, OSError) as error:
        raise InvalidInput(f"not a readable Excel workbook ({type(error).__name__})", field="file") from None
    try:
        sheet = book.worksheets[0]
        return [
            (number, [_cell(v) for v in values])
            for number, values in enumerate(sheet.iter_rows(values_only=True), start=1)
        ]
    finally:
        book.close()


def _csv_records(content: bytes) -> list[tuple[int, list[str]]]:
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise InvalidInput(
            "the file is not UTF-8 text (save it as CSV UTF-8 or .xlsx)", field="file"
        ) from None
    return [(record.end, record.values) for record in CsvReader(io.StringIO(text, newline=""))]


def read_roster(content: bytes, filename: str = "") -> Roster:
    """Check a roster file row by row. Raises InvalidInput when the file as a whole cannot be used
    (too large, unreadable, a required column missing, an unknown column, too many rows)."""
    if len(content) > MAX_ROSTER_BYTES:
        raise InvalidInput(f"the file is larger than {MAX_ROSTER_BYTES // 1_000_000} MB", field="file")
    xlsx = content.startswith(ZIP_MAGIC) or filename.lower().endswith(".xlsx")
    records = _xlsx_records(content) if xlsx else _csv_records(content)
    records = [(n, values) for n, values in records if any(v.strip() for v in values)]
    if not records:
        raise InvalidInput("the file has no header row", field="file")
    header = _header(records[0][1])
    if len(records) - 1 > MAX_ROSTER_ROWS:
        raise InvalidInput(f"more than {MAX_ROSTER_ROWS:,} crews", field="file")
    batch = "roster-" + hashlib.sha256(content).hexdigest()[:20]
    rows: list[RosterRow] = []
    problems: list[Problem] = []
    seen: dict[str, int] = {}
    for line, values in records[1:]:
        cells = {column: (values[i] if i < len(values) else "").strip() for i, column in header.items()}
        extra = [v for i, v in enumerate(values) if i not in header and v.strip()]
        crew = cells.get("crew", "")
        try:
            if extra:
                raise InvalidInput(f"{len(extra)} value(s) beyond the last column", field="")
            row = _checked_row(line, cells)
            key = row.crew.lower()
            if key in seen:
                raise InvalidInput(f"crew code repeats row {seen[key]}", field="crew")
            seen[key] = line
            rows.append(row)
        except InvalidInput as error:
            problems.append(Problem.on_line(line, crew, error.field or "", error.reason))
    return Roster(batch, tuple(rows), tuple(problems))


def _header(values: list[str]) -> dict[int, str]:
    """Column index -> canonical column; refuses unknown, repeated and missing columns by name."""
    header: dict[int, str] = {}
    unknown: list[str] = []
    for i, text in enumerate(values):
        if not text.strip():
            continue
        column = column_of(text)
        if column is None:
            unknown.append(text.strip())
        elif column in header.values():
            raise InvalidInput(f"column {text.strip()!r} appears twice", field="file")
        else:
            header[i] = column
    if unknown:
        # Refused rather than ignored: whatever the lender wrote there would be lost unseen.
        raise InvalidInput(
            f"unknown column(s): {', '.join(unknown)}; the columns are {', '.join(COLUMNS)}", field="file"
        )
    missing = [c for c in REQUIRED if c not in header.values()]
    if missing:
        raise InvalidInput(f"missing column(s): {', '.join(missing)}", field="file")
    return header


def _text(cells: dict[str, str], column: str, *, required: bool) -> str | None:
    value = cells.get(column, "")
    if not value:
        if required:
            raise InvalidInput("is empty", field=column)
        return None
    if CONTROL.search(value):
        raise InvalidInput("contains control characters", field=column)
    limit = LIMITS.get(column)
    if limit is not None and len(value) > limit:
        raise InvalidInput(f"is longer than {limit} characters", field=column)
    return value


def _checked_row(line: int, cells: dict[str, str]) -> RosterRow:
    crew = cells.get("crew", "")
    if not crew:
        raise InvalidInput("is empty", field="crew")
    if not CREW_CODE.match(crew):
        raise InvalidInput("must be 1-24 letters, digits, '-' or '_'", field="crew")
    phone = re.sub(r"[\s\-()]", "", cells.get("phone", ""))
    if not phone:
        raise InvalidInput("is empty", field="phone")
    if not PHONE.match(phone):
        raise InvalidInput(
            f"{cells['phone']!r} is not a mobile number or a landline with area code", field="phone"
        )
    size_text = cells.get("size", "")
    try:
        size = int(float(size_text)) if size_text and float(size_text).is_integer() else None
    except ValueError:
        size = None
    if size is None or not 1 <= size <= MAX_SIZE:
        raise InvalidInput(
            f"{size_text!r} is not a whole number of workers from 1 to {MAX_SIZE}", field="size"
        )
    return RosterRow(
        line=line,
        company=_text(cells, "company", required=True) or "",
        crew=crew,
        leader=_text(cells, "leader", required=True) or "",
        phone=phone,
        size=size,
        skills=_text(cells, "skills", required=False),
        vehicles=_text(cells, "vehicles", required=False),
        staging_site=_text(cells, "staging_site", required=True) or "",
    )


# --- writing a roster ---------------------------------------------------------------------------


def _depot_index(session: Session) -> dict[str, Depot]:
    """Depots by code and by either name, compared without case or surrounding spaces."""
    index: dict[str, Depot] = {}
    for depot in session.scalars(select(Depot).order_by(Depot.id)):
        for name in (depot.code, depot.name_en, depot.name_zh):
            index.setdefault(name.strip().lower(), depot)
    return index


def _existing_codes(session: Session, codes: Sequence[str]) -> set[str]:
    lowered = sorted({c.lower() for c in codes})
    found: set[str] = set()
    for start in range(0, len(lowered), 900):
        chunk = lowered[start : start + 900]
        found.update(
            c.lower() for c in session.scalars(select(Crew.code).where(func.lower(Crew.code).in_(chunk)))
        )
    return found


def _earlier_import(session: Session, batch: str) -> str | None:
    """When and by whom this same file was imported before, if it was."""
    crews = session.scalar(select(func.count()).select_from(Crew).where(Crew.roster_batch == batch))
    if not crews:
        return None
    event = session.scalar(
        select(AuditEvent)
        .where(AuditEvent.action == "mutual_aid.roster_import", AuditEvent.entity_id == batch)
        .order_by(AuditEvent.id.desc())
        .limit(1)
    )
    when = f" on {event.at:%Y-%m-%d %H:%M} UTC by {event.actor}" if event is not None else ""
    return f"this roster was already imported{when} ({crews} crews, batch {batch}); nothing was written again"


def import_roster(session: Session, clock: Clock, actor: Actor, roster: Roster) -> RosterResult:
    """Write a checked roster's crews, off duty at their staging depots. All or nothing: with any bad
    row, an unknown staging site or a crew code already in use, nothing is written."""
    earlier = _earlier_import(session, roster.batch)
    if earlier is not None:
        return RosterResult(0, roster.batch, (Problem(earlier, "file"),))
    problems = list(roster.problems)
    depots = _depot_index(session)
    taken = _existing_codes(session, [r.crew for r in roster.rows])
    for row in roster.rows:
        if row.crew.lower() in taken:
            problems.append(
                Problem.on_line(row.line, row.crew, "crew", f"crew code {row.crew} is already in use")
            )
        if row.staging_site.strip().lower() not in depots:
            problems.append(
                Problem.on_line(
                    row.line, row.crew, "staging_site", f"no depot has the code or name {row.staging_site!r}"
                )
            )
    if problems:
        problems.sort(key=lambda p: (p.line or 0, p.field))
        return RosterResult(0, roster.batch, tuple(problems))
    if not roster.rows:
        raise InvalidInput("the roster has no crews", field="file")
    now = clock.now()
    crews = [
        _new_crew(row, depots[row.staging_site.strip().lower()], roster.batch, now) for row in roster.rows
    ]
    session.add_all(crews)
    session.flush()
    audit.record_many(
        session,
        [audit.values(clock, actor, "crew.import", "crew", crew.id, after=_audited(crew)) for crew in crews],
    )
    companies = _company_totals(crews)
    audit.record(
        session,
        clock,
        actor,
        "mutual_aid.roster_import",
        "roster",
        roster.batch,
        after={"crews": len(crews), "companies": {c: n for c, n, _ in companies}},
    )
    return RosterResult(len(crews), roster.batch, (), companies)


def _new_crew(row: RosterRow, depot: Depot, batch: str, now: datetime) -> Crew:
    return Crew(
        code=row.crew,
        name=f"{row.company} · {row.leader}",
        kind=row.kind,
        size=row.size,
        home_depot_id=depot.id,
        lon=depot.lon,
        lat=depot.lat,
        position_at=None,
        # Not offered to anyone until the crew is seen at the staging depot.
        status=CrewStatus.OFF_DUTY,
        status_at=now,
        phone=row.phone,
        company=row.company,
        leader_name=row.leader,
        skills=row.skills,
        vehicles=row.vehicles,
        staging_site=depot.code,
        roster_batch=batch,
    )


def _company_totals(crews: Iterable[Crew]) -> tuple[tuple[str, int, int], ...]:
    totals: dict[str, list[int]] = {}
    for crew in crews:
        entry = totals.setdefault(crew.company or "", [0, 0])
        entry[0] += 1
        entry[1] += crew.size
    return tuple((company, n, workers) for company, (n, workers) in sorted(totals.items()))


def _audited(crew: Crew) -> dict[str, object]:
    return {
        **crew_snapshot(crew),
        "code": crew.code,
        "company": crew.company,
        "kind": str(crew.kind),
        "size": crew.size,
        "staging_site": crew.staging_site,
        "checked_in_at": crew.checked_in_at.isoformat() if crew.checked_in_at else None,
        "checked_in_count": crew.checked_in_count,
        "released_at": crew.released_at.isoformat() if crew.released_at else None,
    }


# --- check-in and release -----------------------------------------------------------------------


def _mutual_aid_crew(session: Session, crew_id: int, version: int | None) -> Crew:
    crew = session.get(Crew, crew_id)
    if crew is None or crew.company is None:
        raise NotFound(f"no mutual-aid crew {crew_id}")
    if version is not None and crew.version != version:
        raise Conflict(f"crew {crew.code} was changed by someone else; reload and try again")
    return crew


def check_in(
    session: Session,
    clock: Clock,
    actor: Actor,
    arrivals: Sequence[CheckIn],
    arrived_at: datetime | None = None,
) -> list[Crew]:
    """Crews seen at their staging depot at `arrived_at` (now by default) with their head counts:
    they become available there. A count that differs from the roster's size is kept as counted."""
    if not arrivals:
        raise InvalidInput("choose at least one crew", field="crews")
    now = clock.now()
    if arrived_at is not None and arrived_at.tzinfo is None:
        raise InvalidInput("needs a time zone", field="arrived_at")
    when = (arrived_at or now).astimezone(UTC)
    if when > now + timedelta(minutes=1):
        raise InvalidInput("is in the future", field="arrived_at")
    if when < now - timedelta(hours=24):
        raise InvalidInput("is more than 24 hours ago", field="arrived_at")
    done: list[Crew] = []
    for arrival in arrivals:
        crew = _mutual_aid_crew(session, arrival.crew_id, arrival.crew_version)
        if not 0 < arrival.count <= MAX_SIZE:
            raise InvalidInput(f"crew {crew.code}: the head count must be 1 to {MAX_SIZE}", field="count")
        if crew.released_at is not None:
            raise Conflict(f"crew {crew.code} was released; it cannot check in again")
        if crew.checked_in_at is not None:
            raise Conflict(f"crew {crew.code} already checked in at {crew.staging_site}")
        depot = session.scalar(select(Depot).where(Depot.code == crew.staging_site))
        if depot is None:
            raise Conflict(f"crew {crew.code}'s staging depot {crew.staging_site} no longer exists")
        before = _audited(crew)
        crew.checked_in_at = when
        crew.checked_in_count = arrival.count
        crew.status = CrewStatus.AVAILABLE
        crew.status_at = now
        crew.lon, crew.lat, crew.position_at = depot.lon, depot.lat, when
        done.append(crew)
        session.flush()
        audit.record(
            session, clock, actor, "crew.check_in", "crew", crew.id, before=before, after=_audited(crew)
        )
    return done


def release(session: Session, clock: Clock, actor: Actor, crews: Sequence[tuple[int, int]]) -> ReleaseResult:
    """Release (crew id, version seen) crews that have no open job; each one with work stays, with why."""
    released: list[str] = []
    refused: list[tuple[str, str]] = []
    now = clock.now()
    for crew_id, version in crews:
        crew = _mutual_aid_crew(session, crew_id, version)
        reason = _why_not_released(session, crew)
        if reason is not None:
            refused.append((crew.code, reason))
            continue
        before = _audited(crew)
        crew.released_at = now
        crew.status = CrewStatus.OFF_DUTY
        crew.status_at = now
        session.flush()
        audit.record(
            session, clock, actor, "crew.release", "crew", crew.id, before=before, after=_audited(crew)
        )
        _sign_out_leaders(session, clock, actor, crew)
        released.append(crew.code)
    return ReleaseResult(tuple(released), tuple(refused))


def _sign_out_leaders(session: Session, clock: Clock, actor: Actor, crew: Crew) -> None:
    """A released crew's leader accounts are disabled and their open sessions ended (each audited):
    the crew page of a crew that went home must not stay open on a phone."""
    query = select(User).where(User.crew_id == crew.id, User.role == Role.CREW, User.active.is_(True))
    for user in session.scalars(query).all():
        user.active = False
        audit.record(
            session, clock, actor, "user.disable", "user", user.id, detail=f"crew {crew.code} released"
        )
        staff_sessions.end_user_sessions(session, clock, actor, user, "disabled")


def _why_not_released(session: Session, crew: Crew) -> str | None:
    if crew.released_at is not None:
        return f"crew {crew.code} was already released"
    job = open_assignment(session, crew.id)
    if job is not None:
        state = str(job.status).replace("_", " ")
        return (
            f"crew {crew.code} is {state} for outage {job.outage_id}: restore it or call the crew off first"
        )
    return None


# --- reading ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class MutualAidCrew:
    """A mutual-aid crew as the page lists it (times in UTC; the page shows them local)."""

    crew_id: int
    version: int
    code: str
    company: str
    leader_name: str | None
    phone: str | None
    kind: str
    size: int
    checked_in_count: int | None
    skills: str | None
    vehicles: str | None
    staging_site: str | None
    status: str
    checked_in_at: datetime | None
    released_at: datetime | None
    outage_id: int | None  # its open job, if any
    roster_batch: str | None
    links_made: int
    link_used_at: datetime | None  # when the leader last signed in by a link


@dataclass(frozen=True)
class StagingDepot:
    code: str
    name_en: str
    name_zh: str
    is_staging: bool


def mutual_aid_crews(session: Session) -> list[MutualAidCrew]:
    """Every mutual-aid crew, by company, then crew code."""
    crews = list(
        session.scalars(select(Crew).where(Crew.company.is_not(None)).order_by(Crew.company, Crew.code))
    )
    open_jobs = session.execute(
        select(CrewAssignment.crew_id, func.max(CrewAssignment.outage_id))
        .where(CrewAssignment.status.in_(OPEN_ASSIGNMENT))
        .group_by(CrewAssignment.crew_id)
    ).all()
    jobs: dict[int, int] = {crew_id: outage_id for crew_id, outage_id in open_jobs}
    made = session.execute(
        select(CrewLink.crew_id, func.count(), func.max(CrewLink.used_at)).group_by(CrewLink.crew_id)
    ).all()
    links: dict[int, tuple[int, datetime | None]] = {crew_id: (n, used) for crew_id, n, used in made}
    # Sorted here, not by the database: collations order Chinese company names differently.
    crews.sort(key=lambda c: (c.company or "", c.code))
    return [
        MutualAidCrew(
            crew_id=c.id,
            version=c.version,
            code=c.code,
            company=c.company or "",
            leader_name=c.leader_name,
            phone=c.phone,
            kind=str(c.kind),
            size=c.size,
            checked_in_count=c.checked_in_count,
            skills=c.skills,
            vehicles=c.vehicles,
            staging_site=c.staging_site,
            status=str(c.status),
            checked_in_at=c.checked_in_at,
            released_at=c.released_at,
            outage_id=jobs.get(c.id),
            roster_batch=c.roster_batch,
            links_made=links.get(c.id, (0, None))[0],
            link_used_at=links.get(c.id, (0, None))[1],
        )
        for c in crews
    ]


def staging_depots(session: Session) -> list[StagingDepot]:
    """The depots a roster may name as staging sites, staging areas first."""
    depots = session.scalars(select(Depot).order_by(Depot.is_staging.desc(), Depot.code))
    return [StagingDepot(d.code, d.name_en, d.name_zh, d.is_staging) for d in depots]
