"""Idempotency keys: a step sent twice (a double tap, a resend after a dropped connection) runs once.

The crew page makes a key when it draws a step's button and sends it with the command. The
handler claims the key in the command's own transaction before doing anything; the first run
stores its outcome under the key, and any later run with the same key gets that outcome back and
changes nothing. A refused command (rolled back) leaves no key, so a retry is judged afresh.

Two runs with one key at the same moment: SQLite's write transactions take turns, so the second
sees the first's key; on PostgreSQL the second insert waits for the first transaction and then
fails on the primary key, which `ClaimedElsewhere` reports so the caller can read the outcome.
"""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from emergency.core.actor import Actor
from emergency.core.clock import Clock
from emergency.core.errors import Conflict, InvalidInput
from emergency.core.field_models import CommandKey

# Keys are made by our own pages (uuid4 hex); anything else a client sends must look like one.
KEY_PATTERN = re.compile(r"^[A-Za-z0-9_-]{16,64}$")


class ClaimedElsewhere(Exception):
    """Another transaction stored this key first (it committed while this one waited)."""


def check_key(key: str) -> str:
    if not isinstance(key, str) or not KEY_PATTERN.match(key):
        raise InvalidInput("16-64 letters, digits, '-' or '_'", field="key")
    return key


def stored_outcome(session: Session, key: str, actor: Actor, command: str) -> dict[str, Any] | None:
    """The outcome stored under `key` by this actor's same command, or None if the key is new.

    A key used by someone else, or for another command, is refused: it is no repeat of this one.
    """
    row = session.get(CommandKey, check_key(key))
    if row is None:
        return None
    if row.actor != actor.username or row.command != command:
        raise Conflict(f"this request's key was already used for another action ({row.command})")
    return dict(row.outcome or {})


def claim(session: Session, clock: Clock, key: str, actor: Actor, command: str) -> CommandKey:
    """Insert the key (no outcome yet) now, so a concurrent run with the same key waits or fails."""
    row = CommandKey(key=check_key(key), actor=actor.username, command=command, at=clock.now(), outcome=None)
    session.add(row)
    try:
        session.flush()
    except IntegrityError:
        raise ClaimedElsewhere(key) from None
    return row


def settle(row: CommandKey, outcome: dict[str, Any]) -> None:
    """Store the first run's outcome (plain JSON) under its key, in the same transaction."""
    row.outcome = outcome
