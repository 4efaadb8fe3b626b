"""Getting a database ready: schema, default settings, and the demo territory when asked for."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy import func, select

from emergency.core.clock import Clock
from emergency.core.db import Database
from emergency.core.errors import Conflict
from emergency.core.models import Customer
from emergency.core.settings import seed_defaults
from emergency.demo.parameters import DEFAULT_CUSTOMERS, DEFAULT_SEED

if TYPE_CHECKING:  # the generator loads numpy, pandas and shapely: only when a demo is made
    from emergency.demo.territory import DemoSummary


def prepare_schema(db: Database, clock: Clock) -> None:
    """Create or upgrade the schema and add any missing default setting; safe to repeat."""
    db.migrate()
    with db.write() as session:
        seed_defaults(session, clock)


def has_territory(db: Database) -> bool:
    with db.read() as session:
        return bool(session.scalar(select(func.count()).select_from(Customer)))


def init_database(
    db: Database,
    clock: Clock,
    *,
    demo: bool = False,
    customers: int = DEFAULT_CUSTOMERS,
    seed: int = DEFAULT_SEED,
    history_years: int | None = None,
) -> DemoSummary | None:
    """`python -m emergency init`: schema, defaults and optionally the demo territory.

    Returns the demo summary when a territory was generated. A demo is never written over an
    existing territory: that would mix a real utility's customers with invented ones.
    """
    prepare_schema(db, clock)
    if not demo:
        return None
    if has_territory(db):
        raise Conflict("this database already holds a territory; use a new database for the demo")
    from emergency.demo.load import load_demo

    return load_demo(db, clock, customers=customers, seed=seed, history_years=history_years)


def ensure_app_database(db: Database, clock: Clock, *, create_demo: bool) -> None:
    """What the app does on start: upgrade the schema, and on a fresh default install, make the demo."""
    fresh = not db.has_schema()
    prepare_schema(db, clock)
    if create_demo and fresh and not has_territory(db):
        from emergency.demo.load import load_demo

        load_demo(db, clock, customers=DEFAULT_CUSTOMERS, seed=DEFAULT_SEED)
