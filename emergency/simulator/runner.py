"""One simulation run: the storm's events in time order, acted out through the real services.

Time: the run keeps its own clock (`emergency.core.clock.FakeClock`) and hands it to every service, so
everything the services record (report times, dispatch and arrival times, restorations) is
simulated time. That keeps a replayed storm's SLA figures, durations and ETR errors the same at
any `--speed`: a 20-minute drive is recorded as 20 minutes whether it took 20 minutes or a
fraction of a second of wall time. At speed 1 (the live demo) simulated time is wall time; faster,
the records run ahead of the wall clock, so replay faster than real time into a training database,
not one the control room watches. `run_fast` jumps from one due event to the next;
`advance_to` lets a caller (the paced loop, the live demo, a test) move the clock as it likes.

The run only writes through the services people and systems use: intake (`SubmitReports`), CAP
import and warning issue, dispatch (storm plan, en route, on site), ETR, and outage confirm,
restore, cancel and close. Whatever a service refuses is logged, never forced.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from emergency.app.bus import execute
from emergency.app.commands.dispatch import (
    ApplyStormPlan,
    CancelAssignment,
    CancelOutage,
    CloseOutage,
    ConfirmOutage,
    MarkEnRoute,
    RecordCrewPositions,
    RestoreOutage,
    SetEtr,
)
from emergency.app.commands.intake import SubmitReports
from emergency.app.commands.meters import AskMeters
from emergency.app.commands.warnings import ImportCapAlert, IssueWarning
from emergency.app.context import Context
from emergency.core.actor import Actor
from emergency.core.clock import SYSTEM_CLOCK, FakeClock
from emergency.core.db import Database
from emergency.core.errors import EmergencyError
from emergency.core.models import (
    ACTIVE_OUTAGE_STATES,
    AssignmentStatus,
    AuditEvent,
    Crew,
    CrewAssignment,
    CrewKind,
    CrewStatus,
    Customer,
    District,
    EtrConfidence,
    EtrSource,
    Outage,
    Role,
    SlaTarget,
    TokenScope,
)
from emergency.core.settings import DEFAULT_SLA_TARGETS
from emergency.dispatch.etr import EtrRules
from emergency.dispatch.plan import storm_plan
from emergency.dispatch.routing import DispatchRules
from emergency.intake.reports import MAX_BATCH
from emergency.network.head_end import FakeHeadEnd, use_head_end
from emergency.simulator import location
from emergency.simulator.cap_alert import cap_alert
from emergency.simulator.crews import (
    OPEN,
    STEP_RESTORE_CUSTOMERS,
    CrewPace,
    Job,
    Route,
    along,
    etr_time,
    open_jobs,
)
from emergency.simulator.grid import Damage, Grid, Territory, load_territory
from emergency.simulator.progress import RunSummary, tally
from emergency.simulator.reports import Intent, ReportMaker
from emergency.simulator.scenarios import Scenario
from emergency.simulator.storm import StormModel, plan_damage
from emergency.warnings.records import get_warning

log = logging.getLogger("outage_desk.simulator")

SIMULATOR = "simulator"
# An outage one of these acted on (confirmed, set an ETR, dispatched, cancelled) is theirs to
# finish: the simulated dispatcher never takes it over, however long it waits.
PEOPLE = tuple(role.value for role in (Role.DISPATCHER, Role.MANAGER, Role.ADMIN))
DISPATCH_TARGET = "outage_dispatch"
SIM_INTAKE = Actor(SIMULATOR, "intake")
SIM_DISPATCHER = Actor(SIMULATOR, Role.DISPATCHER)
SIM_MANAGER = Actor(SIMULATOR, Role.MANAGER)
SIM_POSITIONS = Actor(SIMULATOR, TokenScope.CREW_POSITION.value)
SIM_SYSTEM = Actor(SIMULATOR, "system")  # the analysis follow-up (meter pings) the server would run
NOISE_WINDOW_MINUTES = 10.0
QUIET_NOISE_MINUTES = 120.0  # calls from powered customers on a day without weather
QUIET_STRENGTH = 0.3
# En route, a crew's device takes a fix this often (simulated time), and keeps on once parked at the
# outage until the geofence (crew.arrival_radius_m, crew.arrival_dwell_seconds) records it on site.
# Like many vehicle trackers it uploads its fixes in batches, each fix with its own time (the arrival
# is dated by the fixes, not the upload); a batch every two minutes keeps long runs quick.
FIX_EVERY = timedelta(seconds=30)
UPLOAD_EVERY = timedelta(minutes=2)
FIX_ACCURACY_M = 10.0
REPORT_BATCH_MINUTES = 2.0
RETRY_AFTER = timedelta(minutes=1)
MAX_FAILURES = 5
# The service standard's time zone; only working-day clocks (none of the shipped outage clocks)
# depend on it. An entry point with the utility's configuration passes its own.
SERVICE_STANDARD_TZ = ZoneInfo("Asia/Shanghai")


@dataclass(frozen=True)
class SimEvent:
    """One thing the simulation did, for the log and the reproducibility check."""

    minute: float
    kind: str
    subject: str
    detail: str = ""

    def line(self) -> str:
        return f"{self.minute:8.2f}  {self.kind:<14} {self.subject:<18} {self.detail}".rstrip()


@dataclass
class _OnSite:
    repair_minutes: float
    stepped: bool = False


class Simulation:
    """A scenario run against a database; see the module docstring for how time works."""

    def __init__(
        self,
        db: Database,
        scenario: Scenario,
        *,
        seed: int = 7,
        start: datetime | None = None,
        auto_dispatch: bool = False,
        grace_minutes: float = 3.0,
        after_dispatch_clock: bool = False,
        show_movement: bool = False,
        fix_every: timedelta = FIX_EVERY,
        resume_minute: float = 0.0,
        tz: ZoneInfo = SERVICE_STANDARD_TZ,
        meter_pings: bool = True,
    ) -> None:
        """`grace_minutes` is how long the simulated dispatcher (with `auto_dispatch`) leaves an
        outage nobody acted on to people: counted from its first report, or with
        `after_dispatch_clock` from when its dispatch clock ran out (the live demo, which leaves
        the work to a person at the console and only picks up what they missed). `fix_every` is
        how often a crew's device takes a fix (a drill with quick crews takes them more often).

        `meter_pings`: after each batch of reports, ask the smart meters below doubtful predictions
        (the head-end answers from the simulated grid, losing `noise.ping_loss` of the answers)."""
        self.db = db
        self.tz = tz
        self.scenario = scenario
        self.seed = seed
        origin = (start or SYSTEM_CLOCK.now()).astimezone(UTC).replace(microsecond=0)
        self.origin = origin
        self.clock = FakeClock(origin + timedelta(minutes=resume_minute))
        # Every report carries its time with its offset: the time zone is never read.
        self.intake = Context(db, self.clock, SIM_INTAKE, ZoneInfo("UTC"))
        self.knows_since = self.clock.now()
        # The simulated dispatcher and crew devices act through the application layer, as people do.
        self.dispatcher = Context(db, self.clock, SIM_DISPATCHER, tz)
        self.positions = self.dispatcher.acting_as(SIM_POSITIONS)
        self.auto_dispatch = auto_dispatch
        self.grace = timedelta(minutes=grace_minutes)
        # Crews post positions in every run (the geofence needs them); with `show_movement` (a paced
        # run someone watches) each fix is uploaded at once, so the map moves every 30 s.
        self.show_movement = show_movement
        self.fix_every = fix_every
        self._upload_every = fix_every if show_movement else max(UPLOAD_EVERY, fix_every)
        self.events: list[SimEvent] = []
        with db.read() as session:
            self.territory = load_territory(session)
            self.district_codes = list(session.scalars(select(District.code).order_by(District.code)))
            dispatch_rules = DispatchRules.from_settings(session)
            etr_rules = EtrRules.from_settings(session)
            if after_dispatch_clock:
                self.grace += timedelta(minutes=_dispatch_clock_minutes(session))
        if not len(self.territory.device_ids) or not len(self.territory.customer_ids):
            raise EmergencyError("the database holds no territory to simulate a storm over")
        self.grid = Grid(self.territory)
        self.storm = StormModel(scenario.storm, self.territory.bbox)
        self.pace = CrewPace(
            seed, dispatch_rules, etr_rules, scenario.repair_factor, self.storm, self.minute_of
        )
        tag = f"{seed}-{origin:%Y%m%d%H%M%S}"
        # Which customers have a smart meter is a fact of the territory: the customers' meter ids
        # where the territory has them, else a share drawn for the run.
        self.meter_customer = _meter_positions(db, self.territory)
        if self.meter_customer:
            has_meter = np.zeros(len(self.territory.customer_ids), dtype=bool)
            has_meter[list(self.meter_customer.values())] = True
        else:
            meters = np.random.default_rng([seed, 10]).random(len(self.territory.customer_ids))
            has_meter = meters < scenario.noise.smart_meter_share
        noise = scenario.noise
        # The head-end answers pings from the simulated grid's true state, with the storm's losses.
        self.head_end = FakeHeadEnd(self._meter_powered, loss=noise.ping_loss, seed=seed)
        self.meter_pings = meter_pings and bool(self.meter_customer)
        self.follow_up = Context(db, self.clock, SIM_SYSTEM, tz)
        self.reported_into: set[int] = set()  # outages the run's reports joined (location accuracy)
        # Separate streams: the storm's reports stay the same whatever the crews' timing does.
        self.loss_reports = ReportMaker(
            self.territory, noise, np.random.default_rng([seed, 11]), tag, has_meter
        )
        self.back_reports = ReportMaker(
            self.territory, noise, np.random.default_rng([seed, 12]), tag + "r", has_meter
        )

        self._queue: list[tuple[datetime, int, str, Any]] = []
        self._order = itertools.count()
        self.routes: dict[int, tuple[Route, datetime]] = {}
        self.on_site: dict[int, _OnSite] = {}
        self.moved_at: dict[int, datetime] = {}
        self.failures: dict[int, int] = {}
        self.retry_at: dict[int, datetime] = {}
        self.last_dispatch_at = origin - timedelta(days=1)
        self.crews_freed = True
        self.summary = RunSummary(scenario.name, seed, resume_minute)
        self._seen: tuple[list[Job], datetime | None] | None = None
        self._plan(resume_minute)

    # --- time ---------------------------------------------------------------------------------

    def at(self, minute: float) -> datetime:
        return self.origin + timedelta(minutes=minute)

    def minute_of(self, when: datetime) -> float:
        return (when - self.origin).total_seconds() / 60.0

    @property
    def minute(self) -> float:
        return self.minute_of(self.clock.now())

    def shift(self, delta: timedelta) -> None:
        """Move the storm and everything still to come later by `delta` (a paused live demo)."""
        self.origin += delta
        self._queue = [(when + delta, n, kind, payload) for when, n, kind, payload in self._queue]
        heapq.heapify(self._queue)

    # --- the plan -----------------------------------------------------------------------------

    def _push(self, minute: float, kind: str, payload: Any) -> None:
        if kind == "report":
            # Call centres, head-ends and SCADA front-ends post in batches, not one by one; each
            # report keeps its own time.
            minute = math.ceil(minute / REPORT_BATCH_MINUTES - 1e-9) * REPORT_BATCH_MINUTES
        heapq.heappush(self._queue, (self.at(minute), next(self._order), kind, payload))

    def _plan(self, resume_minute: float) -> None:
        spec = self.scenario.storm
        end = spec.fade_minute if spec.shape != "none" else 0.0
        rng = np.random.default_rng([self.seed, 1])
        for damage in plan_damage(self.territory, spec, self.storm, end, rng):
            if damage.at_minute >= resume_minute:
                self._push(damage.at_minute, "damage", damage)
        warning = self.scenario.warning
        if warning is not None and warning.issue_minute >= resume_minute:
            self._push(warning.issue_minute, "warning", warning)
        noise_end = end if spec.shape != "none" else QUIET_NOISE_MINUTES
        sample = np.random.default_rng([self.seed, 2]).choice(
            len(self.territory.customer_ids), size=min(200, len(self.territory.customer_ids)), replace=False
        )
        for start in np.arange(0.0, noise_end, NOISE_WINDOW_MINUTES):
            middle = float(start) + NOISE_WINDOW_MINUTES / 2
            if spec.shape == "none":
                strength = QUIET_STRENGTH
            else:
                lon, lat = self.territory.customer_lon[sample], self.territory.customer_lat[sample]
                strength = float(self.storm.strength(middle, lon, lat).mean())
            for intent in self.loss_reports.powered_calls(float(start), NOISE_WINDOW_MINUTES, strength):
                if intent.minute >= resume_minute:
                    self._push(intent.minute, "report", intent)

    # --- running ------------------------------------------------------------------------------

    def run_fast(self, max_minutes: float | None = None) -> RunSummary:
        """Run event to event with no waiting until nothing is left to do (or `max_minutes`)."""
        limit = self.at(max_minutes if max_minutes is not None else self.scenario.max_minutes)
        while True:
            due = self.next_due()
            if due is None:
                break
            if due > limit:
                self.clock.set(limit)  # stopped with work still to come: the run lasted to the limit
                break
            self._run_at(due)
        return self.finish()

    def run_paced(
        self,
        speed: float,
        max_minutes: float | None = None,
        stop: threading.Event | None = None,
        tick_seconds: float = 1.0,
    ) -> RunSummary:
        """Run with simulated time `speed` times faster than wall time, so people can watch and act
        (dispatch, restore) while it runs; ends when nothing is left to do, at `max_minutes`, or
        when `stop` is set."""
        stop = stop or threading.Event()
        limit = self.at(max_minutes if max_minutes is not None else self.scenario.max_minutes)
        began, start_at = time.monotonic(), self.clock.now()
        while not stop.is_set():
            target = min(start_at + timedelta(seconds=(time.monotonic() - began) * speed), limit)
            self.advance_to(target)
            if target >= limit or self.idle():
                break
            stop.wait(tick_seconds)
        return self.finish()

    def idle(self) -> bool:
        """Nothing left to simulate: the storm has passed, no crew is working, and no outage the run
        caused is still waiting (for a person to dispatch it, without auto-dispatch)."""
        if self._queue:
            return False
        with self.db.read() as session:
            if open_jobs(session):
                return False
            waiting = session.scalar(
                select(Outage.id)
                .where(Outage.id.in_(sorted(self.summary.outages)), Outage.state.in_(ACTIVE_OUTAGE_STATES))
                .limit(1)
            )
        return waiting is None

    def advance_to(self, until: datetime) -> None:
        """Do everything due up to `until`, then let the clock stand there."""
        while True:
            due = self.next_due()
            if due is None or due > until:
                break
            self._run_at(due)
        if until > self.clock.now():
            self.clock.set(until)
        self.summary.minutes = self.minute

    def finish(self) -> RunSummary:
        return self.progress()

    def progress(self) -> RunSummary:
        """The summary as of now, with the counts only the database knows brought up to date."""
        with self.db.read() as session:
            tally(session, self.summary)
        self.summary.minutes = self.minute
        return self.summary

    def next_due(self) -> datetime | None:
        now = self.clock.now()
        candidates = [self._queue[0][0]] if self._queue else []
        self._seen = self._read_state(now)
        jobs, dispatch = self._seen
        for job in jobs:
            due = self._job_due(job)
            if due is not None:
                candidates.append(due[0])
        if dispatch is not None:
            candidates.append(dispatch)
        if not candidates:
            return None
        return max(min(candidates), now)

    def _run_at(self, when: datetime) -> None:
        # What `next_due` just read stays true unless the storm's events below change it.
        seen, self._seen = self._seen, None
        self.clock.set(max(when, self.clock.now()))
        batch: list[Intent] = []
        changed = False
        while self._queue and self._queue[0][0] <= when:
            changed = True
            at, _, kind, payload = heapq.heappop(self._queue)
            if kind == "report":
                batch.append(payload)
                continue
            self._send(batch)
            batch = []
            self.clock.set(max(at, self.clock.now()))
            actions: dict[str, Callable[[Any], None]] = {
                "damage": self._damage,
                "warning": self._warning,
                "close": self._close,
            }
            actions[kind](payload)
        self._send(batch)
        self.clock.set(max(when, self.clock.now()))
        jobs, dispatch = seen if seen is not None and not changed else self._read_state(when)
        acted = False
        for job in jobs:
            due = self._job_due(job)
            if due is not None and due[0] <= when:
                self._attempt(job, due[1])
                acted = True
        if self.auto_dispatch and acted:
            with self.db.read() as session:
                dispatch = self._dispatch_due(session, when)
        if dispatch is not None and dispatch <= when:
            self._auto_dispatch()

    def _log(self, kind: str, subject: str, detail: str = "", *, at: datetime | None = None) -> None:
        event = SimEvent(
            round(self.minute_of(at) if at is not None else self.minute, 2), kind, subject, detail
        )
        self.events.append(event)
        log.debug(event.line())

    # --- storm, warning and reports -----------------------------------------------------------

    def _damage(self, damage: Damage) -> None:
        t = self.territory
        customers = self.grid.break_device(damage)
        if damage.device in self.grid.broken and self.grid.broken[damage.device] is damage:
            self.summary.damages += 1
        self._log(
            "damage", t.codes[damage.device], f"{t.kinds[damage.device]}, {len(customers)} customers out"
        )
        for intent in self.loss_reports.supply_lost(damage.at_minute, damage.device, customers):
            self._push(intent.minute, "report", intent)

    def _out(self, customer: int) -> bool:
        return self.grid.dark(int(self.territory.customer_device[customer]))

    def _meter_powered(self, meter_id: str) -> bool:
        customer = self.meter_customer.get(meter_id)
        return customer is not None and not self._out(customer)

    def _after_reports(self) -> None:
        """The analysis follow-up (ask the meters), then where the outages stand for each fault."""
        if self.meter_pings:
            use_head_end(self.head_end)  # also the one a dispatcher's "Ask the meters" reaches
            try:
                outcome = execute(self.follow_up, AskMeters())
            except EmergencyError as error:
                self._log("refused", "meter pings", str(error))
            else:
                self.summary.meter_pings += sum(len(a) for a in outcome.asked.values())
                self.summary.outages.update(outcome.moved.values())
                self.reported_into.update(outcome.moved.values())
                if outcome.asked:
                    self._log("meters", f"{len(outcome.asked)} outages", f"moved {sorted(outcome.moved)}")
        self._judge_location()

    def _judge_location(self) -> None:
        faults = list(self.grid.broken)
        if not faults:
            return
        with self.db.read() as session:
            outages = location.run_outages(session, self.territory, self.reported_into)
        for fault, verdict in location.judge(self.territory, faults, outages).items():
            self.summary.located[int(self.territory.device_ids[fault])] = verdict

    def _warning(self, spec: Any) -> None:
        document = cap_alert(spec, self.origin, self.clock.now(), self.district_codes, self.seed)
        try:
            ctx = Context(self.db, self.clock, SIM_MANAGER, self.tz)
            warning_id = execute(ctx, ImportCapAlert(document, origin="simulator")).warning_id
            with self.db.read() as session:
                version = get_warning(session, warning_id).version
            result = execute(ctx, IssueWarning(warning_id, version))
        except EmergencyError as error:
            self._log("refused", "warning", str(error))
            return
        self._log(
            "warning",
            f"warning {warning_id}",
            f"{spec.hazard} {spec.level} issued, {result.notices_queued} notices, "
            f"disaster mode {'on' if result.disaster_mode else 'off'}",
        )

    def _send(self, intents: list[Intent]) -> None:
        if self._send_reports(intents):
            self._after_reports()

    def _send_reports(self, intents: list[Intent]) -> bool:
        """Send the reports still due through intake; False when there were none."""
        items = []
        for intent in intents:
            customer = intent.customer
            if customer is not None and not intent.powered_ok and not self._out(customer):
                continue  # power came back before they called
            happened = self.at(intent.minute if intent.happened is None else intent.happened)
            items.append({**intent.item, "reported_at": happened.isoformat()})
        for start in range(0, len(items), MAX_BATCH):
            chunk = items[start : start + MAX_BATCH]
            result = execute(self.intake, SubmitReports(tuple(chunk)))
            analysis = result.analysis
            self.summary.reports_sent += len(chunk)
            self.summary.reports_refused += len({e.index for e in result.errors})
            created = analysis.predicted + analysis.confirmed + analysis.nested
            self.reported_into.update(o for o, _ in analysis.report_links.values() if o is not None)
            self.summary.outages.update(created)
            if created:
                self.crews_freed = True
            self._log(
                "reports",
                f"{len(chunk)} sent",
                f"{result.stored} stored, {len(result.accepted) - result.stored} duplicates, "
                f"{len({e.index for e in result.errors})} refused; outages {sorted(created)} new, "
                f"{sorted(analysis.restored)} restored",
            )
        return bool(items)

    # --- crews --------------------------------------------------------------------------------

    def _device(self, device_id: int) -> int:
        return self.territory.index_of[device_id]

    def _job_due(self, job: Job) -> tuple[datetime, Callable[[Job], None]] | None:
        """The crew's next step and when, held back after a refusal; None for a job given up on."""
        if self.failures.get(job.assignment_id, 0) >= MAX_FAILURES:
            return None
        due, step = self._next_step(job)
        retry = self.retry_at.get(job.assignment_id)
        return (max(due, retry) if retry is not None else due), step

    def _next_step(self, job: Job) -> tuple[datetime, Callable[[Job], None]]:
        if job.status == AssignmentStatus.DISPATCHED:
            return job.assigned_at + timedelta(minutes=self.pace.mobilise_minutes(job)), self._depart
        if job.status == AssignmentStatus.EN_ROUTE:
            # No "on site" click: the crew's fixes along the road, and parked at the outage, make the
            # geofence record the arrival, so replays measure arrival as real crews' trackers do.
            _route, departed = self._route(job)
            moved = self.moved_at.get(job.assignment_id)
            return (departed if moved is None else moved + self._upload_every), self._move
        assert job.on_site_at is not None
        plan = self.on_site.get(job.assignment_id)
        if plan is None:
            return job.on_site_at, self._arrived
        if job.crew_kind == CrewKind.ASSESSMENT:
            return job.on_site_at + timedelta(minutes=self.pace.assess_minutes(job)), self._assessed
        if not plan.stepped and job.customers_out >= STEP_RESTORE_CUSTOMERS and job.customers_restored == 0:
            return job.on_site_at + timedelta(minutes=plan.repair_minutes / 2), self._step
        return job.on_site_at + timedelta(minutes=plan.repair_minutes), self._repaired

    def _attempt(self, job: Job, action: Callable[[Job], None]) -> None:
        try:
            action(job)
        except EmergencyError as error:
            # A person changed the job first (or a rule refused): look again a minute later.
            self.failures[job.assignment_id] = self.failures.get(job.assignment_id, 0) + 1
            self.retry_at[job.assignment_id] = self.clock.now() + RETRY_AFTER
            self._log("refused", f"crew {job.crew_code}", str(error))
        else:
            self.retry_at.pop(job.assignment_id, None)

    def _route(self, job: Job) -> tuple[Route, datetime]:
        known = self.routes.get(job.assignment_id)
        if known is None:
            # Sent on its way by a person: the route starts where the crew was last seen.
            d = self._device(job.device_id)
            departed = job.en_route_at or self.clock.now()
            t = self.territory
            route = self.pace.route(job, float(t.lon[d]), float(t.lat[d]), t.area_type[d], departed)
            known = self.routes[job.assignment_id] = (route, departed)
        return known

    def _depart(self, job: Job) -> None:
        execute(self.dispatcher, MarkEnRoute(job.assignment_id, expected_version=job.assignment_version))
        d = self._device(job.device_id)
        t = self.territory
        now = self.clock.now()
        route = self.pace.route(job, float(t.lon[d]), float(t.lat[d]), t.area_type[d], now)
        self.routes[job.assignment_id] = (route, now)
        self._log(
            "en_route", f"crew {job.crew_code}", f"to outage {job.outage_id}, {route.minutes:.1f} min drive"
        )

    def _move(self, job: Job) -> None:
        """Upload the fixes taken since the last upload: along the road, or parked at the outage."""
        route, departed = self._route(job)
        now = self.clock.now()
        last = self.moved_at.get(job.assignment_id)
        if last is None:
            times = [now]
        else:  # every fix taken since the last upload, each at its own time
            times = list(
                itertools.takewhile(
                    lambda t: t <= now, (last + self.fix_every * k for k in itertools.count(1))
                )
            )
        fixes = []
        for at in (t for t in times if t <= now):
            lon, lat = along(route, (at - departed).total_seconds() / 60.0 / max(route.minutes, 1e-9))
            fixes.append(
                {
                    "crew": job.crew_code,
                    "lon": lon,
                    "lat": lat,
                    "at": at.isoformat(),
                    "accuracy_m": FIX_ACCURACY_M,
                }
            )
        result = execute(self.positions, RecordCrewPositions(tuple(fixes), simulated=True))
        self.moved_at[job.assignment_id] = times[-1] if times else now
        for refused in result.refused:
            self._log("refused", f"crew {job.crew_code}", f"position: {refused.field}: {refused.reason}")
        for arrived in result.arrived:
            # Logged at the stay's first fix: the on-site time the outage's clock stopped at.
            self._log("on_site", f"crew {job.crew_code}", f"at outage {arrived.outage_id}", at=arrived.at)

    def _arrived(self, job: Job) -> None:
        d = self._device(job.device_id)
        t = self.territory
        repair = self.pace.repair_minutes(job, t.kinds[d], t.area_type[d])
        self.on_site[job.assignment_id] = _OnSite(repair)
        if not job.confirmed:
            execute(self.dispatcher, ConfirmOutage(job.outage_id, expected_version=None))
            self._log("confirmed", f"outage {job.outage_id}", f"by crew {job.crew_code}")
        if job.crew_kind != CrewKind.ASSESSMENT:
            etr = etr_time(self.clock.now(), repair * self.pace.estimate_error(job))
            execute(
                self.dispatcher,
                SetEtr(
                    job.outage_id,
                    etr,
                    EtrConfidence.MEDIUM,
                    EtrSource.CREW,
                    expected_version=None,
                    note=f"crew {job.crew_code} on site",
                ),
            )
            self._log("etr", f"outage {job.outage_id}", f"crew {job.crew_code}: {etr:%H:%M} UTC")

    def _assessed(self, job: Job) -> None:
        if self._nothing_wrong(job):
            return
        execute(
            self.dispatcher,
            CancelAssignment(
                job.assignment_id, "assessed: needs a repair crew", expected_version=job.assignment_version
            ),
        )
        self.crews_freed = True
        self._log("assessed", f"crew {job.crew_code}", f"outage {job.outage_id} needs a repair crew")

    def _step(self, job: Job) -> None:
        customers = max(1, job.customers_out // 2)
        execute(
            self.dispatcher,
            RestoreOutage(
                job.outage_id,
                expected_version=None,
                customers=customers,
                note=f"crew {job.crew_code}: {customers} customers back-fed by switching",
            ),
        )
        self.on_site[job.assignment_id].stepped = True
        self._log("restore_step", f"outage {job.outage_id}", f"{customers} customers by crew {job.crew_code}")

    def _repaired(self, job: Job) -> None:
        if self._nothing_wrong(job):
            return
        d = self._device(job.device_id)
        t = self.territory
        found = self.grid.found_by_crew_at(d)
        lit = self.grid.repair(found)
        closed = [x for x in found if t.telemetered[x]]
        if closed:
            self._send(
                [
                    Intent(
                        self.minute,
                        {
                            "channel": "scada",
                            "kind": "device_closed",
                            "device_code": t.codes[x],
                            "external_id": f"sim-{self.loss_reports.tag}-close-{x}-{self.minute:.2f}",
                        },
                    )
                    for x in closed
                ]
            )
        repaired = ", ".join(t.codes[x] for x in found) or "nothing broken found"
        self._restore(job.outage_id, f"crew {job.crew_code}: repaired {repaired}")
        self._restore_lit_outages(found, f"crew {job.crew_code} repaired {repaired} above")
        still_out = self.grid.customers_dark_below(d)
        for intent in self.back_reports.supply_back(self.minute, lit, still_out):
            self._push(intent.minute, "report", intent)
        self.crews_freed = True

    def _nothing_wrong(self, job: Job) -> bool:
        """A crew that finds the supply on: a false alarm, or power already back from a repair
        elsewhere. Either way the outage ends here."""
        d = self._device(job.device_id)
        if self.grid.dark(d) or len(self.grid.customers_dark_below(d)):
            return False
        if self.grid.ever_dark[d] or self._before_run(job.outage_id):
            self._restore(job.outage_id, f"crew {job.crew_code}: supply found on")
        else:
            execute(
                self.dispatcher,
                CancelOutage(
                    job.outage_id, f"false alarm: crew {job.crew_code} found supply on", expected_version=None
                ),
            )
            self.summary.false_alarms += 1
            self._log("false_alarm", f"outage {job.outage_id}", f"cancelled by crew {job.crew_code}")
        self.crews_freed = True
        return True

    def _before_run(self, outage_id: int) -> bool:
        """Outages from before this run knew the grid (the demo's own, or from before the app
        restarted) were real, whatever the grid says now."""
        with self.db.read() as session:
            first = session.scalar(select(Outage.first_report_at).where(Outage.id == outage_id))
        return first is not None and first < self.knows_since

    def _restore(self, outage_id: int, note: str) -> None:
        with self.db.read() as session:
            state = session.scalar(select(Outage.state).where(Outage.id == outage_id))
        if state in ACTIVE_OUTAGE_STATES:
            execute(self.dispatcher, RestoreOutage(outage_id, expected_version=None, note=note))
            self.summary.restored += 1  # not when a person or SCADA restored it first
        self._log("restored", f"outage {outage_id}", note)
        self._push(self.minute + self.pace.verify_minutes(outage_id), "close", outage_id)

    def _restore_lit_outages(self, found: list[int], note: str) -> None:
        """Outages below a repaired device whose customers now have power: the crew tells the
        dispatcher the whole line is back, so nobody drives to them."""
        t = self.territory
        below = {int(x) for f in found for x in t.subtree(f)}
        with self.db.read() as session:
            rows = session.execute(
                select(Outage.id, Outage.device_id).where(Outage.state.in_(ACTIVE_OUTAGE_STATES))
            ).all()
        for outage_id, device_id in rows:
            d = t.index_of.get(device_id)
            if d is None or d not in below or self.grid.dark(d) or len(self.grid.customers_dark_below(d)):
                continue
            try:
                self._restore(outage_id, note)
            except EmergencyError as error:
                self._log("refused", f"outage {outage_id}", str(error))

    def _close(self, outage_id: int) -> None:
        try:
            execute(self.dispatcher, CloseOutage(outage_id, expected_version=None))
        except EmergencyError as error:
            self._log("refused", f"outage {outage_id}", str(error))
            return
        self._log("closed", f"outage {outage_id}", "restoration verified")

    # --- auto-dispatch ------------------------------------------------------------------------

    def _waiting(self, session: Session) -> list[tuple[int, datetime]]:
        """Outages nobody is assigned to and no person acted on, each with the moment the
        simulated dispatcher may take it.

        An outage already waiting when the run began gets the same grace as a new one."""
        busy = select(CrewAssignment.outage_id).where(CrewAssignment.status.in_(OPEN))
        query = select(Outage.id, Outage.first_report_at).where(
            Outage.state.in_(ACTIVE_OUTAGE_STATES), Outage.id.not_in(busy)
        )
        rows = session.execute(query).all()
        people_own = _acted_on_by_people(session, [r[0] for r in rows]) if rows else set()
        return [
            (outage_id, max(first, self.knows_since) + self.grace)
            for outage_id, first in rows
            if outage_id not in people_own
        ]

    def _dispatch_due(self, session: Session, now: datetime) -> datetime | None:
        """When the simulated dispatcher should next run the storm plan: when an outage has waited
        the grace period for a person to dispatch it, or at once when crews came free."""
        if not self.auto_dispatch:
            return None
        deadlines = [deadline for _, deadline in self._waiting(session)]
        if not deadlines:
            return None
        if self.crews_freed and min(deadlines) <= now and _crews_available(session):
            return now
        fresh = [d for d in deadlines if d > self.last_dispatch_at]
        return max(min(fresh), now) if fresh else None

    def _read_state(self, now: datetime) -> tuple[list[Job], datetime | None]:
        """The crews' open jobs and when the simulated dispatcher is next due, in one read."""
        with self.db.read() as session:
            return open_jobs(session), self._dispatch_due(session, now)

    def _auto_dispatch(self) -> None:
        now = self.clock.now()
        self.last_dispatch_at = now
        self.crews_freed = False
        with self.db.read() as session:
            waiting = [outage_id for outage_id, deadline in self._waiting(session) if deadline <= now]
            if not waiting:
                return
            plan = storm_plan(session, self.clock, self.tz, outage_ids=waiting)
        for outcome in execute(self.dispatcher, ApplyStormPlan(plan.rows)):
            row = outcome.row
            if outcome.refused is not None:
                self._log("refused", f"crew {row.crew_code}", outcome.refused)
                continue
            self.summary.dispatched += 1
            self._log("dispatched", f"crew {row.crew_code}", f"to outage {row.outage_id} by the storm plan")


def _meter_positions(db: Database, territory: Territory) -> dict[str, int]:
    """Meter id -> customer position in the territory's arrays, for the customers with a meter."""
    position = {int(c): n for n, c in enumerate(territory.customer_ids)}
    with db.read() as session:
        rows = session.execute(select(Customer.id, Customer.meter_id).where(Customer.meter_id.is_not(None)))
        return {str(meter): position[int(c)] for c, meter in rows if int(c) in position}


def _acted_on_by_people(session: Session, outage_ids: list[int]) -> set[int]:
    """The outages among `outage_ids` a person (not the simulator, not a system) has acted on."""
    acted = session.scalars(
        select(AuditEvent.entity_id)
        .where(
            AuditEvent.entity == "outage",
            AuditEvent.entity_id.in_([str(i) for i in outage_ids]),
            AuditEvent.actor_role.in_(PEOPLE),
            AuditEvent.actor != SIMULATOR,
        )
        .distinct()
    )
    return {int(i) for i in acted if i is not None}


def _dispatch_clock_minutes(session: Session) -> float:
    """The dispatch clock's limit from `sla_targets` (10 minutes in the service standard)."""
    target = session.get(SlaTarget, DISPATCH_TARGET)
    if target is not None and target.limit_minutes is not None:
        return float(target.limit_minutes)
    default = next(t for t in DEFAULT_SLA_TARGETS if t.code == DISPATCH_TARGET)
    return float(default.limit_minutes or 0)


def _crews_available(session: Session) -> bool:
    return session.scalar(select(Crew.id).where(Crew.status == CrewStatus.AVAILABLE).limit(1)) is not None
