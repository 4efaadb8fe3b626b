"""cap feeds: the agencies' Atom/RSS feeds the server watches, and the CAP messages they carried

`cap_feeds` holds each feed a manager configured (address, interval, on/off), what the agency's
server said last (ETag, Last-Modified, for conditional requests) and the feed's health (last poll,
last result or error, counts). `cap_feed_items` records each CAP message once, by CAP's own identity
(sender, identifier, sent), so an alert is imported once across restarts and app processes.

Revision ID: 0012_cap_feeds
Revises: 0011_cap_provenance
Create Date: 2026-12-06 10:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import emergency.core.db

revision: str = "0012_cap_feeds"
down_revision: str | None = "0011_cap_provenance"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "cap_feeds",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("url", sa.String(length=500), nullable=False),
        sa.Column("interval_minutes", sa.Integer(), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("etag", sa.String(length=200), nullable=True),
        sa.Column("last_modified", sa.String(length=100), nullable=True),
        sa.Column("last_polled_at", emergency.core.db.UTCDateTime(), nullable=True),
        sa.Column("last_success_at", emergency.core.db.UTCDateTime(), nullable=True),
        sa.Column("last_result", sa.String(length=24), nullable=True),
        sa.Column("last_error", sa.String(length=500), nullable=True),
        sa.Column("alerts_seen", sa.Integer(), nullable=False),
        sa.Column("drafts_made", sa.Integer(), nullable=False),
        sa.Column("created_at", emergency.core.db.UTCDateTime(), nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_cap_feeds")),
        sa.UniqueConstraint("url", name=op.f("uq_cap_feeds_url")),
    )
    op.create_table(
        "cap_feed_items",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("feed_id", sa.Integer(), nullable=False),
        sa.Column("entry_key", sa.String(length=500), nullable=False),
        sa.Column("sender", sa.String(length=200), nullable=False),
        sa.Column("identifier", sa.String(length=200), nullable=False),
        sa.Column("sent", sa.String(length=40), nullable=False),
        sa.Column("msg_type", sa.String(length=16), nullable=False),
        sa.Column("fetched_at", emergency.core.db.UTCDateTime(), nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.String(length=500), nullable=True),
        sa.Column("warning_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["feed_id"], ["cap_feeds.id"], name=op.f("fk_cap_feed_items_feed_id_cap_feeds")
        ),
        sa.ForeignKeyConstraint(
            ["warning_id"], ["warnings.id"], name=op.f("fk_cap_feed_items_warning_id_warnings")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_cap_feed_items")),
        sa.UniqueConstraint("sender", "identifier", "sent", name="uq_cap_feed_items_sender_identifier_sent"),
    )
    with op.batch_alter_table("cap_feed_items", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_cap_feed_items_entry_key"), ["entry_key"], unique=False)
        batch_op.create_index(batch_op.f("ix_cap_feed_items_feed_id"), ["feed_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("cap_feed_items", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_cap_feed_items_feed_id"))
        batch_op.drop_index(batch_op.f("ix_cap_feed_items_entry_key"))
    op.drop_table("cap_feed_items")
    op.drop_table("cap_feeds")
