"""Routing: distances, travel times, and the assignment solvers, on plain numpy arrays.

Travel time is the great-circle distance times a road factor, at an average speed for the outage's
area type, plus the minutes a crew needs to get going. The storm plan matches outages to crews with
`scipy.optimize.linear_sum_assignment` on arrival time minus a priority bonus; the core here works
on arrays so it can be tested and timed without a database. Every figure is a `dispatch.` setting.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.optimize import linear_sum_assignment
from sqlalchemy import select
from sqlalchemy.orm import Session

from emergency.core.errors import InvalidInput
from emergency.core.models import AreaType, Device, DeviceKind, District, Outage
from emergency.dispatch.etr import load_prefixed

EARTH_RADIUS_KM = 6371.0088
# Cost of a pair the plan must not use. Far above any real cost (minutes, thousands at most, summed
# over hundreds of outages) so the solver uses one only when nothing else completes its matching,
# and such pairs are dropped afterwards.
FORBIDDEN = 1e9


# --- rules ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PriorityWeights:
    """How many minutes of extra travel each kind of urgency is worth in the storm plan.

    The most important user on an outage decides its user bonus (restoration doctrine ranks by
    category, not head count); customers add a little each, capped so that size never overtakes
    a critical facility.
    """

    hazard: float
    special: float
    grade1: float
    grade2: float
    life_support: float
    temporary: float
    per_customer: float
    customers_cap: float
    # In a district in disaster mode important users come first: their bonus is multiplied so it
    # outweighs a hazard plus any customer count.
    disaster_factor: float = 1.0

    def score(
        self, hazard: bool, important: Mapping[str, int], customers_out: int, *, disaster: bool = False
    ) -> float:
        by_grade = {
            "special": self.special,
            "grade1": self.grade1,
            "grade2": self.grade2,
            "life_support": self.life_support,
            "temporary": self.temporary,
        }
        users = max((by_grade[key] for key, n in important.items() if n and key in by_grade), default=0.0)
        customers = min(max(customers_out, 0) * self.per_customer, self.customers_cap)
        if disaster:
            users *= self.disaster_factor
        return (self.hazard if hazard else 0.0) + users + customers


@dataclass(frozen=True)
class DispatchRules:
    """Travel and priority figures, read from the `dispatch.` settings."""

    road_factor: float
    speed_kmh: Mapping[str, float]  # by area type
    mobilisation_minutes: float
    busy_offer_minutes: float
    priority: PriorityWeights

    @classmethod
    def from_settings(cls, session: Session | None) -> DispatchRules:
        """The rules a utility has set; with no session, the shipped defaults."""
        v = load_prefixed(session, "dispatch.")
        return cls(
            road_factor=float(v["dispatch.road_factor"]),
            speed_kmh={area.value: float(v[f"dispatch.speed_{area.value}_kmh"]) for area in AreaType},
            mobilisation_minutes=float(v["dispatch.mobilisation_minutes"]),
            busy_offer_minutes=float(v["dispatch.busy_offer_minutes"]),
            priority=PriorityWeights(
                hazard=float(v["dispatch.priority_hazard_minutes"]),
                special=float(v["dispatch.priority_special_minutes"]),
                grade1=float(v["dispatch.priority_grade1_minutes"]),
                grade2=float(v["dispatch.priority_grade2_minutes"]),
                life_support=float(v["dispatch.priority_life_support_minutes"]),
                temporary=float(v["dispatch.priority_temporary_minutes"]),
                per_customer=float(v["dispatch.priority_minutes_per_customer"]),
                customers_cap=float(v["dispatch.priority_customers_cap_minutes"]),
                disaster_factor=float(v["dispatch.priority_disaster_factor"]),
            ),
        )


# --- the pure core: arrays in, arrays out ------------------------------------------------------


def great_circle_km(lon1: Any, lat1: Any, lon2: Any, lat2: Any) -> np.ndarray:
    """Haversine distance in km between points given in degrees; broadcasts like numpy."""
    lon1, lat1, lon2, lat2 = (np.radians(np.asarray(a, dtype=np.float64)) for a in (lon1, lat1, lon2, lat2))
    a = np.sin((lat2 - lat1) / 2) ** 2 + np.cos(lat1) * np.cos(lat2) * np.sin((lon2 - lon1) / 2) ** 2
    return 2 * EARTH_RADIUS_KM * np.arcsin(np.sqrt(np.clip(a, 0.0, 1.0)))


def road_km(sites: np.ndarray, crews: np.ndarray, road_factor: float) -> np.ndarray:
    """Road distance (n sites x m crews) from (lon, lat) rows of sites and crews."""
    sites = np.asarray(sites, dtype=np.float64).reshape(-1, 2)
    crews = np.asarray(crews, dtype=np.float64).reshape(-1, 2)
    straight = great_circle_km(sites[:, None, 0], sites[:, None, 1], crews[None, :, 0], crews[None, :, 1])
    return straight * road_factor


def travel_minutes(
    sites: np.ndarray,
    crews: np.ndarray,
    speed_kmh: np.ndarray | float,
    *,
    road_factor: float,
    mobilisation_minutes: float,
) -> np.ndarray:
    """Minutes (n sites x m crews) from dispatch to on site: mobilisation plus driving.

    `speed_kmh` is one speed, or one per site (the speed of the area the crew drives into).
    """
    distance = road_km(sites, crews, road_factor)
    speed = np.broadcast_to(np.asarray(speed_kmh, dtype=np.float64).reshape(-1), (distance.shape[0],))
    return mobilisation_minutes + distance / speed[:, None] * 60.0


def _costs(travel: np.ndarray, priority: np.ndarray, allowed: np.ndarray | None) -> np.ndarray:
    cost = np.asarray(travel, dtype=np.float64) - np.asarray(priority, dtype=np.float64).reshape(-1, 1)
    if allowed is not None:
        cost = np.where(np.asarray(allowed, dtype=bool), cost, FORBIDDEN)
    return cost


def _pairs_limit(n: int, m: int, max_crews: int | None) -> int:
    if max_crews is not None and max_crews < 0:
        raise InvalidInput("must be zero or more", field="max_crews")
    return min(n, m) if max_crews is None else min(n, m, max_crews)


def solve_optimal(
    travel: np.ndarray,
    priority: np.ndarray,
    allowed: np.ndarray | None = None,
    max_crews: int | None = None,
) -> list[tuple[int, int]]:
    """(site, crew) index pairs minimising the sum of (arrival minutes - priority) over the pairs.

    As many pairs as there are sites or crews (at most `max_crews`): when crews are short, the
    priority bonus decides which outages get one; when they are not, arrival times decide who goes
    where. Pairs not `allowed` are never returned.
    """
    travel = np.asarray(travel, dtype=np.float64)
    n, m = travel.shape
    k = _pairs_limit(n, m, max_crews)
    if k == 0:
        return []
    cost = _costs(travel, priority, allowed)
    if k == min(n, m):
        rows, cols = linear_sum_assignment(cost)
    else:
        # Exactly k pairs: pad to a square with n-k "no crew" columns and m-k "stays free" rows,
        # each free of cost, and forbid a padding row to take a padding column. Every padding
        # column then takes a real outage and every padding row a real crew, leaving k real pairs.
        size = n + m - k
        padded = np.zeros((size, size), dtype=np.float64)
        padded[:n, :m] = cost
        padded[n:, m:] = np.inf
        rows, cols = linear_sum_assignment(padded)
        real = (rows < n) & (cols < m)
        rows, cols = rows[real], cols[real]
    return sorted(
        (int(r), int(c))
        for r, c in zip(rows, cols, strict=True)
        if allowed is None or bool(np.asarray(allowed)[r, c])
    )


def solve_greedy(
    travel: np.ndarray,
    priority: np.ndarray,
    allowed: np.ndarray | None = None,
    max_crews: int | None = None,
) -> list[tuple[int, int]]:
    """The baseline: outages in priority order each take the nearest crew still free."""
    travel = np.asarray(travel, dtype=np.float64)
    n, m = travel.shape
    k = _pairs_limit(n, m, max_crews)
    ok = np.ones((n, m), dtype=bool) if allowed is None else np.asarray(allowed, dtype=bool)
    free = np.ones(m, dtype=bool)
    pairs: list[tuple[int, int]] = []
    # Stable sort: equal priorities keep their given order, so the result is deterministic.
    for site in np.argsort(-np.asarray(priority, dtype=np.float64), kind="stable"):
        if len(pairs) == k:
            break
        choices = np.flatnonzero(free & ok[site])
        if len(choices) == 0:
            continue
        crew = int(choices[np.argmin(travel[site, choices])])
        free[crew] = False
        pairs.append((int(site), crew))
    return sorted(pairs)


def plan_cost(travel: np.ndarray, priority: np.ndarray, pairs: Sequence[tuple[int, int]]) -> float:
    """The objective both planners are judged by: sum of (arrival minutes - priority) over the pairs."""
    travel = np.asarray(travel, dtype=np.float64)
    priority = np.asarray(priority, dtype=np.float64)
    return float(sum(travel[r, c] - priority[r] for r, c in pairs))


# --- where outages are --------------------------------------------------------------------------


@dataclass(frozen=True)
class Site:
    outage: Outage
    lon: float
    lat: float
    device_kind: DeviceKind
    area_type: AreaType
    district_id: int | None


def sites(session: Session, outages: Sequence[Outage]) -> list[Site]:
    """Position, device kind and area type of each outage, in few queries."""
    device_ids = sorted({o.device_id for o in outages})
    devices: dict[int, tuple[float, float, DeviceKind, int | None]] = {}
    for start in range(0, len(device_ids), 900):
        for device_id, lon, lat, kind, district_id in session.execute(
            select(Device.id, Device.lon, Device.lat, Device.kind, Device.district_id).where(
                Device.id.in_(device_ids[start : start + 900])
            )
        ):
            devices[device_id] = (lon, lat, DeviceKind(kind), district_id)
    areas = {d: AreaType(a) for d, a in session.execute(select(District.id, District.area_type))}
    sites = []
    for outage in outages:
        lon, lat, kind, device_district = devices[outage.device_id]
        district = outage.district_id if outage.district_id is not None else device_district
        # Unknown district: urban is the slowest speed, so the estimate errs on the late side.
        sites.append(Site(outage, lon, lat, kind, areas.get(district, AreaType.URBAN), district))
    return sites


def travel_one(rules: DispatchRules, site: Site, lon: float, lat: float) -> tuple[float, float]:
    """(road km, minutes with mobilisation) from one point to one site."""
    sites = np.array([[site.lon, site.lat]])
    crew = np.array([[lon, lat]])
    distance = float(road_km(sites, crew, rules.road_factor)[0, 0])
    minutes = float(
        travel_minutes(
            sites,
            crew,
            rules.speed_kmh[site.area_type.value],
            road_factor=rules.road_factor,
            mobilisation_minutes=rules.mobilisation_minutes,
        )[0, 0]
    )
    return distance, minutes
