"""Staff sessions kept in the database, so a reload, a second tab or another app process keeps a
dispatcher signed in, and an administrator can end them all at once.

A session is opened at login together with a one-time ticket. The login page sends the browser to
a server route with the ticket; the route redeems it (once, within `TICKET_SECONDS`) for a fresh
random token, which it puts in a signed, HttpOnly cookie (dashboard/auth_routes.py). Only SHA-256
hashes of tickets and tokens are stored: both are 256 random bits, so a fast hash is enough and a
copy of the database signs nobody in.

A session ends by logout, by sitting idle past `auth.session_idle_minutes` (measured from
`last_seen_at`, which full page runs move forward at most once a `TOUCH_INTERVAL`), or when an
administrator disables the account. Each end is written to the audit trail with its reason.

These functions work in the caller's session; the role checks and transactions are the handlers'
(`emergency.app.commands.admin`) and the queries' (`emergency.app.queries.admin`).
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from emergency.core import audit
from emergency.core.actor import Actor
from emergency.core.clock import Clock
from emergency.core.errors import InvalidInput
from emergency.core.models import SigningKey, StaffSession, User
from emergency.core.settings import get_setting

# Long enough for a slow browser to follow the redirect, short enough that a ticket seen in a log
# or a history entry is worthless.
TICKET_SECONDS = 60
# last_seen_at decides idle expiry to the minute; writing it on every click would cost a write
# transaction per click for nothing.
TOUCH_INTERVAL = timedelta(minutes=1)
# Why a session ended, and what the audit trail calls it.
END_ACTIONS = {
    "logout": "user.logout",
    "idle": "user.session_expired",
    "disabled": "user.session_revoked",
    "password_reset": "user.session_revoked",
}
COOKIE_KEY_NAME = "staff_session_cookie"
# A presented ticket or token longer than any we issue is refused before it is hashed.
MAX_PRESENTED_CHARS = 128
USER_AGENT_CHARS = 200
LANGUAGES = ("en", "zh")


@dataclass(frozen=True)
class Opened:
    """A new session: its id (kept by the browser session that logged in) and its one-time ticket."""

    session_id: int
    ticket: str


@dataclass(frozen=True)
class SignedIn:
    """A login that opened a session: who, the session, and the ticket for the browser's cookie."""

    actor: Actor
    session_id: int
    ticket: str  # one-time, short-lived: the browser trades it for the session cookie


@dataclass(frozen=True)
class SessionView:
    """A staff session as the entry script checks it on every run."""

    session_id: int
    actor: Actor
    user_active: bool
    last_seen_at: datetime
    ended_at: datetime | None
    end_reason: str | None
    idle_minutes: float
    language: str | None = None  # the page language last chosen in this session

    def idle_since(self, last_active: datetime) -> timedelta:
        return last_active - self.last_seen_at

    def live_at(self, now: datetime, last_active: datetime | None = None) -> bool:
        """Not ended, the account enabled, and a click within the idle limit of `now`.

        `last_active` is a later click this browser session knows of and the database may not
        have yet (last_seen_at is written at most once a minute).
        """
        if self.ended_at is not None or not self.user_active:
            return False
        last = max(self.last_seen_at, last_active) if last_active else self.last_seen_at
        return now - last <= timedelta(minutes=self.idle_minutes)


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def _presentable(secret: str) -> bool:
    return 0 < len(secret) <= MAX_PRESENTED_CHARS and secret.isascii()


def open_session(session: Session, clock: Clock, actor: Actor, user_agent: str | None = None) -> Opened:
    """Open a session for `actor`, who has just proved their password, with its one-time ticket."""
    user_id = session.scalar(select(User.id).where(User.username == actor.username))
    if user_id is None:
        raise InvalidInput(f"no user {actor.username}", field="username")
    now = clock.now()
    ticket = secrets.token_urlsafe(32)
    row = StaffSession(
        user_id=user_id,
        ticket_hash=_digest(ticket),
        ticket_expires_at=now + timedelta(seconds=TICKET_SECONDS),
        created_at=now,
        last_seen_at=now,
        user_agent=(user_agent or "")[:USER_AGENT_CHARS] or None,
    )
    session.add(row)
    session.flush()
    return Opened(row.id, ticket)


def redeem_ticket(session: Session, clock: Clock, ticket: str) -> str | None:
    """The new session token a ticket stands for, or None if it is unknown, used, expired or the
    session has ended. A ticket works once: it is forgotten as it is redeemed."""
    if not _presentable(ticket):
        return None
    row = session.scalar(
        select(StaffSession).where(StaffSession.ticket_hash == _digest(ticket)).with_for_update()
    )
    if row is None:
        return None
    row.ticket_hash = None
    expired = row.ticket_expires_at is None or row.ticket_expires_at < clock.now()
    row.ticket_expires_at = None
    if expired or row.ended_at is not None:
        return None
    token = secrets.token_urlsafe(32)
    row.token_hash = _digest(token)
    return token


def find_session(
    session: Session, *, session_id: int | None = None, token: str | None = None
) -> SessionView | None:
    """The session with this id, or this (cookie's) token; None when there is none."""
    query = select(StaffSession, User).join(User, User.id == StaffSession.user_id)
    if session_id is not None:
        query = query.where(StaffSession.id == session_id)
    elif token is not None and _presentable(token):
        query = query.where(StaffSession.token_hash == _digest(token))
    else:
        return None
    found = session.execute(query).first()
    if found is None:
        return None
    row, user = found
    return SessionView(
        session_id=row.id,
        actor=Actor(user.username, str(user.role)),
        user_active=user.active,
        last_seen_at=row.last_seen_at,
        ended_at=row.ended_at,
        end_reason=row.end_reason,
        idle_minutes=float(get_setting(session, "auth.session_idle_minutes")),
        language=row.language,
    )


def open_session_counts(session: Session, now: datetime) -> dict[int, int]:
    """Live sessions (not ended, a click within the idle limit) per user id, for the accounts page."""
    idle = timedelta(minutes=float(get_setting(session, "auth.session_idle_minutes")))
    rows = session.execute(
        select(StaffSession.user_id, func.count())
        .where(StaffSession.ended_at.is_(None), StaffSession.last_seen_at >= now - idle)
        .group_by(StaffSession.user_id)
    )
    return {user_id: count for user_id, count in rows}


def _own_session(session: Session, actor: Actor, session_id: int) -> StaffSession | None:
    """`actor`'s session `session_id` (never someone else's), locked for the update."""
    return session.scalar(
        select(StaffSession)
        .join(User, User.id == StaffSession.user_id)
        .where(StaffSession.id == session_id, User.username == actor.username)
        .with_for_update()
    )


def touch(session: Session, clock: Clock, actor: Actor, session_id: int, language: str | None = None) -> bool:
    """Note a click in `actor`'s live session, and the page language chosen in it; whether written.

    The click is written at most once a TOUCH_INTERVAL; a changed language at once (so a reload
    right after switching keeps it).
    """
    row = _own_session(session, actor, session_id)
    if row is None or row.ended_at is not None:
        return False
    now = clock.now()
    new_language = language in LANGUAGES and language != row.language
    if not new_language and now - row.last_seen_at < TOUCH_INTERVAL:
        return False
    row.last_seen_at = now
    if new_language:
        row.language = language
    return True


def end_session(
    session: Session, clock: Clock, actor: Actor, reason: str, session_id: int | None = None
) -> None:
    """`actor`'s session ended (logout or idle): close its row and record why, once.

    Without a session id (a caller that keeps none) only the audit record is written.
    """
    if reason not in ("logout", "idle"):
        raise InvalidInput("one of logout, idle", field="reason")
    user_id = session.scalar(select(User.id).where(User.username == actor.username))
    if session_id is not None:
        row = _own_session(session, actor, session_id)
        if row is None or row.ended_at is not None:
            return  # already ended (another tab, or the other reason first): not a second ending
        _close(row, clock.now(), reason)
    audit.record(session, clock, actor, END_ACTIONS[reason], "user", user_id)


def end_user_sessions(session: Session, clock: Clock, actor: Actor, user: User, reason: str) -> int:
    """End every live session of `user` (the account was disabled, or its password reset), each
    audited; how many ended."""
    rows = session.scalars(
        select(StaffSession)
        .where(StaffSession.user_id == user.id, StaffSession.ended_at.is_(None))
        .order_by(StaffSession.id)
        .with_for_update()
    ).all()
    now = clock.now()
    for row in rows:
        _close(row, now, reason)
        audit.record(
            session, clock, actor, END_ACTIONS[reason], "user", user.id, detail=f"session {row.id}: {reason}"
        )
    return len(rows)


def _close(row: StaffSession, now: datetime, reason: str) -> None:
    row.ended_at = now
    row.end_reason = reason
    # An ended session can never be presented again, whatever the browser still holds.
    row.ticket_hash = None
    row.ticket_expires_at = None


def cookie_signing_key(session: Session) -> str:
    """The secret every app process signs the session cookie with (generated by migration 0009)."""
    key = session.get(SigningKey, COOKIE_KEY_NAME)
    if key is None:
        raise LookupError("no cookie signing key: run the migrations (python -m emergency init)")
    return key.secret
