"""fault location: a prediction's confidence, the device first predicted, the device the crew found

- `outages.prediction_confidence`: the posterior probability of evidence-weighted analysis's
  prediction (`tca.method` `evidence`), moved as evidence arrives.
- `outages.predicted_device_id`: the device analysis predicted when it opened the outage.
- `outages.fault_device_id`, `fault_device_at`, `fault_device_by`: where the crew found the fault,
  when and by whom; the accuracy of predictions compares the two.

Columns are added in place on SQLite: a batch copy of `outages` would drop a table other rows
point at, which foreign keys refuse (see 0010 and 0013).

Revision ID: 0015_fault_location
Revises: 0014_leases
Create Date: 2026-12-08 10:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import emergency.core.db

revision: str = "0015_fault_location"
down_revision: str | None = "0014_leases"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_DEVICE_COLUMNS = ("predicted_device_id", "fault_device_id")


def upgrade() -> None:
    op.add_column("outages", sa.Column("prediction_confidence", sa.Float(), nullable=True))
    for name in _DEVICE_COLUMNS:
        constraint = f"fk_outages_{name}_devices"
        if op.get_bind().dialect.name == "sqlite":
            op.execute(
                f"ALTER TABLE outages ADD COLUMN {name} INTEGER "
                f"CONSTRAINT {constraint} REFERENCES devices (id)"
            )
        else:
            op.add_column("outages", sa.Column(name, sa.Integer(), nullable=True))
            op.create_foreign_key(constraint, "outages", "devices", [name], ["id"])
    op.add_column("outages", sa.Column("fault_device_at", emergency.core.db.UTCDateTime(), nullable=True))
    op.add_column("outages", sa.Column("fault_device_by", sa.String(length=64), nullable=True))


def downgrade() -> None:
    op.drop_column("outages", "fault_device_by")
    op.drop_column("outages", "fault_device_at")
    for name in reversed(_DEVICE_COLUMNS):
        if op.get_bind().dialect.name != "sqlite":
            op.drop_constraint(f"fk_outages_{name}_devices", "outages", type_="foreignkey")
        # SQLite 3.35+ drops a column in place (its inline reference goes with it).
        op.drop_column("outages", name)
    op.drop_column("outages", "prediction_confidence")
