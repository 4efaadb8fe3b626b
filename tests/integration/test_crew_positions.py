"""Crew positions in and arrival by GPS: positions posted along a road put a crew on site by the
geofence at the right time and place, with no dispatcher's click; bad positions are refused with
reasons; a dispatcher's "on site" against fresh GPS needs a reason; the track is pruned."""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from emergency.app.bus import execute
from emergency.app.commands.dispatch import MarkOnSite, RecordCrewPositions
from emergency.app.queries import dispatch as dispatch_queries
from emergency.core.actor import Actor
from emergency.core.errors import NotFound, PermissionDenied
from emergency.core.field_models import CrewPosition
from emergency.core.models import AuditEvent, Crew, CrewAssignment, Outage, User
from emergency.core.settings import set_setting
from emergency.dispatch.geofence import distance_m
from emergency.dispatch.positions import PositionsResult, ReasonNeeded, site_of
from tests.integration.test_dispatch import ALICE, outage_at
from tests.support.app_context import context_of
from tests.support.dispatch_actions import dispatch_crew, mark_en_route
from tests.support.small_territory import build_small_territory

TRACKER = Actor("token:vehicle-trackers", "crew_position")
M_PER_DEG_LAT = 111_195.0


@pytest.fixture
def territory(database, clock):
    return build_small_territory(database, clock)


def add_user(database, clock, username: str, role: str, *, crew_id: int | None) -> None:
    with database.write() as session:
        now = clock.now()
        session.add(
            User(
                username=username,
                display_name=username,
                role=role,
                password_hash="-",
                created_at=now,
                password_changed_at=now,
                crew_id=crew_id,
            )
        )


def post(database, clock, actor: Actor, items: list[Any]) -> PositionsResult:
    return execute(context_of(database, clock, actor), RecordCrewPositions(tuple(items)))


def fix(
    code: str | None, lon: float, lat: float, at: datetime, accuracy: float | None = 8.0
) -> dict[str, Any]:
    item: dict[str, Any] = {"lon": lon, "lat": lat, "at": at.isoformat(), "accuracy_m": accuracy}
    if code is not None:
        item["crew"] = code
    return item


def crew_code(database, crew_id: int) -> str:
    with database.read() as session:
        found = session.get(Crew, crew_id)
        assert found is not None
        return found.code


def en_route_job(database, clock, territory, transformer: str = "TX-1", code: str = "C1") -> tuple[int, int]:
    """An outage with crew `code` dispatched and en route: (outage id, assignment id)."""
    outage_id = outage_at(database, clock, territory, transformer)
    crew_id = territory.crew_ids[code]
    with database.read() as session:
        version = session.get(Crew, crew_id).version  # type: ignore[union-attr]
    job = dispatch_crew(database, clock, ALICE, outage_id, crew_id, crew_version=version)
    clock.advance(minutes=2)
    mark_en_route(database, clock, ALICE, job.id)
    return outage_id, job.id


def drive(start: tuple[float, float], end: tuple[float, float], steps: int) -> list[tuple[float, float]]:
    return [
        (start[0] + (end[0] - start[0]) * i / steps, start[1] + (end[1] - start[1]) * i / steps)
        for i in range(steps + 1)
    ]


def test_positions_along_a_road_put_the_crew_on_site_by_gps_at_its_first_fix_there(
    database, clock, territory
):
    outage_id, job_id = en_route_job(database, clock, territory)
    code = crew_code(database, territory.crew_ids["C1"])
    with database.read() as session:
        site = site_of(session, outage_id)
        depot = session.get(Crew, territory.crew_ids["C1"])
        start = (depot.lon, depot.lat)  # type: ignore[union-attr]
    arrived_at: datetime | None = None
    arrived_where: tuple[float, float] | None = None
    # A fix every 30 s along the road, then three more parked 20 m from the device.
    path = drive(start, site, 12) + [(site[0], site[1] + 20 / M_PER_DEG_LAT)] * 3
    for lon, lat in path:
        clock.advance(seconds=30)
        if arrived_at is None and distance_m(lon, lat, *site) <= 150:
            arrived_at, arrived_where = clock.now(), (lon, lat)
        result = post(database, clock, TRACKER, [fix(code, lon, lat, clock.now())])
        assert result.refused == ()
    assert arrived_at is not None and arrived_where is not None
    with database.read() as session:
        job = session.get(CrewAssignment, job_id)
        outage = session.get(Outage, outage_id)
        crew = session.get(Crew, territory.crew_ids["C1"])
        assert job is not None and outage is not None and crew is not None
        assert job.status == "on_site"
        assert job.on_site_source == "gps"
        assert job.on_site_at == arrived_at, "on site when the stay began, not when the dwell ran out"
        assert (job.on_site_lon, job.on_site_lat) == pytest.approx(arrived_where)
        assert outage.on_site_at == arrived_at and outage.on_site_source == "gps"
        assert crew.status == "on_site"
        # The crew stays where its newest fix put it, not snapped to the device.
        assert (crew.lon, crew.lat) == pytest.approx(path[-1])
        actors = session.scalars(
            select(AuditEvent.actor).where(
                AuditEvent.action == "crew.on_site", AuditEvent.entity_id == str(job_id)
            )
        ).all()
    assert actors == ["gps"], "recorded by the system's gps, no dispatcher's click"


def test_vague_fixes_and_a_short_stay_make_no_arrival(database, clock, territory):
    outage_id, job_id = en_route_job(database, clock, territory)
    code = crew_code(database, territory.crew_ids["C1"])
    with database.read() as session:
        site = site_of(session, outage_id)
    for _ in range(4):  # at the device, but the fixes are good only to 400 m
        clock.advance(seconds=30)
        post(database, clock, TRACKER, [fix(code, site[0], site[1], clock.now(), accuracy=400)])
    clock.advance(seconds=30)
    post(database, clock, TRACKER, [fix(code, site[0], site[1], clock.now())])
    clock.advance(seconds=30)
    post(database, clock, TRACKER, [fix(code, site[0], site[1], clock.now())])  # 30 s of a 60 s dwell
    with database.read() as session:
        assert session.get(CrewAssignment, job_id).status == "en_route"  # type: ignore[union-attr]


def test_each_bad_position_is_refused_with_a_reason_and_the_good_ones_kept(database, clock, territory):
    code = crew_code(database, territory.crew_ids["C1"])
    now = clock.now()
    result = post(
        database,
        clock,
        TRACKER,
        [
            fix(code, 121.05, 28.05, now),
            fix(code, 121.05, 28.05, now + timedelta(minutes=10)),
            fix(code, 121.05, 28.05, now - timedelta(days=2)),
            fix(code, 181.0, 28.05, now),
            fix("NO-SUCH-CREW", 121.05, 28.05, now),
            {"crew": code, "lon": 121.05, "lat": 28.05, "at": "yesterday"},
            {"crew": code, "lon": 121.05, "lat": 28.05, "at": "2026-07-01T02:00:00"},
            "not an object",
            fix(code, 121.05, 28.05, now, accuracy=-3),
        ],
    )
    assert [a.index for a in result.accepted] == [0]
    reasons = {r.index: (r.field, r.reason) for r in result.refused}
    assert sorted(reasons) == [1, 2, 3, 4, 5, 6, 7, 8], "every item is accounted for"
    assert reasons[1][0] == "at" and "future" in reasons[1][1]
    assert reasons[2][0] == "at" and "too old" in reasons[2][1]
    assert reasons[3][0] == "lon"
    assert "NO-SUCH-CREW" in reasons[4][1]
    assert reasons[5][0] == "at" and "ISO 8601" in reasons[5][1]
    assert reasons[6][0] == "at" and "time zone" in reasons[6][1]
    assert reasons[7][0] == "position"
    assert reasons[8][0] == "accuracy_m"
    with database.read() as session:
        assert session.scalar(select(func.count()).select_from(CrewPosition)) == 1


def test_a_late_fix_is_kept_but_does_not_move_the_crew_back(database, clock, territory):
    code = crew_code(database, territory.crew_ids["C1"])
    now = clock.now()
    post(database, clock, TRACKER, [fix(code, 121.08, 28.05, now)])
    late = post(database, clock, TRACKER, [fix(code, 121.04, 28.05, now - timedelta(minutes=2))])
    assert late.accepted[0].newest is False
    with database.read() as session:
        crew = session.get(Crew, territory.crew_ids["C1"])
        assert crew is not None and (crew.lon, crew.position_at) == (121.08, now)
        assert session.scalar(select(func.count()).select_from(CrewPosition)) == 2


def test_a_crew_leaders_phone_posts_for_their_own_crew_only(database, clock, territory):
    add_user(database, clock, "lead1", "crew", crew_id=territory.crew_ids["C1"])
    leader = Actor("lead1", "crew")
    other = crew_code(database, territory.crew_ids["C2"])
    result = post(
        database, clock, leader, [fix(None, 121.06, 28.05, clock.now()), fix(other, 121.0, 28.0, clock.now())]
    )
    assert [a.crew_id for a in result.accepted] == [territory.crew_ids["C1"]]
    assert [r.index for r in result.refused] == [1] and "own crew" in result.refused[0].reason
    with database.read() as session:
        row = session.scalars(select(CrewPosition)).one()
        assert row.source == "phone"
    add_user(database, clock, "lead2", "crew", crew_id=None)
    with pytest.raises(NotFound, match="not linked to a crew"):
        post(database, clock, Actor("lead2", "crew"), [fix(None, 121.06, 28.05, clock.now())])
    with pytest.raises(PermissionDenied):
        post(database, clock, ALICE, [fix(other, 121.06, 28.05, clock.now())])


def test_a_dispatchers_on_site_against_fresh_gps_needs_a_reason_which_is_kept(database, clock, territory):
    outage_id, job_id = en_route_job(database, clock, territory)
    code = crew_code(database, territory.crew_ids["C1"])
    with database.read() as session:
        site = site_of(session, outage_id)
    away = (site[0], site[1] + 2300 / M_PER_DEG_LAT)
    post(database, clock, TRACKER, [fix(code, *away, clock.now())])
    taken = clock.now()
    clock.advance(minutes=3)
    ctx = context_of(database, clock, ALICE)
    with database.read() as session:
        version = session.get(CrewAssignment, job_id).version  # type: ignore[union-attr]
    with pytest.raises(ReasonNeeded) as refused:
        execute(ctx, MarkOnSite(job_id, version))
    local = taken.astimezone(ctx.tz).strftime("%H:%M")
    assert str(refused.value) == f"GPS puts crew {code} 2.3 km away ({local}): give a reason"
    execute(ctx, MarkOnSite(job_id, version, reason="crew phoned: tracker left at the depot"))
    with database.read() as session:
        job = session.get(CrewAssignment, job_id)
        assert job is not None and job.status == "on_site" and job.on_site_source == "dispatcher"
        assert job.on_site_reason == "crew phoned: tracker left at the depot"
        assert (job.on_site_lon, job.on_site_lat) == pytest.approx(away)


def test_a_stale_or_near_position_needs_no_reason(database, clock, territory):
    outage_id, job_id = en_route_job(database, clock, territory)
    code = crew_code(database, territory.crew_ids["C1"])
    with database.read() as session:
        site = site_of(session, outage_id)
    post(database, clock, TRACKER, [fix(code, site[0], site[1] + 0.05, clock.now())])  # 5.6 km away
    clock.advance(minutes=11)  # older than crew.position_stale_minutes (10)
    with database.read() as session:
        version = session.get(CrewAssignment, job_id).version  # type: ignore[union-attr]
    execute(context_of(database, clock, ALICE), MarkOnSite(job_id, version))
    with database.read() as session:
        job = session.get(CrewAssignment, job_id)
        assert job is not None and job.on_site_source == "dispatcher" and job.on_site_reason is None


def test_the_track_is_pruned_to_the_hours_kept(database, clock, territory):
    code = crew_code(database, territory.crew_ids["C1"])
    with database.write() as session:
        set_setting(session, "crew.position_keep_hours", 1, clock)
    for _ in range(5):
        post(database, clock, TRACKER, [fix(code, 121.05, 28.05, clock.now())])
        clock.advance(minutes=25)
    with database.read() as session:
        kept = session.scalars(select(CrewPosition.at).order_by(CrewPosition.at)).all()
    assert len(kept) == 3 and all(
        clock.now() - timedelta(minutes=25) - at <= timedelta(hours=1) for at in kept
    )
    assert math.isclose((kept[-1] - kept[0]).total_seconds(), 50 * 60)


def test_the_maps_crews_carry_their_positions_age_and_stale_ones_are_flagged(database, clock, territory):
    c1, c2 = (crew_code(database, territory.crew_ids[c]) for c in ("C1", "C2"))
    post(database, clock, TRACKER, [fix(c1, 121.05, 28.05, clock.now())])
    clock.advance(minutes=4)
    post(database, clock, TRACKER, [fix(c2, 121.06, 28.05, clock.now())])
    clock.advance(minutes=7)  # C1's position is 11 minutes old now, past crew.position_stale_minutes
    layers = dispatch_queries.staff_layers(context_of(database, clock, ALICE), False, False)
    crews = {f["properties"]["code"]: f["properties"] for f in layers["crews"]["features"]}
    assert (crews[c1]["age"], crews[c1]["stale"]) == (11, True)
    assert (crews[c2]["age"], crews[c2]["stale"]) == (7, False)
    assert layers["crews"]["stale_minutes"] == 10


def test_a_fix_sent_twice_is_stored_once(database, clock, territory):
    code = crew_code(database, territory.crew_ids["C1"])
    sent = fix(code, 121.06, 28.05, clock.now())
    first = post(database, clock, TRACKER, [sent])
    again = post(database, clock, TRACKER, [sent])  # the phone lost the answer and sent it again
    assert again.accepted[0].duplicate and again.accepted[0].id == first.accepted[0].id
    with database.read() as session:
        assert session.scalar(select(func.count()).select_from(CrewPosition)) == 1
