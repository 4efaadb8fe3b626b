"""The disaster-mode priority queue: the active outages in disaster-mode districts, in the one
priority order (`emergency.dispatch.priority`, where disaster mode puts important users strictly first),
each with the names of the important users it cuts off. Staff-only: it names users.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from emergency.core.clock import Clock
from emergency.core.models import (
    Customer,
    CustomerKind,
    District,
    ImportanceGrade,
)
from emergency.dispatch.board import sla_board
from emergency.dispatch.priority import Priority
from emergency.network.model import NetworkModel
from emergency.warnings.preview import GRADE_ORDER, user_grade


@dataclass(frozen=True)
class QueueRow:
    rank: int  # place in this queue; `priority.rank` is the place on the whole board
    outage_id: int
    state: str
    district_code: str
    first_report_at: datetime
    customers_out: int
    important_users: tuple[str, ...]  # names, most critical first
    priority: Priority

    @property
    def top_grade(self) -> str | None:
        """The most critical user's grade; None when no important user is out."""
        return self.priority.top_grade

    @property
    def backup_hours_left(self) -> float | None:
        """Of the most critical user; 0 when it has none or it ran out."""
        return self.priority.backup_hours_left

    def reason(self, language: str = "en") -> str:
        return self.priority.reason(language)


def disaster_priority_queue(
    session: Session, clock: Clock, model: NetworkModel, tz: ZoneInfo
) -> list[QueueRow]:
    now = clock.now()
    board = sla_board(session, clock, tz)
    in_disaster = [row for row in board if row.priority and row.priority.disaster_mode]
    if not in_disaster:
        return []
    codes = dict(session.execute(select(District.id, District.code)).tuples().all())
    queue = []
    for position, row in enumerate(in_disaster, start=1):
        assert row.priority is not None
        names = (
            tuple(
                name
                for _, name, _ in _important_users(session, model, row.device_id, row.first_report_at, now)
            )
            if row.priority.top_grade is not None
            else ()
        )
        queue.append(
            QueueRow(
                rank=position,
                outage_id=row.outage_id,
                state=row.state,
                district_code=codes.get(row.district_id, "") if row.district_id is not None else "",
                first_report_at=row.first_report_at,
                customers_out=row.customers_out,
                important_users=names,
                priority=row.priority,
            )
        )
    return queue


def _important_users(
    session: Session, model: NetworkModel, device_id: int, first_report_at: datetime, now: datetime
) -> list[tuple[str, str, float]]:
    """(grade, name, backup hours left) of each important user an outage at `device_id` cuts off,
    most critical first (the queue's page shows their names; only outages with one are asked)."""
    if device_id not in model.net.index_of:
        return []
    transformer_ids = [int(model.net.ids[i]) for i in model.net.transformers_at_or_below(device_id)]
    out_hours = max((now - first_report_at).total_seconds() / 3600, 0.0)
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
