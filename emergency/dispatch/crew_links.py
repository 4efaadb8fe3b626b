"""One-time links that sign a (mutual-aid) crew leader in to their crew page.

A lending utility's crew leader has no account with us. A dispatcher makes a link for the crew;
the leader opens it on their phone and is signed in as a `crew` user of that crew (the account is
made on first use and reused afterwards), with the normal staff session cookie. Only the token's
SHA-256 hash is stored (the token is 256 random bits, so a fast hash is enough and a copy of the
database signs nobody in); a link works once, before `mutual_aid.link_hours` have passed, and never
for a released crew. Making a new link for a crew leaves its earlier unused links valid until
they expire, so a link sent twice by SMS still works once.

Functions work in the caller's session; roles and transactions are the handlers'
(`emergency.app.commands.mutual_aid`).
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum

from sqlalchemy import select
from sqlalchemy.orm import Session

from emergency.core import audit, auth, staff_sessions
from emergency.core.actor import Actor
from emergency.core.clock import Clock
from emergency.core.errors import Conflict, NotFound
from emergency.core.field_models import CrewLink
from emergency.core.models import Crew, Role, User
from emergency.core.settings import get_setting

LINK_PATH = "/crew/link/"
MAX_TOKEN_CHARS = 128


class LinkState(StrEnum):
    VALID = "valid"
    UNKNOWN = "unknown"
    USED = "used"
    EXPIRED = "expired"
    RELEASED = "released"  # the crew was released: its links no longer sign anyone in
    DISABLED = "disabled"  # the leader's account was disabled by an administrator


@dataclass(frozen=True)
class NewLink:
    link_id: int
    crew_code: str
    token: str  # shown once: only its hash is stored
    path: str  # LINK_PATH + token
    expires_at_utc: str


@dataclass(frozen=True)
class LinkCheck:
    state: LinkState
    crew_code: str | None = None
    leader_name: str | None = None


@dataclass(frozen=True)
class LinkSignIn:
    """A used link: who was signed in, and the session token for the browser's cookie."""

    actor: Actor
    crew_id: int
    session_token: str


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def create_link(session: Session, clock: Clock, actor: Actor, crew_id: int) -> NewLink:
    crew = session.get(Crew, crew_id)
    if crew is None:
        raise NotFound(f"no crew {crew_id}")
    if crew.released_at is not None:
        raise Conflict(f"crew {crew.code} was released; it gets no new link")
    now = clock.now()
    token = secrets.token_urlsafe(32)
    link = CrewLink(
        token_hash=_digest(token),
        crew_id=crew.id,
        created_at=now,
        created_by=actor.username,
        expires_at=now + timedelta(hours=float(get_setting(session, "mutual_aid.link_hours"))),
    )
    session.add(link)
    session.flush()
    # The token itself is never written anywhere but the answer.
    audit.record(
        session,
        clock,
        actor,
        "crew_link.create",
        "crew",
        crew.id,
        after={"link_id": link.id, "expires_at": link.expires_at.isoformat()},
    )
    return NewLink(link.id, crew.code, token, LINK_PATH + token, link.expires_at.isoformat())


def _find(session: Session, token: str, *, lock: bool) -> CrewLink | None:
    if not 0 < len(token) <= MAX_TOKEN_CHARS or not token.isascii():
        return None
    query = select(CrewLink).where(CrewLink.token_hash == _digest(token))
    return session.scalar(query.with_for_update() if lock else query)


def _state(session: Session, clock: Clock, link: CrewLink | None) -> tuple[LinkState, Crew | None]:
    if link is None:
        return LinkState.UNKNOWN, None
    crew = session.get(Crew, link.crew_id)
    assert crew is not None  # a foreign key
    if link.used_at is not None:
        return LinkState.USED, crew
    if link.expires_at <= clock.now():
        return LinkState.EXPIRED, crew
    if crew.released_at is not None:
        return LinkState.RELEASED, crew
    user = _leader_account(session, crew)
    if user is not None and not user.active:
        return LinkState.DISABLED, crew
    return LinkState.VALID, crew


def check_link(session: Session, clock: Clock, token: str) -> LinkCheck:
    """What a link would do, without using it (the page a phone shows before the leader taps)."""
    state, crew = _state(session, clock, _find(session, token, lock=False))
    if crew is None or state != LinkState.VALID:
        return LinkCheck(state)
    return LinkCheck(state, crew.code, crew.leader_name)


def _leader_account(session: Session, crew: Crew) -> User | None:
    return session.scalar(
        select(User).where(User.crew_id == crew.id, User.role == Role.CREW).order_by(User.id).limit(1)
    )


def _username(session: Session, crew: Crew) -> str:
    """`crew-<code>` in the account name rules, with a number after it if that name is taken."""
    base = "crew-" + "".join(ch if ch.isalnum() or ch in "_.-" else "-" for ch in crew.code.lower())
    base = base[:28]
    name, n = base, 1
    while session.scalar(select(User.id).where(User.username == name)) is not None:
        n += 1
        name = f"{base}-{n}"
    return name


def _ensure_account(session: Session, clock: Clock, actor: Actor, crew: Crew) -> User:
    user = _leader_account(session, crew)
    if user is not None:
        return user
    # A password nobody knows: the leader signs in by links, never by the login form.
    user = auth.create_user(
        session,
        clock,
        actor,
        _username(session, crew),
        secrets.token_urlsafe(32),
        Role.CREW,
        crew.leader_name or crew.name,
        crew_id=crew.id,
    )
    return user


def use_link(
    session: Session, clock: Clock, token: str, user_agent: str | None = None
) -> LinkSignIn | LinkState:
    """Sign the crew's leader in: the account (made on first use), a staff session and its token.

    Returns why not (used, expired, unknown, released, disabled) when the link cannot be used; a
    link is marked used in the same transaction, under a row lock, so two taps sign in once.
    """
    link = _find(session, token, lock=True)
    state, crew = _state(session, clock, link)
    if state != LinkState.VALID or link is None or crew is None:
        return state
    system = Actor("crew-link", "public")
    user = _ensure_account(session, clock, system, crew)
    leader = Actor(user.username, str(user.role))
    opened = staff_sessions.open_session(session, clock, leader, user_agent)
    session_token = staff_sessions.redeem_ticket(session, clock, opened.ticket)
    assert session_token is not None  # the ticket was made a moment ago in this transaction
    link.used_at = clock.now()
    link.user_id = user.id
    user.last_login_at = link.used_at
    audit.record(
        session,
        clock,
        leader,
        "crew_link.sign_in",
        "user",
        user.id,
        after={"crew_id": crew.id, "link_id": link.id, "session_id": opened.session_id},
    )
    return LinkSignIn(leader, crew.id, session_token)
