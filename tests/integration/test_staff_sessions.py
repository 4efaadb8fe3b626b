"""Staff sessions in the database, on SQLite and PostgreSQL: opened at login with a one-time ticket,
found by the cookie's token, touched at most once a minute, ended by logout, idle time or an
administrator disabling the account (each audited), and shared by app processes."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from emergency.app.bus import execute
from emergency.app.commands.admin import (
    CreateUser,
    DisableUser,
    EnableUser,
    EndSession,
    RedeemTicket,
    ResetPassword,
    SignIn,
    TouchSession,
)
from emergency.app.queries.admin import cookie_signing_key, staff_session, users
from emergency.core.actor import PUBLIC, SYSTEM, Actor
from emergency.core.clock import FakeClock
from emergency.core.db import Database
from emergency.core.errors import AuthenticationFailed, Conflict
from emergency.core.models import AuditEvent, Role, StaffSession
from emergency.core.staff_sessions import SessionView, SignedIn
from tests.support.app_context import context_of

ADMIN = Actor("root", Role.ADMIN)
DISPATCHER = Actor("disp", Role.DISPATCHER)
OTHER = Actor("other", Role.DISPATCHER)
PASSWORD = "correct horse battery"


@pytest.fixture
def staff(database: Database, clock: FakeClock) -> Database:
    for actor in (DISPATCHER, OTHER):
        execute(context_of(database, clock, ADMIN), CreateUser(actor.username, PASSWORD, actor.role))
    return database


def sign_in(db: Database, clock: FakeClock, username: str = "disp") -> SignedIn:
    signed: SignedIn = execute(context_of(db, clock, PUBLIC), SignIn(username, PASSWORD, "Chromium/test"))
    return signed


def view(db: Database, clock: FakeClock, **key: object) -> SessionView:
    found = staff_session(context_of(db, clock, PUBLIC), **key)  # type: ignore[arg-type]
    assert found is not None
    return found


def redeem(db: Database, clock: FakeClock, ticket: str) -> str | None:
    token: str | None = execute(context_of(db, clock, PUBLIC), RedeemTicket(ticket))
    return token


def audit(db: Database, *actions: str) -> list[tuple[str, str, str | None]]:
    with db.read() as session:
        rows = session.scalars(
            select(AuditEvent).where(AuditEvent.action.in_(actions)).order_by(AuditEvent.id)
        )
        return [(e.action, e.actor, e.detail) for e in rows]


def test_a_login_opens_a_session_whose_ticket_gives_the_cookie_token_once(staff, clock) -> None:
    signed = sign_in(staff, clock)
    assert signed.actor == DISPATCHER

    token = redeem(staff, clock, signed.ticket)
    assert token is not None
    assert redeem(staff, clock, signed.ticket) is None  # a ticket works once

    by_token = view(staff, clock, token=token)
    assert by_token.session_id == signed.session_id
    assert by_token.actor == DISPATCHER
    assert by_token.live_at(clock.now())
    # Neither the ticket nor the token is stored, only their hashes.
    with staff.read() as session:
        row = session.get(StaffSession, signed.session_id)
        assert row is not None
        assert token not in (row.token_hash, row.ticket_hash)
        assert row.ticket_hash is None
        assert row.user_agent == "Chromium/test"


def test_a_ticket_expires_after_a_minute_and_nonsense_is_refused(staff, clock) -> None:
    signed = sign_in(staff, clock)
    clock.advance(seconds=61)
    assert redeem(staff, clock, signed.ticket) is None
    assert redeem(staff, clock, "x" * 5000) is None
    assert redeem(staff, clock, "") is None
    assert staff_session(context_of(staff, clock, PUBLIC), token="not-a-token") is None


def test_a_refused_login_opens_no_session(staff, clock) -> None:
    with pytest.raises(AuthenticationFailed):
        execute(context_of(staff, clock, PUBLIC), SignIn("disp", "wrong horse battery!"))
    with staff.read() as session:
        assert session.scalars(select(StaffSession)).all() == []


def test_idle_time_is_measured_from_the_last_click_written_at_most_once_a_minute(staff, clock) -> None:
    signed = sign_in(staff, clock)
    me = context_of(staff, clock, DISPATCHER)
    opened_at = clock.now()

    clock.advance(seconds=30)
    assert execute(me, TouchSession(signed.session_id)) is False  # too soon to write
    assert view(staff, clock, session_id=signed.session_id).last_seen_at == opened_at
    clock.advance(seconds=31)
    assert execute(me, TouchSession(signed.session_id)) is True
    seen = view(staff, clock, session_id=signed.session_id)
    assert seen.last_seen_at == clock.now()

    clock.advance(minutes=30)
    assert seen.live_at(clock.now())  # exactly at the limit is still live
    clock.advance(seconds=1)
    assert not view(staff, clock, session_id=signed.session_id).live_at(clock.now())
    # A later click the database has not heard of yet (this browser session knows it) counts.
    assert seen.live_at(clock.now(), last_active=clock.now() - timedelta(minutes=5))


def test_a_changed_language_is_written_at_once_and_nothing_else_is_kept(staff, clock) -> None:
    signed = sign_in(staff, clock)
    me = context_of(staff, clock, DISPATCHER)
    clock.advance(seconds=5)
    assert execute(me, TouchSession(signed.session_id, "zh")) is True  # within the minute, still written
    assert view(staff, clock, session_id=signed.session_id).language == "zh"
    assert execute(me, TouchSession(signed.session_id, "zh")) is False  # nothing new
    clock.advance(minutes=2)
    assert execute(me, TouchSession(signed.session_id, "klingon")) is True  # the click, not the word
    assert view(staff, clock, session_id=signed.session_id).language == "zh"


def test_logout_ends_the_session_once_and_the_trail_says_why(staff, clock) -> None:
    signed = sign_in(staff, clock)
    me = context_of(staff, clock, DISPATCHER)
    execute(me, EndSession("logout", signed.session_id))
    execute(me, EndSession("idle", signed.session_id))  # another tab noticing later: no second end

    ended = view(staff, clock, session_id=signed.session_id)
    assert (ended.ended_at, ended.end_reason) == (clock.now(), "logout")
    assert not ended.live_at(clock.now())
    assert redeem(staff, clock, signed.ticket) is None  # an ended session's ticket is void
    assert audit(staff, "user.logout", "user.session_expired") == [("user.logout", "disp", None)]


def test_a_password_reset_ends_the_accounts_sessions_and_only_the_new_password_opens_one(
    staff, clock
) -> None:
    mine, theirs = sign_in(staff, clock), sign_in(staff, clock, "other")
    admin = context_of(staff, clock, ADMIN)

    execute(admin, ResetPassword("disp", "a new long passphrase"))

    ended = view(staff, clock, session_id=mine.session_id)
    assert (ended.end_reason, ended.live_at(clock.now())) == ("password_reset", False)
    assert view(staff, clock, session_id=theirs.session_id).live_at(clock.now())
    assert audit(staff, "user.session_revoked") == [
        ("user.session_revoked", "root", f"session {mine.session_id}: password_reset")
    ]
    with pytest.raises(AuthenticationFailed):
        sign_in(staff, clock)  # the old password
    again = execute(context_of(staff, clock, PUBLIC), SignIn("disp", "a new long passphrase"))
    assert again.actor == DISPATCHER


def test_nobody_ends_or_touches_another_users_session(staff, clock) -> None:
    theirs = sign_in(staff, clock, "other")
    me = context_of(staff, clock, DISPATCHER)
    clock.advance(minutes=2)
    assert execute(me, TouchSession(theirs.session_id)) is False
    execute(me, EndSession("logout", theirs.session_id))
    assert view(staff, clock, session_id=theirs.session_id).ended_at is None


def test_disabling_an_account_ends_all_its_sessions_and_enabling_it_opens_none(staff, clock) -> None:
    first, second = sign_in(staff, clock), sign_in(staff, clock)
    theirs = sign_in(staff, clock, "other")
    admin = context_of(staff, clock, ADMIN)
    assert {u.username: u.open_sessions for u in users(admin)} == {"disp": 2, "other": 1}

    execute(admin, DisableUser("disp"))

    for signed in (first, second):
        ended = view(staff, clock, session_id=signed.session_id)
        assert (ended.end_reason, ended.user_active) == ("disabled", False)
    assert view(staff, clock, session_id=theirs.session_id).live_at(clock.now())
    assert audit(staff, "user.disable", "user.session_revoked") == [
        ("user.disable", "root", None),
        ("user.session_revoked", "root", f"session {first.session_id}: disabled"),
        ("user.session_revoked", "root", f"session {second.session_id}: disabled"),
    ]
    with pytest.raises(AuthenticationFailed):
        sign_in(staff, clock)

    execute(admin, EnableUser("disp"))
    with pytest.raises(Conflict):
        execute(admin, EnableUser("disp"))
    assert audit(staff, "user.enable") == [("user.enable", "root", None)]
    assert view(staff, clock, session_id=first.session_id).ended_at is not None  # stays ended
    assert sign_in(staff, clock).actor == DISPATCHER  # the old password works again


def test_every_process_on_the_database_finds_the_same_session_and_key(staff, clock) -> None:
    """Two app processes behind a load balancer: each its own engine, one shared table."""
    signed = sign_in(staff, clock)
    token = redeem(staff, clock, signed.ticket)
    other_process = Database(staff.url)
    try:
        assert view(other_process, clock, token=token).session_id == signed.session_id
        key = cookie_signing_key(context_of(staff, clock, SYSTEM))
        assert cookie_signing_key(context_of(other_process, clock, SYSTEM)) == key
        assert len(key) >= 48
    finally:
        other_process.dispose()
