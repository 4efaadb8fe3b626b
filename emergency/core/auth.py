"""Users and login: argon2 hashes, lockout after repeated failures, disabling and enabling accounts.

Staff sessions themselves are emergency.core.staff_sessions.

These functions work in the caller's session; the role checks and transactions are the handlers'
(`emergency.app.commands.admin`), and the reads the queries' (`emergency.app.queries.admin`).
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from emergency.core import audit, staff_sessions
from emergency.core.actor import Actor
from emergency.core.clock import Clock
from emergency.core.errors import Conflict, InvalidInput, NotFound
from emergency.core.models import Crew, Role, User
from emergency.core.settings import get_setting

_hasher = PasswordHasher()
# Verifying against this keeps a login for an unknown user as slow as one for a known user,
# so timing does not tell which usernames exist.
_DUMMY_HASH = _hasher.hash("not-a-real-password")
USERNAME_PATTERN = re.compile(r"^[a-z][a-z0-9_.-]{1,31}$")
MIN_PASSWORD_LENGTH = 10


def use_password_hasher(hasher: PasswordHasher) -> PasswordHasher:
    """Hash and verify passwords with `hasher` from now on; returns the hasher it replaces.

    The dummy hash is remade with the new parameters, so a refused login still costs the same for
    every kind of refusal. For tests, which install a cheap hasher: full-cost argon2 is slow on purpose.
    """
    global _hasher, _DUMMY_HASH
    replaced = _hasher
    _hasher = hasher
    _DUMMY_HASH = hasher.hash("not-a-real-password")
    return replaced


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def check_password_rules(password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise InvalidInput(f"must be at least {MIN_PASSWORD_LENGTH} characters", field="password")
    if len(password) > 256:
        raise InvalidInput("must be at most 256 characters", field="password")


def create_user(
    session: Session,
    clock: Clock,
    actor: Actor,
    username: str,
    password: str,
    role: Role | str,
    display_name: str | None = None,
    crew_id: int | None = None,
    *,
    password_rules: bool = True,
) -> User:
    """Add a staff account (the actor is the administrator, for the audit trail). A crew leader's
    account (role crew) is linked to its crew (`crew_id`); no other role has one.

    `password_rules=False` is for the demo's published accounts only (their passwords are printed on
    the login page of a demo database, e.g. `demo-crew`); every other account obeys the rules."""
    username = username.strip().lower()
    if not USERNAME_PATTERN.match(username):
        raise InvalidInput(
            "2-32 characters: lower-case letters, digits, '.', '_' or '-', starting with a letter",
            field="username",
        )
    try:
        role = Role(role)
    except ValueError:
        raise InvalidInput(f"one of {', '.join(r.value for r in Role)}", field="role") from None
    if password_rules:
        check_password_rules(password)
    _check_crew_link(session, role, crew_id)
    if session.scalar(select(User).where(User.username == username)) is not None:
        raise Conflict(f"user {username} already exists")
    now = clock.now()
    user = User(
        username=username,
        display_name=(display_name or username).strip()[:120],
        role=role,
        password_hash=hash_password(password),
        active=True,
        failed_logins=0,
        created_at=now,
        password_changed_at=now,
        crew_id=crew_id,
    )
    session.add(user)
    session.flush()
    after: dict[str, Any] = {"username": username, "role": role}
    if crew_id is not None:
        after["crew_id"] = crew_id
    audit.record(session, clock, actor, "user.create", "user", user.id, after=after)
    return user


def _check_crew_link(session: Session, role: Role, crew_id: int | None) -> None:
    """A crew leader sees only their crew's work, so the account must name an existing crew."""
    if role != Role.CREW:
        if crew_id is not None:
            raise InvalidInput(
                "only a crew leader's account (role crew) is linked to a crew", field="crew_id"
            )
        return
    if crew_id is None:
        raise InvalidInput("choose the crew this leader leads", field="crew_id")
    if session.get(Crew, crew_id) is None:
        raise InvalidInput(f"no crew {crew_id}", field="crew_id")


def attempt_login(session: Session, clock: Clock, username: str, password: str) -> Actor | None:
    """The actor a username and password stand for, or None; counts failures and locks the account
    after too many.

    The caller commits before it refuses (a transaction rolled back by the refusal would forget the
    count) and says the same thing for every refusal, so an attacker learns nothing about which
    usernames exist or which accounts are locked.
    """
    now = clock.now()
    # Row lock: parallel guesses must each count towards the lockout (SQLite's BEGIN IMMEDIATE
    # already serialises them; PostgreSQL needs FOR UPDATE).
    name = username.strip().lower()
    # No account has a name outside the pattern; a NUL byte in one would be an error in PostgreSQL.
    user = None
    if USERNAME_PATTERN.match(name):
        user = session.scalar(select(User).where(User.username == name).with_for_update())
    if user is None:
        _verify(_DUMMY_HASH, password)
        return None
    locked = user.locked_until is not None and user.locked_until > now
    if not user.active or locked:
        _verify(_DUMMY_HASH, password)
        return None
    if not _verify(user.password_hash, password):
        user.failed_logins += 1
        limit = int(get_setting(session, "auth.max_failed_logins"))
        if user.failed_logins >= limit:
            user.locked_until = now + timedelta(minutes=float(get_setting(session, "auth.lockout_minutes")))
            user.failed_logins = 0
            audit.record(
                session,
                clock,
                Actor(user.username, user.role),
                "user.locked",
                "user",
                user.id,
                detail=f"{limit} failed logins",
            )
        return None
    user.failed_logins = 0
    user.locked_until = None
    user.last_login_at = now
    if _hasher.check_needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
    audit.record(session, clock, Actor(user.username, user.role), "user.login", "user", user.id)
    return Actor(user.username, user.role)


# Everyone who signs in on the staff login, crew leaders too: their sessions are touched, timed, ended.
STAFF_ROLES = (Role.DISPATCHER, Role.MANAGER, Role.ADMIN, Role.CREW)


def _verify(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError, UnicodeEncodeError):  # a lone surrogate is no password
        return False


def list_users(session: Session) -> list[User]:
    return list(session.scalars(select(User).order_by(User.username)))


def _get_user(session: Session, username: str) -> User:
    user = session.scalar(select(User).where(User.username == username.strip().lower()))
    if user is None:
        raise NotFound(f"no user {username}")
    return user


def disable_user(session: Session, clock: Clock, actor: Actor, username: str) -> User:
    """Disable an account and end its sessions at once: a dispatcher let go mid-shift is signed out on
    their next click, in every tab and app process, not when their session would have expired."""
    user = _get_user(session, username)
    before = {"active": user.active}
    user.active = False
    after = {"active": user.active}
    audit.record(session, clock, actor, "user.disable", "user", user.id, before=before, after=after)
    staff_sessions.end_user_sessions(session, clock, actor, user, "disabled")
    return user


def enable_user(session: Session, clock: Clock, actor: Actor, username: str) -> User:
    """Enable a disabled account again; its password, and any lockout, stay as they are."""
    user = _get_user(session, username)
    if user.active:
        raise Conflict(f"user {user.username} is already enabled")
    before = {"active": user.active}
    user.active = True
    audit.record(session, clock, actor, "user.enable", "user", user.id, before=before, after={"active": True})
    return user


def reset_password(session: Session, clock: Clock, actor: Actor, username: str, password: str) -> User:
    """Set a new password; also lifts a lockout and re-enables the account. Every open session of the
    account ends: a reset is how an administrator answers a password someone else may know."""
    check_password_rules(password)
    user = _get_user(session, username)
    before = _account_state(user)
    user.password_hash = hash_password(password)
    user.password_changed_at = clock.now()
    user.failed_logins = 0
    user.locked_until = None
    user.active = True
    after = _account_state(user)
    audit.record(session, clock, actor, "user.reset_password", "user", user.id, before=before, after=after)
    staff_sessions.end_user_sessions(session, clock, actor, user, "password_reset")
    return user


def _account_state(user: User) -> dict[str, object]:
    """What a password reset changes, for the audit trail (never the hash)."""
    return {
        "active": user.active,
        "locked_until": user.locked_until.isoformat() if user.locked_until else None,
        "failed_logins": user.failed_logins,
        "password_changed_at": user.password_changed_at.isoformat(),
    }
