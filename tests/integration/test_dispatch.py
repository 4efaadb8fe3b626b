"""Crews and dispatch on the small hand-made territory, on SQLite and PostgreSQL.

    SS-1 ─ BRK-1 ─ REC-1 ─ FU-1 ─ TX-1 (3 customers, 121.05 28.06), TX-2 (4)
                         └ FU-2 ─ TX-3 (1: a grade-1 hospital, 121.05 28.03)
           BRK-2 ─ REC-2 ─ FU-3 ─ TX-4 (5, 121.15 28.06), TX-5 (2)

West of 121.1 is urban (30 km/h), east rural (45 km/h). Crews C1 and C2 (line) wait at the depot
(121.03 28.05); C3 (tree) is off duty. Expected travel times are worked out with the same
great-circle formula, a road factor of 1.3 and 5 minutes of mobilisation (the default settings).
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from emergency.core.actor import Actor
from emergency.core.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from emergency.core.models import (
    ACTIVE_OUTAGE_STATES,
    AssignmentStatus,
    AuditEvent,
    Crew,
    CrewAssignment,
    CrewKind,
    CrewStatus,
    Device,
    EtrConfidence,
    EtrSource,
    Outage,
    OutageState,
)
from emergency.core.unit_of_work import unit_of_work
from emergency.dispatch import crews
from emergency.dispatch.crews import OPERATOR_ROLES
from emergency.dispatch.etr import etr_history
from emergency.dispatch.plan import greedy_plan, recommend_crews, storm_plan
from tests.support.app_context import SHANGHAI
from tests.support.commands import submit_reports
from tests.support.dispatch_actions import (
    apply_plan,
    cancel_assignment,
    confirm_outage,
    dispatch_crew,
    mark_en_route,
    mark_on_site,
    restore_outage,
    set_crew_available,
    set_crew_off_duty,
    set_etr,
    update_crew_position,
)
from tests.support.small_territory import build_small_territory

HOTLINE = Actor("hotline-gateway", "intake")
ALICE = Actor("alice", "dispatcher")
BOB = Actor("bob", "dispatcher")
MANAGER = Actor("meng", "manager")
GPS = Actor("token:crew-gps", "crew_position")
DEPOT = (121.03, 28.05)
KM_PER_DEGREE = 2 * math.pi * 6371.0088 / 360


@pytest.fixture
def territory(database, clock):
    return build_small_territory(database, clock)


def outage_at(database, clock, territory, transformer: str, callers: int = 2) -> int:
    """Have `callers` customers of a transformer call; return the active outage that covers them."""
    calls = [
        {
            "channel": "hotline",
            "kind": "no_power",
            "account_no": territory.account_by_transformer[transformer][i],
            "reported_at": clock.now().isoformat(),
        }
        for i in range(callers)
    ]
    submit_reports(database, clock, HOTLINE, calls)
    with database.read() as session:
        path = {territory.device_ids[transformer]}
        device = session.get(Device, territory.device_ids[transformer])
        while device is not None and device.parent_id is not None:
            path.add(device.parent_id)
            device = session.get(Device, device.parent_id)
        outage_id = session.scalar(
            select(Outage.id).where(Outage.device_id.in_(path), Outage.state.in_(ACTIVE_OUTAGE_STATES))
        )
    assert outage_id is not None, f"calls on {transformer} predicted no outage"
    return outage_id


def crew(database, territory, code: str) -> Crew:
    with database.read() as session:
        found = session.get(Crew, territory.crew_ids[code])
        assert found is not None
        return found


def outage(database, outage_id: int) -> Outage:
    with database.read() as session:
        found = session.get(Outage, outage_id)
        assert found is not None
        return found


def assignment(database, assignment_id: int) -> CrewAssignment:
    with database.read() as session:
        found = session.get(CrewAssignment, assignment_id)
        assert found is not None
        return found


def dispatch(database, clock, territory, outage_id: int, code: str, actor: Actor = ALICE) -> CrewAssignment:
    seen = crew(database, territory, code).version
    return dispatch_crew(database, clock, actor, outage_id, territory.crew_ids[code], crew_version=seen)


def audit_events(database, *actions: str) -> list[AuditEvent]:
    with database.read() as session:
        return list(
            session.scalars(select(AuditEvent).where(AuditEvent.action.in_(actions)).order_by(AuditEvent.id))
        )


def expected_minutes(frm: tuple[float, float], to: tuple[float, float], speed_kmh: float) -> float:
    """Travel as the dispatcher's rules compute it, for points this close (flat-earth is within 0.01 %)."""
    dx = (to[0] - frm[0]) * KM_PER_DEGREE * math.cos(math.radians((to[1] + frm[1]) / 2))
    dy = (to[1] - frm[1]) * KM_PER_DEGREE
    return 5 + math.hypot(dx, dy) * 1.3 / speed_kmh * 60


def minutes_between(later: datetime, earlier: datetime) -> float:
    return (later - earlier).total_seconds() / 60


# --- recommendation ------------------------------------------------------------------------


def test_recommendation_orders_crews_by_arrival_and_tree_crews_last(database, clock, territory):
    tx1 = outage_at(database, clock, territory, "TX-1")  # 121.05 28.06, urban
    update_crew_position(database, clock, ALICE, territory.crew_ids["C1"], 121.07, 28.06)
    update_crew_position(database, clock, ALICE, territory.crew_ids["C2"], 121.19, 28.09)
    set_crew_available(database, clock, MANAGER, territory.crew_ids["C3"])
    update_crew_position(database, clock, ALICE, territory.crew_ids["C3"], 121.05, 28.061)

    with database.read() as session:
        options = recommend_crews(session, clock, tx1)

    assert [o.code for o in options] == ["C1", "C2", "C3"]
    c1, c2, c3 = options
    assert c1.travel_minutes == pytest.approx(expected_minutes((121.07, 28.06), (121.05, 28.06), 30), abs=0.1)
    assert minutes_between(c1.eta, clock.now()) == pytest.approx(c1.travel_minutes, abs=0.1)
    assert (c1.status, c1.kind, c1.free_at) == ("available", "line", None)
    assert c1.version == crew(database, territory, "C1").version
    assert c1.meets_on_site_clock, "about 10 minutes away: well inside the 30-minute clock"
    assert not c2.meets_on_site_clock, "about 42 minutes away: the 30-minute clock is lost"
    assert "after the 30-min on-site clock runs out" in c2.reason
    # The tree crew is nearest, yet ranks after every line crew: it can only help.
    assert c3.eta < c1.eta
    assert c3.kind == "tree" and "helper" in c3.reason


def test_off_duty_crews_are_not_recommended_and_limit_cuts_the_list(database, clock, territory):
    tx1 = outage_at(database, clock, territory, "TX-1")
    with database.read() as session:
        assert [o.code for o in recommend_crews(session, clock, tx1)] == ["C1", "C2"]
        assert len(recommend_crews(session, clock, tx1, limit=1)) == 1
        with pytest.raises(InvalidInput):
            recommend_crews(session, clock, tx1, limit=0)
        with pytest.raises(NotFound):
            recommend_crews(session, clock, 999_999)


def test_a_crew_finishing_a_job_is_offered_with_its_free_time(database, clock, territory):
    tx1 = outage_at(database, clock, territory, "TX-1")
    tx4 = outage_at(database, clock, territory, "TX-4")  # rural: 45 km/h
    job = dispatch(database, clock, territory, tx1, "C1")
    mark_on_site(database, clock, ALICE, job.id)
    set_crew_off_duty(database, clock, MANAGER, territory.crew_ids["C2"])
    free_at = clock.now() + timedelta(minutes=40)
    set_etr(database, clock, ALICE, tx1, free_at, "high", "crew", note="fuse replaced soon")

    with database.read() as session:
        options = recommend_crews(session, clock, tx4)

    assert [o.code for o in options] == ["C1"]
    (c1,) = options
    assert (c1.status, c1.free_at) == ("on_site", free_at)
    travel = expected_minutes((121.05, 28.06), (121.15, 28.06), 45)  # from TX-1, where it works
    assert minutes_between(c1.eta, free_at) == pytest.approx(travel, abs=0.1)
    assert f"on site at outage {tx1}" in c1.reason

    set_etr(database, clock, ALICE, tx1, clock.now() + timedelta(hours=3), "medium", "crew")
    with database.read() as session:
        assert recommend_crews(session, clock, tx4) == [], "three hours from free is not 'about to finish'"


def test_assessment_crews_are_offered_only_for_unconfirmed_outages(database, clock, territory):
    with database.write() as session:
        session.add(
            Crew(code="A1", name="Assessor", kind=CrewKind.ASSESSMENT, size=1, lon=121.05, lat=28.062)
        )
    tx1 = outage_at(database, clock, territory, "TX-1")
    with database.read() as session:
        options = recommend_crews(session, clock, tx1)
    assert options[0].code == "A1" and "confirm" in options[0].reason

    confirm_outage(database, clock, ALICE, tx1)
    with database.read() as session:
        assert "A1" not in [o.code for o in recommend_crews(session, clock, tx1)]


# --- the crew lifecycle --------------------------------------------------------------------


def test_dispatch_en_route_on_site_restore_frees_the_crew_with_an_audit_trail(database, clock, territory):
    tx1 = outage_at(database, clock, territory, "TX-1")
    before = crew(database, territory, "C1")
    clock.advance(minutes=4)

    job = dispatch(database, clock, territory, tx1, "C1")

    travel = expected_minutes(DEPOT, (121.05, 28.06), 30)
    stored = assignment(database, job.id)
    assert (job.status, stored.assigned_by, stored.assigned_at) == ("dispatched", "alice", clock.now())
    assert minutes_between(job.eta_at, clock.now()) == pytest.approx(travel, abs=0.1)
    c1 = crew(database, territory, "C1")
    assert (c1.status, c1.status_at, c1.version) == ("dispatched", clock.now(), before.version + 1)
    out = outage(database, tx1)
    assert (out.state, out.dispatched_at, out.confirmed_at) == ("dispatched", clock.now(), None)
    assert out.etr_source == EtrSource.SYSTEM

    (crew_event,) = audit_events(database, "crew.dispatch")
    assert crew_event.actor == "alice" and crew_event.entity_id == str(job.id)
    assert crew_event.before == {
        "crew": {"status": "available", "lon": DEPOT[0], "lat": DEPOT[1], "version": before.version}
    }
    assert crew_event.after["crew"]["status"] == "dispatched"
    assert crew_event.after["assignment"]["outage_id"] == tx1
    (outage_event,) = audit_events(database, "outage.dispatch")
    assert (outage_event.before["state"], outage_event.after["state"]) == ("predicted", "dispatched")

    clock.advance(minutes=2)
    mark_en_route(database, clock, ALICE, job.id)
    assert (assignment(database, job.id).status, crew(database, territory, "C1").status) == ("en_route",) * 2
    assert (outage(database, tx1).state, outage(database, tx1).en_route_at) == ("en_route", clock.now())

    clock.advance(minutes=9)
    mark_on_site(database, clock, ALICE, job.id)
    c1 = crew(database, territory, "C1")
    assert (c1.status, c1.lon, c1.lat) == ("on_site", 121.05, 28.06), "the crew is at the transformer"
    assert (outage(database, tx1).state, outage(database, tx1).on_site_at) == ("on_site", clock.now())
    with pytest.raises(Conflict, match="cannot be marked on site"):
        mark_on_site(database, clock, ALICE, job.id)

    restore_outage(database, clock, ALICE, tx1, customers=1)
    assert crew(database, territory, "C1").status == "on_site", "a restoration step leaves the crew at work"
    clock.advance(minutes=30)
    restore_outage(database, clock, ALICE, tx1)

    done = assignment(database, job.id)
    assert (done.status, done.completed_at) == ("complete", clock.now())
    c1 = crew(database, territory, "C1")
    assert (c1.status, c1.status_at) == ("available", clock.now())
    actions = [e.action for e in audit_events(database, "crew.en_route", "crew.on_site", "outage.on_site")]
    assert actions == ["crew.en_route", "crew.on_site", "outage.on_site"]
    # Free again: the next outage can have it.
    tx4 = outage_at(database, clock, territory, "TX-4")
    assert dispatch(database, clock, territory, tx4, "C1").status == "dispatched"


def test_cancelling_an_assignment_frees_the_crew_and_returns_the_outage(database, clock, territory):
    tx1 = outage_at(database, clock, territory, "TX-1")
    job = dispatch(database, clock, territory, tx1, "C1")
    with pytest.raises(InvalidInput, match="reason"):
        cancel_assignment(database, clock, ALICE, job.id, "  ")

    clock.advance(minutes=3)
    cancel_assignment(database, clock, ALICE, job.id, "needed at a wires-down call")

    assert assignment(database, job.id).status == AssignmentStatus.CANCELLED
    assert crew(database, territory, "C1").status == CrewStatus.AVAILABLE
    out = outage(database, tx1)
    assert out.state == OutageState.PREDICTED, "nobody confirmed it, so it is predicted again"
    assert out.dispatched_at is not None, "the first dispatch stays on record"
    (event,) = audit_events(database, "crew.cancel")
    assert event.detail == "needed at a wires-down call"
    with pytest.raises(Conflict, match="already cancelled"):
        cancel_assignment(database, clock, ALICE, job.id, "again")

    confirm_outage(database, clock, ALICE, tx1)
    second = dispatch(database, clock, territory, tx1, "C2")
    cancel_assignment(database, clock, ALICE, second.id, "wrong crew")
    assert outage(database, tx1).state == OutageState.CONFIRMED


def test_off_duty_and_back(database, clock, territory):
    c1 = territory.crew_ids["C1"]
    set_crew_off_duty(database, clock, MANAGER, c1)
    assert crew(database, territory, "C1").status == "off_duty"
    with pytest.raises(Conflict, match="already off duty"):
        set_crew_off_duty(database, clock, MANAGER, c1)
    tx1 = outage_at(database, clock, territory, "TX-1")
    with pytest.raises(Conflict, match="crew C1 is off duty"):
        dispatch(database, clock, territory, tx1, "C1")

    set_crew_available(database, clock, ALICE, c1)
    job = dispatch(database, clock, territory, tx1, "C1")
    with pytest.raises(Conflict, match=f"crew C1 is dispatched for outage {tx1}; call it off"):
        set_crew_off_duty(database, clock, MANAGER, c1)
    assert [e.action for e in audit_events(database, "crew.off_duty", "crew.available")] == [
        "crew.off_duty",
        "crew.available",
    ]
    assert assignment(database, job.id).status == "dispatched"


def test_a_stale_crew_version_is_refused_with_who_took_the_crew(database, clock, territory):
    tx1 = outage_at(database, clock, territory, "TX-1")
    tx4 = outage_at(database, clock, territory, "TX-4")
    seen = crew(database, territory, "C1").version
    dispatch_crew(database, clock, BOB, tx1, territory.crew_ids["C1"], crew_version=seen)

    with pytest.raises(Conflict, match=f"crew C1 was just dispatched to outage {tx1} by bob"):
        dispatch_crew(database, clock, ALICE, tx4, territory.crew_ids["C1"], crew_version=seen)
    assert outage(database, tx4).state == OutageState.PREDICTED, "the refused dispatch changed nothing"

    c2 = territory.crew_ids["C2"]
    seen = crew(database, territory, "C2").version
    set_crew_off_duty(database, clock, MANAGER, c2)
    set_crew_available(database, clock, MANAGER, c2)
    with pytest.raises(Conflict, match="crew C2 was changed by someone else"):
        dispatch_crew(database, clock, ALICE, tx4, c2, crew_version=seen)


def test_a_second_crew_may_join_an_outage_but_not_through_a_plan(database, clock, territory):
    tx1 = outage_at(database, clock, territory, "TX-1")
    dispatch(database, clock, territory, tx1, "C1", actor=BOB)
    seen = crew(database, territory, "C2").version
    c2 = territory.crew_ids["C2"]
    # What a storm plan's row does (`ApplyStormPlan`): the domain step, in the handler's unit of work.
    with (
        pytest.raises(Conflict, match=f"outage {tx1} already has crew C1 \\(dispatched by bob\\)"),
        unit_of_work(database, ALICE, OPERATOR_ROLES, against_analysis=True) as session,
    ):
        crews.dispatch_crew(session, clock, ALICE, tx1, c2, crew_version=seen, require_unassigned=True)
    second = dispatch_crew(database, clock, ALICE, tx1, territory.crew_ids["C2"], crew_version=seen)
    assert second.status == "dispatched"


def test_positions_from_a_gps_token_are_not_audited_but_a_dispatchers_move_is(database, clock, territory):
    c1 = territory.crew_ids["C1"]
    version = crew(database, territory, "C1").version
    update_crew_position(database, clock, GPS, c1, 121.041, 28.052)
    moved = crew(database, territory, "C1")
    assert (moved.lon, moved.lat, moved.position_at) == (121.041, 28.052, clock.now())
    assert moved.version == version, "a position ping must not make a dispatcher's view stale"
    assert audit_events(database, "crew.position") == []

    update_crew_position(database, clock, ALICE, c1, 121.06, 28.05)
    (event,) = audit_events(database, "crew.position")
    assert (event.before["lon"], event.after["lon"]) == (121.041, 121.06)


@pytest.mark.parametrize(
    ("lon", "lat", "field"),
    [
        (180.5, 28.0, "lon"),
        (-181, 28.0, "lon"),
        (121.0, 90.01, "lat"),
        (float("nan"), 28.0, "lon"),
        ("east", 28.0, "lon"),
        (True, 28.0, "lon"),
        (121.0, None, "lat"),
    ],
)
def test_bad_positions_are_refused_and_change_nothing(database, clock, territory, lon: Any, lat: Any, field):
    with pytest.raises(InvalidInput) as refused:
        update_crew_position(database, clock, ALICE, territory.crew_ids["C1"], lon, lat)
    assert refused.value.field == field
    assert (crew(database, territory, "C1").lon, crew(database, territory, "C1").lat) == DEPOT


def test_unknown_things_and_wrong_roles_are_refused(database, clock, territory):
    tx1 = outage_at(database, clock, territory, "TX-1")
    c1 = territory.crew_ids["C1"]
    version = crew(database, territory, "C1").version
    with pytest.raises(NotFound, match="no crew 999999"):
        dispatch_crew(database, clock, ALICE, tx1, 999_999, crew_version=1)
    with pytest.raises(NotFound, match="no outage 999999"):
        dispatch_crew(database, clock, ALICE, 999_999, c1, crew_version=version)
    with pytest.raises(NotFound):
        update_crew_position(database, clock, ALICE, 999_999, 121.0, 28.0)
    with pytest.raises(NotFound):
        mark_en_route(database, clock, ALICE, 999_999)
    for stranger in (Actor("root", "admin"), Actor("visitor", "public"), GPS, HOTLINE):
        with pytest.raises(PermissionDenied):
            dispatch_crew(database, clock, stranger, tx1, c1, crew_version=version)
        with pytest.raises(PermissionDenied):
            set_crew_off_duty(database, clock, stranger, c1)
        with pytest.raises(PermissionDenied):
            set_etr(database, clock, stranger, tx1, clock.now() + timedelta(hours=1), "low", "dispatcher")
    with pytest.raises(PermissionDenied):
        update_crew_position(database, clock, HOTLINE, c1, 121.0, 28.0)
    with pytest.raises(PermissionDenied):
        apply_plan(database, clock, Actor("visitor", "public"), [])
    assert crew(database, territory, "C1").status == "available"

    restore_outage(database, clock, ALICE, tx1)
    with pytest.raises(Conflict, match=f"outage {tx1} is restored, no longer active"):
        dispatch_crew(database, clock, ALICE, tx1, c1, crew_version=version)


# --- ETR ---------------------------------------------------------------------------------


def test_people_etrs_take_precedence_over_the_systems_and_every_change_is_kept(database, clock, territory):
    tx1 = outage_at(database, clock, territory, "TX-1")
    start = clock.now()
    dispatch(database, clock, territory, tx1, "C1")
    out = outage(database, tx1)
    # ~10.9 min from the depot + 90 min for an urban transformer = 100.9 min, rounded up to 105.
    assert (out.etr_at, out.etr_source, out.etr_confidence) == (
        start + timedelta(minutes=105),
        EtrSource.SYSTEM,
        EtrConfidence.LOW,
    ), "predicted, not confirmed: low confidence"

    clock.advance(minutes=5)
    told = clock.now() + timedelta(hours=2)
    set_etr(database, clock, ALICE, tx1, told, EtrConfidence.HIGH, EtrSource.DISPATCHER, note="crew phoned")
    dispatch(database, clock, territory, tx1, "C2")  # a second crew: its system estimate must yield
    assert (outage(database, tx1).etr_at, outage(database, tx1).etr_source) == (told, EtrSource.DISPATCHER)
    with pytest.raises(Conflict, match="takes precedence"):
        set_etr(database, clock, ALICE, tx1, clock.now() + timedelta(hours=1), "low", "system")

    # Once the dispatcher's ETR has passed, a fresh system estimate may replace it.
    clock.advance(hours=2, minutes=1)
    (job,) = [j for j in _assignments(database, tx1) if j.crew_id == territory.crew_ids["C2"]]
    cancel_assignment(database, clock, ALICE, job.id, "reassigned")
    dispatch(database, clock, territory, tx1, "C2")
    assert outage(database, tx1).etr_source == EtrSource.SYSTEM

    set_etr(database, clock, BOB, tx1, clock.now() + timedelta(minutes=50), "medium", "crew")
    with database.read() as session:
        history = etr_history(session, tx1)
    assert [(h.source, h.set_by) for h in history] == [
        ("system", "alice"),
        ("dispatcher", "alice"),
        ("system", "alice"),
        ("crew", "bob"),
    ]
    assert history[1].note == "crew phoned" and history[1].confidence == "high"
    assert outage(database, tx1).etr_at == history[-1].etr_at
    assert len(audit_events(database, "outage.etr")) == 4


def test_bad_etrs_are_refused(database, clock, territory):
    tx1 = outage_at(database, clock, territory, "TX-1")
    now = clock.now()
    refusals: list[tuple[Any, str, str, str]] = [
        (now - timedelta(minutes=1), "low", "dispatcher", "etr_at"),
        (now, "low", "dispatcher", "etr_at"),
        (now + timedelta(days=14, minutes=1), "low", "dispatcher", "etr_at"),
        (now.replace(tzinfo=None) + timedelta(hours=1), "low", "dispatcher", "etr_at"),
        (now + timedelta(hours=1), "sure", "dispatcher", "confidence"),
        (now + timedelta(hours=1), "low", "oracle", "source"),
    ]
    for etr_at, confidence, source, field in refusals:
        with pytest.raises(InvalidInput) as refused:
            set_etr(database, clock, ALICE, tx1, etr_at, confidence, source)
        assert refused.value.field == field
    with pytest.raises(InvalidInput, match="note"):
        set_etr(database, clock, ALICE, tx1, now + timedelta(hours=1), "low", "dispatcher", note="x" * 501)
    with pytest.raises(NotFound):
        set_etr(database, clock, ALICE, 999_999, now + timedelta(hours=1), "low", "dispatcher")
    set_etr(database, clock, ALICE, tx1, now + timedelta(days=14), "low", "dispatcher")  # the limit itself
    with database.read() as session:
        assert len(etr_history(session, tx1)) == 1


def _assignments(database, outage_id: int) -> list[CrewAssignment]:
    with database.read() as session:
        return list(
            session.scalars(
                select(CrewAssignment)
                .where(CrewAssignment.outage_id == outage_id)
                .order_by(CrewAssignment.id)
            )
        )


# --- the storm plan -----------------------------------------------------------------------


def test_short_of_crews_the_plan_sends_the_one_crew_to_the_hospital(database, clock, territory):
    hospital = outage_at(database, clock, territory, "TX-3", callers=1)  # FU-2: 1 customer, grade 1
    homes = outage_at(database, clock, territory, "TX-4")  # 5 residential customers
    set_crew_off_duty(database, clock, MANAGER, territory.crew_ids["C2"])
    update_crew_position(database, clock, ALICE, territory.crew_ids["C1"], 121.15, 28.06)  # at the homes

    with database.read() as session:
        plan = storm_plan(session, clock, SHANGHAI)
        greedy = greedy_plan(session, clock, SHANGHAI)

    assert [(r.outage_id, r.crew_code) for r in plan.rows] == [(hospital, "C1")]
    (row,) = plan.rows
    assert row.priority > 100 and "rank 1: grade-1 user (1 important), backup 8.0 h left" in row.reason
    assert row.crew_version == crew(database, territory, "C1").version
    assert minutes_between(row.eta, clock.now()) == pytest.approx(row.travel_minutes, abs=0.1)
    assert [u.outage_id for u in plan.unassigned] == [homes]
    assert "crews are short" in plan.unassigned[0].reason
    assert (plan.method, plan.crews_available) == ("optimal", 1)
    assert [(r.outage_id, r.crew_code) for r in greedy.rows] == [(hospital, "C1")]


def test_the_plan_covers_only_unassigned_outages_and_never_plans_a_tree_crew(database, clock, territory):
    tx1 = outage_at(database, clock, territory, "TX-1")
    hospital = outage_at(database, clock, territory, "TX-3", callers=1)
    tx4 = outage_at(database, clock, territory, "TX-4")
    dispatch(database, clock, territory, tx1, "C1")
    set_crew_available(database, clock, MANAGER, territory.crew_ids["C3"])  # a tree crew

    with database.read() as session:
        plan = storm_plan(session, clock, SHANGHAI)
        only_tx4 = storm_plan(session, clock, SHANGHAI, outage_ids=[tx4, tx1])
        reserve = storm_plan(session, clock, SHANGHAI, max_crews=0)

    assert {r.outage_id for r in plan.rows} | {u.outage_id for u in plan.unassigned} == {hospital, tx4}
    assert [r.crew_code for r in plan.rows] == ["C2"], "C1 is busy and C3 only helps"
    assert [r.outage_id for r in only_tx4.rows] == [tx4]
    assert reserve.rows == () and "at most 0 crews" in reserve.unassigned[0].reason


def test_apply_plan_dispatches_each_row_and_reports_the_conflicts(database, clock, territory):
    hospital = outage_at(database, clock, territory, "TX-3", callers=1)
    tx4 = outage_at(database, clock, territory, "TX-4")
    tx1 = outage_at(database, clock, territory, "TX-1")
    with database.read() as session:
        plan = storm_plan(session, clock, SHANGHAI, outage_ids=[hospital, tx4])
    assert len(plan.rows) == 2
    taken = plan.rows[1]
    # While alice looks at the plan, bob sends the second row's crew to another outage.
    dispatch_crew(database, clock, BOB, tx1, taken.crew_id, crew_version=taken.crew_version)

    results = apply_plan(database, clock, ALICE, plan.rows)

    assert [outcome.row for outcome in results] == list(plan.rows)
    first, second = results
    assert first.dispatched is not None and first.dispatched.outage_id == plan.rows[0].outage_id
    assert second.dispatched is None
    assert second.refused == f"crew {taken.crew_code} was just dispatched to outage {tx1} by bob"
    assert outage(database, taken.outage_id).state == OutageState.PREDICTED

    again = apply_plan(database, clock, ALICE, plan.rows[:1])
    assert again[0].refused is not None, "applying a row twice does not send a second crew"
