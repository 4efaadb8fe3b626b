"""Loading the demo territory into SQLite and PostgreSQL: one transaction, usable at once."""

from __future__ import annotations

import io

import pytest
from sqlalchemy import ColumnElement, func, select
from sqlalchemy.orm import Session

from bench import BenchRow, bench_generate, print_table
from bench import main as bench_main
from emergency.core.clock import FakeClock
from emergency.core.db import Database
from emergency.core.errors import Conflict
from emergency.core.models import (
    ACTIVE_OUTAGE_STATES,
    AuditEvent,
    Base,
    Crew,
    CrewAssignment,
    Customer,
    Depot,
    Device,
    DeviceKind,
    District,
    EtrChange,
    ImportanceGrade,
    Outage,
    OutageState,
    Report,
    User,
)
from emergency.core.settings import get_setting
from emergency.demo.load import load_demo
from emergency.demo.territory import DEMO_ACCOUNTS
from tests.support.app_calls import log_in

SIZE = 2_000


def _count(session: Session, model: type[Base], *where: ColumnElement[bool]) -> int:
    return session.scalar(select(func.count()).select_from(model).where(*where)) or 0


def test_load_demo_writes_what_its_summary_says_ready_to_use(database: Database, clock: FakeClock) -> None:
    """One load per database engine: counts, settings, logins, and ids for the next rows."""
    summary = load_demo(database, clock, customers=SIZE, seed=7)

    with database.read() as session:
        assert _count(session, District) == summary.districts
        assert _count(session, Device) == summary.devices
        assert _count(session, Device, Device.kind == DeviceKind.SUBSTATION) == summary.substations
        assert _count(session, Device, Device.kind == DeviceKind.BREAKER) == summary.feeders
        assert _count(session, Device, Device.kind == DeviceKind.TRANSFORMER) == summary.transformers
        assert _count(session, Customer) == summary.customers == SIZE
        important = (Customer.importance != ImportanceGrade.NONE) | (Customer.kind == "life_support")
        assert _count(session, Customer, important) == summary.important_users
        assert _count(session, Crew) == summary.crews
        assert _count(session, Depot) > 0
        active = Outage.state.in_(list(ACTIVE_OUTAGE_STATES))
        assert _count(session, Outage, active) == summary.active_outages > 0
        assert _count(session, Report) > 0 and _count(session, EtrChange) > 0
        assert _count(session, CrewAssignment) > 0
        assert get_setting(session, "territory.is_demo") is True
        assert get_setting(session, "territory.name_en") == "Lanhai City"
        assert get_setting(session, "territory.name_zh") == "澜海市"
        assert session.scalar(
            select(AuditEvent.detail).where(AuditEvent.action == "territory.load_demo")
        ) == str(summary)

        tripped = session.scalar(select(Outage).where(Outage.state == OutageState.ON_SITE))
        assert tripped.device.kind == DeviceKind.BREAKER and tripped.device.scada_state == "open"
        assert tripped.first_report_at.tzinfo is not None and tripped.first_report_at < clock.now()
        assert tripped.customers_affected > 0 and isinstance(tripped.important_affected, dict)
        district = session.get(District, 1)
        assert district.geometry["type"] in ("Polygon", "MultiPolygon")

    for username, role, password in DEMO_ACCOUNTS:
        actor = log_in(database, clock, username, password)
        assert (actor.username, actor.role) == (username, role)

    # PostgreSQL sequences do not move for explicit ids; the loader moves them past the loaded rows.
    with database.write() as session:
        highest = session.scalar(select(func.max(Outage.id)))
        outage = Outage(state=OutageState.PREDICTED, device_id=1, first_report_at=clock.now())
        session.add(outage)
        session.flush()
        assert outage.id == highest + 1


def test_a_second_load_is_refused_and_changes_nothing(sqlite_database: Database, clock: FakeClock) -> None:
    load_demo(sqlite_database, clock, customers=SIZE, seed=7)
    with sqlite_database.read() as session:
        before = (_count(session, Customer), _count(session, User))
    with pytest.raises(Conflict):
        load_demo(sqlite_database, clock, customers=SIZE, seed=8)
    with sqlite_database.read() as session:
        assert (_count(session, Customer), _count(session, User)) == before


def test_bench_main_refuses_an_unknown_benchmark(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        bench_main(["no-such-benchmark"])
    assert "unknown benchmark no-such-benchmark" in capsys.readouterr().err


def test_the_generate_benchmark_reports_against_its_baseline() -> None:
    rows = bench_generate(sizes=(SIZE,), baseline_size=SIZE)
    assert [row.unit for row in rows] == ["s", "s", "s", "s", "rows/s"]
    # The utility's own files, timed side by side: the CSV tree and the same network from a GIS.
    assert rows[2].name.startswith(f"import {SIZE:,} customers from CSV")
    assert rows[3].name.startswith(f"import {SIZE:,} customers from a GeoPackage")
    insert = rows[-1]
    assert insert.baseline and insert.baseline_description and insert.ratio
    out = io.StringIO()
    print_table([*rows, BenchRow("no baseline", 1.0, "s", budget="<= 2 s")], out)
    assert "[1] baseline:" in out.getvalue() and "<= 2 s" in out.getvalue()
