"""Schema upgrades on SQLite and PostgreSQL: the migrations build exactly what the models describe.

The autogenerate comparison is the guard against a model change merged without its migration:
the day someone adds a column to `models.py` and forgets `alembic revision --autogenerate`, this
file fails on both databases.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    Connection,
    DateTime,
    Float,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    insert,
    inspect,
)

from emergency.core import (
    field_models,  # noqa: F401  (its tables are part of the schema)
    leases,  # noqa: F401  (its table is part of the schema)
    meter_models,  # noqa: F401  (its tables are part of the schema)
)
from emergency.core.db import Database, alembic_config
from emergency.core.models import Base


def table_names(db: Database) -> set[str]:
    return set(inspect(db.engine).get_table_names())


def schema_differences(connection: Connection, metadata: MetaData) -> list[Any]:
    """What `alembic revision --autogenerate` would write for this database and these models."""
    context = MigrationContext.configure(
        connection,
        # The same comparison options as emergency/migrations/env.py uses to generate revisions.
        opts={"compare_type": True, "render_as_batch": True, "target_metadata": metadata},
    )
    return compare_metadata(context, metadata)


def run_alembic(db: Database, action: str, revision: str) -> None:
    """Upgrade or downgrade the way Database.migrate() does: on a connection we hand to alembic."""
    with db.engine.begin() as connection:
        config = alembic_config(db.url)
        config.attributes["connection"] = connection
        getattr(command, action)(config, revision)


def current_revision(db: Database) -> str | None:
    with db.engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def head_revision() -> str:
    head = ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()
    assert head is not None
    return head


@pytest.fixture
def empty_db(database_url: str) -> Iterator[Database]:
    db = Database(database_url)
    try:
        yield db
    finally:
        db.dispose()


def test_migrate_creates_every_model_table(empty_db: Database) -> None:
    assert table_names(empty_db) == set()
    assert not empty_db.has_schema()

    empty_db.migrate()

    expected = set(Base.metadata.tables)
    assert expected <= table_names(empty_db)
    assert table_names(empty_db) - expected == {"alembic_version"}
    assert empty_db.has_schema()
    assert current_revision(empty_db) == head_revision()


def test_migrate_twice_is_harmless(empty_db: Database) -> None:
    empty_db.migrate()
    empty_db.migrate()

    assert current_revision(empty_db) == head_revision()
    assert set(Base.metadata.tables) <= table_names(empty_db)


def test_migrations_match_the_models(empty_db: Database) -> None:
    empty_db.migrate()

    with empty_db.engine.connect() as connection:
        differences = schema_differences(connection, Base.metadata)

    assert differences == [], (
        "models.py and the migrations disagree; generate a migration with "
        "`alembic revision --autogenerate`:\n" + "\n".join(map(repr, differences))
    )


def test_comparison_notices_a_model_change_without_a_migration(empty_db: Database) -> None:
    """The check above is only worth having if it fails when a column is added to a model."""
    empty_db.migrate()
    changed = MetaData(naming_convention=Base.metadata.naming_convention)
    for table in Base.metadata.tables.values():
        table.to_metadata(changed)
    changed.tables["crews"].append_column(Column("radio_channel", Integer, nullable=True))

    with empty_db.engine.connect() as connection:
        differences = schema_differences(connection, changed)

    added = [d for d in differences if d[0] == "add_column"]
    assert [(d[2], d[3].name) for d in added] == [("crews", "radio_channel")]


def test_downgrade_to_base_and_upgrade_again(empty_db: Database) -> None:
    empty_db.migrate()

    run_alembic(empty_db, "downgrade", "base")

    assert current_revision(empty_db) is None
    assert table_names(empty_db) & set(Base.metadata.tables) == set()

    run_alembic(empty_db, "upgrade", "head")

    assert current_revision(empty_db) == head_revision()
    assert set(Base.metadata.tables) <= table_names(empty_db)
    with empty_db.engine.connect() as connection:
        assert schema_differences(connection, Base.metadata) == []


def test_processes_starting_together_migrate_one_at_a_time(empty_db: Database) -> None:
    """Several app processes behind a load balancer start at once against a new database."""
    barrier = threading.Barrier(4)
    failures: list[BaseException] = []

    def start_app_process() -> None:
        db = Database(empty_db.url)
        barrier.wait()
        try:
            db.migrate()
        except BaseException as error:  # collected: any failure of any starter fails the test
            failures.append(error)
        finally:
            db.dispose()

    threads = [threading.Thread(target=start_app_process) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)

    assert failures == []
    assert empty_db.has_schema()


def _row(table: Table, **given: Any) -> dict[str, Any]:
    """A row for `table` as the schema of the moment has it: `given`, and a plain value for every
    other column that must have one."""
    plain = {Integer: 1, Float: 0.5, Boolean: False, String: "x", Text: "x"}
    row = dict(given)
    for column in table.columns:
        if column.name in row or column.nullable or column.primary_key or column.server_default is not None:
            continue
        if isinstance(column.type, DateTime):
            row[column.name] = datetime(2026, 7, 1, 2, 0)
        elif isinstance(column.type, JSON):
            row[column.name] = {}
        else:
            row[column.name] = next(v for kind, v in plain.items() if isinstance(column.type, kind))
    return row


def test_an_upgrade_keeps_a_territory_with_outages_and_the_reports_pointing_at_them(
    empty_db: Database,
) -> None:
    """Migrations run on the utility's database, full of rows that point at each other: a table a
    migration rebuilds must not be one that other rows reference (SQLite's foreign keys refuse to
    drop it), and a network written as a tree gets its nodes."""
    run_alembic(empty_db, "upgrade", "0009_staff_sessions")
    tables = MetaData()
    tables.reflect(empty_db.engine)
    t = tables.tables
    with empty_db.engine.begin() as connection:
        connection.execute(insert(t["districts"]), _row(t["districts"], id=1, code="D", geometry={}))
        for id_, code, kind, parent in (
            (1, "S", "substation", None),
            (2, "B", "breaker", 1),
            (3, "T", "transformer", 2),
        ):
            connection.execute(
                insert(t["devices"]),
                _row(t["devices"], id=id_, code=code, kind=kind, parent_id=parent, normal_state="closed"),
            )
        connection.execute(
            insert(t["customers"]),
            _row(
                t["customers"],
                id=1,
                account_no="A1",
                transformer_id=3,
                district_id=1,
                kind="residential",
                importance="none",
            ),
        )
        connection.execute(
            insert(t["outages"]), _row(t["outages"], id=1, state="predicted", device_id=3, district_id=1)
        )
        connection.execute(
            insert(t["reports"]),
            _row(
                t["reports"],
                id=1,
                outage_id=1,
                channel="hotline",
                kind="no_power",
                status="grouped",
                external_id=None,
            ),
        )
    run_alembic(empty_db, "upgrade", "head")
    assert current_revision(empty_db) == head_revision()
    with empty_db.engine.connect() as connection:
        assert schema_differences(connection, Base.metadata) == []
        assert connection.exec_driver_sql("SELECT outage_id FROM reports").scalar_one() == 1
        nodes = connection.exec_driver_sql("SELECT code, from_node, to_node FROM devices ORDER BY id").all()
    assert [tuple(n) for n in nodes] == [("S", None, "S"), ("B", "S", "B"), ("T", "B", None)]
