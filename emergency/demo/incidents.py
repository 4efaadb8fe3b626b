"""The demo's active outages for the first screen: a SCADA-tripped feeder, fuses, transformers and one
hazard, with their calls, ETRs and crew assignments, every count taken from the network the way the
services take it.

`Outage.important_affected` counts only the keys in `IMPORTANCE_ORDER` that are non-zero.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd

from emergency.core.models import (
    AssignmentStatus,
    CrewAssignment,
    CrewKind,
    CrewStatus,
    CustomerKind,
    DeviceKind,
    EtrChange,
    EtrConfidence,
    EtrSource,
    Outage,
    OutageState,
    Report,
    ReportChannel,
    ReportKind,
    ReportStatus,
    SwitchState,
)
from emergency.core.vocabulary import IMPORTANCE_ORDER
from emergency.demo.columns import model_columns, model_frame, round_up
from emergency.demo.customers import Customers
from emergency.demo.geography import Projection
from emergency.demo.grid import Network
from emergency.demo.parameters import DEFAULT_CUSTOMERS
from emergency.network.model import RadialNetwork


@dataclass
class _Incidents:
    outages: pd.DataFrame
    reports: pd.DataFrame
    etr_changes: pd.DataFrame
    assignments: pd.DataFrame


@dataclass
class _Plan:
    """One demo outage before its reports exist: the device, the story and when calls come in."""

    device: int  # row in the devices frame
    story: str
    calls: list[tuple[int, int]]  # (transformer index, calls on it)
    start: datetime  # the fault: a SCADA trip, or the first customer's call
    calls_until: datetime


_BREAKER_STORIES = ("on_site", "dispatched", "confirmed")
_FUSE_STORIES = ("predicted", "dispatched")
_TRANSFORMER_STORIES = ("hazard", "predicted", "late", "predicted", "predicted")
_CALL_CHANNELS = (ReportChannel.HOTLINE, ReportChannel.APP, ReportChannel.WEB, ReportChannel.SMS)
_CALL_SHARES = np.array([0.45, 0.35, 0.1, 0.1])
_REPAIR_CREW_KINDS = (CrewKind.LINE.value, CrewKind.CABLE.value, CrewKind.MUTUAL_AID.value)
_STORM_SPEED_KMH = 35.0


class IncidentBuilder:
    """Active outages for the first screen: a SCADA-tripped feeder, fuses, transformers, one hazard.

    About eight per 50,000 customers. A tripped breaker shows SCADA open, crews sent out leave the
    available pool, and every count is taken from the network the way the services take it.
    """

    def __init__(
        self,
        params: dict[str, Any],
        projection: Projection,
        devices: pd.DataFrame,
        network: Network,
        customers: Customers,
        crews: pd.DataFrame,
        now: datetime,
        rng: np.random.Generator,
    ) -> None:
        self.params = params
        self.projection = projection
        self.devices = devices
        self.customers = customers
        self.crews = crews
        self.now = now
        self.rng = rng
        self.ids = devices["id"].to_numpy()
        self.kinds = devices["kind"].to_numpy()
        self.codes = devices["code"].tolist()
        self.parent = devices["parent_id"].to_numpy(dtype=np.int64, na_value=0)
        self.feeder = devices["feeder_id"].to_numpy(dtype=np.int64, na_value=0)
        self.lonlat = devices[["lon", "lat"]].to_numpy()
        self.tx_ids = network.transformer_ids
        self.sizes = network.size
        self.starts = np.cumsum(self.sizes) - self.sizes
        tx_rows = np.flatnonzero(self.kinds == DeviceKind.TRANSFORMER.value)
        self.tx_rows = tx_rows
        self.tx_parent = self.parent[tx_rows]
        self.tx_feeder = self.feeder[tx_rows]
        self.local_date = now.astimezone(ZoneInfo(params["city"]["timezone"])).strftime("%Y%m%d")
        self.crew_free = crews["status"].to_numpy() == CrewStatus.AVAILABLE.value
        self.outages: list[dict[str, Any]] = []
        self.reports: list[dict[str, Any]] = []
        self.etrs: list[dict[str, Any]] = []
        self.assignments: list[dict[str, Any]] = []
        self._count_below()

    def _count_below(self) -> None:
        radial = RadialNetwork.from_rows(
            (int(i), int(p) if p else None, k, c)
            for i, p, k, c in zip(self.ids, self.parent, self.kinds, self.codes, strict=True)
        )
        customers = self.customers
        tx_ids = self.tx_ids.tolist()

        def below(per_transformer: np.ndarray) -> dict[int, float]:
            return radial.subtree_sums(dict(zip(tx_ids, per_transformer.tolist(), strict=True)))

        self.customers_below = below(self.sizes)
        self.weight_below = below(
            np.bincount(customers.transformer, weights=customers.priority_weight, minlength=len(tx_ids))
        )
        self.important_below: dict[str, dict[int, float]] = {}
        for key in IMPORTANCE_ORDER:
            if key == "life_support":
                marked = customers.kind == CustomerKind.LIFE_SUPPORT.value
            else:
                marked = customers.importance == key
            self.important_below[key] = below(
                np.bincount(customers.transformer[marked], minlength=len(tx_ids))
            )

    def transformers_below(self, row: int) -> np.ndarray:
        """Indices (into the network's transformers) of the transformers this device feeds."""
        kind = self.kinds[row]
        if kind == DeviceKind.TRANSFORMER.value:
            return np.array([self.ids[row] - self.tx_ids[0]])
        if kind == DeviceKind.BREAKER.value:
            return np.flatnonzero(self.tx_feeder == self.ids[row])
        return np.flatnonzero(self.tx_parent == self.ids[row])

    def _ago(self, low_minutes: float, high_minutes: float) -> datetime:
        return self.now - timedelta(seconds=int(self.rng.uniform(low_minutes * 60, high_minutes * 60)))

    def plan(self) -> list[_Plan]:
        """Pick devices that do not overlap (no outage under another) and give each a story."""
        rng, ids, kinds = self.rng, self.ids, self.kinds
        scale = len(self.customers.account_no) / DEFAULT_CUSTOMERS
        last_call = self.now - timedelta(seconds=40)
        breakers = np.flatnonzero(kinds == DeviceKind.BREAKER.value)
        tripped = np.sort(rng.choice(breakers, size=min(max(1, round(scale)), len(breakers)), replace=False))
        on_tripped = np.isin(self.feeder, ids[tripped])
        laterals = np.bincount(self.tx_parent, minlength=len(ids) + 1)[ids]
        fuse_rows = np.flatnonzero((kinds == DeviceKind.FUSE.value) & ~on_tripped & (laterals >= 2))
        fuses = np.sort(
            rng.choice(fuse_rows, size=min(max(2, round(2 * scale)), len(fuse_rows)), replace=False)
        )
        free_tx = self.tx_rows[~on_tripped[self.tx_rows] & ~np.isin(self.tx_parent, ids[fuses])]
        single = np.sort(rng.choice(free_tx, size=min(max(3, round(5 * scale)), len(free_tx)), replace=False))

        plans: list[_Plan] = []
        for n, row in enumerate(tripped):
            story = _BREAKER_STORIES[n % len(_BREAKER_STORIES)]
            minutes_ago = {"on_site": (38, 46), "dispatched": (7, 9), "confirmed": (4, 6)}[story]
            below = self.transformers_below(int(row))
            hit = rng.choice(below, size=min(len(below), int(rng.integers(4, 8))), replace=False)
            calls = [(int(t), int(rng.integers(1, 3))) for t in hit]
            plans.append(_Plan(int(row), "breaker_" + story, calls, self._ago(*minutes_ago), last_call))
        for n, row in enumerate(fuses):
            story = _FUSE_STORIES[n % len(_FUSE_STORIES)]
            below = self.transformers_below(int(row))
            hit = rng.choice(below, size=min(len(below), int(rng.integers(2, 4))), replace=False)
            # Two calls on each of two transformers is what rolls a prediction up to the fuse.
            calls = [(int(t), 2 + int(rng.integers(0, 2)) if i < 2 else 1) for i, t in enumerate(hit)]
            start = self._ago(6, 8) if story == "predicted" else self._ago(13, 16)
            until = last_call if story == "predicted" else start + timedelta(minutes=7)
            plans.append(_Plan(int(row), "fuse_" + story, calls, start, until))
        for n, row in enumerate(single):
            story = _TRANSFORMER_STORIES[n % len(_TRANSFORMER_STORIES)]
            minutes_ago = {"hazard": (9, 12), "late": (14, 18)}.get(story, (2, 6))
            calls = [(int(ids[row] - self.tx_ids[0]), int(rng.integers(2, 5)))]
            plans.append(_Plan(int(row), "transformer_" + story, calls, self._ago(*minutes_ago), last_call))
        return plans

    def _report(
        self, outage_id: int, at: datetime, channel: ReportChannel, kind: ReportKind, **fields: Any
    ) -> None:
        report_id = len(self.reports) + 1
        external = {
            ReportChannel.HOTLINE: f"95598{self.local_date}{report_id:06d}",
            ReportChannel.SCADA: f"SOE-{report_id:08d}",
            ReportChannel.METER: f"LG-{report_id:08d}",
        }.get(channel, f"{channel.value.upper()}{report_id:010d}")
        delay = {ReportChannel.HOTLINE: 45, ReportChannel.SCADA: 1, ReportChannel.METER: 5}.get(channel, 2)
        record: dict[str, Any] = dict.fromkeys(model_columns(Report))
        record.update(
            id=report_id,
            channel=channel.value,
            external_id=external,
            kind=kind.value,
            reported_at=at,
            received_at=min(at + timedelta(seconds=delay), self.now),
            status=ReportStatus.GROUPED.value,
            outage_id=outage_id,
            **fields,
        )
        self.reports.append(record)

    def _from_customer(self, row: int, with_contact: bool) -> dict[str, Any]:
        customers = self.customers
        fields: dict[str, Any] = {
            "account_no": str(customers.account_no[row]),
            "customer_id": row + 1,
            "lon": float(customers.lonlat[row, 0]),
            "lat": float(customers.lonlat[row, 1]),
            "transformer_id": int(self.tx_ids[customers.transformer[row]]),
        }
        if with_contact:
            # Important users call through their staff contact; everyone else calls for themselves.
            name = customers.contact_name[row] or str(customers.name[row])
            phone = customers.contact_phone[row] or str(customers.phone[row])
            fields.update(contact_name=name[:120], contact_phone=phone)
        return fields

    def _set_etr(
        self,
        outage: dict[str, Any],
        at: datetime,
        etr: datetime,
        source: EtrSource,
        confidence: EtrConfidence,
        by: str,
        note: str | None = None,
    ) -> None:
        self.etrs.append(
            {
                "id": len(self.etrs) + 1,
                "outage_id": outage["id"],
                "etr_at": etr,
                "source": source.value,
                "confidence": confidence.value,
                "set_at": at,
                "set_by": by,
                "note": note,
            }
        )
        outage.update(etr_at=etr, etr_source=source.value, etr_confidence=confidence.value, etr_set_at=at)

    def _nearest_free_crew(self, row: int) -> int:
        """The nearest available crew that repairs lines: a dispatcher's first choice."""
        kinds = self.crews["kind"].to_numpy()
        able = self.crew_free & np.isin(kinds, _REPAIR_CREW_KINDS)
        pool = np.flatnonzero(able if able.any() else self.crew_free)
        gap = self.projection.to_km(self.crews[["lon", "lat"]].to_numpy()[pool]) - self.projection.to_km(
            self.lonlat[row]
        )
        chosen = int(pool[np.argmin(np.hypot(gap[:, 0], gap[:, 1]))])
        self.crew_free[chosen] = False
        return chosen

    def _scada_trip(self, outage_id: int, plan: _Plan) -> list[datetime]:
        """The breaker's trip, then smart meters' last gasps within seconds of it."""
        row, rng = plan.device, self.rng
        self._report(
            outage_id,
            plan.start,
            ReportChannel.SCADA,
            ReportKind.DEVICE_OPENED,
            device_id=int(self.ids[row]),
            lon=float(self.lonlat[row, 0]),
            lat=float(self.lonlat[row, 1]),
            description=f"SCADA: {self.codes[row]} opened (protection trip)",
        )
        self.devices.loc[row, "scada_state"] = SwitchState.OPEN.value
        self.devices.loc[row, "scada_state_at"] = plan.start
        below = self.transformers_below(row)
        homes = np.concatenate([np.arange(self.starts[t], self.starts[t] + self.sizes[t]) for t in below])
        gasps = rng.choice(homes, size=min(40, max(3, round(0.02 * len(homes)))), replace=False)
        times = [plan.start]
        for customer in np.sort(gasps):
            at = plan.start + timedelta(seconds=int(rng.integers(0, 30)))
            self._report(
                outage_id,
                at,
                ReportChannel.METER,
                ReportKind.LAST_GASP,
                **self._from_customer(int(customer), False),
            )
            times.append(at)
        return times

    def _calls(
        self, outage_id: int, plan: _Plan, hazard: bool
    ) -> tuple[list[datetime], dict[int, list[datetime]]]:
        """Customers' calls; returns their times, and the times of the calls on each transformer."""
        rng = self.rng
        texts = self.params["reports"]
        count = sum(n for _, n in plan.calls)
        span = max((plan.calls_until - plan.start).total_seconds(), 60.0)
        offsets = np.sort(rng.uniform(0, span, count))
        if self.kinds[plan.device] != DeviceKind.BREAKER.value:
            offsets -= offsets[0]  # without SCADA, the first call is the start of the outage
        # Calls about different transformers interleave in time, as on a real switchboard.
        slot = rng.permutation(count)
        position = 0
        times: list[datetime] = []
        per_transformer: dict[int, list[datetime]] = {}
        for t, n in plan.calls:
            for pick in rng.choice(int(self.sizes[t]), size=n, replace=False):
                at = plan.start + timedelta(seconds=int(offsets[slot[position]]))
                channel = _CALL_CHANNELS[int(rng.choice(len(_CALL_CHANNELS), p=_CALL_SHARES))]
                kind = ReportKind.NO_POWER
                if hazard and slot[position] == 0:
                    channel, kind = ReportChannel.HOTLINE, ReportKind.HAZARD
                pool = texts["hazard"] if kind == ReportKind.HAZARD else texts[channel.value]
                fields = self._from_customer(int(self.starts[t] + pick), channel != ReportChannel.WEB)
                self._report(outage_id, at, channel, kind, description=str(rng.choice(pool)), **fields)
                times.append(at)
                per_transformer.setdefault(t, []).append(at)
                position += 1
        return times, per_transformer

    def _dispatch(self, outage: dict[str, Any], plan: _Plan) -> None:
        row, story, now = plan.device, plan.story, self.now
        crew = self._nearest_free_crew(row)
        if story == "fuse_dispatched":
            dispatched = plan.start + timedelta(minutes=8)
            outage.update(confirmed_at=dispatched - timedelta(minutes=1), confirmed_by="dispatcher")
        elif story == "breaker_dispatched":
            dispatched = now - timedelta(minutes=2)
        else:
            dispatched = plan.start + timedelta(minutes=5)
        gap = self.projection.to_km(self.crews[["lon", "lat"]].to_numpy()[crew]) - self.projection.to_km(
            self.lonlat[row]
        )
        travel = timedelta(minutes=8 + 60 * float(np.hypot(*gap)) / _STORM_SPEED_KMH)
        assignment: dict[str, Any] = dict.fromkeys(model_columns(CrewAssignment))
        assignment.update(
            id=len(self.assignments) + 1,
            outage_id=outage["id"],
            crew_id=crew + 1,
            status=AssignmentStatus.DISPATCHED.value,
            assigned_at=dispatched,
            assigned_by="dispatcher",
            eta_at=dispatched + travel,
            version=1,
        )
        outage.update(state=OutageState.DISPATCHED.value, dispatched_at=dispatched)
        status, status_at = CrewStatus.DISPATCHED.value, dispatched
        if story == "breaker_on_site":
            en_route, on_site = dispatched + timedelta(minutes=2), plan.start + timedelta(minutes=24)
            assignment.update(status=AssignmentStatus.ON_SITE.value, en_route_at=en_route, on_site_at=on_site)
            outage.update(
                state=OutageState.ON_SITE.value,
                en_route_at=en_route,
                on_site_at=on_site,
                cause="Tree fell on the line in typhoon gusts 台风大风致树木倒伏压线",
            )
            status, status_at = CrewStatus.ON_SITE.value, on_site
            self.crews.loc[crew, ["lon", "lat"]] = self.lonlat[row]
            self.crews.loc[crew, "position_at"] = on_site
            self._set_etr(
                outage,
                on_site + timedelta(minutes=6),
                round_up(now + timedelta(hours=2, minutes=10)),
                EtrSource.CREW,
                EtrConfidence.MEDIUM,
                str(self.crews.at[crew, "code"]),
                "Two spans down, tree to clear first 两档导线断落，需先清理倒树",
            )
        if story == "fuse_dispatched":
            self._set_etr(
                outage,
                dispatched,
                round_up(dispatched + timedelta(hours=2)),
                EtrSource.DISPATCHER,
                EtrConfidence.MEDIUM,
                "dispatcher",
                "Crew dispatched; lateral fuse to replace 已派工，更换支线熔断器",
            )
        self.crews.loc[crew, "status"] = status
        self.crews.loc[crew, "status_at"] = status_at
        self.assignments.append(assignment)

    def build(self) -> _Incidents:
        for outage_id, plan in enumerate(self.plan(), start=1):
            row, story = plan.device, plan.story
            kind = self.kinds[row]
            device_id = int(self.ids[row])
            times = self._scada_trip(outage_id, plan) if kind == DeviceKind.BREAKER.value else []
            hazard = story == "transformer_hazard"
            call_times, per_transformer = self._calls(outage_id, plan, hazard)
            times += call_times
            # A transformer is predicted out at its second call; a fuse when a second transformer is.
            second_calls = sorted(sorted(at)[1] for at in per_transformer.values() if len(at) >= 2)
            outage: dict[str, Any] = dict.fromkeys(model_columns(Outage))
            outage.update(
                id=outage_id,
                state=OutageState.PREDICTED.value,
                device_id=device_id,
                district_id=int(self.devices.at[row, "district_id"]),
                hazard=hazard,
                nested=False,
                first_report_at=min(times),
                customers_affected=int(self.customers_below[device_id]),
                customers_restored=0,
                weighted_customers=float(self.weight_below[device_id]),
                important_affected={
                    key: int(below[device_id])
                    for key, below in self.important_below.items()
                    if below[device_id]
                },
                report_count=len(times),
                version=1,
            )
            if kind == DeviceKind.BREAKER.value:
                outage.update(
                    state=OutageState.CONFIRMED.value,
                    predicted_at=plan.start,
                    confirmed_at=plan.start,
                    confirmed_by="scada",
                )
            else:
                outage["predicted_at"] = second_calls[1] if kind == DeviceKind.FUSE.value else second_calls[0]
            if kind == DeviceKind.BREAKER.value or story == "fuse_predicted":
                # The system's first estimate from the storm backlog: low confidence, on the safe side.
                predicted = outage["predicted_at"]
                self._set_etr(
                    outage,
                    predicted,
                    round_up(predicted + timedelta(hours=4)),
                    EtrSource.SYSTEM,
                    EtrConfidence.LOW,
                    "system",
                )
            if story in ("breaker_on_site", "breaker_dispatched", "fuse_dispatched"):
                self._dispatch(outage, plan)
            self.outages.append(outage)
        return _Incidents(
            outages=model_frame(self.outages, Outage),
            reports=model_frame(self.reports, Report),
            etr_changes=model_frame(self.etrs, EtrChange),
            assignments=model_frame(self.assignments, CrewAssignment),
        )
