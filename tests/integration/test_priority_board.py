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
from sqlalchemy import select

from emergency.core.actor import Actor
from emergency.core.models import Customer, CustomerKind, ImportanceGrade, Outage, OutageState
from emergency.dispatch.board import outage_priorities, sla_board
from emergency.dispatch.disaster_queue import disaster_priority_queue
from emergency.network.model import build_network_model
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


# --- the doctrine in disaster mode, as seen on the demo typhoon (issue #16, point 3) ---------------


def register_user(database, territory, transformer: str, **fields) -> None:
    """Make the first customer on `transformer` an important user (before the board first reads
    the register, which it caches per territory revision)."""
    account = territory.account_by_transformer[transformer][0]
    with database.write() as session:
        customer = session.scalars(select(Customer).where(Customer.account_no == account)).one()
        for name, value in fields.items():
            setattr(customer, name, value)


@pytest.fixture
def storm_outages(database, clock) -> dict[str, int]:
    """Four outages 10 minutes old in disaster mode (both districts):
    - FU-2: the grade-1 hospital (8 h of backup), its crew already on site: no clock running;
    - TX-4: wires down, cutting off a life-support customer (3 h of backup);
    - TX-5: a grade-2 user (2 h of backup), nobody dispatched: its dispatch clock breached;
    - TX-1: three homes, nobody dispatched."""
    territory = build_small_territory(database, clock)
    register_user(database, territory, "TX-4", kind=CustomerKind.LIFE_SUPPORT, backup_hours=3.0)
    register_user(database, territory, "TX-5", importance=ImportanceGrade.GRADE2, backup_hours=2.0)
    first = clock.now() - timedelta(minutes=10, seconds=30)
    ids = {}
    with database.write() as session:
        for device, district, hazard, on_site in (
            ("FU-2", "W", False, True),
            ("TX-4", "E", True, False),
            ("TX-5", "E", False, False),
            ("TX-1", "W", False, False),
        ):
            outage = Outage(
                state=OutageState.ON_SITE if on_site else OutageState.CONFIRMED,
                device_id=territory.device_ids[device],
                district_id=territory.district_ids[district],
                hazard=hazard,
                first_report_at=first,
                confirmed_at=first + timedelta(minutes=1),
                dispatched_at=first + timedelta(minutes=2) if on_site else None,
                on_site_at=first + timedelta(minutes=9) if on_site else None,
                customers_affected=3,
                important_affected={},
            )
            session.add(outage)
            session.flush()
            ids[device] = outage.id
    declare_disaster(database, clock, ("W", "E"))
    return ids


def test_in_disaster_mode_a_hazard_leads_then_grade_1_even_with_its_crew_on_site(
    database, clock, storm_outages
) -> None:
    """On the demo typhoon the hazard ranked below a grade-2 user and the grade-1 user whose crew
    was on site stood below the grade-2 ones; board and queue now follow the documented doctrine."""
    with database.read() as session:
        board = sla_board(session, clock, SHANGHAI)
        queue = disaster_priority_queue(session, clock, build_network_model(session), SHANGHAI)
    expected = ["TX-4", "FU-2", "TX-5", "TX-1"]
    assert [row.device_code for row in board] == expected
    ids = [storm_outages[device] for device in expected]
    assert [(row.rank, row.outage_id) for row in queue] == list(enumerate(ids, start=1))
    assert [row.top_grade for row in queue] == ["life_support", "grade1", "grade2", None]
    assert queue[0].reason() == (
        "disaster mode: important users first; public-safety hazard; "
        "life-support customer (1 important), backup 2.8 h left; 3 out, 1.0 per crew-hour"
    )
    assert queue[0].reason("zh").startswith("灾害模式：重要用户优先；公共安全隐患；生命支持用户")
    # The grade-2 user's breached clock did not lift it: disaster mode orders by the doctrine.
    assert board[2].urgency == "breached" and board[2].priority.clock_en is None
