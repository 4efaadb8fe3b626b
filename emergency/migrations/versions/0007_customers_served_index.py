"""customers indexed by (transformer_id, district_id) in place of transformer_id alone

The reliability report counts customers per transformer and district. With the index on
transformer_id alone, SQLite reads every customer row in index order to find its district and
sorts the groups in a temporary B-tree (0.9 to 1.4 s at 1,000,000 customers, measured); with both
columns in the index the count is one pass over the index (0.35 to 0.4 s). The new index serves
every lookup by transformer_id the old one did, so the old one is dropped: inserts keep one index.

Revision ID: 0007_customers_served_index
Revises: 0006_audit_append_only
Create Date: 2026-11-27 11:00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0007_customers_served_index"
down_revision: str | None = "0006_audit_append_only"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Plain CREATE and DROP INDEX on both databases: a batch alter would copy the whole table.
    op.create_index("ix_customers_transformer_district", "customers", ["transformer_id", "district_id"])
    op.drop_index("ix_customers_transformer_id", table_name="customers")


def downgrade() -> None:
    op.create_index("ix_customers_transformer_id", "customers", ["transformer_id"])
    op.drop_index("ix_customers_transformer_district", table_name="customers")
