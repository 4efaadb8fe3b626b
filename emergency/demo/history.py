"""Years of closed outages for the demo territory, so reports and the major-event threshold have data.

`generate_history` is pure: from a generated territory (emergency.demo.territory), a "now", a number of years
and a seed, it builds the records the live system would have left behind, as DataFrames whose
columns are model columns: closed outages with every lifecycle time (first report, predicted,
confirmed, dispatched, en route, on site, restored, closed), their restoration steps, ETR revisions,
crew assignments and SLA breaches. `load_history` writes them after the territory.

What makes it look like a real utility's record, and why:
- sustained faults by device kind at a yearly rate per device, higher in rural and remote districts
  (longer overhead lines, more trees), and more in summer (thunderstorms);
- typhoon season (July to September): a few typhoons a year, each a cluster of storm days whose peak
  is a major event day, plus a few rainstorm days in spring and autumn;
- recloser and breaker operations that clear in seconds to three minutes (momentary interruptions,
  for MAIFI), recorded as the live system records a SCADA trip and reclose: one outage, one step;
- repair times log-normal; large outages often restored in steps (switching first, repair later);
- dispatch by a crew from the nearest depots, who may still be busy with the previous job, so storm
  days breach the 10 and 30 minute clocks more, as do rural and remote districts (longer drives).

Reports (customers' calls) and per-action audit events are not generated (one audit event records the
load): an outage keeps its `report_count` without the report rows. On the 50,000-customer demo, about
three quarters of dispatches are within 10 minutes and two thirds of arrivals within 30 (nine in ten
on normal days, half on storm days).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
from sqlalchemy import func, insert, select, text
from sqlalchemy.orm import InstrumentedAttribute, Session

from emergency.core import audit
from emergency.core.actor import CLI_ADMIN
from emergency.core.bulk import insert_columns
from emergency.core.clock import Clock
from emergency.core.db import Database
from emergency.core.errors import InvalidInput
from emergency.core.models import (
    AssignmentStatus,
    Base,
    CrewAssignment,
    CrewKind,
    CustomerKind,
    DeviceKind,
    EtrChange,
    EtrConfidence,
    EtrSource,
    Outage,
    OutageState,
    RestorationStep,
    SlaBreach,
)
from emergency.core.settings import DEFAULT_SETTINGS, DEFAULT_SLA_TARGETS
from emergency.core.vocabulary import IMPORTANCE_ORDER
from emergency.demo.territory import Territory
from emergency.reporting.reliability import subtree_totals

DEFAULT_HISTORY_YEARS = 3
DEFAULT_TIMEZONE = "Asia/Shanghai"

# Sustained faults per device per year in an urban district (a distribution utility's typical order
# of magnitude: a feeder trips about once in four years, a transformer once in twelve).
_FAULTS_PER_YEAR = {
    DeviceKind.SUBSTATION.value: 0.02,
    DeviceKind.BREAKER.value: 0.25,
    DeviceKind.RECLOSER.value: 0.25,
    DeviceKind.FUSE.value: 0.3,
    DeviceKind.TRANSFORMER.value: 0.08,
}
# Reclose operations that clear by themselves, per telemetered device per year.
_MOMENTARY_PER_YEAR = {DeviceKind.BREAKER.value: 1.2, DeviceKind.RECLOSER.value: 1.0}
_AREA_EXPOSURE = {"urban": 1.0, "rural": 1.6, "remote": 2.2}
# Median repair time after the crew arrives, minutes, before area and storm factors.
_REPAIR_MEDIAN_MINUTES = {
    DeviceKind.SUBSTATION.value: 150.0,
    DeviceKind.BREAKER.value: 100.0,
    DeviceKind.RECLOSER.value: 80.0,
    DeviceKind.FUSE.value: 45.0,
    DeviceKind.TRANSFORMER.value: 70.0,
}
_REPAIR_AREA_FACTOR = {"urban": 1.0, "rural": 1.3, "remote": 1.6}
_TRAVEL_MEDIAN_MINUTES = {"urban": 9.0, "rural": 13.0, "remote": 17.0}
_STORM_REPAIR_FACTOR = 1.7
_STORM_TRAVEL_FACTOR = 1.3
_STORM_DECISION_FACTOR = 1.8
# Typhoon: the days around landfall, as multiples of a normal day's fault rate.
_TYPHOON_PROFILE = np.array([4.0, 80.0, 20.0, 4.0])
_TYPHOONS_PER_YEAR = 2.5
_RAINSTORM_DAYS_PER_YEAR = 4
_RAINSTORM_FACTOR = 4.0
_STEP_SHARE = 0.6  # share of feeder, recloser and substation outages restored in steps
_REPAIR_CREW_KINDS = (CrewKind.LINE.value, CrewKind.CABLE.value, CrewKind.MUTUAL_AID.value)
_DEPOTS_PER_DISTRICT = 2  # a district's crews come from its nearest depots
_CREW_TURNAROUND_MINUTES = 10.0
_DISPATCHER = "dispatcher"

_CAUSES = {
    "normal": (
        "Equipment failure 设备故障",
        "Insulator flashover 绝缘子闪络",
        "Cable joint failure 电缆接头故障",
        "Animal contact 小动物接触",
        "Vehicle hit a pole 车辆撞杆",
        "Overload 过负荷",
        "Third-party excavation 外力破坏（施工挖断）",
    ),
    "storm": (
        "Tree fell on the line in typhoon gusts 台风大风致树木倒伏压线",
        "Pole down in the typhoon 台风致电杆倒伏",
        "Lightning strike 雷击",
        "Flooded switchgear 开关柜进水",
        "Debris blown onto the line 大风致异物挂线",
    ),
    "momentary": ("Transient fault cleared by reclosing 瞬时故障，重合闸成功",),
}


@dataclass
class History:
    """Generated history; every frame's columns are columns of its model."""

    outages: pd.DataFrame
    restoration_steps: pd.DataFrame
    etr_changes: pd.DataFrame
    assignments: pd.DataFrame
    breaches: pd.DataFrame
    days: int = 0
    storm_days: int = 0

    def tables(self) -> list[tuple[type[Base], pd.DataFrame]]:
        return [
            (Outage, self.outages),
            (RestorationStep, self.restoration_steps),
            (EtrChange, self.etr_changes),
            (CrewAssignment, self.assignments),
            (SlaBreach, self.breaches),
        ]

    def closed_before(self, moment: datetime) -> History:
        """Only the outages closed by `moment`, with their rows in the other tables."""
        keep = self.outages["closed_at"] <= moment
        if keep.all():
            return self
        ids = self.outages.loc[keep, "id"]

        def belonging(frame: pd.DataFrame, column: str) -> pd.DataFrame:
            return frame[frame[column].isin(ids)].reset_index(drop=True)

        return History(
            outages=self.outages[keep].reset_index(drop=True),
            restoration_steps=belonging(self.restoration_steps, "outage_id"),
            etr_changes=belonging(self.etr_changes, "outage_id"),
            assignments=belonging(self.assignments, "outage_id"),
            breaches=belonging(self.breaches, "subject_id"),
        )

    def summary(self) -> HistorySummary:
        return HistorySummary(
            days=self.days,
            outages=len(self.outages),
            momentary=int(self.outages["dispatched_at"].isna().sum()),
            storm_days=self.storm_days,
        )


@dataclass(frozen=True)
class HistorySummary:
    days: int
    outages: int
    momentary: int
    storm_days: int

    def __str__(self) -> str:
        return (
            f"{self.days} days of history: {self.outages:,} outages ({self.momentary:,} momentary), "
            f"{self.storm_days} storm days"
        )


@dataclass(frozen=True)
class IdStart:
    """The first id each generated table may use (after the rows already in the database)."""

    outage: int = 1
    step: int = 1
    etr: int = 1
    assignment: int = 1
    breach: int = 1


# --- the weather ------------------------------------------------------------------------------


def storm_calendar(days: pd.DatetimeIndex, rng: np.random.Generator) -> np.ndarray:
    """Each day's fault rate as a multiple of an average day: season, typhoons and rainstorms."""
    day_of_year = days.day_of_year.to_numpy()
    # Summer thunderstorms double the rate at the end of July against midwinter.
    factor = 1.0 + 0.35 * np.cos(2 * np.pi * (day_of_year - 205) / 365.25)
    storm = np.zeros(len(days))
    for year in np.unique(days.year):
        in_year = np.flatnonzero(days.year == year)
        season = in_year[(days.month[in_year] >= 7) & (days.month[in_year] <= 9)]
        if len(season) > len(_TYPHOON_PROFILE):
            typhoons = max(1, int(rng.poisson(_TYPHOONS_PER_YEAR)))
            landfalls = rng.choice(season[: -len(_TYPHOON_PROFILE)], size=typhoons, replace=False)
            for first in landfalls:
                strength = rng.lognormal(0.0, 0.35)
                span = slice(first, first + len(_TYPHOON_PROFILE))
                storm[span] = np.maximum(storm[span], _TYPHOON_PROFILE * strength)
        others = in_year[np.isin(days.month[in_year], [4, 5, 6, 10])]
        if len(others):
            picked = rng.choice(others, size=min(_RAINSTORM_DAYS_PER_YEAR, len(others)), replace=False)
            storm[picked] = np.maximum(
                storm[picked], _RAINSTORM_FACTOR * rng.lognormal(0.0, 0.3, len(picked))
            )
    return np.where(storm > 0, factor * storm, factor)


# --- the generator ---------------------------------------------------------------------------


class _Grid:
    """The territory's network as arrays: who is below each device, and where it is."""

    def __init__(self, territory: Territory) -> None:
        devices = territory.devices
        customers = territory.customers
        self.ids = devices["id"].to_numpy(dtype=np.int64)
        self.kinds = devices["kind"].to_numpy().astype(str)
        self.lonlat = devices[["lon", "lat"]].to_numpy(dtype=float)
        row_of = pd.Index(self.ids)
        parent_ids = devices["parent_id"].to_numpy(dtype=np.int64, na_value=-1)
        parent = np.full(len(self.ids), -1, dtype=np.int64)
        has_parent = parent_ids >= 0
        parent[has_parent] = row_of.get_indexer(parent_ids[has_parent])
        area_of_district = dict(zip(territory.districts["id"], territory.districts["area_type"], strict=True))
        self.district = devices["district_id"].to_numpy(dtype=np.int64)
        self.area = np.array([area_of_district[d] for d in self.district])

        at_device = row_of.get_indexer(customers["transformer_id"].to_numpy())
        columns = [np.ones(len(customers)), customers["priority_weight"].to_numpy(dtype=float)]
        for key in IMPORTANCE_ORDER:
            if key == CustomerKind.LIFE_SUPPORT.value:
                columns.append((customers["kind"] == key).to_numpy(dtype=float))
            else:
                columns.append((customers["importance"] == key).to_numpy(dtype=float))
        per_device = np.zeros((len(self.ids), len(columns)))
        np.add.at(per_device, at_device, np.column_stack(columns))
        below = subtree_totals(parent, per_device)
        self.customers_below = np.rint(below[:, 0]).astype(np.int64)
        self.weight_below = below[:, 1]
        self.important_below = np.rint(below[:, 2:]).astype(np.int64)
        self.parent = parent


class _Crews:
    """Repair crews, and for each district the crews of its nearest depots."""

    def __init__(self, territory: Territory) -> None:
        crews = territory.crews
        repair = crews[crews["kind"].isin(_REPAIR_CREW_KINDS) & crews["home_depot_id"].notna()]
        self.ids = repair["id"].to_numpy(dtype=np.int64)
        self.codes = repair["code"].to_numpy().astype(str)
        depots = territory.depots[~territory.depots["is_staging"]]
        depot_ids = depots["id"].to_numpy()
        depot_xy = _km(depots["lon"].to_numpy(), depots["lat"].to_numpy())
        crew_depot = repair["home_depot_id"].to_numpy(dtype=np.int64)
        self.pool: dict[int, np.ndarray] = {}
        for district_id, lon, lat in territory.districts[["id", "centroid_lon", "centroid_lat"]].itertuples(
            index=False
        ):
            gap = depot_xy - _km(np.array([lon]), np.array([lat]))
            nearest = depot_ids[np.argsort(np.hypot(gap[:, 0], gap[:, 1]))[:_DEPOTS_PER_DISTRICT]]
            members = np.flatnonzero(np.isin(crew_depot, nearest))
            self.pool[int(district_id)] = members if len(members) else np.arange(len(self.ids))


def _km(lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    """Rough local kilometres; enough to rank depots by distance."""
    return np.column_stack([lon * 111.32 * math.cos(math.radians(float(np.mean(lat)))), lat * 110.574])


def _minutes(values: np.ndarray) -> np.ndarray:
    """Minutes as numpy timedeltas, to the second, so stored times look like a clock's."""
    return np.rint(np.asarray(values) * 60).astype("timedelta64[s]")


def generate_history(
    territory: Territory,
    now: datetime,
    years: int = DEFAULT_HISTORY_YEARS,
    seed: int = 7,
    ids: IdStart | None = None,
    timezone: str = DEFAULT_TIMEZONE,
) -> History:
    """`years` years of closed outages ending the local day before `now`. Deterministic for a seed."""
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    if years < 0:
        raise InvalidInput("history years must be 0 or more", field="history_years")
    ids = ids or IdStart()
    rng = np.random.default_rng([seed, 1366])
    tz = ZoneInfo(timezone)
    today = now.astimezone(tz).date()
    first_day = today.replace(year=today.year - years) if years else today
    days = pd.date_range(first_day, today - timedelta(days=1), freq="D")
    grid = _Grid(territory)
    weather = storm_calendar(days, rng)
    day_starts = pd.date_range(first_day, periods=len(days), freq="D", tz=tz).tz_convert("UTC")
    day_starts = day_starts.tz_localize(None).to_numpy().astype("datetime64[s]")

    sustained_rows, sustained_days = _draw_faults(grid, weather, _FAULTS_PER_YEAR, rng)
    momentary_rows, momentary_days = _draw_faults(grid, weather, _MOMENTARY_PER_YEAR, rng)
    rows = np.concatenate([sustained_rows, momentary_rows])
    day = np.concatenate([sustained_days, momentary_days])
    momentary = np.concatenate([np.zeros(len(sustained_rows), bool), np.ones(len(momentary_rows), bool)])
    # Faults come more in the afternoon (thunderstorms, load); minutes of the local day.
    minute_of_day = (rng.beta(2.2, 1.8, len(rows)) * 1440).clip(0, 1439.98)
    start = day_starts[day] + _minutes(minute_of_day)
    order = np.lexsort((rows, start))
    rows, day, momentary, start = rows[order], day[order], momentary[order], start[order]
    storm = weather[day] >= 2.0
    history = _Builder(grid, _Crews(territory), rng, ids).build(rows, start, storm, momentary)
    # A fault late last night may still be out at `now` in the early morning: history is only what
    # has been closed, so that outage is left out rather than given times in the future.
    history = history.closed_before(now)
    history.days = len(days)
    history.storm_days = int((weather >= 2.0).sum())
    return history


def _draw_faults(
    grid: _Grid, weather: np.ndarray, per_year: dict[str, float], rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Which device fails on which day: Poisson counts per day, devices weighted by exposure."""
    all_rows: list[np.ndarray] = []
    all_days: list[np.ndarray] = []
    exposure = np.array([_AREA_EXPOSURE[a] for a in grid.area])
    for kind, rate in per_year.items():
        candidates = np.flatnonzero((grid.kinds == kind) & (grid.customers_below > 0))
        if not len(candidates) or not len(weather):
            continue
        # Storms hit exposed rural lines harder than the city's cables.
        for stormy in (False, True):
            weight = exposure[candidates] ** (1.5 if stormy else 1.0)
            expected = weather * rate * weight.sum() / 365.25
            counts = rng.poisson(np.where((weather >= 2.0) == stormy, expected, 0.0))
            total = int(counts.sum())
            all_rows.append(rng.choice(candidates, size=total, p=weight / weight.sum()))
            all_days.append(np.repeat(np.arange(len(weather)), counts))
    if not all_rows:
        return np.array([], dtype=np.int64), np.array([], dtype=np.int64)
    return np.concatenate(all_rows).astype(np.int64), np.concatenate(all_days).astype(np.int64)


class _Builder:
    """Turns faults into the rows the live system writes while dispatchers and crews handle them."""

    def __init__(self, grid: _Grid, crews: _Crews, rng: np.random.Generator, ids: IdStart) -> None:
        self.grid = grid
        self.crews = crews
        self.rng = rng
        self.ids = ids

    def build(self, rows: np.ndarray, start: np.ndarray, storm: np.ndarray, momentary: np.ndarray) -> History:
        grid, rng = self.grid, self.rng
        n = len(rows)
        outage_ids = self.ids.outage + np.arange(n)
        kinds = grid.kinds[rows]
        area = grid.area[rows]
        scada = np.isin(
            kinds, [DeviceKind.BREAKER.value, DeviceKind.RECLOSER.value, DeviceKind.SUBSTATION.value]
        )
        sustained = ~momentary

        # Reports and confirmation: SCADA knows at once; elsewhere customers call and a dispatcher
        # confirms the prediction.
        predicted = start + np.where(scada, 0, _minutes(rng.uniform(0.2, 1.0, n)))
        confirmed = np.where(scada, start, predicted + _minutes(rng.lognormal(math.log(2.0), 0.5, n)))
        decision = rng.lognormal(math.log(2.5), 0.5, n) * np.where(storm, _STORM_DECISION_FACTOR, 1.0)
        ready = confirmed + _minutes(decision)
        mobilise = rng.lognormal(math.log(3.0), 0.35, n)
        travel = rng.lognormal(0.0, 0.45, n) * np.array([_TRAVEL_MEDIAN_MINUTES[a] for a in area])
        travel *= np.where(storm, _STORM_TRAVEL_FACTOR, 1.0)
        repair = rng.lognormal(0.0, 0.6, n) * np.array([_REPAIR_MEDIAN_MINUTES[k] for k in kinds])
        repair *= np.array([_REPAIR_AREA_FACTOR[a] for a in area]) * np.where(
            storm, _STORM_REPAIR_FACTOR, 1.0
        )

        crew_index, dispatched = self._assign_crews(rows, ready, mobilise + travel + repair, sustained)
        en_route = dispatched + _minutes(mobilise)
        on_site = en_route + _minutes(travel)
        restored = np.where(
            sustained, on_site + _minutes(repair), start + _minutes(rng.uniform(0.05, 3.0, n))
        )
        closed = restored + _minutes(rng.lognormal(math.log(40.0), 0.7, n))

        nat = np.datetime64("NaT", "s")
        frame = pd.DataFrame(
            {
                "id": outage_ids,
                "state": OutageState.CLOSED.value,
                "device_id": grid.ids[rows],
                "district_id": grid.district[rows],
                "cause": self._causes(storm, momentary),
                "hazard": sustained & (rng.random(n) < np.where(storm, 0.12, 0.02)),
                "nested": False,
                "first_report_at": _utc(start),
                "last_report_at": _utc(np.where(scada, start, start + _minutes(rng.uniform(1, 25, n)))),
                "predicted_at": _utc(predicted),
                "confirmed_at": _utc(confirmed),
                "confirmed_by": np.where(scada, "scada", _DISPATCHER),
                "dispatched_at": _utc(np.where(sustained, dispatched, nat)),
                "en_route_at": _utc(np.where(sustained, en_route, nat)),
                "on_site_at": _utc(np.where(sustained, on_site, nat)),
                "restored_at": _utc(restored),
                "closed_at": _utc(closed),
                "customers_affected": grid.customers_below[rows],
                "customers_restored": grid.customers_below[rows],
                "weighted_customers": grid.weight_below[rows],
                "important_affected": self._important(rows),
                "report_count": np.where(
                    momentary, 1, 1 + rng.poisson(0.04 * grid.customers_below[rows] + 1.0)
                ),
                "version": 1,
            }
        )
        if "verified_at" in Outage.__table__.c:
            # Restoration verified when the outage was closed.
            frame["verified_at"] = frame["closed_at"]
        steps = self._steps(frame, rows, on_site, restored, scada, sustained)
        etrs = self._etrs(frame, kinds, area, storm, dispatched, travel, on_site, restored, crew_index)
        assignments = self._assignments(frame, crew_index, dispatched, en_route, on_site, restored, travel)
        breaches = self._breaches(frame, start, dispatched, on_site, sustained)
        return History(frame, steps, etrs, assignments, breaches)

    def _assign_crews(
        self, rows: np.ndarray, ready: np.ndarray, busy_minutes: np.ndarray, sustained: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Give each sustained outage, in time order, the crew of its pool that is free first.

        A crew still busy with an earlier job delays the dispatch: that is the "no crew free" breach
        of storm days. Sequential by nature (each job frees its crew later), but only arithmetic.
        """
        crews = self.crews
        free_at = np.zeros(len(crews.ids))
        crew_index = np.full(len(rows), -1, dtype=np.int64)
        dispatched = ready.copy()
        ready_s = ready.astype("datetime64[s]").astype(np.int64).astype(float)
        districts = self.grid.district[rows]
        for i in np.flatnonzero(sustained):
            pool = crews.pool[int(districts[i])]
            chosen = int(pool[np.argmin(free_at[pool])])
            at = max(ready_s[i], free_at[chosen])
            crew_index[i] = chosen
            dispatched[i] = np.datetime64(int(at), "s")
            free_at[chosen] = at + (busy_minutes[i] + _CREW_TURNAROUND_MINUTES) * 60
        return crew_index, dispatched

    def _causes(self, storm: np.ndarray, momentary: np.ndarray) -> np.ndarray:
        rng = self.rng
        normal = rng.choice(np.array(_CAUSES["normal"]), len(storm))
        stormy = rng.choice(np.array(_CAUSES["storm"]), len(storm))
        return np.where(momentary, _CAUSES["momentary"][0], np.where(storm, stormy, normal))

    def _important(self, rows: np.ndarray) -> list[dict[str, int]]:
        counts = self.grid.important_below[rows]
        return [
            {key: int(value) for key, value in zip(IMPORTANCE_ORDER, row, strict=True) if value}
            for row in counts.tolist()
        ]

    def _steps(
        self,
        frame: pd.DataFrame,
        rows: np.ndarray,
        on_site: np.ndarray,
        restored: np.ndarray,
        scada: np.ndarray,
        sustained: np.ndarray,
    ) -> pd.DataFrame:
        """One step per outage, and for some large ones a switching step before the repair."""
        rng = self.rng
        customers = frame["customers_affected"].to_numpy()
        in_steps = sustained & scada & (customers >= 2) & (rng.random(len(frame)) < _STEP_SHARE)
        switched_at = on_site + _minutes(rng.lognormal(math.log(15.0), 0.5, len(frame)))
        in_steps &= switched_at < restored
        first = np.where(in_steps, np.maximum(1, np.rint(customers * rng.uniform(0.3, 0.8, len(frame)))), 0)
        first = np.minimum(first, customers - 1).astype(np.int64)
        momentary = ~sustained
        step_outage = np.concatenate([frame["id"].to_numpy()[in_steps], frame["id"].to_numpy()])
        at = np.concatenate([switched_at[in_steps], restored])
        restored_count = np.concatenate([first[in_steps], customers - first])
        by = np.concatenate(
            [np.full(int(in_steps.sum()), _DISPATCHER), np.where(momentary, "scada", _DISPATCHER)]
        ).astype(object)
        note = np.concatenate(
            [
                np.full(int(in_steps.sum()), "Switched to a neighbouring feeder 转供恢复"),
                np.where(momentary, "SCADA: device closed", np.array(None, dtype=object)),
            ]
        ).astype(object)
        device = np.concatenate(
            [np.full(int(in_steps.sum()), None, dtype=object), np.where(momentary, frame["device_id"], None)]
        )
        steps = pd.DataFrame(
            {
                "outage_id": step_outage,
                "at": _utc(at),
                "customers_restored": restored_count,
                "device_id": device,
                "by": by,
                "note": note,
            }
        ).sort_values(["outage_id", "at"], kind="stable")
        steps.insert(0, "id", self.ids.step + np.arange(len(steps)))
        return steps.reset_index(drop=True)

    def _etrs(
        self,
        frame: pd.DataFrame,
        kinds: np.ndarray,
        area: np.ndarray,
        storm: np.ndarray,
        dispatched: np.ndarray,
        travel: np.ndarray,
        on_site: np.ndarray,
        restored: np.ndarray,
        crew_index: np.ndarray,
    ) -> pd.DataFrame:
        """The system's ETR at dispatch, the crew's once on site, and a second look on long jobs."""
        rng = self.rng
        sustained = crew_index >= 0
        typical = np.array(
            [DEFAULT_SETTINGS[f"etr.repair_{k}_minutes"][0] for k in kinds], dtype=float
        ) * np.array([{"urban": 1.0, "rural": 1.3, "remote": 1.6}[a] for a in area])
        typical *= np.where(storm, DEFAULT_SETTINGS["etr.disaster_factor"][0], 1.0)
        system_etr = _round_up_15(dispatched + _minutes(travel + 5 + typical))
        codes = np.where(sustained, self.crews.codes[np.maximum(crew_index, 0)], "")
        outage_id = frame["id"].to_numpy()
        parts = [
            pd.DataFrame(
                {
                    "outage_id": outage_id[sustained],
                    "etr_at": system_etr[sustained],
                    "source": EtrSource.SYSTEM.value,
                    "confidence": EtrConfidence.LOW.value,
                    "set_at": dispatched[sustained],
                    "set_by": _DISPATCHER,
                    "note": [
                        f"crew {code} dispatched, {minutes:.0f} min away"
                        for code, minutes in zip(codes[sustained], travel[sustained] + 5, strict=True)
                    ],
                }
            )
        ]
        job = (restored - on_site).astype("timedelta64[s]").astype(float) / 60
        crew_look = on_site + _minutes(rng.uniform(5, 20, len(frame)))
        by_crew = sustained & (rng.random(len(frame)) < 0.7) & (crew_look < restored)
        crew_etr = _round_up_15(restored + _minutes(rng.normal(0, 0.3, len(frame)) * job))
        parts.append(self._etr_part(outage_id, by_crew, crew_etr, crew_look, codes, EtrConfidence.MEDIUM))
        second_look = on_site + _minutes(job * rng.uniform(0.5, 0.8, len(frame)))
        revised = by_crew & (job > 90) & (rng.random(len(frame)) < 0.4) & (second_look > crew_look)
        second_etr = _round_up_15(restored + _minutes(rng.normal(0, 0.1, len(frame)) * job))
        parts.append(self._etr_part(outage_id, revised, second_etr, second_look, codes, EtrConfidence.HIGH))
        etrs = pd.concat(parts, ignore_index=True).sort_values(["outage_id", "set_at"], kind="stable")
        etrs["etr_at"] = _utc(etrs["etr_at"].to_numpy())
        etrs["set_at"] = _utc(etrs["set_at"].to_numpy())
        etrs.insert(0, "id", self.ids.etr + np.arange(len(etrs)))
        etrs = etrs.reset_index(drop=True)
        latest = etrs.groupby("outage_id").last()
        position = frame["id"].map(pd.Series(np.arange(len(latest)), index=latest.index))
        has = position.notna().to_numpy()
        where = position[has].astype(int).to_numpy()
        frame["etr_at"] = pd.Series(pd.NaT, index=frame.index, dtype="datetime64[us, UTC]")
        frame["etr_set_at"] = frame["etr_at"].copy()
        frame.loc[has, "etr_at"] = latest["etr_at"].to_numpy()[where]
        frame.loc[has, "etr_set_at"] = latest["set_at"].to_numpy()[where]
        frame["etr_source"] = None
        frame["etr_confidence"] = None
        frame.loc[has, "etr_source"] = latest["source"].to_numpy()[where]
        frame.loc[has, "etr_confidence"] = latest["confidence"].to_numpy()[where]
        return etrs

    @staticmethod
    def _etr_part(
        outage_id: np.ndarray,
        chosen: np.ndarray,
        etr: np.ndarray,
        set_at: np.ndarray,
        codes: np.ndarray,
        confidence: EtrConfidence,
    ) -> pd.DataFrame:
        return pd.DataFrame(
            {
                "outage_id": outage_id[chosen],
                "etr_at": etr[chosen],
                "source": EtrSource.CREW.value,
                "confidence": confidence.value,
                "set_at": set_at[chosen],
                "set_by": codes[chosen],
                "note": None,
            }
        )

    def _assignments(
        self,
        frame: pd.DataFrame,
        crew_index: np.ndarray,
        dispatched: np.ndarray,
        en_route: np.ndarray,
        on_site: np.ndarray,
        restored: np.ndarray,
        travel: np.ndarray,
    ) -> pd.DataFrame:
        chosen = crew_index >= 0
        count = int(chosen.sum())
        return pd.DataFrame(
            {
                "id": self.ids.assignment + np.arange(count),
                "outage_id": frame["id"].to_numpy()[chosen],
                "crew_id": self.crews.ids[crew_index[chosen]],
                "status": AssignmentStatus.COMPLETE.value,
                "assigned_at": _utc(dispatched[chosen]),
                "assigned_by": _DISPATCHER,
                "eta_at": _utc(dispatched[chosen] + _minutes(travel[chosen] + 5)),
                "en_route_at": _utc(en_route[chosen]),
                "on_site_at": _utc(on_site[chosen]),
                "completed_at": _utc(restored[chosen]),
                "version": 1,
            }
        )

    def _breaches(
        self,
        frame: pd.DataFrame,
        start: np.ndarray,
        dispatched: np.ndarray,
        on_site: np.ndarray,
        sustained: np.ndarray,
    ) -> pd.DataFrame:
        """The breaches the SLA monitor would have recorded (it looks every 30 seconds)."""
        parts = []
        for target in DEFAULT_SLA_TARGETS:
            if target.applies_to != "outage" or not target.enforced or target.limit_minutes is None:
                continue
            stop = {"dispatched": dispatched, "on_site": on_site}.get(target.stops_on)
            if stop is None:
                continue
            deadline = start + _minutes(np.full(len(start), float(target.limit_minutes)))
            late = sustained & (stop > deadline)
            found = deadline[late] + _minutes(self.rng.uniform(0, 0.5, int(late.sum())))
            parts.append(
                pd.DataFrame(
                    {
                        "subject_kind": "outage",
                        "subject_id": frame["id"].to_numpy()[late],
                        "code": target.code,
                        "deadline": _utc(deadline[late]),
                        "breached_at": _utc(found),
                        "notified_at": _utc(found),
                    }
                )
            )
        breaches = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()
        breaches.insert(0, "id", self.ids.breach + np.arange(len(breaches)))
        return breaches


def _utc(values: np.ndarray) -> pd.DatetimeIndex:
    # An index, not a Series: assigned to a sorted frame it goes by position. A Series would be
    # lined up by label and put each time on another row.
    return pd.to_datetime(values).tz_localize("UTC")


def _round_up_15(values: np.ndarray) -> np.ndarray:
    """System and crew ETRs are given to a quarter of an hour, like the live system's."""
    seconds = values.astype("datetime64[s]").astype(np.int64)
    return (np.ceil(seconds / 900) * 900).astype(np.int64).astype("datetime64[s]")


# --- loading ---------------------------------------------------------------------------------


def next_ids(session: Session) -> IdStart:
    def after(id_column: InstrumentedAttribute[int]) -> int:
        return int(session.scalar(select(func.max(id_column))) or 0) + 1

    return IdStart(
        outage=after(Outage.id),
        step=after(RestorationStep.id),
        etr=after(EtrChange.id),
        assignment=after(CrewAssignment.id),
        breach=after(SlaBreach.id),
    )


def insert_history(session: Session, history: History) -> None:
    """Bulk-insert the history in the caller's transaction, with the ids it was generated with."""
    for model, frame in history.tables():
        if frame.empty:
            continue
        table = Base.metadata.tables[model.__tablename__]
        columns = list(frame.columns)
        values = [_plain(frame[column]) for column in columns]
        if model is Outage:
            # important_affected is JSON (a dict per row), which the tuple fast path cannot take.
            session.execute(
                insert(table), [dict(zip(columns, row, strict=True)) for row in zip(*values, strict=True)]
            )
        else:
            insert_columns(session, table, dict(zip(columns, values, strict=True)))
    if session.get_bind().dialect.name == "postgresql":
        for model, _ in history.tables():
            name = model.__tablename__
            session.execute(
                text(
                    f"SELECT setval(pg_get_serial_sequence('{name}', 'id'), MAX(id)) FROM {name} "
                    "HAVING MAX(id) IS NOT NULL"
                )
            )


def _plain(series: pd.Series) -> list[Any]:
    if isinstance(series.dtype, pd.DatetimeTZDtype):
        # Converted in one call (five times faster than Timestamp by Timestamp); NaT becomes None.
        values = series.dt.to_pydatetime()
        return values.where(series.notna(), None).tolist()
    if series.dtype == object or series.hasnans:
        return [None if _missing(value) else _scalar(value) for value in series.tolist()]
    return series.tolist()


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NaT


def _scalar(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


def load_history(
    db: Database,
    clock: Clock,
    territory: Territory,
    years: int = DEFAULT_HISTORY_YEARS,
    seed: int = 7,
    timezone: str = DEFAULT_TIMEZONE,
) -> HistorySummary:
    """Generate and insert `years` of history for a territory already loaded, in one transaction."""
    with db.write() as session:
        history = generate_history(territory, clock.now(), years, seed, next_ids(session), timezone)
        insert_history(session, history)
        summary = history.summary()
        audit.record(session, clock, CLI_ADMIN, "territory.load_history", "territory", detail=str(summary))
    return summary
