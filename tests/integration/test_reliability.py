"""Reliability indices from records the live services write (SQLite and PostgreSQL).

On the small territory (tests/support/small_territory.py: 15 customers; West Town 8 on BRK-1,
East Village 7 on BRK-2), on 1 July 2026, local time:
  10:00 SCADA opens REC-1 (8 customers); 4 back at 10:30, the other 4 at 12:00;
  14:00 two calls on TX-4 (5 customers), restored at 15:00;
  16:30 SCADA opens BRK-2 (7 customers) and closes it at 16:32: momentary;
  17:00 two calls on TX-1, cancelled as a false alarm: not counted.
"""

from __future__ import annotations

import gc
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select, text, update
from sqlalchemy.orm import Session

from bench import bench_reliability
from emergency.app.context import Context
from emergency.app.queries import reporting as queries
from emergency.core.actor import Actor
from emergency.core.clock import FakeClock
from emergency.core.db import Database
from emergency.core.models import Customer, Outage, OutageState, RestorationStep
from emergency.core.settings import bump_territory_revision, set_setting
from emergency.demo.load import load_demo
from emergency.reporting.reliability import (
    CUSTOMERS_PER_TRANSFORMER_AND_DISTRICT,
    ReliabilityReport,
    build_report,
    load_reliability_data,
    oldest_day_needed,
    served_territory,
)
from tests.support.commands import submit_reports
from tests.support.dispatch_actions import cancel_outage, restore_outage
from tests.support.outage_records import add_outage
from tests.support.small_territory import SmallTerritory, build_small_territory

TZ = ZoneInfo("Asia/Shanghai")
DAY = date(2026, 7, 1)
DISPATCHER = Actor("dispatcher", "dispatcher")
SCADA = Actor("scada-link", "intake")
HOTLINE = Actor("hotline", "intake")
MANAGER = Actor("manager", "manager")


def reliability_report(
    database: Database,
    clock: FakeClock,
    first_day: date,
    last_day: date,
    tz: ZoneInfo,
    district_id: int | None = None,
) -> ReliabilityReport:
    """The report as the reliability page reads it."""
    return queries.reliability_report(Context(database, clock, MANAGER, tz), first_day, last_day, district_id)


def at(clock: FakeClock, hour: int, minute: int = 0) -> None:
    clock.set(datetime(2026, 7, 1, hour, minute, tzinfo=TZ))


def calls(territory: SmallTerritory, transformer: str) -> list[dict[str, str]]:
    accounts = territory.account_by_transformer[transformer][:2]
    return [{"channel": "hotline", "kind": "no_power", "account_no": account} for account in accounts]


def scada(kind: str, device: str) -> list[dict[str, str]]:
    return [{"channel": "scada", "kind": kind, "device_code": device}]


def one_day_of_outages(database: Database, clock: FakeClock, territory: SmallTerritory) -> None:
    at(clock, 10)
    recloser = submit_reports(database, clock, SCADA, scada("device_opened", "REC-1")).analysis.confirmed[0]
    at(clock, 10, 30)
    restore_outage(database, clock, DISPATCHER, recloser, customers=4, note="switched")
    at(clock, 12)
    restore_outage(database, clock, DISPATCHER, recloser)
    at(clock, 14)
    transformer = submit_reports(database, clock, HOTLINE, calls(territory, "TX-4")).analysis.predicted[0]
    at(clock, 15)
    restore_outage(database, clock, DISPATCHER, transformer)
    at(clock, 16, 30)
    submit_reports(database, clock, SCADA, scada("device_opened", "BRK-2"))
    at(clock, 16, 32)
    submit_reports(database, clock, SCADA, scada("device_closed", "BRK-2"))
    at(clock, 17)
    false_alarm = submit_reports(database, clock, HOTLINE, calls(territory, "TX-1")).analysis.predicted[0]
    cancel_outage(database, clock, DISPATCHER, false_alarm, "customer's own breaker")
    at(clock, 20)


def add_restored_outage(
    session: Session,
    territory: SmallTerritory,
    device: str,
    start: datetime,
    minutes: int,
    customers: int = 5,
) -> Outage:
    """A closed outage whose customers all came back in one step `minutes` after `start`."""
    end = start + timedelta(minutes=minutes)
    outage = add_outage(
        session,
        territory,
        device,
        OutageState.CLOSED,
        customers_affected=customers,
        customers_restored=customers,
        first_report_at=start,
        restored_at=end,
        closed_at=end,
    )
    session.add(RestorationStep(outage_id=outage.id, at=end, customers_restored=customers))
    return outage


def test_indices_from_live_records_match_the_hand_computation(database: Database, clock: FakeClock) -> None:
    territory = build_small_territory(database, clock)
    one_day_of_outages(database, clock, territory)

    report = reliability_report(database, clock, DAY, DAY, TZ)

    overall = report.overall.loc["all_days"]
    # Sustained: 4 x 30 + 4 x 120 (REC-1 in two steps) + 5 x 60 (TX-4) = 900 customer minutes for
    # 13 customer interruptions, over the 15 customers served; BRK-2's 2 minutes are momentary.
    assert overall["customers_served"] == 15
    assert overall["saifi"] == pytest.approx(13 / 15)
    assert overall["saidi"] == pytest.approx(900 / 15)
    assert overall["caidi"] == pytest.approx(900 / 13)
    assert overall["caifi"] == pytest.approx(1.0)
    assert overall["maifi"] == pytest.approx(7 / 15)
    # The period is still going at 20:00: 1,200 minutes of it so far.
    assert overall["asai"] == pytest.approx(1 - 900 / (15 * 1200))

    west, east = territory.district_ids["W"], territory.district_ids["E"]
    districts = report.by_district
    assert districts.loc[west, "customers_served"] == 8 and districts.loc[east, "customers_served"] == 7
    assert districts.loc[west, "saidi"] == pytest.approx(600 / 8)
    assert districts.loc[east, "saifi"] == pytest.approx(5 / 7)
    assert districts.loc[east, "maifi"] == pytest.approx(1.0)
    feeders = report.by_feeder
    assert feeders.loc[territory.device_ids["BRK-1"], "saifi"] == pytest.approx(1.0)
    assert feeders.loc[territory.device_ids["BRK-2"], "saidi"] == pytest.approx(300 / 7)


def test_the_momentary_threshold_comes_from_settings(database: Database, clock: FakeClock) -> None:
    territory = build_small_territory(database, clock)
    one_day_of_outages(database, clock, territory)
    with database.write() as session:
        set_setting(session, "reliability.momentary_max_minutes", 30, clock)

    overall = reliability_report(database, clock, DAY, DAY, TZ).overall.loc["all_days"]

    # The four customers switched back after 30 minutes are momentary now.
    assert overall["saifi"] == pytest.approx(9 / 15)
    assert overall["maifi"] == pytest.approx((7 + 4) / 15)


def test_a_district_filter_keeps_its_own_rows_and_feeders(database: Database, clock: FakeClock) -> None:
    territory = build_small_territory(database, clock)
    one_day_of_outages(database, clock, territory)
    east = territory.district_ids["E"]

    report = reliability_report(database, clock, DAY, DAY, TZ, district_id=east)

    assert report.overall.loc["all_days", "customers_served"] == 7
    assert report.overall.loc["all_days", "saidi"] == pytest.approx(300 / 7)
    assert list(report.by_feeder.index) == [territory.device_ids["BRK-2"]]
    assert list(report.by_district.index) == [east]


def test_running_saidi_includes_an_active_outage_up_to_now(database: Database, clock: FakeClock) -> None:
    build_small_territory(database, clock)
    at(clock, 9)
    submit_reports(database, clock, SCADA, scada("device_opened", "BRK-1"))
    at(clock, 11)

    running = reliability_report(database, clock, DAY, DAY, TZ).running

    assert running.day == DAY
    assert running.saidi == pytest.approx(8 * 120 / 15)
    assert running.customers_out == 8
    assert running.threshold is None and not running.is_major_event
    with database.read() as session:
        assert session.scalar(select(Outage.state)) == "confirmed", "still out: no step restored anyone"


def test_the_demo_history_gives_indices_a_threshold_and_todays_running_saidi(
    database: Database, clock: FakeClock
) -> None:
    load_demo(database, clock, customers=2_000, seed=7)
    today = clock.now().astimezone(TZ).date()
    first = today.replace(year=today.year - 1)

    report = reliability_report(database, clock, first, today, TZ)

    # 2,000 customers on two feeders are too few for a sharp threshold; the unit test of the
    # history finds major event days on the app's 50,000.
    assert report.threshold is not None and report.threshold.t_med > 0
    overall = report.overall
    assert overall.loc["without_major_events", "saidi"] <= overall.loc["all_days", "saidi"]
    assert overall.loc["all_days", "saifi"] > 0.5
    assert 0.99 < overall.loc["all_days", "asai"] < 1
    assert report.running.customers_out > 0, "the demo's active outages are out now"
    assert report.running.saidi > 0
    assert len(report.by_district) == 12 and len(report.by_feeder) > 1


def test_the_benchmark_agrees_with_its_baseline_and_reports_every_figure() -> None:
    rows = bench_reliability(customers=2_000)
    names = [row.name for row in rows]
    assert any(name.startswith("indices by feeder") for name in names)
    assert any(name.startswith("T_MED from daily SAIDI") for name in names)
    total = rows[-1]
    assert total.baseline and total.baseline_description and total.ratio


def test_customers_served_are_read_again_only_when_the_territory_changes(
    database: Database, clock: FakeClock
) -> None:
    territory = build_small_territory(database, clock)
    west, east = territory.district_ids["W"], territory.district_ids["E"]
    with database.read() as session:
        first = served_territory(session)
        assert served_territory(session) is first, "nothing changed: the cached figures"
    assert first.served.served_total == 15

    with database.write() as session:
        # Written past every territory service, so no revision bump: the highest id still moves.
        session.add(
            Customer(
                account_no="0999000001",
                name="New Customer",
                lon=121.15,
                lat=28.05,
                transformer_id=territory.device_ids["TX-4"],
                district_id=east,
            )
        )
    with database.read() as session:
        added = served_territory(session)
    assert added is not first and added.served.served_total == 16
    assert added.served.served_by_district[east] == 8

    with database.write() as session:
        # A re-import moving a customer between districts changes no id but bumps the revision.
        session.execute(update(Customer).where(Customer.account_no == "0999000001").values(district_id=west))
        bump_territory_revision(session, clock)
    with database.read() as session:
        moved = served_territory(session)
    assert moved.served.served_by_district[west] == 9 and moved.served.served_by_district[east] == 7


def test_a_report_reads_back_to_its_oldest_day_and_every_outage_still_out(
    database: Database, clock: FakeClock
) -> None:
    territory = build_small_territory(database, clock)
    oldest = oldest_day_needed(DAY, DAY)
    assert oldest == date(2021, 7, 1)

    def local(day: date, hour: int, minute: int = 0) -> datetime:
        return datetime(day.year, day.month, day.day, hour, minute, tzinfo=TZ)

    with database.write() as session:
        # 23:30 local the day before the oldest day (15:30 UTC): outside every figure, not read.
        too_old = add_restored_outage(
            session, territory, "TX-4", local(oldest - timedelta(days=1), 23, 30), 60
        )
        # 00:30 local on the oldest day (16:30 UTC the day before), and a later day: the history.
        history = [
            add_restored_outage(session, territory, "TX-4", local(oldest, 0, 30), 60),
            add_restored_outage(session, territory, "TX-4", local(oldest + timedelta(days=3), 12), 240),
        ]
        # Out since before the oldest day and still out: its 8 customers are out now.
        still_out = add_outage(
            session,
            territory,
            "BRK-1",
            OutageState.CONFIRMED,
            customers_affected=8,
            first_report_at=local(oldest - timedelta(days=10), 9),
        )

    with database.read() as session:
        read = load_reliability_data(session, clock.now(), TZ, since=oldest)
        everything = load_reliability_data(session, clock.now(), TZ)
    assert set(read.pieces["outage_id"]) == {*(o.id for o in history), still_out.id}
    assert too_old.id in set(everything.pieces["outage_id"])

    report = reliability_report(database, clock, DAY, DAY, TZ)
    assert report.running.customers_out == 8
    # The outage left unread lies outside every window: the figures are those of reading all.
    unfiltered = build_report(everything, DAY, DAY)
    assert report.threshold == unfiltered.threshold and report.threshold is not None
    assert report.threshold.first_day == oldest and report.threshold.days_used == 2
    assert report.overall.equals(unfiltered.overall)
    assert report.running == unfiltered.running


def test_reading_the_records_leaves_the_garbage_collector_as_it_was(
    database: Database, clock: FakeClock
) -> None:
    build_small_territory(database, clock)
    assert gc.isenabled()
    reliability_report(database, clock, DAY, DAY, TZ)
    assert gc.isenabled()
    gc.disable()
    try:
        reliability_report(database, clock, DAY, DAY, TZ)
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_sqlite_counts_customers_served_from_the_index_alone(sqlite_database: Database) -> None:
    statement = CUSTOMERS_PER_TRANSFORMER_AND_DISTRICT.compile(sqlite_database.engine)
    with sqlite_database.read() as session:
        plan = session.execute(text(f"EXPLAIN QUERY PLAN {statement}")).all()
    details = [str(row[-1]) for row in plan]
    assert details == ["SCAN customers USING COVERING INDEX ix_customers_transformer_district"], details
