"""The live demo: the app's background storm on a demo database, its lease, pause and resume."""

from __future__ import annotations

from zoneinfo import ZoneInfo

from sqlalchemy import func, select

from emergency.app.bus import execute
from emergency.app.commands.admin import PauseDemo, ResumeDemo
from emergency.core.actor import Actor
from emergency.core.config import load_settings
from emergency.core.models import Report, Role, Warning, WarningStatus
from emergency.demo.load import load_demo
from emergency.simulator.live import (
    LiveDemo,
    demo_run,
    start_live_demo,
)
from tests.support.app_context import context_of

ADMIN = Actor("admin", Role.ADMIN)

SHANGHAI = ZoneInfo("Asia/Shanghai")


def run_of(db):
    with db.read() as session:
        return demo_run(session)


def test_the_live_demo_runs_the_typhoon_at_wall_time_pauses_and_lets_one_process_drive(
    sqlite_database, clock
):
    db = sqlite_database
    load_demo(db, clock, customers=2_000, seed=7)
    demo = LiveDemo(db, SHANGHAI, clock)
    demo.tick()
    run = run_of(db)
    assert (run.number, run.scenario, run.seed, run.state) == (1, "typhoon", 7, "running")
    assert run.origin == clock.now()
    with db.read() as session:
        warning = session.scalars(select(Warning)).one()
    assert warning.status == WarningStatus.ACTIVE

    clock.advance(minutes=150)
    demo.tick()
    assert demo.simulation.clock.now() == clock.now(), "at speed 1 the simulated time is the wall time"
    assert run_of(db).minute == 150
    assert demo.simulation.summary.outages, "the typhoon has caused outages by now"

    second_process = LiveDemo(db, SHANGHAI, clock)
    second_process.tick()
    assert second_process.simulation is None, "the first process holds the lease"

    execute(context_of(db, clock, ADMIN), PauseDemo())
    events, reports = len(demo.simulation.events), _reports(db)
    clock.advance(minutes=60)
    demo.tick()
    assert (len(demo.simulation.events), _reports(db)) == (events, reports)
    assert run_of(db).minute == 150

    execute(context_of(db, clock, ADMIN), ResumeDemo())
    demo.tick()
    assert run_of(db).paused_minutes == 60
    assert demo.simulation.minute == 150, "the storm picks up where it was paused"

    clock.advance(minutes=1)
    demo.tick()
    assert run_of(db).minute == 151


def _reports(db) -> int:
    with db.read() as session:
        return session.scalar(select(func.count()).select_from(Report))


def test_a_real_database_is_never_simulated(sqlite_database, clock):
    from tests.support.small_territory import build_small_territory

    build_small_territory(sqlite_database, clock)
    demo = LiveDemo(sqlite_database, SHANGHAI, clock)
    demo.tick()
    assert demo.simulation is None
    assert run_of(sqlite_database) is None
    assert _reports(sqlite_database) == 0


def test_the_environment_switches_the_live_demo_off(monkeypatch, sqlite_database):
    assert load_settings({}).demo_simulator
    assert not load_settings({"OUTAGE_DEMO_SIMULATOR": "off"}).demo_simulator
    monkeypatch.setenv("OUTAGE_DEMO_SIMULATOR", "off")
    assert start_live_demo(sqlite_database, load_settings().demo_simulator, SHANGHAI) is None
