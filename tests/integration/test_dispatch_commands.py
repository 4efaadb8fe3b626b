"""The dispatch commands through the bus: each refuses the roles it does not serve before it opens
a transaction, stale screens are refused (en route and on site too), and results are plain data."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

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
    # SetEtr has its own tests; RecordBreaches is the server's SLA monitor, for the system only;
    # RecordCrewPositions (trackers, crew phones) has its own, tests/integration/test_crew_positions.py.
    own_tests = {commands.SetEtr, commands.RecordBreaches, commands.RecordCrewPositions}
    assert handled == set(EVERY_COMMAND) | own_tests


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


def two_transformer_outages(database, clock) -> None:
    """Two calls each on TX-1 and TX-4: two outages for the storm plan to match with crews."""
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


def test_the_storm_plan_query_and_command_dispatch_its_rows(database, clock) -> None:
    two_transformer_outages(database, clock)
    plan = queries.storm_plan(ctx(database, clock))
    assert plan.rows
    outcomes = execute(ctx(database, clock), commands.ApplyStormPlan(plan.rows))
    assert all(o.dispatched is not None and o.refused is None for o in outcomes)
    again = execute(ctx(database, clock), commands.ApplyStormPlan(plan.rows[:1]))
    assert again[0].dispatched is None and again[0].refused


# --- every action carries the outage the dispatcher saw -----------------------------------------

BOB = Actor("bob", "dispatcher")


def outage_with_a_crew(database, clock):
    """An outage on TX-4 with crew C1 dispatched to it; returns (outage, assignment) as plain data."""
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
    crew = territory.crew_ids["C1"]
    with database.read() as session:
        crew_version = session.get(Crew, crew).version
    sent = execute(ctx(database, clock), commands.DispatchCrew(row.outage_id, crew, crew_version))
    return queries.outage_detail(ctx(database, clock), row.outage_id).outage, sent, territory


def stale_actions(outage, job, territory, crew_version: int, etr_at) -> dict[str, object]:
    """Every action on the outage (or its crew's job) as a screen that showed `outage` would send."""
    seen = outage.version
    return {
        "confirm": commands.ConfirmOutage(outage.id, seen),
        "etr": commands.SetEtr(outage.id, etr_at, "high", "dispatcher", seen),
        "restore": commands.RestoreOutage(outage.id, seen),
        "restore step": commands.RestoreOutage(outage.id, seen, customers=1),
        "cancel": commands.CancelOutage(outage.id, "duplicate", seen),
        "close": commands.CloseOutage(outage.id, seen),
        "second crew": commands.DispatchCrew(
            outage.id, territory.crew_ids["C2"], crew_version, outage_version=seen
        ),
        "en route": commands.MarkEnRoute(job.id, job.version, outage_id=outage.id, outage_version=seen),
        "on site": commands.MarkOnSite(job.id, job.version, outage_id=outage.id, outage_version=seen),
        "call off": commands.CancelAssignment(
            job.id, "needed elsewhere", job.version, outage_id=outage.id, outage_version=seen
        ),
    }


@pytest.mark.parametrize(
    "action",
    [
        "confirm",
        "etr",
        "restore",
        "restore step",
        "cancel",
        "close",
        "second crew",
        "en route",
        "on site",
        "call off",
    ],
)
def test_every_action_refuses_an_outage_changed_since_the_screen_showed_it(database, clock, action) -> None:
    outage, job, territory = outage_with_a_crew(database, clock)
    with database.read() as session:
        c2_version = session.get(Crew, territory.crew_ids["C2"]).version
    command = stale_actions(outage, job, territory, c2_version, clock.now() + timedelta(hours=2))[action]
    # A colleague sets an ETR: the outage moves on (its version), its crew's job does not.
    clock.advance(minutes=1)
    execute(
        ctx(database, clock, BOB),
        commands.SetEtr(outage.id, clock.now() + timedelta(hours=3), "medium", "dispatcher", None),
    )
    before = audit_count(database)
    after_colleague = queries.outage_detail(ctx(database, clock), outage.id)

    with pytest.raises(Conflict, match=f"outage {outage.id} was changed by someone else"):
        execute(ctx(database, clock), command)

    assert audit_count(database) == before, "a refused action leaves no trace"
    now = queries.outage_detail(ctx(database, clock), outage.id)
    assert now.outage == after_colleague.outage
    assert [a.status for a in now.assignments] == ["dispatched"]


def test_an_action_on_a_crew_job_names_the_outage_it_was_meant_for(database, clock) -> None:
    """A job moved to another outage (a merge) is not marked on site on behalf of the one on screen."""
    outage, job, _ = outage_with_a_crew(database, clock)
    with pytest.raises(Conflict, match=f"job is at outage {outage.id} now, not outage {outage.id + 1}"):
        execute(
            ctx(database, clock),
            commands.MarkOnSite(job.id, job.version, outage_id=outage.id + 1, outage_version=outage.version),
        )
    # The same action against the outage as it is goes through, and the next one against the new version.
    en_route = execute(
        ctx(database, clock),
        commands.MarkEnRoute(job.id, job.version, outage_id=outage.id, outage_version=outage.version),
    )
    moved_on = queries.outage_detail(ctx(database, clock), outage.id).outage
    assert moved_on.version > outage.version
    on_site = execute(
        ctx(database, clock),
        commands.MarkOnSite(job.id, en_route.version, outage_id=outage.id, outage_version=moved_on.version),
    )
    assert on_site.status == "on_site"


def test_the_storm_plan_refuses_a_row_whose_outage_a_colleague_changed(database, clock) -> None:
    two_transformer_outages(database, clock)
    plan = queries.storm_plan(ctx(database, clock))
    changed, untouched = plan.rows[0], plan.rows[1]
    execute(ctx(database, clock, BOB), commands.ConfirmOutage(changed.outage_id, None))

    outcomes = execute(ctx(database, clock), commands.ApplyStormPlan(plan.rows))

    by_outage = {o.row.outage_id: o for o in outcomes}
    assert by_outage[changed.outage_id].dispatched is None
    assert f"outage {changed.outage_id} was changed by someone else" in (
        by_outage[changed.outage_id].refused or ""
    )
    assert by_outage[untouched.outage_id].dispatched is not None
