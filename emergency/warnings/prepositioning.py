"""Crew pre-positioning before a disaster: spread available crews over the staging depots.

Each customer in the areas of the warnings in force counts towards its nearest staging depot,
and each important user there counts as many customers (setting
`prepositioning.important_weight`). Available crews are shared out over the depots in proportion
to those weights (largest remainder, so the counts add up exactly), then matched to depot places
by `linear_sum_assignment` on distance, so no crew drives further than the spread needs.

A manager accepts the suggestion, which makes each chosen crew's base its staging depot (its
position still comes from its GPS as it drives there). Nothing moves until then.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import numpy as np
from scipy.optimize import linear_sum_assignment
from sqlalchemy import select
from sqlalchemy.orm import Session

from emergency.core import audit
from emergency.core.actor import Actor
from emergency.core.clock import Clock
from emergency.core.errors import Conflict, InvalidInput
from emergency.core.models import Crew, CrewStatus, Depot, Role
from emergency.core.settings import get_setting
from emergency.dispatch.routing import great_circle_km
from emergency.warnings.area import ResolvedArea
from emergency.warnings.preview import area_customers, important_users_in_area
from emergency.warnings.records import warnings_in_force

PREPOSITION_ROLES = (Role.MANAGER, Role.ADMIN)


@dataclass(frozen=True)
class DepotShare:
    depot_id: int
    code: str
    name_en: str
    name_zh: str
    customers_at_risk: int
    important_at_risk: int
    weight: float
    crews: int


@dataclass(frozen=True)
class Move:
    crew_id: int
    crew_code: str
    crew_version: int
    depot_id: int
    depot_code: str
    distance_km: float


@dataclass(frozen=True)
class PrepositionPlan:
    generated_at: datetime
    depots: tuple[DepotShare, ...]
    moves: tuple[Move, ...]
    crews_available: int


def apportion(weights: Sequence[float], total: int) -> list[int]:
    """Whole numbers proportional to `weights` that add up to `total` (largest remainder method)."""
    if total <= 0 or not weights or sum(weights) <= 0:
        return [0] * len(weights)
    exact = [w / sum(weights) * total for w in weights]
    counts = [math.floor(x) for x in exact]
    order = sorted(range(len(weights)), key=lambda i: (-(exact[i] - counts[i]), -weights[i], i))
    for i in order[: total - sum(counts)]:
        counts[i] += 1
    return counts


def suggest_prepositioning(session: Session, clock: Clock) -> PrepositionPlan:
    now = clock.now()
    depots = list(session.scalars(select(Depot).where(Depot.is_staging.is_(True)).order_by(Depot.code)))
    crews = list(session.scalars(select(Crew).where(Crew.status == CrewStatus.AVAILABLE).order_by(Crew.code)))
    important_weight = float(get_setting(session, "prepositioning.important_weight"))
    customers = np.zeros(len(depots), dtype=np.int64)
    important = np.zeros(len(depots), dtype=np.int64)
    if depots:
        depot_lon = np.array([d.lon for d in depots], dtype=np.float64)
        depot_lat = np.array([d.lat for d in depots], dtype=np.float64)
        seen_customers: set[int] = set()
        seen_important: set[int] = set()
        for warning in warnings_in_force(session, now):
            area = ResolvedArea(warning.area_kind, warning.area, tuple(warning.area_districts or []))
            # A customer inside two warnings' areas counts once.
            inside = area_customers(session, area)
            fresh = ~np.isin(
                inside.ids, np.fromiter(seen_customers, dtype=np.int64, count=len(seen_customers))
            )
            seen_customers.update(inside.ids.tolist())
            if fresh.any():
                nearest = _nearest(inside.lons[fresh], inside.lats[fresh], depot_lon, depot_lat)
                customers += np.bincount(nearest, minlength=len(depots))
            users = [u for u in important_users_in_area(session, area) if u.customer_id not in seen_important]
            seen_important.update(u.customer_id for u in users)
            if users:
                ulons = np.array([u.lon for u in users], dtype=np.float64)
                ulats = np.array([u.lat for u in users], dtype=np.float64)
                important += np.bincount(_nearest(ulons, ulats, depot_lon, depot_lat), minlength=len(depots))
    weights = (customers + important_weight * important).astype(np.float64)
    counts = apportion(weights.tolist(), len(crews))
    moves = _match(crews, depots, counts)
    shares = tuple(
        DepotShare(d.id, d.code, d.name_en, d.name_zh, int(c), int(i), float(w), n)
        for d, c, i, w, n in zip(depots, customers, important, weights, counts, strict=True)
    )
    return PrepositionPlan(now, shares, tuple(moves), len(crews))


def accept_prepositioning(session: Session, clock: Clock, actor: Actor, moves: Sequence[Move]) -> int:
    """Base each crew at its staging depot, if nobody changed the crew since the suggestion."""
    if not moves:
        raise InvalidInput("the suggestion moves no crew", field="moves")
    for move in moves:
        crew = session.get(Crew, move.crew_id)
        if crew is None or crew.version != move.crew_version or crew.status != CrewStatus.AVAILABLE:
            raise Conflict(f"crew {move.crew_code} changed since the suggestion; make a new one")
        before = {"home_depot_id": crew.home_depot_id, "version": crew.version}
        crew.home_depot_id = move.depot_id
        session.flush()
        audit.record(
            session,
            clock,
            actor,
            "crew.preposition",
            "crew",
            crew.id,
            before=before,
            after={"home_depot_id": crew.home_depot_id, "version": crew.version},
            detail=f"to staging depot {move.depot_code} ({move.distance_km:.1f} km)",
        )
    return len(moves)


def _nearest(lons: np.ndarray, lats: np.ndarray, depot_lon: np.ndarray, depot_lat: np.ndarray) -> np.ndarray:
    distances = great_circle_km(lons[:, None], lats[:, None], depot_lon[None, :], depot_lat[None, :])
    return np.argmin(distances, axis=1)


def _match(crews: Sequence[Crew], depots: Sequence[Depot], counts: Sequence[int]) -> list[Move]:
    slots = [depot for depot, n in zip(depots, counts, strict=True) for _ in range(n)]
    if not slots or not crews:
        return []
    distances = great_circle_km(
        np.array([c.lon for c in crews])[:, None],
        np.array([c.lat for c in crews])[:, None],
        np.array([d.lon for d in slots])[None, :],
        np.array([d.lat for d in slots])[None, :],
    )
    rows, cols = linear_sum_assignment(distances)
    moves = [
        Move(
            crews[r].id,
            crews[r].code,
            crews[r].version,
            slots[c].id,
            slots[c].code,
            round(float(distances[r, c]), 1),
        )
        for r, c in zip(rows.tolist(), cols.tolist(), strict=True)
    ]
    return sorted(moves, key=lambda m: (m.depot_code, m.crew_code))
