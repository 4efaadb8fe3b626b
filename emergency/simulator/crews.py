"""Simulated crews: they do what their assignments say, at the pace real crews keep.

A crew's next move is read from its open assignment in the database, whoever made it (a dispatcher
on the console, the storm plan, or the simulator's own auto-dispatch): dispatched -> leaves after
mobilising; en route -> arrives after driving the road distance (great-circle distance times the
road factor, at the district's speed, slower where the storm is); on site -> confirms the outage,
phones in an ETR, repairs for a log-normal time by device kind, restores (in two steps when many
customers are out) and the outage is closed once verified. An assessment crew confirms, assesses
and is released for a repair crew. Every random figure is drawn from the run's seed and the
assignment's id, so the same assignment always takes the same time whatever else happens.

Crews act only through the dispatch, outage, ETR and intake services, as the dispatcher they phone
would: the simulator's actor has the dispatcher's role.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from emergency.core.models import (
    ACTIVE_OUTAGE_STATES,
    AssignmentStatus,
    Crew,
    CrewAssignment,
    CrewKind,
    Outage,
)
from emergency.dispatch.etr import EtrRules, typical_repair_minutes
from emergency.dispatch.routing import DispatchRules, great_circle_km
from emergency.simulator.storm import StormModel

OPEN = (AssignmentStatus.DISPATCHED, AssignmentStatus.EN_ROUTE, AssignmentStatus.ON_SITE)
STEP_RESTORE_CUSTOMERS = 150  # outages this big are restored in two steps (switching first)
ASSESS_MINUTES = 15.0
REPAIR_SIGMA = 0.5
ETR_ROUND_MINUTES = 5


@dataclass(frozen=True)
class Job:
    """An open assignment as the crew sees it."""

    assignment_id: int
    assignment_version: int
    status: AssignmentStatus
    assigned_at: datetime
    en_route_at: datetime | None
    on_site_at: datetime | None
    crew_id: int
    crew_code: str
    crew_kind: CrewKind
    crew_lon: float
    crew_lat: float
    outage_id: int
    outage_state: str
    device_id: int
    confirmed: bool
    customers_out: int
    customers_restored: int


@dataclass(frozen=True)
class Route:
    from_lon: float
    from_lat: float
    to_lon: float
    to_lat: float
    minutes: float


def open_jobs(session: Session) -> list[Job]:
    rows = session.execute(
        select(
            CrewAssignment.id,
            CrewAssignment.version,
            CrewAssignment.status,
            CrewAssignment.assigned_at,
            CrewAssignment.en_route_at,
            CrewAssignment.on_site_at,
            Crew.id,
            Crew.code,
            Crew.kind,
            Crew.lon,
            Crew.lat,
            Outage.id,
            Outage.state,
            Outage.device_id,
            Outage.confirmed_at,
            Outage.customers_affected,
            Outage.customers_restored,
        )
        .join(Crew, Crew.id == CrewAssignment.crew_id)
        .join(Outage, Outage.id == CrewAssignment.outage_id)
        .where(CrewAssignment.status.in_(OPEN))
        .order_by(CrewAssignment.id)
    ).all()
    return [
        Job(
            assignment_id=r[0],
            assignment_version=r[1],
            status=AssignmentStatus(r[2]),
            assigned_at=r[3],
            en_route_at=r[4],
            on_site_at=r[5],
            crew_id=r[6],
            crew_code=r[7],
            crew_kind=CrewKind(r[8]),
            crew_lon=r[9],
            crew_lat=r[10],
            outage_id=r[11],
            outage_state=str(r[12]),
            device_id=r[13],
            confirmed=r[14] is not None,
            customers_out=r[15] - r[16],
            customers_restored=r[16],
        )
        for r in rows
        if r[12] in ACTIVE_OUTAGE_STATES
    ]


class CrewPace:
    """How long each part of a job takes; one random stream per assignment and purpose."""

    def __init__(
        self,
        seed: int,
        dispatch_rules: DispatchRules,
        etr_rules: EtrRules,
        repair_factor: float,
        storm: StormModel,
        storm_minute: Callable[[datetime], float],
    ) -> None:
        self.seed = seed
        self.rules = dispatch_rules
        self.etr = etr_rules
        self.repair_factor = repair_factor
        self.storm = storm
        self.storm_minute = storm_minute

    def _rng(self, assignment_id: int, purpose: int) -> np.random.Generator:
        return np.random.default_rng([self.seed, assignment_id, purpose])

    def mobilise_minutes(self, job: Job) -> float:
        return float(
            self._rng(job.assignment_id, 1).lognormal(math.log(self.rules.mobilisation_minutes), 0.3)
        )

    def route(self, job: Job, to_lon: float, to_lat: float, area_type: str, departed: datetime) -> Route:
        km = float(great_circle_km(job.crew_lon, job.crew_lat, to_lon, to_lat)) * self.rules.road_factor
        strength = float(self.storm.strength(self.storm_minute(departed), job.crew_lon, job.crew_lat))
        slowdown = 1.0 - self.storm.spec.slowdown * min(strength, 1.0)
        speed = self.rules.speed_kmh.get(area_type, self.rules.speed_kmh["urban"]) * max(slowdown, 0.2)
        noise = float(self._rng(job.assignment_id, 2).lognormal(0.0, 0.15))
        return Route(job.crew_lon, job.crew_lat, to_lon, to_lat, km / speed * 60.0 * noise)

    def repair_minutes(self, job: Job, device_kind: str, area_type: str) -> float:
        median = typical_repair_minutes(device_kind, area_type, rules=self.etr) * self.repair_factor
        return float(self._rng(job.assignment_id, 3).lognormal(math.log(median), REPAIR_SIGMA))

    def estimate_error(self, job: Job) -> float:
        """The crew's ETR is its own guess: right on average, off by a quarter either way."""
        return float(self._rng(job.assignment_id, 4).lognormal(0.0, 0.25))

    def assess_minutes(self, job: Job) -> float:
        return float(self._rng(job.assignment_id, 5).lognormal(math.log(ASSESS_MINUTES), 0.3))

    def verify_minutes(self, outage_id: int) -> float:
        return float(self._rng(outage_id, 6).uniform(10.0, 30.0))


def along(route: Route, share: float) -> tuple[float, float]:
    share = min(max(share, 0.0), 1.0)
    return (
        route.from_lon + (route.to_lon - route.from_lon) * share,
        route.from_lat + (route.to_lat - route.from_lat) * share,
    )


def etr_time(now: datetime, minutes: float) -> datetime:
    """A crew says "about 14:35", not "14:33:17"."""
    when = now + timedelta(minutes=minutes)
    step = ETR_ROUND_MINUTES * 60
    seconds = math.ceil(when.timestamp() / step) * step
    return datetime.fromtimestamp(seconds, tz=when.tzinfo)
