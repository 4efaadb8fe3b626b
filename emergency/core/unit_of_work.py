"""Units of work: the role check, then the write transaction and analysis lock, or a read session.

Every service that changes state opens one of these instead of repeating the three steps. The role
is checked before the transaction opens, so a refused call never waits for the write lock.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy.orm import Session

from emergency.core.actor import Actor
from emergency.core.db import Database, lock_against_analysis
from emergency.core.models import Role


@contextmanager
def unit_of_work(
    db: Database, actor: Actor, roles: tuple[Role | str, ...], *, against_analysis: bool = False
) -> Iterator[Session]:
    """A write session for `actor`, who must hold one of `roles`; committed when the block ends.

    `against_analysis` keeps trouble-call analysis out until the commit (it rewrites outages, so an
    action on an outage or a crew must not interleave with it; see `lock_against_analysis`).
    """
    actor.require(*roles)
    with db.write() as session:
        if against_analysis:
            lock_against_analysis(session, db)
        yield session


@contextmanager
def read_as(db: Database, actor: Actor, roles: tuple[Role | str, ...]) -> Iterator[Session]:
    """A read session for `actor`, who must hold one of `roles` (queries for pages and routes)."""
    actor.require(*roles)
    with db.read() as session:
        yield session
