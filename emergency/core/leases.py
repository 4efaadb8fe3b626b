"""Leases: a piece of background work runs in one app process at a time, across processes.

Several app processes share one database (behind nginx, see deploy/). Each background loop (the
SLA monitor, notifications, warning expiry, the CAP feed watcher) and the demo simulator holds a
lease, a row of `leases` named after the loop, before it does a round. The holder renews it every
round; a process that dies stops renewing, and another takes the lease over once it has expired,
so the work moves to a survivor within about one lease's time to live.

Taking or renewing is one statement on both databases: an UPDATE that matches only when the lease
has expired or is already ours, else an INSERT that does nothing when the row exists. Two processes
asking at once cannot both win: PostgreSQL re-checks the UPDATE's condition on the row the other
just wrote (READ COMMITTED re-evaluates it), and the primary key refuses the second INSERT; SQLite
runs one writer at a time.

A lease is not the only guard: the loops keep their own (unique keys, claimed rows, locked rows),
so a round that runs twice in the moment two processes disagree about the time still writes once.
"""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache

from sqlalchemy import String, case, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Mapped, mapped_column

from emergency.core.clock import Clock
from emergency.core.db import Database
from emergency.core.models import Base
from emergency.core.settings import get_setting

HOLDER_CHARS = 200


class Lease(Base):
    """Who runs a piece of background work now, and until when (`emergency.core.leases`)."""

    __tablename__ = "leases"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    holder: Mapped[str] = mapped_column(String(HOLDER_CHARS))
    acquired_at: Mapped[datetime]  # when this holder took it (kept while it renews)
    renewed_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    version: Mapped[int]  # bumped by every take-over, renewal and release


@dataclass(frozen=True)
class LeaseState:
    """A lease as `/healthz` shows it."""

    name: str
    holder: str
    acquired_at: datetime
    renewed_at: datetime
    expires_at: datetime
    version: int
    held: bool  # not yet expired at the time asked


@dataclass(frozen=True)
class LoopTiming:
    """How often the app's background loops run and how long a lease outlives its holder."""

    interval: float  # seconds between two rounds
    lease: timedelta


def loop_timing(db: Database) -> LoopTiming:
    """The `server.loop_seconds` and `server.lease_seconds` settings, read when an app process starts."""
    with db.read() as session:
        interval = float(get_setting(session, "server.loop_seconds"))
        lease = float(get_setting(session, "server.lease_seconds"))
    # A lease shorter than two rounds' gap would lapse between two renewals of a live holder.
    return LoopTiming(interval, timedelta(seconds=max(lease, 2 * interval)))


@cache
def process_holder() -> str:
    """This process's name as a holder: host, pid, and a random part (a pid is reused after a restart)."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"[:HOLDER_CHARS]


def acquire_or_renew(db: Database, clock: Clock, name: str, holder: str, ttl: timedelta) -> bool:
    """Take the lease `name` for `holder`, or renew it if already held; True when `holder` holds it now."""
    if ttl <= timedelta(0):
        raise ValueError("a lease needs a positive time to live")
    now = clock.now()
    with db.write() as session:
        renewed = session.execute(
            update(Lease)
            .where(Lease.name == name, or_(Lease.holder == holder, Lease.expires_at <= now))
            .values(
                holder=holder,
                # A take-over starts a new tenure; a renewal keeps when it began.
                acquired_at=case((Lease.holder == holder, Lease.acquired_at), else_=now),
                renewed_at=now,
                expires_at=now + ttl,
                version=Lease.version + 1,
            )
            .execution_options(synchronize_session=False)
        )
        if renewed.rowcount == 1:  # type: ignore[attr-defined]
            return True
        insert = pg_insert if db.dialect == "postgresql" else sqlite_insert
        created = session.execute(
            insert(Lease)
            .values(
                name=name, holder=holder, acquired_at=now, renewed_at=now, expires_at=now + ttl, version=1
            )
            .on_conflict_do_nothing(index_elements=[Lease.name])
            # RETURNING, not rowcount: an ORM insert does not report a row count on psycopg.
            .returning(Lease.name)
        )
        return created.first() is not None


def run_if_held(
    db: Database, clock: Clock, name: str, holder: str, ttl: timedelta, work: Callable[[], object]
) -> bool:
    """One round of leased work: renew or take the lease, and do `work` only while holding it.

    True when the round ran. A process that loses the lease (it paused longer than `ttl` and
    another took over) stops at its next round."""
    if not acquire_or_renew(db, clock, name, holder, ttl):
        return False
    work()
    return True


def release(db: Database, clock: Clock, name: str, holder: str) -> bool:
    """Give the lease up now (a clean shutdown), so another process need not wait for it to expire.

    The row stays, expired, naming its last holder. False when `holder` did not hold it."""
    now = clock.now()
    with db.write() as session:
        released = session.execute(
            update(Lease)
            .where(Lease.name == name, Lease.holder == holder, Lease.expires_at > now)
            .values(expires_at=now, renewed_at=now, version=Lease.version + 1)
            .execution_options(synchronize_session=False)
        )
        return released.rowcount == 1  # type: ignore[attr-defined]


def lease_states(db: Database, clock: Clock) -> list[LeaseState]:
    """Every lease, by name, with whether it is held now."""
    now = clock.now()
    with db.read() as session:
        rows = session.scalars(select(Lease).order_by(Lease.name)).all()
    return [
        LeaseState(
            name=row.name,
            holder=row.holder,
            acquired_at=row.acquired_at,
            renewed_at=row.renewed_at,
            expires_at=row.expires_at,
            version=row.version,
            held=row.expires_at > now,
        )
        for row in rows
    ]
