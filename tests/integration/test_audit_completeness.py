"""Every kind of state change leaves an audit row: who, when, what, and the values before and after.

One storm-shaped day on the small territory, acted through the services the pages and routes use:
reports, an outage from prediction to close, a crew's job, ETRs, a warning's life, the important
users register, feedback, staff accounts and API tokens. After each step the trail must hold the
event with the acting user and role, the clock's time, the entity, and what changed.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from emergency.app.bus import execute
from emergency.app.commands.admin import EndSession
from emergency.app.commands.warnings import CancelWarning, CreateWarning, IssueWarning, UpdateWarning
from emergency.core import auth, tokens
from emergency.core.actor import PUBLIC, Actor
from emergency.core.clock import FakeClock
from emergency.core.db import Database
from emergency.core.models import AuditEvent, Crew, Customer, Outage
from emergency.core.models import Warning as WarningRow
from emergency.network.important_users import ImportantUserInput
from emergency.warnings.area import DistrictsArea
from emergency.warnings.lifecycle import (
    WarningInput,
)
from tests.support.app_calls import submit_feedback
from tests.support.app_context import context_of
from tests.support.commands import register_important_user, submit_reports, update_important_user
from tests.support.dispatch_actions import (
    cancel_outage,
    close_outage,
    confirm_outage,
    dispatch_crew,
    mark_en_route,
    mark_on_site,
    restore_outage,
    set_etr,
)
from tests.support.small_territory import SmallTerritory, build_small_territory

DISPATCHER = Actor("dispatcher", "dispatcher")
MANAGER = Actor("manager", "manager")
ADMIN = Actor("admin", "admin")
GATEWAY = Actor("token:gateway", "intake")


@pytest.fixture
def territory(database: Database, clock: FakeClock) -> SmallTerritory:
    return build_small_territory(database, clock)


class Trail:
    """The audit rows written since the last look."""

    def __init__(self, db: Database, clock: FakeClock) -> None:
        self.db, self.clock, self.seen = db, clock, 0
        with db.read() as session:
            self.seen = session.scalar(select(AuditEvent.id).order_by(AuditEvent.id.desc()).limit(1)) or 0

    def new(self) -> list[AuditEvent]:
        with self.db.read() as session:
            events = list(
                session.scalars(select(AuditEvent).where(AuditEvent.id > self.seen).order_by(AuditEvent.id))
            )
        if events:
            self.seen = events[-1].id
        return events

    def expect(
        self,
        action: str,
        actor: Actor,
        entity: str,
        entity_id: object,
        *,
        before: dict[str, Any] | None = None,
        after: dict[str, Any] | None = None,
    ) -> AuditEvent:
        """The one new event of this action, by this actor, now; `before`/`after` must be included in it."""
        events = self.new()
        matching = [e for e in events if e.action == action]
        assert len(matching) == 1, f"{action}: {[(e.action, e.entity, e.entity_id) for e in events]}"
        event = matching[0]
        assert (event.actor, event.actor_role) == (actor.username, actor.role)
        assert event.at == self.clock.now()
        assert (event.entity, event.entity_id) == (entity, str(entity_id))
        for expected, recorded in ((before, event.before), (after, event.after)):
            if expected is not None:
                assert recorded is not None and expected.items() <= recorded.items(), (action, recorded)
        return event


def calls(territory: SmallTerritory, transformer: str, count: int) -> list[dict[str, Any]]:
    accounts = territory.account_by_transformer[transformer]
    return [{"channel": "hotline", "kind": "no_power", "account_no": accounts[i]} for i in range(count)]


def version_of(db: Database, model: type, row_id: int) -> int:
    with db.read() as session:
        return session.get(model, row_id).version


def test_an_outage_from_reports_to_close(
    database: Database, clock: FakeClock, territory: SmallTerritory
) -> None:
    trail = Trail(database, clock)

    web = submit_reports(database, clock, PUBLIC, calls(territory, "TX-4", 1))
    trail.expect("report.create", PUBLIC, "report", web.accepted[0].id)

    clock.advance(minutes=1)
    outage_id = submit_reports(database, clock, GATEWAY, calls(territory, "TX-1", 2)).analysis.predicted[0]
    predicted = [e for e in trail.new() if e.action == "outage.predict"]
    # Trouble-call analysis acts as the system, on behalf of the reports that made the outage.
    assert [(e.entity_id, e.actor_role, e.at, e.after["state"]) for e in predicted] == [
        (str(outage_id), "system", clock.now(), "predicted")
    ]

    clock.advance(minutes=1)
    confirm_outage(database, clock, DISPATCHER, outage_id)
    trail.expect(
        "outage.confirm",
        DISPATCHER,
        "outage",
        outage_id,
        before={"state": "predicted"},
        after={"state": "confirmed"},
    )

    clock.advance(minutes=2)
    crew_id = territory.crew_ids["C1"]
    assignment = dispatch_crew(
        database, clock, DISPATCHER, outage_id, crew_id, crew_version=version_of(database, Crew, crew_id)
    )
    events = trail.new()
    assert {e.action for e in events} >= {"crew.dispatch", "outage.dispatch"}
    crew_event = next(e for e in events if e.action == "crew.dispatch")
    assert (crew_event.actor, crew_event.entity, crew_event.entity_id) == (
        "dispatcher",
        "crew_assignment",
        str(assignment.id),
    )
    assert crew_event.before["crew"]["status"] == "available"
    assert crew_event.after["crew"]["status"] == "dispatched"

    clock.advance(minutes=3)
    mark_en_route(database, clock, DISPATCHER, assignment.id)
    trail.new()
    clock.advance(minutes=20)
    mark_on_site(database, clock, DISPATCHER, assignment.id)
    on_site = [e for e in trail.new() if e.action == "crew.on_site"]
    assert on_site and on_site[0].before["assignment"]["status"] == "en_route"
    assert on_site[0].after["assignment"]["status"] == "on_site"

    clock.advance(minutes=5)
    etr_at = clock.now() + timedelta(hours=2)
    set_etr(database, clock, DISPATCHER, outage_id, etr_at, "high", "crew")
    trail.expect(
        "outage.etr",
        DISPATCHER,
        "outage",
        outage_id,
        after={"etr_at": etr_at.isoformat(), "etr_source": "crew", "etr_confidence": "high"},
    )

    clock.advance(minutes=30)
    restore_outage(database, clock, DISPATCHER, outage_id, customers=1)
    trail.expect(
        "outage.restore_step",
        DISPATCHER,
        "outage",
        outage_id,
        before={"customers_restored": 0},
        after={"customers_restored": 1},
    )
    clock.advance(minutes=30)
    restore_outage(database, clock, DISPATCHER, outage_id)
    trail.expect("outage.restore", DISPATCHER, "outage", outage_id, after={"state": "restored"})

    clock.advance(minutes=10)
    close_outage(database, clock, MANAGER, outage_id)
    trail.expect(
        "outage.close", MANAGER, "outage", outage_id, before={"state": "restored"}, after={"state": "closed"}
    )

    clock.advance(minutes=1)
    other = submit_reports(database, clock, GATEWAY, calls(territory, "TX-5", 2)).analysis.predicted[0]
    trail.new()
    cancel_outage(database, clock, DISPATCHER, other, "a customer's own breaker")
    event = trail.expect("outage.cancel", DISPATCHER, "outage", other, after={"state": "cancelled"})
    assert event.detail == "a customer's own breaker"


def test_machine_intake_leaves_a_row_naming_the_token(
    database: Database, clock: FakeClock, territory: SmallTerritory
) -> None:
    batch = [{**call, "external_id": f"call-{n}"} for n, call in enumerate(calls(territory, "TX-4", 2))]
    trail = Trail(database, clock)
    result = submit_reports(database, clock, GATEWAY, batch)
    rows = [e for e in trail.new() if e.actor == GATEWAY.username and e.entity == "report"]
    assert len(rows) == 1, "one row for the batch"
    stored = sorted(a.id for a in result.accepted)
    assert rows[0].after == {"report_ids": stored, "count": 2}
    # A retry stores nothing new and adds no row.
    submit_reports(database, clock, GATEWAY, batch)
    assert not [e for e in trail.new() if e.entity == "report"]


def warning_draft(clock: FakeClock, **changes: Any) -> WarningInput:
    fields: dict[str, Any] = {
        "hazard": "typhoon",
        "level": "orange",
        "readiness_level": 2,
        "title_en": "Typhoon Haikui",
        "title_zh": "台风海葵",
        "text_en": "Landfall tonight.",
        "text_zh": "今夜登陆。",
        "area": DistrictsArea(("W",)),
        "effective_at": clock.now(),
        "expires_at": clock.now() + timedelta(hours=12),
    }
    return WarningInput(**(fields | changes))


def version(db: Database, warning_id: int) -> int:
    return version_of(db, WarningRow, warning_id)


def test_a_warning_is_created_issued_updated_and_cancelled(
    database: Database, clock: FakeClock, territory: SmallTerritory
) -> None:
    trail = Trail(database, clock)
    warning_id = execute(context_of(database, clock, MANAGER), CreateWarning(warning_draft(clock)))
    trail.expect("warning.create", MANAGER, "warning", warning_id, after={"status": "draft"})

    clock.advance(minutes=5)
    execute(context_of(database, clock, MANAGER), IssueWarning(warning_id, version(database, warning_id)))
    trail.expect(
        "warning.issue",
        MANAGER,
        "warning",
        warning_id,
        before={"status": "draft"},
        after={"status": "active"},
    )

    clock.advance(hours=1)
    execute(
        context_of(database, clock, MANAGER), UpdateWarning(warning_id, 2, warning_draft(clock, level="red"))
    )
    trail.expect(
        "warning.update", MANAGER, "warning", warning_id, before={"level": "orange"}, after={"level": "red"}
    )

    clock.advance(hours=3)
    execute(
        context_of(database, clock, ADMIN),
        CancelWarning(warning_id, version(database, warning_id), "the typhoon turned north"),
    )
    trail.expect("warning.cancel", ADMIN, "warning", warning_id, after={"status": "cancelled"})


def test_the_register_feedback_users_and_tokens(
    database: Database, clock: FakeClock, territory: SmallTerritory
) -> None:
    trail = Trail(database, clock)
    account = territory.account_by_transformer["TX-2"][0]
    customer_id = register_important_user(
        database, clock, MANAGER, account, ImportantUserInput("grade2", "water", 4.0, "Duty officer", None)
    )
    trail.expect("important_user.register", MANAGER, "customer", customer_id, after={"grade": "grade2"})

    clock.advance(minutes=1)
    update_important_user(
        database,
        clock,
        MANAGER,
        customer_id,
        ImportantUserInput("grade1", "water", 8.0, "Duty officer", None),
        expected_version=version_of(database, Customer, customer_id),
    )
    trail.expect(
        "important_user.update",
        MANAGER,
        "customer",
        customer_id,
        before={"grade": "grade2", "backup_hours": 4.0},
        after={"grade": "grade1", "backup_hours": 8.0},
    )

    clock.advance(minutes=1)
    receipt = submit_feedback(database, clock, PUBLIC, "complaint", "No power since noon and nobody came.")
    event = trail.new()[-1]
    assert (event.action, event.actor, event.at) == ("feedback.create", "public", clock.now())
    assert event.after["reference"] == receipt.reference

    clock.advance(minutes=1)
    with database.write() as session:
        user = auth.create_user(session, clock, ADMIN, "night-shift", "a-long-password-1", "dispatcher")
    trail.expect(
        "user.create", ADMIN, "user", user.id, after={"username": "night-shift", "role": "dispatcher"}
    )
    clock.advance(minutes=1)
    with database.write() as session:
        auth.disable_user(session, clock, ADMIN, "night-shift")
    trail.expect("user.disable", ADMIN, "user", user.id, before={"active": True}, after={"active": False})
    clock.advance(minutes=1)
    with database.write() as session:
        auth.reset_password(session, clock, ADMIN, "night-shift", "another-long-password")
    event = trail.expect(
        "user.reset_password", ADMIN, "user", user.id, before={"active": False}, after={"active": True}
    )
    assert "password_hash" not in event.after

    clock.advance(minutes=1)
    execute(context_of(database, clock, MANAGER), EndSession("logout"))
    with database.read() as session:
        manager_id = session.scalar(select(auth.User.id).where(auth.User.username == "manager"))
    trail.expect("user.logout", MANAGER, "user", manager_id)

    clock.advance(minutes=1)
    with database.write() as session:
        secret = tokens.create_token(session, clock, ADMIN, "gateway", "intake")
    created = trail.new()[-1]
    assert (created.action, created.actor, created.after) == (
        "token.create",
        "admin",
        {"name": "gateway", "scope": "intake"},
    )
    assert secret not in str(created.after) + str(created.detail)
    clock.advance(minutes=1)
    with database.write() as session:
        tokens.revoke_token(session, clock, ADMIN, "gateway")
    trail.expect(
        "token.revoke",
        ADMIN,
        "api_token",
        created.entity_id,
        before={"revoked_at": None},
        after={"revoked_at": clock.now().isoformat()},
    )


def test_no_outage_row_changes_without_an_event(database: Database, clock: FakeClock, territory) -> None:
    """Each outage's version counts its changes; each change must have left an outage event."""
    submit_reports(database, clock, GATEWAY, calls(territory, "TX-1", 2))
    with database.read() as session:
        outage = session.scalars(select(Outage)).one()
    confirm_outage(database, clock, DISPATCHER, outage.id)
    clock.advance(minutes=1)
    set_etr(database, clock, DISPATCHER, outage.id, clock.now() + timedelta(hours=1), "medium", "dispatcher")

    with database.read() as session:
        versions = [
            e.after["version"]
            for e in session.scalars(
                select(AuditEvent).where(
                    AuditEvent.entity == "outage", AuditEvent.entity_id == str(outage.id)
                )
            )
            if e.after and "version" in e.after
        ]
    assert versions == sorted(versions) and versions[-1] == version_of(database, Outage, outage.id)
