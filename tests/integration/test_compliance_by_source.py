"""The 30-minute on-site clock by how each arrival was recorded: gps, crew, dispatcher, unknown for
arrivals recorded before sources were kept, and outages no crew reached yet. The by-source counts
add up to the clock's total; the report's query and `report compliance --json` carry them."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from emergency.core.clock import FakeClock
from emergency.core.db import Database
from emergency.core.models import OnSiteSource, Outage
from emergency.reporting import compliance
from tests.integration.test_compliance import NOW, TZ, outages, timings  # noqa: F401

SOURCES = {
    "A": OnSiteSource.GPS,  # 30 min: met, exactly at the limit
    "X": OnSiteSource.GPS,  # 20 min: met
    "E": OnSiteSource.GPS,  # 40 min: missed
    "B": OnSiteSource.CREW,  # 25 min: met
    "C": OnSiteSource.DISPATCHER,  # 45 min: missed
    "Z": OnSiteSource.DISPATCHER,  # reported after the day the report covers: not counted
    # D (28 min, met) keeps no source: recorded before sources were kept.
}


@pytest.fixture
def sourced(database: Database, outages: dict[str, int]) -> dict[str, int]:  # noqa: F811
    with database.write() as session:
        for name, source in SOURCES.items():
            outage = session.get(Outage, outages[name])
            assert outage is not None
            outage.on_site_source = source
    return outages


def by_source(database: Database) -> pd.DataFrame:
    frame = timings(database)
    with database.read() as session:
        return compliance.on_site_by_source(session, frame, FakeClock(NOW), TZ).set_index("source")


def test_the_on_site_clock_by_source(database: Database, sourced: dict[str, int]) -> None:
    table = by_source(database)
    assert list(table.index) == ["gps", "crew", "dispatcher", "unknown", "not_arrived"]
    assert table.loc["gps", ["outages", "met", "missed"]].tolist() == [3, 2, 1]
    assert table.loc["gps", "share_met"] == pytest.approx(2 / 3)
    assert table.loc["gps", "median_minutes"] == pytest.approx(30)
    assert table.loc["crew", ["outages", "met", "missed"]].tolist() == [1, 1, 0]
    assert table.loc["dispatcher", ["outages", "met", "missed"]].tolist() == [1, 0, 1]
    assert table.loc["unknown", ["outages", "met", "missed"]].tolist() == [1, 1, 0]
    assert pd.isna(table.loc["not_arrived", "median_minutes"])


def test_the_by_source_counts_add_up_to_the_clocks_total(database: Database, sourced: dict[str, int]) -> None:
    frame = timings(database)
    with database.read() as session:
        summary = compliance.compliance_summary(session, frame, FakeClock(NOW), TZ).set_index("code")
        table = compliance.on_site_by_source(session, frame, FakeClock(NOW), TZ)
    total = summary.loc[compliance.ON_SITE_TARGET]
    for column in ("outages", "met", "missed", "running"):
        assert int(table[column].sum()) == int(total[column]), column
    assert int(table["outages"].sum()) > 0


def test_report_compliance_json_carries_the_sources(
    database: Database, sourced: dict[str, int], monkeypatch, capsys
) -> None:
    from emergency.cli import main

    monkeypatch.setenv("OUTAGE_TZ", "Asia/Shanghai")
    args = ["--db", database.url, "report", "compliance", "--from", "2026-06-30", "--to", "2026-07-01"]
    assert main([*args, "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    rows = {row["source"]: row for row in data["on_site_by_source"]}
    assert rows["gps"]["outages"] == 3 and rows["crew"]["met"] == 1
