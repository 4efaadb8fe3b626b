"""Meter pings (issue #21 point 3): which smart meters fault location asked, when, and what they said.

Kept beside `emergency.core.models` (same `Base`, same migrations), as `field_models` is. Alembic's
environment imports this module too, so the schema check sees the table.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from emergency.core.models import Base, str_enum


class PingAnswer(StrEnum):
    """What a meter said to a ping: it answered (powered), it stayed silent within the timeout (out,
    or its answer was lost), or the head-end never took the request (lost: no evidence either way)."""

    POWERED = "powered"
    SILENT = "silent"
    LOST = "lost"


class MeterPing(Base):
    """One meter asked once: kept whatever it answered, so the console can show every ping."""

    __tablename__ = "meter_pings"
    __table_args__ = (Index("ix_meter_pings_outage_asked", "outage_id", "asked_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    request_id: Mapped[str] = mapped_column(String(40), index=True)  # one head-end request, many meters
    outage_id: Mapped[int] = mapped_column(ForeignKey("outages.id"))
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"))
    meter_id: Mapped[str] = mapped_column(String(32))
    # The candidate device the meter hangs below (and the current prediction does not): what it tests.
    device_id: Mapped[int | None] = mapped_column(ForeignKey("devices.id"))
    asked_at: Mapped[datetime]
    asked_by: Mapped[str] = mapped_column(String(64))
    answered_at: Mapped[datetime | None]
    answer: Mapped[PingAnswer] = mapped_column(str_enum(PingAnswer))
