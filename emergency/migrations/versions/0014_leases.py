"""leases: background loops and the demo simulator run in one app process at a time

A row per piece of background work (`emergency.core.leases`): who holds it, since when, until
when, and a version bumped by every change. A new table that nothing points at.

Revision ID: 0014_leases
Revises: 0013_field_crews
Create Date: 2026-12-05 18:45:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import emergency.core.db

revision: str = "0014_leases"
down_revision: str | None = "0013_field_crews"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "leases",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("holder", sa.String(length=200), nullable=False),
        sa.Column("acquired_at", emergency.core.db.UTCDateTime(), nullable=False),
        sa.Column("renewed_at", emergency.core.db.UTCDateTime(), nullable=False),
        sa.Column("expires_at", emergency.core.db.UTCDateTime(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_leases")),
    )


def downgrade() -> None:
    op.drop_table("leases")
