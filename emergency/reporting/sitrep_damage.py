"""Damage in the situation report: what crews' assessments found, as the records stood at its time.

Each outage of the event counts by its newest assessment recorded by the report's time (an
assessment entered later, even one done earlier, is not in a report already made). Damage is placed
in the district of the outage's device, where the poles and wires stand, not where its customers
live (the report's other figures follow customers; see `outage_figures`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from emergency.core.field_models import DamageAssessment
from emergency.core.models import Device, District, Outage
from emergency.core.vocabulary import DamageCause


@dataclass(frozen=True)
class DamageLine:
    """One district's damage: outages at its devices assessed or not, poles and spans down."""

    code: str
    name_en: str
    name_zh: str
    assessed: int
    not_assessed: int
    poles_down: int
    spans_down: int


@dataclass(frozen=True)
class Damage:
    outages_assessed: int
    outages_not_assessed: int
    poles_down: int
    spans_down: int
    by_cause: dict[str, int] = field(default_factory=dict)  # outages by their assessment's cause
    districts: tuple[DamageLine, ...] = ()


def damage_counts(session: Session, outage_ids: Sequence[int], as_of: datetime) -> Damage:
    """The damage of the event's outages (`outage_ids`) by their newest assessment recorded by `as_of`."""
    ids = sorted({int(i) for i in outage_ids})
    district_of: dict[int, int | None] = {}
    newest: dict[int, tuple[DamageCause, int, int]] = {}
    for start in range(0, len(ids), 900):
        chunk = ids[start : start + 900]
        for outage_id, district_id in session.execute(
            select(Outage.id, Device.district_id)
            .join(Device, Device.id == Outage.device_id)
            .where(Outage.id.in_(chunk))
        ):
            district_of[outage_id] = district_id
        for outage_id, cause, poles, spans in session.execute(
            select(
                DamageAssessment.outage_id,
                DamageAssessment.cause,
                DamageAssessment.poles_down,
                DamageAssessment.spans_down,
            )
            .where(DamageAssessment.outage_id.in_(chunk), DamageAssessment.at <= as_of)
            .order_by(DamageAssessment.done_at, DamageAssessment.id)
        ):
            newest[outage_id] = (DamageCause(cause), int(poles), int(spans))  # later rows win
    by_cause = {cause.value: 0 for cause in DamageCause}
    per_district: dict[int | None, list[int]] = {}
    for outage_id in ids:
        line = per_district.setdefault(district_of.get(outage_id), [0, 0, 0, 0])
        found = newest.get(outage_id)
        if found is None:
            line[1] += 1
            continue
        cause, poles, spans = found
        by_cause[cause.value] += 1
        line[0] += 1
        line[2] += poles
        line[3] += spans
    districts = tuple(
        DamageLine(d.code, d.name_en, d.name_zh, *per_district.get(d.id, [0, 0, 0, 0]))
        for d in session.scalars(select(District).order_by(District.code))
    )
    return Damage(
        outages_assessed=len(newest),
        outages_not_assessed=len(ids) - len(newest),
        poles_down=sum(p for _, p, _ in newest.values()),
        spans_down=sum(s for _, _, s in newest.values()),
        by_cause={cause: n for cause, n in by_cause.items() if n},
        districts=districts,
    )
