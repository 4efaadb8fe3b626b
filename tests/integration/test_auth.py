"""Users and login on SQLite and PostgreSQL: validation, roles, lockout, and the audit trail."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from emergency.app.bus import execute
from emergency.app.commands.admin import CreateUser, DisableUser, ResetPassword
from emergency.core import auth
from emergency.core.actor import Actor
from emergency.core.clock import FakeClock
from emergency.core.db import Database
from emergency.core.errors import AuthenticationFailed, Conflict, InvalidInput, PermissionDenied
from emergency.core.models import AuditEvent, Role, User
from emergency.core.settings import get_setting, set_setting
from tests.support.app_calls import log_in
from tests.support.app_context import context_of

ADMIN = Actor("root", Role.ADMIN)
PASSWORD = "correct horse battery"
WRONG = "wrong horse battery!"


def add_user(
    db: Database, clock: FakeClock, username: str = "dispatcher1", role: Role | str = Role.DISPATCHER
) -> None:
    execute(context_of(db, clock, ADMIN), CreateUser(username, PASSWORD, role))


def refusal(db: Database, clock: FakeClock, username: str, password: str) -> str:
    """The message a refused login shows, failing the test if the login was accepted."""
    with pytest.raises(AuthenticationFailed) as refused:
        log_in(db, clock, username, password)
    return str(refused.value)


def fail_logins(db: Database, clock: FakeClock, count: int, username: str = "dispatcher1") -> None:
    for _ in range(count):
        refusal(db, clock, username, WRONG)


def user_row(db: Database, username: str = "dispatcher1") -> tuple[int, object, bool]:
    with db.read() as session:
        user = session.scalar(select(User).where(User.username == username))
        assert user is not None
        return user.failed_logins, user.locked_until, user.active


def audit_actions(db: Database) -> list[tuple[str, str, str | None]]:
    with db.read() as session:
        events = session.scalars(
            select(AuditEvent).where(AuditEvent.entity == "user").order_by(AuditEvent.id)
        )
        return [(e.action, e.actor, e.detail) for e in events]


def user_count(db: Database) -> int:
    with db.read() as session:
        return session.scalar(select(func.count()).select_from(User))


@pytest.mark.parametrize("username", ["a", "1dispatcher", "bad name", "x" * 33, "émile", "", "ops/1"])
def test_create_user_refuses_a_bad_username(database: Database, clock: FakeClock, username: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        execute(context_of(database, clock, ADMIN), CreateUser(username, PASSWORD, Role.DISPATCHER))

    assert refused.value.field == "username"
    assert user_count(database) == 0


def test_create_user_refuses_a_short_password(database: Database, clock: FakeClock) -> None:
    with pytest.raises(InvalidInput) as refused:
        execute(
            context_of(database, clock, ADMIN),
            CreateUser("dispatcher1", "x" * (auth.MIN_PASSWORD_LENGTH - 1), "dispatcher"),
        )

    assert refused.value.field == "password"
    assert user_count(database) == 0


def test_create_user_refuses_an_unknown_role(database: Database, clock: FakeClock) -> None:
    with pytest.raises(InvalidInput) as refused:
        execute(context_of(database, clock, ADMIN), CreateUser("dispatcher1", PASSWORD, "superuser"))

    assert refused.value.field == "role"
    assert user_count(database) == 0


def test_create_user_refuses_a_duplicate(database: Database, clock: FakeClock) -> None:
    add_user(database, clock)

    with pytest.raises(Conflict):
        # Usernames are compared after trimming and lower-casing.
        execute(context_of(database, clock, ADMIN), CreateUser(" Dispatcher1 ", PASSWORD, Role.MANAGER))

    assert user_count(database) == 1


@pytest.mark.parametrize("role", [Role.DISPATCHER, Role.MANAGER])
def test_only_an_admin_creates_users(database: Database, clock: FakeClock, role: Role) -> None:
    with pytest.raises(PermissionDenied):
        execute(
            context_of(database, clock, Actor("someone", role)), CreateUser("newuser", PASSWORD, Role.ADMIN)
        )

    assert user_count(database) == 0


def test_create_user_stores_a_hash_and_records_who_did_it(database: Database, clock: FakeClock) -> None:
    add_user(database, clock, "Manager.Two", Role.MANAGER)

    with database.read() as session:
        user = session.scalar(select(User))
        assert (user.username, user.role, user.active, user.failed_logins) == (
            "manager.two",
            Role.MANAGER,
            True,
            0,
        )
        assert PASSWORD not in user.password_hash
        assert user.password_hash.startswith("$argon2")
        assert user.created_at == clock.now()
    assert audit_actions(database) == [("user.create", "root", None)]


def test_authenticate_accepts_the_right_password(database: Database, clock: FakeClock) -> None:
    add_user(database, clock)

    actor = log_in(database, clock, " Dispatcher1", PASSWORD)

    assert actor == Actor("dispatcher1", Role.DISPATCHER)
    with database.read() as session:
        assert session.scalar(select(User.last_login_at)) == clock.now()


def test_every_refusal_says_the_same_thing(database: Database, clock: FakeClock) -> None:
    add_user(database, clock)
    add_user(database, clock, "disabled1")
    add_user(database, clock, "locked1")
    execute(context_of(database, clock, ADMIN), DisableUser("disabled1"))
    fail_logins(database, clock, 5, "locked1")

    messages = {
        "unknown user": refusal(database, clock, "nobody", PASSWORD),
        "wrong password": refusal(database, clock, "dispatcher1", WRONG),
        "disabled": refusal(database, clock, "disabled1", PASSWORD),
        "locked": refusal(database, clock, "locked1", PASSWORD),
    }

    assert len(set(messages.values())) == 1, messages


def test_five_failed_logins_lock_the_account_for_fifteen_minutes(
    database: Database, clock: FakeClock
) -> None:
    add_user(database, clock)
    with database.read() as session:
        assert get_setting(session, "auth.max_failed_logins") == 5
        assert get_setting(session, "auth.lockout_minutes") == 15

    fail_logins(database, clock, 4)
    assert user_row(database)[:2] == (4, None)
    fail_logins(database, clock, 1)

    locked_until = user_row(database)[1]
    assert locked_until == clock.now() + timedelta(minutes=15)
    refusal(database, clock, "dispatcher1", PASSWORD)

    clock.advance(minutes=14, seconds=59)
    refusal(database, clock, "dispatcher1", PASSWORD)

    clock.advance(seconds=1)
    assert log_in(database, clock, "dispatcher1", PASSWORD).username == "dispatcher1"
    assert user_row(database)[:2] == (0, None)


def test_a_successful_login_resets_the_failure_count(database: Database, clock: FakeClock) -> None:
    add_user(database, clock)

    fail_logins(database, clock, 4)
    log_in(database, clock, "dispatcher1", PASSWORD)
    assert user_row(database)[0] == 0
    fail_logins(database, clock, 4)

    assert log_in(database, clock, "dispatcher1", PASSWORD).username == "dispatcher1"


def test_the_lockout_threshold_is_a_setting(database: Database, clock: FakeClock) -> None:
    add_user(database, clock)
    with database.write() as session:
        set_setting(session, "auth.max_failed_logins", 3, clock, by="root")
        set_setting(session, "auth.lockout_minutes", 5, clock, by="root")

    fail_logins(database, clock, 3)

    assert user_row(database)[1] == clock.now() + timedelta(minutes=5)


def test_reset_password_lifts_the_lockout(database: Database, clock: FakeClock) -> None:
    add_user(database, clock)
    fail_logins(database, clock, 5)
    new_password = "a brand new passphrase"

    with pytest.raises(PermissionDenied):
        execute(
            context_of(database, clock, Actor("dispatcher2", Role.DISPATCHER)),
            ResetPassword("dispatcher1", new_password),
        )
    execute(context_of(database, clock, ADMIN), ResetPassword("dispatcher1", new_password))

    assert user_row(database) == (0, None, True)
    refusal(database, clock, "dispatcher1", PASSWORD)
    assert log_in(database, clock, "dispatcher1", new_password).username == "dispatcher1"


def test_create_lock_and_login_are_audited(database: Database, clock: FakeClock) -> None:
    add_user(database, clock)
    fail_logins(database, clock, 5)
    clock.advance(minutes=15)
    log_in(database, clock, "dispatcher1", PASSWORD)

    assert audit_actions(database) == [
        ("user.create", "root", None),
        ("user.locked", "dispatcher1", "5 failed logins"),
        ("user.login", "dispatcher1", None),
    ]
    with database.read() as session:
        times = session.scalars(select(AuditEvent.at).order_by(AuditEvent.id)).all()
    assert times[-1] == clock.now()
