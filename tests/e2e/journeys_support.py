"""The storm that drives the browser journeys: a simulator scenario run beside the real server.

The server of the journeys (`storm_server` in conftest.py) holds still by itself; a journey starts a
`Drill`, which runs one of the simulator's scenarios (emergency/simulator) against that server's
database from a thread of the test process, at speed 1. The simulation's clock follows the wall
clock the pages read, so every report, dispatch, arrival and restoration a page shows happened when
it says it did, and the SLA clocks a dispatcher sees run as they would in a control room.

Two things fit a storm of hours into a test of a minute, and neither bends the records:

- the storm is brought forward (`Simulation.shift`) so that the reports of its first damage reach
  intake a few seconds after the drill starts: a drill starts when the trainees are ready;
- the crews are a drill's crews (`DrillPace`): they set off, drive and repair in seconds instead of
  tens of minutes. What they do still goes through the dispatch, ETR and outage services, at the
  moment it happens.

The simulator only acts through the services people use, so what the browser shows comes from the
same code paths as in a storm.
"""

from __future__ import annotations

import math
import re
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta

import pytest
from playwright.sync_api import Locator, Page, expect
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError
from sqlalchemy import select

from emergency.core.actor import Actor
from emergency.core.clock import SYSTEM_CLOCK
from emergency.core.db import Database
from emergency.core.models import ACTIVE_OUTAGE_STATES, Customer, Outage, Role
from emergency.core.settings import set_setting
from emergency.simulator.crews import CrewPace, Job, Route
from emergency.simulator.runner import REPORT_BATCH_MINUTES, Simulation
from emergency.simulator.scenarios import Scenario
from tests.e2e.conftest import STORM_SERVER_LOG
from tests.support.dispatch_actions import restore_outage

# The public snapshot is rebuilt at most this often on the journeys' server (60 s by default), so a
# visitor who reloads sees power come back within seconds; a utility may set it as low.
SNAPSHOT_INTERVAL_S = 5
STEP_SECONDS = 0.5
DRILL_FIX_EVERY = timedelta(seconds=1)
DRILL_DWELL_SECONDS = 3
FIRST_REPORTS_AFTER = timedelta(seconds=10)
DRILL_DISPATCHER = Actor("drill", Role.DISPATCHER)
# Meters send their last gasp within this long of losing power (emergency/simulator/reports.py).
LAST_GASP_MINUTES = 1.5


def prepare_drill_database(db_url: str) -> None:
    """A quiet evening before the storm: the demo's outages in progress restored (through the
    service a dispatcher uses), so what the journeys see on the board is the storm's doing."""
    db = Database(db_url)
    try:
        with db.write() as session:
            set_setting(session, "public.snapshot_interval_s", SNAPSHOT_INTERVAL_S, SYSTEM_CLOCK, by="drill")
        with db.read() as session:
            active = list(session.scalars(select(Outage.id).where(Outage.state.in_(ACTIVE_OUTAGE_STATES))))
        for outage_id in active:
            restore_outage(db, SYSTEM_CLOCK, DRILL_DISPATCHER, outage_id, note="restored before the drill")
    finally:
        db.dispose()


@contextmanager
def storm_database(pytestconfig: pytest.Config) -> Iterator[Database]:
    """The journeys' server's own database (next to its log), for the drill and for checks."""
    path = pytestconfig.stash[STORM_SERVER_LOG].parent / "outage-desk.db"
    db = Database(f"sqlite:///{path}")
    try:
        yield db
    finally:
        db.dispose()


@dataclass(frozen=True)
class DrillTimes:
    """How long a drill's crew takes, in minutes."""

    mobilise: float = 0.1
    drive: float = 0.3
    repair: float = 0.5
    assess: float = 0.2
    verify: float = 1.0


class DrillPace:
    """A `CrewPace` whose crews are quick: the same jobs and routes, shorter times."""

    def __init__(self, real: CrewPace, times: DrillTimes) -> None:
        self.real = real
        self.times = times

    def mobilise_minutes(self, job: Job) -> float:
        return self.times.mobilise

    def route(self, job: Job, to_lon: float, to_lat: float, area_type: str, departed: datetime) -> Route:
        road = self.real.route(job, to_lon, to_lat, area_type, departed)
        return Route(road.from_lon, road.from_lat, road.to_lon, road.to_lat, self.times.drive)

    def repair_minutes(self, job: Job, device_kind: str, area_type: str) -> float:
        return self.times.repair

    def estimate_error(self, job: Job) -> float:
        return self.real.estimate_error(job)

    def assess_minutes(self, job: Job) -> float:
        return self.times.assess

    def verify_minutes(self, outage_id: int) -> float:
        return self.times.verify


@dataclass(frozen=True)
class FirstDamage:
    """The storm's first failure: what a journey waits to see."""

    device_id: int
    device_code: str
    customers: int


class Drill:
    """One scenario run beside the server, stepped to the wall clock from a background thread."""

    def __init__(
        self,
        db: Database,
        scenario: Scenario,
        seed: int,
        *,
        auto_dispatch: bool = False,
        grace_minutes: float = 0.0,
        times: DrillTimes = DrillTimes(),
    ) -> None:
        self.db = db
        # Quick crews arrive by the geofence quickly too: a fix every second, a 3-second dwell.
        with db.write() as session:
            set_setting(session, "crew.arrival_dwell_seconds", DRILL_DWELL_SECONDS, SYSTEM_CLOCK)
        self.simulation = Simulation(
            db,
            scenario,
            seed=seed,
            start=SYSTEM_CLOCK.now(),
            auto_dispatch=auto_dispatch,
            grace_minutes=grace_minutes,
            show_movement=True,
            fix_every=DRILL_FIX_EVERY,
        )
        self.simulation.pace = DrillPace(self.simulation.pace, times)
        self.first_damage = self._bring_forward()
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.failure: BaseException | None = None
        self.thread = threading.Thread(target=self._run, name="journey-drill", daemon=True)

    def _bring_forward(self) -> FirstDamage:
        """Shift the storm so that the first damage's reports reach intake just after the start.

        Reports go to intake in batches every `REPORT_BATCH_MINUTES` of the run; the first damage's
        meter last gasps come within `LAST_GASP_MINUTES` of it, so they go in the one or two
        batches after it."""
        sim = self.simulation
        # The run's plan is private to it; reading it (never changing it) is how a drill knows
        # what the storm will break first.
        when, damage = min(
            ((when, payload) for when, _, kind, payload in sim._queue if kind == "damage"),
            key=lambda item: item[0],
        )
        minute = sim.minute_of(when)
        batch = REPORT_BATCH_MINUTES * (math.floor(minute / REPORT_BATCH_MINUTES) + 1)
        if batch - minute < LAST_GASP_MINUTES / 2:
            # Most last gasps miss that batch and go in the next (a scenario's seed decides).
            batch += REPORT_BATCH_MINUTES
        sim.shift(SYSTEM_CLOCK.now() + FIRST_REPORTS_AFTER - sim.at(batch))
        territory = sim.territory
        return FirstDamage(
            int(territory.device_ids[damage.device]),
            territory.codes[damage.device],
            len(territory.customers_below(damage.device)),
        )

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self.stopping.set()
        self.thread.join(timeout=60)

    def _run(self) -> None:
        while not self.stopping.is_set():
            try:
                with self.lock:
                    self.simulation.advance_to(SYSTEM_CLOCK.now())
            except BaseException as error:  # reported by `wait_for` in the test's own thread
                self.failure = error
                return
            self.stopping.wait(STEP_SECONDS)

    def wait_for(self, what: str, found: Callable[[], object], timeout_s: float) -> object:
        """Poll `found` until it returns something truthy; fail with `what` and the run's events."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.failure is not None:
                raise AssertionError(f"the simulation failed while waiting for {what}") from self.failure
            result = found()
            if result:
                return result
            time.sleep(STEP_SECONDS)
        with self.lock:
            events = "\n".join(event.line() for event in self.simulation.events[-40:])
        pytest.fail(f"no {what} within {timeout_s:.0f} s; the run's last events:\n{events}")

    def first_outage(self, timeout_s: float = 180) -> int:
        """The id of the outage the storm's first damage caused, once intake has found it."""

        def find() -> int | None:
            # Outages this run opened: an earlier journey may have left one on the same device.
            with self.lock:
                opened = sorted(self.simulation.summary.outages)
            with self.db.read() as session:
                return session.scalar(
                    select(Outage.id)
                    .where(Outage.device_id == self.first_damage.device_id, Outage.id.in_(opened))
                    .order_by(Outage.id)
                    .limit(1)
                )

        return int(self.wait_for(f"outage on {self.first_damage.device_code}", find, timeout_s))

    def outage_state(self, outage_id: int) -> str:
        with self.db.read() as session:
            return str(session.scalar(select(Outage.state).where(Outage.id == outage_id)))

    def wait_for_state(self, outage_id: int, states: set[str], timeout_s: float = 120) -> str:
        return str(
            self.wait_for(
                f"outage {outage_id} in {sorted(states)}",
                lambda: (state := self.outage_state(outage_id)) in states and state,
                timeout_s,
            )
        )


@contextmanager
def drill(
    db: Database,
    scenario: Scenario,
    seed: int,
    *,
    auto_dispatch: bool = False,
    grace_minutes: float = 0.0,
    times: DrillTimes = DrillTimes(),
) -> Iterator[Drill]:
    """A running drill for the length of a `with` block."""
    running = Drill(db, scenario, seed, auto_dispatch=auto_dispatch, grace_minutes=grace_minutes, times=times)
    running.start()
    try:
        yield running
    finally:
        running.stop()


def account_below(db: Database, device_id: int) -> tuple[str, str]:
    """A customer the device supplies, with the last 4 digits of the phone on file."""
    with db.read() as session:
        row = session.execute(
            select(Customer.account_no, Customer.phone)
            .where(Customer.transformer_id == device_id, Customer.phone.is_not(None))
            .order_by(Customer.id)
            .limit(1)
        ).one()
    digits = "".join(ch for ch in row.phone if ch.isdigit())
    return row.account_no, digits[-4:]


def click_until_visible(button: Locator, shows: Locator, attempts: int = 4) -> None:
    """Click until `shows` appears. A click that lands while a live view is redrawing can be
    dropped by Streamlit; a person would click again, and so do we."""
    for _ in range(attempts):
        button.click()
        try:
            expect(shows).to_be_visible(timeout=10_000)
            return
        except AssertionError:
            continue
    expect(shows).to_be_visible()


def choose_outage(page: Page, outage_id: int, shows: Locator, attempts: int = 4) -> None:
    """Choose an outage in the console's picker from the keyboard, until `shows` appears. Like a
    click, an Enter that lands while the live view is redrawing can be dropped; a person would
    type it again, and so do we."""
    # The newest picker: while the live view redraws, the old one can stand beside the new.
    picker = page.get_by_role("combobox", name="Outage").last
    expect(picker).to_be_visible(timeout=60_000)
    for _ in range(attempts):
        try:
            picker.click()
            picker.fill(f"{outage_id} ·")
            # The live view's redraw can close the open list and clear what was typed; then the
            # option never shows and we type again, as a person would.
            page.get_by_role("option", name=re.compile(rf"^{outage_id} · ")).first.wait_for(timeout=10_000)
            picker.press("Enter")
            expect(shows).to_be_visible(timeout=10_000)
            return
        except (AssertionError, PlaywrightTimeoutError):
            page.keyboard.press("Escape")
            continue
    expect(shows).to_be_visible()


def metric_value(page: Page, label: str) -> int:
    """The whole number a page's metric shows under `label` (the first metric so labelled)."""
    metric = page.get_by_test_id("stMetric").filter(has_text=label).first
    expect(metric).to_be_visible(timeout=60_000)
    return int(metric.get_by_test_id("stMetricValue").inner_text().replace(",", ""))
