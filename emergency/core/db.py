"""Storage: the engine, transactions and schema upgrades, the same on SQLite and PostgreSQL.

SQLite is the embedded default. Readers run in parallel (WAL); writers take the database lock at
the start of their transaction (`BEGIN IMMEDIATE`) so two writers queue on the busy timeout instead
of failing halfway with "database is locked" when one upgrades a read lock.
"""

from __future__ import annotations

import sqlite3
import threading
import time
import weakref
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import DateTime, Engine, create_engine, event, inspect, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.types import TypeDecorator

MIGRATIONS_DIR = Path(__file__).resolve().parents[1] / "migrations"
SQLITE_BUSY_TIMEOUT_MS = 15_000
SQLITE_CACHE_KIB = 65_536  # per connection, allocated only as pages are read
SQLITE_WAL_CHECKPOINT_PAGES = 10_000  # about 40 MB of WAL between checkpoints
# Writes fold the WAL back into the database file from a thread of their own, at most this often;
# the writers' own checkpoint above is the backstop should that thread fall behind.
SQLITE_BACKGROUND_CHECKPOINT_S = 0.5
SQLITE_CHECKPOINTER_IDLE_S = 5.0  # the thread ends after this long without a write
# How long a write waits for its turn among the process's writers before giving up (then SQLite's
# busy timeout still applies against other processes).
SQLITE_WRITE_QUEUE_TIMEOUT_S = 60.0
_WRITE_OPTION = "outage_desk_write"
MIGRATION_LOCK_KEY = 73_019_527
# Serialises trouble-call analysis with the actions that change the outages it works on.
ANALYSIS_LOCK_KEY = 73_019_528


class UTCDateTime(TypeDecorator[datetime]):
    """Stores UTC without an offset and hands back aware UTC datetimes.

    Both databases then hold the same value; naive datetimes are refused so local time can never
    sneak in unnoticed.
    """

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column; pass an aware datetime")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC)


def normalise_url(url: str) -> str:
    """Accept the plain `postgresql://` spelling and use psycopg 3 for it."""
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        return "postgresql+psycopg://" + url.split("://", 1)[1]
    return url


def make_engine(url: str, **kwargs: Any) -> Engine:
    url = normalise_url(url)
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return create_engine(url, pool_pre_ping=True, **kwargs)

    database = parsed.database or ""
    in_memory = database in ("", ":memory:")
    if not in_memory:
        Path(database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(
        url,
        connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000, "check_same_thread": False},
        # Pooled: closing the last connection to a WAL file checkpoints it, which would cost
        # every transaction a checkpoint. Locks are per transaction, not per connection.
        **kwargs,
    )

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy, not the sqlite3 module, decide when transactions begin.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        if not in_memory:
            _use_wal(cursor)
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        # 64 MB of page cache instead of 2 MB: a storm's intake batch touches the report table's
        # unique and foreign-key indexes all over, and re-reading their pages cost it 8 %.
        cursor.execute(f"PRAGMA cache_size=-{SQLITE_CACHE_KIB}")
        # A storm's batch dirties a thousand or so index pages, which at SQLite's default (a
        # checkpoint, with its fsync, every 1,000 pages of WAL) checkpoints every commit and
        # writes the same hot pages again and again; a larger WAL writes each of them once.
        cursor.execute(f"PRAGMA wal_autocheckpoint={SQLITE_WAL_CHECKPOINT_PAGES}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        immediate = conn.get_execution_options().get(_WRITE_OPTION, False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")
        if immediate and checkpointer is not None:
            checkpointer.poke()

    checkpointer = None if in_memory else SqliteCheckpointer(database)
    if checkpointer is not None:
        _checkpointers[engine] = checkpointer

    @event.listens_for(engine, "engine_disposed")
    def _on_dispose(_engine: Any) -> None:
        if checkpointer is not None:
            checkpointer.stop()

    return engine


def checkpointer_of(engine: Engine) -> SqliteCheckpointer | None:
    """The background checkpointer of a SQLite file engine (None for PostgreSQL or in memory)."""
    return _checkpointers.get(engine)


class SqliteCheckpointer:
    """Copies committed WAL pages into the database file on a thread of its own.

    A checkpoint ends with an fsync of the WAL and of the database file; run by a writer's
    commit (SQLite's automatic checkpoint) it held a storm's intake batch for that I/O, about a
    tenth of the time at a million customers. Here a PASSIVE checkpoint, which never waits for
    and never blocks readers or writers, runs at most every `SQLITE_BACKGROUND_CHECKPOINT_S`
    while writes go on, and the next writer then restarts the WAL from its beginning as usual.
    The thread ends when writes stop for a while, or the engine is disposed, and the next write
    transaction starts it again.
    """

    def __init__(self, path: str) -> None:
        self._path = path
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self.checkpoints = 0  # completed, for tests and diagnostics

    @property
    def running(self) -> bool:
        thread = self._thread
        return thread is not None and thread.is_alive()

    def poke(self) -> None:
        """A write transaction began: make sure a checkpoint follows it."""
        self._wake.set()
        thread = self._thread
        if thread is not None and thread.is_alive():
            return
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._stop.clear()
                self._thread = threading.Thread(target=self._run, name="sqlite-checkpoint", daemon=True)
                self._thread.start()

    def stop(self) -> None:
        """End the thread (after its checkpoint in progress, if any)."""
        with self._lock:
            thread = self._thread
            self._stop.set()
            self._wake.set()
        if thread is not None and thread is not threading.current_thread():
            thread.join()

    def _run(self) -> None:
        connection = sqlite3.connect(self._path, timeout=SQLITE_BUSY_TIMEOUT_MS / 1000, isolation_level=None)
        try:
            while self._wake.wait(SQLITE_CHECKPOINTER_IDLE_S) and not self._stop.is_set():
                # Let the commits of the next moment gather: one checkpoint (and fsync) for many.
                if self._stop.wait(SQLITE_BACKGROUND_CHECKPOINT_S):
                    break
                self._wake.clear()
                busy, _, _ = connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
                if not busy:
                    self.checkpoints += 1
        finally:
            connection.close()


_checkpointers: weakref.WeakKeyDictionary[Engine, SqliteCheckpointer] = weakref.WeakKeyDictionary()


def _use_wal(cursor: Any) -> None:
    """Switch a new database file to WAL once; the mode then stays with the file.

    Switching needs a moment alone with the file and SQLite does not wait for that on its busy
    timeout, so processes opening a brand-new database together retry briefly.
    """
    if cursor.execute("PRAGMA journal_mode").fetchone()[0].lower() == "wal":
        return
    deadline = time.monotonic() + SQLITE_BUSY_TIMEOUT_MS / 1000
    while True:
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


class SqliteWriteQueue:
    """The write transactions of one process take SQLite's write lock one at a time, in arrival order.

    SQLite's busy handler polls: a waiting writer sleeps and tries again, and while a storm's intake
    keeps dozens of request threads writing, a waiter can lose to newcomers until its busy timeout
    runs out (`bench load --customers 3000 --reports 8000 --clients 32`: dispatchers' actions
    waited 16.7 s at the 95th percentile, past the 15 s after which they fail with "database is
    locked"; 7.0 s with this queue, on a busier machine). Queued here first, a process's writers
    go in turn, and only the one at the head of the queue waits on SQLite, against writers of
    other processes. A nested write in a thread that already holds its turn goes straight to
    SQLite, as before.
    """

    def __init__(self, timeout_s: float = SQLITE_WRITE_QUEUE_TIMEOUT_S) -> None:
        self._turns = threading.Condition()
        self._next_ticket = 0
        self._serving = 0
        self._abandoned: set[int] = set()  # tickets of writers that gave up waiting
        self._owner: int | None = None
        self._timeout_s = timeout_s

    @contextmanager
    def turn(self) -> Iterator[None]:
        me = threading.get_ident()
        with self._turns:
            nested = self._owner == me
            if not nested:
                ticket = self._next_ticket
                self._next_ticket += 1
                if not self._turns.wait_for(lambda: self._serving == ticket, self._timeout_s):
                    self._abandoned.add(ticket)
                    # Surfaces as the same error as SQLite's own busy timeout, so callers treat
                    # both alike (the intake API answers 503 with Retry-After).
                    raise OperationalError(
                        "waiting for a turn to write", None, sqlite3.OperationalError("database is locked")
                    )
                self._owner = me
        try:
            yield
        finally:
            if not nested:
                with self._turns:
                    self._owner = None
                    self._serving += 1
                    while self._serving in self._abandoned:
                        self._abandoned.remove(self._serving)
                        self._serving += 1
                    self._turns.notify_all()


class Database:
    """One engine and its two kinds of session: reads, and writes that run in one transaction."""

    def __init__(self, url: str, engine: Engine | None = None) -> None:
        self.url = normalise_url(url)
        self.engine = engine or make_engine(self.url)
        self.dialect = self.engine.dialect.name
        write_engine = self.engine.execution_options(**{_WRITE_OPTION: True})
        self._reader = sessionmaker(self.engine, expire_on_commit=False)
        self._writer = sessionmaker(write_engine, expire_on_commit=False)
        # PostgreSQL queues writers itself (row locks, and the advisory lock against analysis).
        self._write_queue = SqliteWriteQueue() if self.dialect == "sqlite" else None

    @contextmanager
    def read(self) -> Iterator[Session]:
        # Closing (not rolling back) ends the read transaction and leaves loaded objects usable.
        with self._reader() as session:
            yield session

    @contextmanager
    def write(self) -> Iterator[Session]:
        """A transaction that commits when the block ends and rolls back if it raises."""
        with self._write_turn(), self._writer() as session, session.begin():
            yield session

    def _write_turn(self) -> AbstractContextManager[None]:
        return nullcontext() if self._write_queue is None else self._write_queue.turn()

    def ping(self) -> None:
        """Raise if the database cannot be reached (the health check)."""
        with self.engine.connect() as connection:
            connection.execute(text("SELECT 1"))

    def has_schema(self) -> bool:
        """True when migrations have been applied (an empty version table after a full downgrade is not)."""
        if not inspect(self.engine).has_table("alembic_version"):
            return False
        with self.engine.connect() as connection:
            return connection.execute(text("SELECT count(*) FROM alembic_version")).scalar_one() > 0

    def migrate(self) -> None:
        """Create or upgrade the schema to the newest migration.

        Several app processes may start at once against a new database: they take turns (an
        advisory lock on PostgreSQL, the write lock on SQLite) and the later ones find nothing to do.
        """
        from alembic import command

        with self.engine.execution_options(**{_WRITE_OPTION: True}).begin() as connection:
            if self.dialect == "postgresql":
                connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK_KEY})
            config = alembic_config(self.url)
            config.attributes["connection"] = connection
            command.upgrade(config, "head")

    def dispose(self) -> None:
        self.engine.dispose()


def alembic_config(url: str) -> Any:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    # Percent signs in passwords would otherwise be read as interpolation.
    config.set_main_option("sqlalchemy.url", normalise_url(url).replace("%", "%%"))
    return config


def lock_against_analysis(session: Session, db: Database) -> None:
    """On PostgreSQL, wait for any trouble-call analysis in progress, and keep it out until we commit.

    Analysis loads outages, then merges and rewrites them; a dispatch, ETR or restoration changing
    one of them in between would make the whole intake batch fail on the outage's version. SQLite's
    BEGIN IMMEDIATE already runs one writer at a time.
    """
    if db.dialect == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": ANALYSIS_LOCK_KEY})


_databases: dict[str, Database] = {}
_databases_lock = threading.Lock()


def get_database(url: str) -> Database:
    """The process-wide Database for a URL, so every page and route shares one engine."""
    key = normalise_url(url)
    with _databases_lock:
        if key not in _databases:
            _databases[key] = Database(key)
        return _databases[key]


def forget_database(url: str) -> None:
    with _databases_lock:
        database = _databases.pop(normalise_url(url), None)
    if database is not None:
        database.dispose()
