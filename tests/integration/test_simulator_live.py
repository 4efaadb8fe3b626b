"""The live demo: the app's background storm on a demo database, its lease, pause and resume."""

from __future__ import annotations

from datetime import timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import func, select

from emergency.app.bus import execute
from emergency.app.commands.admin import PauseDemo, ResumeDemo
from emergency.app.commands.dispatch import SetEtr
from emergency.core.actor import Actor
from emergency.core.config import load_settings
from emergency.core.models import (
    ACTIVE_OUTAGE_STATES,
    CrewAssignment,
    Outage,
    OutageState,
    Report,
    Role,
    Warning,
    WarningStatus,
)
from emergency.demo.load import load_demo
from emergency.simulator.live import (
    LiveDemo,
    demo_run,
    start_live_demo,
)
from tests.support.app_context import context_of

ADMIN = Actor("admin", Role.ADMIN)
DISPATCHER = Actor("dan", Role.DISPATCHER)

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


def _assignments(db, since) -> list[tuple[int, str, object]]:
    """Assignments made since `since` (the demo comes with earlier ones), oldest first."""
    with db.read() as session:
        query = select(CrewAssignment).where(CrewAssignment.assigned_at >= since).order_by(CrewAssignment.id)
        return [(a.outage_id, a.assigned_by, a.assigned_at) for a in session.scalars(query)]


def _waiting_outages(db) -> dict[int, object]:
    with db.read() as session:
        return dict(
            session.execute(
                select(Outage.id, Outage.first_report_at).where(Outage.state.in_(ACTIVE_OUTAGE_STATES))
            ).all()
        )


def test_the_live_demo_leaves_the_work_to_people_until_a_dispatch_clock_has_run_out(sqlite_database, clock):
    """It used to dispatch every outage within 3 minutes, so a dispatcher had nothing to do. Now
    it takes only what has waited past its 10-minute dispatch clock (and the 3-minute grace
    after it), and never an outage a person acted on."""
    db = sqlite_database
    load_demo(db, clock, customers=2_000, seed=7)
    start = clock.now()
    waiting = _waiting_outages(db)
    assert len(waiting) >= 2, "the demo starts with outages in progress"
    demo = LiveDemo(db, SHANGHAI, clock)
    demo.tick()
    mine = min(waiting)
    with db.read() as session:
        version = session.get(Outage, mine).version
    etr = clock.now() + timedelta(hours=2)
    execute(context_of(db, clock, DISPATCHER), SetEtr(mine, etr, "medium", "dispatcher", version))

    clock.advance(minutes=12)  # past the clock, not yet past the grace after it
    demo.tick()
    assert _assignments(db, start) == [], "nothing is taken from the dispatcher before clock + grace"

    clock.advance(minutes=2)
    demo.tick()
    taken = {outage_id for outage_id, by, _ in _assignments(db, start) if by == "simulator"}
    assert taken, "outages nobody acted on are dispatched once their clock (and grace) ran out"
    assert mine not in taken, "the outage the dispatcher gave an ETR stays theirs"
    for outage_id, _, assigned_at in _assignments(db, start):
        first = waiting.get(outage_id) or _waiting_outages(db)[outage_id]
        assert assigned_at >= max(first, start) + timedelta(minutes=13)


def test_the_progress_counts_what_the_map_shows_and_survive_a_takeover(sqlite_database, clock):
    """The line said "0 devices failed ... 0 outages" beside the demo's own outages on the map,
    counted merged predictions as outages, said "0 still active" until the end, and a process
    taking the run over started again at 0."""
    db = sqlite_database
    load_demo(db, clock, customers=2_000, seed=7)
    already = len(_waiting_outages(db))
    demo = LiveDemo(db, SHANGHAI, clock)
    demo.tick()
    clock.advance(minutes=5)
    demo.tick()
    early = run_of(db).summary
    assert "0 devices failed" in early and f"{already} other outages active" in early

    for _ in range(20):  # 100 minutes, saving as it goes; the eye crosses at about minute 70
        clock.advance(minutes=5)
        demo.tick()
    run = run_of(db)
    summary = demo.simulation.summary
    with db.read() as session:
        states = dict(
            session.execute(
                select(Outage.id, Outage.state).where(Outage.id.in_(sorted(summary.outages)))
            ).all()
        )
        active_now = session.scalar(
            select(func.count()).select_from(Outage).where(Outage.state.in_(ACTIVE_OUTAGE_STATES))
        )
    found = sum(state != OutageState.MERGED for state in states.values())
    still = sum(state in ACTIVE_OUTAGE_STATES for state in states.values())
    assert summary.damages > 0 and still > 0
    assert f"{found} outages," in run.summary and f"{still} still active" in run.summary
    assert f"{active_now - still} other outages active" in run.summary
    assert run.counts["damages"] == summary.damages

    # Another process takes the run over once the lease has lapsed: the counts go on.
    clock.advance(minutes=1)
    other = LiveDemo(db, SHANGHAI, clock)
    other.tick()
    assert other.simulation is not None
    assert other.simulation.summary.damages >= summary.damages
    assert other.simulation.summary.reports_sent >= summary.reports_sent
