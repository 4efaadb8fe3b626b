"""Alembic environment: runs migrations on the connection Outage Desk hands it, or on the URL."""

from __future__ import annotations

from alembic import context
from sqlalchemy import engine_from_config, pool

from emergency.core import (
    field_models,  # noqa: F401  (its tables are part of the schema)
    leases,  # noqa: F401  (its table is part of the schema)
    meter_models,  # noqa: F401  (its tables are part of the schema)
)
from emergency.core.models import Base

config = context.config
target_metadata = Base.metadata


def run_with(connection: object) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        # SQLite can only ALTER a table by copying it: batch mode does that for us.
        render_as_batch=True,
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


connection = config.attributes.get("connection")
if connection is not None:
    run_with(connection)
else:
    engine = engine_from_config(config.get_section(config.config_ini_section, {}), poolclass=pool.NullPool)
    with engine.connect() as conn:
        run_with(conn)
