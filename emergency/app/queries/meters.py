"""What the console shows of meter pings: which meters fault location asked for an outage, when,
and what they said (with the pings of the outages it took over, which moved it there)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select

from emergency.app.context import Context
from emergency.core.meter_models import MeterPing, PingAnswer
from emergency.core.models import Customer, Device, Outage, Role
from emergency.core.unit_of_work import read_as

CONTROL_ROOM = (Role.DISPATCHER, Role.MANAGER)
MAX_MERGE_DEPTH = 20  # outages taken over by outages taken over...: a storm's roll-up is never this deep


@dataclass(frozen=True)
class PingRow:
    ping_id: int
    outage_id: int  # the outage it was asked for (this one, or one it took over)
    request_id: str
    meter_id: str
    account_no: str
    candidate_code: str | None  # the device the meter hangs below, which it tests
    asked_at: datetime
    asked_by: str
    answered_at: datetime | None
    answer: PingAnswer


def outage_pings(ctx: Context, outage_id: int) -> list[PingRow]:
    """Every meter asked for `outage_id` or an outage it took over, newest first."""
    with read_as(ctx.db, ctx.actor, CONTROL_ROOM) as session:
        ids = {outage_id}
        frontier = {outage_id}
        for _ in range(MAX_MERGE_DEPTH):
            frontier = (
                set(session.scalars(select(Outage.id).where(Outage.merged_into_id.in_(frontier)))) - ids
            )
            if not frontier:
                break
            ids |= frontier
        rows = session.execute(
            select(MeterPing, Customer.account_no, Device.code)
            .join(Customer, Customer.id == MeterPing.customer_id)
            .outerjoin(Device, Device.id == MeterPing.device_id)
            .where(MeterPing.outage_id.in_(sorted(ids)))
            .order_by(MeterPing.asked_at.desc(), MeterPing.id)
        ).all()
        return [
            PingRow(
                ping.id,
                ping.outage_id,
                ping.request_id,
                ping.meter_id,
                account,
                code,
                ping.asked_at,
                ping.asked_by,
                ping.answered_at,
                PingAnswer(ping.answer),
            )
            for ping, account, code in rows
        ]
