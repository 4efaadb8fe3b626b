"""The storm under load, bounded: the real server, concurrent intake clients and two dispatchers.

`bench.load` runs the same storm at full size and prints the figures; here a small one
asserts only the invariants (every report stored once under the id it was answered with, no server
error, no crew booked twice), never timings. The checks themselves are tested to fail on a
database that breaks them.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.load import Posted, StormOutcome, _Ledger, check_stored_once, run_storm
from emergency.core.actor import Actor
from emergency.core.clock import FakeClock
from emergency.core.db import Database
from tests.support.commands import submit_reports
from tests.support.small_territory import build_small_territory

STORM = {"customers": 2_000, "reports": 1_500, "clients": 3, "batch": 50, "naive": 40}


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_database_url(request: pytest.FixtureRequest) -> str:
    return request.getfixturevalue("sqlite_url" if request.param == "sqlite" else "postgres_url")


def test_a_storm_with_two_dispatchers_stores_every_report_once_without_server_errors(
    empty_database_url: str, tmp_path: Path
) -> None:
    outcome = run_storm(empty_database_url, tmp_path, **STORM)

    assert outcome.problems == []
    assert outcome.server_errors == 0
    assert set(outcome.statuses) <= {201, 429}, outcome.statuses
    unique_sent = outcome.reports_sent - outcome.duplicates_answered
    assert outcome.reports_accepted == unique_sent
    assert outcome.duplicates_answered > 0, "the storm's retries of earlier reports were answered as such"
    assert sum(outcome.dispatcher_actions.values()) > 0, "the dispatchers acted during the storm"
    assert len(outcome.requests) >= STORM["reports"] // STORM["batch"]
    assert len(outcome.naive_requests) >= STORM["naive"]


def _accepted_once(db: Database, clock: FakeClock, items: list[dict[str, object]]) -> _Ledger:
    result = submit_reports(db, clock, Actor("gateway", "intake"), items)
    assert not result.errors
    ledger = _Ledger()
    ledger.record(items, result.to_json())
    return ledger


def test_the_stored_once_check_finds_a_lost_report_and_a_wrong_id(sqlite_database: Database) -> None:
    clock = FakeClock()
    territory = build_small_territory(sqlite_database, clock)
    account = territory.account_by_transformer["TX-4"][0]
    stored = {"channel": "hotline", "external_id": "A-1", "kind": "no_power", "account_no": account}
    ledger = _accepted_once(sqlite_database, clock, [stored])
    assert check_stored_once(sqlite_database, [stored], ledger) == []

    never_stored = {**stored, "external_id": "A-2"}
    [(key, [stored_id])] = [(key, sorted(ids)) for key, ids in ledger.ids.items()]
    ledger.ids[key] = {stored_id + 1000}

    problems = check_stored_once(sqlite_database, [stored, never_stored], ledger)

    assert problems == [
        f"report ('hotline', 'A-1') was answered with ids [{stored_id + 1000}], stored as [{stored_id}]",
        "report ('hotline', 'A-2') is stored 0 times",
    ]


def test_an_outcome_counts_every_5xx_as_a_server_error() -> None:
    outcome = StormOutcome(
        requests=[Posted(201, 0.1, 50), Posted(503, 0.1, 50)], naive_requests=[Posted(500, 0, 1)]
    )

    assert outcome.server_errors == 2


def test_a_storm_through_two_app_processes_on_one_postgresql_stores_every_report_once(
    postgres_url: str, tmp_path: Path
) -> None:
    """`bench load --pg`'s second half: the intake clients split between two processes."""
    outcome = run_storm(postgres_url, tmp_path, processes=2, **STORM)

    assert outcome.problems == []
    assert outcome.server_errors == 0
    assert outcome.reports_accepted == outcome.reports_sent - outcome.duplicates_answered
    assert len({r.server for r in outcome.first_requests}) == 2, "each process warmed up"
    assert len({r.server for r in outcome.requests}) == 2, "the storm's batches went to both processes"
    assert sum(outcome.dispatcher_actions.values()) > 0
