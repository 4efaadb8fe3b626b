"""The reporting pages' way in: every query and command of `emergency.app` for reports refuses all
but managers and administrators before it reads or writes anything, and what it returns is plain
frozen data, not ORM objects."""

from __future__ import annotations

import dataclasses
import inspect
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pandas as pd
import pytest
from sqlalchemy import func, select

from emergency.app import bus
from emergency.app.commands import reporting as commands
from emergency.app.context import Context
from emergency.app.queries import reporting as queries
from emergency.core.actor import PUBLIC, Actor
from emergency.core.clock import FakeClock
from emergency.core.db import Database
from emergency.core.errors import PermissionDenied
from emergency.core.models import AuditEvent, Base
from emergency.reporting.audit_log import AuditFilter
from emergency.reporting.sitrep import ReportKind
from tests.support.app_calls import submit_feedback
from tests.support.small_territory import build_small_territory

TZ = ZoneInfo("Asia/Shanghai")
REFUSED = ("dispatcher", "public", "system", "intake", "crew_position", "nobody")
ALLOWED = ("manager", "admin")


def reporting_queries() -> dict[str, Callable[..., Any]]:
    return {
        name: value
        for name, value in vars(queries).items()
        if inspect.isfunction(value) and value.__module__ == queries.__name__ and not name.startswith("_")
    }


def reporting_commands() -> list[type]:
    return [c for c in bus.registered() if c.__module__ == commands.__name__]


def call_query(query: Callable[..., Any], ctx: Context) -> Any:
    """With None for every argument it needs besides the context: the role check comes first."""
    parameters = list(inspect.signature(query).parameters.values())[1:]
    arguments = {p.name: None for p in parameters if p.default is inspect.Parameter.empty}
    return query(ctx, **arguments)


def placeholder(command: type) -> object:
    """The command with None for every field it requires: the handler checks the role first."""
    required = [
        f.name
        for f in dataclasses.fields(command)
        if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
    ]
    return command(**dict.fromkeys(required))


def row_counts(db: Database) -> dict[str, int]:
    tables = Base.metadata.sorted_tables
    counts = select(*(select(func.count()).select_from(t).scalar_subquery().label(t.name) for t in tables))
    with db.read() as session:
        return dict(session.execute(counts).one()._mapping)


def test_the_pages_have_their_queries_and_commands() -> None:
    assert set(reporting_queries()) == {
        "audit_trail",
        "complaints_desk",
        "compliance_choices",
        "compliance_report",
        "reliability_report",
        "situation_report",
        "suggested_event_start",
    }
    assert {c.__name__ for c in reporting_commands()} == {
        "ExportAuditTrail",
        "RecordFeedbackStep",
        "VerifyRestoration",
    }


@pytest.mark.parametrize("role", REFUSED)
def test_everyone_but_managers_is_refused_and_nothing_is_stored(
    database: Database, clock: FakeClock, role: str
) -> None:
    ctx = Context(database, clock, Actor(f"someone-{role}", role), TZ)
    before = row_counts(database)
    for query in reporting_queries().values():
        with pytest.raises(PermissionDenied):
            call_query(query, ctx)
    for command in reporting_commands():
        with pytest.raises(PermissionDenied):
            bus.execute(ctx, placeholder(command))
    assert row_counts(database) == before


@pytest.mark.parametrize("role", ALLOWED)
def test_managers_and_admins_read_every_report_as_plain_data(
    database: Database, clock: FakeClock, role: str
) -> None:
    build_small_territory(database, clock)
    submit_feedback(database, clock, PUBLIC, "complaint", "No power since noon", contact="13900000001")
    ctx = Context(database, clock, Actor(f"someone-{role}", role), TZ)
    today = clock.now().astimezone(TZ).date()
    start = datetime.combine(today, datetime.min.time(), TZ).astimezone(UTC)

    choices = queries.compliance_choices(ctx)
    report = queries.compliance_report(ctx, start - timedelta(days=1), start + timedelta(days=1))
    reliability = queries.reliability_report(ctx, today - timedelta(days=6), today)
    suggested = queries.suggested_event_start(ctx)
    sitrep = queries.situation_report(ctx, ReportKind.QUICK, suggested)
    desk = queries.complaints_desk(ctx)
    trail = queries.audit_trail(ctx, AuditFilter())

    assert [code for _, code, _ in choices.crews] == ["C1", "C2", "C3"]
    assert all(isinstance(frame, pd.DataFrame) for frame in dataclasses.astuple(report, tuple_factory=list))
    assert report.timings.empty and report.breaches.empty
    assert reliability.first_day == today - timedelta(days=6) and reliability.running.day == today
    assert suggested == clock.now() - timedelta(days=1), "no outage active: a day ago"
    assert (sitrep.as_of, sitrep.progress.out_now, sitrep.customers_served) == (clock.now(), 0, 15)
    assert [item.text for item in desk.items] == ["No power since noon"] and desk.pending == ()
    assert trail.total == len(trail.page.rows) > 0
    for value in (choices, report, reliability, sitrep, desk, trail, *desk.items, *trail.page.rows):
        assert dataclasses.is_dataclass(value) and type(value).__dataclass_params__.frozen  # type: ignore[attr-defined]
        assert not isinstance(value, Base)


def test_a_manager_records_a_step_and_exports_the_trail(database: Database, clock: FakeClock) -> None:
    ctx = Context(database, clock, Actor("mei", "manager"), TZ)
    receipt = submit_feedback(database, clock, PUBLIC, "suggestion", "Text me when power is back")
    (item,) = queries.complaints_desk(ctx).items
    assert item.reference == receipt.reference

    clock.advance(minutes=5)
    accepted = bus.execute(ctx, commands.RecordFeedbackStep(item.id, "accept", item.version, note="called"))
    data = bus.execute(ctx, commands.ExportAuditTrail(AuditFilter(entity="feedback")))

    assert (accepted.status, accepted.handled_by, accepted.next_step) == ("in_progress", "mei", "verify")
    lines = data.decode("utf-8-sig").splitlines()
    assert [line.split(",")[4] for line in lines[1:]] == ["feedback.accept", "feedback.create"]
    with database.read() as session:
        export = session.scalars(select(AuditEvent).where(AuditEvent.action == "audit.export")).one()
        assert (export.actor, export.after) == ("mei", {"filters": {"entity": "feedback"}, "rows": 2})
