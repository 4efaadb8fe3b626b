"""Sliding-window rate limits: the public forms per browser session and per client address, and
machine intake per API token.

Counts live in the `rate_limit_hits` table, so every app process behind a load balancer sees the
same count. An attempt is allowed only when none of its keys (its session, its address) has used
its hourly limit in the last hour; an allowed attempt counts against every key, a refused one
against none, so someone who waits gets back in. An address gets a multiple of a session's limit
because a carrier's NAT puts many people behind one address, while one person can open new
sessions at will: the session limit is for the honest, the address limit for the scripted.

Machine intake is counted per token, by the minute (`intake_attempt`): a gateway's token, not its
address, says who it is, so no header a client writes can move it to another count.
"""

from __future__ import annotations

import hashlib
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, func, insert, select, text
from sqlalchemy.orm import Session

from emergency.core.clock import Clock
from emergency.core.db import Database
from emergency.core.errors import EmergencyError
from emergency.core.models import RateLimitHit
from emergency.core.settings import get_setting

WINDOW = timedelta(hours=1)
INTAKE_WINDOW = timedelta(minutes=1)
INTAKE_ACTION = "intake"
# The public actions and the setting that holds each one's per-session hourly limit.
LIMIT_SETTINGS = {
    "lookup": "public.lookup_per_hour",
    "report": "public.report_per_hour",
    "feedback": "public.feedback_per_hour",
}


class RateLimited(EmergencyError):
    """Too many attempts from this session or address; try again after `retry_after`."""

    def __init__(self, retry_after: timedelta) -> None:
        self.retry_after = retry_after
        super().__init__(f"too many attempts; try again in {max(int(retry_after.total_seconds()), 1)} s")


@dataclass(frozen=True)
class Requester:
    """Who is asking, as far as the public side can tell: a browser session and a client address."""

    session: str
    address: str | None

    def keys(self, action: str) -> list[tuple[str, str]]:
        """(kind, digest) per identity; the address is hashed so the table never holds it."""
        identities = [("session", self.session)]
        if self.address:
            identities.append(("address", self.address))
        return [(kind, _digest(action, kind, value)) for kind, value in identities]


def _digest(action: str, kind: str, value: str) -> str:
    return f"{action}:{kind}:" + hashlib.sha256(f"{action}|{kind}|{value}".encode()).hexdigest()[:48]


def client_address(direct: str | None, forwarded_for: str | None, trusted: Collection[str]) -> str:
    """The address to count: the connection's, unless that is a trusted reverse proxy, in which
    case the nearest address in X-Forwarded-For that is not one of ours. Only a trusted proxy's
    header is believed; anyone else could write any address there to dodge the limit."""
    address = direct or "localhost"  # Streamlit gives no address for a connection from this machine
    if address in trusted and forwarded_for:
        for hop in reversed([h.strip() for h in forwarded_for.split(",") if h.strip()]):
            if hop not in trusted:
                return hop[:64]
    return address


def trusted_proxies(session: Session) -> frozenset[str]:
    """The reverse proxies whose X-Forwarded-For is believed (`public.trusted_proxies`)."""
    return frozenset(str(a) for a in get_setting(session, "public.trusted_proxies") or ())


def limits(session: Session, action: str) -> dict[str, int]:
    """The hourly limits of an action, per session and per address."""
    per_session = int(get_setting(session, LIMIT_SETTINGS[action]))
    factor = int(get_setting(session, "public.address_limit_factor"))
    return {"session": per_session, "address": per_session * factor}


def attempt(db: Database, clock: Clock, action: str, requester: Requester) -> None:
    """Count one attempt at `action`, or raise RateLimited (counting nothing) when a limit is used up."""
    with db.write() as session:
        _no_durable_commit(session)
        check_and_count(session, clock, action, requester)


def check_and_count(session: Session, clock: Clock, action: str, requester: Requester) -> None:
    """The same as `attempt`, inside the caller's transaction."""
    if action not in LIMIT_SETTINGS:
        raise ValueError(f"unknown public action {action!r}")
    allowed = limits(session, action)
    _check_and_count(
        session, clock.now(), action, WINDOW, [(key, allowed[kind]) for kind, key in requester.keys(action)]
    )


def intake_attempt(db: Database, clock: Clock, token_name: str) -> None:
    """Count one request of an intake token, or raise RateLimited (counting nothing) when the token
    has made `intake.rate_per_minute` requests in the last minute."""
    with db.write() as session:
        _no_durable_commit(session)
        allowed = int(get_setting(session, "intake.rate_per_minute"))
        key = _digest(INTAKE_ACTION, "token", token_name)
        _check_and_count(session, clock.now(), INTAKE_ACTION, INTAKE_WINDOW, [(key, allowed)])


def _no_durable_commit(session: Session) -> None:
    """A transaction of hits alone need not wait for the disk on PostgreSQL: a hit lost in a crash
    costs nothing. (SQLite's WAL with synchronous=NORMAL already commits without a sync.)"""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SET LOCAL synchronous_commit = off"))


def _check_and_count(
    session: Session, now: datetime, action: str, window: timedelta, limited: list[tuple[str, int]]
) -> None:
    """Raise RateLimited when any key has used its limit within `window`; otherwise count a hit on each."""
    since = now - window
    if session.get_bind().dialect.name == "postgresql":
        # Two processes counting the same key at once would both see room for one more; SQLite's
        # BEGIN IMMEDIATE already serialises writers.
        for key, _ in sorted(limited):
            session.execute(text("SELECT pg_advisory_xact_lock(hashtext(:key))"), {"key": key})
    # Only this action's rows: the actions' windows differ (an hour for forms, a minute for intake).
    session.execute(
        delete(RateLimitHit).where(RateLimitHit.at <= since, RateLimitHit.key.startswith(f"{action}:"))
    )
    waits: list[timedelta] = []
    for key, allowed in limited:
        used, oldest = _used(session, key, since)
        if used >= allowed:
            waits.append(_retry_after(session, key, since, used - allowed, oldest, now, window))
    if waits:
        raise RateLimited(max(waits))
    session.execute(insert(RateLimitHit), [{"key": key, "at": now} for key, _ in limited])


def _used(session: Session, key: str, since: datetime) -> tuple[int, datetime | None]:
    used, oldest = session.execute(
        select(func.count(), func.min(RateLimitHit.at)).where(
            RateLimitHit.key == key, RateLimitHit.at > since
        )
    ).one()
    return int(used), oldest


def _retry_after(
    session: Session,
    key: str,
    since: datetime,
    surplus: int,
    oldest: datetime | None,
    now: datetime,
    window: timedelta,
) -> timedelta:
    """When enough of the window's hits have aged out to leave room for one more."""
    if surplus > 0:
        # A limit lowered below what was already used: wait for the (surplus+1)-th oldest hit.
        times: Sequence[datetime] = list(
            session.scalars(
                select(RateLimitHit.at)
                .where(RateLimitHit.key == key, RateLimitHit.at > since)
                .order_by(RateLimitHit.at)
                .limit(surplus + 1)
            )
        )
        oldest = times[-1]
    if oldest is None:
        return window  # a limit of 0: the action is switched off
    return max(oldest + window - now, timedelta(seconds=1))


PARTNER_ACTION = "partner"
PARTNER_WINDOW = timedelta(minutes=1)


def partner_attempt(db: Database, clock: Clock, token_name: str) -> None:
    """Count one request of a partner token, or raise RateLimited (counting nothing) when the token
    has made `partner.rate_per_minute` requests in the last minute (every app process shares the count)."""
    with db.write() as session:
        _no_durable_commit(session)
        allowed = int(get_setting(session, "partner.rate_per_minute"))
        key = _digest(PARTNER_ACTION, "token", token_name)
        _check_and_count(session, clock.now(), PARTNER_ACTION, PARTNER_WINDOW, [(key, allowed)])
