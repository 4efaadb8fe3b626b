"""A process killed in the middle of a batch leaves the database consistent, on SQLite and PostgreSQL.

The victim is `python -m emergency ingest FILE` itself, in a subprocess with one addition: a listener
on every session's commit that says how many reports the transaction can see, and (in "hold" mode)
then waits there, inside the transaction, until it is killed with SIGKILL. Nothing in the
application knows about the test.

After each kill: the batch is all in or all out (the file's reports stored form whole batches),
SQLite's integrity and foreign-key checks pass, no outage is left without the reports it was
predicted from, and running the file again stores every report exactly once.
"""

from __future__ import annotations

import json
import queue
import random
import subprocess
import sys
import threading
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import exists, func, select

from emergency.core.clock import SYSTEM_CLOCK, FakeClock
from emergency.core.db import Database
from emergency.core.models import Outage, OutageState, Report
from emergency.intake.ingest_file import CLI_INTAKE
from tests.support.commands import ingest_file
from tests.support.small_territory import build_small_territory

ROOT = Path(__file__).resolve().parents[2]
BATCH = 40
BATCHES = 5
RANDOM_KILLS = 2
LINE_TIMEOUT_S = 60
PREFIX = "CRASH-"

# Runs `python -m emergency ARGS...` after hooking every commit; argv[1] is "hold" or "announce".
VICTIM = r"""
import sys, time
from sqlalchemy import event, func, select
from sqlalchemy.orm import Session
from emergency import cli
from emergency.core.models import Report

HOLD = sys.argv[1] == "hold"

@event.listens_for(Session, "before_commit")
def _about_to_commit(session):
    mine = Report.external_id.like("CRASH-%")
    print(f"writing {session.scalar(select(func.count()).select_from(Report).where(mine))}", flush=True)
    if HOLD:
        time.sleep(600)

sys.exit(cli.main(sys.argv[2:]))
"""


@pytest.fixture
def reports_file(database: Database, tmp_path: Path) -> Path:
    """BATCHES x BATCH reports from the small territory's customers, each with its own external id."""
    territory = build_small_territory(database, FakeClock())
    accounts = [a for accounts in territory.account_by_transformer.values() for a in accounts]
    start = SYSTEM_CLOCK.now() - timedelta(minutes=50)
    path = tmp_path / "reports.jsonl"
    with path.open("w", encoding="utf-8") as out:
        for n in range(BATCH * BATCHES):
            report = {
                "channel": "hotline",
                "external_id": f"{PREFIX}{n:05d}",
                "kind": "no_power",
                "account_no": accounts[n % len(accounts)],
                "reported_at": (start + timedelta(seconds=10 * n)).isoformat(),
            }
            out.write(json.dumps(report) + "\n")
    return path


class Victim:
    """`python -m emergency ingest` in a subprocess, its "writing N" lines read as they come."""

    def __init__(self, db: Database, path: Path, mode: str, log: Path) -> None:
        command = [
            sys.executable,
            "-c",
            VICTIM,
            mode,
            "--db",
            db.url,
            "ingest",
            str(path),
            "--batch",
            str(BATCH),
        ]
        self._log = log.open("wb")
        self.process = subprocess.Popen(
            command, cwd=ROOT, stdout=subprocess.PIPE, stderr=self._log, text=True
        )
        self._lines: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()
        self.log = log

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self._lines.put(line.strip())
        self._lines.put(None)

    def next_commit(self) -> int:
        """Wait until the victim is about to commit; returns how many reports its transaction sees."""
        line = self._lines.get(timeout=LINE_TIMEOUT_S)
        if line is None:
            self.process.wait()
            pytest.fail(f"the victim ended ({self.process.returncode}) early:\n{self.log.read_text()}")
        assert line.startswith("writing "), line
        return int(line.split()[1])

    def kill(self) -> None:
        self.process.kill()  # SIGKILL: no handler, no cleanup, no rollback by the victim itself
        self.process.wait(timeout=30)
        self._log.close()


@pytest.fixture
def victims(tmp_path: Path) -> Iterator[list[Victim]]:
    started: list[Victim] = []
    yield started
    for victim in started:
        if victim.process.poll() is None:
            victim.kill()


def stored(db: Database) -> int:
    with db.read() as session:
        return (
            session.scalar(
                select(func.count()).select_from(Report).where(Report.external_id.like(f"{PREFIX}%"))
            )
            or 0
        )


def assert_consistent(db: Database) -> None:
    with db.read() as session:
        if db.dialect == "sqlite":
            assert session.connection().exec_driver_sql("PRAGMA integrity_check").scalars().all() == ["ok"]
            assert session.connection().exec_driver_sql("PRAGMA foreign_key_check").all() == []
        # A merged outage hands its reports to the one that absorbed it; every other must have some.
        orphans = session.scalars(
            select(Outage.id).where(
                Outage.state != OutageState.MERGED, ~exists().where(Report.outage_id == Outage.id)
            )
        ).all()
        assert orphans == [], "outages stored without the reports they were predicted from"


def assert_retry_stores_each_once(db: Database, path: Path) -> None:
    summary = ingest_file(db, SYSTEM_CLOCK, CLI_INTAKE, path, batch_size=BATCH)
    assert summary.problems == []
    assert stored(db) == BATCH * BATCHES
    again = ingest_file(db, SYSTEM_CLOCK, CLI_INTAKE, path, batch_size=BATCH)
    assert again.problems == []
    assert stored(db) == BATCH * BATCHES, "a second retry stores nothing new"
    with db.read() as session:
        doubled = session.execute(
            select(Report.external_id)
            .where(Report.external_id.like(f"{PREFIX}%"))
            .group_by(Report.channel, Report.external_id)
            .having(func.count() > 1)
        ).all()
    assert doubled == []


def test_killed_inside_the_transaction_the_batch_is_all_out_and_the_retry_goes_in_once(
    database: Database, reports_file: Path, victims: list[Victim], tmp_path: Path
) -> None:
    victim = Victim(database, reports_file, "hold", tmp_path / "victim.log")
    victims.append(victim)

    seen_inside = victim.next_commit()
    victim.kill()

    assert seen_inside == BATCH, "the victim was killed with its whole first batch written, uncommitted"
    assert stored(database) == 0
    assert_consistent(database)
    assert_retry_stores_each_once(database, reports_file)
    assert_consistent(database)


def test_killed_at_random_moments_every_batch_is_all_in_or_all_out(
    database: Database, reports_file: Path, victims: list[Victim], tmp_path: Path
) -> None:
    chance = random.Random()
    for round_ in range(RANDOM_KILLS):
        before = stored(database)
        victim = Victim(database, reports_file, "announce", tmp_path / f"victim-{round_}.log")
        victims.append(victim)
        # Somewhere from inside one batch's commit to the middle of the next batch.
        commits = chance.randint(1, BATCHES - 1)
        for _ in range(commits):
            victim.next_commit()
        threading.Event().wait(chance.uniform(0, 0.05))
        victim.kill()

        after = stored(database)
        assert after % BATCH == 0, f"round {round_}: {after} reports stored, not whole batches of {BATCH}"
        assert after >= before
        assert_consistent(database)

    assert_retry_stores_each_once(database, reports_file)
    assert_consistent(database)
