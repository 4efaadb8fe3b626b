"""The board's order is the one ranking, in and out of disaster mode, with its reasons, on the small
territory (`tests/support/small_territory.py`) on SQLite and PostgreSQL.

Three outages, each with a crew dispatched two minutes after the first report:
- FU-2 in West Town, 5 min old: above the grade-1 hospital on TX-3 (8 h of backup power). Its
  recorded counts are left empty: the ranking finds the hospital from the register.
- TX-4 in East Village, 5 min old: wires down.
- TX-1 in West Town, 40 min old: three homes, its 30-min on-site clock breached.
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from emergency.core.actor import Actor
from emergency.core.models import Outage, OutageState
from emergency.dispatch.board import outage_priorities, sla_board
from tests.support.app_context import SHANGHAI
from tests.support.disaster import issue_typhoon_warning
from tests.support.small_territory import build_small_territory

MANAGER = Actor("meng", "manager")
# (device, district, minutes since the first report, hazard, customers out)
OUTAGES = [("FU-2", "W", 5, False, 1), ("TX-4", "E", 5, True, 5), ("TX-1", "W", 40, False, 3)]


@pytest.fixture
def outages(database, clock) -> dict[str, int]:
    territory = build_small_territory(database, clock)
    ids = {}
    with database.write() as session:
        for device, district, minutes, hazard, customers in OUTAGES:
            first = clock.now() - timedelta(minutes=minutes)
            outage = Outage(
                state=OutageState.DISPATCHED,
                device_id=territory.device_ids[device],
                district_id=territory.district_ids[district],
                hazard=hazard,
                first_report_at=first,
                confirmed_at=first + timedelta(minutes=1),
                dispatched_at=first + timedelta(minutes=2),
                customers_affected=customers,
                important_affected={},
            )
            session.add(outage)
            session.flush()
            ids[device] = outage.id
    return ids


def declare_disaster(database, clock, codes: tuple[str, ...]) -> None:
    issue_typhoon_warning(database, clock, codes)


def board_order(database, clock) -> list[tuple[str, str]]:
    with database.read() as session:
        return [(row.device_code, row.priority.reason()) for row in sla_board(session, clock, SHANGHAI)]


def test_outside_disaster_mode_the_breached_clock_leads_then_the_hazard_then_the_hospital(
    database, clock, outages
) -> None:
    assert board_order(database, clock) == [
        ("TX-1", '"Crew on site" clock breached; 3 out, 2.0 per crew-hour'),
        ("TX-4", "public-safety hazard; 5 out, 2.6 per crew-hour"),
        ("FU-2", "grade-1 user (1 important), backup 7.9 h left; 1 out, 1.0 per crew-hour"),
    ]


def test_in_disaster_mode_the_hospital_comes_first_and_its_districts_clocks_stop_leading(
    database, clock, outages
) -> None:
    declare_disaster(database, clock, ("W",))
    clock.advance(hours=2)
    with database.read() as session:
        board = sla_board(session, clock, SHANGHAI)
        ranks = outage_priorities(session, clock, SHANGHAI)
    assert [row.device_code for row in board] == ["FU-2", "TX-4", "TX-1"]
    assert [ranks[row.outage_id].rank for row in board] == [1, 2, 3]
    hospital, hazard, homes = (row.priority for row in board)
    assert hospital.reason() == (
        "disaster mode: important users first; grade-1 user (1 important), backup 5.9 h left; "
        "1 out, 0.7 per crew-hour"
    )
    assert hospital.reason("zh").startswith(
        "灾害模式：重要用户优先；一级重要用户（共 1 户），备用电源剩 5.9 小时"
    )
    # East Village is not in disaster mode: its clock breached two hours ago and leads the rest.
    assert hazard.reason().startswith('"Crew on site" clock breached; public-safety hazard')
    assert homes.reason() == "disaster-mode area; 3 out, 1.3 per crew-hour"
