"""Situation reports on a hand-made event in the small territory, on SQLite and PostgreSQL.

The event (local time, Asia/Shanghai), starting 1 July 2026 00:00:

    01:00  outage A on FU-1 (TX-1 3 + TX-2 4 = 7 customers, West)      -> 7 out
    02:00  outage B on FU-2 (the hospital, 1 customer, West)           -> 8
    03:00  A: step on TX-1 brings 3 back                               -> 5
    05:00  outage C on FU-3 (TX-4 5 + TX-5 2 = 7 customers, East)      -> 12 (the peak)
    07:30  C: step on TX-5 brings 2 back                               -> 10
    08:00  the morning update
    09:00  A restored (its last 4)                                     -> 6
    17:00  the evening update

Crews: C2 on A from 01:10 until 03:30, then dispatched to B at 06:00 (not moving yet); C1
dispatched to C at 05:10, en route 05:15, on site 05:40. A cancelled false alarm, a merged
outage and an outage restored before the event are never counted. A red typhoon warning with
disaster mode covers East.
"""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from openpyxl import load_workbook

from emergency.app.context import Context
from emergency.app.queries.reporting import situation_report, suggested_event_start
from emergency.core.actor import Actor
from emergency.core.clock import FakeClock
from emergency.core.errors import InvalidInput, PermissionDenied
from emergency.core.models import (
    AssignmentStatus,
    CrewAssignment,
    Customer,
    Hazard,
    Outage,
    OutageState,
    RestorationStep,
    Warning,
    WarningLevel,
    WarningStatus,
)
from emergency.reporting.sitrep import ReportKind, SituationReport, report_times
from emergency.reporting.sitrep_export import to_markdown, to_xlsx
from tests.support.small_territory import build_small_territory

SHANGHAI = ZoneInfo("Asia/Shanghai")
MANAGER = Actor("manager", "manager")
EVENT_START = datetime(2026, 7, 1, 0, 0, tzinfo=SHANGHAI)


def build_report(
    database, actor: Actor, kind: ReportKind | str, event_start: datetime, now: datetime
) -> SituationReport:
    """The report as the sitrep page reads it, generated at `now`."""
    return situation_report(Context(database, FakeClock(now), actor, SHANGHAI), kind, event_start)


def local(hour: int, minute: int = 0, day: int = 1) -> datetime:
    return datetime(2026, 7, day, hour, minute, tzinfo=SHANGHAI).astimezone(UTC)


@pytest.fixture
def event(database, clock):
    territory = build_small_territory(database, clock)
    devices, crews = territory.device_ids, territory.crew_ids
    west, east = territory.district_ids["W"], territory.district_ids["E"]
    with database.write() as session:

        def outage(device: str, district: int, first: datetime, customers: int, **times) -> Outage:
            row = Outage(
                state=times.pop("state", OutageState.ON_SITE),
                device_id=devices[device],
                district_id=district,
                first_report_at=first,
                customers_affected=customers,
                **times,
            )
            session.add(row)
            session.flush()
            return row

        a = outage("FU-1", west, local(1), 7, state=OutageState.RESTORED, restored_at=local(9))
        b = outage("FU-2", west, local(2), 1, state=OutageState.DISPATCHED)
        c = outage("FU-3", east, local(5), 7)
        outage("REC-2", east, local(4), 7, state=OutageState.CANCELLED, cancelled_at=local(4, 20))
        outage("TX-4", east, local(3), 5, state=OutageState.MERGED, merged_into_id=c.id)
        old = outage("TX-4", east, local(10, day=30).replace(month=6), 5, state=OutageState.CLOSED)
        old.restored_at = old.first_report_at + timedelta(hours=2)
        for row, at, customers, device in (
            (a, local(3), 3, "TX-1"),
            (c, local(7, 30), 2, "TX-5"),
            (a, local(9), 4, "TX-2"),
            (old, old.restored_at, 5, "TX-4"),
        ):
            session.add(
                RestorationStep(
                    outage_id=row.id, at=at, customers_restored=customers, device_id=devices[device]
                )
            )
        for crew, row, assigned, extra in (
            ("C2", a, local(1, 10), {"completed_at": local(3, 30), "status": AssignmentStatus.COMPLETE}),
            ("C2", b, local(6), {}),
            ("C1", c, local(5, 10), {"en_route_at": local(5, 15), "on_site_at": local(5, 40)}),
        ):
            session.add(
                CrewAssignment(
                    outage_id=row.id,
                    crew_id=crews[crew],
                    status=extra.pop("status", AssignmentStatus.DISPATCHED),
                    assigned_at=assigned,
                    **extra,
                )
            )
        for identifier, status, expires in (
            ("typhoon-red", WarningStatus.ACTIVE, local(12, day=2)),
            ("old-blue", WarningStatus.EXPIRED, local(6)),
        ):
            session.add(
                Warning(
                    cap_identifier=identifier,
                    cap_sender="test",
                    hazard=Hazard.TYPHOON,
                    level=WarningLevel.RED,
                    readiness_level=1,
                    disaster_mode=True,
                    title_en="Typhoon <Haikui> | red",
                    title_zh="台风红色预警",
                    area_kind="districts",
                    area={"type": "Polygon", "coordinates": []},
                    area_districts=["E"],
                    effective_at=local(20, day=30).replace(month=6),
                    expires_at=expires,
                    status=status,
                    created_by="manager",
                    created_at=local(19, day=30).replace(month=6),
                )
            )
        ids = {"A": a.id, "B": b.id, "C": c.id}
    return ids


def morning(database):
    return build_report(database, MANAGER, ReportKind.MORNING, EVENT_START, local(8, 20))


def test_the_morning_update_counts_the_event_as_it_stood_at_08_00(database, event):
    report = morning(database)
    assert (report.as_of, report.previous_at) == (local(8), EVENT_START)
    progress = report.progress
    assert report.customers_served == 15
    assert (progress.out_now, progress.peak, progress.peak_at) == (10, 12, local(5))
    assert (progress.affected, progress.restored, progress.restored_since_previous) == (15, 5, 5)
    assert progress.restored_share == pytest.approx(5 / 15)
    assert (report.outages_active, report.outages_in_event, report.outages_restored) == (3, 3, 0)
    assert report.longest_active == timedelta(hours=7)
    assert report.mean_active == timedelta(hours=16 / 3)  # 7 h, 6 h and 3 h
    assert report.mean_restoration is None
    crews = report.crews
    assert (crews.deployed, crews.workers, crews.dispatched, crews.en_route, crews.on_site) == (2, 6, 1, 0, 1)
    assert [(u.name, u.grade, u.outage_id, u.out_since) for u in report.important_users] == [
        ("West Hospital 西镇医院", "grade1", event["B"], local(2))
    ]
    assert report.important_by_grade["grade1"] == 1
    east, west = report.districts  # by code
    assert (west.code, west.customers_served, west.progress.out_now, west.progress.peak) == ("W", 8, 5, 8)
    assert (west.progress.peak_at, west.outages_active, west.crews_deployed, west.disaster_mode) == (
        local(2),
        2,
        1,
        False,
    )
    assert (
        east.code,
        east.progress.out_now,
        east.progress.peak,
        east.crews_deployed,
        east.disaster_mode,
    ) == (
        "E",
        5,
        7,
        1,
        True,
    )
    assert report.disaster_districts == ("E",)
    assert [w.title_zh for w in report.warnings] == ["台风红色预警"]


def test_the_evening_update_reports_what_was_restored_since_the_morning(database, event):
    report = build_report(database, MANAGER, "evening", EVENT_START, local(17, 5))
    assert (report.as_of, report.previous_at) == (local(17), local(8))
    assert (report.progress.out_now, report.progress.restored, report.progress.restored_since_previous) == (
        6,
        9,
        4,
    )
    assert (report.outages_active, report.outages_restored) == (2, 1)
    assert report.mean_restoration == timedelta(hours=8)
    # C2's first job ended at 03:30; its second, dispatched at 06:00, has not moved.
    assert (report.crews.deployed, report.crews.dispatched) == (2, 1)


def test_a_quick_report_is_as_of_now(database, event):
    quick = build_report(database, MANAGER, "quick", EVENT_START, local(1, 30))
    # B is the oldest outage not restored.
    assert suggested_event_start(Context(database, FakeClock(local(8)), MANAGER, SHANGHAI)) == local(2)
    assert (quick.as_of, quick.previous_at) == (local(1, 30), EVENT_START)
    assert (quick.progress.out_now, quick.outages_active, quick.important_users) == (7, 1, ())


def test_a_step_on_the_hospitals_branch_brings_it_back_while_the_rest_is_still_out(database, clock):
    territory = build_small_territory(database, clock)
    with database.write() as session:
        recloser = Outage(
            state=OutageState.ON_SITE,
            device_id=territory.device_ids["REC-1"],  # TX-1, TX-2 and the hospital on TX-3: 8 customers
            district_id=territory.district_ids["W"],
            first_report_at=local(1),
            customers_affected=8,
        )
        session.add(recloser)
        session.flush()
        session.add(
            RestorationStep(
                outage_id=recloser.id,
                at=local(2),
                customers_restored=1,
                device_id=territory.device_ids["FU-2"],
            )
        )
    before = build_report(database, MANAGER, "quick", EVENT_START, local(1, 30))
    after = build_report(database, MANAGER, "quick", EVENT_START, local(3))
    assert [u.name for u in before.important_users] == ["West Hospital 西镇医院"]
    assert (after.important_users, after.progress.out_now, after.outages_active) == ((), 7, 1)


def test_update_times_follow_the_local_clock_and_refuse_an_event_after_them():
    now = local(7, 0)  # before 08:00: the morning update is yesterday's
    long_ago = local(0) - timedelta(days=5)
    assert report_times("morning", now, long_ago, SHANGHAI) == (
        local(8) - timedelta(days=1),
        local(17) - timedelta(days=2),
    )
    assert report_times("evening", now, long_ago, SHANGHAI) == (
        local(17) - timedelta(days=1),
        local(8) - timedelta(days=1),
    )
    assert report_times("quick", now, long_ago, SHANGHAI) == (now, long_ago)
    with pytest.raises(InvalidInput, match="event starts after"):
        report_times("morning", now, local(0), SHANGHAI)


def test_only_managers_and_admins_read_the_report_it_names_users(database, event):
    with pytest.raises(PermissionDenied):
        build_report(database, Actor("dispatcher", "dispatcher"), "quick", EVENT_START, local(8))


def test_the_downloads_carry_the_figures_and_escape_names(database, event):
    with database.write() as session:
        hospital = session.query(Customer).filter(Customer.name.like("West Hospital%")).one()
        hospital.name = '=HYPERLINK("http://x") [click](javascript:x) <b>'
    report = morning(database)

    book = load_workbook(io.BytesIO(to_xlsx(report, "en", SHANGHAI)))
    assert book.sheetnames == [
        "Summary",
        "Important users affected",
        "By district",
        "Warnings in force",
        "Damage by device district",  # crews' damage assessments (#19.3)
        "Damage by cause",
        "Crews by company",
    ]
    summary = {row[0]: row[1] for row in book["Summary"].iter_rows(values_only=True) if row and row[0]}
    assert summary["Customers out now"] == 10
    assert summary["Customers out at the peak"] == 12
    assert summary["Customers restored since the previous report"] == 5
    assert summary["Crews deployed"] == 2
    assert summary["Share restored"] == pytest.approx(1 / 3)
    assert summary["Districts in disaster mode"] == "E"
    name_cell = book["Important users affected"]["A2"]
    assert (name_cell.value, name_cell.data_type) == ('=HYPERLINK("http://x") [click](javascript:x) <b>', "s")
    districts = list(book["By district"].iter_rows(values_only=True))
    assert districts[2][:5] == ("W", "West Town", 8, 5, 8)

    chinese = load_workbook(io.BytesIO(to_xlsx(report, "zh", SHANGHAI)))
    assert {row[0]: row[1] for row in chinese["总体情况"].iter_rows(values_only=True) if row}[
        "当前停电用户数"
    ] == 10

    markdown = to_markdown(report, "en", SHANGHAI)
    assert markdown.startswith("# Outage situation: 08:00 update\n")
    assert "| Customers out now | 10 |" in markdown
    assert "| Share restored | 33.3 % |" in markdown
    assert r"\[click\]\(javascript:x\) \<b\>" in markdown
    assert "[click](" not in markdown and "<b>" not in markdown
    assert r"Typhoon \<Haikui\> \| red" in markdown
    assert "| 当前停电用户数 | 10 |" in to_markdown(report, "zh", SHANGHAI)
