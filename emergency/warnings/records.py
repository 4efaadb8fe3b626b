"""Warnings as stored: what a manager (or a CAP import) fills in, which states are in force, and
the reads that both the lifecycle and CAP need (so neither imports the other for them).

"In force" is defined here once: issued or updated, already effective and not yet expired.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, and_, select
from sqlalchemy.orm import Session

from emergency.core.errors import NotFound
from emergency.core.models import CapMessage, Hazard, Warning, WarningLevel, WarningRevision, WarningStatus
from emergency.core.settings import get_setting
from emergency.warnings.area import AreaSpec, ResolvedArea

IN_FORCE = (WarningStatus.ACTIVE, WarningStatus.UPDATED)
# The area of an imported draft whose alert named no place we know (geocodes not in the utility's
# table): no geometry yet, so nothing is counted in it, and it cannot be issued until drawn or picked.
NO_AREA_KIND = "none"
NO_AREA: dict[str, Any] = {"type": "MultiPolygon", "coordinates": []}
# Statuses of CAP messages for drills and tests: imported only on request, never issued.
TEST_STATUSES = ("Test", "Exercise")
# What an imported draft may lack before it can be issued (import_needs), in the order checked.
IMPORT_NEED_CODES = ("test", "level", "area", "title_zh")


@dataclass(frozen=True)
class WarningInput:
    """What a manager fills in (or a CAP import supplies) for a warning."""

    hazard: Hazard | str
    level: WarningLevel | str
    readiness_level: int | None
    title_en: str
    title_zh: str
    text_en: str
    text_zh: str
    area: AreaSpec | ResolvedArea
    effective_at: datetime
    expires_at: datetime
    onset_at: datetime | None = None


def in_force(now: datetime) -> ColumnElement[bool]:
    """The condition a warning in force meets at `now`: published, effective and not expired."""
    return and_(Warning.status.in_(IN_FORCE), Warning.effective_at <= now, Warning.expires_at > now)


def warnings_in_force(session: Session, now: datetime) -> list[Warning]:
    return list(
        session.scalars(select(Warning).where(in_force(now)).order_by(Warning.effective_at, Warning.id))
    )


def get_warning(session: Session, warning_id: int) -> Warning:
    warning = session.get(Warning, warning_id)
    if warning is None:
        raise NotFound(f"no warning {warning_id}")
    return warning


def history(session: Session, warning_id: int) -> list[WarningRevision]:
    return list(
        session.scalars(
            select(WarningRevision)
            .where(WarningRevision.warning_id == warning_id)
            .order_by(WarningRevision.at, WarningRevision.id)
        )
    )


def default_expiry(session: Session, start: datetime) -> datetime:
    return start + timedelta(hours=float(get_setting(session, "warnings.default_hours")))


def imports_of(session: Session, warning_id: int) -> list[CapMessage]:
    """The official CAP messages a warning was made from, oldest first (none for our own warnings)."""
    return list(
        session.scalars(select(CapMessage).where(CapMessage.warning_id == warning_id).order_by(CapMessage.id))
    )


def latest_import(session: Session, warning_id: int) -> CapMessage | None:
    return session.scalar(
        select(CapMessage).where(CapMessage.warning_id == warning_id).order_by(CapMessage.id.desc()).limit(1)
    )


def import_needs(session: Session, warning: Warning) -> list[str]:
    """What an imported draft still lacks before it can be issued: `test` (made from a Test or
    Exercise message: never issued), `level` (the alert gave no colour level), `area` (its place is
    unknown here), `title_zh` (the agency wrote no Chinese). Empty for our own warnings."""
    if warning.source != "cap_import":
        return []
    latest = latest_import(session, warning.id)
    needs = []
    if latest is not None and latest.status in TEST_STATUSES:
        needs.append("test")
    if latest is not None and latest.level_from is None:
        needs.append("level")
    if warning.area_kind == NO_AREA_KIND:
        needs.append("area")
    if not (warning.title_zh or "").strip():
        needs.append("title_zh")
    return needs


def settle_import(session: Session, warning: Warning) -> None:
    """A manager saved the draft with a level and an area: those are now the manager's choice."""
    latest = latest_import(session, warning.id)
    if latest is None:
        return
    if latest.level_from is None:
        latest.level_from = "manager"
    if latest.area_from is None and warning.area_kind != NO_AREA_KIND:
        latest.area_from = "manager"
