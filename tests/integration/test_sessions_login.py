"""A refused login tells nothing: one message, and the same argon2 work, for every kind of refusal.

Unknown user, wrong password, locked account, disabled account: each costs exactly one password
verification against a hash with the same parameters, so timing does not tell them apart either.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from typing import Any

import pytest
from argon2 import extract_parameters
from sqlalchemy import select

from emergency.app.bus import execute
from emergency.app.commands.admin import SignIn
from emergency.core import auth
from emergency.core.actor import CLI_ADMIN, PUBLIC
from emergency.core.clock import FakeClock
from emergency.core.db import Database
from emergency.core.errors import AuthenticationFailed
from emergency.core.models import StaffSession, User
from tests.support.app_calls import log_in
from tests.support.app_context import context_of

PASSWORD = "the-right-password"

# What a refusal costs is the subject here: argon2 at production cost, not the suite's cheap one.
pytestmark = pytest.mark.usefixtures("real_password_hasher")


class CountingHasher:
    """The real hasher, noting each hash it verifies against."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.verified: list[str] = []

    def verify(self, password_hash: str, password: str) -> bool:
        self.verified.append(password_hash)
        return self.inner.verify(password_hash, password)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def add_users(db: Database, clock: FakeClock) -> str:
    """Staff `live`, `locked` (five failures behind it) and `gone` (disabled); returns live's hash."""
    with db.write() as session:
        for name in ("live", "locked", "gone"):
            auth.create_user(session, clock, CLI_ADMIN, name, PASSWORD, "dispatcher")
        auth.disable_user(session, clock, CLI_ADMIN, "gone")
    for _ in range(5):
        with pytest.raises(AuthenticationFailed):
            log_in(db, clock, "locked", "wrong-password")
    with db.read() as session:
        return session.scalars(select(User.password_hash).where(User.username == "live")).one()


REFUSALS = {
    "unknown user": ("nobody", PASSWORD),
    "wrong password": ("live", "wrong-password"),
    "locked, right password": ("locked", PASSWORD),
    "disabled, right password": ("gone", PASSWORD),
}


def sign_in(db: Database, clock: FakeClock, username: str, password: str) -> object:
    """The login page's way in: LogIn plus the staff session (emergency.core.staff_sessions)."""
    return execute(context_of(db, clock, PUBLIC), SignIn(username, password))


@pytest.mark.parametrize("way_in", [log_in, sign_in], ids=["LogIn", "SignIn"])
def test_every_refusal_says_the_same_and_costs_one_equal_verification(
    database: Database, clock: FakeClock, monkeypatch: pytest.MonkeyPatch, way_in: Callable[..., object]
) -> None:
    real_hash = add_users(database, clock)
    hasher = CountingHasher(auth._hasher)
    monkeypatch.setattr(auth, "_hasher", hasher)

    messages = {}
    for case, (username, password) in REFUSALS.items():
        hasher.verified.clear()
        with pytest.raises(AuthenticationFailed) as refused:
            way_in(database, clock, username, password)
        messages[case] = str(refused.value)
        assert len(hasher.verified) == 1, case
        assert extract_parameters(hasher.verified[0]) == extract_parameters(real_hash), case

    assert len(set(messages.values())) == 1, messages
    assert str(refused.value) == "wrong username or password, or the account is locked"
    with database.read() as session:  # no refusal opened a session
        assert session.scalars(select(StaffSession)).all() == []


def test_an_unknown_user_takes_about_as_long_as_a_wrong_password(
    sqlite_database: Database, clock: FakeClock
) -> None:
    """The measured side of the test above; loose bounds, since the machine may be busy, but a
    refusal that skipped the hashing would be a hundred times quicker."""
    add_users(sqlite_database, clock)

    def seconds(username: str, password: str) -> float:
        start = time.perf_counter()
        with pytest.raises(AuthenticationFailed):
            log_in(sqlite_database, clock, username, password)
        return time.perf_counter() - start

    unknown, wrong = [], []
    for _ in range(3):  # interleaved, so a burst of load slows both alike
        unknown.append(seconds(*REFUSALS["unknown user"]))
        wrong.append(seconds(*REFUSALS["wrong password"]))
        clock.advance(minutes=20)  # past any lockout the wrong passwords would build up

    ratio = statistics.median(unknown) / statistics.median(wrong)
    assert 1 / 3 < ratio < 3, (unknown, wrong)
