"""Benchmark `load`: a storm's reports posted over HTTP by concurrent clients while two dispatchers act.

The real server (`streamlit run dashboard/server.py`, as an operator starts it) runs on a free
loopback port over a fresh SQLite file holding a generated territory (`run_storm` takes any empty
database; tests/integration/test_load.py runs a small storm on PostgreSQL too). With `--pg URL` the
storm runs twice on that PostgreSQL server, each time on a new database: through one app process,
then through two on the same database (the intake clients split between them, as nginx spreads
gateways), so the figures of one and two processes come from one run. Several processes need
PostgreSQL: there is no two-process figure on SQLite. Intake clients post
a typhoon-shaped stream of reports to `POST /api/reports` in batches, retries of earlier reports
among them, while two dispatchers confirm, dispatch, set ETRs and restore outages through the same
commands the console runs, against the same database (the console itself is a websocket page
the benchmark does not drive).

Afterwards every accepted report must be stored exactly once under its (channel, external id), with
the id the server answered; no request may get a server error; no crew may hold two open jobs. The
figures are reports/s and request latency percentiles, beside a naive baseline measured against the
same server in the same run: one client posting one report per request.
"""

from __future__ import annotations

import os
import queue
import random
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import numpy as np
from sqlalchemy import func, select, tuple_

from bench.common import BenchRow, format_table
from bench.intake import typhoon_burst
from emergency.app.bootstrap import prepare_schema
from emergency.app.bus import execute
from emergency.app.commands.dispatch import ConfirmOutage, DispatchCrew, RestoreOutage, SetEtr
from emergency.app.context import Context
from emergency.app.queries import dispatch as dispatch_queries
from emergency.core.actor import CLI_ADMIN, Actor
from emergency.core.clock import SYSTEM_CLOCK
from emergency.core.db import Database, normalise_url
from emergency.core.errors import EmergencyError
from emergency.core.models import AssignmentStatus, CrewAssignment, OutageState, Report, Role
from emergency.core.tokens import create_token
from emergency.demo.load import load_territory
from emergency.demo.parameters import DEFAULT_SEED
from emergency.demo.territory import generate_territory

ROOT = Path(__file__).resolve().parents[1]
LOAD_CUSTOMERS = 50_000
LOAD_REPORTS = 20_000
LOAD_CLIENTS = 4
LOAD_BATCH = 100
NAIVE_REPORTS = 300
DISPATCHERS = 2
BENCH_TZ = ZoneInfo("Asia/Shanghai")
STARTUP_SECONDS = 120
REQUEST_TIMEOUT_S = 120.0
MAX_RETRY_AFTER_S = 5.0
MAX_ATTEMPTS = 20  # of one batch, after 429s and server errors
DISPATCHER_PAUSE_S = 0.05  # between two actions: contention, not a tight loop starving the server
LOG_TAIL_CHARS = 4_000


@dataclass
class Posted:
    """One request an intake client made: its answer and how long it took."""

    status: int
    seconds: float
    reports: int
    server: str = ""  # the app process's base URL


@dataclass
class StormOutcome:
    """What a load run did and what it found wrong (`problems` empty when every invariant held)."""

    reports_sent: int = 0
    reports_accepted: int = 0
    duplicates_answered: int = 0
    storm_seconds: float = 0.0
    first_requests: list[Posted] = field(default_factory=list)
    requests: list[Posted] = field(default_factory=list)
    naive_requests: list[Posted] = field(default_factory=list)
    naive_seconds: float = 0.0
    dispatcher_actions: Counter[str] = field(default_factory=Counter)
    dispatcher_refusals: Counter[str] = field(default_factory=Counter)
    dispatcher_seconds: list[float] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def statuses(self) -> Counter[int]:
        return Counter(r.status for r in self.first_requests + self.requests + self.naive_requests)

    @property
    def server_errors(self) -> int:
        return sum(n for status, n in self.statuses.items() if status >= 500)


def percentile(values: Sequence[float], q: float) -> float:
    return float(np.percentile(np.asarray(values, dtype=float), q)) if values else 0.0


# --- the server --------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _tail(log: Path) -> str:
    return log.read_text(encoding="utf-8", errors="replace")[-LOG_TAIL_CHARS:] if log.exists() else ""


@contextmanager
def running_server(db_url: str, workdir: Path, name: str = "server") -> Iterator[str]:
    """The app server on a free loopback port over `db_url`; yields its base URL once healthy."""
    port = _free_port()
    log = workdir / f"{name}.log"
    env = {**os.environ, "OUTAGE_DB_URL": db_url, "PYTHONUNBUFFERED": "1"}
    command = [sys.executable, "-m", "streamlit", "run", "dashboard/server.py", "--server.port", str(port)]
    # An explicit address keeps it on this machine and skips Streamlit's lookup of the external IP.
    command += ["--server.headless", "true", "--server.address", "127.0.0.1"]
    command += ["--server.fileWatcherType", "none"]
    # A file, not a pipe: nobody reads a pipe during the run, and a full one would block the server.
    with log.open("wb") as log_file:
        server = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log_file, stderr=subprocess.STDOUT)
    base_url = f"http://127.0.0.1:{port}"
    try:
        _wait_until_healthy(base_url, server, log)
        yield base_url
    finally:
        server.terminate()
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(timeout=15)


@contextmanager
def running_servers(db_url: str, workdir: Path, count: int) -> Iterator[list[str]]:
    """`count` app processes on the same database, as deploy/run-app-processes.sh runs them."""
    with ExitStack() as stack:
        yield [stack.enter_context(running_server(db_url, workdir, f"server-{n + 1}")) for n in range(count)]


def _wait_until_healthy(base_url: str, server: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"the server exited with {server.returncode} while starting:\n{_tail(log)}")
        try:
            if httpx.get(f"{base_url}/healthz", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"the server was not healthy within {STARTUP_SECONDS} s:\n{_tail(log)}")


# --- the storm's data --------------------------------------------------------------------------


def prepare_storm(db: Database, customers: int, reports: int, seed: int) -> tuple[list[dict[str, Any]], str]:
    """Load a generated territory into an empty database; returns the reports to post and a token.

    The reports are a typhoon's hour ending now, so the server's own clock accepts them; their
    external ids carry a prefix of their own so that they never meet the demo's reports.
    """
    now = datetime.now(UTC).replace(microsecond=0)
    prepare_schema(db, SYSTEM_CLOCK)
    territory = generate_territory(customers, seed, now - timedelta(hours=2))
    load_territory(db, SYSTEM_CLOCK, territory)
    burst = typhoon_burst(territory, reports, seed + 1, now - timedelta(hours=1, minutes=5))
    items = [{**item, "external_id": f"load-{item['external_id']}"} for item in burst.items]
    with db.write() as session:
        token = create_token(session, SYSTEM_CLOCK, CLI_ADMIN, "load-test", "intake")
    return items, token


# --- intake clients ----------------------------------------------------------------------------


class _Ledger:
    """What the server answered for each (channel, external id), gathered from every client."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.ids: dict[tuple[str, str], set[int]] = {}
        self.problems: list[str] = []

    def record(self, items: Sequence[dict[str, Any]], answer: dict[str, Any]) -> int:
        """Note the ids of a 201 answer; returns how many were answered as duplicates."""
        duplicates = 0
        with self._lock:
            for accepted in answer["accepted"]:
                item = items[accepted["index"]]
                self.ids.setdefault((item["channel"], item["external_id"]), set()).add(accepted["id"])
                duplicates += bool(accepted["duplicate"])
        return duplicates

    def problem(self, text: str) -> None:
        with self._lock:
            self.problems.append(text)


def _post_until_answered(
    client: httpx.Client, items: list[dict[str, Any]], ledger: _Ledger, posted: list[Posted]
) -> int:
    """Post one batch; after a 429 or a server error wait and send it again, as a gateway would.

    Every answer is recorded (a 5xx is a failure of the run even when the retry then succeeds).
    Returns how many reports the server answered as duplicates.
    """
    for _ in range(MAX_ATTEMPTS):
        start = time.perf_counter()
        try:
            response = client.post("/api/reports", json=items)
        except httpx.TransportError as error:
            ledger.problem(f"a request failed without an answer: {type(error).__name__}: {error}")
            return 0
        posted.append(
            Posted(response.status_code, time.perf_counter() - start, len(items), str(client.base_url))
        )
        if response.status_code == 201:
            return ledger.record(items, response.json())
        if response.status_code == 429 or response.status_code >= 500:
            if response.status_code >= 500:
                ledger.problem(f"server error {response.status_code}: {response.text[:200]}")
            time.sleep(min(float(response.headers.get("retry-after", "1") or 1), MAX_RETRY_AFTER_S))
            continue
        ledger.problem(f"answer {response.status_code} to valid reports: {response.text[:300]}")
        return 0
    ledger.problem(f"a batch of {len(items)} reports was still refused after {MAX_ATTEMPTS} attempts")
    return 0


def _intake_client(
    base_url: str,
    token: str,
    batches: queue.Queue[list[dict[str, Any]]],
    ledger: _Ledger,
    posted: list[Posted],
) -> int:
    duplicates = 0
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=base_url, headers=headers, timeout=REQUEST_TIMEOUT_S) as client:
        while True:
            try:
                items = batches.get_nowait()
            except queue.Empty:
                return duplicates
            duplicates += _post_until_answered(client, items, ledger, posted)


def _post_concurrently(
    base_urls: Sequence[str],
    token: str,
    items: list[dict[str, Any]],
    clients: int,
    batch: int,
    ledger: _Ledger,
) -> tuple[list[Posted], int, float]:
    """The items in batches, taken in order by `clients` threads, client n posting to process
    n mod len(base_urls) (as nginx spreads gateways by address); returns requests, duplicates, seconds."""
    batches: queue.Queue[list[dict[str, Any]]] = queue.Queue()
    for first in range(0, len(items), batch):
        batches.put(items[first : first + batch])
    per_client: list[list[Posted]] = [[] for _ in range(clients)]
    duplicates = [0] * clients

    def work(n: int) -> None:
        duplicates[n] = _intake_client(base_urls[n % len(base_urls)], token, batches, ledger, per_client[n])

    threads = [threading.Thread(target=work, args=(n,), name=f"intake-{n}") for n in range(clients)]
    start = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return [p for posted in per_client for p in posted], sum(duplicates), time.perf_counter() - start


# --- dispatchers -------------------------------------------------------------------------------


class _Dispatcher:
    """A dispatcher working the board as the console does: the most urgent outage first, one step
    at a time (confirm, dispatch the best crew, set an ETR, restore once the crew is there).

    Refusals (`Conflict` when the other dispatcher or new reports changed the outage first) are the
    services doing their job and are counted; any other exception is a failure of the run.
    """

    def __init__(self, db: Database, actor: Actor, seed: int, outcome: StormOutcome, lock: threading.Lock):
        self.db = db
        self.actor = actor
        self.ctx = Context(db, SYSTEM_CLOCK, actor, BENCH_TZ)
        self.rng = random.Random(seed)
        self.outcome = outcome
        self.lock = lock

    def run(self, stop: threading.Event) -> None:
        while not stop.is_set():
            start = time.perf_counter()
            try:
                action = self._step()
            except EmergencyError as refusal:
                self._count(self.outcome.dispatcher_refusals, type(refusal).__name__, start)
            except Exception as error:  # anything else is a bug or a database failure: report it
                with self.lock:
                    self.outcome.problems.append(f"{self.actor.username}: {type(error).__name__}: {error}")
            else:
                if action:
                    self._count(self.outcome.dispatcher_actions, action, start)
            stop.wait(DISPATCHER_PAUSE_S)

    def _count(self, counter: Counter[str], key: str, start: float) -> None:
        with self.lock:
            counter[key] += 1
            self.outcome.dispatcher_seconds.append(time.perf_counter() - start)

    def _step(self) -> str | None:
        now = SYSTEM_CLOCK.now()
        board = dispatch_queries.sla_board(self.ctx)
        if not board:
            return None
        # Mostly the top of the board, as both dispatchers would see it: they collide on purpose.
        row = board[min(int(self.rng.expovariate(0.5)), len(board) - 1)]
        crews = () if row.crews else dispatch_queries.recommend_crews(self.ctx, row.outage_id, limit=1)
        if row.state in (OutageState.REPORTED, OutageState.PREDICTED):
            execute(self.ctx, ConfirmOutage(row.outage_id, expected_version=row.version))
            return "confirm"
        if not row.crews:
            if not crews:
                return None
            execute(self.ctx, DispatchCrew(row.outage_id, crews[0].crew_id, crew_version=crews[0].version))
            return "dispatch"
        if row.etr_source != "dispatcher":
            execute(
                self.ctx,
                SetEtr(
                    row.outage_id,
                    now + timedelta(hours=2),
                    "medium",
                    "dispatcher",
                    expected_version=row.version,
                ),
            )
            return "set ETR"
        execute(self.ctx, RestoreOutage(row.outage_id, expected_version=row.version))
        return "restore"


@contextmanager
def dispatchers_acting(db: Database, count: int, outcome: StormOutcome) -> Iterator[None]:
    stop = threading.Event()
    lock = threading.Lock()
    threads = []
    for n in range(count):
        worker = _Dispatcher(db, Actor(f"load-dispatcher-{n + 1}", Role.DISPATCHER), n, outcome, lock)
        threads.append(threading.Thread(target=worker.run, args=(stop,), name=f"dispatcher-{n + 1}"))
    for thread in threads:
        thread.start()
    try:
        yield
    finally:
        stop.set()
        for thread in threads:
            thread.join()


# --- the checks --------------------------------------------------------------------------------


def check_stored_once(db: Database, items: Sequence[dict[str, Any]], ledger: _Ledger) -> list[str]:
    """Every report sent is stored exactly once, under the one id every answer about it gave."""
    problems: list[str] = []
    keys = sorted({(item["channel"], item["external_id"]) for item in items})
    stored: dict[tuple[str, str], list[int]] = {}
    with db.read() as session:
        for start in range(0, len(keys), 500):
            chunk = keys[start : start + 500]
            found = session.execute(
                select(Report.channel, Report.external_id, Report.id).where(
                    tuple_(Report.channel, Report.external_id).in_(chunk)
                )
            )
            for channel, external_id, report_id in found:
                stored.setdefault((str(channel), external_id), []).append(report_id)
    for key in keys:
        rows = stored.get(key, [])
        answered = ledger.ids.get(key, set())
        if len(rows) != 1:
            problems.append(f"report {key} is stored {len(rows)} times")
        elif not answered:
            problems.append(f"report {key} was never answered as accepted")
        elif answered != set(rows):
            problems.append(f"report {key} was answered with ids {sorted(answered)}, stored as {rows}")
    return problems


def check_no_double_booking(db: Database) -> list[str]:
    open_statuses = (AssignmentStatus.DISPATCHED, AssignmentStatus.EN_ROUTE, AssignmentStatus.ON_SITE)
    with db.read() as session:
        doubled = session.execute(
            select(CrewAssignment.crew_id, func.count())
            .where(CrewAssignment.status.in_(open_statuses))
            .group_by(CrewAssignment.crew_id)
            .having(func.count() > 1)
        ).all()
    return [f"crew {crew_id} holds {n} open jobs at once" for crew_id, n in doubled]


# --- the run -----------------------------------------------------------------------------------


def run_storm(
    db_url: str,
    workdir: Path,
    *,
    customers: int = LOAD_CUSTOMERS,
    reports: int = LOAD_REPORTS,
    clients: int = LOAD_CLIENTS,
    batch: int = LOAD_BATCH,
    naive: int = NAIVE_REPORTS,
    dispatchers: int = DISPATCHERS,
    seed: int = DEFAULT_SEED,
    processes: int = 1,
    say: Any = None,
) -> StormOutcome:
    """Run the storm against an empty database at `db_url`, through `processes` app processes on
    it, and check what it left there."""

    def note(text: str) -> None:
        if say is not None:
            print(f"load: {text}", file=say, flush=True)

    db = Database(db_url)
    outcome = StormOutcome()
    ledger = _Ledger()
    try:
        note(f"generating {customers:,} customers and {reports:,} + {naive:,} reports")
        items, token = prepare_storm(db, customers, reports + naive, seed)
        # The storm's first report, alone, makes the server build its network model before the clock
        # starts (as `bench intake` builds it first); that request is timed on a row of its own.
        # The first report to each process, alone, makes it build its network model before the clock
        # starts (as `bench intake` builds it first); those requests are timed on a row of their own.
        first, storm, one_by_one = items[:processes], items[processes:reports], items[reports:]
        with running_servers(db_url, workdir, processes) as base_urls:
            for n, base_url in enumerate(base_urls):
                warmed, _, _ = _post_concurrently([base_url], token, first[n : n + 1], 1, 1, ledger)
                outcome.first_requests += warmed
            note(
                f"{processes} server(s) at {', '.join(base_urls)}; {clients} clients x batches of {batch}, "
                f"{dispatchers} dispatchers"
            )
            with dispatchers_acting(db, dispatchers, outcome):
                outcome.requests, outcome.duplicates_answered, outcome.storm_seconds = _post_concurrently(
                    base_urls, token, storm, clients, batch, ledger
                )
            note(f"naive baseline: {len(one_by_one):,} reports, one client, one report per request")
            outcome.naive_requests, naive_duplicates, outcome.naive_seconds = _post_concurrently(
                base_urls[:1], token, one_by_one, 1, 1, ledger
            )
            outcome.duplicates_answered += naive_duplicates
        outcome.reports_sent = len(items)
        outcome.reports_accepted = sum(len(ids) for ids in ledger.ids.values())
        note("checking every report is stored once and no crew is booked twice")
        outcome.problems += ledger.problems
        outcome.problems += check_stored_once(db, items, ledger)
        outcome.problems += check_no_double_booking(db)
    finally:
        db.dispose()
    return outcome


def load_rows(
    outcome: StormOutcome, clients: int, batch: int, dispatchers: int, setup: str = ""
) -> list[BenchRow]:
    """The run's figures; `setup` ("one process on PostgreSQL: ") starts every row's name."""
    storm_reports = sum(r.reports for r in outcome.requests if r.status == 201)
    naive_reports = sum(r.reports for r in outcome.naive_requests if r.status == 201)
    latencies = [r.seconds for r in outcome.requests]
    naive_latencies = [r.seconds for r in outcome.naive_requests]
    naive_rate = naive_reports / outcome.naive_seconds if outcome.naive_seconds else None
    actions = ", ".join(f"{n} {name}" for name, n in sorted(outcome.dispatcher_actions.items())) or "none"
    refusals = ", ".join(f"{n} {name}" for name, n in sorted(outcome.dispatcher_refusals.items())) or "none"
    first_seconds = max((r.seconds for r in outcome.first_requests), default=0.0)
    return [
        BenchRow(
            f"{setup}first request after start (the server builds its network model)", first_seconds, "s"
        ),
        BenchRow(
            f"{setup}HTTP intake, {storm_reports:,} reports, {clients} clients x batches of {batch}, "
            f"{dispatchers} dispatchers acting",
            storm_reports / outcome.storm_seconds,
            "reports/s",
            baseline=naive_rate,
            baseline_description=(
                f"{naive_reports:,} more reports of the same storm from one client, one report per request, "
                "to the same server in the same run"
            ),
            higher_is_better=True,
        ),
        *(
            BenchRow(
                f"{setup}request latency p{q} ({batch} reports per request)", percentile(latencies, q), "s"
            )
            for q in (50, 95, 99)
        ),
        *(
            BenchRow(
                f"{setup}naive request latency p{q} (1 report per request)",
                percentile(naive_latencies, q),
                "s",
            )
            for q in (50, 95, 99)
        ),
        BenchRow(
            f"{setup}dispatcher actions done ({actions})",
            float(sum(outcome.dispatcher_actions.values())),
            "actions",
        ),
        BenchRow(
            f"{setup}dispatcher actions refused ({refusals}: someone changed the outage first)",
            float(sum(outcome.dispatcher_refusals.values())),
            "actions",
        ),
        BenchRow(
            f"{setup}dispatcher step p95 (read the board, then act)",
            percentile(outcome.dispatcher_seconds, 95),
            "s",
        ),
        BenchRow(
            f"{setup}requests answered with a server error (5xx)", float(outcome.server_errors), "requests"
        ),
        BenchRow(
            f"{setup}broken invariants (lost, doubled or misnumbered reports; double-booked crews)",
            float(len(outcome.problems)),
            "problems",
        ),
    ]


def intake_rate(outcome: StormOutcome) -> float:
    """Reports/s of the storm's batches (the naive baseline apart)."""
    stored = sum(r.reports for r in outcome.requests if r.status == 201)
    return stored / outcome.storm_seconds if outcome.storm_seconds else 0.0


def bench_load(
    customers: int = LOAD_CUSTOMERS,
    reports: int = LOAD_REPORTS,
    clients: int = LOAD_CLIENTS,
    batch: int = LOAD_BATCH,
    pg_url: str | None = None,
) -> list[BenchRow]:
    """The storm on a temporary SQLite file, or with `pg_url` on PostgreSQL through one app process
    and then through two; fails loudly, after printing the figures, when an invariant broke."""
    if pg_url is not None:
        return _bench_load_on_postgres(pg_url, customers, reports, clients, batch)
    with tempfile.TemporaryDirectory() as directory:
        url = f"sqlite:///{Path(directory) / 'load.db'}"
        outcome = run_storm(
            url,
            Path(directory),
            customers=customers,
            reports=reports,
            clients=clients,
            batch=batch,
            say=sys.stderr,
        )
    rows = load_rows(outcome, clients, batch, DISPATCHERS)
    _fail_on_problems(rows, [outcome])
    return rows


def _bench_load_on_postgres(
    pg_url: str, customers: int, reports: int, clients: int, batch: int
) -> list[BenchRow]:
    """The same storm twice on one PostgreSQL server, each time on a fresh database: through one
    app process, then through two (the intake clients split between them; the dispatchers act on
    the shared database through the commands the console runs). Leases keep the server's loops in
    one of the two processes."""
    outcomes: list[StormOutcome] = []
    rows: list[BenchRow] = []
    for processes in (1, 2):
        with tempfile.TemporaryDirectory() as directory, scratch_postgres_database(pg_url) as url:
            outcome = run_storm(
                url,
                Path(directory),
                customers=customers,
                reports=reports,
                clients=clients,
                batch=batch,
                processes=processes,
                say=sys.stderr,
            )
        outcomes.append(outcome)
        label = "one process" if processes == 1 else "two processes"
        rows += load_rows(outcome, clients, batch, DISPATCHERS, setup=f"PostgreSQL, {label}: ")
    one, two = outcomes
    rows.append(
        BenchRow(
            f"PostgreSQL: HTTP intake through two app processes ({clients} clients split between them)",
            intake_rate(two),
            "reports/s",
            baseline=intake_rate(one),
            baseline_description="the same storm through one app process on the same PostgreSQL, same run",
            higher_is_better=True,
        )
    )
    _fail_on_problems(rows, outcomes)
    return rows


@contextmanager
def scratch_postgres_database(admin_url: str) -> Iterator[str]:
    """A new database on the server `admin_url` names (its account may create databases), dropped after."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    admin_url = normalise_url(admin_url)
    name = f"outage_bench_{uuid.uuid4().hex[:12]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
        try:
            yield make_url(admin_url).set(database=name).render_as_string(hide_password=False)
        finally:
            with admin.connect() as connection:
                connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        admin.dispose()


def _fail_on_problems(rows: list[BenchRow], outcomes: list[StormOutcome]) -> None:
    problems = [problem for outcome in outcomes for problem in outcome.problems]
    if problems:
        print(format_table(rows), file=sys.stderr)
        shown = "\n".join(problems[:20])
        raise SystemExit(f"load: {len(problems)} broken invariant(s):\n{shown}")
