"""Backup and restore round trips on SQLite and PostgreSQL, a backup taken while writes go on, and
the refusals: a target that already has tables, a file that is not a backup, the other kind of
database's backup."""

from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import DBAPIError

from emergency import cli
from emergency.core import backup as backup_module
from emergency.core.actor import Actor
from emergency.core.backup import backup_database, pg_tool_path, restore_database
from emergency.core.clock import SYSTEM_CLOCK, FakeClock
from emergency.core.db import Database
from emergency.core.errors import Conflict, InvalidInput
from emergency.core.models import Base, Report
from tests.support.commands import submit_reports
from tests.support.small_territory import SmallTerritory, build_small_territory

GATEWAY = Actor("gateway", "intake")


@pytest.fixture
def territory(database: Database) -> SmallTerritory:
    return build_small_territory(database, FakeClock())


@pytest.fixture
def empty_target(database: Database, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Database]:
    """A database of the same kind as `database`, with nothing in it."""
    if database.dialect == "sqlite":
        url = f"sqlite:///{tmp_path / 'restored' / 'outage-desk.db'}"
    else:
        url = request.getfixturevalue("postgres_url")
    target = Database(url)
    try:
        yield target
    finally:
        target.dispose()


def calls(territory: SmallTerritory, prefix: str, count: int) -> list[dict[str, Any]]:
    accounts = [a for accounts in territory.account_by_transformer.values() for a in accounts]
    start = SYSTEM_CLOCK.now() - timedelta(minutes=40)
    return [
        {
            "channel": "hotline",
            "external_id": f"{prefix}{n:05d}",
            "kind": "no_power",
            "account_no": accounts[n % len(accounts)],
            "reported_at": (start + timedelta(seconds=n)).isoformat(),
        }
        for n in range(count)
    ]


def every_row(db: Database) -> dict[str, list[tuple[Any, ...]]]:
    """Each table's rows in primary-key order."""
    with db.read() as session:
        return {
            table.name: [
                tuple(row) for row in session.execute(select(table).order_by(*table.primary_key.columns))
            ]
            for table in Base.metadata.sorted_tables
        }


def count_reports(db: Database, prefix: str) -> int:
    with db.read() as session:
        return (
            session.scalar(
                select(func.count()).select_from(Report).where(Report.external_id.like(f"{prefix}%"))
            )
            or 0
        )


def test_a_round_trip_restores_every_row_of_every_table(
    database: Database, territory: SmallTerritory, empty_target: Database, tmp_path: Path
) -> None:
    result = submit_reports(database, SYSTEM_CLOCK, GATEWAY, calls(territory, "RT-", 30))
    assert not result.errors and result.analysis.predicted, "reports and the outages they predict"
    original = every_row(database)

    backup = backup_database(database, tmp_path / "backups" / "outage-desk.backup", env=os.environ)
    restored = restore_database(empty_target, tmp_path / "backups" / "outage-desk.backup", env=os.environ)

    assert every_row(empty_target) == original
    assert sum(len(rows) for rows in original.values()) > 100
    assert restored.revision == backup.revision and restored.tables == backup.tables >= len(original)
    assert not (tmp_path / "backups" / "outage-desk.backup.partial").exists()
    # The restored audit trail is as append-only as the original: the triggers came back too.
    assert original["audit_events"], "rows for the trigger to guard"
    with pytest.raises(DBAPIError, match="append-only"), empty_target.write() as session:
        session.execute(text("UPDATE audit_events SET actor = 'someone-else'"))


def test_restore_refuses_a_database_with_tables_unless_forced(
    database: Database, territory: SmallTerritory, tmp_path: Path
) -> None:
    submit_reports(database, SYSTEM_CLOCK, GATEWAY, calls(territory, "A-", 5))
    backup = tmp_path / "before.backup"
    backup_database(database, backup, env=os.environ)
    as_backed_up = every_row(database)
    submit_reports(database, SYSTEM_CLOCK, GATEWAY, calls(territory, "B-", 5))

    with pytest.raises(
        Conflict, match=r"already has .* tables; restore into an empty database, or pass --force"
    ):
        restore_database(database, backup, env=os.environ)
    assert count_reports(database, "B-") == 5, "a refused restore changes nothing"

    restore_database(database, backup, force=True, env=os.environ)

    assert every_row(database) == as_backed_up
    assert count_reports(database, "B-") == 0


def test_a_backup_taken_while_another_thread_writes_holds_whole_batches(
    database: Database, territory: SmallTerritory, empty_target: Database, tmp_path: Path
) -> None:
    batch = 25
    stop = threading.Event()
    committed: list[int] = []
    failures: list[BaseException] = []

    def write() -> None:
        try:
            n = 0
            while not stop.is_set() and n < 60:
                result = submit_reports(
                    database, SYSTEM_CLOCK, GATEWAY, calls(territory, f"W{n:03d}-", batch)
                )
                assert not result.errors
                n += 1
                committed.append(n)
        except BaseException as error:  # surfaced in the test's thread below
            failures.append(error)

    writer = threading.Thread(target=write)
    writer.start()
    try:
        while len(committed) < 2 and writer.is_alive():
            stop.wait(0.01)
        before = len(committed)
        backup_database(database, tmp_path / "live.backup", env=os.environ)
        after = len(committed)
    finally:
        stop.set()
        writer.join()
    assert not failures, failures

    restore_database(empty_target, tmp_path / "live.backup", env=os.environ)

    in_backup = count_reports(empty_target, "W")
    assert in_backup % batch == 0, f"{in_backup} reports: a batch cut in half"
    assert before * batch <= in_backup <= after * batch
    if database.dialect == "sqlite":
        with sqlite3.connect(tmp_path / "live.backup") as copy:
            assert copy.execute("PRAGMA integrity_check").fetchall() == [("ok",)]


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"", "is not an Outage Desk backup"),
        (b"channel,kind\nhotline,no_power\n", "is not an Outage Desk backup"),
        (b"PGDMP" + b"\x00" * 200, "not a readable PostgreSQL dump|a backup of a postgresql database"),
    ],
)
def test_restore_refuses_a_file_that_is_not_a_backup(
    database: Database, empty_target: Database, tmp_path: Path, content: bytes, reason: str
) -> None:
    path = tmp_path / "not-a-backup"
    path.write_bytes(content)

    with pytest.raises(InvalidInput, match=reason):
        restore_database(empty_target, path, env=os.environ)

    assert not empty_target.has_schema()


def test_restore_refuses_a_sqlite_file_of_another_application(tmp_path: Path) -> None:
    other = tmp_path / "other.db"
    connection = sqlite3.connect(other)
    connection.execute("CREATE TABLE notes (id INTEGER PRIMARY KEY, text TEXT)")
    connection.close()
    target = Database(f"sqlite:///{tmp_path / 'target.db'}")
    try:
        with pytest.raises(InvalidInput, match="is not an Outage Desk backup"):
            restore_database(target, other, env=os.environ)
        assert not target.has_schema()
    finally:
        target.dispose()


def test_restore_refuses_the_other_kind_of_database(database: Database, tmp_path: Path) -> None:
    path = tmp_path / "other-kind.backup"
    path.write_bytes(b"PGDMP" if database.dialect == "sqlite" else b"SQLite format 3\x00")

    with pytest.raises(InvalidInput, match="can only be restored into"):
        restore_database(database, path, env=os.environ)


def test_a_missing_postgresql_tool_is_named_with_how_to_get_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OUTAGE_PG_BIN", str(tmp_path))

    with pytest.raises(
        InvalidInput, match="pg_dump for PostgreSQL 15 not found: install postgresql-client-15"
    ):
        pg_tool_path(os.environ, "pg_dump", 15)


def test_a_forced_restore_of_a_damaged_backup_changes_nothing(
    database: Database, territory: SmallTerritory, tmp_path: Path
) -> None:
    submit_reports(database, SYSTEM_CLOCK, GATEWAY, calls(territory, "D-", 20))
    whole = tmp_path / "whole.backup"
    backup_database(database, whole, env=os.environ)
    damaged = tmp_path / "damaged.backup"
    damaged.write_bytes(whole.read_bytes()[: whole.stat().st_size * 6 // 10])
    as_it_was = every_row(database)

    with pytest.raises(InvalidInput, match="damaged or cut short"):
        restore_database(database, damaged, force=True, env=os.environ)

    assert every_row(database) == as_it_was


def test_restore_refuses_a_backup_from_a_newer_schema(sqlite_database: Database, tmp_path: Path) -> None:
    backup = tmp_path / "newer.backup"
    backup_database(sqlite_database, backup, env=os.environ)
    with sqlite3.connect(backup) as connection:
        connection.execute("UPDATE alembic_version SET version_num = '9999_from_the_future'")
    connection.close()
    target = Database(f"sqlite:///{tmp_path / 'target.db'}")
    try:
        with pytest.raises(
            InvalidInput, match=r"revision 9999_from_the_future, which this version .* does not know"
        ):
            restore_database(target, backup, env=os.environ)
    finally:
        target.dispose()


def test_the_command_line_backs_up_and_restores_with_one_line_each(
    sqlite_database: Database, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    backup = tmp_path / "cli.backup"
    target = f"sqlite:///{tmp_path / 'cli-target.db'}"

    assert cli.main(["--db", sqlite_database.url, "backup", str(backup)]) == 0
    assert cli.main(["--db", target, "restore", str(backup)]) == 0
    assert cli.main(["--db", target, "restore", str(backup)]) == 2
    assert cli.main(["--db", target, "restore", str(tmp_path)]) == 2

    out, err = capsys.readouterr()
    assert out.splitlines()[0].startswith("backed up the sqlite database (schema ")
    assert out.splitlines()[1].startswith("restored the sqlite database (schema ")
    assert "refused: the database at sqlite:///" in err and "pass --force" in err
    assert f"cannot read {tmp_path}" in err


def test_the_postgresql_tools_are_the_servers_version_or_newer_never_older(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for major in ("14", "16"):
        tool = tmp_path / major / "bin" / "pg_dump"
        tool.parent.mkdir(parents=True)
        tool.write_text("#!/bin/sh\n")
        tool.chmod(0o755)
    monkeypatch.setattr(backup_module, "PG_BIN_ROOT", tmp_path)
    monkeypatch.delenv("OUTAGE_PG_BIN", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path / "nowhere"))

    assert pg_tool_path(os.environ, "pg_dump", 15) == tmp_path / "16" / "bin" / "pg_dump"
    assert pg_tool_path(os.environ, "pg_dump", 16) == tmp_path / "16" / "bin" / "pg_dump"
    with pytest.raises(InvalidInput, match="pg_dump for PostgreSQL 17 not found"):
        pg_tool_path(os.environ, "pg_dump", 17)
