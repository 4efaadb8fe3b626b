"""Warning queries for the manager's Warnings and Outreach pages and the CAP routes: plain frozen
data (dataclasses, tuples, bytes), never an ORM object."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from emergency.app.context import Context
from emergency.core.models import Role, Warning, WarningStatus
from emergency.core.unit_of_work import read_as
from emergency.dispatch.disaster_queue import QueueRow, disaster_priority_queue
from emergency.network.model import network_model
from emergency.warnings import cap, cap_import, lifecycle, outreach, prepositioning
from emergency.warnings import preview as area_preview
from emergency.warnings.area import ResolvedArea
from emergency.warnings.outreach import OutreachLine
from emergency.warnings.prepositioning import PrepositionPlan
from emergency.warnings.records import get_warning, history, import_needs, imports_of, warnings_in_force

MANAGER_ROLES = (Role.MANAGER, Role.ADMIN)
# The CAP feeds are public, like the warnings themselves.
CAP_ROLES = ("public", "system", Role.DISPATCHER, Role.MANAGER, Role.ADMIN)


@dataclass(frozen=True)
class WarningRow:
    """One warning as the manager's list shows it."""

    id: int
    version: int
    status: str
    hazard: str
    level: str
    readiness: int | None
    disaster_mode: bool
    title_en: str
    title_zh: str
    districts: tuple[str, ...]
    effective_at: datetime
    expires_at: datetime
    source: str
    # What an imported draft lacks before it can be issued (records.import_needs): test, level,
    # area, title_zh. "level" means the stored level is no one's choice yet.
    needs: tuple[str, ...] = ()

    def title(self, language: str) -> str:
        """The title in the language; "" for a Chinese title an agency did not give (never the English)."""
        return self.title_zh if language == "zh" else self.title_en


@dataclass(frozen=True)
class RevisionLine:
    """One published state (or the cancellation or expiry) in a warning's history."""

    at: datetime
    by: str
    status: str
    msg_type: str
    identifier: str
    note: str | None


@dataclass(frozen=True)
class WarningDetail:
    """What the manager's form and map need of one warning, and its history."""

    row: WarningRow
    text_en: str
    text_zh: str
    onset_at: datetime | None
    area_kind: str
    area: dict[str, Any]  # GeoJSON geometry, with a "circle" entry for a circle area
    cap_identifier: str | None  # of the current CAP message
    revisions: tuple[RevisionLine, ...]
    # What an imported draft lacks before it can be issued: test, level, area, title_zh.
    needs: tuple[str, ...] = ()


@dataclass(frozen=True)
class InfoText:
    """One info block of an official alert, in the agency's own language and words."""

    language: str
    event: str
    headline: str
    description: str
    instruction: str
    sender_name: str
    web: str
    contact: str
    severity: str
    parameters: tuple[tuple[str, str], ...]
    event_codes: tuple[tuple[str, str], ...]
    areas: tuple[str, ...]  # each area's description
    geocodes: tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class CapProvenance:
    """One official CAP message a warning came from, and what the importer made of it."""

    sender: str
    sender_name: str | None
    identifier: str
    sent: datetime
    msg_type: str
    status: str
    references: str | None
    origin: str
    received_at: datetime
    received_by: str
    outcome: str
    level_from: str | None  # None: the manager must choose the level
    area_from: str | None  # None: the manager must draw or pick the area
    notes: tuple[tuple[str, dict[str, str]], ...]  # (code, its values): derived, repaired, dropped
    infos: tuple[InfoText, ...]
    xml_chars: int


@dataclass(frozen=True)
class OutreachOverview:
    """The Outreach page's top half: which warnings there are, which are in force, and the disaster
    priority queue."""

    in_force_ids: tuple[int, ...]
    disaster_district_ids: frozenset[int]
    queue: tuple[QueueRow, ...]
    warning_titles: dict[int, str]  # every warning, newest first, by its English title
    warning_titles_zh: dict[int, str] = field(default_factory=dict)  # the Chinese titles written


def warning_rows(ctx: Context) -> tuple[WarningRow, ...]:
    """Every warning, newest first."""
    with read_as(ctx.db, ctx.actor, MANAGER_ROLES) as session:
        return tuple(_row(w, _needs(session, w)) for w in lifecycle.list_warnings(session))


def warning_detail(ctx: Context, warning_id: int) -> WarningDetail:
    with read_as(ctx.db, ctx.actor, MANAGER_ROLES) as session:
        warning = get_warning(session, warning_id)
        return WarningDetail(
            row=_row(warning, _needs(session, warning)),
            text_en=warning.text_en,
            text_zh=warning.text_zh,
            onset_at=warning.onset_at,
            area_kind=warning.area_kind,
            area=dict(warning.area),
            cap_identifier=warning.cap_identifier,
            revisions=tuple(
                RevisionLine(
                    at=r.at,
                    by=r.by,
                    status=str(r.status),
                    msg_type=r.cap_msg_type,
                    identifier=r.cap_identifier,
                    note=(r.snapshot or {}).get("note"),
                )
                for r in history(session, warning_id)
            ),
            needs=_needs(session, warning),
        )


def cap_provenance(ctx: Context, warning_id: int) -> tuple[CapProvenance, ...]:
    """Every official CAP message a warning was made from or changed by, oldest first."""
    with read_as(ctx.db, ctx.actor, MANAGER_ROLES) as session:
        get_warning(session, warning_id)
        return tuple(_provenance(m) for m in imports_of(session, warning_id))


def cap_original(ctx: Context, warning_id: int, identifier: str) -> str | None:
    """The original XML of one message a warning came from, as the agency wrote it."""
    with read_as(ctx.db, ctx.actor, MANAGER_ROLES) as session:
        found = [m.xml for m in imports_of(session, warning_id) if m.identifier == identifier]
        return found[0] if found else None


def cap_geocode_table(ctx: Context) -> tuple[tuple[str, str, str], ...]:
    """The utility's table of alert geocodes -> districts, as (valueName, value, district) rows."""
    with read_as(ctx.db, ctx.actor, MANAGER_ROLES) as session:
        table = cap_import.geocode_table(session)
    return tuple(sorted((*key.split(":", 1), district) for key, district in table.items()))  # type: ignore[misc]


def warning_preview(ctx: Context, warning_id: int) -> area_preview.WarningPreview:
    """Who and what is inside the warning's area: customers, important users, crews, outages."""
    with read_as(ctx.db, ctx.actor, MANAGER_ROLES) as session:
        warning = get_warning(session, warning_id)
        area = ResolvedArea(warning.area_kind, warning.area, tuple(warning.area_districts or []))
        return area_preview.preview(session, area)


def outreach_overview(ctx: Context) -> OutreachOverview:
    now = ctx.clock.now()
    with read_as(ctx.db, ctx.actor, MANAGER_ROLES) as session:
        every = lifecycle.list_warnings(session)
        return OutreachOverview(
            in_force_ids=tuple(w.id for w in warnings_in_force(session, now)),
            disaster_district_ids=frozenset(lifecycle.disaster_mode_districts(session, now)),
            queue=tuple(
                disaster_priority_queue(session, ctx.clock, network_model(session, ctx.db.url), ctx.tz)
            ),
            warning_titles={w.id: w.title_en for w in every},
            warning_titles_zh={w.id: w.title_zh for w in every if w.title_zh},
        )


def outreach_lines(ctx: Context, warning_id: int | None = None) -> tuple[OutreachLine, ...]:
    """The outreach list: open tasks first, then by grade and least backup."""
    with read_as(ctx.db, ctx.actor, MANAGER_ROLES) as session:
        return tuple(outreach.outreach_list(session, warning_id))


def suggest_prepositioning(ctx: Context) -> PrepositionPlan:
    """Where the available crews would stand best before the warnings in force strike."""
    with read_as(ctx.db, ctx.actor, MANAGER_ROLES) as session:
        return prepositioning.suggest_prepositioning(session, ctx.clock)


def cap_feed(ctx: Context, self_url: str) -> bytes:
    """The warnings in force as an Atom feed of full CAP alerts."""
    with read_as(ctx.db, ctx.actor, CAP_ROLES) as session:
        now = ctx.clock.now()
        return cap.feed_xml(session, warnings_in_force(session, now), now, self_url)


def cap_document(ctx: Context, warning_id: int) -> bytes | None:
    """One warning's current CAP message; None for an unknown id or a draft, kept or discarded
    (never published)."""
    with read_as(ctx.db, ctx.actor, CAP_ROLES) as session:
        warning = session.get(Warning, warning_id)
        if warning is None or warning.status in (WarningStatus.DRAFT, WarningStatus.DISCARDED):
            return None
        return cap.alert_xml(session, warning)


def _provenance(message: Any) -> CapProvenance:
    return CapProvenance(
        sender=message.sender,
        sender_name=message.sender_name,
        identifier=message.identifier,
        sent=message.sent,
        msg_type=message.msg_type,
        status=message.status,
        references=message.references,
        origin=message.origin,
        received_at=message.received_at,
        received_by=message.received_by,
        outcome=message.outcome,
        level_from=message.level_from,
        area_from=message.area_from,
        notes=tuple(
            (str(n.get("code")), {k: str(v) for k, v in n.items() if k != "code"})
            for n in message.notes or []
        ),
        infos=tuple(_info_text(i) for i in message.infos or []),
        xml_chars=len(message.xml or ""),
    )


def _info_text(info: dict[str, Any]) -> InfoText:
    areas = info.get("areas") or []
    return InfoText(
        language=str(info.get("language", "")),
        event=str(info.get("event", "")),
        headline=str(info.get("headline", "")),
        description=str(info.get("description", "")),
        instruction=str(info.get("instruction", "")),
        sender_name=str(info.get("senderName", "")),
        web=str(info.get("web", "")),
        contact=str(info.get("contact", "")),
        severity=str(info.get("severity", "")),
        parameters=tuple((str(n), str(v)) for n, v in info.get("parameters") or []),
        event_codes=tuple((str(n), str(v)) for n, v in info.get("event_codes") or []),
        areas=tuple(str(a.get("description", "")) for a in areas),
        geocodes=tuple((str(n), str(v)) for a in areas for n, v in a.get("geocodes") or []),
    )


def _needs(session: Any, warning: Warning) -> tuple[str, ...]:
    if warning.status != WarningStatus.DRAFT or warning.source != "cap_import":
        return ()
    return tuple(import_needs(session, warning))


def _row(warning: Warning, needs: tuple[str, ...] = ()) -> WarningRow:
    return WarningRow(
        id=warning.id,
        version=warning.version,
        status=str(warning.status),
        hazard=str(warning.hazard),
        level=str(warning.level),
        readiness=warning.readiness_level,
        disaster_mode=warning.disaster_mode,
        title_en=warning.title_en,
        title_zh=warning.title_zh,
        districts=tuple(warning.area_districts or []),
        effective_at=warning.effective_at,
        expires_at=warning.expires_at,
        source=warning.source,
        needs=needs,
    )
