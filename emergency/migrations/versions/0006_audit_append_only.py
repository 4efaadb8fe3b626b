"""audit trail append-only in the database: UPDATE, DELETE (and TRUNCATE) of audit_events raise

The service layer has no way to change an audit row; these triggers make the database refuse it
too, so a bug, a hand-written SQL statement or a compromised app account cannot rewrite history
without first dropping the trigger (which needs the table owner).

On SQLite, a later `batch_alter_table("audit_events")` copies the table and drops the old one,
and these triggers with it: such a migration must create them again (tests/integration/
test_audit_trail.py fails at the head revision if it does not).

Revision ID: 0006_audit_append_only
Revises: 0005_outage_verified
Create Date: 2026-11-27 09:50:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0006_audit_append_only"
down_revision: str | None = "0005_outage_verified"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

MESSAGE = "audit_events is append-only"


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "CREATE FUNCTION audit_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$ "
            f"BEGIN RAISE EXCEPTION '{MESSAGE}' USING ERRCODE = 'insufficient_privilege'; END $$"
        )
        op.execute(
            "CREATE TRIGGER audit_events_no_change BEFORE UPDATE OR DELETE ON audit_events "
            "FOR EACH ROW EXECUTE FUNCTION audit_events_append_only()"
        )
        op.execute(
            "CREATE TRIGGER audit_events_no_truncate BEFORE TRUNCATE ON audit_events "
            "FOR EACH STATEMENT EXECUTE FUNCTION audit_events_append_only()"
        )
        return
    for verb in ("UPDATE", "DELETE"):
        op.execute(
            f"CREATE TRIGGER audit_events_no_{verb.lower()} BEFORE {verb} ON audit_events "
            f"BEGIN SELECT RAISE(ABORT, '{MESSAGE}'); END"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER audit_events_no_truncate ON audit_events")
        op.execute("DROP TRIGGER audit_events_no_change ON audit_events")
        op.execute("DROP FUNCTION audit_events_append_only()")
        return
    for verb in ("update", "delete"):
        op.execute(f"DROP TRIGGER audit_events_no_{verb}")
