"""Reading the audit trail (managers and administrators): filters, pages, readable diffs, CSV export.

The table grows by a row per state change and can hold millions, so nothing here loads it whole:
pages walk it newest first by id (keyset: `before_id`, never OFFSET), counts stop at a cap, and
the export reads bounded chunks. The trail itself is append-only: this module only reads it (the
one write is the note that someone exported it, `record_export`), `emergency.core.audit.record`
only adds, and the database refuses UPDATE and DELETE of its rows (migration 0006). Who may read
it (`READER_ROLES`) is checked by the queries and the export command of `emergency.app`.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, Text, cast, func, or_, select
from sqlalchemy.orm import Session

from emergency.core import audit
from emergency.core.actor import Actor
from emergency.core.clock import Clock
from emergency.core.errors import InvalidInput
from emergency.core.models import AuditEvent, Role

READER_ROLES = (Role.MANAGER, Role.ADMIN)
PAGE_SIZE = 50
MAX_PAGE_SIZE = 500
COUNT_CAP = 10_000  # "more than 10,000" is all a person needs; counting millions is not free
MAX_EXPORT_ROWS = 100_000
EXPORT_CHUNK = 5_000
MAX_FILTER_CHARS = 200
CSV_COLUMNS = ("id", "at_utc", "actor", "role", "action", "entity", "entity_id", "changes", "detail")
# Spreadsheets run a cell starting with one of these as a formula (CSV injection); a leading
# apostrophe makes it text. Audit rows carry user-written reasons and names.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
_LIKE_ESCAPE = "\\"


@dataclass(frozen=True)
class AuditFilter:
    """What to look for; every field is optional and they combine with AND.

    `action` matches exactly or as a family (`outage` matches `outage.confirm`); `text` is a
    case-insensitive substring of what the row shows: its detail, its entity id, or a value before
    or after (a feedback reference, a crew code); `since` is inclusive and `until` exclusive.
    """

    since: datetime | None = None
    until: datetime | None = None
    actor: str | None = None
    role: str | None = None
    action: str | None = None
    entity: str | None = None
    entity_id: str | None = None
    text: str | None = None

    def cleaned(self) -> AuditFilter:
        values: dict[str, Any] = {}
        for spec in fields(self):
            value = getattr(self, spec.name)
            if isinstance(value, str):
                value = value.strip() or None
                if value is not None and len(value) > MAX_FILTER_CHARS:
                    raise InvalidInput(f"at most {MAX_FILTER_CHARS} characters", field=spec.name)
            elif isinstance(value, datetime) and value.tzinfo is None:
                raise InvalidInput("needs a time zone", field=spec.name)
            values[spec.name] = value
        if values["since"] and values["until"] and values["since"] >= values["until"]:
            raise InvalidInput("must be after the start of the range", field="until")
        return AuditFilter(**values)


@dataclass(frozen=True)
class Change:
    """One field that differs between an event's before and after (dotted path for nested values)."""

    field: str
    before: Any
    after: Any


@dataclass(frozen=True)
class AuditRow:
    id: int
    at: datetime
    actor: str
    role: str
    action: str
    entity: str
    entity_id: str | None
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    detail: str | None

    @property
    def changes(self) -> list[Change]:
        return diff(self.before, self.after)


@dataclass(frozen=True)
class AuditPage:
    rows: list[AuditRow]
    # Pass as `before_id` for the next (older) page; None when this is the last one.
    next_before_id: int | None


def _like_literal(text: str) -> str:
    return (
        text.replace(_LIKE_ESCAPE, _LIKE_ESCAPE * 2)
        .replace("%", _LIKE_ESCAPE + "%")
        .replace("_", _LIKE_ESCAPE + "_")
    )


def _filtered(query: Select[Any], wanted: AuditFilter) -> Select[Any]:
    if wanted.since is not None:
        query = query.where(AuditEvent.at >= wanted.since)
    if wanted.until is not None:
        query = query.where(AuditEvent.at < wanted.until)
    if wanted.actor is not None:
        query = query.where(AuditEvent.actor == wanted.actor)
    if wanted.role is not None:
        query = query.where(AuditEvent.actor_role == wanted.role)
    if wanted.action is not None:
        family = _like_literal(wanted.action.rstrip(".")) + ".%"
        query = query.where(
            or_(AuditEvent.action == wanted.action, AuditEvent.action.like(family, escape=_LIKE_ESCAPE))
        )
    if wanted.entity is not None:
        query = query.where(AuditEvent.entity == wanted.entity)
    if wanted.entity_id is not None:
        query = query.where(AuditEvent.entity_id == wanted.entity_id)
    if wanted.text is not None:
        query = query.where(_text_matches(wanted.text))
    return query


def _text_matches(text: str) -> ColumnElement[bool]:
    """`text` anywhere a reader sees it in a row: most rows keep what they are about (a feedback
    reference, a warning's title) in `after` or `before`, not in `detail`, so searching the detail
    alone missed them.

    The JSON columns are stored as JSON text written with ASCII escapes (SQLAlchemy's default
    serializer), so "台风" sits there as "\\u53f0\\u98ce" and a quote as '\\"': each JSON column is
    matched against the text as it is and as JSON writes it.
    """
    lowered = text.lower()
    plain = "%" + _like_literal(lowered) + "%"
    as_json = "%" + _like_literal(json.dumps(lowered)[1:-1]) + "%"
    patterns = dict.fromkeys((plain, as_json))  # one pattern when JSON writes the text unchanged
    matches = [func.lower(AuditEvent.detail).like(plain, escape=_LIKE_ESCAPE)]
    matches.append(func.lower(AuditEvent.entity_id).like(plain, escape=_LIKE_ESCAPE))
    for column in (AuditEvent.before, AuditEvent.after):
        as_text = func.lower(cast(column, Text))
        matches += [as_text.like(pattern, escape=_LIKE_ESCAPE) for pattern in patterns]
    return or_(*matches)


# Plain columns, not ORM objects: rows read by the thousand stay out of the session's identity map.
_COLUMNS = (
    AuditEvent.id,
    AuditEvent.at,
    AuditEvent.actor,
    AuditEvent.actor_role,
    AuditEvent.action,
    AuditEvent.entity,
    AuditEvent.entity_id,
    AuditEvent.before,
    AuditEvent.after,
    AuditEvent.detail,
)


def _newest_first(session: Session, wanted: AuditFilter, before_id: int | None, limit: int) -> list[AuditRow]:
    query = _filtered(select(*_COLUMNS), wanted)
    if before_id is not None:
        query = query.where(AuditEvent.id < before_id)
    return [
        AuditRow(*values) for values in session.execute(query.order_by(AuditEvent.id.desc()).limit(limit))
    ]


def search_audit(
    session: Session,
    wanted: AuditFilter,
    *,
    before_id: int | None = None,
    limit: int = PAGE_SIZE,
) -> AuditPage:
    """One page of matching events, newest first, older than `before_id` when given."""
    if not 1 <= limit <= MAX_PAGE_SIZE:
        raise InvalidInput(f"from 1 to {MAX_PAGE_SIZE}", field="limit")
    # One more than asked tells whether an older page exists without counting.
    rows = _newest_first(session, wanted.cleaned(), before_id, limit + 1)
    return AuditPage(rows[:limit], rows[limit - 1].id if len(rows) > limit else None)


def count_audit(session: Session, wanted: AuditFilter, cap: int = COUNT_CAP) -> int:
    """How many events match, counted up to `cap` (a result of `cap` means "at least that many")."""
    capped = _filtered(select(AuditEvent.id), wanted.cleaned()).limit(cap).subquery()
    return int(session.scalar(select(func.count()).select_from(capped)) or 0)


def diff(before: dict[str, Any] | None, after: dict[str, Any] | None) -> list[Change]:
    """The fields whose value differs, nested dictionaries flattened to dotted paths, in order."""
    flat_before, flat_after = _flatten(before or {}), _flatten(after or {})
    keys = list(flat_before) + [k for k in flat_after if k not in flat_before]
    return [
        Change(key, flat_before.get(key), flat_after.get(key))
        for key in keys
        if flat_before.get(key) != flat_after.get(key) or (key in flat_before) != (key in flat_after)
    ]


def _flatten(values: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in values.items():
        path = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            flat.update(_flatten(value, path + "."))
        else:
            flat[path] = value
    return flat


def describe_changes(changes: list[Change]) -> str:
    """`field: old → new` per change, for a table cell or a CSV column."""
    return "; ".join(f"{c.field}: {_shown(c.before)} → {_shown(c.after)}" for c in changes)


def _shown(value: Any) -> str:
    return "—" if value is None else str(value)


def _safe_cell(value: str) -> str:
    return "'" + value if value.startswith(FORMULA_STARTS) else value


def iter_audit_rows(
    session: Session, wanted: AuditFilter, max_rows: int = MAX_EXPORT_ROWS
) -> Iterator[list[str]]:
    """The CSV header, then the matching events as CSV cells, newest first, at most `max_rows`,
    read in bounded chunks; cells a spreadsheet would run as a formula are made text."""
    wanted = wanted.cleaned()
    yield list(CSV_COLUMNS)
    before_id: int | None = None
    left = max_rows
    while left > 0:
        size = min(EXPORT_CHUNK, left)
        chunk = _newest_first(session, wanted, before_id, size)
        for row in chunk:
            cells = [row.actor, row.role, row.action, row.entity, row.entity_id or ""]
            cells += [describe_changes(row.changes), row.detail or ""]
            yield [str(row.id), row.at.isoformat(), *(_safe_cell(c) for c in cells)]
        if len(chunk) < size:
            return
        left -= len(chunk)
        before_id = chunk[-1].id


def audit_csv(session: Session, wanted: AuditFilter, max_rows: int = MAX_EXPORT_ROWS) -> tuple[bytes, int]:
    """The CSV download of the filtered trail (UTF-8 with a BOM, so spreadsheets read Chinese text),
    and how many events it holds."""
    buffer = io.StringIO()
    buffer.write("\ufeff")
    writer = csv.writer(buffer)
    rows = -1  # the header is not an event
    for cells in iter_audit_rows(session, wanted, max_rows):
        writer.writerow(cells)
        rows += 1
    return buffer.getvalue().encode("utf-8"), rows


def record_export(session: Session, clock: Clock, actor: Actor, wanted: AuditFilter, rows: int) -> None:
    """The export is itself recorded: who took a copy of the trail, and with which filters."""
    chosen = {
        spec.name: (value.isoformat() if isinstance(value, datetime) else value)
        for spec in fields(wanted)
        if (value := getattr(wanted.cleaned(), spec.name)) is not None
    }
    audit.record(
        session,
        clock,
        actor,
        "audit.export",
        "audit_events",
        after={"filters": chosen, "rows": rows},
    )
