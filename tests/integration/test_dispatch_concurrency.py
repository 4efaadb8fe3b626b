"""Two dispatchers act on one crew at the same instant, on SQLite and PostgreSQL.

Each race runs in real threads, each with its own connection, released together by a barrier after
both have read the same crew version, as two dispatchers' screens would have. Exactly one must win;
the other gets a Conflict naming the crew, the winner's outage and the winner's user, and nothing is
double-booked.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import select

from emergency.app.commands.dispatch import AssignmentChanged
from emergency.core.actor import Actor
from emergency.core.errors import Conflict
from emergency.core.models import Crew, CrewAssignment, Outage
from emergency.dispatch.crews import OPEN_ASSIGNMENT
from tests.support.commands import submit_reports
from tests.support.dispatch_actions import cancel_assignment, dispatch_crew, set_crew_off_duty
from tests.support.small_territory import build_small_territory

HOTLINE = Actor("hotline-gateway", "intake")
ALICE = Actor("alice", "dispatcher")
BOB = Actor("bob", "dispatcher")
ROUNDS = 5


@pytest.fixture
def territory(database, clock):
    return build_small_territory(database, clock)


@pytest.fixture
def two_outages(database, clock, territory) -> tuple[int, int]:
    """Predicted outages on TX-1 (west) and TX-4 (east), two calls each."""
    calls = [
        {"channel": "hotline", "kind": "no_power", "account_no": territory.account_by_transformer[tx][i]}
        for tx in ("TX-1", "TX-4")
        for i in range(2)
    ]
    result = submit_reports(database, clock, HOTLINE, calls)
    first, second = sorted(result.analysis.predicted)
    return first, second


def race(*actions: Callable[[], Any]) -> list[Any]:
    """Run the actions in threads released at the same moment; each result or the exception raised."""
    barrier = threading.Barrier(len(actions))
    results: list[Any] = [None] * len(actions)

    def run(index: int, action: Callable[[], Any]) -> None:
        barrier.wait(timeout=30)
        try:
            results[index] = action()
        except Exception as error:  # the race's loser: the test inspects what it got
            results[index] = error

    threads = [threading.Thread(target=run, args=(i, a)) for i, a in enumerate(actions)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in threads), "a dispatch hung"
    return results


def crew_version(database, crew_id: int) -> int:
    with database.read() as session:
        crew = session.get(Crew, crew_id)
        assert crew is not None
        return crew.version


def open_assignments(database, crew_id: int) -> list[CrewAssignment]:
    with database.read() as session:
        return list(
            session.scalars(
                select(CrewAssignment).where(
                    CrewAssignment.crew_id == crew_id, CrewAssignment.status.in_(OPEN_ASSIGNMENT)
                )
            )
        )


def test_two_dispatchers_sending_one_crew_to_two_outages_at_once_one_wins(
    database, clock, territory, two_outages
):
    west, east = two_outages
    c1 = territory.crew_ids["C1"]
    for round_no in range(ROUNDS):
        seen = crew_version(database, c1)
        results = race(
            functools.partial(dispatch_crew, database, clock, ALICE, west, c1, crew_version=seen),
            functools.partial(dispatch_crew, database, clock, BOB, east, c1, crew_version=seen),
        )

        won = [r for r in results if isinstance(r, AssignmentChanged)]
        lost = [r for r in results if isinstance(r, Conflict)]
        assert (len(won), len(lost)) == (1, 1), f"round {round_no}: {results!r}"
        winner = won[0]
        loser_outage = east if winner.outage_id == west else west
        assert (
            str(lost[0])
            == f"crew C1 was just dispatched to outage {winner.outage_id} by {winner.assigned_by}"
        )
        assert winner.assigned_by == ("alice" if winner.outage_id == west else "bob")

        (booked,) = open_assignments(database, c1)
        assert booked.id == winner.id
        assert crew_version(database, c1) == seen + 1
        with database.read() as session:
            loser = session.get(Outage, loser_outage)
            assert loser is not None
            assert loser.state == "predicted", "the losing dispatch left its outage as it was"
            if round_no == 0:
                assert (loser.dispatched_at, loser.etr_at) == (None, None)
        cancel_assignment(database, clock, ALICE, winner.id, f"reset for round {round_no + 1}")


def test_two_dispatchers_sending_different_crews_at_once_both_succeed(
    database, clock, territory, two_outages
):
    west, east = two_outages
    c1, c2 = territory.crew_ids["C1"], territory.crew_ids["C2"]
    v1, v2 = crew_version(database, c1), crew_version(database, c2)

    results = race(
        lambda: dispatch_crew(database, clock, ALICE, west, c1, crew_version=v1),
        lambda: dispatch_crew(database, clock, BOB, east, c2, crew_version=v2),
    )

    assert all(isinstance(r, AssignmentChanged) for r in results), results
    assert [a.outage_id for a in open_assignments(database, c1)] == [west]
    assert [a.outage_id for a in open_assignments(database, c2)] == [east]


def test_sending_a_crew_while_a_manager_stands_it_down_one_wins(database, clock, territory, two_outages):
    west, _ = two_outages
    c1 = territory.crew_ids["C1"]
    seen = crew_version(database, c1)

    dispatched, stood_down = race(
        lambda: dispatch_crew(database, clock, ALICE, west, c1, crew_version=seen),
        lambda: set_crew_off_duty(database, clock, Actor("meng", "manager"), c1, crew_version=seen),
    )

    assert isinstance(dispatched, Conflict) != isinstance(stood_down, Conflict), (dispatched, stood_down)
    with database.read() as session:
        crew = session.get(Crew, c1)
        assert crew is not None
        if isinstance(dispatched, Conflict):
            assert str(dispatched) == "crew C1 is off duty"
            assert (crew.status, open_assignments(database, c1)) == ("off_duty", [])
        else:
            assert "changed by someone else" in str(stood_down)
            assert crew.status == "dispatched" and len(open_assignments(database, c1)) == 1
        assert crew.version == seen + 1
