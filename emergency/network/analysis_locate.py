"""Evidence-weighted analysis of a batch (`tca.method` = `evidence`): where the batch's calls put faults.

Takes the place of the rules' transformer threshold and roll-up (`_Analysis.predict`, `roll_up`):
the region around the transformers whose calls no outage covers is scored by
`emergency.network.fault_location.explain`, with every waiting call, service outage and active
outage in it as evidence, and each fault of the best explanation becomes an outage through the
same path roll-up uses (`absorb_into_new`), so the earliest first report, breached clocks, crews
and ETRs of what it takes over carry over. A prediction moves up as evidence arrives; it never
moves down (an outage already standing may only be taken over from above). What no fault explains
is left to `open_service_outages`, as with the rules.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from emergency.core.models import DeviceKind, OutageState
from emergency.core.vocabulary import PROTECTIVE_KINDS
from emergency.network.fault_location import Evidence, LocationParams, Region, explain

if TYPE_CHECKING:
    from emergency.network.analysis import _Analysis

_PREDICTABLE = PROTECTIVE_KINDS | {DeviceKind.TRANSFORMER}


def locate_faults(analysis: _Analysis, touched: set[int]) -> None:
    """Predict the faults that best explain the calls on the `touched` transformers' region."""
    params = analysis.rules.location
    assert params is not None, "evidence analysis needs its settings (TcaRules.location)"
    starts = sorted(t for t in touched if analysis.covering(t) is None)
    if not starts:
        return
    parent: dict[int, int | None] = {}
    for transformer in starts:
        add_path(analysis, transformer, parent)
    horizon = _newest(analysis, starts) - analysis.rules.window
    evidence = region_evidence(analysis, parent, horizon)
    model = analysis.model
    proven = _above_confirmed(analysis, parent)
    region = Region(
        parent=parent,
        kind={node: str(analysis.net.kinds[node]) for node in parent},
        customers={node: int(model.customers_below[node]) for node in parent},
        predictable={
            node
            for node in parent
            if analysis.net.kinds[node] in _PREDICTABLE
            and not analysis._telemetry_closed(node)
            and node not in proven
        },
        evidence=evidence,
    )
    for located in explain(region, params):
        predict_at(analysis, located.node, located.confidence)
    # A wire down is a danger at that transformer whatever else is seen: an outage there at once.
    for transformer in starts:
        calls = analysis.pending.get(transformer, [])
        if analysis.covering(transformer) is None and any(c[0] in analysis.hazard_reports for c in calls):
            analysis.absorb_into_new(transformer, [])


def add_path(analysis: _Analysis, start: int, parent: dict[int, int | None]) -> bool:
    """Add `start`'s path up to where roll-up would stop; False when it stops at once."""
    path = analysis.model.path(start)
    for position, node in enumerate(path):
        if node in parent:
            return True
        above = path[position + 1] if position + 1 < len(path) else None
        # Roll-up never passes a switch open now (what hangs below was switched out) nor one that
        # telemetry shows closed (the fault is below it): the region ends under it.
        if above is not None and (above in analysis.open_now or analysis._telemetry_closed(above)):
            above = None
        parent[node] = above
        if above is None:
            return True
    return True


def _above_confirmed(analysis: _Analysis, parent: dict[int, int | None]) -> set[int]:
    """The devices above a confirmed outage: none of them is its fault.

    A confirmed outage's device was seen faulted (SCADA's trip, a crew, a dispatcher): a fault
    above it would have left it without supply, not tripped, so the explanation must not take it
    over from above (found by the sample reports: a recloser's SCADA trip was moved up to its
    feeder breaker by one call on another branch).
    """
    above: set[int] = set()
    for device, outage in analysis.outage_at.items():
        if outage.confirmed_at is None or device not in parent:
            continue
        node = parent[device]
        while node is not None and node not in above:
            above.add(node)
            node = parent.get(node)
    return above


def _newest(analysis: _Analysis, starts: list[int]) -> datetime:
    times = [c[2] for t in starts for c in analysis.pending.get(t, [])]
    times += [
        s.last_report_at or s.first_report_at for t in starts for s in analysis.services.get(t, {}).values()
    ]
    return max(times) if times else analysis.clock.now()


def in_region(analysis: _Analysis, index: int, parent: dict[int, int | None]) -> bool:
    return any(node in parent for node in analysis.model.path(index))


def join_region(analysis: _Analysis, index: int, parent: dict[int, int | None]) -> None:
    """Add the path from `index` up to the first node of the region."""
    path = analysis.model.path(index)
    for position, node in enumerate(path):
        if node in parent:
            return
        parent[node] = path[position + 1]


def region_evidence(
    analysis: _Analysis, parent: dict[int, int | None], horizon: datetime
) -> dict[int, Evidence]:
    """Waiting calls, service outages and active outages in the region, from `horizon` on."""
    found: dict[int, Evidence] = {}
    # Active outages below the region's nodes: the batch knows where they stand without a query.
    below = {d for d in analysis.active_devices if d not in parent and in_region(analysis, d, parent)}
    analysis._load_outages(below | set(parent))
    for transformer, calls in list(analysis.pending.items()):
        recent = [c for c in calls if c[2] >= horizon]
        if not recent or not in_region(analysis, transformer, parent):
            continue
        join_region(analysis, transformer, parent)
        customers = {c[1] if c[1] is not None else -c[0] for c in recent}
        here = found.setdefault(transformer, Evidence())
        here.reporters += len(customers)
        here.own_faults += sum(1 for c in customers if c > 0)
    for transformer, services in analysis.services.items():
        recent_services = [s for s in services.values() if (s.last_report_at or s.first_report_at) >= horizon]
        if not recent_services or not in_region(analysis, transformer, parent):
            continue
        join_region(analysis, transformer, parent)
        here = found.setdefault(transformer, Evidence())
        fresh = [s for s in recent_services if not _also_pending(analysis, transformer, s.customer_id)]
        here.reporters += len(fresh)
        here.own_faults += len(fresh)
    for device, outage in analysis.outage_at.items():
        if not in_region(analysis, device, parent):
            continue
        join_region(analysis, device, parent)
        here = found.setdefault(device, Evidence())
        here.fixed = True
        if (outage.last_report_at or outage.first_report_at) >= horizon:
            here.reporters += outage.report_count
    return found


def _also_pending(analysis: _Analysis, transformer: int, customer_id: int | None) -> bool:
    """A customer with a service outage who calls again waits in `pending` too: count them once."""
    return any(c[1] == customer_id for c in analysis.pending.get(transformer, []))


def predict_at(analysis: _Analysis, node: int, confidence: float) -> None:
    """Open (or keep) the outage at `node`, taking over what is below it, with its confidence."""
    outage = analysis.outage_at.get(node)
    if outage is None:
        below = analysis._below(node)
        analysis._load_outages(set(below))
        outage = analysis.absorb_into_new(node, below)
    if outage.state in (OutageState.REPORTED, OutageState.PREDICTED):  # people's word stands
        outage.prediction_confidence = round(confidence, 4)


__all__ = ["LocationParams", "locate_faults"]
