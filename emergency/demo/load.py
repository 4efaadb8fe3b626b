"""Loading the demo into a database: `load_territory` writes a generated territory in one transaction with
Core bulk inserts, marks the database as the demo and adds the demo accounts; `load_demo` generates the
territory, loads it and adds its history."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import func, insert, select, text
from sqlalchemy.orm import Session

from emergency.core import audit
from emergency.core.actor import CLI_ADMIN
from emergency.core.auth import create_user
from emergency.core.clock import Clock
from emergency.core.db import Database
from emergency.core.errors import Conflict, InvalidInput
from emergency.core.models import Base, Crew, CrewKind, CrewStatus, Device, District, Role, User
from emergency.core.settings import bump_territory_revision, set_setting
from emergency.demo.columns import INSERT_CHUNK
from emergency.demo.parameters import DEFAULT_CUSTOMERS, DEFAULT_SEED, load_parameters
from emergency.demo.territory import DEMO_ACCOUNTS, DemoSummary, Territory, generate_territory
from emergency.network.trace import retrace


def _advance_sequences(session: Session, tables: Sequence[str]) -> None:
    """PostgreSQL hands out ids from a sequence that explicit ids do not move; move it past them."""
    for table in tables:
        session.execute(
            text(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), MAX(id)) FROM {table} "
                "HAVING MAX(id) IS NOT NULL"
            )
        )


def insert_territory(session: Session, territory: Territory, chunk_size: int = INSERT_CHUNK) -> None:
    """Insert every row of a territory with its own ids: Core bulk inserts of chunks of dicts."""
    for model, rows in territory.rows(chunk_size):
        # Core on the Table: the ORM-enabled insert(Model) bulk path costs ~15 % more for the same SQL.
        session.execute(insert(Base.metadata.tables[model.__tablename__]), rows)
    if session.get_bind().dialect.name == "postgresql":
        _advance_sequences(session, [model.__tablename__ for model, _ in territory.tables()])


def load_territory(
    db: Database, clock: Clock, territory: Territory, chunk_size: int = INSERT_CHUNK
) -> DemoSummary:
    """Write a generated territory into an empty, migrated database in one transaction.

    Core bulk inserts in chunks, with the ids the generator chose. Also marks the database as the demo
    and creates the demo accounts (an account that already exists keeps its password).
    """
    summary = territory.summary()
    with db.write() as session:
        present = session.scalar(select(func.count()).select_from(District)) or 0
        present += session.scalar(select(func.count()).select_from(Device)) or 0
        if present:
            raise Conflict("the database already holds a territory; load the demo into an empty database")
        insert_territory(session, territory, chunk_size)
        set_setting(session, "territory.is_demo", True, clock, by=CLI_ADMIN.username)
        bump_territory_revision(session, clock, CLI_ADMIN.username)
        set_setting(session, "territory.name_en", territory.name_en, clock, by=CLI_ADMIN.username)
        set_setting(session, "territory.name_zh", territory.name_zh, clock, by=CLI_ADMIN.username)
        existing = set(session.scalars(select(User.username)))
        for username, role, password in DEMO_ACCOUNTS:
            if username not in existing:
                crew_id = demo_leaders_crew(session) if role == Role.CREW else None
                if role == Role.CREW and crew_id is None:
                    continue  # a territory without crews (a benchmark's) has no crew leader to sign in
                # The demo's passwords are public on purpose ("demo-crew" is shorter than the rules ask).
                create_user(
                    session,
                    clock,
                    CLI_ADMIN,
                    username,
                    password,
                    role,
                    f"Demo {role}",
                    crew_id,
                    password_rules=False,
                )
        audit.record(session, clock, CLI_ADMIN, "territory.load_demo", "territory", detail=str(summary))
    return summary


def demo_leaders_crew(session: Session) -> int | None:
    """The demo crew leader's crew: the first on-duty line crew of our own (not a mutual-aid one), by
    code. The demo storm's plan sends available crews to the outages waiting for one, so it is
    dispatched like any other when it is the nearest free crew. None for a territory without crews."""
    crew_id = session.scalar(
        select(Crew.id)
        .where(Crew.status == CrewStatus.AVAILABLE, Crew.kind == CrewKind.LINE, Crew.company.is_(None))
        .order_by(Crew.code)
        .limit(1)
    )
    if crew_id is None:  # a territory without an on-duty line crew: any crew, so the account works
        crew_id = session.scalar(select(Crew.id).order_by(Crew.code).limit(1))
    return None if crew_id is None else int(crew_id)


def load_demo(
    db: Database,
    clock: Clock,
    customers: int = DEFAULT_CUSTOMERS,
    seed: int = DEFAULT_SEED,
    history_years: int | None = None,
) -> DemoSummary:
    """Generate the demo territory for `clock.now()` and load it; see `load_territory`.

    Then years of closed outages before today (emergency.demo.history; None: its default of 3 years,
    0: none), so reliability reports and the major-event threshold have data from the first start.
    """
    from emergency.demo.history import DEFAULT_HISTORY_YEARS, load_history

    years = DEFAULT_HISTORY_YEARS if history_years is None else history_years
    if years < 0:
        raise InvalidInput("history years must be 0 or more", field="history_years")
    territory = generate_territory(customers, seed, clock.now())
    summary = load_territory(db, clock, territory)
    with db.write() as session:
        # The demo's incidents left breakers open: a tie beside a dead feeder hangs from its live
        # side as traced now, so the stored supply is the trace and a later re-trace moves nothing.
        retrace(session, clock)
    if years:
        load_history(db, clock, territory, years, seed, load_parameters()["city"]["timezone"])
    return summary
