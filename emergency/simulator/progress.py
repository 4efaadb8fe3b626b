"""What a simulation run has done so far, as its progress line and the `simulate --json` summary say.

Counting what the run did itself (devices it broke, reports it sent, crews it dispatched) is only
half of it: the map also shows outages the run did not open (the demo's own, those of an earlier
run, those people reported) and the run's own predictions that trouble-call analysis merged into
a larger outage. `tally` reads those from the database, so "outages" counts outages a person
sees on the map, "still active" is true while the run is going and not only at its end, and an
idle storm's first minutes ("0 devices failed") sit beside the outages already on the map.

The counters are plain data (`to_json` / `from_json`), so the live demo keeps them in its run
and a process that takes the run over carries on counting instead of starting again at 0.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from emergency.core.models import ACTIVE_OUTAGE_STATES, Outage, OutageState

# What the run counts as it goes (the rest comes from `tally`); kept with a live demo's run.
COUNTERS = (
    "damages",
    "reports_sent",
    "reports_refused",
    "dispatched",
    "restored",
    "false_alarms",
    "meter_pings",
)
LOCATION_VERDICTS = (
    "exact",
    "too_high",
    "too_low",
    "split",
    "none",
    "behind",
)  # emergency.simulator.location


@dataclass
class RunSummary:
    scenario: str
    seed: int
    minutes: float
    damages: int = 0
    reports_sent: int = 0
    reports_refused: int = 0
    outages: set[int] = field(default_factory=set)  # every outage the run's reports opened
    dispatched: int = 0
    restored: int = 0  # outages the run's crews restored (not those a person or SCADA did first)
    false_alarms: int = 0
    still_active: int = 0  # of the run's outages, as of the last tally
    merged: int = 0  # of the run's outages, absorbed into a larger one (not a separate outage)
    other_active: int = 0  # active outages the run did not open: from before it, or reported by people
    meter_pings: int = 0  # smart meters the run's follow-up asked (#21 point 3)
    # Each fault the storm caused (device id): where the run's outages stood for it, the latest
    # judgement before its repair (emergency.simulator.location).
    located: dict[int, str] = field(default_factory=dict)

    def location(self) -> dict[str, int]:
        """Faults by verdict: exact, too high, too low, split over several outages, none, or behind
        another fault above it (emergency.simulator.location)."""
        verdicts = list(self.located.values())
        return {v: verdicts.count(v) for v in LOCATION_VERDICTS}

    def location_line(self) -> str:
        found = self.location()
        share = f"{found['exact'] / len(self.located):.0%}" if self.located else "—"
        return (
            f"location of {len(self.located)} faults: {found['exact']} exact ({share}), "
            f"{found['too_high']} too high, {found['too_low']} too low, {found['split']} split, "
            f"{found['none']} with no outage, {found['behind']} behind another fault; "
            f"{self.meter_pings} meters pinged"
        )

    @property
    def outages_found(self) -> int:
        """The run's outages a person sees as outages: merged predictions live on in another."""
        return len(self.outages) - self.merged

    def line(self) -> str:
        return (
            f"{self.scenario} (seed {self.seed}): {self.minutes:.0f} simulated minutes, {self.damages} "
            f"devices failed, {self.reports_sent} reports sent ({self.reports_refused} refused by intake), "
            f"{self.outages_found} outages, {self.dispatched} crews dispatched by the simulator, "
            f"{self.restored} outages restored, {self.false_alarms} false alarms cancelled, "
            f"{self.still_active} still active, {self.other_active} other outages active; "
            + self.location_line()
        )

    def counts(self) -> dict[str, int]:
        """The figures of `line()` as data, for a page to say in its reader's language."""
        return {
            "minutes": round(self.minutes),
            "damages": self.damages,
            "reports_sent": self.reports_sent,
            "reports_refused": self.reports_refused,
            "outages": self.outages_found,
            "dispatched": self.dispatched,
            "restored": self.restored,
            "false_alarms": self.false_alarms,
            "still_active": self.still_active,
            "other_active": self.other_active,
            "meter_pings": self.meter_pings,
            **{f"located_{verdict}": n for verdict, n in self.location().items()},
        }

    def to_json(self) -> dict[str, Any]:
        """The counters the database cannot tell again, for a process that takes the run over."""
        return {
            **{name: getattr(self, name) for name in COUNTERS},
            "outages": sorted(self.outages),
            "located": {str(device): verdict for device, verdict in sorted(self.located.items())},
        }

    def carry_on_from(self, saved: dict[str, Any]) -> None:
        """Continue the counts of the run as `to_json` saved them."""
        for name in COUNTERS:
            setattr(self, name, int(saved.get(name, 0)))
        self.outages = {int(i) for i in saved.get("outages", ())}
        self.located = {int(device): str(v) for device, v in dict(saved.get("located", {})).items()}


def tally(session: Session, summary: RunSummary) -> None:
    """Bring the counts the database knows up to date: the run's outages still active and merged,
    and the active outages the run did not open."""
    ids = sorted(summary.outages)
    by_state: dict[str, int] = {}
    if ids:
        rows = session.execute(
            select(Outage.state, func.count()).where(Outage.id.in_(ids)).group_by(Outage.state)
        ).all()
        by_state = {str(state): int(count) for state, count in rows}
    summary.still_active = sum(by_state.get(str(state), 0) for state in ACTIVE_OUTAGE_STATES)
    summary.merged = by_state.get(str(OutageState.MERGED), 0)
    active = session.scalar(
        select(func.count()).select_from(Outage).where(Outage.state.in_(ACTIVE_OUTAGE_STATES))
    )
    summary.other_active = int(active or 0) - summary.still_active
