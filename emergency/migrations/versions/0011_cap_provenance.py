"""cap provenance: every official CAP message imported, kept whole, with what was derived from it

One row per imported message (unique by sender and identifier, so a message read twice, by a
re-upload or by two app processes polling one feed, is imported once): the original XML, every
info block as the agency wrote it, what the importer derived or repaired, and the draft or warning
it became, which is how a later Update or Cancel finds it through its `references`.

Revision ID: 0011_cap_provenance
Revises: 0010_connectivity
Create Date: 2026-12-05 18:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import emergency.core.db

revision: str = "0011_cap_provenance"
down_revision: str | None = "0010_connectivity"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "cap_messages",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("warning_id", sa.Integer(), nullable=False),
        sa.Column("sender", sa.String(length=200), nullable=False),
        sa.Column("identifier", sa.String(length=200), nullable=False),
        sa.Column("sent", emergency.core.db.UTCDateTime(), nullable=False),
        sa.Column("msg_type", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("references", sa.Text(), nullable=True),
        sa.Column("sender_name", sa.String(length=200), nullable=True),
        sa.Column("origin", sa.String(length=500), nullable=False),
        sa.Column("received_at", emergency.core.db.UTCDateTime(), nullable=False),
        sa.Column("received_by", sa.String(length=64), nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("level_from", sa.String(length=32), nullable=True),
        sa.Column("area_from", sa.String(length=32), nullable=True),
        sa.Column("infos", sa.JSON(), nullable=False),
        sa.Column("notes", sa.JSON(), nullable=False),
        sa.Column("xml", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["warning_id"], ["warnings.id"], name=op.f("fk_cap_messages_warning_id_warnings")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_cap_messages")),
        sa.UniqueConstraint("sender", "identifier", name="uq_cap_messages_sender_identifier"),
    )
    op.create_index(op.f("ix_cap_messages_warning_id"), "cap_messages", ["warning_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_cap_messages_warning_id"), table_name="cap_messages")
    op.drop_table("cap_messages")
