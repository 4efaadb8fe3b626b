"""Outage actions and the crews on them (SQLite and PostgreSQL)."""

from __future__ import annotations

from emergency.auth import Actor
from emergency.dispatch import dispatch_crew
from emergency.intake import submit_reports
from emergency.models import Crew, CrewAssignment, CrewStatus
from emergency.outages import cancel_outage
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
