"""field crews: the crew page, arrival by GPS, damage assessments, mutual aid

- `users.crew_id`: a crew leader's crew (role `crew`).
- `crews`: a mutual-aid crew's company, leader, skills, vehicles, staging site, check-in and release.
- `crew_assignments`: when the crew acknowledged the job; how on-site was recorded (`gps`, `crew`,
  `dispatcher`), where the crew was, a dispatcher's reason; a handover note. `outages.on_site_source`
  keeps the source of the outage's first arrival for compliance by source.
- New tables: `crew_positions` (the track the geofence reads), `command_keys` (a step tapped twice
  runs once), `field_requests` (help, materials), `damage_assessments` and `assessment_photos`,
  `crew_links` (one-time sign-in links for crew leaders).

Columns are added in place on SQLite: a batch copy of `crews`, `users`, `crew_assignments` or
`outages` would drop a table other rows point at, which foreign keys refuse (see 0010).

Revision ID: 0013_field_crews
Revises: 0012_cap_feeds
Create Date: 2026-12-07 10:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import emergency.core.db

revision: str = "0013_field_crews"
down_revision: str | None = "0012_cap_feeds"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ON_SITE = sa.Enum("gps", "crew", "dispatcher", name="onsitesource", native_enum=False, length=24)
_POSITION = sa.Enum(
    "phone", "tracker", "simulator", "dispatcher", name="positionsource", native_enum=False, length=24
)
_REQUEST = sa.Enum("help", "materials", name="fieldrequestkind", native_enum=False, length=24)
_CAUSE = sa.Enum(
    "tree",
    "wind",
    "lightning",
    "flood",
    "landslide",
    "vehicle",
    "animal",
    "fire",
    "equipment_failure",
    "third_party",
    "unknown",
    name="damagecause",
    native_enum=False,
    length=24,
)
_WHEN = emergency.core.db.UTCDateTime

_CREW_COLUMNS = (
    ("company", sa.String(length=120)),
    ("leader_name", sa.String(length=120)),
    ("skills", sa.String(length=200)),
    ("vehicles", sa.String(length=200)),
    ("staging_site", sa.String(length=120)),
    ("roster_batch", sa.String(length=64)),
    ("checked_in_at", _WHEN()),
    ("checked_in_count", sa.Integer()),
    ("released_at", _WHEN()),
)
_ASSIGNMENT_COLUMNS = (
    ("acknowledged_at", _WHEN()),
    ("on_site_source", _ON_SITE),
    ("on_site_lon", sa.Float()),
    ("on_site_lat", sa.Float()),
    ("on_site_reason", sa.String(length=500)),
    ("handover_note", sa.String(length=1000)),
)


def upgrade() -> None:
    for name, type_ in _CREW_COLUMNS:
        op.add_column("crews", sa.Column(name, type_, nullable=True))
    op.create_index("ix_crews_company", "crews", ["company"], unique=False)
    for name, type_ in _ASSIGNMENT_COLUMNS:
        op.add_column("crew_assignments", sa.Column(name, type_, nullable=True))
    op.add_column("outages", sa.Column("on_site_source", _ON_SITE, nullable=True))
    if op.get_bind().dialect.name == "sqlite":
        op.execute(
            "ALTER TABLE users ADD COLUMN crew_id INTEGER "
            "CONSTRAINT fk_users_crew_id_crews REFERENCES crews (id)"
        )
        op.create_index("ix_users_crew_id", "users", ["crew_id"], unique=False)
    else:
        op.add_column("users", sa.Column("crew_id", sa.Integer(), nullable=True))
        op.create_index("ix_users_crew_id", "users", ["crew_id"], unique=False)
        op.create_foreign_key("fk_users_crew_id_crews", "users", "crews", ["crew_id"], ["id"])
    _create_tables()


def _create_tables() -> None:
    op.create_table(
        "crew_positions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("crew_id", sa.Integer(), nullable=False),
        sa.Column("at", _WHEN(), nullable=False),
        sa.Column("received_at", _WHEN(), nullable=False),
        sa.Column("lon", sa.Float(), nullable=False),
        sa.Column("lat", sa.Float(), nullable=False),
        sa.Column("accuracy_m", sa.Float(), nullable=True),
        sa.Column("source", _POSITION, nullable=False),
        sa.ForeignKeyConstraint(["crew_id"], ["crews.id"], name="fk_crew_positions_crew_id_crews"),
        sa.PrimaryKeyConstraint("id", name="pk_crew_positions"),
    )
    op.create_index("ix_crew_positions_crew_at", "crew_positions", ["crew_id", "at"], unique=False)
    op.create_table(
        "command_keys",
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("actor", sa.String(length=64), nullable=False),
        sa.Column("command", sa.String(length=64), nullable=False),
        sa.Column("at", _WHEN(), nullable=False),
        sa.Column("outcome", sa.JSON(), nullable=True),
        sa.PrimaryKeyConstraint("key", name="pk_command_keys"),
    )
    op.create_table(
        "field_requests",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("outage_id", sa.Integer(), nullable=False),
        sa.Column("crew_id", sa.Integer(), nullable=False),
        sa.Column("kind", _REQUEST, nullable=False),
        sa.Column("text", sa.String(length=2000), nullable=False),
        sa.Column("at", _WHEN(), nullable=False),
        sa.Column("done_at", _WHEN(), nullable=False),
        sa.Column("by", sa.String(length=64), nullable=False),
        sa.Column("answered_at", _WHEN(), nullable=True),
        sa.Column("answered_by", sa.String(length=64), nullable=True),
        sa.Column("answer", sa.String(length=500), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["crew_id"], ["crews.id"], name="fk_field_requests_crew_id_crews"),
        sa.ForeignKeyConstraint(["outage_id"], ["outages.id"], name="fk_field_requests_outage_id_outages"),
        sa.PrimaryKeyConstraint("id", name="pk_field_requests"),
    )
    op.create_index("ix_field_requests_crew_id", "field_requests", ["crew_id"], unique=False)
    op.create_index("ix_field_requests_outage_id", "field_requests", ["outage_id"], unique=False)
    op.create_table(
        "damage_assessments",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("outage_id", sa.Integer(), nullable=False),
        sa.Column("crew_id", sa.Integer(), nullable=True),
        sa.Column("at", _WHEN(), nullable=False),
        sa.Column("done_at", _WHEN(), nullable=False),
        sa.Column("by", sa.String(length=64), nullable=False),
        sa.Column("cause", _CAUSE, nullable=False),
        sa.Column("equipment", sa.JSON(), nullable=False),
        sa.Column("poles_down", sa.Integer(), nullable=False),
        sa.Column("spans_down", sa.Integer(), nullable=False),
        sa.Column("access", sa.String(length=1000), nullable=True),
        sa.Column("crews_needed", sa.Integer(), nullable=False),
        sa.Column("materials", sa.String(length=1000), nullable=True),
        sa.Column("repair_minutes", sa.Integer(), nullable=False),
        sa.Column("notes", sa.String(length=4000), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["crew_id"], ["crews.id"], name="fk_damage_assessments_crew_id_crews"),
        sa.ForeignKeyConstraint(
            ["outage_id"], ["outages.id"], name="fk_damage_assessments_outage_id_outages"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_damage_assessments"),
    )
    op.create_index("ix_damage_assessments_crew_id", "damage_assessments", ["crew_id"], unique=False)
    op.create_index("ix_damage_assessments_outage_id", "damage_assessments", ["outage_id"], unique=False)
    op.create_table(
        "assessment_photos",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("assessment_id", sa.Integer(), nullable=False),
        sa.Column("filename", sa.String(length=200), nullable=False),
        sa.Column("content_type", sa.String(length=32), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.Column("exif", sa.JSON(), nullable=False),
        sa.Column("width", sa.Integer(), nullable=False),
        sa.Column("height", sa.Integer(), nullable=False),
        sa.Column("size_bytes", sa.Integer(), nullable=False),
        sa.Column("at", _WHEN(), nullable=False),
        sa.ForeignKeyConstraint(
            ["assessment_id"],
            ["damage_assessments.id"],
            name="fk_assessment_photos_assessment_id_damage_assessments",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_assessment_photos"),
    )
    op.create_index(
        "ix_assessment_photos_assessment_id", "assessment_photos", ["assessment_id"], unique=False
    )
    op.create_table(
        "crew_links",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("token_hash", sa.String(length=128), nullable=False),
        sa.Column("crew_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("created_at", _WHEN(), nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.Column("expires_at", _WHEN(), nullable=False),
        sa.Column("used_at", _WHEN(), nullable=True),
        sa.ForeignKeyConstraint(["crew_id"], ["crews.id"], name="fk_crew_links_crew_id_crews"),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name="fk_crew_links_user_id_users"),
        sa.PrimaryKeyConstraint("id", name="pk_crew_links"),
        sa.UniqueConstraint("token_hash", name="uq_crew_links_token_hash"),
    )
    op.create_index("ix_crew_links_crew_id", "crew_links", ["crew_id"], unique=False)


def downgrade() -> None:
    for table in (
        "crew_links",
        "assessment_photos",
        "damage_assessments",
        "field_requests",
        "command_keys",
        "crew_positions",
    ):
        op.drop_table(table)
    op.drop_index("ix_users_crew_id", table_name="users")
    if op.get_bind().dialect.name != "sqlite":
        op.drop_constraint("fk_users_crew_id_crews", "users", type_="foreignkey")
    # SQLite 3.35+ drops a column in place (its inline reference goes with it).
    op.drop_column("users", "crew_id")
    op.drop_column("outages", "on_site_source")
    for name, _type in reversed(_ASSIGNMENT_COLUMNS):
        op.drop_column("crew_assignments", name)
    op.drop_index("ix_crews_company", table_name="crews")
    for name, _type in reversed(_CREW_COLUMNS):
        op.drop_column("crews", name)
