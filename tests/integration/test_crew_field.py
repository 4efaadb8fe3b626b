"""The crew leader's steps through the bus: their own crew's jobs only, each step once per key,
steps entered later with the time they were done, and what the console then shows."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from emergency.app.bus import execute
from emergency.app.commands import crew_field as commands
from emergency.app.commands.admin import CreateUser
from emergency.app.queries import crew_field as queries
from emergency.core.errors import Conflict, InvalidInput, PermissionDenied
from emergency.core.field_models import CommandKey, CrewPosition, FieldRequest
from emergency.core.models import AuditEvent, Crew, CrewAssignment, EtrChange, Outage, RestorationStep
from emergency.dispatch.routing import great_circle_km
from tests.support.app_context import context_of
from tests.support.crew_field import ADMIN, DISPATCHER, LEADER1, LEADER2, crew_job, key
from tests.support.small_territory import DEVICES


def audit_actions(database) -> list[str]:
    with database.read() as session:
        return list(session.scalars(select(AuditEvent.action).order_by(AuditEvent.id)))


def test_a_crew_leader_works_a_job_from_accept_to_restore(database, clock) -> None:
    job = crew_job(database, clock)
    leader = context_of(database, clock, LEADER1)
    with database.write() as session:
        # The crew's phone reported a position 2 km short of the site.
        session.add(
            CrewPosition(
                crew_id=job.territory.crew_ids["C1"],
                at=clock.now(),
                received_at=clock.now(),
                lon=121.13,
                lat=28.04,
                accuracy_m=8.0,
                source="phone",
            )
        )
    seen = queries.crew_work(leader)
    (current,) = seen.jobs
    assert (current.assignment_id, current.outage_id, current.status) == (
        job.assignment_id,
        job.outage_id,
        "dispatched",
    )
    assert current.device_code == "TX-4" and current.district_en == "East Village"
    # The road estimate from the crew's newest position (great circle x dispatch.road_factor 1.3).
    tx4 = next(d for d in DEVICES if d[0] == "TX-4")
    straight = float(great_circle_km(121.13, 28.04, tx4[3], tx4[4]))
    assert current.distance_km == pytest.approx(straight * 1.3)
    assert [c.code for c in current.clocks][:1] == ["acknowledge"]
    assert current.clocks[0].deadline == current.assigned_at + timedelta(minutes=5)

    clock.advance(minutes=2)
    accepted = execute(leader, commands.AcceptJob(job.assignment_id, job.assignment_version, key()))
    assert accepted.step == "accept" and not accepted.replayed
    (current,) = queries.crew_work(leader).jobs
    assert current.acknowledged_at == clock.now() and current.clocks[0].state == "met"

    clock.advance(minutes=1)
    execute(leader, commands.CrewEnRoute(job.assignment_id, current.version, key()))
    clock.advance(minutes=9)
    (current,) = queries.crew_work(leader).jobs
    execute(leader, commands.CrewOnSite(job.assignment_id, current.version, key()))
    with database.read() as session:
        assignment = session.get(CrewAssignment, job.assignment_id)
        outage = session.get(Outage, job.outage_id)
        assert assignment.status == "on_site" and assignment.on_site_source == "crew"
        assert (assignment.on_site_lon, assignment.on_site_lat) == (121.13, 28.04)
        assert outage.on_site_source == "crew" and outage.on_site_at == clock.now()

    etr_at = (clock.now() + timedelta(hours=2)).replace(microsecond=0)
    set_etr = execute(leader, commands.CrewSetEtr(job.assignment_id, etr_at, "high", key()))
    assert set_etr.etr_at == etr_at
    with database.read() as session:
        assert session.get(Outage, job.outage_id).etr_source == "crew"
        assert session.scalars(select(EtrChange.set_by).where(EtrChange.source == "crew")).all() == [
            "leader1"
        ]

    step = execute(leader, commands.CrewRestore(job.assignment_id, 2, key()))
    assert (step.step, step.customers, step.still_out) == ("restore_step", 2, 3)
    whole = execute(leader, commands.CrewRestore(job.assignment_id, None, key()))
    assert (whole.step, whole.customers, whole.still_out) == ("restore", 3, 0)
    with database.read() as session:
        assert session.get(Outage, job.outage_id).state == "restored"
        assert session.get(CrewAssignment, job.assignment_id).status == "complete"
        assert session.get(Crew, job.territory.crew_ids["C1"]).status == "available"
    assert queries.crew_work(leader).jobs == ()
    # The console shows the crew's steps: accepted when, arrived by its own word.
    view = queries.outage_field_view(context_of(database, clock, DISPATCHER), job.outage_id)
    (line,) = view.assignments
    assert line.acknowledged_at is not None and line.on_site_source == "crew" and line.status == "complete"
    assert audit_actions(database)[-8:] == [
        "crew.acknowledge",
        "crew.en_route",
        "outage.en_route",
        "crew.on_site",
        "outage.on_site",
        "outage.etr",
        "outage.restore_step",
        "outage.restore",
    ]


def test_a_crew_leader_cannot_act_on_another_crews_job_even_by_forging_its_id(database, clock) -> None:
    job = crew_job(database, clock)
    other = context_of(database, clock, LEADER2)
    before = audit_actions(database)
    etr_at = clock.now() + timedelta(hours=1)
    forged = [
        commands.AcceptJob(job.assignment_id, job.assignment_version, key()),
        commands.CrewEnRoute(job.assignment_id, job.assignment_version, key()),
        commands.CrewOnSite(job.assignment_id, job.assignment_version, key()),
        commands.CrewSetEtr(job.assignment_id, etr_at, "high", key()),
        commands.CrewRestore(job.assignment_id, None, key()),
        commands.HandOver(job.assignment_id, "not mine", job.assignment_version, key()),
        commands.RequestSupport(job.assignment_id, "help", "send help", key()),
        # An id that does not exist is refused the same way: a forger learns nothing.
        commands.AcceptJob(job.assignment_id + 1000, 1, key()),
    ]
    for command in forged:
        with pytest.raises(PermissionDenied, match="not your crew's"):
            execute(other, command)
    # Nor may a crew leader answer requests or read another crew's outage through the console's view.
    with pytest.raises(PermissionDenied):
        execute(other, commands.AnswerFieldRequest(1, "no", None))
    with pytest.raises(PermissionDenied):
        queries.outage_field_view(other, job.outage_id)
    assert queries.crew_work(other).jobs == ()
    assert audit_actions(database) == before
    with database.read() as session:
        assert session.get(CrewAssignment, job.assignment_id).status == "dispatched"
        assert session.scalar(select(func.count()).select_from(CommandKey)) == 0


def test_dispatchers_keep_their_powers_over_any_crews_job(database, clock) -> None:
    job = crew_job(database, clock)
    dispatcher = context_of(database, clock, DISPATCHER)
    done = execute(dispatcher, commands.AcceptJob(job.assignment_id, job.assignment_version, key()))
    assert done.step == "accept"
    assert queries.crew_work(dispatcher, job.territory.crew_ids["C1"]).jobs[0].acknowledged_at is not None


def test_the_same_key_twice_changes_things_once_and_returns_the_first_outcome(database, clock) -> None:
    job = crew_job(database, clock)
    leader = context_of(database, clock, LEADER1)
    tap = key()
    first = execute(leader, commands.AcceptJob(job.assignment_id, job.assignment_version, tap))
    events = audit_actions(database)
    clock.advance(minutes=1)
    # A second tap, or the resend after a reconnect: same key, and now a stale version too.
    again = execute(leader, commands.AcceptJob(job.assignment_id, job.assignment_version, tap))
    assert again.replayed and not first.replayed
    assert (again.step, again.assignment_id, again.recorded_at) == (
        first.step,
        first.assignment_id,
        first.recorded_at,
    )
    assert audit_actions(database) == events
    assert events.count("crew.acknowledge") == 1

    restore_tap = key()
    for _ in range(2):
        outcome = execute(leader, commands.CrewRestore(job.assignment_id, 2, restore_tap))
        assert outcome.customers == 2 and outcome.still_out == 3
    with database.read() as session:
        assert session.get(Outage, job.outage_id).customers_restored == 2
        assert session.scalar(select(func.count()).select_from(RestorationStep)) == 1
    assert audit_actions(database).count("outage.restore_step") == 1
    # A key is its command's: the same key on another step is refused, not replayed as that step.
    with pytest.raises(Conflict, match="already used"):
        execute(leader, commands.CrewRestore(job.assignment_id, 1, tap))
    with pytest.raises(InvalidInput):
        execute(leader, commands.AcceptJob(job.assignment_id, None, "short"))


def test_a_refused_step_stores_no_key_so_a_retry_is_judged_afresh(database, clock) -> None:
    job = crew_job(database, clock)
    leader = context_of(database, clock, LEADER1)
    tap = key()
    with pytest.raises(InvalidInput):
        execute(leader, commands.CrewRestore(job.assignment_id, 99, tap))
    with database.read() as session:
        assert session.get(CommandKey, tap) is None
    assert execute(leader, commands.CrewRestore(job.assignment_id, 1, tap)).customers == 1


def test_a_step_done_offline_is_entered_later_with_its_time(database, clock) -> None:
    job = crew_job(database, clock)
    leader = context_of(database, clock, LEADER1)
    dispatched_at = clock.now()
    clock.advance(minutes=40)
    # Not in the future, not before the dispatch.
    with pytest.raises(InvalidInput, match="future"):
        execute(
            leader, commands.CrewOnSite(job.assignment_id, None, key(), clock.now() + timedelta(minutes=1))
        )
    with pytest.raises(InvalidInput, match="previous step"):
        execute(
            leader, commands.CrewOnSite(job.assignment_id, None, key(), dispatched_at - timedelta(minutes=1))
        )
    with pytest.raises(InvalidInput, match="time zone"):
        execute(leader, commands.CrewOnSite(job.assignment_id, None, key(), clock.now().replace(tzinfo=None)))

    en_route_at = dispatched_at + timedelta(minutes=3)
    arrived_at = dispatched_at + timedelta(minutes=18)
    execute(leader, commands.CrewEnRoute(job.assignment_id, None, key(), en_route_at))
    # Arriving before leaving is refused.
    with pytest.raises(InvalidInput, match="previous step"):
        execute(
            leader, commands.CrewOnSite(job.assignment_id, None, key(), en_route_at - timedelta(minutes=1))
        )
    execute(leader, commands.CrewOnSite(job.assignment_id, None, key(), arrived_at))
    with database.read() as session:
        outage = session.get(Outage, job.outage_id)
        # The clocks use the time it was done: on site 18 minutes after dispatch, within the 30.
        assert outage.on_site_at == arrived_at and outage.en_route_at == en_route_at
        event = session.scalars(
            select(AuditEvent).where(AuditEvent.action == "crew.on_site").order_by(AuditEvent.id.desc())
        ).first()
        # The audit row is written now and carries when it was done.
        assert event.at == clock.now() and event.after["done_at"] == arrived_at.isoformat()
    (current,) = queries.crew_work(leader).jobs
    on_site_clock = next(c for c in current.clocks if c.code == "outage_on_site")
    assert on_site_clock.stopped_at == arrived_at and on_site_clock.state == "met"

    clock.advance(hours=13)
    with pytest.raises(InvalidInput, match="12 hours"):
        execute(
            leader, commands.CrewRestore(job.assignment_id, None, key(), arrived_at + timedelta(minutes=5))
        )


def test_hand_over_leaves_the_outage_active_and_needing_a_crew(database, clock) -> None:
    job = crew_job(database, clock)
    leader = context_of(database, clock, LEADER1)
    with pytest.raises(InvalidInput, match="next crew"):
        execute(leader, commands.HandOver(job.assignment_id, "  ", job.assignment_version, key()))
    with pytest.raises(InvalidInput, match="at most 1000"):
        execute(leader, commands.HandOver(job.assignment_id, "x" * 1001, job.assignment_version, key()))
    note = "Pole 14 leaning, needs a bucket truck; shift ends"
    execute(leader, commands.HandOver(job.assignment_id, note, job.assignment_version, key()))
    with database.read() as session:
        assignment = session.get(CrewAssignment, job.assignment_id)
        outage = session.get(Outage, job.outage_id)
        assert assignment.status == "cancelled" and assignment.handover_note == note
        assert outage.state in ("predicted", "confirmed") and outage.dispatched_at is not None
        assert session.get(Crew, job.territory.crew_ids["C1"]).status == "available"
    view = queries.outage_field_view(context_of(database, clock, DISPATCHER), job.outage_id)
    assert view.assignments[0].handover_note == note
    assert "crew.handover" in audit_actions(database)
    assert queries.crew_work(leader).jobs == ()


def test_requests_for_help_or_materials_reach_the_console_and_get_an_answer(database, clock) -> None:
    job = crew_job(database, clock)
    leader = context_of(database, clock, LEADER1)
    dispatcher = context_of(database, clock, DISPATCHER)
    with pytest.raises(InvalidInput, match="kind"):
        execute(leader, commands.RequestSupport(job.assignment_id, "pizza", "lunch", key()))
    with pytest.raises(InvalidInput, match="at most 2000"):
        execute(leader, commands.RequestSupport(job.assignment_id, "materials", "x" * 2001, key()))
    asked = execute(
        leader, commands.RequestSupport(job.assignment_id, "materials", "2 fuses 100A, 30 m cable", key())
    )
    (request,) = queries.outage_field_view(dispatcher, job.outage_id).open_requests
    assert (request.id, request.kind, request.text, request.crew_code) == (
        asked.request_id,
        "materials",
        "2 fuses 100A, 30 m cable",
        "C1",
    )
    with pytest.raises(PermissionDenied):
        execute(leader, commands.AnswerFieldRequest(request.id, "yes", request.version))
    execute(
        dispatcher,
        commands.AnswerFieldRequest(request.id, "On the way from West Depot, 20 min", request.version),
    )
    with pytest.raises(Conflict):
        execute(dispatcher, commands.AnswerFieldRequest(request.id, "again", request.version))
    assert queries.outage_field_view(dispatcher, job.outage_id).open_requests == ()
    (job_view,) = queries.crew_work(leader).jobs
    (seen,) = job_view.requests
    assert seen.answer == "On the way from West Depot, 20 min" and seen.answered_by == "dispatcher"
    with database.read() as session:
        assert session.scalar(select(func.count()).select_from(FieldRequest)) == 1


def test_a_crew_leaders_account_names_an_existing_crew(database, clock) -> None:
    job = crew_job(database, clock)
    admin = context_of(database, clock, ADMIN)
    with pytest.raises(InvalidInput, match="choose the crew"):
        execute(admin, CreateUser("leader3", "leader-pass-3", "crew"))
    with pytest.raises(InvalidInput, match="no crew"):
        execute(admin, CreateUser("leader3", "leader-pass-3", "crew", None, 99999))
    with pytest.raises(InvalidInput, match="only a crew leader"):
        execute(admin, CreateUser("disp2", "disp2-pass-1", "dispatcher", None, job.territory.crew_ids["C1"]))
    choices = queries.crew_choices(admin)
    assert [c.label for c in choices][:2] == ["C1 · Crew C1", "C2 · Crew C2"]
