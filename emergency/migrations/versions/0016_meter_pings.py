"""meter pings: customers' smart meters and the pings fault location sends them (#21 point 3)

- `customers.meter_id`: the customer's smart meter at the head-end (None: no smart meter), unique.
- `meter_pings`: one row per meter asked: the outage whose prediction it tests, the customer and
  meter, the candidate device it hangs below, the head-end request id, when it was asked and by whom,
  and its answer (`powered`, `silent`, `lost`) with when it came.

The column is added in place on SQLite: a batch copy of `customers` would drop a table other rows
point at, which foreign keys refuse (see 0010 and 0013).

Revision ID: 0016_meter_pings
Revises: 0015_fault_location
Create Date: 2026-12-08 12:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import emergency.core.db

revision: str = "0016_meter_pings"
down_revision: str | None = "0015_fault_location"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ANSWER = sa.Enum("powered", "silent", "lost", name="pinganswer", native_enum=False, length=24)
_WHEN = emergency.core.db.UTCDateTime


def upgrade() -> None:
    op.add_column("customers", sa.Column("meter_id", sa.String(length=32), nullable=True))
    op.create_index("ix_customers_meter_id", "customers", ["meter_id"], unique=True)
    op.create_table(
        "meter_pings",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("request_id", sa.String(length=40), nullable=False),
        sa.Column("outage_id", sa.Integer(), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=False),
        sa.Column("meter_id", sa.String(length=32), nullable=False),
        sa.Column("device_id", sa.Integer(), nullable=True),
        sa.Column("asked_at", _WHEN(), nullable=False),
        sa.Column("asked_by", sa.String(length=64), nullable=False),
        sa.Column("answered_at", _WHEN(), nullable=True),
        sa.Column("answer", _ANSWER, nullable=False),
        sa.ForeignKeyConstraint(
            ["customer_id"], ["customers.id"], name="fk_meter_pings_customer_id_customers"
        ),
        sa.ForeignKeyConstraint(["device_id"], ["devices.id"], name="fk_meter_pings_device_id_devices"),
        sa.ForeignKeyConstraint(["outage_id"], ["outages.id"], name="fk_meter_pings_outage_id_outages"),
        sa.PrimaryKeyConstraint("id", name="pk_meter_pings"),
    )
    op.create_index("ix_meter_pings_request_id", "meter_pings", ["request_id"], unique=False)
    op.create_index("ix_meter_pings_outage_asked", "meter_pings", ["outage_id", "asked_at"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_meter_pings_outage_asked", table_name="meter_pings")
    op.drop_index("ix_meter_pings_request_id", table_name="meter_pings")
    op.drop_table("meter_pings")
    op.drop_index("ix_customers_meter_id", table_name="customers")
    op.drop_column("customers", "meter_id")
