"""API tokens for machines: the call centre and meters posting reports, crews' devices posting positions,
partners reading their feeds (scope `partner`, or `partner_named` to see critical facilities by name).

A token is shown once, when it is created, and stored only as its SHA-256 hash. Tokens are 256 random
bits, so a fast unsalted hash is enough: there is no dictionary to try, and a fast hash keeps the
check cheap on every request. Looking a token up by its hash also keeps the comparison from leaking
timing about the secret: the database compares hashes, never the token itself.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from collections.abc import Set
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from emergency.core import audit
from emergency.core.actor import Actor
from emergency.core.clock import Clock
from emergency.core.db import Database
from emergency.core.errors import Conflict, InvalidInput, NotFound
from emergency.core.models import ApiToken, TokenScope

# A readable prefix lets a leaked token be recognised by secret scanners and by people.
TOKEN_PREFIX = "odk_"
# 48 characters leave room for "token:" in the 64-character actor column of the audit trail.
NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,47}$")
# Longer than any token we issue; anything longer is refused before it is hashed.
MAX_PRESENTED_CHARS = 128
# last_used_at is for people ("is this token still in use?"), so minute resolution is plenty and
# saves a write on every request.
LAST_USED_RESOLUTION = timedelta(minutes=1)
ROLE_OF_SCOPE: dict[TokenScope, str] = {
    TokenScope.INTAKE: "intake",
    TokenScope.CREW_POSITION: "crew_position",
    TokenScope.PARTNER: "partner",
    TokenScope.PARTNER_NAMED: "partner_named",
}
# The partner feeds take either partner scope; the actor's role then says whether names are shown.
PARTNER_SCOPES = frozenset({TokenScope.PARTNER, TokenScope.PARTNER_NAMED})


@dataclass(frozen=True)
class TokenInfo:
    """What may be shown about a token: never the token, nor its hash."""

    name: str
    scope: str
    created_at: datetime
    created_by: str
    revoked_at: datetime | None
    last_used_at: datetime | None

    @property
    def active(self) -> bool:
        return self.revoked_at is None

    def to_json(self) -> dict[str, str | bool | None]:
        return {
            "name": self.name,
            "scope": self.scope,
            "active": self.active,
            "created_at": self.created_at.isoformat(),
            "created_by": self.created_by,
            "revoked_at": self.revoked_at.isoformat() if self.revoked_at else None,
            "last_used_at": self.last_used_at.isoformat() if self.last_used_at else None,
        }


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def _scope(scope: TokenScope | str) -> TokenScope:
    try:
        return TokenScope(scope)
    except ValueError:
        raise InvalidInput(f"one of {', '.join(s.value for s in TokenScope)}", field="scope") from None


def create_token(
    session: Session, clock: Clock, actor: Actor, name: str, scope: TokenScope | str = TokenScope.INTAKE
) -> str:
    """Create a token and return it in plain text: the only time it can be seen (the actor is the
    administrator, for the audit trail)."""
    name = name.strip()
    if not NAME_PATTERN.match(name):
        raise InvalidInput(
            "1-48 characters: letters, digits, '.', '_' or '-', starting with a letter or digit", field="name"
        )
    scope = _scope(scope)
    if session.scalar(select(ApiToken.id).where(ApiToken.name == name)) is not None:
        raise Conflict(f"a token named {name} already exists (names stay taken after a revoke)")
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    row = ApiToken(
        name=name,
        token_hash=hash_token(token),
        scope=scope,
        created_at=clock.now(),
        created_by=actor.username,
    )
    session.add(row)
    session.flush()
    audit.record(
        session, clock, actor, "token.create", "api_token", row.id, after={"name": name, "scope": str(scope)}
    )
    return token


def list_tokens(session: Session) -> list[TokenInfo]:
    return [
        TokenInfo(
            name=t.name,
            scope=str(t.scope),
            created_at=t.created_at,
            created_by=t.created_by,
            revoked_at=t.revoked_at,
            last_used_at=t.last_used_at,
        )
        for t in session.scalars(select(ApiToken).order_by(ApiToken.name))
    ]


def revoke_token(session: Session, clock: Clock, actor: Actor, name: str) -> None:
    """Stop a token working from now on; the row stays, for the audit trail and `tokens list`."""
    token = session.scalar(select(ApiToken).where(ApiToken.name == name.strip()))
    if token is None:
        raise NotFound(f"no token named {name}")
    if token.revoked_at is not None:
        raise Conflict(f"token {token.name} was already revoked at {token.revoked_at.isoformat()}")
    token.revoked_at = clock.now()
    audit.record(
        session,
        clock,
        actor,
        "token.revoke",
        "api_token",
        token.id,
        before={"revoked_at": None},
        after={"revoked_at": token.revoked_at.isoformat()},
        detail=token.name,
    )


def _usable(session: Session, presented: str | None, scope: TokenScope | Set[TokenScope]) -> ApiToken | None:
    if not presented or len(presented) > MAX_PRESENTED_CHARS or not presented.startswith(TOKEN_PREFIX):
        return None
    digest = hash_token(presented)
    token = session.scalar(select(ApiToken).where(ApiToken.token_hash == digest))
    if token is None or not hmac.compare_digest(token.token_hash, digest):
        return None
    allowed = {scope} if isinstance(scope, TokenScope) else scope
    if token.revoked_at is not None or token.scope not in allowed:
        return None
    return token


def _actor(token: ApiToken) -> Actor:
    return Actor(f"token:{token.name}", ROLE_OF_SCOPE[TokenScope(token.scope)])


def _is_stale(token: ApiToken, now: datetime) -> bool:
    return token.last_used_at is None or now - token.last_used_at >= LAST_USED_RESOLUTION


def _touch(session: Session, token_id: int, now: datetime) -> None:
    # Conditional, so concurrent requests of one token write at most once per minute between them.
    session.execute(
        update(ApiToken)
        .where(
            ApiToken.id == token_id,
            or_(ApiToken.last_used_at.is_(None), ApiToken.last_used_at <= now - LAST_USED_RESOLUTION),
        )
        .values(last_used_at=now)
        .execution_options(synchronize_session=False)
    )


def verify_token(
    session: Session, clock: Clock, presented: str | None, scope: TokenScope | Set[TokenScope]
) -> Actor | None:
    """The actor a presented token stands for, or None for an unknown, revoked or other-scope token
    (`scope` may be a set of scopes any of which will do).

    Notes the use in `last_used_at` (at most once a minute) in the caller's transaction.
    """
    token = _usable(session, presented, scope)
    if token is None:
        return None
    now = clock.now()
    if _is_stale(token, now):
        _touch(session, token.id, now)
    return _actor(token)


def authenticate_token(
    db: Database, clock: Clock, presented: str | None, scope: TokenScope | Set[TokenScope]
) -> Actor | None:
    """`verify_token` for an HTTP request: a read, plus a short write only when last_used_at is stale.

    On SQLite a write transaction takes the database lock, so checking every request in one would
    queue requests (and requests with bad tokens) behind each other for nothing.
    """
    with db.read() as session:
        token = _usable(session, presented, scope)
        if token is None:
            return None
        actor = _actor(token)
        token_id, stale = token.id, _is_stale(token, clock.now())
    if stale:
        with db.write() as session:
            _touch(session, token_id, clock.now())
    return actor
