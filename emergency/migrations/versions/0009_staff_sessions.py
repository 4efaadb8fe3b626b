"""staff sessions in the database, and the key that signs their cookie

A staff member's session used to live only in one Streamlit session's memory: a reload or a
second tab signed them out, and a second app process never knew them. `staff_sessions` holds each
session (token and one-time ticket stored as SHA-256 hashes only), and `signing_keys` the secret
every process signs the session cookie with; it is generated here, once per database, so it is
never in the repository and every process behind a load balancer reads the same one.

Revision ID: 0009_staff_sessions
Revises: 0008_reports_partial_indexes
Create Date: 2026-12-05 14:00:00
"""

import secrets
from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

import emergency.core.db

revision: str = "0009_staff_sessions"
down_revision: str | None = "0008_reports_partial_indexes"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SESSION_COOKIE_KEY = "staff_session_cookie"


def upgrade() -> None:
    op.create_table(
        "staff_sessions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=True),
        sa.Column("ticket_hash", sa.String(length=64), nullable=True),
        sa.Column("ticket_expires_at", emergency.core.db.UTCDateTime(), nullable=True),
        sa.Column("created_at", emergency.core.db.UTCDateTime(), nullable=False),
        sa.Column("last_seen_at", emergency.core.db.UTCDateTime(), nullable=False),
        sa.Column("ended_at", emergency.core.db.UTCDateTime(), nullable=True),
        sa.Column("end_reason", sa.String(length=24), nullable=True),
        sa.Column("user_agent", sa.String(length=200), nullable=True),
        sa.Column("language", sa.String(length=8), nullable=True),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_staff_sessions_user_id_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_staff_sessions")),
        sa.UniqueConstraint("ticket_hash", name=op.f("uq_staff_sessions_ticket_hash")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_staff_sessions_token_hash")),
    )
    op.create_index(op.f("ix_staff_sessions_user_id"), "staff_sessions", ["user_id"], unique=False)
    keys = op.create_table(
        "signing_keys",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("secret", sa.String(length=128), nullable=False),
        sa.Column("created_at", emergency.core.db.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_signing_keys")),
    )
    op.bulk_insert(
        keys,
        [{"name": SESSION_COOKIE_KEY, "secret": secrets.token_urlsafe(48), "created_at": datetime.now(UTC)}],
    )


def downgrade() -> None:
    op.drop_table("signing_keys")
    op.drop_index(op.f("ix_staff_sessions_user_id"), table_name="staff_sessions")
    op.drop_table("staff_sessions")
