"""Importing official CAP 1.2 alerts: tolerant of what agencies publish, honest about what it did.

One entry point, `import_alert`, for the manager's upload, the command line and the feed watcher.
Nothing it does is issued to customers without a person; it returns an `ImportOutcome` and never
raises for a message it will not take (the reason is in the outcome). The rules:

- Alert: a new draft, keeping the original XML and every info block (emergency.core.models.CapMessage).
  Titles and texts per language: the Chinese title comes from a zh info block or is left empty
  ("not given"), never copied from the English; such a draft needs a Chinese title before issuing.
- Colour level (emergency.warnings.cap_parse.derive_level): severity, else the agency's parameters,
  else left for the manager to choose; issuing refuses until chosen.
- Area: each polygon ring as written; a self-intersecting one repaired with `make_valid`, one that
  cannot be read or has no area dropped, each said on the draft. Geocodes map to our districts
  through `cap.geocode_districts` (the utility's table; our own exports say `district`) when no
  polygon or circle gives the area; with none known the draft asks the manager to draw or pick it.
  An area wholly outside the territory is refused.
- status Test or Exercise: refused unless `allow_test`; then a draft that can be looked at and is
  never issued. System and Draft messages are refused.
- Expired (its expiry, or `warnings.default_hours` after it took effect, is past): refused with the
  reason. Not stored: a feed replaying its archive would otherwise fill the list with dead warnings.
- Update: the draft made from a referenced message is updated in place (the manager's own choice of
  level or area is kept where the update gives none). A warning already issued is not changed by
  the agency alone, as that would send notices: the update is kept beside it and the duty manager
  told to publish one. An Update whose references we never saw is imported as a new draft, flagged
  (an Update carries the whole current warning).
- Cancel: the draft is discarded; a warning in force goes through the normal cancel, and the duty
  manager is told. A Cancel whose references we never saw is refused with that reason.
- The same message again (sender, identifier) is a `duplicate`: nothing changes. Two processes
  importing it at once meet on the unique key; the second sees a duplicate.
"""

from __future__ import annotations

import csv
import hashlib
import io
import math
import re
from dataclasses import dataclass

from shapely.geometry import GeometryCollection, MultiPolygon, Polygon
from shapely.geometry.base import BaseGeometry
from shapely.validation import explain_validity, make_valid
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from emergency.core import audit
from emergency.core.actor import Actor
from emergency.core.clock import Clock
from emergency.core.errors import Conflict, InvalidInput
from emergency.core.models import (
    CapMessage,
    District,
    Notification,
    NotificationChannel,
    Warning,
    WarningLevel,
    WarningStatus,
)
from emergency.core.settings import get_setting, set_setting
from emergency.dispatch.sla import DUTY_RECIPIENT
from emergency.warnings import lifecycle
from emergency.warnings.area import AreaSpec, CapArea, CircleArea, DistrictsArea, ResolvedArea, resolve_area
from emergency.warnings.cap_parse import (
    LEVEL_SOURCES,
    Note,
    ParsedAlert,
    circle_area,
    parse_alert,
    polygon_ring,
)
from emergency.warnings.records import (
    IN_FORCE,
    NO_AREA,
    NO_AREA_KIND,
    TEST_STATUSES,
    WarningInput,
    default_expiry,
    latest_import,
)

GEOCODE_SETTING = "cap.geocode_districts"
OWN_GEOCODE = "district"  # what our own CAP export names our district codes
MAX_GEOCODE_ROWS = 100_000
# A level stands in the row of a draft whose level the manager must choose; `level_from` None says
# it is no one's choice, and issuing refuses until it is made.
PLACEHOLDER_LEVEL = WarningLevel.YELLOW
# Every `ImportOutcome.kind` a message that was taken can have, every note code the importer writes
# and every way a level is found (the Warnings page has words for each: capin.*).
TAKEN_OUTCOMES = ("created", "updated", "cancelled")
NOTE_CODES = (
    *(f"level_{source}" for source in LEVEL_SOURCES),
    "level_needed",
    "level_kept",
    "no_english",
    "no_chinese",
    "title_shortened",
    "ring_closed",
    "ring_repaired",
    "ring_dropped",
    "circle_dropped",
    "geocode_unmapped",
    "area_geocode",
    "area_needed",
    "area_kept",
    "unknown_reference",
    "awaiting_publish",
    "draft_discarded",
    "warning_cancelled",
)
LEVEL_FROM = (*LEVEL_SOURCES, "manager", "kept")
_ENCODING = re.compile(rb"""^<\?xml[^>]*encoding=["']([A-Za-z0-9._-]+)["']""")


@dataclass(frozen=True)
class ImportOutcome:
    """What became of one CAP message.

    kind: created | updated | cancelled | duplicate | refused. `warning_id` is the draft or warning
    it made or changed (for a duplicate, the one it made before; None when refused). A refusal has
    a `reason_code` (invalid, test_message, not_actual, not_a_warning, expired, unknown_reference,
    reference_closed, area) and a `reason` in English; `notes` say what was derived and repaired."""

    kind: str
    warning_id: int | None
    sender: str = ""
    identifier: str = ""
    reason_code: str = ""
    reason: str = ""
    field: str | None = None
    notes: tuple[Note, ...] = ()


@dataclass(frozen=True)
class AlertArea:
    resolved: ResolvedArea
    source: str | None  # polygon | circle | district | geocode; None: the manager must give it
    notes: tuple[Note, ...]


def import_alert(
    session: Session,
    clock: Clock,
    actor: Actor,
    data: bytes,
    *,
    origin: str,
    allow_test: bool = False,
) -> ImportOutcome:
    """Import one CAP message (untrusted bytes) in the caller's transaction; see the module's rules.

    The caller has checked the actor may create warnings. A refused message writes nothing."""
    try:
        parsed = parse_alert(data, int(get_setting(session, "warnings.max_upload_bytes")))
    except InvalidInput as error:
        return ImportOutcome("refused", None, reason_code="invalid", reason=error.reason, field=error.field)
    earlier = _made_from(session, parsed.sender, parsed.identifier)
    if earlier is not None:
        return _outcome(parsed, "duplicate", earlier)
    refusal = _refusal(session, clock, parsed, allow_test)
    if refusal is not None:
        return refusal
    try:
        with session.begin_nested():
            return _apply(session, clock, actor, parsed, data, origin)
    except IntegrityError:
        # Another process imported the same message first: its work stands.
        return _outcome(parsed, "duplicate", _made_from(session, parsed.sender, parsed.identifier))
    except (InvalidInput, Conflict) as error:
        field = error.field if isinstance(error, InvalidInput) else None
        code = "area" if field in ("area", "polygon", "circle", "radius_km", "districts") else "invalid"
        return _refused(parsed, code, getattr(error, "reason", str(error)), field)


def _refusal(session: Session, clock: Clock, parsed: ParsedAlert, allow_test: bool) -> ImportOutcome | None:
    if parsed.status in TEST_STATUSES and not allow_test:
        return _refused(
            parsed, "test_message", f"a {parsed.status} message is imported only when asked (allow test)"
        )
    if parsed.status not in ("Actual", *TEST_STATUSES):
        return _refused(parsed, "not_actual", f"a {parsed.status} message is not a warning for the public")
    if parsed.msg_type not in ("Alert", "Update", "Cancel"):
        return _refused(parsed, "not_a_warning", f"a {parsed.msg_type} message carries no warning")
    if parsed.msg_type != "Cancel":
        expires = parsed.expires_at or default_expiry(session, parsed.effective_at)
        if expires <= clock.now():
            given = "" if parsed.expires_at else " (it gave none: the default lifetime after it took effect)"
            return _refused(parsed, "expired", f"it expired at {expires.isoformat()}{given}")
    return None


def _apply(
    session: Session, clock: Clock, actor: Actor, parsed: ParsedAlert, data: bytes, origin: str
) -> ImportOutcome:
    target = _referenced(session, parsed) if parsed.msg_type in ("Update", "Cancel") else None
    if parsed.msg_type == "Cancel":
        if target is None:
            return _refused(parsed, "unknown_reference", "it cancels a message that was never imported here")
        return _cancel(session, clock, actor, parsed, data, origin, target)
    if target is None:
        notes = (Note("unknown_reference"),) if parsed.msg_type == "Update" else ()
        return _create(session, clock, actor, parsed, data, origin, notes)
    return _update(session, clock, actor, parsed, data, origin, target)


# --- the three ways a message lands ------------------------------------------------------------


def _create(
    session: Session,
    clock: Clock,
    actor: Actor,
    parsed: ParsedAlert,
    data: bytes,
    origin: str,
    extra: tuple[Note, ...],
) -> ImportOutcome:
    area = alert_area(session, parsed)
    draft = _draft(session, parsed, area.resolved, parsed.level.value or PLACEHOLDER_LEVEL)
    warning_id = lifecycle.create_warning(
        session, clock, actor, draft, source="cap_import", cap_identity=(parsed.sender, parsed.identifier)
    )
    notes = (*parsed.notes, *area.notes, *extra)
    _record(session, clock, actor, parsed, data, origin, warning_id, "created", area.source, notes)
    return _outcome(parsed, "created", warning_id, notes)


def _update(
    session: Session,
    clock: Clock,
    actor: Actor,
    parsed: ParsedAlert,
    data: bytes,
    origin: str,
    target: Warning,
) -> ImportOutcome:
    if target.status not in (WarningStatus.DRAFT, *IN_FORCE):
        return _refused(
            parsed, "reference_closed", f"it updates warning {target.id}, which is already {target.status}"
        )
    if target.status in IN_FORCE:
        # Changing a warning in force sends notices: a person publishes the agency's update.
        notes = (*parsed.notes, Note("awaiting_publish"))
        _record(session, clock, actor, parsed, data, origin, target.id, "updated", "not_applied", notes)
        _tell_duty_manager(session, clock, parsed, target, "update")
        return _outcome(parsed, "updated", target.id, notes)
    previous = latest_import(session, target.id)
    area = alert_area(session, parsed)
    extra: list[Note] = []
    if area.source is None and target.area_kind != NO_AREA_KIND:
        area = AlertArea(_area_of(target), "kept", area.notes)
        extra.append(Note("area_kept"))
    level, level_from = parsed.level.value, parsed.level.source
    if level is None and previous is not None and previous.level_from is not None:
        level, level_from = target.level, "kept"
        extra.append(Note("level_kept", {"level": str(target.level)}))
    draft = _draft(session, parsed, area.resolved, level or PLACEHOLDER_LEVEL)
    lifecycle.edit_draft(
        session, clock, actor, target.id, draft, expected_version=target.version, by_agency=True
    )
    target.cap_identifier = parsed.identifier  # the draft now stands for the agency's latest message
    session.flush()
    notes = (*parsed.notes, *area.notes, *extra)
    _record(session, clock, actor, parsed, data, origin, target.id, "updated", area.source, notes, level_from)
    return _outcome(parsed, "updated", target.id, notes)


def _cancel(
    session: Session,
    clock: Clock,
    actor: Actor,
    parsed: ParsedAlert,
    data: bytes,
    origin: str,
    target: Warning,
) -> ImportOutcome:
    if target.status == WarningStatus.DRAFT:
        lifecycle.discard_draft(session, clock, actor, target.id, expected_version=target.version)
        notes = (*parsed.notes, Note("draft_discarded"))
    elif target.status in IN_FORCE:
        agency = parsed.sender_name or parsed.sender
        reason = f"cancelled by {agency} (CAP {parsed.identifier})"
        said = next((i.get("headline") or i.get("description") for i in parsed.infos), None)
        reason = f"{reason}: {said}" if said else reason
        lifecycle.cancel_warning(
            session,
            clock,
            actor,
            target.id,
            reason[: lifecycle.MAX_REASON_CHARS],
            expected_version=target.version,
        )
        _tell_duty_manager(session, clock, parsed, target, "cancel")
        notes = (*parsed.notes, Note("warning_cancelled"))
    else:
        return _refused(
            parsed, "reference_closed", f"it cancels warning {target.id}, which is already {target.status}"
        )
    _record(session, clock, actor, parsed, data, origin, target.id, "cancelled", "not_applied", notes)
    return _outcome(parsed, "cancelled", target.id, notes)


# --- the area ----------------------------------------------------------------------------------


def alert_area(session: Session, parsed: ParsedAlert) -> AlertArea:
    """The alert's area as our geometry, with what was repaired or dropped (module docstring)."""
    notes: list[Note] = []
    rings: list[tuple[tuple[float, float], ...]] = []
    circles: list[CircleArea] = []
    geocodes: list[tuple[str, str]] = []
    number = 0
    for raw in parsed.areas:
        for text in raw.polygons:
            number += 1
            rings.extend(_usable_rings(text, number, notes))
        for text in raw.circles:
            try:
                circles.append(circle_area(text))
            except ValueError:
                notes.append(Note("circle_dropped", {"circle": text[:60]}))
        geocodes.extend(raw.geocodes)
    districts = set(session.scalars(select(District.code)))
    own = tuple(v for name, v in geocodes if name == OWN_GEOCODE and v in districts)
    spec: AreaSpec | None
    source: str | None
    if own:
        spec, source = DistrictsArea(own), "district"
    elif rings or circles:
        spec = circles[0] if len(circles) == 1 and not rings else CapArea(tuple(rings), tuple(circles))
        source = "polygon" if rings else "circle"
    else:
        spec, source = _geocode_area(session, geocodes, districts, notes)
    if spec is None:
        notes.append(Note("area_needed"))
        return AlertArea(ResolvedArea(NO_AREA_KIND, dict(NO_AREA), ()), None, tuple(notes))
    return AlertArea(resolve_area(session, spec), source, tuple(notes))


def _geocode_area(
    session: Session, geocodes: list[tuple[str, str]], districts: set[str], notes: list[Note]
) -> tuple[AreaSpec | None, str | None]:
    table: dict[str, str] = dict(get_setting(session, GEOCODE_SETTING) or {})
    mapped = sorted({table[f"{n}:{v}"] for n, v in geocodes if table.get(f"{n}:{v}") in districts})
    unmapped = [f"{n}:{v}" for n, v in geocodes if table.get(f"{n}:{v}") not in districts]
    if unmapped:
        notes.append(Note("geocode_unmapped", {"codes": ", ".join(unmapped[:20])}))
    if not mapped:
        return None, None
    notes.append(Note("area_geocode", {"districts": ", ".join(mapped)}))
    return DistrictsArea(tuple(mapped)), "geocode"


def _usable_rings(text: str, number: int, notes: list[Note]) -> list[tuple[tuple[float, float], ...]]:
    """One CAP polygon as rings we can use: as written, closed, repaired, or dropped (with a note)."""

    def dropped(why: str) -> list[tuple[tuple[float, float], ...]]:
        notes.append(Note("ring_dropped", {"ring": str(number), "why": why}))
        return []

    try:
        points = polygon_ring(text)
    except ValueError as error:
        return dropped(str(error))
    if not all(math.isfinite(x) and math.isfinite(y) and abs(x) <= 180 and abs(y) <= 90 for x, y in points):
        return dropped("a point is not a latitude/longitude")
    if len(set(points)) < 3:
        return dropped("fewer than 3 points")
    if points[0] != points[-1]:
        points = (*points, points[0])
        notes.append(Note("ring_closed", {"ring": str(number)}))
    polygon = Polygon(points)
    if polygon.is_valid and polygon.area > 0:
        return [points]
    why = explain_validity(polygon)
    parts = [p for p in _polygons(make_valid(polygon)) if p.area > 0]
    if not parts:
        return dropped(f"no area ({why})")
    notes.append(Note("ring_repaired", {"ring": str(number), "why": why, "parts": str(len(parts))}))
    # CAP polygons have no holes: each repaired part's outline, as a closed ring.
    return [tuple((float(x), float(y)) for x, y in part.exterior.coords) for part in parts]


def _polygons(geometry: BaseGeometry) -> list[Polygon]:
    """The polygons in what make_valid returns (a polygon, a multipolygon, or a collection that
    may also hold the lines a ring collapsed into)."""
    if isinstance(geometry, Polygon):
        return [geometry]
    if isinstance(geometry, MultiPolygon | GeometryCollection):
        return [p for part in geometry.geoms for p in _polygons(part)]
    return []


def _area_of(warning: Warning) -> ResolvedArea:
    return ResolvedArea(warning.area_kind, dict(warning.area), tuple(warning.area_districts or []))


# --- helpers -----------------------------------------------------------------------------------


def _draft(session: Session, parsed: ParsedAlert, area: ResolvedArea, level: WarningLevel) -> WarningInput:
    return WarningInput(
        hazard=parsed.hazard,
        level=level,
        readiness_level=parsed.readiness_level,
        title_en=parsed.title_en,
        title_zh=parsed.title_zh,
        text_en=parsed.text_en,
        text_zh=parsed.text_zh,
        area=area,
        effective_at=parsed.effective_at,
        onset_at=parsed.onset_at,
        expires_at=parsed.expires_at or default_expiry(session, parsed.effective_at),
    )


def _made_from(session: Session, sender: str, identifier: str) -> int | None:
    """The warning made from this message before, if any (a draft imported before provenance was
    kept has only its own CAP identity)."""
    found = session.scalar(
        select(CapMessage.warning_id).where(CapMessage.sender == sender, CapMessage.identifier == identifier)
    )
    if found is not None:
        return int(found)
    legacy = session.scalar(select(Warning.id).where(Warning.cap_identifier == identifier))
    return None if legacy is None else int(legacy)


def _referenced(session: Session, parsed: ParsedAlert) -> Warning | None:
    """The warning made from the newest message this one references."""
    found: Warning | None = None
    for sender, identifier, _sent in parsed.reference_triples():
        warning_id = _made_from(session, sender, identifier)
        if warning_id is not None and (found is None or warning_id > found.id):
            found = session.get(Warning, warning_id)
    return found


def _record(
    session: Session,
    clock: Clock,
    actor: Actor,
    parsed: ParsedAlert,
    data: bytes,
    origin: str,
    warning_id: int,
    outcome: str,
    area_from: str | None,
    notes: tuple[Note, ...],
    level_from: str | None = None,
) -> None:
    message = CapMessage(
        warning_id=warning_id,
        sender=parsed.sender,
        identifier=parsed.identifier,
        sent=parsed.sent,
        msg_type=parsed.msg_type,
        status=parsed.status,
        references=parsed.references,
        sender_name=(parsed.sender_name or "")[:200] or None,
        origin=origin[:500],
        received_at=clock.now(),
        received_by=actor.username,
        outcome=outcome,
        level_from=level_from if level_from is not None else parsed.level.source,
        area_from=area_from,
        infos=[info.as_json() for info in parsed.infos],
        notes=[note.as_json() for note in notes],
        xml=_original_text(data),
    )
    session.add(message)
    session.flush()  # the unique key meets a concurrent import of the same message here
    audit.record(
        session,
        clock,
        actor,
        "warning.cap_import",
        "warning",
        warning_id,
        after={
            "sender": parsed.sender,
            "identifier": parsed.identifier,
            "msg_type": parsed.msg_type,
            "status": parsed.status,
            "outcome": outcome,
            "origin": message.origin,
            "notes": [n.code for n in notes],
        },
    )


def _original_text(data: bytes) -> str:
    """The document as the agency wrote it, as text in the encoding it declares."""
    match = _ENCODING.match(data.lstrip()[:200])
    encoding = match.group(1).decode("ascii") if match else "utf-8"
    try:
        return data.decode(encoding)
    except (LookupError, UnicodeDecodeError):
        return data.decode("utf-8", errors="replace")


def _tell_duty_manager(
    session: Session, clock: Clock, parsed: ParsedAlert, warning: Warning, what: str
) -> None:
    """A message on the duty desk (the outbox), once per agency message."""
    agency = parsed.sender_name or parsed.sender
    title_en, title_zh = warning.title_en, warning.title_zh or warning.title_en
    if what == "cancel":
        en = f'{agency} cancelled "{title_en}" (warning {warning.id}): it has been withdrawn here.'
        zh = f"{agency}已取消预警“{title_zh}”（预警 {warning.id}），本系统已撤销该预警。"
    else:
        en = f'{agency} updated "{title_en}" (warning {warning.id}): check the update and publish it.'
        zh = f"{agency}更新了预警“{title_zh}”（预警 {warning.id}），请核对后发布更新。"
    language = str(get_setting(session, "warnings.notice_language"))
    key = hashlib.sha256(f"{parsed.sender}\n{parsed.identifier}".encode()).hexdigest()[:40]
    session.add(
        Notification(
            created_at=clock.now(),
            channel=NotificationChannel.DUTY,
            recipient=DUTY_RECIPIENT,
            language=language,
            template=f"warning.agency_{what}",
            body=f"{zh}\n{en}" if language == "zh" else f"{en}\n{zh}",
            subject_kind="warning",
            subject_id=warning.id,
            dedupe_key=f"cap:{what}:{key}",
        )
    )


def _outcome(
    parsed: ParsedAlert, kind: str, warning_id: int | None, notes: tuple[Note, ...] = ()
) -> ImportOutcome:
    return ImportOutcome(kind, warning_id, parsed.sender, parsed.identifier, notes=notes)


def _refused(parsed: ParsedAlert, code: str, reason: str, field: str | None = None) -> ImportOutcome:
    return ImportOutcome(
        "refused", None, parsed.sender, parsed.identifier, reason_code=code, reason=reason, field=field
    )


# --- the utility's table of geocodes -----------------------------------------------------------


def geocode_table(session: Session) -> dict[str, str]:
    return dict(get_setting(session, GEOCODE_SETTING) or {})


def set_geocode_districts(
    session: Session, clock: Clock, actor: Actor, rows: tuple[tuple[str, str, str], ...]
) -> int:
    """Replace the table that maps an alert's geocodes ("valueName:value") to our districts; all
    rows or none, each bad row named. Returns the number of geocodes mapped."""
    if len(rows) > MAX_GEOCODE_ROWS:
        raise InvalidInput(f"at most {MAX_GEOCODE_ROWS:,} rows", field="geocodes")
    districts = set(session.scalars(select(District.code)))
    table: dict[str, str] = {}
    problems: list[str] = []
    for number, (name, value, district) in enumerate(rows, start=1):
        name, value, district = name.strip(), value.strip(), district.strip()
        if not name or not value:
            problems.append(f"row {number}: a geocode needs its valueName and its value")
        elif district not in districts:
            problems.append(f"row {number}: no district {district[:40]!r}")
        else:
            table[f"{name}:{value}"] = district
    if problems:
        more = f" (and {len(problems) - 10} more)" if len(problems) > 10 else ""
        raise InvalidInput("; ".join(problems[:10]) + more, field="geocodes")
    before = geocode_table(session)
    set_setting(session, GEOCODE_SETTING, table, clock, by=actor.username)
    audit.record(
        session, clock, actor, "settings.cap_geocodes", "setting", GEOCODE_SETTING, before=before, after=table
    )
    return len(table)


def parse_geocode_csv(text: str) -> tuple[tuple[str, str, str], ...]:
    """A CSV `value_name,value,district` (a header row, then one geocode a row) as table rows."""
    reader = csv.reader(io.StringIO(text.lstrip("\ufeff")))
    header = [h.strip().lower() for h in next(reader, [])]
    if header != ["value_name", "value", "district"]:
        raise InvalidInput("the first row must be value_name,value,district", field="geocodes")
    rows: list[tuple[str, str, str]] = []
    for number, row in enumerate(reader, start=2):
        if not any(cell.strip() for cell in row):
            continue
        if len(row) != 3:
            raise InvalidInput(f"line {number}: expected 3 columns, found {len(row)}", field="geocodes")
        rows.append((row[0], row[1], row[2]))
    return tuple(rows)
