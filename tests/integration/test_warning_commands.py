"""The warnings part of the application layer, on SQLite and PostgreSQL: the server's expiry loop,
the role each command asks for, and queries that hand out plain data only.

Runs on the small hand-made territory (tests/support/small_territory.py).
"""

from __future__ import annotations

import dataclasses
import inspect
import threading
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from dashboard.server import expire_due_warnings
from emergency.app.bus import execute
from emergency.app.commands import warnings as commands
from emergency.app.commands.warnings import CreateWarning, IssueWarning
from emergency.app.queries import warnings as queries
from emergency.core.actor import Actor
from emergency.core.errors import PermissionDenied
from emergency.core.models import AuditEvent, Base, WarningRevision, WarningStatus
from emergency.core.models import Warning as WarningRow
from emergency.warnings.area import DistrictsArea
from emergency.warnings.records import WarningInput
from tests.support.app_context import context_of
from tests.support.small_territory import build_small_territory

MANAGER = Actor("meng", "manager")
ROLES = ("manager", "admin", "dispatcher", "public", "intake", "crew_position", "system", "nobody")


@pytest.fixture
def territory(database, clock):
    return build_small_territory(database, clock)


def issued(database, clock, hours: int = 12) -> int:
    data = WarningInput(
        "typhoon",
        "red",
        1,
        "Typhoon Haikui",
        "台风海葵",
        "",
        "",
        DistrictsArea(("W",)),
        clock.now(),
        clock.now() + timedelta(hours=hours),
    )
    warning_id = execute(context_of(database, clock, MANAGER), CreateWarning(data))
    execute(context_of(database, clock, MANAGER), IssueWarning(warning_id, 1))
    return warning_id


def expiry_audit(database) -> list[tuple[str, str, str | None]]:
    with database.read() as session:
        rows = session.execute(
            select(AuditEvent.actor, AuditEvent.actor_role, AuditEvent.entity_id)
            .where(AuditEvent.action == "warning.expire")
            .order_by(AuditEvent.id)
        )
        return [tuple(row) for row in rows]


def status(database, warning_id: int) -> WarningStatus:
    with database.read() as session:
        return session.get(WarningRow, warning_id).status


# --- expiry: the server's periodic work, not a page view ------------------------------------


def test_the_server_loop_expires_a_warning_past_its_time_once_as_the_system(database, clock, territory):
    warning_id = issued(database, clock, hours=12)
    later = issued(database, clock, hours=48)
    clock.advance(hours=11)
    assert expire_due_warnings(context_of(database, clock)) == ()
    assert status(database, warning_id) == WarningStatus.ACTIVE

    clock.advance(hours=1)
    # The loop acts as the system whoever built its context.
    assert expire_due_warnings(context_of(database, clock, MANAGER)) == (warning_id,)
    assert status(database, warning_id) == WarningStatus.EXPIRED
    assert status(database, later) == WarningStatus.ACTIVE
    assert expiry_audit(database) == [("system", "system", str(warning_id))]

    clock.advance(minutes=1)
    assert expire_due_warnings(context_of(database, clock)) == ()
    assert expiry_audit(database) == [("system", "system", str(warning_id))]
    with database.read() as session:
        notes = session.scalars(
            select(WarningRevision.snapshot).where(WarningRevision.warning_id == warning_id)
        ).all()
    assert [n.get("note") for n in notes] == [None, "expired"]


def test_two_app_processes_expiring_at_once_expire_and_audit_each_warning_once(database, clock, territory):
    warning_ids = {issued(database, clock, hours=1) for _ in range(3)}
    clock.advance(hours=2)
    start = threading.Barrier(2)
    results: list[tuple[int, ...]] = []
    errors: list[BaseException] = []

    def round_() -> None:
        start.wait()
        try:
            results.append(expire_due_warnings(context_of(database, clock)))
        except BaseException as error:  # reported below
            errors.append(error)

    threads = [threading.Thread(target=round_) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert not errors, errors
    expired = [warning_id for result in results for warning_id in result]
    assert sorted(expired) == sorted(warning_ids)
    assert sorted(int(entity) for _, _, entity in expiry_audit(database)) == sorted(warning_ids)


def test_only_the_system_expires_warnings(database, clock, territory):
    issued(database, clock, hours=1)
    clock.advance(hours=2)
    for role in ("manager", "admin", "dispatcher", "public"):
        with pytest.raises(PermissionDenied):
            execute(context_of(database, clock, Actor("someone", role)), commands.ExpireWarnings())
    assert expiry_audit(database) == []


# --- every command checks its role before anything else --------------------------------------

ALLOWED = {
    "CreateWarning": {"manager", "admin"},
    "EditDraft": {"manager", "admin"},
    "IssueWarning": {"manager", "admin"},
    "UpdateWarning": {"manager", "admin"},
    "CancelWarning": {"manager", "admin"},
    "DiscardDraft": {"manager", "admin"},
    "OutreachStepForMany": {"manager", "admin"},
    "ImportCapAlert": {"manager", "admin"},
    "ChooseDraftLevel": {"manager", "admin"},
    "SetCapGeocodeDistricts": {"manager", "admin"},
    "ExpireWarnings": {"system"},
    "EscalateOutreach": {"manager", "admin"},
    "AcknowledgeOutreach": {"manager", "admin"},
    "CompleteOutreach": {"manager", "admin"},
    "AcceptPrepositioning": {"manager", "admin"},
}


def warning_commands() -> dict[str, type]:
    return {
        name: value
        for name, value in vars(commands).items()
        if inspect.isclass(value)
        and dataclasses.is_dataclass(value)
        and value.__module__ == commands.__name__
    }


def placeholder(command_type: type) -> Any:
    """The command with None for every field: a guarded handler refuses before it looks at them."""
    return command_type(**{f.name: None for f in dataclasses.fields(command_type)})


def row_counts(database) -> dict[str, int]:
    with database.read() as session:
        return {
            table.name: session.scalar(select(func.count()).select_from(table))
            for table in Base.metadata.sorted_tables
        }


def test_every_warning_command_is_listed_here():
    assert set(warning_commands()) == set(ALLOWED)


@pytest.mark.filterwarnings("ignore:fully NULL primary key")
def test_each_warning_command_refuses_the_roles_it_does_not_serve(database, clock):
    before = row_counts(database)
    for name, command_type in sorted(warning_commands().items()):
        for role in ROLES:
            ctx = context_of(database, clock, Actor(f"someone-{role}", role))
            if role in ALLOWED[name]:
                try:
                    execute(ctx, placeholder(command_type))
                except PermissionDenied as refused:  # pragma: no cover - the failure message
                    pytest.fail(f"{name} as {role}: {refused}")
                except Exception:  # the placeholder fields stop it after the role check: expected
                    pass
            else:
                with pytest.raises(PermissionDenied):
                    execute(ctx, placeholder(command_type))
    assert row_counts(database) == before


# --- queries hand out plain data ----------------------------------------------------------------


def no_orm_objects(value: Any, where: str = "result") -> None:
    """Fail if `value` holds an ORM object anywhere (dataclass fields, tuples, lists, dicts)."""
    assert not isinstance(value, Base), f"{where} is an ORM object: {value!r}"
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        assert type(value).__dataclass_params__.frozen, f"{where} is not frozen"
        for field in dataclasses.fields(value):
            no_orm_objects(getattr(value, field.name), f"{where}.{field.name}")
    elif isinstance(value, tuple | list | set | frozenset):
        for i, item in enumerate(value):
            no_orm_objects(item, f"{where}[{i}]")
    elif isinstance(value, dict):
        for key, item in value.items():
            no_orm_objects(item, f"{where}[{key!r}]")


def test_the_pages_queries_return_frozen_plain_data(database, clock, territory):
    warning_id = issued(database, clock)
    ctx = context_of(database, clock, MANAGER)
    rows = queries.warning_rows(ctx)
    assert [(r.id, r.status, r.districts, r.title("zh")) for r in rows] == [
        (warning_id, "active", ("W",), "台风海葵")
    ]
    detail = queries.warning_detail(ctx, warning_id)
    assert detail.row == rows[0]
    assert [(r.by, r.status, r.msg_type) for r in detail.revisions] == [("meng", "active", "Alert")]
    overview = queries.outreach_overview(ctx)
    assert overview.in_force_ids == (warning_id,)
    assert overview.warning_titles == {warning_id: "Typhoon Haikui"}
    assert overview.disaster_district_ids == frozenset({territory.district_ids["W"]})
    lines = queries.outreach_lines(ctx, warning_id)
    assert [line.name for line in lines] == ["West Hospital 西镇医院"]
    for result in (
        rows,
        detail,
        queries.warning_preview(ctx, warning_id),
        overview,
        lines,
        queries.suggest_prepositioning(ctx),
    ):
        no_orm_objects(result)


def test_staff_queries_refuse_a_dispatcher_and_the_cap_feed_is_public(database, clock, territory):
    warning_id = issued(database, clock)
    dispatcher = context_of(database, clock, Actor("alice", "dispatcher"))
    for query in (
        queries.warning_rows,
        queries.outreach_overview,
        queries.outreach_lines,
        queries.suggest_prepositioning,
    ):
        with pytest.raises(PermissionDenied):
            query(dispatcher)
    with pytest.raises(PermissionDenied):
        queries.warning_detail(dispatcher, warning_id)
    public = context_of(database, clock, Actor("public", "public"))
    assert b"Typhoon Haikui" in queries.cap_feed(public, "/api/warnings.cap.xml")
    assert b"Typhoon Haikui" in (queries.cap_document(public, warning_id) or b"")
    assert queries.cap_document(public, warning_id + 1) is None


def test_a_draft_has_no_public_cap_document(database, clock, territory):
    data = WarningInput(
        "gale",
        "blue",
        None,
        "Gale",
        "大风",
        "",
        "",
        DistrictsArea(("E",)),
        clock.now(),
        clock.now() + timedelta(hours=3),
    )
    draft_id = execute(context_of(database, clock, MANAGER), CreateWarning(data))
    assert queries.cap_document(context_of(database, clock, Actor("public", "public")), draft_id) is None
