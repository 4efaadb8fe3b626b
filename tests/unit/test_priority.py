"""The one ranking on hand-made arrays: the doctrine, the clocks outside disaster mode, important
users strictly first inside it, and the reasons in both languages."""

from __future__ import annotations

import numpy as np

from emergency.dispatch.priority import (
    AT_RISK,
    BREACHED,
    GRADES,
    NO_CLOCK,
    NO_USER,
    ON_TRACK,
    RankingInput,
    rank,
)

G1, G2, SPECIAL, LIFE = GRADES.index("grade1"), GRADES.index("grade2"), 0, GRADES.index("life_support")


def ranking_input(rows: list[dict]) -> RankingInput:
    """Rows of facts, each with defaults for what it does not say."""
    base = {
        "hazard": False,
        "disaster": False,
        "clock": ON_TRACK,
        "grade": NO_USER,
        "users": 0,
        "backup": 0.0,
        "out": 10,
        "hours": 1.0,
        "first": 0,
    }
    full = [{**base, **row} for row in rows]
    return RankingInput(
        outage_ids=np.array([r["id"] for r in full], dtype=np.int64),
        hazard=np.array([r["hazard"] for r in full], dtype=bool),
        disaster=np.array([r["disaster"] for r in full], dtype=bool),
        clock_band=np.array([r["clock"] for r in full], dtype=np.int8),
        clock_en=["Crew on site" for _ in full],
        clock_zh=["到场" for _ in full],
        top_grade=np.array([r["grade"] for r in full], dtype=np.int8),
        important_users=np.array([r["users"] for r in full], dtype=np.int64),
        backup_left=np.array([r["backup"] for r in full], dtype=np.float64),
        customers_out=np.array([r["out"] for r in full], dtype=np.int64),
        repair_hours=np.array([r["hours"] for r in full], dtype=np.float64),
        first_report_us=np.array([r["first"] for r in full], dtype=np.int64),
    )


def order(rows: list[dict]) -> list[int]:
    return [p.outage_id for p in rank(ranking_input(rows))]


def test_the_doctrine_orders_outages_whose_clocks_are_on_track() -> None:
    rows = [
        {"id": 1, "out": 500},  # many customers, nobody critical
        {"id": 2, "grade": G2, "users": 1},
        {"id": 3, "grade": G1, "users": 1, "backup": 6.0},
        {"id": 4, "hazard": True, "out": 1},
        {"id": 5, "grade": SPECIAL, "users": 1, "backup": 2.0},  # runs out sooner than 3
        {"id": 6, "grade": LIFE, "users": 1, "out": 1},
        {"id": 7, "out": 40, "hours": 0.5},  # 80 per crew-hour beats 500 over 10 hours
        {"id": 8, "out": 500, "hours": 10.0},
    ]
    assert order(rows) == [4, 5, 3, 2, 6, 1, 7, 8]


def test_backup_power_running_out_sooner_puts_a_grade_1_user_before_a_special_one() -> None:
    rows = [
        {"id": 1, "grade": SPECIAL, "users": 1, "backup": 8.0},
        {"id": 2, "grade": G1, "users": 1, "backup": 0.5},
    ]
    assert order(rows) == [2, 1]


def test_outside_disaster_mode_the_clocks_come_first() -> None:
    rows = [
        {"id": 1, "hazard": True},
        {"id": 2, "grade": G1, "users": 1, "clock": AT_RISK},
        {"id": 3, "clock": BREACHED, "out": 1},
        {"id": 4, "clock": NO_CLOCK, "hazard": True},
    ]
    ranked = rank(ranking_input(rows))
    assert [p.outage_id for p in ranked] == [3, 2, 1, 4]
    assert ranked[0].reason() == '"Crew on site" clock breached; 1 out, 1.0 per crew-hour'
    assert ranked[0].reason("zh") == "到场已超时；停电 1 户，每工时 1.0 户"
    assert ranked[1].reason() == (
        '"Crew on site" clock at risk; grade-1 user (1 important), no backup power left; '
        "10 out, 10.0 per crew-hour"
    )
    assert ranked[2].reason() == "public-safety hazard; 10 out, 10.0 per crew-hour"


def test_disaster_mode_puts_important_users_strictly_first_in_its_area() -> None:
    rows = [
        {"id": 1, "hazard": True, "clock": BREACHED},  # outside disaster mode
        {"id": 2, "disaster": True, "hazard": True, "clock": BREACHED},
        {"id": 3, "disaster": True, "grade": G2, "users": 2, "backup": 3.0},
        {"id": 4, "disaster": True, "grade": G1, "users": 1, "backup": 4.0},
        {"id": 5, "out": 900},
    ]
    ranked = rank(ranking_input(rows))
    # Important users in disaster mode first, by grade; then the breached clock outside it; the
    # disaster-area hazard's breached clock does not lead, but the doctrine still puts the hazard
    # before the plain outage.
    assert [p.outage_id for p in ranked] == [4, 3, 1, 2, 5]
    assert [p.rank for p in ranked] == [1, 2, 3, 4, 5]
    assert ranked[0].reason() == (
        "disaster mode: important users first; grade-1 user (1 important), backup 4.0 h left; "
        "10 out, 10.0 per crew-hour"
    )
    assert ranked[0].reason("zh") == (
        "灾害模式：重要用户优先；一级重要用户（共 1 户），备用电源剩 4.0 小时；停电 10 户，每工时 10.0 户"
    )
    assert ranked[3].reason() == "disaster-mode area; public-safety hazard; 10 out, 10.0 per crew-hour"
    assert ranked[3].clock_en is None, "a clock that does not lead is not named"


def test_ties_fall_back_to_the_earlier_report_then_the_id() -> None:
    rows = [{"id": 3, "first": 50}, {"id": 1, "first": 50}, {"id": 2, "first": 10}]
    assert order(rows) == [2, 1, 3]


def test_nothing_to_rank() -> None:
    assert rank(ranking_input([])) == []
