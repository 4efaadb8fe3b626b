"""Crews and dispatch: the crew lifecycle, crew recommendations, and the storm plan.

A crew goes available -> dispatched -> en route -> on site -> (outage restored) -> available, or
off duty. Dispatching is a conditional update on the crew version the dispatcher saw, so when two
dispatchers pick the same crew at once exactly one wins and the other is told who took it and where.

Travel time is the great-circle distance times a road factor, at an average speed for the outage's
area type, plus the minutes a crew needs to get going. The storm plan matches all unassigned outages
to available crews at once with `scipy.optimize.linear_sum_assignment` on arrival time minus a
priority bonus; its core works on plain numpy arrays so it can be tested and timed without a database.
Every figure it uses is a `dispatch.` setting.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import numpy as np
from scipy.optimize import linear_sum_assignment
from sqlalchemy import select, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from emergency.core import audit
from emergency.core.actor import Actor
from emergency.core.clock import Clock
from emergency.core.db import Database, lock_against_analysis
from emergency.core.errors import Conflict, EmergencyError, InvalidInput, NotFound
from emergency.core.models import (
    ACTIVE_OUTAGE_STATES,
    AreaType,
    AssignmentStatus,
    Crew,
    CrewAssignment,
    CrewKind,
    CrewStatus,
    Device,
    DeviceKind,
    District,
    EtrSource,
    Outage,
    OutageState,
    Role,
    SlaTarget,
    TokenScope,
)
from emergency.core.settings import DEFAULT_SLA_TARGETS
from emergency.dispatch.board import outage_priorities
from emergency.dispatch.etr import (
    EtrRules,
    apply_etr,
    disaster_mode_active,
    load_prefixed,
    system_etr,
)
from emergency.dispatch.outages import LIFECYCLE, outage_snapshot

OPERATOR_ROLES = (Role.DISPATCHER, Role.MANAGER)
POSITION_ROLES = (*OPERATOR_ROLES, TokenScope.CREW_POSITION.value)
OPEN_ASSIGNMENT = (AssignmentStatus.DISPATCHED, AssignmentStatus.EN_ROUTE, AssignmentStatus.ON_SITE)
BUSY_CREW = (CrewStatus.DISPATCHED, CrewStatus.EN_ROUTE, CrewStatus.ON_SITE)
# Crews that can restore any device on their own.
REPAIR_KINDS = frozenset({CrewKind.LINE, CrewKind.CABLE, CrewKind.MUTUAL_AID})
ON_SITE_TARGET = "outage_on_site"
MAX_REASON_CHARS = 500
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


# --- results ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class CrewOption:
    """A crew recommended for an outage. `travel_minutes` runs from when it can leave (now, or
    `free_at` for a crew finishing a job) to on site, mobilisation included."""

    crew_id: int
    code: str
    name: str
    kind: str
    status: str
    version: int
    distance_km: float
    travel_minutes: float
    eta: datetime
    meets_on_site_clock: bool
    free_at: datetime | None
    reason: str


@dataclass(frozen=True)
class PlanRow:
    """One proposed dispatch. `apply_plan` dispatches against `crew_version`, so a crew changed since
    the plan was made is refused. `outage_version` is the outage as planned, for the screen: new
    reports bump it, so applying does not insist on it, only that the outage still has no crew."""

    outage_id: int
    outage_version: int
    crew_id: int
    crew_code: str
    crew_version: int
    eta: datetime
    distance_km: float
    travel_minutes: float
    priority: float
    reason: str


@dataclass(frozen=True)
class UnassignedOutage:
    outage_id: int
    priority: float
    reason: str


@dataclass(frozen=True)
class StormPlan:
    """A proposal for the dispatcher to approve or edit; nothing is dispatched until `apply_plan`."""

    method: str  # "optimal" or "greedy"
    generated_at: datetime
    rows: tuple[PlanRow, ...]
    unassigned: tuple[UnassignedOutage, ...]
    crews_available: int
    total_travel_minutes: float
    cost: float  # sum of (arrival minutes - priority): lower is better


# --- where outages are --------------------------------------------------------------------------


@dataclass(frozen=True)
class _Site:
    outage: Outage
    lon: float
    lat: float
    device_kind: DeviceKind
    area_type: AreaType
    district_id: int | None


def _sites(session: Session, outages: Sequence[Outage]) -> list[_Site]:
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
        sites.append(_Site(outage, lon, lat, kind, areas.get(district, AreaType.URBAN), district))
    return sites


def on_site_limit_minutes(session: Session) -> float:
    """The on-site clock's limit from the `sla_targets` table (30 minutes in the service standard)."""
    target = session.get(SlaTarget, ON_SITE_TARGET)
    if target is not None and target.limit_minutes is not None:
        return float(target.limit_minutes)
    default = next(t for t in DEFAULT_SLA_TARGETS if t.code == ON_SITE_TARGET)
    return float(default.limit_minutes or 0)


def open_assignment(session: Session, crew_id: int) -> CrewAssignment | None:
    """The crew's current job, if it has one."""
    return session.scalar(
        select(CrewAssignment)
        .where(CrewAssignment.crew_id == crew_id, CrewAssignment.status.in_(OPEN_ASSIGNMENT))
        .order_by(CrewAssignment.assigned_at.desc(), CrewAssignment.id.desc())
        .limit(1)
    )


def _travel_one(rules: DispatchRules, site: _Site, lon: float, lat: float) -> tuple[float, float]:
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


# --- recommendation --------------------------------------------------------------------------------


def recommend_crews(session: Session, clock: Clock, outage_id: int, limit: int = 5) -> list[CrewOption]:
    """The best crews for an outage, soonest on site first; helpers (tree crews) after repair crews.

    Available crews leave now. A crew on site at another job whose ETR is close (setting
    `dispatch.busy_offer_minutes`) is offered too, leaving at that ETR. Crews that are off duty or
    already on their way somewhere are not offered. Assessment crews are offered only for an outage
    not yet confirmed: finding the fault is what they do.
    """
    if limit < 1:
        raise InvalidInput("must be at least 1", field="limit")
    outage = _get_outage(session, outage_id)
    _require_active(outage)
    now = clock.now()
    rules = DispatchRules.from_settings(session)
    site = _sites(session, [outage])[0]
    limit_minutes = on_site_limit_minutes(session)
    deadline = outage.first_report_at + timedelta(minutes=limit_minutes)
    unconfirmed = outage.confirmed_at is None

    crews = list(
        session.scalars(
            select(Crew).where(Crew.status.in_([CrewStatus.AVAILABLE, CrewStatus.ON_SITE])).order_by(Crew.id)
        )
    )
    jobs = _jobs_on_site(session, [c.id for c in crews if c.status == CrewStatus.ON_SITE])
    candidates: list[tuple[Crew, datetime | None]] = []
    for crew in crews:
        if CrewKind(crew.kind) == CrewKind.ASSESSMENT and not unconfirmed:
            continue
        free_at: datetime | None = None
        if crew.status == CrewStatus.ON_SITE:
            job = jobs.get(crew.id)
            job_etr = job[1] if job is not None else None
            # An expired ETR says nothing about when the crew will be free, so it is not offered.
            if job_etr is None or not now < job_etr <= now + timedelta(minutes=rules.busy_offer_minutes):
                continue
            free_at = job_etr
        candidates.append((crew, free_at))

    site_xy = np.array([[site.lon, site.lat]])
    crew_xy = np.array([[c.lon, c.lat] for c, _ in candidates], dtype=np.float64).reshape(-1, 2)
    distances = road_km(site_xy, crew_xy, rules.road_factor)[0]
    travel = travel_minutes(
        site_xy,
        crew_xy,
        rules.speed_kmh[site.area_type.value],
        road_factor=rules.road_factor,
        mobilisation_minutes=rules.mobilisation_minutes,
    )[0]
    ranked: list[tuple[int, CrewOption]] = []
    for (crew, free_at), distance, minutes in zip(
        candidates, distances.tolist(), travel.tolist(), strict=True
    ):
        kind = CrewKind(crew.kind)
        eta = (free_at or now) + timedelta(minutes=minutes)
        meets = eta <= deadline
        reason = _option_reason(
            kind, crew, distance, minutes, eta, deadline, limit_minutes, meets, now, free_at, jobs
        )
        option = CrewOption(
            crew_id=crew.id,
            code=crew.code,
            name=crew.name,
            kind=kind.value,
            status=str(crew.status),
            version=crew.version,
            distance_km=round(distance, 2),
            travel_minutes=round(minutes, 1),
            eta=eta,
            meets_on_site_clock=meets,
            free_at=free_at,
            reason=reason,
        )
        ranked.append((1 if kind == CrewKind.TREE else 0, option))
    ranked.sort(key=lambda t: (t[0], t[1].eta, t[1].distance_km, t[1].code))
    return [option for _, option in ranked[:limit]]


def _jobs_on_site(session: Session, crew_ids: list[int]) -> dict[int, tuple[int, datetime | None]]:
    """For crews on site: the outage they are working on and its current ETR."""
    if not crew_ids:
        return {}
    jobs: dict[int, tuple[int, datetime | None]] = {}
    for start in range(0, len(crew_ids), 900):
        for crew_id, outage_id, etr_at in session.execute(
            select(CrewAssignment.crew_id, Outage.id, Outage.etr_at)
            .join(Outage, Outage.id == CrewAssignment.outage_id)
            .where(
                CrewAssignment.crew_id.in_(crew_ids[start : start + 900]),
                CrewAssignment.status == AssignmentStatus.ON_SITE,
            )
        ):
            jobs[crew_id] = (outage_id, etr_at)
    return jobs


def _option_reason(
    kind: CrewKind,
    crew: Crew,
    distance: float,
    minutes: float,
    eta: datetime,
    deadline: datetime,
    limit_minutes: float,
    meets: bool,
    now: datetime,
    free_at: datetime | None,
    jobs: Mapping[int, tuple[int, datetime | None]],
) -> str:
    parts = [f"{kind.value.replace('_', ' ')} crew"]
    if free_at is not None:
        parts.append(
            f"on site at outage {jobs[crew.id][0]}, free at its ETR in {_minutes(free_at - now)} min, "
            f"then {minutes:.0f} min away ({distance:.1f} km)"
        )
    else:
        parts.append(f"available, {minutes:.0f} min away ({distance:.1f} km by road)")
    clock_name = f"the {limit_minutes:g}-min on-site clock"
    if meets:
        parts.append(f"on site {_minutes(deadline - eta)} min before {clock_name} runs out")
    else:
        parts.append(f"on site {_minutes(eta - deadline)} min after {clock_name} runs out")
    if kind == CrewKind.TREE:
        parts.append("a helper: clears trees, a repair crew must restore")
    elif kind == CrewKind.ASSESSMENT:
        parts.append("can confirm the predicted outage and find the fault")
    return "; ".join(parts)


def _minutes(delta: timedelta) -> int:
    return max(round(delta.total_seconds() / 60), 0)


# --- the storm plan ---------------------------------------------------------------------------


def storm_plan(
    session: Session, clock: Clock, *, outage_ids: Sequence[int] | None = None, max_crews: int | None = None
) -> StormPlan:
    """The optimal match of unassigned active outages to available crews, for a dispatcher to review.

    With `outage_ids`, only those outages (still active and without a crew) are planned; with
    `max_crews`, at most that many crews are used, keeping the rest in reserve.
    """
    return _plan(session, clock, outage_ids, max_crews, "optimal")


def greedy_plan(
    session: Session, clock: Clock, *, outage_ids: Sequence[int] | None = None, max_crews: int | None = None
) -> StormPlan:
    """The nearest-crew baseline: outages in priority order each take the nearest free crew."""
    return _plan(session, clock, outage_ids, max_crews, "greedy")


def _unassigned_outages(session: Session, outage_ids: Sequence[int] | None) -> list[Outage]:
    busy = select(CrewAssignment.outage_id).where(CrewAssignment.status.in_(OPEN_ASSIGNMENT))
    query = (
        select(Outage)
        .where(Outage.state.in_(ACTIVE_OUTAGE_STATES), Outage.id.not_in(busy))
        .order_by(Outage.first_report_at, Outage.id)
    )
    if outage_ids is None:
        return list(session.scalars(query))
    wanted = sorted({int(i) for i in outage_ids})
    found: list[Outage] = []
    for start in range(0, len(wanted), 900):
        found.extend(session.scalars(query.where(Outage.id.in_(wanted[start : start + 900]))))
    return sorted(found, key=lambda o: (o.first_report_at, o.id))


def _plan(
    session: Session,
    clock: Clock,
    outage_ids: Sequence[int] | None,
    max_crews: int | None,
    method: str,
) -> StormPlan:
    now = clock.now()
    rules = DispatchRules.from_settings(session)
    outages = _unassigned_outages(session, outage_ids)
    crews = list(session.scalars(select(Crew).where(Crew.status == CrewStatus.AVAILABLE).order_by(Crew.id)))
    sites = _sites(session, outages)
    site_xy = np.array([[s.lon, s.lat] for s in sites], dtype=np.float64).reshape(-1, 2)
    crew_xy = np.array([[c.lon, c.lat] for c in crews], dtype=np.float64).reshape(-1, 2)
    speed = np.array([rules.speed_kmh[s.area_type.value] for s in sites], dtype=np.float64)
    travel = travel_minutes(
        site_xy,
        crew_xy,
        speed,
        road_factor=rules.road_factor,
        mobilisation_minutes=rules.mobilisation_minutes,
    )
    distance = road_km(site_xy, crew_xy, rules.road_factor)
    # The one ranking (`emergency.dispatch.priority`) decides who is most urgent and why; its facts (the
    # most critical user cut off, disaster mode) set each outage's bonus in minutes of travel.
    ranked = outage_priorities(session, clock)
    facts = [ranked[o.id] for o in outages]
    priority = np.array(
        [
            rules.priority.score(
                o.hazard,
                {p.top_grade: p.important_users} if p.top_grade else {},
                p.customers_out,
                disaster=p.disaster_mode,
            )
            for o, p in zip(outages, facts, strict=True)
        ],
        dtype=np.float64,
    )
    allowed = _allowed(outages, crews)
    solve = solve_optimal if method == "optimal" else solve_greedy
    pairs = solve(travel, priority, allowed, max_crews)

    rows = []
    for r, c in pairs:
        outage, crew = outages[r], crews[c]
        minutes = float(travel[r, c])
        rows.append(
            PlanRow(
                outage_id=outage.id,
                outage_version=outage.version,
                crew_id=crew.id,
                crew_code=crew.code,
                crew_version=crew.version,
                eta=now + timedelta(minutes=minutes),
                distance_km=round(float(distance[r, c]), 2),
                travel_minutes=round(minutes, 1),
                priority=round(float(priority[r]), 1),
                reason=(
                    f"{str(crew.kind).replace('_', ' ')} crew {crew.code}, {minutes:.0f} min away "
                    f"({float(distance[r, c]):.1f} km); rank {facts[r].rank}: {facts[r].reason()}"
                ),
            )
        )
    planned = {r for r, _ in pairs}
    unassigned = []
    for r, outage in enumerate(outages):
        if r in planned:
            continue
        if not allowed[r].any():
            why = "no suitable crew is available (a confirmed outage needs a line, cable or mutual-aid crew)"
        elif max_crews is not None and len(pairs) >= max_crews:
            why = f"the plan uses at most {max_crews} crews; others ranked higher"
        else:
            why = "crews are short; outages with higher priority or nearer crews come first"
        unassigned.append(UnassignedOutage(outage.id, round(float(priority[r]), 1), why))
    rank_of = {o.id: p.rank for o, p in zip(outages, facts, strict=True)}
    unassigned.sort(key=lambda u: rank_of[u.outage_id])
    return StormPlan(
        method=method,
        generated_at=now,
        rows=tuple(sorted(rows, key=lambda row: rank_of[row.outage_id])),
        unassigned=tuple(unassigned),
        crews_available=len(crews),
        total_travel_minutes=round(float(sum(travel[r, c] for r, c in pairs)), 1),
        cost=round(plan_cost(travel, priority, pairs), 1),
    )


def _allowed(outages: Sequence[Outage], crews: Sequence[Crew]) -> np.ndarray:
    """Which crew may take which outage on its own: repair crews anything, assessment crews only
    outages still unconfirmed. Tree crews are helpers, sent beside a repair crew, never planned alone."""
    repair = np.array([CrewKind(c.kind) in REPAIR_KINDS for c in crews], dtype=bool)
    assess = np.array([CrewKind(c.kind) == CrewKind.ASSESSMENT for c in crews], dtype=bool)
    unconfirmed = np.array([o.confirmed_at is None for o in outages], dtype=bool)
    return repair[None, :] | (assess[None, :] & unconfirmed[:, None])


def apply_plan(
    db: Database, clock: Clock, actor: Actor, rows: Sequence[PlanRow]
) -> list[tuple[PlanRow, CrewAssignment | Conflict]]:
    """Dispatch the rows a dispatcher approved, each in its own transaction.

    A row whose crew was taken, or whose outage got a crew or closed since the plan was made, is
    reported with its Conflict; the other rows still go ahead.
    """
    actor.require(*OPERATOR_ROLES)
    results: list[tuple[PlanRow, CrewAssignment | Conflict]] = []
    for row in rows:
        try:
            assignment = dispatch_crew(
                db,
                clock,
                actor,
                row.outage_id,
                row.crew_id,
                crew_version=row.crew_version,
                require_unassigned=True,
            )
        except Conflict as conflict:
            results.append((row, conflict))
        else:
            results.append((row, assignment))
    return results


# --- the crew lifecycle ---------------------------------------------------------------------


def crew_snapshot(crew: Crew) -> dict[str, Any]:
    """The crew fields an audit event records before and after a change."""
    return {
        "status": str(crew.status),
        "lon": crew.lon,
        "lat": crew.lat,
        "version": crew.version,
    }


def assignment_snapshot(assignment: CrewAssignment) -> dict[str, Any]:
    return {
        "status": str(assignment.status),
        "outage_id": assignment.outage_id,
        "crew_id": assignment.crew_id,
        "version": assignment.version,
    }


def dispatch_crew(
    db: Database,
    clock: Clock,
    actor: Actor,
    outage_id: int,
    crew_id: int,
    *,
    crew_version: int,
    outage_version: int | None = None,
    require_unassigned: bool = False,
) -> CrewAssignment:
    """Send an available crew to an active outage, if the crew is still as the dispatcher saw it.

    `crew_version` is the version the dispatcher's screen showed; if anyone dispatched the crew or
    changed its status since, this raises Conflict saying who took it and where. The outage moves
    to dispatched (a predicted outage may be dispatched; confirming it stays a separate act) and
    gets a system ETR unless a crew's or dispatcher's ETR still stands. With `require_unassigned`,
    an outage that already has a crew is refused (a plan row must not double-crew an outage).
    """
    actor.require(*OPERATOR_ROLES)
    with db.write() as session:
        lock_against_analysis(session, db)
        now = clock.now()
        outage = _get_outage(session, outage_id)
        if outage_version is not None and outage.version != outage_version:
            raise Conflict(f"outage {outage_id} was changed by someone else; reload and try again")
        _require_active(outage)
        if require_unassigned:
            _require_no_crew(session, outage)
        taken = session.execute(
            update(Crew)
            .where(Crew.id == crew_id, Crew.version == crew_version, Crew.status == CrewStatus.AVAILABLE)
            .values(status=CrewStatus.DISPATCHED, status_at=now, version=Crew.version + 1)
            .execution_options(synchronize_session=False)
        )
        if taken.rowcount != 1:
            raise _why_not_available(session, crew_id, crew_version)
        crew = session.get(Crew, crew_id, populate_existing=True)
        assert crew is not None
        crew_before = {**crew_snapshot(crew), "status": CrewStatus.AVAILABLE.value, "version": crew_version}

        rules = DispatchRules.from_settings(session)
        site = _sites(session, [outage])[0]
        distance, minutes = _travel_one(rules, site, crew.lon, crew.lat)
        assignment = CrewAssignment(
            outage_id=outage.id,
            crew_id=crew.id,
            status=AssignmentStatus.DISPATCHED,
            assigned_at=now,
            assigned_by=actor.username,
            eta_at=now + timedelta(minutes=minutes),
        )
        session.add(assignment)
        outage_before = outage_snapshot(outage)
        _advance_outage(outage, OutageState.DISPATCHED, now)
        _flush(session, f"outage {outage_id} was changed by someone else; reload and try again")

        etr, confidence = system_etr(
            outage,
            site.device_kind,
            site.area_type,
            minutes,
            now,
            disaster_mode_active(session, now),
            rules=EtrRules.from_settings(session),
        )
        apply_etr(
            session,
            clock,
            actor,
            outage,
            etr,
            confidence,
            EtrSource.SYSTEM,
            note=f"crew {crew.code} dispatched, {minutes:.0f} min away",
        )
        audit.record(
            session,
            clock,
            actor,
            "crew.dispatch",
            "crew_assignment",
            assignment.id,
            before={"crew": crew_before},
            after={"crew": crew_snapshot(crew), "assignment": assignment_snapshot(assignment)},
            detail=f"crew {crew.code} to outage {outage.id}, {distance:.1f} km, ETA {minutes:.0f} min",
        )
        audit.record(
            session,
            clock,
            actor,
            "outage.dispatch",
            "outage",
            outage.id,
            before=outage_before,
            after=outage_snapshot(outage),
            detail=f"crew {crew.code}",
        )
        return assignment


def _require_no_crew(session: Session, outage: Outage) -> None:
    existing = session.execute(
        select(CrewAssignment.assigned_by, Crew.code)
        .join(Crew, Crew.id == CrewAssignment.crew_id)
        .where(CrewAssignment.outage_id == outage.id, CrewAssignment.status.in_(OPEN_ASSIGNMENT))
        .limit(1)
    ).first()
    if existing is not None:
        by, code = existing
        raise Conflict(f"outage {outage.id} already has crew {code} (dispatched by {by})")


def _why_not_available(session: Session, crew_id: int, seen_version: int) -> EmergencyError:
    """Why the conditional update matched no row, in words a dispatcher can act on."""
    crew = session.get(Crew, crew_id, populate_existing=True)
    if crew is None:
        return NotFound(f"no crew {crew_id}")
    if crew.status == CrewStatus.OFF_DUTY:
        return Conflict(f"crew {crew.code} is off duty")
    job = open_assignment(session, crew_id)
    if job is not None:
        outage, by = job.outage_id, job.assigned_by
        where = {
            AssignmentStatus.DISPATCHED: f"was just dispatched to outage {outage} by {by}",
            AssignmentStatus.EN_ROUTE: f"is en route to outage {outage} (dispatched by {by})",
            AssignmentStatus.ON_SITE: f"is on site at outage {outage} (dispatched by {by})",
        }[AssignmentStatus(job.status)]
        return Conflict(f"crew {crew.code} {where}")
    if crew.status != CrewStatus.AVAILABLE:
        return Conflict(f"crew {crew.code} is {str(crew.status).replace('_', ' ')}, not available")
    return Conflict(
        f"crew {crew.code} was changed by someone else since you looked "
        f"(version {seen_version}, now {crew.version}); reload and try again"
    )


def mark_en_route(
    db: Database, clock: Clock, actor: Actor, assignment_id: int, *, expected_version: int | None = None
) -> CrewAssignment:
    """The crew has left for the outage."""
    return _advance(db, clock, actor, assignment_id, AssignmentStatus.EN_ROUTE, expected_version)


def mark_on_site(
    db: Database, clock: Clock, actor: Actor, assignment_id: int, *, expected_version: int | None = None
) -> CrewAssignment:
    """The crew has arrived: this stops the on-site clock. A crew may report arrival without having
    reported leaving; its en-route time then stays unknown rather than invented."""
    return _advance(db, clock, actor, assignment_id, AssignmentStatus.ON_SITE, expected_version)


_ADVANCES_FROM = {
    AssignmentStatus.EN_ROUTE: (AssignmentStatus.DISPATCHED,),
    AssignmentStatus.ON_SITE: (AssignmentStatus.DISPATCHED, AssignmentStatus.EN_ROUTE),
}


def _advance(
    db: Database,
    clock: Clock,
    actor: Actor,
    assignment_id: int,
    target: AssignmentStatus,
    expected_version: int | None,
) -> CrewAssignment:
    actor.require(*OPERATOR_ROLES)
    with db.write() as session:
        lock_against_analysis(session, db)
        now = clock.now()
        assignment = _get_assignment(session, assignment_id, expected_version)
        crew = session.get(Crew, assignment.crew_id)
        outage = session.get(Outage, assignment.outage_id)
        assert crew is not None and outage is not None
        if assignment.status not in _ADVANCES_FROM[target]:
            raise Conflict(
                f"crew {crew.code} is {str(assignment.status).replace('_', ' ')} at outage "
                f"{outage.id}; it cannot be marked {target.value.replace('_', ' ')}"
            )
        before = {"assignment": assignment_snapshot(assignment), "crew": crew_snapshot(crew)}
        outage_before = outage_snapshot(outage)
        assignment.status = target
        crew.status = CrewStatus(target.value)
        crew.status_at = now
        if target == AssignmentStatus.EN_ROUTE:
            assignment.en_route_at = now
            _advance_outage(outage, OutageState.EN_ROUTE, now)
        else:
            assignment.on_site_at = now
            _advance_outage(outage, OutageState.ON_SITE, now)
            # The crew is at the device now; recommendations for its next job start from here.
            device = session.get(Device, outage.device_id)
            assert device is not None
            crew.lon, crew.lat, crew.position_at = device.lon, device.lat, now
        _flush(session, f"crew {crew.code} or outage {outage.id} was changed by someone else; reload")
        audit.record(
            session,
            clock,
            actor,
            f"crew.{target.value}",
            "crew_assignment",
            assignment.id,
            before=before,
            after={"assignment": assignment_snapshot(assignment), "crew": crew_snapshot(crew)},
            detail=f"crew {crew.code} at outage {outage.id}",
        )
        if outage_snapshot(outage) != outage_before:
            audit.record(
                session,
                clock,
                actor,
                f"outage.{target.value}",
                "outage",
                outage.id,
                before=outage_before,
                after=outage_snapshot(outage),
                detail=f"crew {crew.code}",
            )
        return assignment


def _advance_outage(outage: Outage, state: OutageState, now: datetime) -> None:
    """Move the outage forward to `state` (never back: another crew may be further along), and stamp
    the first time it reached each stage."""
    if outage.state in LIFECYCLE and LIFECYCLE.index(outage.state) < LIFECYCLE.index(state):
        outage.state = state
    stamp = {
        OutageState.DISPATCHED: "dispatched_at",
        OutageState.EN_ROUTE: "en_route_at",
        OutageState.ON_SITE: "on_site_at",
    }[state]
    if getattr(outage, stamp) is None:
        setattr(outage, stamp, now)


def cancel_assignment(
    db: Database,
    clock: Clock,
    actor: Actor,
    assignment_id: int,
    reason: str,
    *,
    expected_version: int | None = None,
) -> CrewAssignment:
    """Call a crew off a job (needed elsewhere, wrong crew kind...): the crew is available again.

    An outage left with no crew goes back to confirmed (or predicted, if nobody confirmed it); its
    first dispatch time stays on record.
    """
    actor.require(*OPERATOR_ROLES)
    reason_text = (reason or "").strip()
    if not reason_text:
        raise InvalidInput("say why the crew is called off", field="reason")
    if len(reason_text) > MAX_REASON_CHARS:
        raise InvalidInput(f"at most {MAX_REASON_CHARS} characters", field="reason")
    with db.write() as session:
        lock_against_analysis(session, db)
        now = clock.now()
        assignment = _get_assignment(session, assignment_id, expected_version)
        crew = session.get(Crew, assignment.crew_id)
        outage = session.get(Outage, assignment.outage_id)
        assert crew is not None and outage is not None
        if assignment.status not in OPEN_ASSIGNMENT:
            raise Conflict(
                f"crew {crew.code}'s assignment to outage {outage.id} is already {assignment.status}"
            )
        before = {"assignment": assignment_snapshot(assignment), "crew": crew_snapshot(crew)}
        outage_before = outage_snapshot(outage)
        assignment.status = AssignmentStatus.CANCELLED
        assignment.cancelled_at = now
        if crew.status in BUSY_CREW:
            crew.status = CrewStatus.AVAILABLE
            crew.status_at = now
        others = session.scalar(
            select(CrewAssignment.id)
            .where(
                CrewAssignment.outage_id == outage.id,
                CrewAssignment.id != assignment.id,
                CrewAssignment.status.in_(OPEN_ASSIGNMENT),
            )
            .limit(1)
        )
        if others is None and outage.state in (
            OutageState.DISPATCHED,
            OutageState.EN_ROUTE,
            OutageState.ON_SITE,
        ):
            outage.state = OutageState.CONFIRMED if outage.confirmed_at is not None else OutageState.PREDICTED
        _flush(session, f"crew {crew.code} or outage {outage.id} was changed by someone else; reload")
        audit.record(
            session,
            clock,
            actor,
            "crew.cancel",
            "crew_assignment",
            assignment.id,
            before=before,
            after={"assignment": assignment_snapshot(assignment), "crew": crew_snapshot(crew)},
            detail=reason_text,
        )
        if outage_snapshot(outage) != outage_before:
            audit.record(
                session,
                clock,
                actor,
                "outage.undispatch",
                "outage",
                outage.id,
                before=outage_before,
                after=outage_snapshot(outage),
                detail=f"crew {crew.code} called off: {reason_text}",
            )
        return assignment


def set_crew_off_duty(
    db: Database, clock: Clock, actor: Actor, crew_id: int, *, crew_version: int | None = None
) -> Crew:
    """The crew's shift ends (or it stands down); it must not be on a job."""
    return _set_duty(db, clock, actor, crew_id, CrewStatus.OFF_DUTY, crew_version)


def set_crew_available(
    db: Database, clock: Clock, actor: Actor, crew_id: int, *, crew_version: int | None = None
) -> Crew:
    """The crew is ready for work: back on duty, or released when its job ended without a restoration
    (for instance an outage cancelled as a false alarm)."""
    return _set_duty(db, clock, actor, crew_id, CrewStatus.AVAILABLE, crew_version)


def _set_duty(
    db: Database, clock: Clock, actor: Actor, crew_id: int, target: CrewStatus, crew_version: int | None
) -> Crew:
    actor.require(*OPERATOR_ROLES)
    with db.write() as session:
        now = clock.now()
        crew = _get_crew(session, crew_id, crew_version)
        job = open_assignment(session, crew_id)
        if job is not None:
            raise Conflict(
                f"crew {crew.code} is {str(job.status).replace('_', ' ')} for outage {job.outage_id}; "
                "call it off that job first"
            )
        if crew.status == target:
            raise Conflict(f"crew {crew.code} is already {target.value.replace('_', ' ')}")
        before = crew_snapshot(crew)
        crew.status = target
        crew.status_at = now
        _flush(session, f"crew {crew.code} was changed by someone else; reload and try again")
        audit.record(
            session,
            clock,
            actor,
            f"crew.{target.value}",
            "crew",
            crew.id,
            before=before,
            after=crew_snapshot(crew),
        )
        return crew


def update_crew_position(
    db: Database, clock: Clock, actor: Actor, crew_id: int, lon: float, lat: float
) -> Crew:
    """Where the crew is now: from its device (a `crew_position` token) or moved by a dispatcher.

    The crew's version is not bumped: positions stream in every few seconds, and a dispatcher who
    saw the crew a moment ago should not lose a dispatch to a GPS ping. Device pings are not
    audited either (they would drown the trail at storm rates; `position_at` keeps the last one);
    a person moving a crew is.
    """
    actor.require(*POSITION_ROLES)
    lon_value = _coordinate(lon, -180.0, 180.0, "lon")
    lat_value = _coordinate(lat, -90.0, 90.0, "lat")
    with db.write() as session:
        now = clock.now()
        crew = session.get(Crew, crew_id)
        if crew is None:
            raise NotFound(f"no crew {crew_id}")
        before = crew_snapshot(crew)
        session.execute(
            update(Crew)
            .where(Crew.id == crew_id)
            .values(lon=lon_value, lat=lat_value, position_at=now)
            .execution_options(synchronize_session=False)
        )
        crew = session.get(Crew, crew_id, populate_existing=True)
        assert crew is not None
        if actor.role != TokenScope.CREW_POSITION.value:
            audit.record(
                session,
                clock,
                actor,
                "crew.position",
                "crew",
                crew.id,
                before=before,
                after=crew_snapshot(crew),
            )
        return crew


def _coordinate(value: Any, low: float, high: float, field: str) -> float:
    if isinstance(value, bool):
        raise InvalidInput(f"must be a number from {low:g} to {high:g}", field=field)
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise InvalidInput(f"not a number: {str(value)[:40]!r}", field=field) from None
    if not np.isfinite(number) or not low <= number <= high:
        raise InvalidInput(f"must be a number from {low:g} to {high:g}", field=field)
    return number


# --- loading ----------------------------------------------------------------------------------


def _get_outage(session: Session, outage_id: int) -> Outage:
    outage = session.get(Outage, outage_id)
    if outage is None:
        raise NotFound(f"no outage {outage_id}")
    return outage


def _require_active(outage: Outage) -> None:
    if outage.state not in ACTIVE_OUTAGE_STATES:
        merged = f" into outage {outage.merged_into_id}" if outage.merged_into_id else ""
        raise Conflict(f"outage {outage.id} is {outage.state}{merged}, no longer active")


def _get_crew(session: Session, crew_id: int, expected_version: int | None) -> Crew:
    crew = session.get(Crew, crew_id)
    if crew is None:
        raise NotFound(f"no crew {crew_id}")
    if expected_version is not None and crew.version != expected_version:
        raise Conflict(f"crew {crew.code} was changed by someone else; reload and try again")
    return crew


def _get_assignment(session: Session, assignment_id: int, expected_version: int | None) -> CrewAssignment:
    assignment = session.get(CrewAssignment, assignment_id)
    if assignment is None:
        raise NotFound(f"no crew assignment {assignment_id}")
    if expected_version is not None and assignment.version != expected_version:
        raise Conflict(f"crew assignment {assignment_id} was changed by someone else; reload and try again")
    return assignment


def _flush(session: Session, message: str) -> None:
    """Write pending changes now, turning a lost optimistic-lock race into a Conflict."""
    try:
        session.flush()
    except StaleDataError:
        raise Conflict(message) from None
