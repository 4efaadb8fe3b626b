"""The storm simulator end to end on a 2,000-customer demo territory, on SQLite and PostgreSQL."""

from __future__ import annotations

import shutil
from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from emergency.core.actor import Actor
from emergency.core.db import Database
from emergency.core.models import (
    ACTIVE_OUTAGE_STATES,
    AuditEvent,
    CrewAssignment,
    Outage,
    OutageState,
    Report,
    Role,
    Warning,
    WarningStatus,
)
from emergency.demo.load import load_demo
from emergency.dispatch.plan import recommend_crews
from emergency.reporting.compliance import outage_timings
from emergency.simulator.runner import Simulation
from emergency.simulator.scenarios import SCENARIOS
from tests.support.dispatch_actions import dispatch_crew

DISPATCHER = Actor("dana", Role.DISPATCHER)


def demo(db: Database, clock) -> Database:
    load_demo(db, clock, customers=2_000, seed=7)
    return db


def test_a_feeder_trip_is_restored_to_the_last_outage_and_compliance_sees_the_crews_timings(database, clock):
    db = demo(database, clock)
    sim = Simulation(db, SCENARIOS["feeder-trip"], seed=3, start=clock.now(), auto_dispatch=True)
    summary = sim.run_fast()

    with db.read() as session:
        caused = session.scalars(select(Outage).where(Outage.id.in_(sorted(summary.outages)))).all()
        active = session.scalars(select(Outage.id).where(Outage.state.in_(ACTIVE_OUTAGE_STATES))).all()
        sim_reports = session.scalar(select(Report.id).where(Report.external_id.like("sim-%")).limit(1))
    assert caused, "the breaker trip was reported and analysed into outages"
    assert sim_reports is not None
    assert active == []
    for outage in caused:
        assert outage.state in (OutageState.RESTORED, OutageState.CLOSED, OutageState.MERGED)
    assert any(o.state == OutageState.CLOSED and o.customers_restored >= 150 for o in caused)
    assert summary.dispatched > 0 and summary.still_active == 0

    # What the simulated crews did, by outage: when the storm plan dispatched them and when they arrived.
    dispatched: dict[int, float] = {}
    arrived: dict[int, float] = {}
    for event in sim.events:
        if event.kind == "dispatched":
            dispatched.setdefault(int(event.detail.split()[2]), event.minute)
        if event.kind == "on_site":
            arrived.setdefault(int(event.detail.split()[2]), event.minute)
    with db.read() as session:
        timings = outage_timings(
            session,
            sim.origin,
            sim.clock.now() + timedelta(minutes=1),
            clock=sim.clock,
            tz=ZoneInfo("Asia/Shanghai"),
        )
        first_report = dict(session.execute(select(Outage.id, Outage.first_report_at)).tuples().all())
    checked = 0
    for row in timings.itertuples():
        if row.outage_id not in dispatched or row.outage_id not in arrived:
            continue
        start = (first_report[row.outage_id] - sim.origin).total_seconds() / 60
        assert row.dispatch_minutes == pytest.approx(dispatched[row.outage_id] - start, abs=0.01)
        assert row.on_site_minutes == pytest.approx(arrived[row.outage_id] - start, abs=0.01)
        assert bool(row.dispatch_met) == (row.dispatch_minutes <= 10)
        checked += 1
    assert checked >= 1


def test_the_same_seed_gives_the_same_events(sqlite_template, tmp_path, clock):
    def run(name: str, seed: int) -> list[tuple[float, str, str, str]]:
        path = tmp_path / f"{name}.db"
        shutil.copyfile(sqlite_template, path)
        db = Database(f"sqlite:///{path}")
        try:
            sim = Simulation(
                demo(db, clock), SCENARIOS["thunderstorm"], seed=seed, start=clock.now(), auto_dispatch=True
            )
            sim.run_fast(max_minutes=60)
            return [(e.minute, e.kind, e.subject, e.detail) for e in sim.events]
        finally:
            db.dispose()

    first = run("first", 11)
    assert {"damage", "reports", "dispatched", "on_site"} <= {kind for _, kind, _, _ in first}
    assert run("again", 11) == first


def test_crews_follow_a_dispatcher_and_the_typhoon_warning_comes_as_an_issued_cap_import(database, clock):
    db = demo(database, clock)
    sim = Simulation(db, SCENARIOS["typhoon"], seed=7, start=clock.now(), auto_dispatch=False)
    sim.advance_to(sim.at(120))

    with db.read() as session:
        warning = session.scalars(select(Warning)).one()
        new = session.scalars(
            select(Outage)
            .where(Outage.id.in_(sorted(sim.summary.outages)), Outage.state.in_(ACTIVE_OUTAGE_STATES))
            .order_by(Outage.customers_affected.desc())
        ).first()
        issued = session.scalar(select(AuditEvent.actor).where(AuditEvent.action == "warning.issue"))
    assert (warning.source, warning.status, warning.hazard) == ("cap_import", WarningStatus.ACTIVE, "typhoon")
    assert warning.disaster_mode and issued == "simulator"
    assert new is not None, "two hours into the typhoon there are new outages"
    with db.read() as session:
        assert (
            session.scalar(select(CrewAssignment.id).where(CrewAssignment.assigned_by == "simulator")) is None
        )
        option = recommend_crews(session, sim.clock, new.id, limit=1)[0]
    assignment = dispatch_crew(db, sim.clock, DISPATCHER, new.id, option.crew_id, crew_version=option.version)

    sim.advance_to(sim.at(120 + 12 * 60))
    with db.read() as session:
        done = session.get(CrewAssignment, assignment.id)
        outage = session.get(Outage, new.id)
        by_sim = session.scalar(select(CrewAssignment.id).where(CrewAssignment.assigned_by == "simulator"))
    assert done.en_route_at is not None and done.on_site_at is not None and done.completed_at is not None
    assert done.on_site_at - done.en_route_at >= timedelta(minutes=1), "the crew drove there"
    assert outage.state in (OutageState.RESTORED, OutageState.CLOSED)
    assert by_sim is None, "without --auto-dispatch only people dispatch"
