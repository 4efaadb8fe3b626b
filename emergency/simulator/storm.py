"""Storm track and damage model: which devices fail, and when.

A device's hazard is its kind's fragility times its exposure (overhead lines in rural and remote
districts run through trees and over hills) times the storm's strength where it stands, squared
(wind load grows with the square of wind speed), summed over the storm's hours. It fails with
probability 1 - exp(-hazard), at a moment drawn in proportion to that strength: most failures
come as the storm's core passes. Everything is drawn from the run's seed up front, so a seed
always gives the same damage.
"""

from __future__ import annotations

import math

import numpy as np

from emergency.dispatch.routing import great_circle_km
from emergency.simulator.grid import Damage, Territory
from emergency.simulator.scenarios import StormSpec

STEP_MINUTES = 5.0
AREA_EXPOSURE = {"urban": 0.7, "rural": 1.0, "remote": 1.3}


class StormModel:
    """The storm's strength (0 to 1) at any place and minute."""

    def __init__(self, spec: StormSpec, bbox: tuple[float, float, float, float]) -> None:
        self.spec = spec
        west, south, east, north = bbox
        # A grid of a few km still gets a storm of a sensible size.
        pad = 0.02
        self.west, self.south = west - pad, south - pad
        self.width, self.height = (east - west) + 2 * pad, (north - south) + 2 * pad
        diagonal = float(
            great_circle_km(self.west, self.south, self.west + self.width, self.south + self.height)
        )
        self.radius_km = max(spec.radius_share * diagonal, 1.0)

    def _place(self, fraction: tuple[float, float]) -> tuple[float, float]:
        return self.west + fraction[0] * self.width, self.south + fraction[1] * self.height

    def centre(self, minute: float) -> tuple[float, float]:
        s = self.spec
        span = max(s.leave_minute - s.enter_minute, 1e-9)
        f = (minute - s.enter_minute) / span
        (x0, y0), (x1, y1) = self._place(s.start), self._place(s.end)
        return x0 + (x1 - x0) * f, y0 + (y1 - y0) * f

    def envelope(self, minute: float) -> float:
        s = self.spec
        if s.shape == "none" or minute < s.rise_from or minute > s.fade_minute:
            return 0.0
        if minute <= s.peak_minute:
            span = max(s.peak_minute - s.rise_from, 1e-9)
            return s.floor + (1 - s.floor) * (minute - s.rise_from) / span
        span = max(s.fade_minute - s.peak_minute, 1e-9)
        return 1 - (1 - s.floor) * (minute - s.peak_minute) / span

    def strength(self, minute: float, lon: np.ndarray | float, lat: np.ndarray | float) -> np.ndarray:
        lon = np.asarray(lon, dtype=np.float64)
        lat = np.asarray(lat, dtype=np.float64)
        level = self.envelope(minute)
        if level == 0.0:
            return np.zeros(np.broadcast(lon, lat).shape)
        s = self.spec
        if s.shape == "area":
            (x0, y0), (x1, y1) = self._place(s.start), self._place(s.end)
            dx, dy = x1 - x0, y1 - y0
            along = ((lon - x0) * dx + (lat - y0) * dy) / max(dx * dx + dy * dy, 1e-12)
            return level * (0.4 + 0.6 * np.clip(along, 0.0, 1.0))
        cx, cy = self.centre(minute)
        if s.shape == "cyclone":
            distance = great_circle_km(lon, lat, cx, cy)
        else:  # a line across the direction of travel, through the centre
            (x0, y0), (x1, y1) = self._place(s.start), self._place(s.end)
            heading = np.array([x1 - x0, y1 - y0]) / max(math.hypot(x1 - x0, y1 - y0), 1e-12)
            offset = (lon - cx) * heading[0] + (lat - cy) * heading[1]
            distance = great_circle_km(cx, cy, cx + offset * heading[0], cy + offset * heading[1])
        return level * np.exp(-((distance / self.radius_km) ** 2))


def plan_damage(
    territory: Territory, spec: StormSpec, model: StormModel, end_minute: float, rng: np.random.Generator
) -> list[Damage]:
    """Every failure of the run, in time order."""
    kinds = np.array(territory.kinds)
    exposure = np.array([AREA_EXPOSURE.get(a, 1.0) for a in territory.area_type]) * rng.lognormal(
        0.0, 0.5, len(kinds)
    )
    damages: list[Damage] = []
    fragility = np.array([spec.fragility.get(k, 0.0) for k in kinds], dtype=np.float64)
    if spec.shape != "none":
        minutes = np.arange(0.0, end_minute + STEP_MINUTES, STEP_MINUTES)
        load = np.stack([model.strength(m, territory.lon, territory.lat) ** 2 for m in minutes], axis=1)
        hazard = fragility * exposure * load.sum(axis=1) * STEP_MINUTES / 60.0
        fails = rng.random(len(kinds)) < 1.0 - np.exp(-hazard)
        for d in np.flatnonzero(fails):
            weights = load[d] / load[d].sum()
            at = float(rng.choice(minutes, p=weights) + rng.uniform(0.0, STEP_MINUTES))
            damages.append(Damage(int(d), at))
    breakers = np.flatnonzero(kinds == "breaker")
    loaded = [b for b in breakers if len(territory.customers_below(int(b)))]
    for minute in spec.feeder_trips:
        if loaded:
            damages.append(Damage(int(rng.choice(loaded)), float(minute)))
    for damage in list(damages):
        if territory.kinds[damage.device] != "transformer" and rng.random() < spec.hidden_damage:
            below = [
                int(t)
                for t in territory.subtree(damage.device)
                if territory.kinds[t] == "transformer"
                and territory.customers_end[t] > territory.customers_start[t]
            ]
            if below:
                damages.append(Damage(int(rng.choice(below)), damage.at_minute, hidden=True))
    damages.sort(key=lambda d: (d.at_minute, d.device))
    return damages
