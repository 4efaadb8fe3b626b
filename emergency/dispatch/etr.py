"""Estimated restoration times: the system's estimate, people's estimates, and their history.

The system estimates when a crew is dispatched: travel plus a typical repair time by device kind and
area type, longer in disaster mode. A crew's or a dispatcher's ETR knows more than an average, so a
system estimate never replaces one of theirs that is still in the future; a crew's damage assessment
(`emergency.dispatch.assessment`) is one of theirs. Every ETR an outage ever
had is kept in `etr_history` with its source, confidence and author.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from emergency.core import audit
from emergency.core.actor import Actor
from emergency.core.clock import Clock
from emergency.core.errors import Conflict, InvalidInput, NotFound
from emergency.core.models import (
    ACTIVE_OUTAGE_STATES,
    AreaType,
    DeviceKind,
    EtrChange,
    EtrConfidence,
    EtrSource,
    Outage,
    Setting,
    Warning,
)
from emergency.core.settings import DEFAULT_SETTINGS
from emergency.warnings.records import in_force

MAX_NOTE_CHARS = 500
# ETRs from people who know the outage: a system estimate never replaces one still ahead. A crew's
# damage assessment (its repair time on site) counts as much as a crew's phoned-in ETR.
PEOPLE = frozenset({EtrSource.DISPATCHER, EtrSource.CREW, EtrSource.ASSESSMENT})


def load_prefixed(session: Session | None, prefix: str) -> dict[str, Any]:
    """Every setting under `prefix` in one query, with the shipped default for any not stored."""
    values = {key: value for key, (value, _) in DEFAULT_SETTINGS.items() if key.startswith(prefix)}
    if session is not None:
        for key, value in session.execute(
            select(Setting.key, Setting.value).where(Setting.key.in_(list(values)))
        ):
            values[key] = value
    return values


@dataclass(frozen=True)
class EtrRules:
    """Typical repair times and their scaling, read from the `etr.` settings."""

    repair_minutes: Mapping[str, float]  # urban repair time by device kind
    area_factor: Mapping[str, float]  # by area type; urban is 1
    disaster_factor: float
    round_minutes: int
    max_days_ahead: float

    @classmethod
    def from_settings(cls, session: Session | None) -> EtrRules:
        """The rules a utility has set; with no session, the shipped defaults."""
        values = load_prefixed(session, "etr.")
        return cls(
            repair_minutes={
                kind.value: float(values[f"etr.repair_{kind.value}_minutes"]) for kind in DeviceKind
            },
            area_factor={
                AreaType.URBAN.value: 1.0,
                AreaType.RURAL.value: float(values["etr.rural_factor"]),
                AreaType.REMOTE.value: float(values["etr.remote_factor"]),
            },
            disaster_factor=float(values["etr.disaster_factor"]),
            round_minutes=int(values["etr.round_minutes"]),
            max_days_ahead=float(values["etr.max_days_ahead"]),
        )


def typical_repair_minutes(
    device_kind: DeviceKind | str,
    area_type: AreaType | str,
    disaster_mode: bool = False,
    *,
    rules: EtrRules | None = None,
) -> float:
    """Minutes a crew on site typically needs to restore an outage at this kind of device."""
    rules = rules or EtrRules.from_settings(None)
    minutes = rules.repair_minutes[str(device_kind)] * rules.area_factor.get(str(area_type), 1.0)
    return minutes * rules.disaster_factor if disaster_mode else minutes


def system_etr(
    outage: Outage,
    device_kind: DeviceKind | str,
    area_type: AreaType | str,
    travel_minutes: float,
    now: datetime,
    disaster_mode: bool = False,
    *,
    rules: EtrRules | None = None,
) -> tuple[datetime, EtrConfidence]:
    """The system's estimate: now + travel + typical repair, rounded up; and how sure it is.

    Rounded up because customers plan around it: no ETR hurts more than a conservative one, and
    "14:30" reads better than "14:27". An unconfirmed outage may sit at the wrong device and a
    disaster stretches every average, so either makes the estimate low-confidence.
    """
    rules = rules or EtrRules.from_settings(None)
    minutes = max(float(travel_minutes), 0.0) + typical_repair_minutes(
        device_kind, area_type, disaster_mode, rules=rules
    )
    etr = round_up(now + timedelta(minutes=minutes), rules.round_minutes)
    confident = outage.confirmed_at is not None and not disaster_mode
    return etr, EtrConfidence.MEDIUM if confident else EtrConfidence.LOW


def round_up(when: datetime, minutes: int) -> datetime:
    """The first multiple of `minutes` (counted from the Unix epoch) at or after `when`."""
    if minutes <= 0:
        return when
    step = minutes * 60
    seconds = when.timestamp()
    return datetime.fromtimestamp(math.ceil(seconds / step) * step, tz=UTC)


def disaster_mode_active(session: Session, now: datetime) -> bool:
    """Disaster mode is on while a warning in force says so (a manager declares it with the warning)."""
    found = session.scalar(
        select(Warning.id)
        .where(
            Warning.disaster_mode.is_(True),
            in_force(now),
        )
        .limit(1)
    )
    return found is not None


def etr_snapshot(outage: Outage) -> dict[str, Any]:
    """The ETR fields an audit event records before and after a change."""
    return {
        "etr_at": outage.etr_at.isoformat() if outage.etr_at else None,
        "etr_source": str(outage.etr_source) if outage.etr_source else None,
        "etr_confidence": str(outage.etr_confidence) if outage.etr_confidence else None,
        "version": outage.version,
    }


def people_etr_stands(outage: Outage, now: datetime) -> bool:
    """Whether the outage holds a crew's or dispatcher's ETR that has not yet passed."""
    return outage.etr_source in PEOPLE and outage.etr_at is not None and outage.etr_at > now


def apply_etr(
    session: Session,
    clock: Clock,
    actor: Actor,
    outage: Outage,
    etr_at: datetime,
    confidence: EtrConfidence,
    source: EtrSource,
    note: str | None = None,
) -> EtrChange | None:
    """Give the outage this ETR inside the caller's transaction, unless precedence keeps the current one.

    Returns the history row, or None when a system estimate yields to a person's ETR still ahead.
    The caller has validated the inputs and checked the role.
    """
    now = clock.now()
    if source == EtrSource.SYSTEM and people_etr_stands(outage, now):
        return None
    before = etr_snapshot(outage)
    outage.etr_at = etr_at
    outage.etr_source = source
    outage.etr_confidence = confidence
    outage.etr_set_at = now
    change = EtrChange(
        outage_id=outage.id,
        etr_at=etr_at,
        source=source,
        confidence=confidence,
        set_at=now,
        set_by=actor.username,
        note=note,
    )
    session.add(change)
    session.flush()
    audit.record(
        session,
        clock,
        actor,
        "outage.etr",
        "outage",
        outage.id,
        before=before,
        after=etr_snapshot(outage),
        detail=f"{source} ETR {etr_at.isoformat()} ({confidence})" + (f": {note}" if note else ""),
    )
    return change


def set_etr(
    session: Session,
    clock: Clock,
    actor: Actor,
    outage_id: int,
    etr_at: datetime,
    confidence: EtrConfidence | str,
    source: EtrSource | str,
    note: str | None = None,
    *,
    expected_version: int | None = None,
) -> Outage:
    """A dispatcher records an ETR (their own, or one a crew phoned in) for an active outage."""
    confidence_value: EtrConfidence = _enum(EtrConfidence, confidence, "confidence")
    source_value: EtrSource = _enum(EtrSource, source, "source")
    note = _note(note)
    now = clock.now()
    rules = EtrRules.from_settings(session)
    check_etr_time(etr_at, now, rules)
    outage = session.get(Outage, outage_id)
    if outage is None:
        raise NotFound(f"no outage {outage_id}")
    if expected_version is not None and outage.version != expected_version:
        raise Conflict(f"outage {outage_id} was changed by someone else; reload and try again")
    if outage.state not in ACTIVE_OUTAGE_STATES:
        raise Conflict(f"outage {outage_id} is {outage.state}; an ETR is for an active outage")
    if source_value == EtrSource.SYSTEM and people_etr_stands(outage, now):
        assert outage.etr_at is not None
        raise Conflict(
            f"outage {outage_id} has a {outage.etr_source} ETR ({outage.etr_at.isoformat()}) still "
            "ahead, which takes precedence over a system estimate"
        )
    try:
        apply_etr(session, clock, actor, outage, etr_at, confidence_value, source_value, note)
    except StaleDataError:
        raise Conflict(f"outage {outage_id} was changed by someone else; reload and try again") from None
    return outage


def etr_history(session: Session, outage_id: int) -> list[EtrChange]:
    """Every ETR the outage has had, oldest first."""
    return list(
        session.scalars(
            select(EtrChange).where(EtrChange.outage_id == outage_id).order_by(EtrChange.set_at, EtrChange.id)
        )
    )


def check_etr_time(etr_at: datetime, now: datetime, rules: EtrRules) -> None:
    """Refuse an ETR that is not an aware time, already past, or implausibly far ahead."""
    if not isinstance(etr_at, datetime) or etr_at.tzinfo is None:
        raise InvalidInput("must be a time with its time zone", field="etr_at")
    if etr_at <= now:
        raise InvalidInput("is in the past: an ETR must be ahead of now", field="etr_at")
    if etr_at > now + timedelta(days=rules.max_days_ahead):
        raise InvalidInput(f"is more than {rules.max_days_ahead:g} days ahead", field="etr_at")


def _enum(enum: Any, value: Any, field: str) -> Any:
    try:
        return enum(str(value).strip().lower())
    except ValueError:
        allowed = ", ".join(m.value for m in enum)
        raise InvalidInput(f"unknown {field} {str(value)[:40]!r} (allowed: {allowed})", field=field) from None


def _note(note: str | None) -> str | None:
    if note is None:
        return None
    note = note.strip()
    if len(note) > MAX_NOTE_CHARS:
        raise InvalidInput(f"at most {MAX_NOTE_CHARS} characters", field="note")
    return note or None
