"""Crew pre-positioning over staging depots, on SQLite and PostgreSQL.

Two staging depots are added to the small territory: one in West Town (121.05, 28.05) and one in
East Village (121.15, 28.05). A warning over both districts puts 8 customers (1 of them the grade-1
hospital) nearest the west depot and 7 nearest the east one; the hospital counts as 100 customers,
on top of its own 1, so the west weighs 108 and the east 7. Crews C1 and C2 are available (C3 is
off duty).
"""

from __future__ import annotations

import pytest
from sqlalchemy import select

from emergency.app.bus import execute
from emergency.app.commands.warnings import AcceptPrepositioning
from emergency.core.actor import Actor
from emergency.core.errors import Conflict, PermissionDenied
from emergency.core.models import AuditEvent, Crew, Depot
from emergency.warnings.prepositioning import apportion, suggest_prepositioning
from tests.support.app_context import context_of
from tests.support.disaster import issue_typhoon_warning
from tests.support.dispatch_actions import set_crew_off_duty
from tests.support.small_territory import build_small_territory

MANAGER = Actor("meng", "manager")


@pytest.fixture
def staged(database, clock):
    territory = build_small_territory(database, clock)
    with database.write() as session:
        for code, lon, district in (("SA-W", 121.05, "W"), ("SA-E", 121.15, "E")):
            session.add(
                Depot(
                    code=code,
                    name_en=code,
                    name_zh=code,
                    district_id=territory.district_ids[district],
                    lon=lon,
                    lat=28.05,
                    is_staging=True,
                )
            )
    return territory


def warn(database, clock, codes=("W", "E")) -> None:
    issue_typhoon_warning(database, clock, codes, hours=12)


def test_apportion_is_proportional_and_adds_up():
    assert apportion([107, 7], 2) == [2, 0]
    assert apportion([50, 50], 3) == [2, 1]
    assert apportion([1, 1, 1], 10) == [4, 3, 3]
    assert apportion([0, 0], 4) == [0, 0]
    assert sum(apportion([3.3, 2.2, 9.9, 0.1], 17)) == 17


def test_no_warning_means_no_move(database, clock, staged):
    with database.read() as session:
        plan = suggest_prepositioning(session, clock)
    assert plan.moves == ()
    assert [d.weight for d in plan.depots] == [0.0, 0.0]


def test_crews_go_where_the_customers_and_important_users_are(database, clock, staged):
    warn(database, clock)
    with database.read() as session:
        plan = suggest_prepositioning(session, clock)
    shares = {d.code: (d.customers_at_risk, d.important_at_risk, d.weight, d.crews) for d in plan.depots}
    assert shares == {"SA-E": (7, 0, 7.0, 0), "SA-W": (8, 1, 108.0, 2)}
    assert [(m.crew_code, m.depot_code) for m in plan.moves] == [("C1", "SA-W"), ("C2", "SA-W")]
    assert plan.moves[0].distance_km == pytest.approx(1.96, abs=0.05)  # 0.02 deg of longitude at 28 N

    execute(context_of(database, clock, MANAGER), AcceptPrepositioning(tuple(plan.moves)))
    with database.read() as session:
        west = session.scalar(select(Depot.id).where(Depot.code == "SA-W"))
        assert set(session.scalars(select(Crew.home_depot_id).where(Crew.code.in_(["C1", "C2"])))) == {west}
        assert (
            len(session.scalars(select(AuditEvent).where(AuditEvent.action == "crew.preposition")).all()) == 2
        )


def test_only_the_east_at_risk_sends_crews_east(database, clock, staged):
    warn(database, clock, ("E",))
    with database.read() as session:
        plan = suggest_prepositioning(session, clock)
    assert {m.depot_code for m in plan.moves} == {"SA-E"}


def test_a_stale_suggestion_is_refused_whole(database, clock, staged):
    warn(database, clock)
    with database.read() as session:
        plan = suggest_prepositioning(session, clock)
    set_crew_off_duty(database, clock, Actor("alice", "dispatcher"), staged.crew_ids["C2"])
    with pytest.raises(Conflict, match="crew C2 changed"):
        execute(context_of(database, clock, MANAGER), AcceptPrepositioning(tuple(plan.moves)))
    with database.read() as session:
        assert session.scalar(select(Crew.home_depot_id).where(Crew.code == "C1")) != plan.moves[0].depot_id
    with pytest.raises(PermissionDenied):
        execute(
            context_of(database, clock, Actor("alice", "dispatcher")), AcceptPrepositioning(tuple(plan.moves))
        )
