"""`python -m emergency backup FILE` and `restore FILE`: a whole database to one file and back.

SQLite: SQLite's online backup API copies the database in one step, under one read transaction, so
the copy is the database as of one moment even while the app keeps writing (WAL readers never wait
for writers). The copy is a self-contained SQLite file (journal mode DELETE, no `-wal` beside it),
checked with `PRAGMA integrity_check` before it replaces FILE.

PostgreSQL: `pg_dump --format=custom` (one snapshot, also consistent while the app writes); a
restore turns the dump into SQL with `pg_restore` and runs it with `psql` in one transaction (all
or nothing, even when it replaces an existing database's content). The client tools must be at
least the server's major version; they are looked for in `OUTAGE_PG_BIN`, then Debian's
/usr/lib/postgresql/<major>/bin, then on PATH. Connection details go to them through libpq's
environment, never on a command line where other users of the machine could read a password.

A restore refuses a file that is not a backup of this application, a backup of the other kind of
database, one from a newer schema than this code knows, and a target that already has tables unless
`force` is given (then the target's tables are replaced). Stop the app while restoring; it upgrades
an older backup's schema when it starts.
"""

from __future__ import annotations

import os
import re
import shutil
import sqlite3
import subprocess
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import inspect, text
from sqlalchemy.engine import URL, make_url

from emergency.core.db import SQLITE_BUSY_TIMEOUT_MS, Database, alembic_config
from emergency.core.errors import Conflict, InvalidInput

SQLITE_MAGIC = b"SQLite format 3\x00"
PG_DUMP_MAGIC = b"PGDMP"
PG_BIN_ROOT = Path("/usr/lib/postgresql")
PG_TOOL_TIMEOUT_S = 3_600


@dataclass(frozen=True)
class BackupSummary:
    """What a backup or restore moved: the kind of database, the file, its schema and its size."""

    action: str  # "backed up" or "restored"
    kind: str  # "sqlite" or "postgresql"
    path: str
    revision: str
    tables: int
    bytes: int

    def summary(self) -> str:
        direction = "to" if self.action == "backed up" else "from"
        return (
            f"{self.action} the {self.kind} database (schema {self.revision}, {self.tables} tables) "
            f"{direction} {self.path} ({self.bytes / 1_048_576:,.1f} MiB)"
        )


# --- backup --------------------------------------------------------------------------------------


def backup_database(db: Database, target: Path, *, env: Mapping[str, str]) -> BackupSummary:
    """Write a consistent copy of the whole database to `target`, replacing it only when complete.

    `env` is the process environment the PostgreSQL client tools run in (`OUTAGE_PG_BIN` names
    their folder); the CLI passes its own.
    """
    revision = _revision_of(db)
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".partial")
    partial.unlink(missing_ok=True)
    try:
        if db.dialect == "sqlite":
            _sqlite_backup(_sqlite_path(db), partial)
        else:
            dump = ("--format=custom", "--no-owner", "--no-privileges", f"--file={partial}")
            _pg_tool(db, env, "pg_dump", *dump)
        os.replace(partial, target)
    finally:
        partial.unlink(missing_ok=True)
    tables = len(inspect(db.engine).get_table_names())
    return BackupSummary("backed up", db.dialect, str(target), revision, tables, target.stat().st_size)


def _sqlite_backup(source_path: str, partial: Path) -> None:
    source = sqlite3.connect(f"file:{source_path}?mode=ro", uri=True, timeout=SQLITE_BUSY_TIMEOUT_MS / 1000)
    copy = sqlite3.connect(partial, isolation_level=None)
    try:
        # All pages in one step: one read transaction, so one moment of the database.
        source.backup(copy, pages=-1)
        copy.execute("PRAGMA journal_mode=DELETE")  # one self-contained file
        problems = [row[0] for row in copy.execute("PRAGMA integrity_check")]
        if problems != ["ok"]:
            raise RuntimeError(f"the copy failed its integrity check: {'; '.join(problems[:5])}")
    finally:
        copy.close()
        source.close()


# --- restore -------------------------------------------------------------------------------------


def restore_database(
    db: Database, source: Path, *, env: Mapping[str, str], force: bool = False
) -> BackupSummary:
    """Replace the database's content with a backup's, after checking the backup is one of ours."""
    kind = backup_kind(source)
    if kind != db.dialect:
        raise InvalidInput(
            f"{source} is a backup of a {kind} database; it can only be restored into {kind}, "
            f"not into this {db.dialect} database",
            field="file",
        )
    revision = _sqlite_backup_revision(source) if kind == "sqlite" else _pg_dump_revision(db, env, source)
    _require_known_revision(source, revision)
    existing = inspect(db.engine).get_table_names()
    if existing and not force:
        raise Conflict(
            f"the database at {_safe_url(db)} already has {len(existing)} tables; restore into an empty "
            "database, or pass --force to replace its content with the backup's"
        )
    db.dispose()  # no pooled connection may outlive the content it was opened on
    if kind == "sqlite":
        _sqlite_restore(source, _sqlite_path(db))
    else:
        _pg_restore(db, env, source, replace=bool(existing))
    db.dispose()
    tables = len(inspect(db.engine).get_table_names())
    return BackupSummary("restored", kind, str(source), revision, tables, source.stat().st_size)


def backup_kind(path: Path) -> str:
    """ "sqlite" or "postgresql" from the file's first bytes; a clear refusal for anything else."""
    try:
        with path.open("rb") as stream:
            head = stream.read(len(SQLITE_MAGIC))
    except OSError as error:
        raise InvalidInput(f"cannot read {path}: {error.strerror or error}", field="file") from None
    if head.startswith(SQLITE_MAGIC):
        return "sqlite"
    if head.startswith(PG_DUMP_MAGIC):
        return "postgresql"
    raise InvalidInput(
        f"{path} is not an Outage Desk backup: neither a SQLite database file nor a PostgreSQL "
        "custom-format dump (as `python -m emergency backup` writes)",
        field="file",
    )


def _sqlite_backup_revision(path: Path) -> str:
    try:
        backup = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    except sqlite3.Error as error:
        raise InvalidInput(f"{path} cannot be opened as a SQLite database: {error}", field="file") from None
    try:
        try:
            problems = [row[0] for row in backup.execute("PRAGMA integrity_check")]
        except sqlite3.DatabaseError as error:
            problems = [str(error)]
        if problems != ["ok"]:
            raise InvalidInput(f"{path} is damaged or cut short: {'; '.join(problems[:3])}", field="file")
        try:
            rows = backup.execute("SELECT version_num FROM alembic_version").fetchall()
        except sqlite3.DatabaseError:
            rows = []
    finally:
        backup.close()
    if len(rows) != 1:
        raise InvalidInput(f"{path} is not an Outage Desk backup (no schema version in it)", field="file")
    return str(rows[0][0])


def _pg_dump_revision(db: Database, env: Mapping[str, str], path: Path) -> str:
    """The schema revision inside a dump, read back with pg_restore (its data is plain COPY text)."""
    listing = _pg_tool(db, env, "pg_restore", "--list", str(path), capture=True)
    if not re.search(r"TABLE DATA public alembic_version ", listing):
        raise InvalidInput(f"{path} is a PostgreSQL dump, but not of an Outage Desk database", field="file")
    data = _pg_tool(
        db, env, "pg_restore", "--data-only", "--table=alembic_version", "--file=-", str(path), capture=True
    )
    found = re.search(r"^COPY public\.alembic_version .*? FROM stdin;\n(.+?)\n\\\.$", data, re.M | re.S)
    if not found:
        raise InvalidInput(f"{path} holds no schema version", field="file")
    return found.group(1).strip()


def _require_known_revision(source: Path, revision: str) -> None:
    from alembic.script import ScriptDirectory

    scripts = ScriptDirectory.from_config(alembic_config("sqlite://"))
    known = {script.revision for script in scripts.walk_revisions()}
    if revision not in known:
        raise InvalidInput(
            f"{source} has schema revision {revision}, which this version of Outage Desk does not know "
            "(a backup from a newer version?)",
            field="file",
        )


def _sqlite_restore(source: Path, target_path: str) -> None:
    backup = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
    target = sqlite3.connect(target_path, timeout=SQLITE_BUSY_TIMEOUT_MS / 1000, isolation_level=None)
    try:
        # The backup API writes every page under the target's own lock and journal, so the target
        # is the old database or the backup, never a mixture, and its -wal file stays consistent.
        backup.backup(target, pages=-1)
    finally:
        target.close()
        backup.close()


def _pg_restore(db: Database, env: Mapping[str, str], source: Path, *, replace: bool) -> None:
    """The dump as SQL, written out whole by pg_restore first, then run by psql in one transaction
    (after emptying the schema when `replace`): a failure anywhere leaves the database as it was."""
    tool_env = _pg_environment(env, _pg_url(db))
    with tempfile.TemporaryDirectory() as directory:
        script = Path(directory) / "restore.sql"
        _pg_tool(db, env, "pg_restore", "--no-owner", "--no-privileges", f"--file={script}", str(source))
        command = [str(pg_tool_path(env, "psql", _server_major(db))), "--no-psqlrc", "--quiet"]
        command += ["--single-transaction", "--set=ON_ERROR_STOP=1"]
        if replace:
            command += ["--command=DROP SCHEMA public CASCADE; CREATE SCHEMA public;"]
        command += [f"--file={script}"]
        applied = subprocess.run(
            command, env=tool_env, capture_output=True, text=True, timeout=PG_TOOL_TIMEOUT_S, check=False
        )
    if applied.returncode != 0:
        detail = "; ".join(applied.stderr.strip().splitlines()[-3:])
        raise RuntimeError(f"restore failed, the database is unchanged: {detail}")


# --- helpers -------------------------------------------------------------------------------------


def _revision_of(db: Database) -> str:
    if not db.has_schema():
        raise InvalidInput(f"no Outage Desk schema at {_safe_url(db)}; nothing to back up", field="db")
    with db.engine.connect() as connection:
        return str(connection.execute(text("SELECT version_num FROM alembic_version")).scalar_one())


def _sqlite_path(db: Database) -> str:
    path = db.engine.url.database or ""
    if path in ("", ":memory:"):
        raise InvalidInput("an in-memory SQLite database has no file to back up or restore", field="db")
    return path


def _safe_url(db: Database) -> str:
    return db.engine.url.render_as_string(hide_password=True)


def _pg_url(db: Database) -> URL:
    return make_url(db.url)


def _pg_environment(env: Mapping[str, str], url: URL) -> dict[str, str]:
    """libpq's variables for the URL's connection, so no password appears in the process list."""
    tool_env = dict(env)
    for variable, value in (
        ("PGHOST", url.host),
        ("PGPORT", url.port),
        ("PGUSER", url.username),
        ("PGPASSWORD", url.password),
        ("PGDATABASE", url.database),
        ("PGSSLMODE", url.query.get("sslmode")),
    ):
        if value is not None:
            tool_env[variable] = str(value)
    return tool_env


def _server_major(db: Database) -> int:
    with db.engine.connect() as connection:
        return int(connection.execute(text("SHOW server_version_num")).scalar_one()) // 10_000


def pg_tool_path(env: Mapping[str, str], name: str, server_major: int) -> Path:
    """The client tool for a server of this major version: its own, or a newer one (never older)."""
    configured = env.get("OUTAGE_PG_BIN", "").strip()
    if configured:
        candidates = [Path(configured) / name]
    else:
        installed = (
            sorted((int(d.name), d / "bin" / name) for d in PG_BIN_ROOT.glob("*") if d.name.isdigit())
            if PG_BIN_ROOT.is_dir()
            else []
        )
        candidates = [path for major, path in installed if major >= server_major]
        on_path = shutil.which(name, path=env.get("PATH"))
        if on_path:
            candidates.append(Path(on_path))
    for candidate in candidates:
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return candidate
    raise InvalidInput(
        f"{name} for PostgreSQL {server_major} not found: install postgresql-client-{server_major}, "
        "or set OUTAGE_PG_BIN to the folder that holds it",
        field="db",
    )


def _pg_tool(db: Database, env: Mapping[str, str], name: str, *args: str, capture: bool = False) -> str:
    url = _pg_url(db)
    tool = pg_tool_path(env, name, _server_major(db))
    command = [str(tool), *args]
    if name == "pg_dump":
        command.append(url.database or "")
    done = subprocess.run(
        command,
        env=_pg_environment(env, url),
        capture_output=True,
        text=True,
        timeout=PG_TOOL_TIMEOUT_S,
        check=False,
    )
    if done.returncode != 0:
        message = (done.stderr or done.stdout).strip().splitlines()
        detail = "; ".join(message[-3:]) or f"exit code {done.returncode}"
        if name == "pg_restore":  # it only reads the dump: what fails is the file
            raise InvalidInput(
                f"not a readable PostgreSQL dump (damaged or cut short?): {detail}", field="file"
            )
        raise RuntimeError(f"{name} failed: {detail}")
    return done.stdout if capture else ""
