"""Disaster mode puts important users first: the storm plan's order and the manager's priority queue.

Two outages on the small territory: wires down on TX-4 (East Village, 5 customers) and the grade-1
hospital on TX-3 (West Town, 8 h of backup power). One crew at the depot in West Town.

Normally the hazard wins: 180 min of priority against the hospital's 120, worth more than the 13
extra minutes of driving east. In disaster mode the hospital's 120 is multiplied by 4 (setting
`dispatch.priority_disaster_factor`), so the hospital is served first.
"""

from __future__ import annotations

import pytest
from sqlalchemy import select

from emergency.core.actor import Actor
from emergency.core.models import ACTIVE_OUTAGE_STATES, Outage
from emergency.dispatch.disaster_queue import disaster_priority_queue
from emergency.dispatch.plan import storm_plan
from emergency.network.model import build_network_model
from tests.support.app_context import SHANGHAI
from tests.support.commands import submit_reports
from tests.support.disaster import issue_typhoon_warning
from tests.support.small_territory import build_small_territory

HOTLINE = Actor("hotline-gateway", "intake")
MANAGER = Actor("meng", "manager")


@pytest.fixture
def two_outages(database, clock):
    territory = build_small_territory(database, clock)
    reports = [
        {
            "channel": "hotline",
            "kind": "hazard",
            "account_no": territory.account_by_transformer["TX-4"][0],
            "reported_at": clock.now().isoformat(),
            "description": "wires down across the road",
        },
        {
            "channel": "hotline",
            "kind": "no_power",
            "account_no": territory.account_by_transformer["TX-3"][0],
            "reported_at": clock.now().isoformat(),
        },
    ]
    result = submit_reports(database, clock, HOTLINE, reports)
    assert not result.errors
    with database.read() as session:
        outages = session.scalars(select(Outage).where(Outage.state.in_(ACTIVE_OUTAGE_STATES))).all()
        by_district = {o.district_id: o.id for o in outages}
    hazard = by_district[territory.district_ids["E"]]
    hospital = by_district[territory.district_ids["W"]]
    return territory, hazard, hospital


def declare_disaster(database, clock, codes: tuple[str, ...], readiness: int = 1) -> None:
    issue_typhoon_warning(database, clock, codes, readiness=readiness)


def planned_first(database, clock) -> tuple[int, str]:
    with database.read() as session:
        plan = storm_plan(session, clock, SHANGHAI, max_crews=1)
    assert len(plan.rows) == 1
    return plan.rows[0].outage_id, plan.rows[0].reason


def test_the_hazard_comes_first_outside_disaster_mode(database, clock, two_outages):
    _territory, hazard, _hospital = two_outages
    outage_id, reason = planned_first(database, clock)
    assert outage_id == hazard
    assert "disaster mode" not in reason


def test_disaster_mode_puts_the_hospital_first(database, clock, two_outages):
    _territory, _hazard, hospital = two_outages
    declare_disaster(database, clock, ("W",))
    outage_id, reason = planned_first(database, clock)
    assert outage_id == hospital
    # The plan's reason gives the rank's own reason, then the repair time the plan counted on.
    assert reason.endswith(
        "rank 1: disaster mode: important users first; grade-1 user (1 important), backup 8.0 h left; "
        "1 out, 0.7 per crew-hour; repair 90 min (typical for its kind)"
    )


def test_a_warning_below_the_disaster_readiness_changes_nothing(database, clock, two_outages):
    _territory, hazard, _hospital = two_outages
    declare_disaster(database, clock, ("W",), readiness=3)
    assert planned_first(database, clock)[0] == hazard


def test_the_priority_queue_lists_important_users_first_with_backup_left(database, clock, two_outages):
    _territory, hazard, hospital = two_outages
    with database.read() as session:
        assert disaster_priority_queue(session, clock, build_network_model(session), SHANGHAI) == []
    declare_disaster(database, clock, ("W", "E"))
    clock.advance(hours=2)
    with database.read() as session:
        queue = disaster_priority_queue(session, clock, build_network_model(session), SHANGHAI)
    assert [(row.rank, row.outage_id) for row in queue] == [(1, hospital), (2, hazard)]
    first, second = queue
    assert (first.top_grade, first.backup_hours_left, first.district_code) == ("grade1", 6.0, "W")
    assert first.important_users == ("West Hospital 西镇医院",)
    assert first.reason() == (
        "disaster mode: important users first; grade-1 user (1 important), backup 6.0 h left; "
        "1 out, 0.7 per crew-hour"
    )
    assert first.reason("zh") == (
        "灾害模式：重要用户优先；一级重要用户（共 1 户），备用电源剩 6.0 小时；停电 1 户，每工时 0.7 户"
    )
    assert second.top_grade is None and second.important_users == ()
    # East Village is rural: a transformer repair there takes 90 x 1.3 x 1.5 (disaster) minutes.
    assert second.reason() == "disaster-mode area; public-safety hazard; 5 out, 1.7 per crew-hour"
