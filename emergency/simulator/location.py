"""Location accuracy of a simulated storm: where the outages stand against the faults it caused.

The simulator knows the truth (which devices it broke); trouble-call analysis only sees reports.
After each batch of reports every fault still unrepaired is judged against the run's active
outages on its feeder path, as `bench tca` judges a fault:

- `exact`: one outage, at the faulted device;
- `too_high`: one outage at a device above it (a larger section patrolled, more customers counted);
- `too_low`: one outage below it (a transformer or one customer's service: fewer counted);
- `split`: several outages for the one fault;
- `none`: no outage for it yet;
- `behind`: no outage for it, but another fault above it is still unrepaired: its customers are out
  for that one, so there is nothing to see of it until that one is repaired.

The outages judged are those holding the run's own reports (an outage from before the run, or one
people reported elsewhere, is another fault's).

An outage below another fault under this one belongs to that fault, and one at or above another
fault up the line belongs to that one (a fault below a broken device shows nothing until that
device is repaired). A fault's verdict is the latest one before its repair: where the prediction
stood when the crews worked on it.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.orm import Session

from emergency.core.models import ACTIVE_OUTAGE_STATES, Outage, OutageState
from emergency.simulator.grid import Territory


def run_outages(session: Session, territory: Territory, outage_ids: set[int]) -> list[tuple[int, bool]]:
    """(device index, is one customer's service outage) of the active outages holding the run's
    reports: `outage_ids` are the outages its reports joined, followed through merges (and updated
    in place to the outages they live on in, so the set stays small)."""
    active: dict[int, tuple[int, bool]] = {}
    looking = set(outage_ids)
    seen: set[int] = set()
    while looking:
        seen |= looking
        ids = sorted(looking)
        looking = set()
        for start in range(0, len(ids), 900):
            rows = session.execute(
                select(
                    Outage.id, Outage.state, Outage.merged_into_id, Outage.device_id, Outage.customer_id
                ).where(Outage.id.in_(ids[start : start + 900]))
            )
            for outage_id, state, merged_into, device, customer in rows:
                if state in ACTIVE_OUTAGE_STATES and device in territory.index_of:
                    active[outage_id] = (territory.index_of[device], customer is not None)
                elif state == OutageState.MERGED and merged_into is not None and merged_into not in seen:
                    looking.add(merged_into)
    outage_ids.clear()
    outage_ids.update(active)
    return list(active.values())


def judge(territory: Territory, faults: Iterable[int], outages: list[tuple[int, bool]]) -> dict[int, str]:
    """The verdict of each faulted device index (see the module docstring)."""
    faults = list(faults)
    broken = set(faults)
    verdicts: dict[int, str] = {}
    for fault in faults:
        above: set[int] = set()
        masked = False
        for up in territory.path(fault)[1:]:
            if up in broken:
                masked = True  # an outage at or above another fault up the line is that fault's
                break
            above.add(up)
        tin, tout = territory.tin[fault], territory.tout[fault]
        others_below = [f for f in broken if f != fault and tin <= territory.tin[f] < tout]
        mine: list[tuple[int, bool]] = []
        for device, service in outages:
            if device in above or (
                tin <= territory.tin[device] < tout
                and not any(
                    territory.tin[f] <= territory.tin[device] < territory.tout[f] for f in others_below
                )
            ):
                mine.append((device, service))
        verdicts[fault] = "behind" if masked and not mine else _verdict(fault, above, mine)
    return verdicts


def _verdict(fault: int, above: set[int], mine: list[tuple[int, bool]]) -> str:
    if not mine:
        return "none"
    if len(mine) > 1:
        return "split"
    ((device, service),) = mine
    if device == fault and not service:
        return "exact"
    return "too_high" if device in above else "too_low"
