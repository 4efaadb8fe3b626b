"""Shared fixtures: a fake clock, a fresh migrated database on SQLite and on PostgreSQL, and cheap
password hashing.

PostgreSQL tests use the server named by OUTAGE_TEST_PG_URL (an account that may CREATE DATABASE);
each test gets its own database. Without the variable they skip on a developer's machine and
fail in CI (CI=true), where `.ci/run` starts a throwaway server.

Passwords are hashed with argon2 at its lowest cost for the whole run (full cost is about half a
second a hash, slow on purpose); a test about what a login costs asks for `real_password_hasher`.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from argon2 import PasswordHasher
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from emergency.core import auth
from emergency.core.clock import FakeClock
from emergency.core.db import Database, normalise_url
from emergency.core.settings import seed_defaults
from emergency.network.head_end import use_head_end, use_head_end_token
from tests.support.browser import browser, external_requests, page  # noqa: F401 (fixtures for every folder)

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
PG_URL = os.environ.get("OUTAGE_TEST_PG_URL", "").strip()


CHEAP_HASHER = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)


@pytest.fixture(scope="session", autouse=True)
def cheap_password_hasher() -> Iterator[PasswordHasher]:
    """Argon2 at its lowest cost for every test; the hashes are still argon2id, only cheaper."""
    real = auth.use_password_hasher(CHEAP_HASHER)
    try:
        yield CHEAP_HASHER
    finally:
        auth.use_password_hasher(real)


@pytest.fixture(autouse=True)
def no_head_end_left_behind() -> Iterator[None]:
    """Each test starts with no meter head-end registered and no head-end token: the live simulator
    registers its fake head-end for the process's life, and a test running it would leave it to the
    next test of the same worker."""
    use_head_end(None)
    use_head_end_token(None)
    yield
    use_head_end(None)
    use_head_end_token(None)


@pytest.fixture
def real_password_hasher(cheap_password_hasher: PasswordHasher) -> Iterator[PasswordHasher]:
    """Argon2 at the cost production uses, for the tests that a refused login costs as much as any."""
    real = PasswordHasher()
    auth.use_password_hasher(real)
    try:
        yield real
    finally:
        auth.use_password_hasher(cheap_password_hasher)


def need_postgres() -> str:
    if not PG_URL:
        message = "OUTAGE_TEST_PG_URL is not set: no PostgreSQL server to test on"
        if IN_CI:
            pytest.fail(message + " (CI must run the PostgreSQL tests)")
        pytest.skip(message)
    return normalise_url(PG_URL)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(datetime(2026, 7, 1, 2, 0, tzinfo=UTC))


@pytest.fixture
def sqlite_url(tmp_path) -> str:
    return f"sqlite:///{tmp_path / 'outage-desk.db'}"


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A new, empty PostgreSQL database, dropped after the test."""
    admin_url = need_postgres()
    name = f"outage_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    try:
        yield url
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request) -> str:
    """The URL of an empty database of each kind."""
    if request.param == "sqlite":
        return request.getfixturevalue("sqlite_url")
    return request.getfixturevalue("postgres_url")


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory) -> Path:
    """A migrated SQLite file with default settings, copied for each test (migrating is the slow part)."""
    path = tmp_path_factory.mktemp("template") / "template.db"
    _prepare(f"sqlite:///{path}")
    return path


@pytest.fixture(scope="session")
def postgres_template() -> Iterator[str]:
    """A migrated PostgreSQL database that each test's database is created from."""
    admin_url = need_postgres()
    name = f"outage_template_{uuid.uuid4().hex[:12]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        _prepare(make_url(admin_url).set(database=name).render_as_string(hide_password=False))
        yield name
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def _prepare(url: str) -> None:
    db = Database(url)
    db.migrate()
    with db.write() as session:
        seed_defaults(session, FakeClock())
    db.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request, tmp_path) -> Iterator[Database]:
    """A migrated database with default settings, on SQLite and on PostgreSQL."""
    if request.param == "sqlite":
        path = tmp_path / "outage-desk.db"
        shutil.copyfile(request.getfixturevalue("sqlite_template"), path)
        db = Database(f"sqlite:///{path}")
        try:
            yield db
        finally:
            db.dispose()
        return
    template = request.getfixturevalue("postgres_template")
    admin_url = need_postgres()
    name = f"outage_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{template}"'))
    db = Database(make_url(admin_url).set(database=name).render_as_string(hide_password=False))
    try:
        yield db
    finally:
        db.dispose()
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture
def sqlite_database(sqlite_template, tmp_path) -> Iterator[Database]:
    """A migrated SQLite database, for tests whose subject is not the database engine."""
    path = tmp_path / "outage-desk.db"
    shutil.copyfile(sqlite_template, path)
    db = Database(f"sqlite:///{path}")
    try:
        yield db
    finally:
        db.dispose()
