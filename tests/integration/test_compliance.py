"""SLA compliance on a hand-made set of outages, on SQLite and PostgreSQL.

The small territory has crews C1 and C2 on duty and C3 off duty. Outages are written with their
lifecycle times directly (no services), each at its own hour of 30 June 2026 so that their crews
do not overlap unless a case wants them to:

    A 01:00 urban  dispatched at exactly 10 min, on site at exactly 30 min: both met
    B 03:00 urban  dispatched 10 min 1 s (crews idle): dispatch missed, dispatcher delay
    C 05:00 rural  dispatched 5 min, on site 45 min: on site missed, travel
    D 07:00 urban  predicted 1 min, confirmed 14 min, dispatched 15 min: late confirmation
    X 08:50 urban  C1 dispatched at 5 min, on site at 20, restored at 40 (keeps C1 busy)
    E 09:00 urban  C1 busy on X, C2 off duty 08:00-09:20: no crew free at 09:10; dispatched
                   09:20, on site 09:40: both clocks missed, no crew free
    K 11:00 urban  a recloser restored it after 4 min, nobody dispatched: clocks met at the end
    I, J, Z on 1 July, still active at NOW (02:00): I within its limits, J past its dispatch
             limit with C2 still on its job at Z
    cancelled, merged and before-the-period outages are left out.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pandas as pd
import pytest

from emergency.core.clock import FakeClock
from emergency.core.db import Database
from emergency.core.models import (
    AuditEvent,
    CrewAssignment,
    Outage,
    OutageState,
    SlaTarget,
)
from emergency.reporting import compliance
from tests.support.outage_records import add_outage, assign
from tests.support.small_territory import build_small_territory

DAY = datetime(2026, 6, 30, tzinfo=UTC)
NEXT_DAY = DAY + timedelta(days=1)
NOW = datetime(2026, 7, 1, 2, 0, tzinfo=UTC)
TZ = ZoneInfo("Asia/Shanghai")


def at(hh: int, mm: int = 0, ss: int = 0, day: datetime = DAY) -> datetime:
    return day + timedelta(hours=hh, minutes=mm, seconds=ss)


@pytest.fixture
def outages(database: Database, clock: FakeClock) -> dict[str, int]:
    territory = build_small_territory(database, clock)
    c1, c2 = territory.crew_ids["C1"], territory.crew_ids["C2"]
    made: dict[str, Outage] = {}
    with database.write() as session:
        restored = OutageState.RESTORED
        made["A"] = add_outage(
            session,
            territory,
            "TX-1",
            restored,
            first_report_at=at(1),
            dispatched_at=at(1, 10),
            on_site_at=at(1, 30),
            restored_at=at(2, 30),
        )
        assign(session, made["A"], c1, at(1, 10), completed_at=at(2, 30))
        made["B"] = add_outage(
            session,
            territory,
            "TX-1",
            restored,
            first_report_at=at(3),
            dispatched_at=at(3, 10, 1),
            on_site_at=at(3, 25),
            restored_at=at(4),
        )
        assign(session, made["B"], c1, at(3, 10, 1), completed_at=at(4))
        made["C"] = add_outage(
            session,
            territory,
            "TX-4",
            OutageState.CLOSED,
            first_report_at=at(5),
            dispatched_at=at(5, 5),
            on_site_at=at(5, 45),
            restored_at=at(6),
            closed_at=at(7),
        )
        assign(session, made["C"], c2, at(5, 5), completed_at=at(6))
        made["D"] = add_outage(
            session,
            territory,
            "TX-1",
            restored,
            first_report_at=at(7),
            predicted_at=at(7, 1),
            confirmed_at=at(7, 14),
            dispatched_at=at(7, 15),
            on_site_at=at(7, 28),
            restored_at=at(8),
        )
        assign(session, made["D"], c1, at(7, 15), completed_at=at(8))
        made["X"] = add_outage(
            session,
            territory,
            "TX-2",
            restored,
            first_report_at=at(8, 50),
            dispatched_at=at(8, 55),
            on_site_at=at(9, 10),
            restored_at=at(9, 30),
        )
        assign(session, made["X"], c1, at(8, 55), completed_at=at(9, 30))
        made["E"] = add_outage(
            session,
            territory,
            "TX-1",
            restored,
            first_report_at=at(9),
            dispatched_at=at(9, 20),
            on_site_at=at(9, 40),
            restored_at=at(10),
        )
        assign(session, made["E"], c2, at(9, 20), completed_at=at(10))
        for action, when in (("crew.off_duty", at(8)), ("crew.available", at(9, 20))):
            session.add(
                AuditEvent(
                    at=when,
                    actor="dispatcher",
                    actor_role="dispatcher",
                    action=action,
                    entity="crew",
                    entity_id=str(c2),
                )
            )
        made["K"] = add_outage(
            session,
            territory,
            "TX-1",
            restored,
            first_report_at=at(11),
            restored_at=at(11, 4),
        )
        add_outage(
            session,
            territory,
            "TX-1",
            OutageState.CANCELLED,
            first_report_at=at(12),
            cancelled_at=at(12, 40),
        )
        add_outage(
            session,
            territory,
            "TX-2",
            OutageState.MERGED,
            first_report_at=at(13),
            merged_into_id=made["K"].id,
        )
        add_outage(
            session,
            territory,
            "TX-1",
            restored,
            first_report_at=DAY - timedelta(minutes=1),
            restored_at=at(2),
        )
        # Still active when the report is read at NOW: one clock within its limit, one run out.
        made["I"] = add_outage(
            session,
            territory,
            "TX-2",
            OutageState.PREDICTED,
            first_report_at=NOW - timedelta(minutes=5),
        )
        made["J"] = add_outage(
            session,
            territory,
            "TX-5",
            OutageState.CONFIRMED,
            first_report_at=NOW - timedelta(minutes=15),
        )
        # C2 is on the job at Z, not finished: busy when J's dispatch clock runs out.
        made["Z"] = add_outage(
            session,
            territory,
            "TX-4",
            OutageState.ON_SITE,
            first_report_at=NOW - timedelta(minutes=30),
            dispatched_at=NOW - timedelta(minutes=25),
            on_site_at=NOW - timedelta(minutes=10),
        )
        assign(session, made["Z"], c2, NOW - timedelta(minutes=25))
    return {name: outage.id for name, outage in made.items()}


def timings(
    database: Database, start: datetime = DAY, end: datetime = NEXT_DAY, **filters: Any
) -> pd.DataFrame:
    with database.read() as session:
        return compliance.outage_timings(session, start, end, clock=FakeClock(NOW), tz=TZ, **filters)


def by_name(frame: pd.DataFrame, outages: dict[str, int]) -> dict[str, Any]:
    names = {v: k for k, v in outages.items()}
    return {names[row.outage_id]: row for row in frame.itertuples()}


def test_timings_have_one_row_per_outage_of_the_period_with_minutes_and_clocks(
    database: Database, outages: dict[str, int]
) -> None:
    rows = by_name(timings(database), outages)
    assert sorted(rows) == ["A", "B", "C", "D", "E", "K", "X"], "cancelled, merged, earlier ones left out"
    assert rows["A"].dispatch_minutes == 10 and rows["A"].on_site_minutes == 30
    assert (rows["A"].dispatch_met, rows["A"].on_site_met) == (True, True), "exactly at the limit is met"
    assert rows["B"].dispatch_minutes == pytest.approx(10 + 1 / 60)
    assert (rows["B"].dispatch_met, rows["B"].on_site_met) == (False, True)
    assert (rows["C"].dispatch_met, rows["C"].on_site_met) == (True, False)
    assert rows["C"].travel_minutes == 40 and rows["C"].area_type == "rural"
    assert rows["C"].district == "East Village" and rows["C"].district_zh == "东村"
    assert rows["A"].restore_minutes == 90
    assert math.isnan(rows["K"].dispatch_minutes), "never dispatched"
    assert (rows["K"].dispatch_met, rows["K"].on_site_met) == (True, True), "clocks stop when it ended"
    assert rows["E"].crew_id == rows["C"].crew_id != rows["A"].crew_id


def test_running_clocks_are_undecided_until_their_deadline_passes(
    database: Database, outages: dict[str, int]
) -> None:
    rows = by_name(timings(database, NEXT_DAY, NEXT_DAY + timedelta(days=1)), outages)
    assert sorted(rows) == ["I", "J", "Z"]
    assert pd.isna(rows["I"].dispatch_met) and pd.isna(rows["I"].on_site_met)
    assert rows["J"].dispatch_met is False or rows["J"].dispatch_met == False  # noqa: E712 (numpy bool)
    assert pd.isna(rows["J"].on_site_met)


def test_filters_by_district_area_type_and_first_crew(database: Database, outages: dict[str, int]) -> None:
    with database.read() as session:
        east = session.query(Outage.district_id).filter(Outage.id == outages["C"]).scalar()
        crew_of_c = (
            session.query(CrewAssignment.crew_id).filter(CrewAssignment.outage_id == outages["C"]).scalar()
        )
    assert sorted(by_name(timings(database, district_id=east), outages)) == ["C"]
    assert sorted(by_name(timings(database, area_type="rural"), outages)) == ["C"]
    assert sorted(by_name(timings(database, area_type="urban"), outages)) == ["A", "B", "D", "E", "K", "X"]
    assert sorted(by_name(timings(database, crew_id=crew_of_c), outages)) == ["C", "E"]


def test_each_breach_gets_its_cause(database: Database, outages: dict[str, int]) -> None:
    with database.read() as session:
        breaches = compliance.breach_list(session, timings(database), FakeClock(NOW), TZ)
    names = {v: k for k, v in outages.items()}
    found = {(names[r.outage_id], r.code): r.cause for r in breaches.itertuples()}
    assert found == {
        ("B", "outage_dispatch"): "dispatcher_delay",
        ("D", "outage_dispatch"): "late_confirmation",
        ("E", "outage_dispatch"): "no_crew_free",
        ("C", "outage_on_site"): "travel",
        ("E", "outage_on_site"): "no_crew_free",
    }
    overrun = {(names[r.outage_id], r.code): r.overrun_minutes for r in breaches.itertuples()}
    assert overrun[("B", "outage_dispatch")] == pytest.approx(1 / 60)
    assert overrun[("C", "outage_on_site")] == 15
    idle = {(names[r.outage_id], r.code): r.idle_crews_at_deadline for r in breaches.itertuples()}
    assert idle[("B", "outage_dispatch")] == 2, "C1 and C2 idle; C3 off duty"
    assert idle[("E", "outage_dispatch")] == 0


def test_a_running_clock_past_its_deadline_is_a_breach_overrunning_until_now(
    database: Database, outages: dict[str, int]
) -> None:
    with database.read() as session:
        frame = timings(database, NEXT_DAY, NEXT_DAY + timedelta(days=1))
        breaches = compliance.breach_list(session, frame, FakeClock(NOW), TZ)
    assert list(breaches["outage_id"]) == [outages["J"]]
    assert breaches["overrun_minutes"].iloc[0] == 5
    assert breaches["idle_crews_at_deadline"].iloc[0] == 1, "C2 still on its job at Z, C3 off duty"
    assert pd.isna(breaches["stopped_at"].iloc[0])


def test_summary_shares_and_distribution(database: Database, outages: dict[str, int]) -> None:
    with database.read() as session:
        summary = compliance.compliance_summary(session, timings(database), FakeClock(NOW), TZ).set_index(
            "code"
        )
    dispatch = summary.loc["outage_dispatch"]
    assert (dispatch.outages, dispatch.met, dispatch.missed, dispatch.running) == (7, 4, 3, 0)
    assert dispatch.share_met == pytest.approx(4 / 7)
    # Minutes of the six dispatched outages: 5, 5, 10, 10 min 1 s, 15, 20.
    assert dispatch.median_minutes == pytest.approx((10 + 10 + 1 / 60) / 2)
    assert dispatch.p90_minutes == pytest.approx(17.5)
    on_site = summary.loc["outage_on_site"]
    assert (on_site.met, on_site.missed) == (5, 2)
    urban = summary.loc["sgcc_arrival_urban"]
    assert not urban.enforced and urban.limit_minutes == 45
    assert urban.outages == 6 and urban.mean_minutes == pytest.approx((30 + 25 + 28 + 20 + 40) / 5)
    assert summary.loc["sgcc_arrival_rural"].outages == 1
    assert summary.loc["sgcc_arrival_remote"].outages == 0


def test_limits_come_from_the_targets_table(database: Database, outages: dict[str, int]) -> None:
    with database.write() as session:
        session.get(SlaTarget, "outage_dispatch").limit_minutes = 15
    rows = by_name(timings(database), outages)
    assert rows["B"].dispatch_met == True and rows["D"].dispatch_met == True  # noqa: E712
    assert rows["E"].dispatch_met == False  # noqa: E712
