"""The disaster-mode priority queue: active outages in disaster-mode districts, important users first.

Ranked by the most critical user an outage cuts off (special, grade 1, grade 2 and life support,
temporary, then none), then by the backup power that user has left (sooner out, sooner restored),
then by customers out. Each row says why it stands where it does. Staff-only: it names users.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from emergency.clock import Clock
from emergency.models import (
    ACTIVE_OUTAGE_STATES,
    Customer,
    CustomerKind,
    Device,
    District,
    ImportanceGrade,
    Outage,
)
from emergency.network import NetworkModel
from emergency.warning_preview import GRADE_ORDER, user_grade
from emergency.warnings import disaster_mode_districts


@dataclass(frozen=True)
class QueueRow:
    rank: int
    outage_id: int
    state: str
    district_code: str
    first_report_at: datetime
    customers_out: int
    top_grade: str | None  # the most critical user's grade; None when no important user is out
    important_users: tuple[str, ...]  # names, most critical first
    backup_hours_left: float | None  # of the most critical user; 0 when it has none or it ran out
    reason: str


def disaster_priority_queue(session: Session, clock: Clock, model: NetworkModel) -> list[QueueRow]:
    now = clock.now()
    districts = disaster_mode_districts(session, now)
    if not districts:
        return []
    codes = dict(session.execute(select(District.id, District.code)).tuples().all())
    rows = session.execute(
        select(Outage, Device.district_id)
        .join(Device, Device.id == Outage.device_id)
        .where(Outage.state.in_(ACTIVE_OUTAGE_STATES))
    ).all()
    ranked: list[tuple[tuple[float, float, int, int], QueueRow]] = []
    for outage, device_district in rows:
        district = outage.district_id if outage.district_id is not None else device_district
        if district not in districts:
            continue
        users = _important_users(session, model, outage, now)
        top = users[0] if users else None
        customers_out = outage.customers_affected - outage.customers_restored
        grade_rank = GRADE_ORDER.index(top[0]) if top else len(GRADE_ORDER)
        key = (grade_rank, top[2] if top else float("inf"), -customers_out, outage.id)
        ranked.append(
            (
                key,
                QueueRow(
                    rank=0,
                    outage_id=outage.id,
                    state=str(outage.state),
                    district_code=codes.get(district, ""),
                    first_report_at=outage.first_report_at,
                    customers_out=customers_out,
                    top_grade=top[0] if top else None,
                    important_users=tuple(u[1] for u in users),
                    backup_hours_left=round(top[2], 1) if top else None,
                    reason=_reason(top, len(users), customers_out, outage.hazard),
                ),
            )
        )
    ranked.sort(key=lambda pair: pair[0])
    return [
        QueueRow(**{**row.__dict__, "rank": position}) for position, (_, row) in enumerate(ranked, start=1)
    ]


def _important_users(
    session: Session, model: NetworkModel, outage: Outage, now: datetime
) -> list[tuple[str, str, float]]:
    """(grade, name, backup hours left) of each important user the outage cuts off, most critical first."""
    if not sum((outage.important_affected or {}).values()):
        return []
    if outage.device_id not in model.net.index_of:
        return []
    transformer_ids = [int(model.net.ids[i]) for i in model.net.transformers_at_or_below(outage.device_id)]
    out_hours = max((now - outage.first_report_at).total_seconds() / 3600, 0.0)
    users = []
    for start in range(0, len(transformer_ids), 900):
        for customer in session.scalars(
            select(Customer).where(
                Customer.transformer_id.in_(transformer_ids[start : start + 900]),
                or_(Customer.importance != ImportanceGrade.NONE, Customer.kind == CustomerKind.LIFE_SUPPORT),
            )
        ):
            # No recorded backup is treated as none: the safe assumption for ordering.
            left = max((customer.backup_hours or 0.0) - out_hours, 0.0)
            users.append((user_grade(str(customer.importance), str(customer.kind)), customer.name, left))
    users.sort(key=lambda u: (GRADE_ORDER.index(u[0]), u[2], u[1]))
    return users


def _reason(top: tuple[str, str, float] | None, count: int, customers_out: int, hazard: bool) -> str:
    parts = []
    if top is not None:
        grade, _name, left = top
        parts.append(f"{count} important user(s), most critical {grade.replace('_', ' ')}")
        parts.append("backup power exhausted" if left == 0 else f"backup power left {left:.1f} h")
    else:
        parts.append("no important user")
    if hazard:
        parts.append("hazard reported")
    parts.append(f"{customers_out} customers out")
    return "; ".join(parts)
