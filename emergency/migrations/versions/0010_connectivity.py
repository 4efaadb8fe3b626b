"""connectivity: devices between nodes, switches as operated, and service outages

A utility's GIS gives its network as devices between nodes, with normally open ties between
feeders; `from_node`/`to_node` hold them, and the supply tree (`parent_id`, `feeder_id`) is traced
from them. A switch's state as last operated by a person is `switched_state`/`switched_at`
(SCADA's stays in `scada_state`). An outage with a `customer_id` is a service outage: one
customer's lone call, with its own clocks, until more calls roll it up.

Existing networks were given as a parent tree; their nodes are the parent's code and the device's
own code, which traces to the same tree.

Revision ID: 0010_connectivity
Revises: 0009_staff_sessions
Create Date: 2026-12-05 17:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import emergency.core.db

revision: str = "0010_connectivity"
down_revision: str | None = "0009_staff_sessions"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_STATE = sa.Enum("closed", "open", "unknown", name="switchstate", native_enum=False, length=24)


def upgrade() -> None:
    with op.batch_alter_table("devices", schema=None) as batch_op:
        batch_op.add_column(sa.Column("from_node", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("to_node", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("switched_state", _STATE, nullable=True))
        batch_op.add_column(sa.Column("switched_at", emergency.core.db.UTCDateTime(), nullable=True))
    op.execute("UPDATE devices SET to_node = code WHERE kind <> 'transformer'")
    op.execute(
        "UPDATE devices SET from_node = (SELECT p.code FROM devices AS p WHERE p.id = devices.parent_id) "
        "WHERE parent_id IS NOT NULL"
    )
    if op.get_bind().dialect.name == "sqlite":
        # SQLite adds a column with its reference in place. A batch copy of `outages` would drop
        # the table that reports, assignments and restoration steps point at, which foreign keys
        # refuse on any database with outages in it.
        op.execute(
            "ALTER TABLE outages ADD COLUMN customer_id INTEGER "
            "CONSTRAINT fk_outages_customer_id_customers REFERENCES customers (id)"
        )
        op.create_index("ix_outages_customer_id", "outages", ["customer_id"], unique=False)
    else:
        with op.batch_alter_table("outages", schema=None) as batch_op:
            batch_op.add_column(sa.Column("customer_id", sa.Integer(), nullable=True))
            batch_op.create_index(batch_op.f("ix_outages_customer_id"), ["customer_id"], unique=False)
            batch_op.create_foreign_key(
                batch_op.f("fk_outages_customer_id_customers"), "customers", ["customer_id"], ["id"]
            )


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        # The column's reference was written inline (see upgrade): it goes with the column. The
        # batch copy this needs is refused once reports point at outages (as on the way up).
        op.drop_index("ix_outages_customer_id", table_name="outages")
        with op.batch_alter_table("outages", schema=None) as batch_op:
            batch_op.drop_column("customer_id")
    else:
        with op.batch_alter_table("outages", schema=None) as batch_op:
            batch_op.drop_constraint(batch_op.f("fk_outages_customer_id_customers"), type_="foreignkey")
            batch_op.drop_index(batch_op.f("ix_outages_customer_id"))
            batch_op.drop_column("customer_id")
    with op.batch_alter_table("devices", schema=None) as batch_op:
        batch_op.drop_column("switched_at")
        batch_op.drop_column("switched_state")
        batch_op.drop_column("to_node")
        batch_op.drop_column("from_node")
