"""Filing a damage assessment: a crew leader (their own crew's outage), a dispatcher or a manager.

The photos are decoded and converted before the transaction opens (it is the slow part, and a bad
photo refuses the whole filing with its reason before anything is written); the assessment, its
photos, the ETR it sets and the audit event are then one unit of work.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from emergency.app.bus import handles
from emergency.app.context import Context
from emergency.core.unit_of_work import unit_of_work
from emergency.dispatch import assessment
from emergency.dispatch.assessment import FILER_ROLES, AssessmentInput, AssessmentRules, Filed
from emergency.dispatch.photos import prepare_photo


@dataclass(frozen=True)
class FileAssessment:
    """A damage assessment of `outage_id`. `photos` are (file name, bytes as uploaded); `done_at` is
    when it was done when entered later (offline), None for now."""

    outage_id: int
    cause: str
    repair_minutes: int
    equipment: tuple[str, ...] = ()
    poles_down: int = 0
    spans_down: int = 0
    access: str | None = None
    crews_needed: int = 0
    materials: str | None = None
    notes: str | None = None
    done_at: datetime | None = None
    crew_id: int | None = None
    photos: tuple[tuple[str, bytes], ...] = ()


@handles(FileAssessment)
def file_assessment(ctx: Context, cmd: FileAssessment) -> Filed:
    ctx.actor.require(*FILER_ROLES)
    # The limits are read in a short read session: photos are converted outside the write lock.
    with ctx.db.read() as session:
        rules = AssessmentRules.from_settings(session)
    assessment.check_photo_count(len(cmd.photos), rules)
    photos = [prepare_photo(name, data, rules.photos) for name, data in cmd.photos]
    given = AssessmentInput(
        outage_id=cmd.outage_id,
        cause=cmd.cause,
        repair_minutes=cmd.repair_minutes,
        equipment=cmd.equipment,
        poles_down=cmd.poles_down,
        spans_down=cmd.spans_down,
        access=cmd.access,
        crews_needed=cmd.crews_needed,
        materials=cmd.materials,
        notes=cmd.notes,
        done_at=cmd.done_at,
        crew_id=cmd.crew_id,
    )
    with unit_of_work(ctx.db, ctx.actor, FILER_ROLES, against_analysis=True) as session:
        return assessment.file_assessment(session, ctx.clock, ctx.actor, given, photos)
