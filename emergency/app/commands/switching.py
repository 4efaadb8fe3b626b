"""Switching: a dispatcher operates a switch for an outage, one approved step at a time.

The step is judged as the plan judged it (`emergency.network.switching.assess_step`) against the
states stored now, so a step that would close a loop or overload the receiving feeder is refused
with the reason even if the screen that proposed it is out of date. Executing it records the
switch's state, re-traces the supply, restores the outage's customers it brings back as a
restoration step (so reliability counts them to the step's time), and audits, in one transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from emergency.app.bus import handles
from emergency.app.commands.dispatch import OutageChanged
from emergency.app.context import Context
from emergency.core import audit
from emergency.core.actor import Actor
from emergency.core.clock import Clock
from emergency.core.errors import Conflict, InvalidInput, NotFound
from emergency.core.models import ACTIVE_OUTAGE_STATES, Device, Outage, OutageState
from emergency.core.unit_of_work import unit_of_work
from emergency.core.vocabulary import SWITCH_KINDS, SwitchState
from emergency.dispatch import outages
from emergency.dispatch.crews import OPERATOR_ROLES
from emergency.network import switching
from emergency.network.trace import Trace, retrace

# Switching may still be needed once the outage is restored: the way back to normal.
SWITCHABLE_STATES = (*ACTIVE_OUTAGE_STATES, OutageState.RESTORED, OutageState.CLOSED)


@dataclass(frozen=True)
class OperateSwitch:
    """Open or close one switch as a step of an outage's switching, with the versions the
    dispatcher saw of the outage and of the switch."""

    outage_id: int
    expected_version: int | None
    device_id: int
    device_version: int | None
    state: SwitchState | str
    purpose: switching.StepPurpose | str = switching.StepPurpose.OPERATE


@dataclass(frozen=True)
class SwitchOperated:
    device_id: int
    device_code: str
    device_version: int
    state: str
    customers_restored: int  # the outage's customers this step brought back
    customers_interrupted: int
    feeder_code: str | None
    moved: int  # devices whose supply the re-trace moved
    outage: OutageChanged


@handles(OperateSwitch)
def operate_switch(ctx: Context, cmd: OperateSwitch) -> SwitchOperated:
    with unit_of_work(ctx.db, ctx.actor, OPERATOR_ROLES, against_analysis=True) as session:
        return _operate(session, ctx.clock, ctx.actor, cmd)


def _operate(session: Session, clock: Clock, actor: Actor, cmd: OperateSwitch) -> SwitchOperated:
    outage = _load_outage(session, cmd.outage_id, cmd.expected_version)
    device = _load_switch(session, cmd.device_id, cmd.device_version)
    state = _state(cmd.state)
    purpose = _purpose(cmd.purpose)
    grid = switching.load_grid(session)
    current = next(d for d in grid.devices if d.id == device.id)
    if current.state == state:
        raise Conflict(f"{device.code} is already {state}")
    active = outage.state in ACTIVE_OUTAGE_STATES
    # While the outage is active its device passes nothing, whatever it reports (see the planner).
    cut = outage.device_id if active else None
    before = switching.traced(grid, {}, cut)
    effect = switching.assess_step(
        grid, switching.load_limits(session), {}, cut, device.id, state, before=before
    )
    refusal = effect.refusal()
    if refusal is not None:
        raise InvalidInput(f"{'close' if state == SwitchState.CLOSED else 'open'} {device.code} {refusal}")
    outage_before = outages.outage_snapshot(outage)
    switch_before = _switch_snapshot(device, current.state)
    now = clock.now()
    device.switched_state = state
    device.switched_at = now
    session.flush()
    moved = retrace(session, clock, actor.username).moved
    restored = _restored_on_outage(grid, before, outage, effect) if active else 0
    note = _note(purpose, device.code, state, effect.feeder_code)
    if restored:
        outages.record_restoration(session, outage, now, restored, actor.username, note, device_id=device.id)
    session.flush()
    audit.record(
        session,
        clock,
        actor,
        "outage.switching",
        "outage",
        outage.id,
        before={**outage_before, "switch": switch_before},
        after={
            **outages.outage_snapshot(outage),
            "switch": _switch_snapshot(device, state),
            "customers_restored_by_step": restored,
            "customers_interrupted_by_step": effect.interrupted,
            "feeder": effect.feeder_code,
            "feeder_customers": effect.feeder_customers,
        },
        detail=note,
    )
    return SwitchOperated(
        device.id,
        device.code,
        device.version,
        str(state),
        restored,
        effect.interrupted,
        effect.feeder_code,
        len(moved),
        OutageChanged(
            outage.id,
            outage.version,
            str(outage.state),
            outage.customers_affected,
            outage.customers_restored,
            outage.etr_at,
            outage.restored_at,
        ),
    )


def _load_outage(session: Session, outage_id: int, expected_version: int | None) -> Outage:
    outage = session.get(Outage, outage_id)
    if outage is None:
        raise NotFound(f"no outage {outage_id}")
    if expected_version is not None and outage.version != expected_version:
        raise Conflict(f"outage {outage_id} was changed by someone else; reload and try again")
    if outage.state not in SWITCHABLE_STATES:
        raise Conflict(f"outage {outage_id} is {outage.state}; no switching is done for it")
    return outage


def _load_switch(session: Session, device_id: int, expected_version: int | None) -> Device:
    device = session.get(Device, device_id)
    if device is None:
        raise NotFound(f"no device {device_id}")
    if expected_version is not None and device.version != expected_version:
        raise Conflict(f"{device.code} was operated or changed since; reload and try again")
    if device.kind not in SWITCH_KINDS:
        raise InvalidInput(f"{device.code} is a {device.kind}, not a switch", field="device_id")
    return device


def _state(value: SwitchState | str) -> SwitchState:
    try:
        state = SwitchState(value)
    except ValueError:
        state = SwitchState.UNKNOWN
    if state == SwitchState.UNKNOWN:
        raise InvalidInput("a switch is operated open or closed", field="state")
    return state


def _purpose(value: switching.StepPurpose | str) -> switching.StepPurpose:
    try:
        return switching.StepPurpose(value)
    except ValueError:
        raise InvalidInput(f"no switching purpose {value!r}", field="purpose") from None


def _restored_on_outage(
    grid: switching.Grid, before: Trace, outage: Outage, effect: switching.StepEffect
) -> int:
    """The outage's customers the step brought back: transformers below its device (as the supply
    stood before the step) that are fed after it, never more than are still out."""
    area = set(switching.subtree(switching.children_of(before.parent), outage.device_id))
    back = sum(grid.customers.get(t, 0) for t in effect.restored_devices if t in area)
    return min(back, outage.customers_affected - outage.customers_restored)


def _switch_snapshot(device: Device, state: SwitchState) -> dict[str, Any]:
    return {"device_id": device.id, "code": device.code, "state": str(state), "version": device.version}


def _note(purpose: switching.StepPurpose, code: str, state: SwitchState, feeder: str | None) -> str:
    """The restoration step's note: names the switching step, as SAIDI's steps are read by people."""
    verb = "close" if state == SwitchState.CLOSED else "open"
    via = f" (fed from {feeder})" if feeder and state == SwitchState.CLOSED else ""
    return f"switching step ({purpose}): {verb} {code}{via}"
