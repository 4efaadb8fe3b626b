"""Crew positions in: validate, keep the track, move the crew on the map, and arrive by geofence.

Positions come from vehicle trackers (a `crew_position` token), from the crew leader's phone (the
crew page, only the leader's own crew), from the simulator, and from a dispatcher moving a crew by
hand. Each is validated on its own and accepted or refused with a reason: nothing is dropped.

- A position dated in the future (past `crew.position_max_future_seconds`) or too long ago
  (`crew.position_max_age_hours`) is refused.
- Every accepted position is a `crew_positions` row; the crew's newest (`crews.lon/lat/position_at`)
  only moves forward in time, so a fix that arrives late is kept on the track but does not move the
  crew back along its road.
- After the positions are in, the geofence (emergency/dispatch/geofence.py) reads the crew's track
  since its open assignment was made; a stay at the outage long enough records the crew on site, as
  the system's `gps` actor, at the stay's first fix (the crew arrived then, not when the dwell ran out).
- The track is pruned to `crew.position_keep_hours` per crew so it never grows without bound.

Each function acts inside the caller's transaction (emergency.app.commands.dispatch opens it).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from emergency.core import audit
from emergency.core.actor import Actor
from emergency.core.clock import Clock
from emergency.core.errors import EmergencyError, InvalidInput, NotFound
from emergency.core.field_models import CrewPosition
from emergency.core.models import (
    AssignmentStatus,
    Crew,
    CrewAssignment,
    Device,
    OnSiteSource,
    Outage,
    Role,
    TokenScope,
)
from emergency.core.settings import get_setting
from emergency.core.vocabulary import PositionSource
from emergency.dispatch import crews, geofence
from emergency.dispatch.crew_field import crew_of

# The geofence's arrivals are the system's, under this name in the audit trail.
GPS_ACTOR = Actor("gps", "system")
# Positions a person placed by hand are not GPS: they never make an arrival or contradict one.
MEASURED = (PositionSource.PHONE, PositionSource.TRACKER, PositionSource.SIMULATOR)
APPROACHING = (AssignmentStatus.DISPATCHED, AssignmentStatus.EN_ROUTE)
MAX_ACCURACY_M = 100_000.0
MAX_CODE_CHARS = 64


@dataclass(frozen=True)
class PositionRules:
    """The crew.* settings positions and the geofence use."""

    geofence: geofence.GeofenceRule
    stale_minutes: float
    max_age: timedelta
    max_future: timedelta
    keep: timedelta

    @classmethod
    def from_settings(cls, session: Session) -> PositionRules:
        def number(key: str) -> float:
            return float(get_setting(session, f"crew.{key}"))

        return cls(
            geofence.GeofenceRule(
                number("arrival_radius_m"), number("arrival_dwell_seconds"), number("arrival_max_gap_seconds")
            ),
            number("position_stale_minutes"),
            timedelta(hours=number("position_max_age_hours")),
            timedelta(seconds=number("position_max_future_seconds")),
            timedelta(hours=number("position_keep_hours")),
        )


@dataclass(frozen=True)
class Refused:
    """One position not taken, with the field at fault and why (the sender sees it)."""

    index: int
    field: str
    reason: str


@dataclass(frozen=True)
class Accepted:
    """One position stored: its row, the crew, and whether it became the crew's newest.

    `duplicate`: the same fix (crew, time, place) was already stored, e.g. sent again by a phone
    that lost the answer to its first try; `id` is the first one's and nothing new is stored.
    """

    index: int
    id: int
    crew_id: int
    newest: bool
    duplicate: bool = False


@dataclass(frozen=True)
class Arrived:
    """A crew the geofence recorded on site: the assignment, at which time and where."""

    assignment_id: int
    crew_id: int
    outage_id: int
    at: datetime
    lon: float
    lat: float


@dataclass(frozen=True)
class PositionsResult:
    accepted: tuple[Accepted, ...]
    refused: tuple[Refused, ...]
    arrived: tuple[Arrived, ...]


@dataclass(frozen=True)
class _Item:
    crew_id: int
    lon: float
    lat: float
    at: datetime
    accuracy_m: float | None


# --- validation ---------------------------------------------------------------------------------


def _number(value: Any, low: float, high: float, field: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise InvalidInput(f"must be a number from {low:g} to {high:g}", field=field)
    try:
        number = float(value)
    except ValueError:
        raise InvalidInput(f"not a number: {str(value)[:40]!r}", field=field) from None
    if not math.isfinite(number) or not low <= number <= high:
        raise InvalidInput(f"must be a number from {low:g} to {high:g}", field=field)
    return number


def _time(value: Any, now: datetime, rules: PositionRules) -> datetime:
    """When the position was taken: ISO 8601 with a time zone, not in the future, not too old."""
    if value is None:
        return now
    if not isinstance(value, str):
        raise InvalidInput("an ISO 8601 time with a time zone, e.g. 2026-07-01T14:02:00+08:00", field="at")
    try:
        at = datetime.fromisoformat(value.strip())
    except ValueError:
        raise InvalidInput(f"not an ISO 8601 time: {value[:40]!r}", field="at") from None
    if at.tzinfo is None:
        raise InvalidInput("the time needs a time zone (Z or +08:00)", field="at")
    if at > now + rules.max_future:
        ahead = (at - now).total_seconds()
        raise InvalidInput(
            f"{ahead:.0f} s in the future (more than {rules.max_future.total_seconds():.0f} s): "
            "the device's clock is wrong",
            field="at",
        )
    if at < now - rules.max_age:
        hours = rules.max_age.total_seconds() / 3600
        raise InvalidInput(f"taken more than {hours:g} h ago: too old to place the crew", field="at")
    return at


def _crew_id(session: Session, item: Mapping[str, Any], own_crew: int | None) -> int:
    """The crew the item names by code; a crew leader's own crew, and only that one."""
    code = item.get("crew")
    if own_crew is not None:
        if code is not None and code != _crew_code(session, own_crew):
            raise InvalidInput("a crew leader may send positions for their own crew only", field="crew")
        return own_crew
    if not isinstance(code, str) or not code.strip() or len(code) > MAX_CODE_CHARS:
        raise InvalidInput("the crew's code, e.g. C-DG-04", field="crew")
    crew_id = session.scalar(select(Crew.id).where(Crew.code == code.strip()))
    if crew_id is None:
        raise InvalidInput(f"no crew {code.strip()!r}", field="crew")
    return crew_id


def _crew_code(session: Session, crew_id: int) -> str | None:
    return session.scalar(select(Crew.code).where(Crew.id == crew_id))


def leader_crew(session: Session, actor: Actor) -> int | None:
    """The crew a crew leader leads; None for other actors. A leader with no crew may send nothing
    (`crew_field.crew_of` refuses it: the account is set up wrong, not refused a right)."""
    if actor.role != Role.CREW.value:
        return None
    return crew_of(session, actor)


def _validate(
    session: Session, item: Any, now: datetime, rules: PositionRules, own_crew: int | None
) -> _Item:
    if not isinstance(item, Mapping):
        raise InvalidInput("each position is an object {crew, lon, lat, at, accuracy_m}", field="position")
    accuracy = item.get("accuracy_m")
    return _Item(
        crew_id=_crew_id(session, item, own_crew),
        lon=_number(item.get("lon"), -180.0, 180.0, "lon"),
        lat=_number(item.get("lat"), -90.0, 90.0, "lat"),
        at=_time(item.get("at"), now, rules),
        accuracy_m=None if accuracy is None else _number(accuracy, 0.0, MAX_ACCURACY_M, "accuracy_m"),
    )


# --- recording ----------------------------------------------------------------------------------


def record_positions(
    session: Session, clock: Clock, actor: Actor, items: Sequence[Any], source: PositionSource
) -> PositionsResult:
    """Validate and store each position, move each crew to its newest, then run the geofence.

    `items` are untrusted mappings {crew (code), lon, lat, at (ISO 8601), accuracy_m}; a crew
    leader's items are for their own crew (`crew` may be left out).
    """
    now = clock.now()
    rules = PositionRules.from_settings(session)
    own_crew = leader_crew(session, actor)
    accepted: list[Accepted] = []
    refused: list[Refused] = []
    for index, raw in enumerate(items):
        try:
            item = _validate(session, raw, now, rules, own_crew)
        except EmergencyError as error:
            field = getattr(error, "field", None) or "position"
            refused.append(Refused(index, field, getattr(error, "reason", str(error))))
            continue
        accepted.append(_store(session, now, item, source, index))
    arrived: list[Arrived] = []
    for crew_id in dict.fromkeys(a.crew_id for a in accepted):
        _prune(session, crew_id, now - rules.keep)
        if source in MEASURED:
            found = check_arrival(session, clock, crew_id, rules)
            if found is not None:
                arrived.append(found)
    return PositionsResult(tuple(accepted), tuple(refused), tuple(arrived))


def _store(session: Session, now: datetime, item: _Item, source: PositionSource, index: int) -> Accepted:
    same = session.scalar(
        select(CrewPosition.id).where(
            CrewPosition.crew_id == item.crew_id,
            CrewPosition.at == item.at,
            CrewPosition.lon == item.lon,
            CrewPosition.lat == item.lat,
        )
    )
    if same is not None:
        return Accepted(index, same, item.crew_id, newest=False, duplicate=True)
    row = CrewPosition(
        crew_id=item.crew_id,
        at=item.at,
        received_at=now,
        lon=item.lon,
        lat=item.lat,
        accuracy_m=item.accuracy_m,
        source=source,
    )
    session.add(row)
    session.flush()
    # The newest only moves forward: a late fix must not drag the crew back along its road. The
    # crew's version is not bumped (positions stream in; a dispatch must not lose to a GPS ping).
    moved = session.execute(
        update(Crew)
        .where(Crew.id == item.crew_id)
        .where((Crew.position_at.is_(None)) | (Crew.position_at <= item.at))
        .values(lon=item.lon, lat=item.lat, position_at=item.at)
        .execution_options(synchronize_session=False)
    )
    return Accepted(index, row.id, item.crew_id, bool(getattr(moved, "rowcount", 0)))


def _prune(session: Session, crew_id: int, before: datetime) -> None:
    session.execute(delete(CrewPosition).where(CrewPosition.crew_id == crew_id, CrewPosition.at < before))


def move_crew(session: Session, clock: Clock, actor: Actor, crew_id: int, lon: Any, lat: Any) -> Crew:
    """Where the crew is now, from a tracker's single fix (`crew_position` token) or a dispatcher.

    A dispatcher's move is audited and never counts for the geofence; a tracker's ping is not
    audited (pings would drown the trail at storm rates) and may make an arrival.
    """
    item = _Item(
        crew_id, _number(lon, -180.0, 180.0, "lon"), _number(lat, -90.0, 90.0, "lat"), clock.now(), None
    )
    crew = session.get(Crew, crew_id)
    if crew is None:
        raise NotFound(f"no crew {crew_id}")
    before = crews.crew_snapshot(crew)
    source = PositionSource.TRACKER if is_token(actor) else PositionSource.DISPATCHER
    _store(session, clock.now(), item, source, 0)
    session.refresh(crew)
    if source == PositionSource.TRACKER:
        check_arrival(session, clock, crew_id, PositionRules.from_settings(session))
        session.refresh(crew)
    else:
        audit.record(
            session,
            clock,
            actor,
            "crew.position",
            "crew",
            crew.id,
            before=before,
            after=crews.crew_snapshot(crew),
        )
    return crew


# --- the geofence -------------------------------------------------------------------------------


def site_of(session: Session, outage_id: int) -> tuple[float, float]:
    """Where an outage is: its device's position."""
    outage = session.get(Outage, outage_id)
    assert outage is not None
    device = session.get(Device, outage.device_id)
    assert device is not None
    return device.lon, device.lat


def check_arrival(session: Session, clock: Clock, crew_id: int, rules: PositionRules) -> Arrived | None:
    """Record the crew on site if its track since its job was given shows a stay at the outage."""
    job = crews.open_assignment(session, crew_id)
    if job is None or job.status not in APPROACHING:
        return None
    since = job.en_route_at or job.assigned_at
    track = [
        geofence.Fix(at, lon, lat, accuracy)
        for at, lon, lat, accuracy in session.execute(
            select(CrewPosition.at, CrewPosition.lon, CrewPosition.lat, CrewPosition.accuracy_m)
            .where(
                CrewPosition.crew_id == crew_id,
                CrewPosition.at >= job.assigned_at,
                CrewPosition.source.in_(MEASURED),
            )
            .order_by(CrewPosition.at, CrewPosition.id)
        )
    ]
    first = geofence.arrival(track, site_of(session, job.outage_id), rules.geofence)
    if first is None:
        return None
    # A crew that told us it left later than the fix (a late tap) arrived no earlier than it left.
    at = max(first.at, since)
    _arrive(session, clock, job, at, (first.lon, first.lat))
    return Arrived(job.id, crew_id, job.outage_id, at, first.lon, first.lat)


def _arrive(
    session: Session, clock: Clock, job: CrewAssignment, at: datetime, position: tuple[float, float]
) -> None:
    """mark_on_site as the system's `gps`, then date the arrival at the stay's first fix.

    mark_on_site stamps its own clock's now; the stay began earlier, and the on-site clock the
    regulator checks must stop when the crew got there. The crew keeps its newest measured position
    (mark_on_site would put it on the device).
    """
    outage = session.get(Outage, job.outage_id)
    # Positions move the crew with UPDATE statements: read its row as it is now, not as first loaded.
    crew = session.get(Crew, job.crew_id, populate_existing=True)
    assert outage is not None and crew is not None
    first_arrival = outage.on_site_at is None
    newest = (crew.lon, crew.lat, crew.position_at)
    crews.mark_on_site(session, clock, GPS_ACTOR, job.id, arrival=crews.Arrival(OnSiteSource.GPS, position))
    job.on_site_at = at
    crew.status_at = at
    if first_arrival:
        outage.on_site_at = at
    crew.lon, crew.lat, crew.position_at = newest
    session.flush()
    audit.record(
        session,
        clock,
        GPS_ACTOR,
        "crew.on_site_gps",
        "crew_assignment",
        job.id,
        after={"on_site_at": at.isoformat(), "lon": position[0], "lat": position[1]},
        detail=f"crew {crew.code} within the geofence of outage {outage.id} since {at.isoformat()}",
    )


# --- the dispatcher's manual on site -------------------------------------------------------------


class ReasonNeeded(InvalidInput):
    """A manual "on site" GPS contradicts: the console asks the dispatcher for a reason.

    Carries the crew, how far away and when GPS placed it, so a page can say so in its language.
    """

    def __init__(self, crew: str, distance_m: float, at: datetime, tz: ZoneInfo) -> None:
        self.crew, self.distance_m, self.at = crew, distance_m, at
        super().__init__(
            f"GPS puts crew {crew} {far(distance_m)} away ({at.astimezone(tz):%H:%M}): give a reason"
        )


@dataclass(frozen=True)
class Newest:
    """A crew's newest measured position that is not stale, and how far from the outage it is."""

    lon: float
    lat: float
    at: datetime
    distance_m: float


def newest_fresh_position(
    session: Session, now: datetime, crew_id: int, outage_id: int, rules: PositionRules
) -> Newest | None:
    row = session.execute(
        select(CrewPosition.lon, CrewPosition.lat, CrewPosition.at)
        .where(CrewPosition.crew_id == crew_id, CrewPosition.source.in_(MEASURED))
        .order_by(CrewPosition.at.desc(), CrewPosition.id.desc())
        .limit(1)
    ).first()
    if row is None or now - row.at > timedelta(minutes=rules.stale_minutes):
        return None
    site = site_of(session, outage_id)
    return Newest(row.lon, row.lat, row.at, geofence.distance_m(row.lon, row.lat, *site))


def dispatcher_arrival(
    session: Session, clock: Clock, assignment_id: int, reason: str | None, tz: ZoneInfo
) -> crews.Arrival:
    """How a dispatcher's "on site" is recorded; refused without a reason when GPS disagrees.

    When the crew's newest fresh position is farther than the radius from the outage, the
    dispatcher must say why (the crew phoned in, the tracker is wrong...). The reason is kept.
    """
    job = session.get(CrewAssignment, assignment_id)
    if job is None:
        raise NotFound(f"no crew assignment {assignment_id}")
    rules = PositionRules.from_settings(session)
    newest = newest_fresh_position(session, clock.now(), job.crew_id, job.outage_id, rules)
    text = (reason or "").strip()
    if len(text) > crews.MAX_REASON_CHARS:
        raise InvalidInput(f"at most {crews.MAX_REASON_CHARS} characters", field="reason")
    if newest is None:
        return crews.Arrival(OnSiteSource.DISPATCHER, None, text or None)
    if newest.distance_m <= rules.geofence.radius_m:
        return crews.Arrival(OnSiteSource.DISPATCHER, (newest.lon, newest.lat), text or None)
    if not text:
        raise ReasonNeeded(
            _crew_code(session, job.crew_id) or str(job.crew_id), newest.distance_m, newest.at, tz
        )
    return crews.Arrival(OnSiteSource.DISPATCHER, (newest.lon, newest.lat), text)


def far(metres: float) -> str:
    return f"{metres / 1000:.1f} km" if metres >= 1000 else f"{metres:.0f} m"


def is_token(actor: Actor) -> bool:
    return actor.role == TokenScope.CREW_POSITION.value
