"""A crew leader on the small territory: an outage on TX-4, crew C1 dispatched to it, and accounts
`leader1` (crew C1) and `leader2` (crew C2), for the crew page's tests."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from emergency.app.bus import execute
from emergency.app.commands import dispatch as dispatch_commands
from emergency.app.commands.admin import CreateUser
from emergency.app.queries import dispatch as dispatch_queries
from emergency.core.actor import Actor
from emergency.core.clock import Clock
from emergency.core.db import Database
from emergency.core.models import Crew
from tests.support.app_context import context_of
from tests.support.commands import submit_reports
from tests.support.small_territory import SmallTerritory, build_small_territory

DISPATCHER = Actor("dispatcher", "dispatcher")
ADMIN = Actor("admin", "admin")
LEADER1 = Actor("leader1", "crew")
LEADER2 = Actor("leader2", "crew")
LEADER_PASSWORD = "leader-pass-1"


@dataclass(frozen=True)
class CrewJobSetup:
    territory: SmallTerritory
    outage_id: int
    assignment_id: int
    assignment_version: int


def key() -> str:
    return uuid.uuid4().hex


def crew_job(database: Database, clock: Clock, transformer: str = "TX-4") -> CrewJobSetup:
    """Two calls on `transformer` make an outage; crew C1 is dispatched to it; two crew leaders."""
    return crew_job_on(database, clock, build_small_territory(database, clock), transformer)


def crew_job_on(
    database: Database, clock: Clock, territory: SmallTerritory, transformer: str = "TX-4"
) -> CrewJobSetup:
    """`crew_job` on a small territory already built."""
    for name, crew in (("leader1", "C1"), ("leader2", "C2")):
        execute(
            context_of(database, clock, ADMIN),
            CreateUser(name, LEADER_PASSWORD, "crew", f"Leader of {crew}", territory.crew_ids[crew]),
        )
    calls = [
        {
            "channel": "hotline",
            "kind": "no_power",
            "account_no": territory.account_by_transformer[transformer][i],
            "reported_at": clock.now().isoformat(),
        }
        for i in range(2)
    ]
    submit_reports(database, clock, Actor("hotline-gateway", "intake"), calls)
    ctx = context_of(database, clock, DISPATCHER)
    (row,) = dispatch_queries.sla_board(ctx)
    crew = territory.crew_ids["C1"]
    with database.read() as session:
        version = session.get(Crew, crew).version
    sent = execute(ctx, dispatch_commands.DispatchCrew(row.outage_id, crew, version))
    return CrewJobSetup(territory, row.outage_id, sent.id, sent.version)
