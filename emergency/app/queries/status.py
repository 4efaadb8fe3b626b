"""The operational picture in numbers, for every member of staff (`python -m emergency status`)."""

from __future__ import annotations

from emergency.app.context import Context
from emergency.core.models import Role
from emergency.core.unit_of_work import read_as
from emergency.reporting.status import Status, current_status

STAFF = (Role.DISPATCHER, Role.MANAGER, Role.ADMIN)


def operational_status(ctx: Context) -> Status:
    """Active outages with their SLA state, crews by status and the territory's size."""
    with read_as(ctx.db, ctx.actor, STAFF) as session:
        return current_status(session, ctx.clock)
