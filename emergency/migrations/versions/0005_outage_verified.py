"""outage verified time: the customer's return call confirming power is back

Revision ID: 0005_outage_verified
Revises: 0004_public_rate_limits
Create Date: 2026-11-27 09:45:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import emergency.core.db

revision: str = "0005_outage_verified"
down_revision: str | None = "0004_public_rate_limits"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("outages", schema=None) as batch_op:
        batch_op.add_column(sa.Column("verified_at", emergency.core.db.UTCDateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("outages", schema=None) as batch_op:
        batch_op.drop_column("verified_at")
