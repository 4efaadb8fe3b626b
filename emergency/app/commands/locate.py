"""Fault location's writes: the device where the crew found an outage's fault, and the settings of
evidence-weighted analysis learned from the history."""

from __future__ import annotations

from dataclasses import dataclass

from emergency.app.bus import handles
from emergency.app.context import Context
from emergency.core.unit_of_work import unit_of_work
from emergency.core.vocabulary import Role
from emergency.network import tca_learn
from emergency.reporting import location_accuracy


@dataclass(frozen=True)
class RecordFaultDevice:
    """The crew found the fault of `outage_id` at the device `device_code`, as seen at `expected_version`."""

    outage_id: int
    device_code: str
    expected_version: int


@handles(RecordFaultDevice)
def record_fault_device(ctx: Context, cmd: RecordFaultDevice) -> int:
    """Returns the outage's new version."""
    with unit_of_work(ctx.db, ctx.actor, location_accuracy.RECORD_ROLES, against_analysis=True) as session:
        outage = location_accuracy.record_fault_device(
            session, ctx.clock, ctx.actor, cmd.outage_id, cmd.device_code, cmd.expected_version
        )
        return outage.version


@dataclass(frozen=True)
class LearnTcaSettings:
    """Learn evidence-weighted analysis's shares and fault rates from the history (`tca learn`)."""


@handles(LearnTcaSettings)
def learn_tca_settings(ctx: Context, cmd: LearnTcaSettings) -> tca_learn.Learned:
    with unit_of_work(ctx.db, ctx.actor, (Role.MANAGER, Role.ADMIN)) as session:
        return tca_learn.learn(session, ctx.clock, ctx.actor)
