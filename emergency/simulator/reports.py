"""What customers, meters and SCADA send when power goes and comes back, with real-world noise.

Every report is an intake item exactly as the call centre, the app, the meter head-end or SCADA
would post it. The noise: some people call twice, apps retry with the same external id, located
reports carry GPS error (and a few come from somewhere else entirely), people whose power is on
call about a flicker or a neighbour, and meter last gasps get lost in the storm. A call is only
made if the caller is still without power when the moment comes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from emergency.simulator.grid import Territory
from emergency.simulator.scenarios import NoiseSpec

KM_PER_DEGREE = 111.32


@dataclass(frozen=True)
class Intent:
    """A report to send at `minute`; `customer` set means only if that customer is still out."""

    minute: float
    item: dict[str, Any]  # without `reported_at`: the runner stamps it from `happened`
    customer: int | None = None
    powered_ok: bool = False  # sent even if the customer has power (a call about a flicker)
    happened: float | None = None  # the minute the report is about, if not `minute`


class ReportMaker:
    def __init__(
        self,
        territory: Territory,
        noise: NoiseSpec,
        rng: np.random.Generator,
        tag: str,
        has_meter: np.ndarray,
    ) -> None:
        self.t = territory
        self.noise = noise
        self.rng = rng
        self.tag = tag
        self.count = 0
        channels = noise.channel_weights
        self.channels = list(channels)
        weights = np.array([channels[c] for c in self.channels], dtype=np.float64)
        self.channel_p = weights / weights.sum()
        self.has_meter = has_meter

    def _external_id(self) -> str:
        self.count += 1
        return f"sim-{self.tag}-{self.count}"

    def supply_lost(self, minute: float, device: int, customers: np.ndarray) -> list[Intent]:
        """SCADA for a telemetered device, last gasps, and calls from the customers cut off."""
        intents: list[Intent] = []
        if self.t.telemetered[device]:
            intents.append(
                Intent(
                    minute + self.rng.uniform(0.0, 0.2),
                    {
                        "channel": "scada",
                        "kind": "device_opened",
                        "device_code": self.t.codes[device],
                        "external_id": self._external_id(),
                    },
                    happened=minute,
                )
            )
        n = self.noise
        for c in customers:
            c = int(c)
            if self.has_meter[c] and self.rng.random() < n.last_gasp_share:
                at = minute + self.rng.uniform(0.0, 1.5)
                intents.append(Intent(at, self._meter(c, "last_gasp"), happened=minute))
            if self.rng.random() < n.call_share:
                at = minute + self.rng.lognormal(math.log(n.call_median_minutes), 0.6)
                intents.extend(self._call(c, at, self._call_kind()))
                if self.rng.random() < n.duplicate_share:
                    again = at + self.rng.uniform(10.0, 40.0)
                    intents.extend(self._call(c, again, "no_power"))
        return intents

    def supply_back(self, minute: float, lit: np.ndarray, still_out: np.ndarray) -> list[Intent]:
        """Meters report power restored; customers still out after a repair call again."""
        intents: list[Intent] = []
        for c in lit:
            c = int(c)
            if self.has_meter[c] and self.rng.random() < self.noise.restored_ping_share:
                at = minute + self.rng.uniform(0.0, 2.0)
                intents.append(Intent(at, self._meter(c, "power_restored"), powered_ok=True, happened=minute))
        for c in still_out:
            if self.rng.random() < self.noise.recall_share:
                at = minute + self.rng.uniform(4.0, 20.0)
                intents.extend(self._call(int(c), at, "no_power"))
        return intents

    def powered_calls(self, minute: float, span: float, strength: float) -> list[Intent]:
        """Calls from customers whose power is on: a flicker, a neighbour's outage, a wrong account."""
        n_customers = len(self.t.customer_ids)
        rate = self.noise.powered_calls_per_hour_per_10k * strength * n_customers / 10_000 * span / 60.0
        intents: list[Intent] = []
        for _ in range(int(self.rng.poisson(rate))):
            c = int(self.rng.integers(n_customers))
            kind = "partial_power" if self.rng.random() < 0.5 else "no_power"
            for intent in self._call(c, minute + self.rng.uniform(0.0, span), kind):
                intents.append(
                    Intent(intent.minute, intent.item, None, powered_ok=True, happened=intent.happened)
                )
        return intents

    def _call_kind(self) -> str:
        r = self.rng.random()
        if r < self.noise.hazard_share:
            return "hazard"
        if r < self.noise.hazard_share + self.noise.partial_share:
            return "partial_power"
        return "no_power"

    def _meter(self, c: int, kind: str) -> dict[str, Any]:
        return {
            "channel": "meter",
            "kind": kind,
            "account_no": self.t.accounts[c],
            "external_id": self._external_id(),
        }

    def _call(self, c: int, minute: float, kind: str) -> list[Intent]:
        n = self.noise
        channel = str(self.rng.choice(self.channels, p=self.channel_p))
        item: dict[str, Any] = {"channel": channel, "kind": kind, "external_id": self._external_id()}
        if kind == "hazard":
            item["description"] = "Wire down across the road (simulated)"
        if channel == "app" and self.rng.random() < n.location_share:
            error_m = n.location_error_m
            if self.rng.random() < n.wrong_place_share:
                error_m = self.rng.uniform(1_000.0, 3_000.0)
            lon, lat = self._jitter(float(self.t.customer_lon[c]), float(self.t.customer_lat[c]), error_m)
            item["lon"], item["lat"] = round(lon, 6), round(lat, 6)
        else:
            item["account_no"] = self.t.accounts[c]
        intents = [Intent(minute, item, c)]
        if channel in ("app", "web") and self.rng.random() < n.retry_share:
            # The app did not see the answer and sends the same report again.
            intents.append(Intent(minute + self.rng.uniform(0.05, 1.0), dict(item), c, happened=minute))
        return intents

    def _jitter(self, lon: float, lat: float, metres: float) -> tuple[float, float]:
        angle = self.rng.uniform(0.0, 2 * math.pi)
        distance_km = abs(self.rng.normal(0.0, metres)) / 1000.0
        dlat = distance_km * math.sin(angle) / KM_PER_DEGREE
        dlon = distance_km * math.cos(angle) / (KM_PER_DEGREE * math.cos(math.radians(lat)))
        return lon + dlon, lat + dlat
