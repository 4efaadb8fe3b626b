"""The audit trail on SQLite and PostgreSQL: append-only in the database, and the audit page's queries."""

from __future__ import annotations

import csv
import inspect
import io
from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import DBAPIError

from emergency.app.bus import execute
from emergency.app.commands.public import SubmitFeedback
from emergency.app.commands.reporting import ExportAuditTrail
from emergency.app.context import Context
from emergency.app.queries.reporting import audit_trail
from emergency.core import audit
from emergency.core.actor import Actor
from emergency.core.clock import FakeClock
from emergency.core.db import Database
from emergency.core.errors import InvalidInput, PermissionDenied
from emergency.core.models import AuditEvent, Role
from emergency.reporting import audit_log as audit_query
from emergency.reporting.audit_log import AuditFilter, count_audit, iter_audit_rows, search_audit

TZ = ZoneInfo("Asia/Shanghai")
MANAGER = Actor("mei", Role.MANAGER)
ADMIN = Actor("root", Role.ADMIN)
DISPATCHER = Actor("dan", Role.DISPATCHER)


def add_events(db: Database, clock: FakeClock) -> None:
    """Six events a minute apart: two dispatchers, a manager, the SLA monitor."""
    rows = [
        (DISPATCHER, "outage.confirm", "outage", 7, {"state": "predicted"}, {"state": "confirmed"}, None),
        (
            DISPATCHER,
            "crew.dispatch",
            "crew_assignment",
            3,
            None,
            {"status": "dispatched"},
            "crew C-1 to outage 7",
        ),
        (Actor("eve", Role.DISPATCHER), "outage.etr", "outage", 7, {"etr_at": None}, {"etr_at": "x"}, None),
        (
            MANAGER,
            "warning.issue",
            "warning",
            2,
            {"status": "draft"},
            {"status": "active"},
            "Typhoon MANGKHUT",
        ),
        (Actor("sla-monitor", "system"), "sla.breach", "outage", 7, None, {"code": "dispatch"}, None),
        (
            MANAGER,
            "outage.cancel",
            "outage",
            8,
            {"state": "predicted"},
            {"state": "cancelled"},
            "=HYPERLINK(1)",
        ),
    ]
    with db.write() as session:
        for actor, action, entity, entity_id, before, after, detail in rows:
            audit.record(
                session, clock, actor, action, entity, entity_id, before=before, after=after, detail=detail
            )
            clock.advance(minutes=1)


def actions(page: audit_query.AuditPage) -> list[str]:
    return [r.action for r in page.rows]


def search(db: Database, wanted: AuditFilter, **kwargs) -> audit_query.AuditPage:  # type: ignore[no-untyped-def]
    return audit_trail(Context(db, FakeClock(), MANAGER, TZ), wanted, **kwargs).page


def export_audit_csv(
    db: Database, clock: FakeClock, actor: Actor, wanted: AuditFilter, **kwargs: int
) -> bytes:
    return execute(Context(db, clock, actor, TZ), ExportAuditTrail(wanted, **kwargs))


def audit_count(db: Database) -> int:
    with db.read() as session:
        return session.scalar(select(func.count()).select_from(AuditEvent)) or 0


@pytest.mark.parametrize(
    "statement", ["UPDATE audit_events SET actor = 'someone-else'", "DELETE FROM audit_events"]
)
def test_the_database_refuses_to_change_or_delete_an_audit_row(
    database: Database, clock: FakeClock, statement: str
) -> None:
    add_events(database, clock)

    with pytest.raises(DBAPIError, match="append-only"), database.write() as session:
        session.execute(text(statement))

    assert audit_count(database) == 6
    assert {r.actor for r in search(database, AuditFilter()).rows} == {"dan", "eve", "mei", "sla-monitor"}


def test_the_orm_cannot_change_an_audit_row_either(database: Database, clock: FakeClock) -> None:
    add_events(database, clock)

    with pytest.raises(DBAPIError, match="append-only"), database.write() as session:
        event = session.scalars(select(AuditEvent).limit(1)).one()
        event.detail = "rewritten"


def test_postgresql_refuses_a_truncate(database: Database, clock: FakeClock) -> None:
    if database.dialect != "postgresql":
        pytest.skip("SQLite has no TRUNCATE; its DELETE trigger covers a DELETE without WHERE")
    add_events(database, clock)

    with pytest.raises(DBAPIError, match="append-only"), database.write() as session:
        session.execute(text("TRUNCATE audit_events"))
    assert audit_count(database) == 6


def test_the_audit_module_can_only_add() -> None:
    public = {
        name for name, value in vars(audit).items() if inspect.isfunction(value) and not name.startswith("_")
    }
    assert public == {"record", "record_many", "values"}  # add one row, add many, a row's columns


def test_newest_first_and_each_filter(database: Database, clock: FakeClock) -> None:
    start = clock.now()
    add_events(database, clock)

    assert actions(search(database, AuditFilter())) == [
        "outage.cancel",
        "sla.breach",
        "warning.issue",
        "outage.etr",
        "crew.dispatch",
        "outage.confirm",
    ]
    assert actions(search(database, AuditFilter(actor="dan"))) == ["crew.dispatch", "outage.confirm"]
    assert actions(search(database, AuditFilter(role="system"))) == ["sla.breach"]
    assert actions(search(database, AuditFilter(action="outage"))) == [
        "outage.cancel",
        "outage.etr",
        "outage.confirm",
    ]
    assert actions(search(database, AuditFilter(action="outage.etr"))) == ["outage.etr"]
    assert actions(search(database, AuditFilter(entity="outage", entity_id="7"))) == [
        "sla.breach",
        "outage.etr",
        "outage.confirm",
    ]
    assert actions(search(database, AuditFilter(text="mangkhut"))) == ["warning.issue"]
    window = AuditFilter(since=start + timedelta(minutes=1), until=start + timedelta(minutes=3))
    assert actions(search(database, window)) == ["outage.etr", "crew.dispatch"]
    assert actions(search(database, AuditFilter(role="manager", action="outage"))) == ["outage.cancel"]


def test_like_wildcards_in_a_filter_are_literal(database: Database, clock: FakeClock) -> None:
    add_events(database, clock)

    assert search(database, AuditFilter(text="%")).rows == []
    assert search(database, AuditFilter(action="outage_")).rows == []


def test_pages_walk_every_match_once_without_offsets(database: Database, clock: FakeClock) -> None:
    add_events(database, clock)

    seen: list[int] = []
    before_id = None
    pages = 0
    while True:
        page = search(database, AuditFilter(), before_id=before_id, limit=4)
        seen.extend(r.id for r in page.rows)
        pages += 1
        if page.next_before_id is None:
            break
        before_id = page.next_before_id

    assert pages == 2
    assert seen == sorted(seen, reverse=True)
    assert len(seen) == len(set(seen)) == 6


def test_counts_stop_at_the_cap(database: Database, clock: FakeClock) -> None:
    add_events(database, clock)
    assert audit_trail(Context(database, clock, MANAGER, TZ), AuditFilter()).total == 6
    with database.read() as session:
        assert count_audit(session, AuditFilter()) == 6
        assert count_audit(session, AuditFilter(), cap=4) == 4
        assert count_audit(session, AuditFilter(actor="nobody")) == 0


def test_a_row_shows_its_changes(database: Database, clock: FakeClock) -> None:
    add_events(database, clock)

    confirm = search(database, AuditFilter(action="outage.confirm")).rows[0]

    assert audit_query.describe_changes(confirm.changes) == "state: predicted → confirmed"
    assert (confirm.actor, confirm.role, confirm.entity, confirm.entity_id) == (
        "dan",
        "dispatcher",
        "outage",
        "7",
    )
    assert confirm.at == clock.now() - timedelta(minutes=6)


@pytest.mark.parametrize("actor", [DISPATCHER, Actor("public", "public"), Actor("token:gw", "intake")])
def test_only_managers_and_admins_read_the_trail(database: Database, clock: FakeClock, actor: Actor) -> None:
    add_events(database, clock)
    with pytest.raises(PermissionDenied):
        audit_trail(Context(database, clock, actor, TZ), AuditFilter())
    with pytest.raises(PermissionDenied):
        export_audit_csv(database, clock, actor, AuditFilter())
    assert audit_count(database) == 6


def test_bad_filters_are_refused_with_the_field(database: Database) -> None:
    with database.read() as session:
        with pytest.raises(InvalidInput, match="until"):
            search_audit(session, AuditFilter(since=FakeClock().now(), until=FakeClock().now()))
        with pytest.raises(InvalidInput, match="text"):
            search_audit(session, AuditFilter(text="x" * 201))
        with pytest.raises(InvalidInput, match="limit"):
            search_audit(session, AuditFilter(), limit=100_000)


def test_the_csv_export_is_bounded_neutralises_formulas_and_is_itself_audited(
    database: Database, clock: FakeClock
) -> None:
    add_events(database, clock)

    data = export_audit_csv(database, clock, ADMIN, AuditFilter(action="outage"), max_rows=2)

    assert data.startswith("\ufeff".encode())
    rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))
    assert rows[0] == list(audit_query.CSV_COLUMNS)
    assert [r[4] for r in rows[1:]] == ["outage.cancel", "outage.etr"]
    assert rows[1][8] == "'=HYPERLINK(1)"
    assert rows[1][7] == "state: predicted → cancelled"
    exported = search(database, AuditFilter(action="audit.export")).rows
    assert [(e.actor, e.after) for e in exported] == [("root", {"filters": {"action": "outage"}, "rows": 2})]


def test_the_export_reads_in_chunks_and_stops_at_the_limit(
    database: Database, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    add_events(database, clock)
    monkeypatch.setattr(audit_query, "EXPORT_CHUNK", 2)

    with database.read() as session:
        every = list(iter_audit_rows(session, AuditFilter()))
        five = list(iter_audit_rows(session, AuditFilter(), max_rows=5))

    assert len(every) == 1 + 6
    assert every[1:6] == five[1:]


def test_the_text_search_finds_what_the_row_shows_not_only_its_detail(
    database: Database, clock: FakeClock
) -> None:
    """A feedback's reference is in the row's `after`, not its detail: the search missed it."""
    ctx = Context(database, clock, Actor("public", "public"), TZ)
    receipt = execute(ctx, SubmitFeedback("complaint", "No power since noon", requester=None))
    with database.write() as session:
        audit.record(
            session, clock, MANAGER, "warning.issue", "warning", 9, after={"title_zh": '台风 "山竹" 红色预警'}
        )
    add_events(database, clock)

    found = search(database, AuditFilter(text=receipt.reference.lower()))
    assert [(r.action, r.after["reference"]) for r in found.rows] == [("feedback.create", receipt.reference)]
    # Chinese and quotes are stored as JSON escapes; the search reads them as the page shows them.
    assert [r.entity_id for r in search(database, AuditFilter(text='台风 "山竹"')).rows] == ["9"]
    # The id a row is about is searchable too.
    assert actions(search(database, AuditFilter(text="crew c-1"))) == ["crew.dispatch"]
