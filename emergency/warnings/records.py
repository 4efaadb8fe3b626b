"""Warnings as stored: what a manager (or a CAP import) fills in, which states are in force, and
the reads that both the lifecycle and CAP need (so neither imports the other for them).

"In force" is defined here once: issued or updated, already effective and not yet expired.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, and_, select
from sqlalchemy.orm import Session

from emergency.core.errors import NotFound
from emergency.core.models import Hazard, Warning, WarningLevel, WarningRevision, WarningStatus
from emergency.core.settings import get_setting
from emergency.warnings.area import AreaSpec, ResolvedArea

IN_FORCE = (WarningStatus.ACTIVE, WarningStatus.UPDATED)


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
