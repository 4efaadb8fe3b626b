"""Two app processes on one PostgreSQL database, as deploy/run-app-processes.sh runs them behind nginx.

Reports go to both processes' intake API in batches with the clients' external ids; a dispatcher
signs in on one process and dispatches on each (one signed-in browser: the session is in the
database); then the process holding the background loops' leases is killed (SIGKILL) while a batch
is in flight, the client sends that batch again to the survivor, and the database must hold every
report once, no outage twice, each dispatch once with one audit row, and the leases must have moved
to the survivor within a lease's time to live.

Needs PostgreSQL (OUTAGE_TEST_PG_URL) and Chromium; in CI (CI=true) their absence fails the test.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import func, select

from dashboard.auth_routes import COOKIE_NAME
from emergency.core.actor import CLI_ADMIN
from emergency.core.clock import SYSTEM_CLOCK
from emergency.core.db import Database
from emergency.core.models import (
    ACTIVE_OUTAGE_STATES,
    AuditEvent,
    CrewAssignment,
    Customer,
    Device,
    Outage,
    OutageState,
    Report,
)
from emergency.core.settings import set_setting
from emergency.core.tokens import create_token
from tests.e2e.conftest import INIT_SECONDS, ROOT, free_port, read_log, stop, wait_until_healthy

pytestmark = pytest.mark.browser
TIMEOUT_MS = 60_000
LOOP_SECONDS = 1  # server.loop_seconds for this database: the loops renew their leases every second
LEASE_SECONDS = 5  # server.lease_seconds: a dead holder's loops move within this (plus one round)
LOOPS = {"sla-monitor", "notifications", "warning-expiry", "cap-feeds"}
BATCH = 100
BIG_BATCH = 5_000  # the API's largest: long enough in flight to be killed during it


@dataclass
class AppProcess:
    name: str
    base_url: str
    server: subprocess.Popen[bytes]
    log: Path

    def health(self) -> dict[str, Any]:
        answer = httpx.get(f"{self.base_url}/healthz", timeout=5)
        assert answer.status_code == 200, answer.text
        return dict(answer.json())

    def lease_holders(self) -> dict[str, str]:
        return {lease["name"]: lease["holder"] for lease in self.health()["leases"] if lease["held"]}


def start_process(name: str, db_url: str, workdir: Path) -> AppProcess:
    port = free_port()
    log = workdir / f"{name}.log"
    env = {**os.environ, "OUTAGE_DB_URL": db_url, "OUTAGE_DEMO_SIMULATOR": "off", "PYTHONUNBUFFERED": "1"}
    command = [sys.executable, "-m", "streamlit", "run", "dashboard/server.py", "--server.port", str(port)]
    command += ["--server.headless", "true", "--server.address", "127.0.0.1"]
    command += ["--server.fileWatcherType", "none"]
    with log.open("wb") as log_file:
        server = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log_file, stderr=subprocess.STDOUT)
    process = AppProcess(name, f"http://127.0.0.1:{port}", server, log)
    wait_until_healthy(process.base_url, server, log)
    return process


@pytest.fixture
def two_process_database(postgres_url: str) -> Iterator[str]:
    """A fresh PostgreSQL database with the demo territory, its loops turning every second."""
    init = subprocess.run(
        [sys.executable, "-m", "emergency", "--db", postgres_url, "init", "--demo", "--customers", "3000"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=INIT_SECONDS,
        check=False,
    )
    assert init.returncode == 0, init.stdout + init.stderr
    db = Database(postgres_url)
    try:
        with db.write() as session:
            set_setting(session, "server.loop_seconds", LOOP_SECONDS, SYSTEM_CLOCK, by="test")
            set_setting(session, "server.lease_seconds", LEASE_SECONDS, SYSTEM_CLOCK, by="test")
    finally:
        db.dispose()
    yield postgres_url


@pytest.fixture
def processes(two_process_database: str, tmp_path: Path) -> Iterator[tuple[AppProcess, AppProcess]]:
    """Process a starts first and takes every loop's lease; then process b."""
    started: list[AppProcess] = []
    try:
        first = start_process("a", two_process_database, tmp_path)
        started.append(first)
        _wait_for(lambda: set(first.lease_holders()) == LOOPS, "a to take the loops' leases")
        started.append(start_process("b", two_process_database, tmp_path))
        yield started[0], started[1]
    except BaseException:
        for process in started:
            print(f"--- log of process {process.name} ---\n{read_log(process.log)}")
        raise
    finally:
        for process in started:
            stop(process.server)


def _wait_for(condition: Any, what: str, seconds: float = 30.0) -> float:
    """Poll until `condition()` holds; returns how long it took."""
    start = time.monotonic()
    while not condition():
        if time.monotonic() - start > seconds:
            pytest.fail(f"waited {seconds} s for {what}")
        time.sleep(0.1)
    return time.monotonic() - start


def _moved(survivor: AppProcess, holder: str, since: float) -> float:
    """Seconds from `since` until the survivor holds every loop's lease (polled every 0.1 s)."""
    _wait_for(lambda: survivor.lease_holders() == dict.fromkeys(LOOPS, holder), "the leases to move")
    return time.monotonic() - since


class Intake:
    """An intake client (a call centre's gateway) that remembers what each answer said."""

    def __init__(self, token: str) -> None:
        self.headers = {"Authorization": f"Bearer {token}"}
        self.answered: dict[str, set[int]] = {}

    def post(self, process: AppProcess, items: list[dict[str, Any]]) -> httpx.Response:
        response = httpx.post(
            f"{process.base_url}/api/reports", json=items, headers=self.headers, timeout=120
        )
        if response.status_code == 201:
            for accepted in response.json()["accepted"]:
                external_id = items[accepted["index"]]["external_id"]
                self.answered.setdefault(external_id, set()).add(accepted["id"])
        return response


def _reports(db: Database, prefix: str, count: int, offset: int = 0) -> list[dict[str, Any]]:
    """`count` no-power calls from the territory's customers, each with its own external id."""
    with db.read() as session:
        accounts = list(session.scalars(select(Customer.account_no).order_by(Customer.id)))
    return [
        {
            "channel": "hotline",
            "external_id": f"{prefix}-{offset + n:06d}",
            "kind": "no_power",
            "account_no": accounts[(offset + n) * 7 % len(accounts)],
        }
        for n in range(count)
    ]


def _dispatch_on(page: Page, process: AppProcess, outage_id: int, device: str) -> None:
    """Open the console on `process`, choose the outage in the picker by its id and device, and
    dispatch the recommended crew."""
    page.goto(f"{process.base_url}/dispatch", wait_until="domcontentloaded")
    expect(page.get_by_text("Signed in as dispatcher")).to_be_visible(timeout=TIMEOUT_MS)
    # The newest picker: while the live view redraws, the old one can stand beside the new.
    picker = page.get_by_role("combobox", name="Outage").last
    expect(picker).to_be_visible(timeout=TIMEOUT_MS)
    picker.click()
    # Options read "<id> · <device> · <state>"; the filter matches anywhere, so "2 · " alone would
    # also match outage 232: the device makes the text one outage's.
    picker.fill(f"{outage_id} · {device} · ")
    picker.press("Enter")
    expect(page.get_by_role("heading", name=re.compile(rf"^Outage {outage_id} · ")).last).to_be_visible(
        timeout=TIMEOUT_MS
    )
    question = page.get_by_text(re.compile(rf"Dispatch crew \S+ to outage {outage_id}"))
    # A click landing during the console's 10-second redraw can be dropped; a dispatcher clicks again.
    for _ in range(3):
        page.get_by_role("button", name="Dispatch", exact=True).last.click()
        try:
            expect(question).to_be_visible(timeout=10_000)
            break
        except AssertionError:
            continue
    page.get_by_role("button", name="Yes, do it").last.click()
    expect(page.get_by_text(re.compile(rf"dispatched to outage {outage_id} · \S+, ETA"))).to_be_visible(
        timeout=TIMEOUT_MS
    )


def _waiting_outages(db: Database) -> list[tuple[int, str]]:
    """Outages no crew was sent to (not a lone caller's service outage), with their device codes."""
    with db.read() as session:
        rows = session.execute(
            select(Outage.id, Device.code)
            .join(Device, Device.id == Outage.device_id)
            .where(Outage.state.in_((OutageState.REPORTED, OutageState.PREDICTED, OutageState.CONFIRMED)))
            .where(Outage.customer_id.is_(None))
            .where(~select(CrewAssignment.id).where(CrewAssignment.outage_id == Outage.id).exists())
            .order_by(Outage.id)
        ).all()
    return [(int(outage_id), str(code)) for outage_id, code in rows]


def test_two_processes_share_the_work_and_a_killed_one_loses_nothing(
    processes: tuple[AppProcess, AppProcess],
    two_process_database: str,
    page: Page,
    external_requests: list[str],
) -> None:
    a, b = processes
    db = Database(two_process_database)
    try:
        with db.write() as session:
            intake = Intake(create_token(session, SYSTEM_CLOCK, CLI_ADMIN, "gateway", "intake"))
        a_holder, b_holder = a.health()["process"], b.health()["process"]
        assert a_holder != b_holder
        assert b.lease_holders() == dict.fromkeys(LOOPS, a_holder), "one process runs the loops"

        # Report batches to both processes.
        batches = [_reports(db, "two", BATCH, offset=n * BATCH) for n in range(4)]
        for n, batch in enumerate(batches):
            response = intake.post((a, b)[n % 2], batch)
            assert response.status_code == 201, response.text

        # A dispatcher signs in on a and dispatches one outage on each process.
        page.goto(f"{a.base_url}/login", wait_until="domcontentloaded")
        page.get_by_label("Username", exact=True).fill("dispatcher")
        page.get_by_label("Password", exact=True).fill("demo-dispatcher")
        page.get_by_role("button", name="Log in").click()
        expect(page.get_by_text("Signed in as dispatcher")).to_be_visible(timeout=TIMEOUT_MS)
        # The login fetches its cookie in the background: only then does a new page load sign in.
        _wait_for(lambda: any(c["name"] == COOKIE_NAME for c in page.context.cookies()), "the cookie", 60)
        (first, first_device), (second, second_device) = _waiting_outages(db)[:2]
        _dispatch_on(page, a, first, first_device)
        _dispatch_on(page, b, second, second_device)  # the same browser: its session works on b

        # Kill a, the loops' holder, while a big batch is in flight to it; the client resends to b.
        big = _reports(db, "killed", BIG_BATCH)
        outcome: dict[str, Any] = {}

        def send() -> None:
            try:
                outcome["status"] = intake.post(a, big).status_code
            except httpx.TransportError as error:
                outcome["error"] = error

        sender = threading.Thread(target=send)
        sender.start()
        time.sleep(0.5)
        assert sender.is_alive(), f"the batch was answered before the kill: {outcome}"
        os.kill(a.server.pid, signal.SIGKILL)
        killed_at = time.monotonic()
        moved_after: list[float] = []
        watcher = threading.Thread(target=lambda: moved_after.append(_moved(b, b_holder, killed_at)))
        watcher.start()
        sender.join(timeout=30)
        assert "error" in outcome, f"the killed process answered: {outcome}"
        retried = intake.post(b, big)
        assert retried.status_code == 201, retried.text
        watcher.join()
        assert moved_after, "the leases never moved to b"
        assert moved_after[0] <= LEASE_SECONDS + LOOP_SECONDS + 3, (
            f"the leases moved {moved_after[0]:.1f} s after"
        )

        _check_nothing_lost_or_doubled(db, [*batches, big], intake, (first, second))
        assert external_requests == []
    finally:
        db.dispose()


def _check_nothing_lost_or_doubled(
    db: Database, batches: list[list[dict[str, Any]]], intake: Intake, dispatched: tuple[int, int]
) -> None:
    sent = [item["external_id"] for batch in batches for item in batch]
    with db.read() as session:
        stored = dict(
            session.execute(
                select(Report.external_id, func.count())
                .where(Report.channel == "hotline", Report.external_id.in_(sent))
                .group_by(Report.external_id)
            ).all()
        )
        ids = dict(
            session.execute(select(Report.external_id, Report.id).where(Report.external_id.in_(sent))).all()
        )
        doubled_outages = session.execute(
            # A lone caller's service outage stands at its transformer beside any outage of it.
            select(Outage.device_id, Outage.customer_id, func.count())
            .where(Outage.state.in_(ACTIVE_OUTAGE_STATES))
            .group_by(Outage.device_id, Outage.customer_id)
            .having(func.count() > 1)
        ).all()
        for outage_id in dispatched:
            jobs = session.scalar(
                select(func.count()).select_from(CrewAssignment).where(CrewAssignment.outage_id == outage_id)
            )
            audited = session.scalar(
                select(func.count())
                .select_from(AuditEvent)
                .where(AuditEvent.action == "outage.dispatch", AuditEvent.entity_id == str(outage_id))
            )
            assert (jobs, audited) == (1, 1), f"outage {outage_id}: {jobs} crews sent, {audited} audit rows"
    assert {k: n for k, n in stored.items() if n != 1} == {}, "reports stored more than once"
    assert sorted(set(sent) - set(stored)) == [], "reports lost"
    assert {k: v for k, v in intake.answered.items() if v != {ids[k]}} == {}, "answered ids differ"
    assert doubled_outages == [], "a device has two active outages"
