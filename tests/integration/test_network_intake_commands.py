"""The intake and territory commands and the important-users query: each checks the role before it
touches anything, reads the local time zone from the context it runs with, and answers with plain
frozen data. On the small territory, SQLite and PostgreSQL."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from emergency.app.bus import execute, registered
from emergency.app.commands.intake import IngestFile, SubmitReports
from emergency.app.commands.network import (
    EditImportantUser,
    ImportImportantUsers,
    ImportTerritory,
    RegisterImportantUser,
)
from emergency.app.context import Context
from emergency.app.queries import network as network_queries
from emergency.core.actor import Actor
from emergency.core.errors import PermissionDenied
from emergency.core.models import Report
from emergency.intake.reports import MAX_BATCH
from emergency.network.important_users import ImportantUserInput
from tests.support.small_territory import build_small_territory

HOTLINE = Actor("hotline-gateway", "intake")
MANAGER = Actor("meng", "manager")
DISPATCHER = Actor("dai", "dispatcher")
SHANGHAI = ZoneInfo("Asia/Shanghai")
WATER = ImportantUserInput("grade2", "water", 4.0, None, None)


@pytest.fixture
def territory(database, clock):
    return build_small_territory(database, clock)


def reports_stored(database) -> int:
    with database.read() as session:
        return int(session.scalar(select(func.count()).select_from(Report)) or 0)


def test_every_command_of_intake_and_the_territory_has_its_handler() -> None:
    commands = registered()
    for command in (
        SubmitReports,
        IngestFile,
        ImportTerritory,
        RegisterImportantUser,
        EditImportantUser,
        ImportImportantUsers,
    ):
        assert command in commands
        assert dataclasses.is_dataclass(command)
        with pytest.raises(dataclasses.FrozenInstanceError):
            object.__new__(command).__setattr__("x", 1)


def test_a_local_wall_clock_time_is_read_in_the_time_zone_of_the_context(database, clock, territory) -> None:
    # 09:30 in Shanghai is 01:30 UTC, half an hour before the fake clock's 02:00 UTC; read as UTC,
    # the same wall-clock time is seven and a half hours ahead of now.
    item = {
        "channel": "hotline",
        "kind": "no_power",
        "account_no": territory.account_by_transformer["TX-1"][0],
        "reported_at": "2026-07-01T09:30:00",
    }
    as_utc = execute(Context(database, clock, HOTLINE, ZoneInfo("UTC")), SubmitReports((item,)))
    assert [(e.index, e.field, e.reason) for e in as_utc.errors] == [(0, "reported_at", "is in the future")]

    in_shanghai = execute(Context(database, clock, HOTLINE, SHANGHAI), SubmitReports((item,)))
    assert in_shanghai.errors == [] and in_shanghai.stored == 1
    with database.read() as session:
        stored = session.get(Report, in_shanghai.accepted[0].id)
        assert stored is not None and stored.reported_at == datetime(2026, 7, 1, 1, 30, tzinfo=UTC)


def test_a_batch_over_the_limit_is_refused_whole_before_a_transaction(database, clock, territory) -> None:
    item = {"channel": "hotline", "kind": "no_power", "account_no": "x"}
    result = execute(Context(database, clock, HOTLINE, SHANGHAI), SubmitReports((item,) * (MAX_BATCH + 1)))
    assert [e.to_json() for e in result.errors] == [
        {"index": -1, "field": "reports", "reason": f"at most {MAX_BATCH} reports per batch"}
    ]
    assert reports_stored(database) == 0


def test_intake_refuses_a_role_that_may_not_report(database, clock, territory, tmp_path: Path) -> None:
    crew_device = Context(database, clock, Actor("truck-7", "crew_position"), SHANGHAI)
    with pytest.raises(PermissionDenied):
        execute(crew_device, SubmitReports(({"channel": "hotline", "kind": "no_power"},)))
    # Refused before the path is looked at: a caller learns nothing about the file system.
    with pytest.raises(PermissionDenied):
        execute(crew_device, IngestFile(tmp_path / "no-such-file.csv"))
    assert reports_stored(database) == 0


def test_the_territory_commands_refuse_before_reading_anything(database, clock, territory, tmp_path) -> None:
    missing = tmp_path / "missing.csv"
    with pytest.raises(PermissionDenied):
        execute(Context(database, clock, MANAGER, SHANGHAI), ImportTerritory(missing, missing))
    dispatcher = Context(database, clock, DISPATCHER, SHANGHAI)
    with pytest.raises(PermissionDenied):
        execute(dispatcher, ImportImportantUsers(b"not even a csv"))
    with pytest.raises(PermissionDenied):
        execute(dispatcher, RegisterImportantUser(territory.account_by_transformer["TX-1"][0], WATER))
    with pytest.raises(PermissionDenied):
        execute(dispatcher, EditImportantUser(1, 1, WATER))
    with pytest.raises(PermissionDenied):
        network_queries.important_users(Context(database, clock, HOTLINE, SHANGHAI))


def test_the_register_query_answers_with_frozen_rows(database, clock, territory) -> None:
    manager = Context(database, clock, MANAGER, SHANGHAI)
    account = territory.account_by_transformer["TX-4"][0]
    customer_id = execute(manager, RegisterImportantUser(account, WATER))

    users = network_queries.important_users(manager, grades=["grade2"])
    assert isinstance(users, tuple)
    (user,) = users
    assert (user.customer_id, user.account_no, user.kind) == (customer_id, account, "water")
    with pytest.raises(dataclasses.FrozenInstanceError):
        user.grade = "special"  # type: ignore[misc]

    longer = dataclasses.replace(WATER, backup_hours=9.0)
    execute(manager, EditImportantUser(customer_id, user.version, longer))
    (edited,) = network_queries.important_users(manager, grades=["grade2"])
    assert (edited.backup_hours, edited.version) == (9.0, user.version + 1)
