"""The live demo: on a demo database the app runs a storm in the background, at real time.

The run's state lives in the `simulator.run` setting (scenario, seed, running / paused / finished,
when it began, how long it was paused, how far it got and its counts), so every app process and the admin page
see the same thing, and a restarted app carries on where the run was. One process drives the run
at a time: it holds the `demo-simulator` lease (emergency.core.leases), renewed every few seconds,
which another process takes over only once it has lapsed or been released.

Speed is 1: the pages, the SLA monitor and the notifications all read the wall clock, so the
simulated world must keep the same time as they do. The work is left to the person at the
console: the simulated dispatcher takes only an outage no person has acted on, and only once its
dispatch clock (10 minutes, `sla_targets`) has run out and `simulator.grace_minutes` (3) more have
passed, so the map still shows crews moving when nobody dispatches.
An admin pauses, resumes or restarts the run (each audited); pausing stops the storm, the
callers and the crews, and on resume crews that would have finished during the pause report it
at once. With `OUTAGE_DEMO_SIMULATOR=off`, `simulator.demo_enabled: false`, or a database that
is not the demo, nothing is simulated.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from emergency.core import audit, leases
from emergency.core.actor import Actor
from emergency.core.clock import SYSTEM_CLOCK, Clock
from emergency.core.db import Database
from emergency.core.errors import Conflict, InvalidInput
from emergency.core.models import Setting
from emergency.core.settings import get_setting, set_setting
from emergency.simulator.progress import RunSummary
from emergency.simulator.scenarios import SCENARIOS

log = logging.getLogger("outage_desk.simulator")

RUN_KEY = "simulator.run"
DEMO_SCENARIO = "typhoon"
DEMO_SEED = 7
LEASE = timedelta(seconds=30)
LEASE_NAME = "demo-simulator"
SAVE_EVERY = timedelta(seconds=10)
RUNNING, PAUSED, FINISHED = "running", "paused", "finished"


@dataclass(frozen=True)
class DemoRun:
    """The live demo's run as the pages show it."""

    number: int
    scenario: str
    seed: int
    state: str
    origin: datetime
    paused_minutes: float
    paused_at: datetime | None
    minute: float
    summary: str
    counts: dict[str, Any]  # the run's own counters (`RunSummary.to_json`), for a process taking over
    figures: dict[str, int] = field(default_factory=dict)  # RunSummary.counts(), for the pages' words

    @classmethod
    def from_json(cls, value: dict[str, Any]) -> DemoRun:
        return cls(
            number=int(value["number"]),
            scenario=str(value["scenario"]),
            seed=int(value["seed"]),
            state=str(value["state"]),
            origin=datetime.fromisoformat(value["origin"]),
            paused_minutes=float(value.get("paused_minutes", 0.0)),
            paused_at=datetime.fromisoformat(value["paused_at"]) if value.get("paused_at") else None,
            minute=float(value.get("minute", 0.0)),
            summary=str(value.get("summary", "")),
            counts=dict(value.get("counts") or {}),
            figures={str(k): int(v) for k, v in (value.get("figures") or {}).items()},
        )


def demo_run(session: Session) -> DemoRun | None:
    """The current run, or None when nothing is simulated here."""
    if not get_setting(session, "territory.is_demo"):
        return None
    value = get_setting(session, RUN_KEY)
    return DemoRun.from_json(value) if value else None


# --- what an admin does (in the handler's transaction; emergency.app.commands.admin) --------------


def pause_demo(session: Session, clock: Clock, actor: Actor) -> DemoRun:
    def change(run: dict[str, Any], now: datetime) -> None:
        if run["state"] != RUNNING:
            raise Conflict(f"the simulation is {run['state']}, not running")
        run["state"], run["paused_at"] = PAUSED, now.isoformat()

    return _change(session, clock, actor, "simulator.pause", change)


def resume_demo(session: Session, clock: Clock, actor: Actor) -> DemoRun:
    def change(run: dict[str, Any], now: datetime) -> None:
        if run["state"] != PAUSED:
            raise Conflict(f"the simulation is {run['state']}, not paused")
        paused = now - datetime.fromisoformat(run["paused_at"])
        run["paused_minutes"] = float(run.get("paused_minutes", 0.0)) + paused.total_seconds() / 60
        run["state"], run["paused_at"] = RUNNING, None

    return _change(session, clock, actor, "simulator.resume", change)


def check_restart(scenario: str, seed: int) -> None:
    """Raise InvalidInput for a scenario or seed a restart cannot use."""
    if scenario not in SCENARIOS:
        raise InvalidInput(f"one of {', '.join(sorted(SCENARIOS))}", field="scenario")
    if not 0 <= int(seed) < 2**31:
        raise InvalidInput("a whole number from 0 to 2147483647", field="seed")


def restart_demo(session: Session, clock: Clock, actor: Actor, scenario: str, seed: int) -> DemoRun:
    """Start a new run now; outages of the old one stay and its crews finish their jobs."""
    check_restart(scenario, seed)

    def change(run: dict[str, Any], now: datetime) -> None:
        number = int(run.get("number", 0)) + 1
        run.clear()
        run.update(_new_run(number, scenario, int(seed), now))

    return _change(session, clock, actor, "simulator.restart", change, allow_missing=True)


def _new_run(number: int, scenario: str, seed: int, now: datetime) -> dict[str, Any]:
    return {
        "number": number,
        "scenario": scenario,
        "seed": seed,
        "state": RUNNING,
        "origin": now.replace(microsecond=0).isoformat(),
        "paused_minutes": 0.0,
        "paused_at": None,
        "minute": 0.0,
        "summary": "",
        "counts": {},
        "figures": {},
    }


def _change(
    session: Session,
    clock: Clock,
    actor: Actor,
    action: str,
    change: Callable[[dict[str, Any], datetime], None],
    *,
    allow_missing: bool = False,
) -> DemoRun:
    if not get_setting(session, "territory.is_demo"):
        raise Conflict("this is not a demo database: nothing is simulated here")
    row = session.get(Setting, RUN_KEY, with_for_update=True)
    current = dict(row.value) if row is not None and row.value else None
    if current is None and not allow_missing:
        raise Conflict("no simulation has started yet")
    run = dict(current or {})
    now = clock.now()
    change(run, now)
    set_setting(session, RUN_KEY, run, clock, by=actor.username)
    before = {k: current[k] for k in ("number", "scenario", "seed", "state")} if current else None
    after = {k: run[k] for k in ("number", "scenario", "seed", "state")}
    audit.record(session, clock, actor, action, "simulator", run["number"], before=before, after=after)
    return DemoRun.from_json(run)


# --- the background run -------------------------------------------------------------------------


class LiveDemo:
    """Drives the demo's run from a thread of the app process."""

    def __init__(
        self, db: Database, tz: ZoneInfo, clock: Clock = SYSTEM_CLOCK, tick_seconds: float = 2.0
    ) -> None:
        self.db = db
        self.tz = tz  # the utility's, for the times the simulated notices state
        self.clock = clock
        self.tick_seconds = tick_seconds
        self.owner = f"{leases.process_holder()}:demo:{uuid.uuid4().hex[:8]}"
        self.held_until: datetime | None = None  # when this process's lease on the run expires
        self.stopping = threading.Event()
        self.thread: threading.Thread | None = None
        self.simulation: Any = None
        self.number: int | None = None
        self.paused_minutes = 0.0
        self.saved_at: datetime | None = None

    def start(self) -> None:
        self.thread = threading.Thread(target=self._loop, name="demo-simulator", daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.stopping.set()
        if self.thread is not None:
            self.thread.join(timeout=30)
        try:
            self.release()
        except Exception:  # stopping anyway: the lease then simply expires
            log.exception("releasing the demo simulator's lease failed")

    def _loop(self) -> None:
        while not self.stopping.is_set():
            try:
                self.tick()
            except Exception:  # keep the demo going: one failed step must not end it
                log.exception("demo simulation step failed")
            self.stopping.wait(self.tick_seconds)

    def tick(self) -> None:
        """One step: claim the run, bring the world up to now, and save how far it got."""
        run = self._claim()
        if run is None or run.state != RUNNING:
            return
        from emergency.simulator.runner import Simulation

        if self.simulation is None or self.number != run.number:
            self.simulation = Simulation(
                self.db,
                SCENARIOS[run.scenario],
                seed=run.seed,
                start=run.origin,
                auto_dispatch=True,
                grace_minutes=float(self._setting("simulator.grace_minutes")),
                after_dispatch_clock=True,
                show_movement=True,
                resume_minute=run.minute,
                tz=self.tz,
            )
            self.simulation.shift(timedelta(minutes=run.paused_minutes))
            self.simulation.summary.carry_on_from(run.counts)  # taken over: go on counting
            self.number, self.paused_minutes = run.number, run.paused_minutes
        elif run.paused_minutes != self.paused_minutes:
            self.simulation.shift(timedelta(minutes=run.paused_minutes - self.paused_minutes))
            self.paused_minutes = run.paused_minutes
        now = self.clock.now()
        self.simulation.advance_to(now)
        finished = self.simulation.idle()
        if finished or self.saved_at is None or now - self.saved_at >= SAVE_EVERY:
            self._save(run.number, self.simulation.progress(), finished)
            self.saved_at = now

    def _setting(self, key: str) -> Any:
        with self.db.read() as session:
            return get_setting(session, key)

    def _claim(self) -> DemoRun | None:
        """The run, if this process may drive it now (starting the first run on a new demo).

        One process drives the run at a time: it holds the `demo-simulator` lease
        (emergency.core.leases), renewed once half of it has gone, so most steps only read."""
        now = self.clock.now()
        with self.db.read() as session:
            if not get_setting(session, "territory.is_demo") or not get_setting(
                session, "simulator.demo_enabled"
            ):
                return None
            run = get_setting(session, RUN_KEY)
        if self.held_until is None or self.held_until <= now + LEASE / 2:
            if not leases.acquire_or_renew(self.db, self.clock, LEASE_NAME, self.owner, LEASE):
                self.held_until = None
                return None  # another app process drives the run
            self.held_until = now + LEASE
        if run:
            return DemoRun.from_json(run)
        with self.db.write() as session:
            row = session.get(Setting, RUN_KEY, with_for_update=True)
            if row is not None and row.value:
                return DemoRun.from_json(row.value)
            run = _new_run(1, DEMO_SCENARIO, DEMO_SEED, now)
            set_setting(session, RUN_KEY, run, self.clock, by="simulator")
            return DemoRun.from_json(run)

    def release(self) -> None:
        """Give the run up (a clean stop), so another process takes it at its next step."""
        if self.held_until is not None:
            leases.release(self.db, self.clock, LEASE_NAME, self.owner)
            self.held_until = None

    def _save(self, number: int, summary: RunSummary, finished: bool) -> None:
        with self.db.write() as session:
            row = session.get(Setting, RUN_KEY, with_for_update=True)
            if row is None or not row.value or int(row.value["number"]) != number:
                return  # restarted meanwhile: the new run saves its own progress
            run = dict(row.value)
            if run["state"] != RUNNING:
                return
            run["minute"], run["summary"] = round(summary.minutes, 2), summary.line()
            run["counts"] = summary.to_json()
            run["figures"] = summary.counts()
            if finished:
                run["state"] = FINISHED
            set_setting(session, RUN_KEY, run, self.clock, by="simulator")


def start_live_demo(db: Database, enabled: bool, tz: ZoneInfo) -> LiveDemo | None:
    """What the app's lifespan calls: a running LiveDemo, unless its environment switches it off.

    Whether the database is a demo is asked on every step, so a real database never simulates."""
    if not enabled:
        return None
    demo = LiveDemo(db, tz)
    demo.start()
    return demo
