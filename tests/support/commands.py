"""The intake and territory services in the shapes tests have always called them, each call going
through the application layer (`execute(ctx, Command)` or a query) as a page, route or the CLI does.

Tests keep reading as sentences ("submit_reports(database, clock, HOTLINE, items)") while the
handler under test is the real one: role check, unit of work, audit.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from emergency.app.bus import execute
from emergency.app.commands.intake import IngestFile, SubmitReports
from emergency.app.commands.network import (
    EditImportantUser,
    ImportImportantUsers,
    ImportTerritory,
    RegisterImportantUser,
)
from emergency.app.queries import network as network_queries
from emergency.core.actor import Actor
from emergency.core.clock import SYSTEM_CLOCK, Clock
from emergency.core.db import Database
from emergency.intake.ingest_file import DEFAULT_BATCH, IngestSummary
from emergency.intake.reports import IntakeResult
from emergency.network.important_users import ImportantUser, ImportantUserInput, ImportResult
from emergency.network.importer import ImportSummary
from tests.support.app_context import context_of


def submit_reports(db: Database, clock: Clock, actor: Actor, items: Sequence[Any]) -> IntakeResult:
    return execute(context_of(db, clock, actor), SubmitReports(tuple(items)))


def ingest_file(
    db: Database, clock: Clock, actor: Actor, path: Path, batch_size: int = DEFAULT_BATCH
) -> IngestSummary:
    return execute(context_of(db, clock, actor), IngestFile(path, batch_size))


def import_territory(
    db: Database,
    clock: Clock,
    actor: Actor,
    *,
    network: Path,
    customers: Path,
    crews: Path | None = None,
    districts: Path | None = None,
) -> ImportSummary:
    return execute(context_of(db, clock, actor), ImportTerritory(network, customers, crews, districts))


def register_important_user(
    db: Database, clock: Clock, actor: Actor, account_no: str, data: ImportantUserInput
) -> int:
    return execute(context_of(db, clock, actor), RegisterImportantUser(account_no, data))


def update_important_user(
    db: Database,
    clock: Clock,
    actor: Actor,
    customer_id: int,
    data: ImportantUserInput,
    *,
    expected_version: int,
) -> None:
    execute(context_of(db, clock, actor), EditImportantUser(customer_id, expected_version, data))


def import_csv(db: Database, clock: Clock, actor: Actor, content: bytes) -> ImportResult:
    return execute(context_of(db, clock, actor), ImportImportantUsers(content))


def list_important_users(db: Database, actor: Actor, **filters: Any) -> list[ImportantUser]:
    return list(network_queries.important_users(context_of(db, SYSTEM_CLOCK, actor), **filters))
