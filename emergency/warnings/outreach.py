"""The outreach list: reaching every important user in a warning's area, tracked to done.

Each user starts at a message; if nobody acknowledges, staff escalate to a phone call, then to a
visit. Someone at the user's end acknowledging (by name) is recorded, and the task is closed as done
when the user is ready (backup power checked, contacts confirmed). Staff-only: names and contacts.

In a typhoon the list runs to hundreds of users, so a step can be taken for many at once
(`step_for_many` with `check_many`): each user's task still moves on its own, against the version
the manager saw, with its own audit event, and one that someone changed first is refused alone.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from emergency.core import audit
from emergency.core.actor import Actor
from emergency.core.clock import Clock
from emergency.core.errors import Conflict, InvalidInput, NotFound
from emergency.core.models import (
    Customer,
    District,
    OutreachStatus,
    OutreachStep,
    OutreachTask,
    Role,
)
from emergency.warnings.preview import GRADE_ORDER, user_grade

OUTREACH_ROLES = (Role.MANAGER, Role.ADMIN)
LADDER = (OutreachStep.MESSAGE, OutreachStep.CALL, OutreachStep.VISIT)
MAX_NOTE_CHARS = 500
MAX_NAME_CHARS = 120
# The steps a manager can take for several users at once, and how many in one go (a warning's
# list is at most a few thousand important users).
BULK_STEPS = ("escalate", "acknowledge", "complete")
MAX_BULK_TASKS = 5_000


@dataclass(frozen=True)
class OutreachLine:
    task_id: int
    version: int
    warning_id: int
    customer_id: int
    account_no: str
    name: str
    grade: str
    kind: str
    backup_hours: float | None
    contact_name: str | None
    contact_phone: str | None
    district_code: str
    step: str
    status: str
    acknowledged_by: str | None
    acknowledged_at: datetime | None
    updated_by: str | None
    updated_at: datetime
    note: str | None


def add_tasks(session: Session, clock: Clock, warning_id: int, customer_ids: Sequence[int]) -> int:
    """Put these users on the warning's list, once each (an update adds only newcomers)."""
    present = set(
        session.scalars(select(OutreachTask.customer_id).where(OutreachTask.warning_id == warning_id))
    )
    now = clock.now()
    rows = [
        {
            "warning_id": warning_id,
            "customer_id": customer_id,
            "step": OutreachStep.MESSAGE,
            "status": OutreachStatus.PENDING,
            "updated_at": now,
            "updated_by": "system",
            "version": 1,
        }
        for customer_id in dict.fromkeys(customer_ids)
        if customer_id not in present
    ]
    if rows:
        session.execute(insert(OutreachTask), rows)
    return len(rows)


def outreach_list(session: Session, warning_id: int | None = None) -> list[OutreachLine]:
    """Open tasks first, then by grade and least backup; every warning's when `warning_id` is None."""
    query = (
        select(OutreachTask, Customer, District.code)
        .join(Customer, Customer.id == OutreachTask.customer_id)
        .join(District, District.id == Customer.district_id)
    )
    if warning_id is not None:
        query = query.where(OutreachTask.warning_id == warning_id)
    lines = [
        OutreachLine(
            task_id=task.id,
            version=task.version,
            warning_id=task.warning_id,
            customer_id=customer.id,
            account_no=customer.account_no,
            name=customer.name,
            grade=user_grade(str(customer.importance), str(customer.kind)),
            kind=str(customer.kind),
            backup_hours=customer.backup_hours,
            contact_name=customer.contact_name,
            contact_phone=customer.contact_phone,
            district_code=code,
            step=str(task.step),
            status=str(task.status),
            acknowledged_by=task.acknowledged_by,
            acknowledged_at=task.acknowledged_at,
            updated_by=task.updated_by,
            updated_at=task.updated_at,
            note=task.note,
        )
        for task, customer, code in session.execute(query)
    ]
    status_order = {OutreachStatus.PENDING: 0, OutreachStatus.ACKNOWLEDGED: 1, OutreachStatus.DONE: 2}
    lines.sort(
        key=lambda line: (
            status_order[OutreachStatus(line.status)],
            GRADE_ORDER.index(line.grade) if line.grade in GRADE_ORDER else len(GRADE_ORDER),
            line.backup_hours or 0.0,
            line.task_id,
        )
    )
    return lines


def escalate(
    session: Session, clock: Clock, actor: Actor, task_id: int, *, expected_version: int, note: str = ""
) -> str:
    """Move a task up the ladder: message -> call -> visit. Returns the new step."""
    task = _get(session, task_id, expected_version)
    if task.status == OutreachStatus.DONE:
        raise Conflict(f"outreach task {task_id} is already done")
    position = LADDER.index(OutreachStep(task.step))
    if position == len(LADDER) - 1:
        raise Conflict(f"outreach task {task_id} is already at a visit, the last step")
    before = _snapshot(task)
    task.step = LADDER[position + 1]
    _touch(task, clock, actor, note)
    _flush(session, task_id)
    audit.record(
        session,
        clock,
        actor,
        "outreach.escalate",
        "outreach_task",
        task_id,
        before=before,
        after=_snapshot(task),
    )
    return str(task.step)


def acknowledge(
    session: Session,
    clock: Clock,
    actor: Actor,
    task_id: int,
    by_whom: str,
    *,
    expected_version: int,
    note: str = "",
) -> None:
    """Record that someone at the user's end (named) has received the warning."""
    by_whom = (by_whom or "").strip()
    if not by_whom:
        raise InvalidInput("say who acknowledged (a name at the user's end)", field="acknowledged_by")
    if len(by_whom) > MAX_NAME_CHARS:
        raise InvalidInput(f"at most {MAX_NAME_CHARS} characters", field="acknowledged_by")
    task = _get(session, task_id, expected_version)
    if task.status != OutreachStatus.PENDING:
        raise Conflict(f"outreach task {task_id} is already {task.status}")
    before = _snapshot(task)
    task.status = OutreachStatus.ACKNOWLEDGED
    task.acknowledged_by = by_whom
    task.acknowledged_at = clock.now()
    _touch(task, clock, actor, note)
    _flush(session, task_id)
    audit.record(
        session,
        clock,
        actor,
        "outreach.acknowledge",
        "outreach_task",
        task_id,
        before=before,
        after=_snapshot(task),
    )


def complete(
    session: Session, clock: Clock, actor: Actor, task_id: int, *, expected_version: int, note: str = ""
) -> None:
    """Close a task: the user is reached and ready. Only an acknowledged task can be done."""
    task = _get(session, task_id, expected_version)
    if task.status != OutreachStatus.ACKNOWLEDGED:
        raise Conflict(f"outreach task {task_id} is {task.status}; it must be acknowledged first")
    before = _snapshot(task)
    task.status = OutreachStatus.DONE
    _touch(task, clock, actor, note)
    _flush(session, task_id)
    audit.record(
        session,
        clock,
        actor,
        "outreach.done",
        "outreach_task",
        task_id,
        before=before,
        after=_snapshot(task),
    )


def _get(session: Session, task_id: int, expected_version: int) -> OutreachTask:
    task = session.get(OutreachTask, task_id)
    if task is None:
        raise NotFound(f"no outreach task {task_id}")
    if task.version != expected_version:
        raise Conflict(f"outreach task {task_id} was changed by {task.updated_by} first; reload it")
    return task


def _touch(task: OutreachTask, clock: Clock, actor: Actor, note: str) -> None:
    note = (note or "").strip()
    if len(note) > MAX_NOTE_CHARS:
        raise InvalidInput(f"at most {MAX_NOTE_CHARS} characters", field="note")
    task.updated_at = clock.now()
    task.updated_by = actor.username
    if note:
        task.note = note


def _flush(session: Session, task_id: int) -> None:
    try:
        session.flush()
    except StaleDataError:
        raise Conflict(f"outreach task {task_id} was changed by someone else; reload it") from None


def _snapshot(task: OutreachTask) -> dict[str, Any]:
    return {
        "step": str(task.step),
        "status": str(task.status),
        "acknowledged_by": task.acknowledged_by,
        "version": task.version,
    }


@dataclass(frozen=True)
class OutreachOutcome:
    """What became of one user's task in a step taken for many: `refused` says why it did not move."""

    task_id: int
    refused: str | None = None


def check_many(step: str, tasks: Sequence[tuple[int, int]], by_whom: str, note: str) -> None:
    """Refuse, before any task moves, what would make every task fail the same way."""
    if step not in BULK_STEPS:
        raise InvalidInput(f"one of {', '.join(BULK_STEPS)}", field="step")
    if not tasks:
        raise InvalidInput("choose at least one user", field="tasks")
    if len(tasks) > MAX_BULK_TASKS:
        raise InvalidInput(f"at most {MAX_BULK_TASKS:,} users at once", field="tasks")
    if step == "acknowledge":
        who = (by_whom or "").strip()
        if not who:
            raise InvalidInput("say who acknowledged (a name at the user's end)", field="acknowledged_by")
        if len(who) > MAX_NAME_CHARS:
            raise InvalidInput(f"at most {MAX_NAME_CHARS} characters", field="acknowledged_by")
    if len((note or "").strip()) > MAX_NOTE_CHARS:
        raise InvalidInput(f"at most {MAX_NOTE_CHARS} characters", field="note")


def step_for_many(step: str) -> Callable[[Session, Clock, Actor, int, int, str, str], None]:
    """The one-task function of `step` (checked by `check_many`), in one signature for a loop:
    (session, clock, actor, task id, version seen, acknowledged by, note)."""

    def escalate_one(
        s: Session, c: Clock, a: Actor, task_id: int, version: int, _who: str, note: str
    ) -> None:
        escalate(s, c, a, task_id, expected_version=version, note=note)

    def acknowledge_one(
        s: Session, c: Clock, a: Actor, task_id: int, version: int, who: str, note: str
    ) -> None:
        acknowledge(s, c, a, task_id, who, expected_version=version, note=note)

    def complete_one(
        s: Session, c: Clock, a: Actor, task_id: int, version: int, _who: str, note: str
    ) -> None:
        complete(s, c, a, task_id, expected_version=version, note=note)

    return {"escalate": escalate_one, "acknowledge": acknowledge_one, "complete": complete_one}[step]
