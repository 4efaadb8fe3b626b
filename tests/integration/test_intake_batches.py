"""Intake's batch paths: ids taken up front, rows written once, lookups through the network model.

The small hand-made network of tests/support/small_territory.py, on SQLite and PostgreSQL.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select, update

from emergency.core.actor import Actor
from emergency.core.models import (
    Crew,
    CrewAssignment,
    Customer,
    CustomerKind,
    Device,
    ImportanceGrade,
    Outage,
    OutageState,
    Report,
    ReportStatus,
    RestorationStep,
    SwitchState,
)
from emergency.core.settings import bump_territory_revision
from tests.support.commands import submit_reports
from tests.support.dispatch_actions import dispatch_crew
from tests.support.small_territory import build_small_territory

HOTLINE = Actor("hotline-gateway", "intake")
SCADA = Actor("scada-link", "intake")


@pytest.fixture
def territory(database, clock):
    return build_small_territory(database, clock)


def call(territory, transformer: str, n: int, clock, minutes_ago: float = 0) -> dict[str, Any]:
    return {
        "channel": "hotline",
        "kind": "no_power",
        "account_no": territory.account_by_transformer[transformer][n],
        "reported_at": (clock.now() - timedelta(minutes=minutes_ago)).isoformat(),
    }


def test_reports_of_an_earlier_batch_move_to_the_outage_a_later_batch_rolls_up_to(database, clock, territory):
    first = submit_reports(database, clock, HOTLINE, [call(territory, "TX-1", i, clock) for i in range(2)])
    clock.advance(minutes=3)
    second = submit_reports(database, clock, HOTLINE, [call(territory, "TX-2", i, clock) for i in range(2)])

    with database.read() as session:
        fuse = session.scalars(select(Outage).where(Outage.state == OutageState.PREDICTED)).one()
        tx1 = session.get(Outage, first.analysis.predicted[0])
        links = {r.id: (r.outage_id, r.status) for r in session.scalars(select(Report).order_by(Report.id))}
    assert (tx1.state, tx1.merged_into_id) == (OutageState.MERGED, fuse.id)
    assert fuse.report_count == 4
    every_report = [a.id for a in first.accepted + second.accepted]
    assert links == {report_id: (fuse.id, ReportStatus.GROUPED) for report_id in every_report}


def test_a_device_opened_and_closed_in_one_batch_is_an_outage_restored_in_one_step(
    database, clock, territory
):
    opened = {
        "channel": "scada",
        "kind": "device_opened",
        "device_code": "REC-2",
        "reported_at": (clock.now() - timedelta(minutes=1)).isoformat(),
    }
    closed = {"channel": "scada", "kind": "device_closed", "device_code": "REC-2"}

    result = submit_reports(database, clock, SCADA, [opened, closed])

    assert result.errors == []
    assert result.analysis.confirmed == result.analysis.restored
    with database.read() as session:
        outage = session.get(Outage, result.analysis.restored[0])
        steps = session.scalars(select(RestorationStep).where(RestorationStep.outage_id == outage.id)).all()
        statuses = sorted(str(s) for s in session.scalars(select(Report.status)))
    assert (outage.state, outage.customers_restored) == (OutageState.RESTORED, 7)
    assert [s.customers_restored for s in steps] == [7]
    assert statuses == [ReportStatus.GROUPED, ReportStatus.INFORMATIONAL]


def test_the_same_external_id_on_two_channels_is_two_reports_each_retried_once(database, clock, territory):
    by_phone = {**call(territory, "TX-4", 0, clock), "channel": "hotline", "external_id": "X-1"}
    by_app = {**call(territory, "TX-4", 1, clock), "channel": "app", "external_id": "X-1"}
    first = submit_reports(database, clock, HOTLINE, [by_phone, by_app])
    again = submit_reports(database, clock, HOTLINE, [by_app, by_phone])

    phone_id, app_id = (a.id for a in first.accepted)
    assert phone_id != app_id
    assert [(a.id, a.duplicate) for a in again.accepted] == [(app_id, True), (phone_id, True)]


def test_an_account_is_matched_whole_not_by_its_beginning(database, clock, territory):
    known = territory.account_by_transformer["TX-1"][0]
    longer = {**call(territory, "TX-1", 0, clock), "account_no": known + "7"}
    shorter = {**call(territory, "TX-1", 0, clock), "account_no": known[:-1]}

    result = submit_reports(database, clock, HOTLINE, [longer, shorter])

    assert [(e.index, e.field, e.reason) for e in result.errors] == [
        (0, "account_no", "unknown account number"),
        (1, "account_no", "unknown account number"),
    ]


def test_a_customer_added_with_a_new_territory_revision_can_report(database, clock, territory):
    account = "9100000001"
    report = {**call(territory, "TX-5", 0, clock), "account_no": account}
    assert submit_reports(database, clock, HOTLINE, [report]).errors != []

    with database.write() as session:
        session.add(
            Customer(
                account_no=account,
                name="New Customer",
                lon=121.15,
                lat=28.04,
                transformer_id=territory.device_ids["TX-5"],
                district_id=territory.district_ids["E"],
                kind=CustomerKind.RESIDENTIAL,
                importance=ImportanceGrade.NONE,
                priority_weight=1,
            )
        )
        bump_territory_revision(session, clock)

    result = submit_reports(database, clock, HOTLINE, [report])
    assert result.errors == []
    with database.read() as session:
        stored = session.get(Report, result.accepted[0].id)
        assert stored.transformer_id == territory.device_ids["TX-5"]


def test_calls_joining_an_outage_of_an_earlier_batch_update_its_row_and_keep_its_version(
    database, clock, territory
):
    first = submit_reports(database, clock, HOTLINE, [call(territory, "TX-4", i, clock) for i in range(2)])
    (outage_id,) = first.analysis.predicted
    with database.read() as session:
        before = session.get(Outage, outage_id)
    clock.advance(minutes=2)
    wire_down = {**call(territory, "TX-4", 2, clock), "kind": "hazard"}

    second = submit_reports(database, clock, HOTLINE, [wire_down])

    assert second.analysis.predicted == [] and second.analysis.merged == []
    with database.read() as session:
        after = session.get(Outage, outage_id)
        link = session.execute(
            select(Report.outage_id, Report.status).where(Report.id == second.accepted[0].id)
        ).one()
    assert (after.state, after.report_count, after.hazard) == (before.state, 3, True)
    assert (after.first_report_at, after.last_report_at) == (before.first_report_at, clock.now())
    # The version guards people's decisions; calls arriving do not make a dispatcher's view stale.
    assert after.version == before.version
    assert tuple(link) == (outage_id, ReportStatus.GROUPED)


def test_calls_joining_one_outage_in_one_batch_add_up_and_widen_its_time_span(database, clock, territory):
    first = submit_reports(
        database, clock, HOTLINE, [call(territory, "TX-4", i, clock, minutes_ago=10) for i in range(2)]
    )
    (outage_id,) = first.analysis.predicted
    clock.advance(minutes=1)
    # A call held up in a call centre's queue arrives reporting a time before the outage's first.
    late, now, hazard = (
        call(territory, "TX-4", 2, clock, minutes_ago=15),
        call(territory, "TX-4", 3, clock),
        {**call(territory, "TX-4", 4, clock, minutes_ago=5), "kind": "hazard"},
    )

    second = submit_reports(database, clock, HOTLINE, [now, late, hazard])

    with database.read() as session:
        outage = session.get(Outage, outage_id)
    assert second.analysis.grouped_reports == 3
    assert (outage.report_count, outage.hazard) == (5, True)
    assert (outage.first_report_at, outage.last_report_at) == (
        clock.now() - timedelta(minutes=15),
        clock.now(),
    )


def test_a_scada_trip_after_calls_in_the_same_batch_takes_over_the_outage_with_those_calls(
    database, clock, territory
):
    first = submit_reports(database, clock, HOTLINE, [call(territory, "TX-4", i, clock) for i in range(2)])
    (tx4,) = first.analysis.predicted
    clock.advance(minutes=2)
    trip = {"channel": "scada", "kind": "device_opened", "device_code": "FU-3", "external_id": "EMS-9"}
    calls = [call(territory, "TX-4", i, clock, minutes_ago=1) for i in (2, 3)]

    second = submit_reports(database, clock, SCADA, [*calls, trip])

    (fuse_id,) = second.analysis.confirmed
    with database.read() as session:
        merged, fuse = session.get(Outage, tx4), session.get(Outage, fuse_id)
    assert (merged.state, merged.merged_into_id, merged.report_count) == (OutageState.MERGED, fuse_id, 4)
    # The two earlier calls, the two of this batch that joined them first, and the trip itself.
    assert fuse.report_count == 5


def test_a_crew_and_earlier_calls_follow_outages_merged_twice_in_one_batch(database, clock, territory):
    """TX-1's outage goes into FU-1's, which goes into REC-1's, in one batch's roll-up."""
    first = submit_reports(database, clock, HOTLINE, [call(territory, "TX-1", i, clock) for i in range(2)])
    (tx1,) = first.analysis.predicted
    crew_id = territory.crew_ids["C1"]
    with database.read() as session:
        crew_version = session.get(Crew, crew_id).version
    assignment = dispatch_crew(
        database, clock, Actor("dispatcher", "dispatcher"), tx1, crew_id, crew_version=crew_version
    )
    with database.write() as session:  # telemetry unknown: nothing stops the roll-up at REC-1
        session.execute(update(Device).where(Device.code == "REC-1").values(scada_state=SwitchState.UNKNOWN))
    clock.advance(minutes=2)

    second = submit_reports(
        database,
        clock,
        HOTLINE,
        [call(territory, "TX-2", i, clock) for i in range(2)] + [call(territory, "TX-3", 0, clock)],
    )

    with database.read() as session:
        recloser = session.scalars(
            select(Outage).where(Outage.device_id == territory.device_ids["REC-1"])
        ).one()
        moved = session.get(CrewAssignment, assignment.id)
        earlier = session.scalars(
            select(Report.outage_id).where(Report.id.in_([a.id for a in first.accepted]))
        )
        assert set(earlier) == {recloser.id}
        # Moved twice, each move a new version of the assignment.
        assert (moved.outage_id, moved.version) == (recloser.id, assignment.version + 2)
        assert session.get(Outage, tx1).state == OutageState.MERGED
    assert tx1 in second.analysis.merged
