"""What crews in the field send: positions, requests, damage assessments and photos; their links.

Kept beside `emergency.core.models` (same `Base`, same migrations) so that module stays readable.
Alembic's environment imports this module too, so the schema check sees these tables.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Float, ForeignKey, Index, Integer, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from emergency.core.models import Base, str_enum
from emergency.core.vocabulary import DamageCause, FieldRequestKind, PositionSource


class CrewPosition(Base):
    """One position a crew reported: the track the geofence reads (radius and dwell).

    `crews.lon/lat/position_at` keep the newest for the map; this keeps the recent track.
    """

    __tablename__ = "crew_positions"
    __table_args__ = (Index("ix_crew_positions_crew_at", "crew_id", "at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    crew_id: Mapped[int] = mapped_column(ForeignKey("crews.id"))
    at: Mapped[datetime]  # when the position was taken (the device's time, checked against ours)
    received_at: Mapped[datetime]
    lon: Mapped[float] = mapped_column(Float)
    lat: Mapped[float] = mapped_column(Float)
    accuracy_m: Mapped[float | None] = mapped_column(Float)
    source: Mapped[PositionSource] = mapped_column(str_enum(PositionSource))


class CommandKey(Base):
    """An idempotency key: a step tapped twice (or resent after a dropped connection) runs once.

    The first run stores its outcome under the key; a repeat with the same key returns it.
    """

    __tablename__ = "command_keys"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    actor: Mapped[str] = mapped_column(String(64))
    command: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime]
    outcome: Mapped[dict[str, Any] | None] = mapped_column(JSON)


class FieldRequest(Base):
    """A crew asking for help (more crews, a specialist) or materials, answered by a dispatcher."""

    __tablename__ = "field_requests"

    id: Mapped[int] = mapped_column(primary_key=True)
    outage_id: Mapped[int] = mapped_column(ForeignKey("outages.id"), index=True)
    crew_id: Mapped[int] = mapped_column(ForeignKey("crews.id"), index=True)
    kind: Mapped[FieldRequestKind] = mapped_column(str_enum(FieldRequestKind))
    text: Mapped[str] = mapped_column(String(2000))
    at: Mapped[datetime]  # recorded
    done_at: Mapped[datetime]  # when the crew asked (earlier than `at` when entered after being offline)
    by: Mapped[str] = mapped_column(String(64))
    answered_at: Mapped[datetime | None]
    answered_by: Mapped[str | None] = mapped_column(String(64))
    answer: Mapped[str | None] = mapped_column(String(500))
    version: Mapped[int] = mapped_column(Integer, default=1)

    __mapper_args__ = {"version_id_col": version}


class DamageAssessment(Base):
    """A crew's damage assessment of an outage: feeds the ETR, the situation report, the storm plan."""

    __tablename__ = "damage_assessments"

    id: Mapped[int] = mapped_column(primary_key=True)
    outage_id: Mapped[int] = mapped_column(ForeignKey("outages.id"), index=True)
    crew_id: Mapped[int | None] = mapped_column(ForeignKey("crews.id"), index=True)
    at: Mapped[datetime]
    done_at: Mapped[datetime]
    by: Mapped[str] = mapped_column(String(64))
    cause: Mapped[DamageCause] = mapped_column(str_enum(DamageCause))
    equipment: Mapped[list[str]] = mapped_column(JSON, default=list)  # equipment kinds damaged
    poles_down: Mapped[int] = mapped_column(Integer, default=0)
    spans_down: Mapped[int] = mapped_column(Integer, default=0)  # wire spans down
    access: Mapped[str | None] = mapped_column(String(1000))  # access problems (road blocked, flooded)
    crews_needed: Mapped[int] = mapped_column(Integer, default=0)  # more crews than the one there
    materials: Mapped[str | None] = mapped_column(String(1000))
    repair_minutes: Mapped[int] = mapped_column(Integer)  # estimated repair time from `done_at`
    notes: Mapped[str | None] = mapped_column(String(4000))
    version: Mapped[int] = mapped_column(Integer, default=1)

    __mapper_args__ = {"version_id_col": version}


class AssessmentPhoto(Base):
    """A photo attached to an assessment, stored converted (JPEG) and size-limited.

    EXIF (where and when it was taken, the camera) is kept for staff only, never published.
    """

    __tablename__ = "assessment_photos"

    id: Mapped[int] = mapped_column(primary_key=True)
    assessment_id: Mapped[int] = mapped_column(ForeignKey("damage_assessments.id"), index=True)
    filename: Mapped[str] = mapped_column(String(200))
    content_type: Mapped[str] = mapped_column(String(32))
    data: Mapped[bytes] = mapped_column(LargeBinary)
    exif: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
    size_bytes: Mapped[int] = mapped_column(Integer)
    at: Mapped[datetime]


class CrewLink(Base):
    """A one-time link that signs a (mutual-aid) crew leader in to their crew page.

    Only the token's hash is stored; the link works once, before `expires_at`.
    """

    __tablename__ = "crew_links"

    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(128), unique=True)
    crew_id: Mapped[int] = mapped_column(ForeignKey("crews.id"), index=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime]
    created_by: Mapped[str] = mapped_column(String(64))
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]
