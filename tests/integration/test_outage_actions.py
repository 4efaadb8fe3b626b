"""Outage actions and the crews on them (SQLite and PostgreSQL)."""

from __future__ import annotations

import pytest

from emergency.core.actor import Actor
from emergency.core.errors import Conflict
from emergency.core.models import Crew, CrewAssignment, CrewStatus, Outage, OutageState
from tests.support.commands import submit_reports
from tests.support.dispatch_actions import cancel_outage, confirm_outage, dispatch_crew
from tests.support.small_territory import build_small_territory

DISPATCHER = Actor("dispatcher", "dispatcher")


def test_cancelling_an_outage_frees_its_crew(database, clock):
    territory = build_small_territory(database, clock)
    calls = [
        {"channel": "hotline", "kind": "no_power", "account_no": territory.account_by_transformer["TX-4"][i]}
        for i in range(2)
    ]
    outage_id = submit_reports(database, clock, Actor("hotline", "intake"), calls).analysis.predicted[0]
    crew_id = territory.crew_ids["C1"]
    with database.read() as session:
        version = session.get(Crew, crew_id).version
    assignment = dispatch_crew(database, clock, DISPATCHER, outage_id, crew_id, crew_version=version)

    cancel_outage(database, clock, DISPATCHER, outage_id, "false alarm: a customer's own breaker")

    with database.read() as session:
        assert session.get(Crew, crew_id).status == CrewStatus.AVAILABLE
        assert session.get(CrewAssignment, assignment.id).status == "cancelled"


def test_more_calls_on_an_outage_do_not_make_a_dispatchers_view_stale(database, clock):
    """In a storm calls keep arriving on an outage; confirming it against the version the dispatcher
    saw must still work. A person's change in between is what makes a view stale."""
    territory = build_small_territory(database, clock)
    accounts = territory.account_by_transformer["TX-4"]
    intake = Actor("hotline", "intake")
    first = [{"channel": "hotline", "kind": "no_power", "account_no": accounts[i]} for i in range(2)]
    outage_id = submit_reports(database, clock, intake, first).analysis.predicted[0]
    with database.read() as session:
        seen = session.get(Outage, outage_id).version

    clock.advance(minutes=1)
    more = [{"channel": "hotline", "kind": "no_power", "account_no": accounts[i]} for i in range(2, 5)]
    submit_reports(database, clock, intake, more)
    confirm_outage(database, clock, DISPATCHER, outage_id, expected_version=seen)

    with database.read() as session:
        outage = session.get(Outage, outage_id)
        assert outage.report_count == 5
        assert outage.state == OutageState.CONFIRMED
        after_confirm = outage.version
    assert after_confirm > seen
    with pytest.raises(Conflict):
        cancel_outage(database, clock, DISPATCHER, outage_id, "false alarm", expected_version=seen)
