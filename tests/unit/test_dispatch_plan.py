"""The dispatch core on plain arrays: travel times, priority, the storm plan against greedy, system ETRs.

No database: positions are (lon, lat) rows on the equator, where 1 km east is 1/111.195 degrees, so
the hand-made cases can be read in kilometres.
"""

from __future__ import annotations

import itertools
import math
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from emergency.core.errors import InvalidInput
from emergency.core.models import EtrConfidence, Outage
from emergency.dispatch.etr import EtrRules, round_up, system_etr, typical_repair_minutes
from emergency.dispatch.routing import (
    DispatchRules,
    great_circle_km,
    plan_cost,
    road_km,
    solve_greedy,
    solve_optimal,
    travel_minutes,
)

KM_PER_DEGREE = 2 * math.pi * 6371.0088 / 360  # along the equator or a meridian


def east(km: float) -> list[float]:
    """A (lon, lat) point `km` east of (0, 0)."""
    return [km / KM_PER_DEGREE, 0.0]


def minutes_as_km(sites: list[list[float]], crews: list[list[float]]) -> np.ndarray:
    """Travel at 60 km/h on straight roads with no mobilisation: minutes equal kilometres."""
    return travel_minutes(np.array(sites), np.array(crews), 60.0, road_factor=1.0, mobilisation_minutes=0.0)


# --- distances and travel ----------------------------------------------------------------------


def test_one_degree_of_latitude_is_about_111_km():
    assert great_circle_km(121.0, 28.0, 121.0, 29.0) == pytest.approx(KM_PER_DEGREE, rel=1e-9)
    # Shanghai (People's Square) to Beijing (Tiananmen): about 1,067 km as the crow flies.
    assert great_circle_km(121.4737, 31.2304, 116.3975, 39.9087) == pytest.approx(1067, abs=5)


def test_travel_is_road_distance_at_the_area_speed_plus_mobilisation():
    sites = np.array([east(0), east(0)])
    crews = np.array([east(10)])
    minutes = travel_minutes(sites, crews, np.array([30.0, 45.0]), road_factor=1.3, mobilisation_minutes=5.0)
    assert minutes.shape == (2, 1)
    # 10 km straight, 13 km by road: 26 min at 30 km/h, 17.3 min at 45 km/h, plus 5 min to get going.
    assert minutes[0, 0] == pytest.approx(5 + 13 / 30 * 60)
    assert minutes[1, 0] == pytest.approx(5 + 13 / 45 * 60)
    assert road_km(sites, crews, 1.3)[0, 0] == pytest.approx(13.0)


def test_default_rules_come_from_the_settings_table_defaults():
    rules = DispatchRules.from_settings(None)
    assert rules.road_factor == 1.3
    assert dict(rules.speed_kmh) == {"urban": 30.0, "rural": 45.0, "remote": 35.0}
    assert rules.mobilisation_minutes == 5.0


# --- priority -----------------------------------------------------------------------------------


def test_priority_ranks_hazard_then_critical_users_then_size():
    weights = DispatchRules.from_settings(None).priority
    hazard = weights.score(True, {}, 10)
    hospital = weights.score(False, {"grade1": 1}, 1)
    grade2 = weights.score(False, {"grade2": 1}, 1)
    huge_residential = weights.score(False, {}, 5_000)
    small_residential = weights.score(False, {}, 20)
    assert hazard > hospital > huge_residential > small_residential
    assert hospital > grade2
    # The most important user decides the user bonus; a second grade does not add up.
    assert weights.score(False, {"grade1": 1, "grade2": 3}, 1) == hospital
    assert huge_residential == weights.customers_cap, "size is capped so it never overtakes a hospital"


# --- the storm plan against greedy ---------------------------------------------------------------


def test_the_optimal_plan_beats_nearest_crew_greedy_where_greedy_takes_the_crew_the_other_outage_needed():
    # On a road, west to east:   Y(-2)   A(0)   X(1)   B(3)
    # Greedy serves the more urgent A first with its nearest crew X, and B must fetch Y from 5 km.
    # The optimum sends Y to A and X to B: 2 + 2 km instead of 1 + 5 km.
    sites = [east(0), east(3)]  # A, B
    crews = [east(1), east(-2)]  # X, Y
    travel = minutes_as_km(sites, crews)
    priority = np.array([10.0, 0.0])

    greedy = solve_greedy(travel, priority)
    optimal = solve_optimal(travel, priority)

    assert greedy == [(0, 0), (1, 1)]
    assert optimal == [(0, 1), (1, 0)]
    assert sum(travel[r, c] for r, c in greedy) == pytest.approx(6.0)
    assert sum(travel[r, c] for r, c in optimal) == pytest.approx(4.0)
    assert plan_cost(travel, priority, optimal) < plan_cost(travel, priority, greedy)


def test_with_one_crew_the_plan_prefers_a_hospital_over_a_bigger_residential_outage():
    weights = DispatchRules.from_settings(None).priority
    sites = [east(0), east(20)]  # a 300-customer residential outage at the crew, a hospital 20 km away
    crews = [east(0.5)]
    travel = minutes_as_km(sites, crews)
    priority = np.array([weights.score(False, {}, 300), weights.score(False, {"grade1": 1}, 1)])

    assert solve_optimal(travel, priority) == [(1, 0)]
    assert solve_greedy(travel, priority) == [(1, 0)]
    # Without priority the plan would simply take the nearer outage.
    assert solve_optimal(travel, np.zeros(2)) == [(0, 0)]


def test_when_crews_are_plenty_every_outage_gets_one():
    travel = minutes_as_km([east(0), east(10), east(20)], [east(x) for x in (1, 9, 21, 30, 40)])
    pairs = solve_optimal(travel, np.array([5.0, 1.0, 0.0]))
    assert [r for r, _ in pairs] == [0, 1, 2]
    assert pairs == [(0, 0), (1, 1), (2, 2)]


def test_forbidden_pairs_are_never_planned():
    travel = minutes_as_km([east(0), east(5)], [east(0.1), east(5.1)])
    allowed = np.array([[False, True], [False, True]])  # crew 0 may take neither (say, a tree crew)
    priority = np.array([100.0, 0.0])
    pairs = solve_optimal(travel, priority, allowed)
    assert pairs == [(0, 1)], "only crew 1 can go; the more urgent outage gets it, though further away"
    assert solve_greedy(travel, priority, allowed) == [(0, 1)]
    assert solve_optimal(travel, np.zeros(2), np.zeros((2, 2), dtype=bool)) == []


def test_max_crews_keeps_crews_in_reserve():
    travel = minutes_as_km([east(0), east(10), east(20)], [east(1), east(11), east(21)])
    priority = np.array([0.0, 100.0, 50.0])
    assert solve_optimal(travel, priority, max_crews=2) == [(1, 1), (2, 2)]
    assert solve_greedy(travel, priority, max_crews=2) == [(1, 1), (2, 2)]
    assert solve_optimal(travel, priority, max_crews=0) == []
    with pytest.raises(InvalidInput):
        solve_optimal(travel, priority, max_crews=-1)


def _brute_force(travel: np.ndarray, priority: np.ndarray, allowed: np.ndarray, k: int) -> float:
    """The least cost of any plan of at most k allowed pairs that uses as many pairs as can be had."""
    n, m = travel.shape
    best: tuple[int, float] | None = None
    for size in range(k, -1, -1):
        for rows in itertools.combinations(range(n), size):
            for cols in itertools.permutations(range(m), size):
                if all(allowed[r, c] for r, c in zip(rows, cols, strict=True)):
                    cost = plan_cost(travel, priority, list(zip(rows, cols, strict=True)))
                    if best is None or (-size, cost) < (-best[0], best[1]):
                        best = (size, cost)
        if best is not None:
            return best[1]
    return 0.0


def test_the_optimal_plan_matches_brute_force_and_never_loses_to_greedy():
    rng = np.random.default_rng(7)
    for _ in range(60):
        n, m = int(rng.integers(1, 5)), int(rng.integers(1, 5))
        travel = rng.uniform(5, 90, (n, m))
        priority = rng.choice([0.0, 20.0, 120.0, 180.0], n)
        allowed = rng.random((n, m)) > 0.2
        k = int(rng.integers(0, min(n, m) + 1))
        optimal = solve_optimal(travel, priority, allowed, max_crews=k)
        greedy = solve_greedy(travel, priority, allowed, max_crews=k)
        assert len(optimal) <= k and all(allowed[r, c] for r, c in optimal)
        assert len({c for _, c in optimal}) == len(optimal), "a crew goes to one outage"
        assert plan_cost(travel, priority, optimal) == pytest.approx(
            _brute_force(travel, priority, allowed, k)
        )
        if len(greedy) == len(optimal):
            assert plan_cost(travel, priority, optimal) <= plan_cost(travel, priority, greedy) + 1e-9


def test_a_storm_sized_plan_uses_every_crew_once():
    rng = np.random.default_rng(1)
    sites = np.column_stack([rng.uniform(121.0, 121.4, 500), rng.uniform(28.0, 28.3, 500)])
    crews = np.column_stack([rng.uniform(121.0, 121.4, 200), rng.uniform(28.0, 28.3, 200)])
    travel = travel_minutes(sites, crews, 30.0, road_factor=1.3, mobilisation_minutes=5.0)
    priority = rng.choice([0.0, 40.0, 120.0, 180.0], 500)
    pairs = solve_optimal(travel, priority)
    assert len(pairs) == 200
    assert len({c for _, c in pairs}) == 200
    assert plan_cost(travel, priority, pairs) <= plan_cost(travel, priority, solve_greedy(travel, priority))


# --- the system ETR ---------------------------------------------------------------------------


NOW = datetime(2026, 7, 1, 2, 0, tzinfo=UTC)


def test_typical_repair_scales_with_area_and_disaster_mode():
    assert typical_repair_minutes("transformer", "urban") == 90
    assert typical_repair_minutes("fuse", "rural") == pytest.approx(60 * 1.3)
    assert typical_repair_minutes("breaker", "remote") == pytest.approx(150 * 1.6)
    assert typical_repair_minutes("recloser", "urban", disaster_mode=True) == pytest.approx(120 * 1.5)


def test_system_etr_is_travel_plus_repair_rounded_up_to_a_quarter_hour():
    confirmed = Outage(confirmed_at=NOW - timedelta(minutes=5))
    etr, confidence = system_etr(confirmed, "transformer", "urban", 12, NOW)
    assert etr == NOW + timedelta(minutes=105), "12 + 90 = 102 min, rounded up to 105"
    assert confidence == EtrConfidence.MEDIUM

    predicted = Outage(confirmed_at=None)
    etr, confidence = system_etr(predicted, "fuse", "remote", 20, NOW, disaster_mode=True)
    assert etr == NOW + timedelta(minutes=165), "20 + 60 x 1.6 x 1.5 = 164 min, rounded up to 165"
    assert confidence == EtrConfidence.LOW


def test_rounding_can_be_switched_off_in_the_rules():
    rules = EtrRules.from_settings(None)
    exact = EtrRules(rules.repair_minutes, rules.area_factor, rules.disaster_factor, 0, rules.max_days_ahead)
    etr, _ = system_etr(Outage(confirmed_at=NOW), "fuse", "urban", 7.5, NOW, rules=exact)
    assert etr == NOW + timedelta(minutes=67.5)
    assert round_up(NOW, 15) == NOW, "a time already on the quarter hour stays"
