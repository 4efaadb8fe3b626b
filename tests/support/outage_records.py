"""Outages written straight into the tables with the lifecycle times a test chooses.

Reports, clocks and reliability figures are computed from these records, so a test can state the
exact times (exactly at a limit, a second past it) without driving every service to get them.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from emergency.core.models import AssignmentStatus, CrewAssignment, Outage, OutageState
from tests.support.small_territory import SmallTerritory

EAST_DEVICES = frozenset({"REC-2", "FU-3", "TX-4", "TX-5"})


def add_outage(
    session: Session, territory: SmallTerritory, device: str, state: OutageState, **fields: Any
) -> Outage:
    """An outage on `device` of the small territory, in its district; `fields` are Outage columns."""
    fields.setdefault("customers_affected", 3)
    outage = Outage(
        state=state,
        device_id=territory.device_ids[device],
        district_id=territory.district_ids["E" if device in EAST_DEVICES else "W"],
        **fields,
    )
    session.add(outage)
    session.flush()
    return outage


def assign(session: Session, outage: Outage, crew_id: int, assigned_at: datetime, **ends: datetime) -> None:
    """A crew's assignment to `outage`; complete when `ends` has completed_at, else still on site."""
    status = AssignmentStatus.COMPLETE if "completed_at" in ends else AssignmentStatus.ON_SITE
    session.add(
        CrewAssignment(outage_id=outage.id, crew_id=crew_id, status=status, assigned_at=assigned_at, **ends)
    )
