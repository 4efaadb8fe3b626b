"""Damage assessments for the pages: the form's limits and choices, and an outage's assessments.

The EXIF of photos (where and when they were taken, the camera) is for staff: only the control room
reads it here, and no public output is built from these tables.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select

from emergency.app.context import Context
from emergency.core.field_models import AssessmentPhoto, DamageAssessment
from emergency.core.models import Crew, Role
from emergency.core.unit_of_work import read_as
from emergency.core.vocabulary import DamageCause
from emergency.dispatch import assessment
from emergency.dispatch.etr import EtrRules

CONTROL_ROOM = (Role.DISPATCHER, Role.MANAGER)


@dataclass(frozen=True)
class FormLimits:
    """What the assessment form offers and how far it goes, so a limit is shown before it refuses."""

    causes: tuple[str, ...]
    equipment: tuple[str, ...]
    max_photos: int
    photo_max_bytes: int
    max_access_chars: int
    max_materials_chars: int
    max_notes_chars: int
    max_count: int
    max_repair_minutes: int
    max_offline_hours: float


@dataclass(frozen=True)
class PhotoView:
    id: int
    filename: str
    data: bytes  # JPEG without EXIF
    width: int
    height: int
    exif: dict[str, Any]  # staff only


@dataclass(frozen=True)
class AssessmentView:
    id: int
    outage_id: int
    crew_code: str | None
    by: str
    at: datetime
    done_at: datetime
    cause: str
    equipment: tuple[str, ...]
    poles_down: int
    spans_down: int
    access: str | None
    crews_needed: int
    materials: str | None
    repair_minutes: int
    notes: str | None
    photos: tuple[PhotoView, ...]


def form_limits(ctx: Context) -> FormLimits:
    with read_as(ctx.db, ctx.actor, assessment.FILER_ROLES) as session:
        rules = assessment.AssessmentRules.from_settings(session)
        etr_rules = EtrRules.from_settings(session)
    return FormLimits(
        causes=tuple(c.value for c in DamageCause),
        equipment=assessment.EQUIPMENT_KINDS,
        max_photos=rules.max_photos,
        photo_max_bytes=rules.photos.max_bytes,
        max_access_chars=assessment.MAX_ACCESS_CHARS,
        max_materials_chars=assessment.MAX_MATERIALS_CHARS,
        max_notes_chars=assessment.MAX_NOTES_CHARS,
        max_count=assessment.MAX_COUNT,
        max_repair_minutes=int(etr_rules.max_days_ahead * 24 * 60),
        max_offline_hours=rules.max_offline_hours,
    )


def outage_assessments(ctx: Context, outage_id: int) -> tuple[AssessmentView, ...]:
    """Every assessment of the outage, newest (the one that counts) first, with its photos."""
    with read_as(ctx.db, ctx.actor, CONTROL_ROOM) as session:
        rows = session.execute(
            select(DamageAssessment, Crew.code)
            .outerjoin(Crew, Crew.id == DamageAssessment.crew_id)
            .where(DamageAssessment.outage_id == int(outage_id))
            .order_by(DamageAssessment.done_at.desc(), DamageAssessment.id.desc())
        ).all()
        ids = [a.id for a, _ in rows]
        photos: dict[int, list[PhotoView]] = {}
        if ids:
            for p in session.scalars(
                select(AssessmentPhoto)
                .where(AssessmentPhoto.assessment_id.in_(ids))
                .order_by(AssessmentPhoto.id)
            ):
                photos.setdefault(p.assessment_id, []).append(
                    PhotoView(p.id, p.filename, p.data, p.width, p.height, dict(p.exif or {}))
                )
        return tuple(
            AssessmentView(
                id=a.id,
                outage_id=a.outage_id,
                crew_code=code,
                by=a.by,
                at=a.at,
                done_at=a.done_at,
                cause=str(a.cause),
                equipment=tuple(a.equipment or ()),
                poles_down=a.poles_down,
                spans_down=a.spans_down,
                access=a.access,
                crews_needed=a.crews_needed,
                materials=a.materials,
                repair_minutes=a.repair_minutes,
                notes=a.notes,
                photos=tuple(photos.get(a.id, ())),
            )
            for a, code in rows
        )
