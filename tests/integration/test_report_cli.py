"""`python -m emergency report ...`: the figures of the report pages from the command line, the same
as the pages' queries give, with local dates (on SQLite and PostgreSQL).

The records are test_sitrep's hand-made event of 1 July 2026 (local time, Asia/Shanghai).
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

import pytest

from emergency.app.queries import reporting as queries
from emergency.cli import main
from emergency.core.actor import Actor
from emergency.core.clock import SYSTEM_CLOCK, FakeClock
from emergency.core.db import Database
from tests.integration.test_sitrep import EVENT_START, SHANGHAI, event  # noqa: F401 (its fixture)
from tests.support.app_context import context_of

MANAGER = Actor("manager", "manager")
DAY_START = EVENT_START
DAY_END = EVENT_START + timedelta(days=1)


@pytest.fixture
def ids(request: pytest.FixtureRequest) -> dict[str, int]:
    """test_sitrep's event, by its outages' letters."""
    return dict(request.getfixturevalue("event"))


@pytest.fixture(autouse=True)
def local_time_zone(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OUTAGE_TZ", "Asia/Shanghai")


def report(db: Database, capsys: pytest.CaptureFixture[str], *args: str) -> dict[str, Any]:
    capsys.readouterr()
    assert main(["--db", db.url, "report", *args, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_sitrep_from_the_command_line_is_the_pages_report_as_of_the_given_time(
    database: Database, ids: dict[str, int], capsys: pytest.CaptureFixture[str]
) -> None:
    data = report(database, capsys, "sitrep", "--from", "2026-07-01", "--to", "2026-07-01T08:20")
    as_of = datetime(2026, 7, 1, 8, 20, tzinfo=SHANGHAI)
    page = queries.situation_report(context_of(database, FakeClock(as_of), MANAGER), "quick", EVENT_START)

    assert data["as_of"] == "2026-07-01T08:20:00+08:00"
    assert data["event_start"] == "2026-07-01T00:00:00+08:00"
    assert data["progress"]["out_now"] == page.progress.out_now == 10
    assert data["progress"]["peak"] == page.progress.peak == 12
    assert data["outages_active"] == page.outages_active == 3
    assert [u["account_no"] for u in data["important_users"]] == [u.account_no for u in page.important_users]
    assert {d["code"]: d["progress"]["out_now"] for d in data["districts"]} == {"E": 5, "W": 5}

    east = report(
        database, capsys, "sitrep", "--from", "2026-07-01", "--to", "2026-07-01T08:20", "--district", "E"
    )
    assert [d["code"] for d in east["districts"]] == ["E"]
    assert east["important_users"] == []  # the hospital is in West


def test_compliance_and_etr_accuracy_for_a_local_day_are_the_pages_figures(
    database: Database, ids: dict[str, int], capsys: pytest.CaptureFixture[str]
) -> None:
    ctx = context_of(database, FakeClock(DAY_END + timedelta(days=1)), MANAGER)
    page = queries.compliance_report(ctx, DAY_START, DAY_END)

    data = report(database, capsys, "compliance", "--from", "2026-07-01", "--to", "2026-07-01")

    assert data["outages"] == len(page.timings) == 3
    assert sorted(row["outage_id"] for row in data["timings"]) == sorted(ids.values())
    by_code = {row["code"]: row for row in data["summary"]}
    for row in page.summary.itertuples():
        assert (by_code[row.code]["met"], by_code[row.code]["missed"]) == (row.met, row.missed)
    assert len(data["breaches"]) == len(page.breaches)

    east = report(
        database, capsys, "compliance", "--from", "2026-07-01", "--to", "2026-07-01", "--district", "E"
    )
    assert [row["outage_id"] for row in east["timings"]] == [ids["C"]]

    etr = report(database, capsys, "etr-accuracy", "--from", "2026-07-01", "--to", "2026-07-01")
    assert etr["overall"][0]["restored"] == 1  # A, restored at 09:00


def test_reliability_for_local_days_is_the_pages_report(
    database: Database, ids: dict[str, int], capsys: pytest.CaptureFixture[str]
) -> None:
    # B and C are still out: their minutes run up to now, for the page and the command alike.
    page = queries.reliability_report(
        context_of(database, SYSTEM_CLOCK, MANAGER), DAY_START.date(), DAY_START.date()
    )

    data = report(database, capsys, "reliability", "--from", "2026-07-01", "--to", "2026-07-01")

    assert (data["first_day"], data["last_day"]) == ("2026-07-01", "2026-07-01")
    overall = data["overall"][0]
    assert overall["days"] == "all_days"
    assert overall["saidi"] == pytest.approx(page.overall.loc["all_days", "saidi"], rel=1e-4)
    assert overall["saifi"] == pytest.approx(page.overall.loc["all_days", "saifi"])
    assert {row["district"] for row in data["by_district"]} == {"E", "W"}


def test_a_bad_district_or_date_is_refused_with_the_reason(
    database: Database, ids: dict[str, int], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--db", database.url, "report", "sitrep", "--from", "2026-07-01", "--district", "NOPE"]) == 2
    assert "no district 'NOPE' (known: E, W)" in capsys.readouterr().err
    assert main(["--db", database.url, "report", "compliance", "--from", "1 July"]) == 2
    assert "is not a date" in capsys.readouterr().err
    assert (
        main(["--db", database.url, "report", "compliance", "--from", "2026-07-02", "--to", "2026-07-01"])
        == 2
    )
    assert "--to must come after --from" in capsys.readouterr().err
