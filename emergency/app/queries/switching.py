"""What the console's switching section reads: an outage's switching plan, with the versions of
the switches it names (each step's command carries the one the dispatcher saw)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from sqlalchemy import select

from emergency.app.context import Context
from emergency.core.errors import NotFound
from emergency.core.models import ACTIVE_OUTAGE_STATES, Device, Outage
from emergency.core.unit_of_work import read_as
from emergency.dispatch.crews import OPERATOR_ROLES
from emergency.network import switching


@dataclass(frozen=True)
class OutageSwitching:
    outage_id: int
    outage_version: int
    active: bool
    plan: switching.SwitchingPlan
    device_versions: Mapping[int, int]  # switch id -> its version as read with the plan


def switching_plan(ctx: Context, outage_id: int, returning: bool = False) -> OutageSwitching:
    """The restoration plan of an active outage (isolate, then back-feed each healthy section),
    or, when `returning` or once the outage is restored, the plan back to normal."""
    with read_as(ctx.db, ctx.actor, OPERATOR_ROLES) as session:
        outage = session.get(Outage, outage_id)
        if outage is None:
            raise NotFound(f"no outage {outage_id}")
        active = outage.state in ACTIVE_OUTAGE_STATES
        grid = switching.load_grid(session)
        limits = switching.load_limits(session)
        if active and not returning:
            plan = switching.restoration_plan(grid, limits, outage.device_id)
        else:
            plan = switching.return_plan(grid, limits, outage.device_id, outage.device_id if active else None)
        ids = {step.device_id for step in plan.steps}
        rows = session.execute(select(Device.id, Device.version).where(Device.id.in_(ids))).tuples()
        versions = dict(rows.all())
        return OutageSwitching(outage.id, outage.version, active, plan, MappingProxyType(versions))
