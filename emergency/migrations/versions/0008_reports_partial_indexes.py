"""reports: partial indexes, each holding only the reports its lookups need

Every index on `reports` is written by every report a storm sends. The full indexes on
customer_id and transformer_id were each a random insert per report into a B-tree the size of the
table; on the intake benchmark (100,000 reports at 1,000,000 customers, SQLite) the two cost about
a quarter of the run, in the insert and again in the pages each commit writes. The lookups they
served need only a few reports:

- calls not yet in an outage (trouble-call analysis's pending calls, "check my supply" finding a
  call on the customer's transformer): ix_reports_waiting, (reported_at, transformer_id,
  customer_id, kind, status, outage_id) where outage_id IS NULL; a report leaves it when it joins
  an outage, nearly always in its own batch. It holds every column those lookups read (outage_id
  too, always NULL, or SQLite reads the table to check it), so neither reads the table: analysis
  reads the waiting calls every batch, a thousand or so in a storm, and fetching the table row
  behind each took 3.6 ms of a query that takes 2.0 ms without (measured, 1,189 calls waiting);
- a customer's earlier web reports (the web form's duplicate check): ix_reports_web_customer,
  customer_id where channel = 'web'.

ix_reports_outage_id now leaves out the reports in no outage. Besides being smaller, that keeps
the planner off it for `outage_id IS NULL`: on the full index that was an equality match, and
SQLite (which has no statistics here) chose it over the waiting index's time range, reading every
call never grouped into an outage since the database began. Any `outage_id = x`, IN or join
implies `outage_id IS NOT NULL`, so those lookups use it as before, on both databases.

Customers and devices are never deleted (imports insert or update), so no foreign-key check needs
the child-side indexes on customer_id and transformer_id.

Revision ID: 0008_reports_partial_indexes
Revises: 0007_customers_served_index
Create Date: 2026-11-27 13:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008_reports_partial_indexes"
down_revision: str | None = "0007_customers_served_index"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

IN_AN_OUTAGE = sa.text("outage_id IS NOT NULL")
WAITING = sa.text("outage_id IS NULL")
WEB = sa.text("channel = 'web'")


def _partial(name: str, columns: list[str], where: sa.TextClause) -> None:
    op.create_index(name, "reports", columns, sqlite_where=where, postgresql_where=where)


def upgrade() -> None:
    # Plain CREATE and DROP INDEX on both databases: a batch alter would copy the whole table.
    op.drop_index("ix_reports_outage_id", table_name="reports")
    _partial("ix_reports_outage_id", ["outage_id"], IN_AN_OUTAGE)
    _partial(
        "ix_reports_waiting",
        ["reported_at", "transformer_id", "customer_id", "kind", "status", "outage_id"],
        WAITING,
    )
    _partial("ix_reports_web_customer", ["customer_id"], WEB)
    op.drop_index("ix_reports_customer_id", table_name="reports")
    op.drop_index("ix_reports_transformer_id", table_name="reports")


def downgrade() -> None:
    op.create_index("ix_reports_transformer_id", "reports", ["transformer_id"])
    op.create_index("ix_reports_customer_id", "reports", ["customer_id"])
    op.drop_index("ix_reports_web_customer", table_name="reports")
    op.drop_index("ix_reports_waiting", table_name="reports")
    op.drop_index("ix_reports_outage_id", table_name="reports")
    op.create_index("ix_reports_outage_id", "reports", ["outage_id"])
