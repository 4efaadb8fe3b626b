"""Damage assessments: what a crew found at an outage, and what follows from it.

An outage may be assessed several times (a first look, then a closer one); the newest by the time
it was done counts. Filing one sets the outage's ETR from when it was done plus the estimated
repair time, as source `assessment`: a crew on site knows more than the system's typical repair
time, so a system estimate never replaces it while it is ahead (`etr.PEOPLE`), and a dispatcher's
ETR set after the assessment was done is later knowledge and is kept. The newest assessment also
feeds the situation report (damage counts) and the storm plan (repair time, more crews).

A crew leader (role `crew`) may assess only an outage their own crew is (or was) sent to; a
dispatcher or manager may assess any. An assessment made offline is entered later with the time it
was done, which is checked (not ahead of now, not before the outage began, not older than a
setting) and audited beside the time it was recorded.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from emergency.core import audit
from emergency.core.actor import Actor
from emergency.core.clock import Clock
from emergency.core.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from emergency.core.field_models import AssessmentPhoto, DamageAssessment
from emergency.core.models import (
    ACTIVE_OUTAGE_STATES,
    AssignmentStatus,
    Crew,
    CrewAssignment,
    EtrConfidence,
    EtrSource,
    Outage,
    OutageState,
    Role,
    User,
)
from emergency.core.vocabulary import DamageCause
from emergency.dispatch.etr import EtrRules, apply_etr, load_prefixed, round_up
from emergency.dispatch.photos import PhotoLimits, StoredPhoto

FILER_ROLES = (Role.DISPATCHER, Role.MANAGER, Role.CREW)
# The kinds of equipment a crew may say is damaged; their words are in data/i18n (`dmg.equipment.*`).
EQUIPMENT_KINDS = (
    "pole",
    "conductor",
    "transformer",
    "crossarm",
    "insulator",
    "fuse",
    "switch",
    "recloser",
    "cable",
    "meter",
    "service_drop",
    "streetlight",
)
# Text limits are the columns' (emergency.core.field_models.DamageAssessment): refused beyond them.
MAX_ACCESS_CHARS = 1000
MAX_MATERIALS_CHARS = 1000
MAX_NOTES_CHARS = 4000
MAX_COUNT = 1000  # poles or spans down, crews needed: more is a typing slip
# A phone's clock may run a little ahead of the server's; a done-at within this is taken as now.
CLOCK_SKEW = timedelta(minutes=2)
NOT_ASSESSABLE = frozenset({OutageState.CANCELLED, OutageState.MERGED})


@dataclass(frozen=True)
class AssessmentRules:
    """The `assessment.` settings."""

    photos: PhotoLimits
    max_photos: int
    max_offline_hours: float

    @classmethod
    def from_settings(cls, session: Session | None) -> AssessmentRules:
        values = load_prefixed(session, "assessment.")
        return cls(
            photos=PhotoLimits(
                max_bytes=int(values["assessment.photo_max_bytes"]),
                max_edge_px=int(values["assessment.photo_max_edge_px"]),
                max_pixels=int(values["assessment.photo_max_pixels"]),
            ),
            max_photos=int(values["assessment.max_photos"]),
            max_offline_hours=float(values["assessment.max_offline_hours"]),
        )


@dataclass(frozen=True)
class AssessmentInput:
    """What the form sends, before checking."""

    outage_id: int
    cause: str
    repair_minutes: int
    equipment: Sequence[str] = ()
    poles_down: int = 0
    spans_down: int = 0
    access: str | None = None
    crews_needed: int = 0
    materials: str | None = None
    notes: str | None = None
    done_at: datetime | None = None  # None: now
    crew_id: int | None = None  # a dispatcher may name the crew that assessed


@dataclass(frozen=True)
class EtrOutcome:
    """What the assessment did to the outage's ETR, and why (shown to whoever filed it)."""

    set: bool
    etr_at: datetime | None
    confidence: str | None
    reason: str  # "set", "passed", "inactive", "dispatcher_later"


@dataclass(frozen=True)
class Filed:
    assessment_id: int
    outage_id: int
    crew_id: int | None
    photos: int
    etr: EtrOutcome
    done_at: datetime
    at: datetime
    warnings: tuple[str, ...] = field(default=())


def check_photo_count(count: int, rules: AssessmentRules) -> None:
    if count > rules.max_photos:
        raise InvalidInput(f"{count} photos; an assessment holds at most {rules.max_photos}", field="photos")


def file_assessment(
    session: Session,
    clock: Clock,
    actor: Actor,
    given: AssessmentInput,
    photos: Sequence[StoredPhoto],
) -> Filed:
    """Store the assessment and its (already converted) photos, set the ETR, audit both times."""
    actor.require(*FILER_ROLES)
    now = clock.now()
    rules = AssessmentRules.from_settings(session)
    check_photo_count(len(photos), rules)
    outage = session.get(Outage, given.outage_id)
    if outage is None:
        raise NotFound(f"no outage {given.outage_id}")
    if outage.state in NOT_ASSESSABLE:
        raise Conflict(f"outage {outage.id} is {outage.state}; it cannot be assessed")
    crew_id = _crew_of(session, actor, outage, given.crew_id)
    done_at = _done_at(given.done_at, now, outage, rules)
    assessment = DamageAssessment(
        outage_id=outage.id,
        crew_id=crew_id,
        at=now,
        done_at=done_at,
        by=actor.username,
        cause=_cause(given.cause),
        equipment=_equipment(given.equipment),
        poles_down=_count(given.poles_down, "poles_down"),
        spans_down=_count(given.spans_down, "spans_down"),
        access=_text(given.access, MAX_ACCESS_CHARS, "access"),
        crews_needed=_count(given.crews_needed, "crews_needed"),
        materials=_text(given.materials, MAX_MATERIALS_CHARS, "materials"),
        repair_minutes=_repair_minutes(given.repair_minutes, EtrRules.from_settings(session)),
        notes=_text(given.notes, MAX_NOTES_CHARS, "notes"),
    )
    session.add(assessment)
    session.flush()
    for photo in photos:
        session.add(
            AssessmentPhoto(
                assessment_id=assessment.id,
                filename=photo.filename,
                content_type=photo.content_type,
                data=photo.data,
                exif=photo.exif,
                width=photo.width,
                height=photo.height,
                size_bytes=photo.size_bytes,
                at=now,
            )
        )
    etr_outcome = _feed_etr(session, clock, actor, outage, assessment)
    audit.record(
        session,
        clock,
        actor,
        "outage.assessment",
        "damage_assessment",
        assessment.id,
        after={**snapshot(assessment), "photos": len(photos), "etr": etr_outcome.reason},
        detail=(
            f"outage {outage.id}: {assessment.cause}, repair {assessment.repair_minutes} min, "
            f"done {done_at.isoformat()}, recorded {now.isoformat()}"
        ),
    )
    return Filed(assessment.id, outage.id, crew_id, len(photos), etr_outcome, done_at, now)


def snapshot(a: DamageAssessment) -> dict[str, Any]:
    """The fields an audit event records."""
    return {
        "outage_id": a.outage_id,
        "crew_id": a.crew_id,
        "done_at": a.done_at.isoformat(),
        "at": a.at.isoformat(),
        "cause": str(a.cause),
        "equipment": list(a.equipment),
        "poles_down": a.poles_down,
        "spans_down": a.spans_down,
        "access": a.access,
        "crews_needed": a.crews_needed,
        "materials": a.materials,
        "repair_minutes": a.repair_minutes,
        "notes": a.notes,
    }


def _crew_of(session: Session, actor: Actor, outage: Outage, named: int | None) -> int | None:
    """The crew the assessment is for. A crew leader's own crew, which must be sent to this outage."""
    if actor.role == Role.CREW:
        crew_id = session.scalar(select(User.crew_id).where(User.username == actor.username))
        if crew_id is None:
            raise PermissionDenied(f"{actor.username} is not the leader of any crew")
        if named is not None and named != crew_id:
            raise PermissionDenied(f"{actor.username} may assess only for their own crew")
        sent = session.scalar(
            select(CrewAssignment.id)
            .where(
                CrewAssignment.outage_id == outage.id,
                CrewAssignment.crew_id == crew_id,
                CrewAssignment.status != AssignmentStatus.CANCELLED,
            )
            .limit(1)
        )
        if sent is None:
            raise PermissionDenied(f"outage {outage.id} is not your crew's work")
        return int(crew_id)
    if named is not None and session.get(Crew, named) is None:
        raise NotFound(f"no crew {named}")
    return named


def _done_at(given: datetime | None, now: datetime, outage: Outage, rules: AssessmentRules) -> datetime:
    if given is None:
        return now
    if not isinstance(given, datetime) or given.tzinfo is None:
        raise InvalidInput("must be a time with its time zone", field="done_at")
    if given > now + CLOCK_SKEW:
        raise InvalidInput("is ahead of now: enter when the assessment was done", field="done_at")
    if given < outage.first_report_at:
        raise InvalidInput(f"is before outage {outage.id} was first reported", field="done_at")
    if given < now - timedelta(hours=rules.max_offline_hours):
        raise InvalidInput(f"is more than {rules.max_offline_hours:g} hours ago", field="done_at")
    return min(given, now)


def _cause(value: str) -> DamageCause:
    try:
        return DamageCause(str(value).strip().lower())
    except ValueError:
        allowed = ", ".join(c.value for c in DamageCause)
        raise InvalidInput(f"unknown cause {str(value)[:40]!r} (allowed: {allowed})", field="cause") from None


def _equipment(values: Iterable[str]) -> list[str]:
    chosen: list[str] = []
    for value in values or ():
        kind = str(value).strip().lower()
        if kind not in EQUIPMENT_KINDS:
            allowed = ", ".join(EQUIPMENT_KINDS)
            raise InvalidInput(f"unknown equipment {kind[:40]!r} (allowed: {allowed})", field="equipment")
        if kind not in chosen:
            chosen.append(kind)
    return chosen


def _count(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidInput("must be a whole number", field=name)
    if not 0 <= value <= MAX_COUNT:
        raise InvalidInput(f"must be between 0 and {MAX_COUNT}", field=name)
    return value


def _text(value: str | None, limit: int, name: str) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    if len(text) > limit:
        raise InvalidInput(f"is {len(text)} characters; at most {limit}", field=name)
    return text or None


def _repair_minutes(value: Any, etr_rules: EtrRules) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidInput("must be a whole number of minutes", field="repair_minutes")
    most = int(etr_rules.max_days_ahead * 24 * 60)
    if not 1 <= value <= most:
        raise InvalidInput(f"must be between 1 and {most} minutes", field="repair_minutes")
    return value


def assessment_confidence(a: DamageAssessment) -> EtrConfidence:
    """High when the crew that saw the damage can do the repair; medium when it waits on access or
    on more crews, which the estimate cannot see."""
    return EtrConfidence.MEDIUM if a.access or a.crews_needed > 0 else EtrConfidence.HIGH


def _feed_etr(
    session: Session, clock: Clock, actor: Actor, outage: Outage, a: DamageAssessment
) -> EtrOutcome:
    now = clock.now()
    if outage.state not in ACTIVE_OUTAGE_STATES:
        return EtrOutcome(False, None, None, "inactive")
    etr_rules = EtrRules.from_settings(session)
    etr_at = round_up(a.done_at + timedelta(minutes=a.repair_minutes), etr_rules.round_minutes)
    if etr_at <= now:
        # Entered late: the repair time from when it was done has already run out. Nothing to set;
        # the filer is told so and asked for an ETR instead of seeing a past one published.
        return EtrOutcome(False, etr_at, None, "passed")
    if (
        outage.etr_source == EtrSource.DISPATCHER
        and outage.etr_set_at is not None
        and outage.etr_set_at > a.done_at
        and outage.etr_at is not None
        and outage.etr_at > now
    ):
        return EtrOutcome(False, outage.etr_at, None, "dispatcher_later")
    confidence = assessment_confidence(a)
    apply_etr(
        session,
        clock,
        actor,
        outage,
        etr_at,
        confidence,
        EtrSource.ASSESSMENT,
        note=f"assessment {a.id}: repair {a.repair_minutes} min from {a.done_at.isoformat()}",
    )
    return EtrOutcome(True, etr_at, confidence.value, "set")


def latest_assessments(session: Session, outage_ids: Sequence[int]) -> dict[int, DamageAssessment]:
    """The newest assessment of each outage (by when it was done, then filed), by outage id."""
    newest: dict[int, DamageAssessment] = {}
    wanted = sorted({int(i) for i in outage_ids})
    for start in range(0, len(wanted), 900):
        for a in session.scalars(
            select(DamageAssessment)
            .where(DamageAssessment.outage_id.in_(wanted[start : start + 900]))
            .order_by(DamageAssessment.done_at, DamageAssessment.id)
        ):
            newest[a.outage_id] = a  # later rows replace earlier ones
    return newest
