"""Switching plans: restore the healthy sections below a fault from a neighbouring feeder, and
return to normal after the repair (FLISR-style, every step approved by a dispatcher).

For an active outage at device D, the supply is traced as if D were open (the outage says nothing
passes it, whether or not D reports so). The switches directly below D bound the faulted section;
the section below each of them is healthy and can be fed again from another feeder when one of its
nodes meets a currently open switch (a normally open tie) whose other node is live. Per healthy
section the plan is: 1. open the isolating switch below the faulted section; 2. close the tie.

Every step is judged the same way, in planning and when it is executed (`assess_step`): the trace
after the step gives the customers it restores (or interrupts), the feeder that then carries them
against its limit, and any closed loop it would make, with the loop's path. A step that would
overload a feeder or close a loop is refused with the reason in numbers or codes, never guessed.

Pure functions of a `Grid` (the devices as traced plus customers and kVA per transformer), so the
planning is tested without a database; `load_grid` reads one from the database.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from emergency.core.models import Customer, Device
from emergency.core.settings import get_setting
from emergency.core.vocabulary import SWITCH_KINDS, DeviceKind, SwitchState
from emergency.network.trace import Trace, TraceDevice, conducts, load_trace_devices, trace

OPEN, CLOSED = SwitchState.OPEN, SwitchState.CLOSED


class StepPurpose(StrEnum):
    """Why a step is in a plan (the console words each one)."""

    ISOLATE = "isolate"  # open the switch below the faulted section
    RESTORE = "restore"  # close the tie: the healthy section is fed from the other feeder
    RETURN_OPEN = "return_open"  # after the repair: open the tie again
    RETURN_CLOSE = "return_close"  # and close the isolating switch again
    OPERATE = "operate"  # a step a dispatcher asked for outside a plan


@dataclass(frozen=True)
class Limits:
    """How much one feeder may carry: customers, and transformer kVA when ratings exist (0: not
    checked). `per_feeder` overrides both by feeder breaker code."""

    customers: int
    kva: float = 0.0
    per_feeder: Mapping[str, Mapping[str, float]] = field(default_factory=dict)

    def for_feeder(self, code: str | None) -> tuple[int, float]:
        own = self.per_feeder.get(code or "", {})
        return int(own.get("customers", self.customers)), float(own.get("kva", self.kva))


@dataclass(frozen=True)
class Grid:
    """The network as switching sees it."""

    devices: tuple[TraceDevice, ...]
    customers: Mapping[int, int]  # transformer id -> customers supplied by it
    kva: Mapping[int, float]  # transformer id -> rating, where known

    def by_id(self) -> dict[int, TraceDevice]:
        return {d.id: d for d in self.devices}


@dataclass(frozen=True)
class StepEffect:
    """What one switch operation would do, from the traces before and after it."""

    restored: int  # customers newly fed
    interrupted: int  # customers no longer fed
    restored_devices: frozenset[int]
    feeder_id: int | None  # the feeder that carries the operated switch after the step
    feeder_code: str | None
    feeder_customers: int  # customers that feeder then carries
    feeder_kva: float
    customer_limit: int
    kva_limit: float
    overload_customers: int  # customers beyond the limit the step would put on the feeder (0: none)
    overload_kva: float
    loop: tuple[str, ...]  # the closed loop the step would make, as codes along it (empty: none)
    # Codes of the faulted section's transformers the step would feed again: back onto the fault.
    onto_fault: tuple[str, ...] = ()

    @property
    def refused(self) -> bool:
        return bool(self.loop or self.onto_fault) or self.overload_customers > 0 or self.overload_kva > 0

    def refusal(self) -> str | None:
        """Why the step cannot be done, in words for logs, errors and audit (pages word it themselves)."""
        if self.loop:
            return "closes a loop (" + " → ".join(self.loop) + "): open a switch on it first"
        if self.onto_fault:
            return (
                "would feed the faulted section again (" + ", ".join(self.onto_fault) + "): isolate it first"
            )
        if self.overload_customers > 0:
            return (
                f"would overload feeder {self.feeder_code}: {self.feeder_customers} customers against a "
                f"limit of {self.customer_limit} ({self.overload_customers} too many)"
            )
        if self.overload_kva > 0:
            return (
                f"would overload feeder {self.feeder_code}: {self.feeder_kva:g} kVA against a limit of "
                f"{self.kva_limit:g} kVA ({self.overload_kva:g} kVA too much)"
            )
        return None


@dataclass(frozen=True)
class SwitchingStep:
    order: int
    purpose: StepPurpose
    section: str  # the code of the isolating switch heading the healthy section
    device_id: int
    device_code: str
    to_state: SwitchState
    effect: StepEffect


@dataclass(frozen=True)
class SwitchingPlan:
    """The steps for one outage, in order, and the healthy sections no tie can reach."""

    outage_device_id: int
    returning: bool  # True: the plan back to normal
    steps: tuple[SwitchingStep, ...]
    unreachable: tuple[str, ...] = ()

    @property
    def customers_restored(self) -> int:
        return sum(s.effect.restored for s in self.steps if not s.effect.refused)


# --- tracing with a plan's states --------------------------------------------------------------


def with_states(
    devices: Iterable[TraceDevice], states: Mapping[int, SwitchState], cut: int | None = None
) -> list[TraceDevice]:
    """The devices with `states` applied, and `cut` (an outage's device) passing no supply."""
    changed: list[TraceDevice] = []
    for d in devices:
        if d.id in states:
            d = d._replace(state=states[d.id])
        if d.id == cut:
            # A source feeds nothing once its own node is gone; any other device is an open switch
            # for tracing (kept between its nodes, so the dead side keeps its normal place).
            d = d._replace(to_node=None) if d.is_source else d._replace(kind=DeviceKind.SWITCH, state=OPEN)
        changed.append(d)
    return changed


def traced(grid: Grid, states: Mapping[int, SwitchState], cut: int | None) -> Trace:
    return trace(with_states(grid.devices, states, cut))


def assess_step(
    grid: Grid,
    limits: Limits,
    states: Mapping[int, SwitchState],
    cut: int | None,
    device_id: int,
    to_state: SwitchState,
    *,
    before: Trace | None = None,
) -> StepEffect:
    """What operating `device_id` to `to_state` does, after the steps already in `states`."""
    by_id = grid.by_id()
    before = before or traced(grid, states, cut)
    after = traced(grid, {**states, device_id: to_state}, cut)
    fed_before = _fed_transformers(grid, before)
    fed_after = _fed_transformers(grid, after)
    restored = fed_after - fed_before
    feeder = after.feeder.get(device_id)
    load_after = _feeder_load(grid, after, fed_after, feeder)
    load_before = _feeder_load(grid, before, fed_before, feeder)
    code = by_id[feeder].code if feeder is not None and feeder in by_id else None
    customer_limit, kva_limit = limits.for_feeder(code)
    # Only a step that puts more on the feeder is held to its limit: returning a feeder to its own
    # normal load is never refused for a load it always carries.
    adds = to_state == CLOSED and load_after[0] > load_before[0]
    new_loops = [tuple(lp) for lp in after.loops if lp not in before.loops]
    faulted = _faulted_section(before, by_id, cut)
    return StepEffect(
        restored=sum(grid.customers.get(t, 0) for t in restored),
        interrupted=sum(grid.customers.get(t, 0) for t in fed_before - fed_after),
        restored_devices=frozenset(restored),
        feeder_id=feeder,
        feeder_code=code,
        feeder_customers=load_after[0],
        feeder_kva=load_after[1],
        customer_limit=customer_limit,
        kva_limit=kva_limit,
        overload_customers=max(0, load_after[0] - customer_limit) if adds else 0,
        overload_kva=max(0.0, load_after[1] - kva_limit) if adds and kva_limit > 0 else 0.0,
        loop=new_loops[0] if new_loops else (),
        onto_fault=tuple(sorted(by_id[t].code for t in restored & faulted)),
    )


def _faulted_section(result: Trace, by_id: Mapping[int, TraceDevice], cut: int | None) -> set[int]:
    """The transformers hanging directly from the outage's device: the section the fault is in,
    bounded by the switches below it."""
    if cut is None:
        return set()
    return {
        child
        for child, parent in result.parent.items()
        if parent == cut and by_id[child].kind == DeviceKind.TRANSFORMER
    }


def _fed_transformers(grid: Grid, result: Trace) -> set[int]:
    return {t for t in grid.customers if t in result.energized} | {
        t for t in grid.kva if t in result.energized
    }


def _feeder_load(grid: Grid, result: Trace, fed: set[int], feeder: int | None) -> tuple[int, float]:
    if feeder is None:
        return 0, 0.0
    on_feeder = [t for t in fed if result.feeder.get(t) == feeder]
    return sum(grid.customers.get(t, 0) for t in on_feeder), sum(grid.kva.get(t, 0.0) for t in on_feeder)


# --- the plans ---------------------------------------------------------------------------------


def children_of(parent: Mapping[int, int | None]) -> dict[int, list[int]]:
    children: dict[int, list[int]] = {}
    for child, up in parent.items():
        if up is not None:
            children.setdefault(up, []).append(child)
    return children


def subtree(children: Mapping[int, list[int]], top: int) -> list[int]:
    """`top` and every device below it."""
    found, stack = [], [top]
    while stack:
        node = stack.pop()
        found.append(node)
        stack.extend(children.get(node, ()))
    return found


def restoration_plan(grid: Grid, limits: Limits, outage_device: int) -> SwitchingPlan:
    """Isolate the faulted section below `outage_device` and feed each healthy section below it
    through an open tie from a live feeder, one section after the other."""
    by_id = grid.by_id()
    states: dict[int, SwitchState] = {}
    base = traced(grid, states, outage_device)
    children = children_of(base.parent)
    live = _live_nodes(base, by_id)
    steps: list[SwitchingStep] = []
    unreachable: list[str] = []
    for head in sorted(children.get(outage_device, ()), key=lambda i: by_id[i].code):
        switch = by_id[head]
        if switch.kind not in SWITCH_KINDS or head in base.energized:
            continue  # a transformer is in the faulted section itself; a live section needs nothing
        section = subtree(children, head)
        chosen = _best_tie(grid, limits, states, outage_device, switch, section, live, by_id)
        if chosen is None:
            unreachable.append(switch.code)
            continue
        tie, isolate_effect, restore_effect = chosen
        if switch.state != OPEN:
            steps.append(_step(len(steps) + 1, StepPurpose.ISOLATE, switch, switch, OPEN, isolate_effect))
        steps.append(_step(len(steps) + 1, StepPurpose.RESTORE, switch, by_id[tie], CLOSED, restore_effect))
        if not restore_effect.refused:
            states.update({head: OPEN, tie: CLOSED})  # the next section is planned after this one
    return SwitchingPlan(outage_device, False, tuple(steps), tuple(unreachable))


def _best_tie(
    grid: Grid,
    limits: Limits,
    states: dict[int, SwitchState],
    cut: int,
    switch: TraceDevice,
    section: list[int],
    live: set[str],
    by_id: Mapping[int, TraceDevice],
) -> tuple[int, StepEffect, StepEffect] | None:
    """The open tie that restores the section with the most room left on its feeder; a refused
    one (overload, loop) only when no tie can be closed, so the dispatcher sees why."""
    nodes = _section_nodes(switch, section, by_id)
    candidates = [
        d.id
        for d in grid.devices
        if d.kind in SWITCH_KINDS
        and d.state == OPEN
        and d.id != switch.id
        and d.id not in states
        and _joins(d, nodes, live)
    ]
    if not candidates:
        return None
    isolated = {**states, switch.id: OPEN}
    isolate_effect = assess_step(grid, limits, states, cut, switch.id, OPEN)
    before = traced(grid, isolated, cut)
    judged = [
        (tie, assess_step(grid, limits, isolated, cut, tie, CLOSED, before=before))
        for tie in sorted(candidates)
    ]
    judged = [(tie, e) for tie, e in judged if e.restored > 0 or e.refused]
    if not judged:
        return None
    tie, effect = min(
        judged, key=lambda j: (j[1].refused, j[1].feeder_customers - j[1].customer_limit, by_id[j[0]].code)
    )
    return tie, isolate_effect, effect


def _section_nodes(switch: TraceDevice, section: list[int], by_id: Mapping[int, TraceDevice]) -> set[str]:
    """The nodes of a healthy section: those supply would pass through below its isolating switch
    (an open switch inside it touches the section at one node only, so its other node is left
    out), and the switch's own far node, the one its children hang from."""
    nodes: set[str] = set()
    touched: set[str] = set()
    for device_id in section:
        if device_id == switch.id:
            continue
        d = by_id[device_id]
        ends = {n for n in (d.from_node, d.to_node) if n is not None}
        touched |= ends
        if d.kind == DeviceKind.TRANSFORMER:
            nodes.update(n for n in (d.from_node,) if n is not None)
        elif conducts(d, d.state):
            nodes |= ends
    return nodes | {n for n in (switch.from_node, switch.to_node) if n is not None and n in touched}


def _live_nodes(result: Trace, by_id: Mapping[int, TraceDevice]) -> set[str]:
    """Nodes supply reaches now: both nodes of every live device that conducts."""
    live: set[str] = set()
    for device_id in result.energized:
        d = by_id.get(device_id)
        if d is not None and conducts(d, d.state) and d.kind != DeviceKind.TRANSFORMER:
            live.update(n for n in (d.from_node, d.to_node) if n is not None)
    return live


def _joins(tie: TraceDevice, section: set[str], live: set[str]) -> bool:
    a, b = tie.from_node, tie.to_node
    if a is None or b is None:
        return False
    return (a in section and b in live and b not in section) or (
        b in section and a in live and a not in section
    )


def return_plan(grid: Grid, limits: Limits, outage_device: int, cut: int | None) -> SwitchingPlan:
    """Back to normal: every switch off its normal state in the outage's part of the network, the
    ties opened first, then the isolating switches closed (the other order would close a loop).

    `cut` is the outage's device while the outage is still active (then closing an isolating
    switch feeds nothing yet, and the plan says so)."""
    by_id = grid.by_id()
    normal = trace([d._replace(state=d.normal_state) for d in grid.devices])
    area = subtree(children_of(normal.parent), outage_device)
    nodes = {n for i in area for n in (by_id[i].from_node, by_id[i].to_node) if n is not None}
    off_normal = [
        d
        for d in grid.devices
        if d.kind in SWITCH_KINDS
        and d.state != d.normal_state
        and d.id != outage_device
        and (d.id in area or {d.from_node, d.to_node} & nodes)
    ]
    ordered = sorted(off_normal, key=lambda d: (d.normal_state != OPEN, d.code))
    states: dict[int, SwitchState] = {}
    steps: list[SwitchingStep] = []
    for d in ordered:
        effect = assess_step(grid, limits, states, cut, d.id, d.normal_state)
        purpose = StepPurpose.RETURN_OPEN if d.normal_state == OPEN else StepPurpose.RETURN_CLOSE
        steps.append(_step(len(steps) + 1, purpose, d, d, d.normal_state, effect))
        if not effect.refused:
            states[d.id] = d.normal_state
    return SwitchingPlan(outage_device, True, tuple(steps))


def _step(
    order: int,
    purpose: StepPurpose,
    section: TraceDevice,
    device: TraceDevice,
    to_state: SwitchState,
    effect: StepEffect,
) -> SwitchingStep:
    return SwitchingStep(order, purpose, section.code, device.id, device.code, to_state, effect)


# --- the database ------------------------------------------------------------------------------


def load_grid(session: Session) -> Grid:
    """Every device with its current state, customers per transformer and transformer ratings."""
    devices = tuple(load_trace_devices(session))
    customers = dict(
        session.execute(select(Customer.transformer_id, func.count()).group_by(Customer.transformer_id))
        .tuples()
        .all()
    )
    kva = {
        i: float(r or 0)
        for i, r in session.execute(
            select(Device.id, Device.rating_kva).where(
                Device.kind == DeviceKind.TRANSFORMER, Device.rating_kva.is_not(None)
            )
        ).tuples()
    }
    return Grid(devices, {int(k): int(v) for k, v in customers.items()}, kva)


def load_limits(session: Session) -> Limits:
    per_feeder: Any = get_setting(session, "switching.feeder_limits") or {}
    return Limits(
        customers=int(get_setting(session, "switching.feeder_customer_limit")),
        kva=float(get_setting(session, "switching.feeder_kva_limit") or 0),
        per_feeder={str(k): dict(v) for k, v in per_feeder.items()},
    )
