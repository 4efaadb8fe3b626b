"""Fault location by the weight of the evidence: which devices' faults best explain what was seen.

A fault at a device puts every customer below it out. Each customer out reports (calls, or their
meter's last gasp gets through) with an unknown share `p` that differs from storm to storm and hour
to hour, so `p` is not fixed: it is drawn from a Beta prior whose mean is the share learned from
history (`tca.p_call`, `tca.p_gasp`) and whose spread is `tca.share_concentration`. A customer with
power reports only by mistake (`tca.false_report_rate`). A fault's score is then the log of how much
better it explains the reports below it than "nobody below is out" (the Beta-binomial marginal
likelihood against the false-report likelihood), plus the log prior of a fault at a device of its
kind in one analysis window (`tca.fault_rates`, faults per device per year). Silence is evidence:
a fault high up the feeder must explain why so few of its many customers reported.

The explanation chosen for a region is the set of disjoint faults with the highest total score
(a tree dynamic programme): one fault at a fuse, two at sibling transformers, or each caller's own
service fault, whichever explains the reports best. Each chosen fault gets a confidence: its
posterior probability against the alternatives next to it (the faults below it instead, or a fault
at any device above it instead).

Meter pings (issue #21 point 3) enter as `Evidence.answered` (a meter below that answered: powered,
so a fault above it is almost impossible) and `Evidence.silent` (no answer: out, or a lost ping).
To re-score after pings, build the same `Region` with those counts and call `explain(region,
params)` again; `emergency.network.analysis_locate` does so for a batch of reports.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

MINUTES_PER_YEAR = 525_600.0
SERVICE = "service"  # a single customer's own supply (service drop, meter fuse): not a device kind


@dataclass(frozen=True)
class LocationParams:
    """The settings of evidence-weighted location (`tca.*`), read once per analysis batch."""

    p_call: float  # share of customers out who call within the window
    p_gasp: float  # share of customers out whose last gasp reaches the head-end
    concentration: float  # alpha + beta of the Beta prior on the share reporting: low = it varies a lot
    false_report_rate: float  # chance a customer with power reports an outage in a window
    fault_rates: Mapping[str, float]  # faults per device per year, by device kind (and `service`)
    window_minutes: float
    confidence_to_move_up: float = 0.99  # posterior a fault above needs against what is below it
    ping_loss: float = 0.1  # chance a powered meter's ping goes unanswered (point 3)
    ping_false_answer: float = 0.001  # chance a meter of a customer out seems to answer

    @property
    def p_report(self) -> float:
        """The share of customers out who report by either channel (calls and last gasps independent)."""
        return 1.0 - (1.0 - self.p_call) * (1.0 - self.p_gasp)

    @property
    def alpha(self) -> float:
        return max(self.p_report, 1e-6) * self.concentration

    @property
    def beta(self) -> float:
        return max(1.0 - self.p_report, 1e-6) * self.concentration

    def log_prior(self, kind: str) -> float:
        """Log chance of a fault at one device of this kind in one analysis window."""
        rate = float(self.fault_rates.get(kind, 0.0))
        if rate <= 0:
            return -math.inf
        return math.log(min(rate * self.window_minutes / MINUTES_PER_YEAR, 0.5))

    @classmethod
    def from_settings(cls, values: Mapping[str, Any], window_minutes: float) -> LocationParams:
        return cls(
            p_call=float(values["tca.p_call"]),
            p_gasp=float(values["tca.p_gasp"]),
            concentration=float(values["tca.share_concentration"]),
            false_report_rate=float(values["tca.false_report_rate"]),
            fault_rates={str(k): float(v) for k, v in dict(values["tca.fault_rates"]).items()},
            window_minutes=window_minutes,
            confidence_to_move_up=float(values["tca.confidence_to_move_up"]),
            ping_loss=float(values["tca.ping_loss"]),
        )


@dataclass
class Evidence:
    """What was seen at one node of a region (not below it)."""

    reporters: int = 0  # distinct customers who reported (call or last gasp), or an outage's reports
    answered: int = 0  # meters pinged that answered: powered
    silent: int = 0  # meters pinged that did not answer: out, or the ping was lost
    own_faults: int = 0  # of `reporters`, how many may be their own service fault (lone customers)
    fixed: bool = False  # an outage already stands here: it may be taken over, not split


@dataclass
class Region:
    """A piece of the radial network around the reports: nodes, their parents, kinds and customers.

    `parent[node]` is None at the region's top. Only nodes whose kind can be predicted (`predictable`)
    are candidates; others (switches, sources) only pass the evidence up.
    """

    parent: dict[int, int | None]
    kind: dict[int, str]
    customers: dict[int, int]
    predictable: set[int]
    evidence: dict[int, Evidence] = field(default_factory=dict)


@dataclass(frozen=True)
class Located:
    """A fault in the best explanation: the node, its score and its posterior probability."""

    node: int
    score: float
    confidence: float


def _betaln(a: float, b: float) -> float:
    return math.lgamma(a) + math.lgamma(b) - math.lgamma(a + b)


def fault_score(
    params: LocationParams, kind: str, customers: int, reporters: int, answered: int = 0, silent: int = 0
) -> float:
    """Log-likelihood ratio of "a fault here" against "nobody below is out", plus the log prior."""
    n = max(customers, 1)
    k = min(reporters, n)
    a, b = params.alpha, params.beta
    eps = params.false_report_rate
    reports = _betaln(k + a, n - k + b) - _betaln(a, b) - k * math.log(eps) - (n - k) * math.log1p(-eps)
    # A meter answering below a fault is near impossible; a silent one is what a fault predicts.
    pings = answered * math.log(params.ping_false_answer / (1.0 - params.ping_loss)) + silent * math.log(
        1.0 / params.ping_loss
    )
    return reports + pings + params.log_prior(kind)


def service_score(params: LocationParams) -> float:
    """Score of one reporting customer's own service fault (they reported: a one-customer fault)."""
    return fault_score(params, SERVICE, 1, 1)


def explain(region: Region, params: LocationParams) -> list[Located]:
    """The best set of disjoint faults for the region's evidence, each with its confidence.

    Lone customers' own faults are not returned: what no device fault explains stays with the
    caller (a service outage, opened by the analysis).
    """
    children: dict[int, list[int]] = {}
    for node, up in region.parent.items():
        if up is not None:
            children.setdefault(up, []).append(node)
    order = _deepest_first(region.parent)
    below, pings = _sums_below(region, order, children)
    own = service_score(params)
    gain: dict[int, float] = {}
    split: dict[int, float] = {}
    best: dict[int, float] = {}
    rises: dict[int, bool] = {}  # the fault here is chosen over what is below it
    for node in order:
        found = region.evidence.get(node, Evidence())
        answered, silent = pings[node]
        gain[node] = (
            fault_score(params, region.kind[node], region.customers[node], below[node], answered, silent)
            if node in region.predictable
            else -math.inf
        )
        # Reporters right here that no device fault explains: each their own service fault (the
        # analysis opens a service outage for each of them, so that is the alternative to weigh).
        split[node] = sum(best[c] for c in children.get(node, [])) + found.own_faults * own
        if found.fixed:
            split[node] = -math.inf  # an outage stands here: it may only be taken over from above
        rises[node] = _moves_up(gain[node], split[node], params, below[node] >= region.customers[node])
        best[node] = gain[node] if rises[node] else split[node]
    chosen: list[int] = []
    stack = [node for node, up in region.parent.items() if up is None]
    while stack:
        node = stack.pop()
        if gain[node] > -math.inf and rises[node]:
            chosen.append(node)
        else:
            stack.extend(children.get(node, []))
    return [Located(node, gain[node], _confidence(node, region, gain, split)) for node in chosen]


def _moves_up(gain: float, split: float, params: LocationParams, everyone_reported: bool) -> bool:
    """A fault here rather than what is below: only when it is `confidence_to_move_up` likely
    against it. A prediction never moves down again, so with few reports it waits low; when every
    customer below has reported, the fault here puts no one out who is not, and the better
    explanation is enough."""
    if split == -math.inf:
        return True
    if everyone_reported:
        return gain >= split
    return gain - split >= math.log(params.confidence_to_move_up / (1.0 - params.confidence_to_move_up))


def _confidence(node: int, region: Region, gain: dict[int, float], split: dict[int, float]) -> float:
    """Posterior of the fault at `node` against its neighbours: the faults below it instead, or one
    fault at a device above it that takes over what its subtree holds now."""
    alternatives = [split[node] - gain[node]]
    up = region.parent.get(node)
    while up is not None:
        alternatives.append(gain[up] - split[up])
        up = region.parent.get(up)
    odds = sum(math.exp(min(delta, 700.0)) for delta in alternatives if delta > -math.inf)
    return 1.0 / (1.0 + odds)


def _deepest_first(parent: Mapping[int, int | None]) -> list[int]:
    depth: dict[int, int] = {}
    for start in parent:
        trail = []
        node: int | None = start
        while node is not None and node not in depth:
            trail.append(node)
            node = parent.get(node)
        base = -1 if node is None else depth[node]
        for step in reversed(trail):
            base += 1
            depth[step] = base
    return sorted(parent, key=lambda n: -depth[n])


def _sums_below(
    region: Region, order: list[int], children: Mapping[int, list[int]]
) -> tuple[dict[int, int], dict[int, tuple[int, int]]]:
    """Reporters (at most the customers there) and meter pings (answered, silent) at or below each node."""
    below: dict[int, int] = {}
    pings: dict[int, tuple[int, int]] = {}
    for node in order:
        here = region.evidence.get(node, Evidence())
        kids = children.get(node, [])
        below[node] = min(here.reporters + sum(below[c] for c in kids), region.customers[node])
        pings[node] = (
            here.answered + sum(pings[c][0] for c in kids),
            here.silent + sum(pings[c][1] for c in kids),
        )
    return below, pings
