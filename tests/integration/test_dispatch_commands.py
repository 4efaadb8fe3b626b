"""The dispatch commands through the bus: each refuses the roles it does not serve before it opens
a transaction, stale screens are refused (en route and on site too), and results are plain data."""

from __future__ import annotations

import dataclasses

import pytest
from sqlalchemy import func, select

from emergency.app.bus import execute, registered
from emergency.app.commands import dispatch as commands
from emergency.app.context import Context
from emergency.app.queries import dispatch as queries
from emergency.core.actor import Actor
from emergency.core.errors import Conflict, PermissionDenied
from emergency.core.models import AuditEvent, Crew
from emergency.dispatch.outage_detail import OutageFacts
from tests.support.app_context import SHANGHAI
from tests.support.commands import submit_reports
from tests.support.small_territory import build_small_territory

ALICE = Actor("alice", "dispatcher")
HOTLINE = Actor("hotline-gateway", "intake")

# One of each dispatch command, with placeholder ids: a refused role never gets as far as them.
EVERY_COMMAND = {
    commands.ConfirmOutage: commands.ConfirmOutage(1, 1),
    commands.DispatchCrew: commands.DispatchCrew(1, 1, 1),
    commands.MarkEnRoute: commands.MarkEnRoute(1, 1),
    commands.MarkOnSite: commands.MarkOnSite(1, 1),
    commands.RestoreOutage: commands.RestoreOutage(1, 1),
    commands.CancelOutage: commands.CancelOutage(1, "duplicate", 1),
    commands.CloseOutage: commands.CloseOutage(1, 1),
    commands.CancelAssignment: commands.CancelAssignment(1, "needed elsewhere", 1),
    commands.ApplyStormPlan: commands.ApplyStormPlan(()),
    commands.SetCrewOffDuty: commands.SetCrewOffDuty(1, 1),
    commands.SetCrewAvailable: commands.SetCrewAvailable(1, 1),
    commands.UpdateCrewPosition: commands.UpdateCrewPosition(1, 121.0, 28.0),
}


def ctx(database, clock, actor: Actor = ALICE) -> Context:
    return Context(database, clock, actor, SHANGHAI)


def audit_count(database) -> int:
    with database.read() as session:
        return session.scalar(select(func.count()).select_from(AuditEvent)) or 0


def test_every_dispatch_command_has_a_handler() -> None:
    handled = {t for t in registered() if t.__module__ == commands.__name__}
    # SetEtr has its own tests; RecordBreaches is the server's SLA monitor, for the system only.
    assert handled == set(EVERY_COMMAND) | {commands.SetEtr, commands.RecordBreaches}


@pytest.mark.parametrize("role", ["public", "intake", "system", "admin", "nobody"])
def test_every_dispatch_command_refuses_who_is_not_in_the_control_room(database, clock, role) -> None:
    crew_positions = {commands.UpdateCrewPosition}
    for command in EVERY_COMMAND.values():
        with pytest.raises(PermissionDenied):
            execute(ctx(database, clock, Actor(f"someone-{role}", role)), command)
    assert audit_count(database) == 0
    # A crew's device may post its own position, and nothing else.
    for command_type, command in EVERY_COMMAND.items():
        if command_type in crew_positions:
            continue
        with pytest.raises(PermissionDenied):
            execute(ctx(database, clock, Actor("token:gps", "crew_position")), command)


def test_commands_are_frozen_and_results_plain(database, clock) -> None:
    territory = build_small_territory(database, clock)
    calls = [
        {
            "channel": "hotline",
            "kind": "no_power",
            "account_no": territory.account_by_transformer["TX-1"][i],
            "reported_at": clock.now().isoformat(),
        }
        for i in range(2)
    ]
    submit_reports(database, clock, HOTLINE, calls)
    (row,) = queries.sla_board(ctx(database, clock))
    with pytest.raises(dataclasses.FrozenInstanceError):
        commands.ConfirmOutage(row.outage_id, row.version).outage_id = 2  # type: ignore[misc]

    confirmed = execute(ctx(database, clock), commands.ConfirmOutage(row.outage_id, row.version))
    assert isinstance(confirmed, commands.OutageChanged) and confirmed.state == "confirmed"

    detail = queries.outage_detail(ctx(database, clock), row.outage_id)
    assert isinstance(detail.outage, OutageFacts) and detail.outage.version == confirmed.version
    (option, *_) = queries.recommend_crews(ctx(database, clock), row.outage_id)
    sent = execute(
        ctx(database, clock),
        commands.DispatchCrew(row.outage_id, option.crew_id, crew_version=option.version),
    )
    assert isinstance(sent, commands.AssignmentChanged) and sent.status == "dispatched"
    with database.read() as session:
        assert session.get(Crew, option.crew_id).status == "dispatched"


def test_en_route_and_on_site_refuse_a_stale_screen(database, clock) -> None:
    territory = build_small_territory(database, clock)
    calls = [
        {
            "channel": "hotline",
            "kind": "no_power",
            "account_no": territory.account_by_transformer["TX-4"][i],
            "reported_at": clock.now().isoformat(),
        }
        for i in range(2)
    ]
    submit_reports(database, clock, HOTLINE, calls)
    (row,) = queries.sla_board(ctx(database, clock))
    (option, *_) = queries.recommend_crews(ctx(database, clock), row.outage_id)
    sent = execute(ctx(database, clock), commands.DispatchCrew(row.outage_id, option.crew_id, option.version))
    seen = sent.version

    en_route = execute(ctx(database, clock), commands.MarkEnRoute(sent.id, expected_version=seen))
    assert en_route.status == "en_route" and en_route.version > seen
    before = audit_count(database)
    # Another dispatcher's screen still shows the assignment as dispatched (version `seen`).
    with pytest.raises(Conflict, match=f"crew assignment {sent.id} was changed by someone else"):
        execute(ctx(database, clock), commands.MarkOnSite(sent.id, expected_version=seen))
    with pytest.raises(Conflict, match=f"crew assignment {sent.id} was changed by someone else"):
        execute(ctx(database, clock), commands.MarkEnRoute(sent.id, expected_version=seen))
    assert audit_count(database) == before

    on_site = execute(ctx(database, clock), commands.MarkOnSite(sent.id, expected_version=en_route.version))
    assert on_site.status == "on_site"


def test_the_storm_plan_query_and_command_dispatch_its_rows(database, clock) -> None:
    territory = build_small_territory(database, clock)
    for transformer in ("TX-1", "TX-4"):
        submit_reports(
            database,
            clock,
            HOTLINE,
            [
                {
                    "channel": "hotline",
                    "kind": "no_power",
                    "account_no": territory.account_by_transformer[transformer][i],
                    "reported_at": clock.now().isoformat(),
                }
                for i in range(2)
            ],
        )
    plan = queries.storm_plan(ctx(database, clock))
    assert plan.rows
    outcomes = execute(ctx(database, clock), commands.ApplyStormPlan(plan.rows))
    assert all(o.dispatched is not None and o.refused is None for o in outcomes)
    again = execute(ctx(database, clock), commands.ApplyStormPlan(plan.rows[:1]))
    assert again[0].dispatched is None and again[0].refused
