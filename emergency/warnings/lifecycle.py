"""Disaster warnings: draft, issue, update, cancel and expire, with every published state kept.

A warning is the utility's own message about a hazard (typically passing on a meteorological
warning signal) over an area, with the utility's readiness level. Issuing or updating it queues a
notice to every customer in the area, puts the important users there on the outreach list and,
when the readiness level is high enough (setting `warnings.disaster_mode_readiness`), switches its
districts into disaster mode, where important users are restored first.

Each published state is one CAP message with its own identifier; an Update or Cancel references
every earlier message of the warning ("sender,identifier,sent"), as CAP 1.2 asks.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import insert, select
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from emergency.core import audit
from emergency.core.actor import SYSTEM, Actor
from emergency.core.clock import Clock
from emergency.core.errors import Conflict, InvalidInput
from emergency.core.models import (
    District,
    Hazard,
    Notification,
    NotificationChannel,
    NotificationStatus,
    Role,
    Warning,
    WarningLevel,
    WarningRevision,
    WarningStatus,
)
from emergency.core.settings import get_setting
from emergency.core.vocabulary import hazard_in_text
from emergency.public.sms import sms_segments
from emergency.warnings import outreach
from emergency.warnings.area import ResolvedArea, resolve_area
from emergency.warnings.cap import COLOUR_WORDS
from emergency.warnings.preview import area_customers, important_users_in_area
from emergency.warnings.records import (
    IN_FORCE,
    WarningInput,
    get_warning,
    history,
    import_needs,
    latest_import,
    settle_import,
    warnings_in_force,
)

WARNING_ROLES = (Role.MANAGER, Role.ADMIN)
MAX_TITLE_CHARS = 200
MAX_TEXT_CHARS = 4000  # what a manager types; an agency's text is kept whole (bounded by the file)
MAX_REASON_CHARS = 500
CONTROL_IN_LINE = re.compile(r"[\x00-\x1f\x7f]")
CONTROL_IN_TEXT = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")  # newlines and tabs allowed in a warning's text
NOTICE_BATCH = 5_000
# SMS parts a warning notice may take (each is billed, per customer): the full text is behind the
# link and the hotline.
NOTICE_MAX_PARTS = 2


@dataclass(frozen=True)
class PublishResult:
    warning_id: int
    cap_identifier: str
    notices_queued: int
    customers_without_phone: int
    outreach_added: int
    disaster_mode: bool


# --- reading ---------------------------------------------------------------------------------


def list_warnings(session: Session, *, include_closed: bool = True) -> list[Warning]:
    query = select(Warning).order_by(Warning.created_at.desc(), Warning.id.desc())
    if not include_closed:
        query = query.where(Warning.status.in_((WarningStatus.DRAFT, *IN_FORCE)))
    return list(session.scalars(query))


def disaster_mode_districts(session: Session, now: datetime) -> set[int]:
    """Ids of the districts in disaster mode now: those of warnings in force that declare it."""
    codes: set[str] = set()
    for warning in warnings_in_force(session, now):
        if warning.disaster_mode:
            codes.update(warning.area_districts or [])
    if not codes:
        return set()
    return set(session.scalars(select(District.id).where(District.code.in_(sorted(codes)))))


def declares_disaster_mode(session: Session, readiness_level: int | None) -> bool:
    """Readiness 1 is the highest; at or above the configured level the area enters disaster mode."""
    threshold = int(get_setting(session, "warnings.disaster_mode_readiness"))
    return readiness_level is not None and readiness_level <= threshold


# --- commands: each runs in the caller's unit of work (emergency.app.commands.warnings), which
# has checked the actor's role and commits or rolls back the whole step -------------------------


def create_warning(
    session: Session,
    clock: Clock,
    actor: Actor,
    data: WarningInput,
    *,
    source: str = "manual",
    cap_identity: tuple[str, str] | None = None,
) -> int:
    """A new draft; nothing is sent until it is issued. Returns its id.

    `cap_identity` (sender, identifier) keeps an imported official warning's own CAP identity.
    """
    now = clock.now()
    fields = _validated(session, data, imported=source == "cap_import")
    if cap_identity is not None:
        sender, identifier = cap_identity
        taken = session.scalar(select(Warning.id).where(Warning.cap_identifier == identifier))
        if taken is not None:
            raise Conflict(f"CAP message {identifier} was already imported as warning {taken}")
    else:
        sender, identifier = _our_sender(session), new_identifier(now)
    warning = Warning(
        cap_identifier=identifier,
        cap_sender=sender,
        cap_msg_type="Alert",
        source=source,
        status=WarningStatus.DRAFT,
        created_by=actor.username,
        created_at=now,
        **fields,
    )
    session.add(warning)
    session.flush()
    audit.record(session, clock, actor, "warning.create", "warning", warning.id, after=snapshot(warning))
    return warning.id


def edit_draft(
    session: Session,
    clock: Clock,
    actor: Actor,
    warning_id: int,
    data: WarningInput,
    *,
    expected_version: int,
    by_agency: bool = False,
) -> None:
    """Change a draft in place (a draft was never sent, so it has no history to keep).

    `by_agency`: the change is an agency's CAP Update (emergency.warnings.cap_import), not a
    manager's choice of level and area."""
    warning = _get_for_change(session, warning_id, expected_version)
    if warning.status != WarningStatus.DRAFT:
        raise Conflict(f"warning {warning_id} is {warning.status}; publish an update instead")
    before = snapshot(warning)
    for key, value in _validated(session, data, imported=warning.source == "cap_import").items():
        setattr(warning, key, value)
    if not by_agency:
        settle_import(session, warning)
    _flush(session, warning_id)
    audit.record(
        session,
        clock,
        actor,
        "warning.edit",
        "warning",
        warning_id,
        before=before,
        after=snapshot(warning),
    )


def choose_draft_level(
    session: Session,
    clock: Clock,
    actor: Actor,
    warning_id: int,
    level: WarningLevel | str,
    *,
    expected_version: int,
) -> None:
    """The manager's colour level for a draft (an imported alert may give none, or one to overrule)."""
    try:
        chosen = WarningLevel(level)
    except ValueError:
        raise InvalidInput(f"one of {', '.join(v.value for v in WarningLevel)}", field="level") from None
    warning = _get_for_change(session, warning_id, expected_version)
    if warning.status != WarningStatus.DRAFT:
        raise Conflict(f"warning {warning_id} is {warning.status}; publish an update instead")
    before = snapshot(warning)
    warning.level = chosen
    latest = latest_import(session, warning_id)
    if latest is not None:
        latest.level_from = "manager"
    _flush(session, warning_id)
    audit.record(
        session,
        clock,
        actor,
        "warning.choose_level",
        "warning",
        warning_id,
        before=before,
        after=snapshot(warning),
    )


def issue_warning(
    session: Session, clock: Clock, actor: Actor, warning_id: int, *, expected_version: int, tz: ZoneInfo
) -> PublishResult:
    """Publish a draft: CAP Alert, notices, outreach list and, if declared, disaster mode.

    `tz` is the local time zone the customer notices state the expiry time in.
    """
    now = clock.now()
    warning = _get_for_change(session, warning_id, expected_version)
    if warning.status != WarningStatus.DRAFT:
        raise Conflict(f"warning {warning_id} is already {warning.status}")
    _require_not_over(warning, now)
    _require_complete_import(session, warning)
    before = snapshot(warning)
    if warning.source == "cap_import":
        # We issue the utility's own message about it: our identity, the official one kept
        # in the history (the import revision) and the audit trail.
        warning.cap_sender = _our_sender(session)
        warning.cap_identifier = new_identifier(now)
    warning.status = WarningStatus.ACTIVE
    warning.cap_msg_type = "Alert"
    warning.cap_references = None
    warning.issued_by = actor.username
    warning.issued_at = now
    return _record_and_publish(session, clock, actor, warning, now, "warning.issue", before, tz)


def update_warning(
    session: Session,
    clock: Clock,
    actor: Actor,
    warning_id: int,
    data: WarningInput,
    *,
    expected_version: int,
    tz: ZoneInfo,
) -> PublishResult:
    """Publish a change to a warning in force: a CAP Update referencing every earlier message."""
    now = clock.now()
    warning = _get_for_change(session, warning_id, expected_version)
    if warning.status not in IN_FORCE:
        raise Conflict(f"warning {warning_id} is {warning.status}; only a warning in force can be updated")
    before = snapshot(warning)
    for key, value in _validated(session, data).items():
        setattr(warning, key, value)
    _require_not_over(warning, now)
    warning.cap_references = _references(session, warning)
    warning.cap_identifier = new_identifier(now)
    warning.cap_msg_type = "Update"
    warning.status = WarningStatus.UPDATED
    return _record_and_publish(session, clock, actor, warning, now, "warning.update", before, tz)


def cancel_warning(
    session: Session, clock: Clock, actor: Actor, warning_id: int, reason: str, *, expected_version: int
) -> None:
    """Withdraw a warning in force (CAP Cancel). Disaster mode ends with it. A draft was never
    published, so there is nothing to withdraw: it is discarded (`discard_draft`) instead."""
    reason = (reason or "").strip()
    if not reason:
        raise InvalidInput("say why the warning is cancelled", field="reason")
    if len(reason) > MAX_REASON_CHARS:
        raise InvalidInput(f"at most {MAX_REASON_CHARS} characters", field="reason")
    now = clock.now()
    warning = _get_for_change(session, warning_id, expected_version)
    if warning.status == WarningStatus.DRAFT:
        raise Conflict(f"warning {warning_id} is a draft and was never published: discard the draft instead")
    if warning.status not in IN_FORCE:
        raise Conflict(f"warning {warning_id} is already {warning.status}")
    before = snapshot(warning)
    warning.cap_references = _references(session, warning)
    warning.cap_identifier = new_identifier(now)
    warning.cap_msg_type = "Cancel"
    warning.status = WarningStatus.CANCELLED
    _flush(session, warning_id)
    _add_revision(session, warning, now, actor, note=reason)
    audit.record(
        session,
        clock,
        actor,
        "warning.cancel",
        "warning",
        warning_id,
        before=before,
        after=snapshot(warning),
        detail=reason,
    )


def discard_draft(
    session: Session, clock: Clock, actor: Actor, warning_id: int, *, expected_version: int
) -> None:
    """Throw a draft away unpublished. Kept as `discarded` (nothing is deleted): it sends no CAP
    message and no notice, never appears in a feed, and leaves no trace in the CAP history."""
    warning = _get_for_change(session, warning_id, expected_version)
    if warning.status != WarningStatus.DRAFT:
        raise Conflict(f"warning {warning_id} is {warning.status}, not a draft; cancel it instead")
    before = snapshot(warning)
    warning.status = WarningStatus.DISCARDED
    _flush(session, warning_id)
    audit.record(
        session,
        clock,
        actor,
        "warning.discard",
        "warning",
        warning_id,
        before=before,
        after=snapshot(warning),
    )


def expire_warnings(session: Session, clock: Clock) -> list[int]:
    """Mark warnings in force whose expiry time has passed as expired, as the system. Returns their ids.

    The server's periodic loop calls this in every app process: on PostgreSQL a warning another
    process is expiring right now is skipped (its row is locked), so each is expired and audited once;
    SQLite runs one writer at a time anyway.
    """
    now = clock.now()
    due = list(
        session.scalars(
            select(Warning)
            .where(Warning.status.in_(IN_FORCE), Warning.expires_at <= now)
            .order_by(Warning.id)
            .with_for_update(skip_locked=True)
        )
    )
    for warning in due:
        before = snapshot(warning)
        warning.status = WarningStatus.EXPIRED
        session.flush()
        _add_revision(session, warning, now, SYSTEM, note="expired")
        audit.record(
            session,
            clock,
            SYSTEM,
            "warning.expire",
            "warning",
            warning.id,
            before=before,
            after=snapshot(warning),
        )
    return [w.id for w in due]


# --- helpers -----------------------------------------------------------------------------------


def new_identifier(now: datetime) -> str:
    """A CAP identifier: unique, and free of the spaces, commas, '<' and '&' CAP forbids."""
    return f"outage-desk-{now:%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:12]}"


def snapshot(warning: Warning) -> dict[str, Any]:
    """The warning's fields as JSON, for history and audit (the area as its kind and districts)."""
    return {
        "status": str(warning.status),
        "hazard": str(warning.hazard),
        "level": str(warning.level),
        "readiness_level": warning.readiness_level,
        "disaster_mode": warning.disaster_mode,
        "title_en": warning.title_en,
        "title_zh": warning.title_zh,
        "area_kind": warning.area_kind,
        "area_districts": list(warning.area_districts or []),
        "effective_at": warning.effective_at.isoformat(),
        "onset_at": warning.onset_at.isoformat() if warning.onset_at else None,
        "expires_at": warning.expires_at.isoformat(),
        "cap_identifier": warning.cap_identifier,
        "cap_msg_type": warning.cap_msg_type,
        "version": warning.version,
    }


def _check_plain_text(text: str, field: str, control: re.Pattern[str]) -> None:
    """Refuse what no SMS, CAP message or database should carry: control characters (a NUL byte
    is an error in PostgreSQL) and lone surrogates (not UTF-8 at all)."""
    if control.search(text):
        raise InvalidInput("contains control characters", field=field)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidInput("is not valid Unicode text", field=field) from None


# Why an imported draft cannot be issued yet, by what it lacks (records.import_needs).
IMPORT_NEEDS = {
    "test": ("status", "it was made from a Test or Exercise message, which is never issued"),
    "level": ("level", "the agency's alert gives no colour level: choose one first"),
    "area": ("area", "the alert's area is not known here: draw or pick the area first"),
    "title_zh": ("title_zh", "the agency wrote no Chinese title: write one first"),
}


def _require_complete_import(session: Session, warning: Warning) -> None:
    needs = import_needs(session, warning)
    if needs:
        raise InvalidInput(
            f"warning {warning.id} cannot be issued: " + "; ".join(IMPORT_NEEDS[n][1] for n in needs),
            field=IMPORT_NEEDS[needs[0]][0],
        )


def _validated(session: Session, data: WarningInput, *, imported: bool = False) -> dict[str, Any]:
    """The fields to store, checked. An imported draft keeps the agency's texts whole (bounded by
    the upload limit the file passed) and may lack a Chinese title until issued (see IMPORT_NEEDS)."""
    try:
        hazard = Hazard(data.hazard)
    except ValueError:
        raise InvalidInput(f"one of {', '.join(h.value for h in Hazard)}", field="hazard") from None
    try:
        level = WarningLevel(data.level)
    except ValueError:
        raise InvalidInput(f"one of {', '.join(v.value for v in WarningLevel)}", field="level") from None
    if data.readiness_level is not None and data.readiness_level not in (1, 2, 3, 4):
        raise InvalidInput("1 (highest) to 4, or none", field="readiness_level")
    titles = {"title_en": data.title_en.strip(), "title_zh": data.title_zh.strip()}
    for field, title in titles.items():
        if not title and not (imported and field == "title_zh"):
            raise InvalidInput("a title is needed in both languages", field=field)
        if len(title) > MAX_TITLE_CHARS:
            raise InvalidInput(f"at most {MAX_TITLE_CHARS} characters", field=field)
        _check_plain_text(title, field, CONTROL_IN_LINE)
    texts = {"text_en": data.text_en.strip(), "text_zh": data.text_zh.strip()}
    max_text = int(get_setting(session, "warnings.max_upload_bytes")) if imported else MAX_TEXT_CHARS
    for field, text in texts.items():
        if len(text) > max_text:
            raise InvalidInput(f"at most {max_text} characters", field=field)
        _check_plain_text(text, field, CONTROL_IN_TEXT)
    for field, when in (("effective_at", data.effective_at), ("expires_at", data.expires_at)):
        if when.tzinfo is None:
            raise InvalidInput("needs a time zone", field=field)
    if data.expires_at <= data.effective_at:
        raise InvalidInput("must be after the effective time", field="expires_at")
    if data.onset_at is not None and data.onset_at.tzinfo is None:
        raise InvalidInput("needs a time zone", field="onset_at")
    area = data.area if isinstance(data.area, ResolvedArea) else resolve_area(session, data.area)
    return {
        "hazard": hazard,
        "level": level,
        "readiness_level": data.readiness_level,
        "disaster_mode": declares_disaster_mode(session, data.readiness_level),
        **titles,
        **texts,
        "area_kind": area.kind,
        "area": area.geometry,
        "area_districts": list(area.district_codes),
        "effective_at": data.effective_at,
        "onset_at": data.onset_at,
        "expires_at": data.expires_at,
    }


def _get_for_change(session: Session, warning_id: int, expected_version: int) -> Warning:
    warning = get_warning(session, warning_id)
    if warning.version != expected_version:
        raise Conflict(
            f"warning {warning_id} was changed by someone else (now version {warning.version}); reload it"
        )
    return warning


def _flush(session: Session, warning_id: int) -> None:
    try:
        session.flush()
    except StaleDataError:
        raise Conflict(f"warning {warning_id} was changed by someone else; reload it") from None


def _require_not_over(warning: Warning, now: datetime) -> None:
    if warning.expires_at <= now:
        raise InvalidInput("the expiry time has already passed", field="expires_at")


def _our_sender(session: Session) -> str:
    return str(get_setting(session, "warnings.cap_sender"))


def _add_revision(
    session: Session, warning: Warning, now: datetime, actor: Actor, note: str | None = None
) -> None:
    snap = snapshot(warning) | {
        "sent": now.isoformat(),
        "sender": warning.cap_sender,
        "references": warning.cap_references,
        "area": warning.area,
        "text_en": warning.text_en,
        "text_zh": warning.text_zh,
    }
    if note:
        snap["note"] = note
    session.add(
        WarningRevision(
            warning_id=warning.id,
            at=now,
            by=actor.username,
            status=warning.status,
            cap_identifier=warning.cap_identifier,
            cap_msg_type=warning.cap_msg_type,
            snapshot=snap,
        )
    )
    session.flush()


def _references(session: Session, warning: Warning) -> str:
    """Every message sent so far for this warning, as CAP 'sender,identifier,sent' triples."""
    seen: dict[str, str] = {}
    for revision in history(session, warning.id):
        if revision.snapshot.get("note") == "expired" or revision.cap_msg_type not in ("Alert", "Update"):
            continue
        sender = revision.snapshot.get("sender", warning.cap_sender)
        seen.setdefault(
            revision.cap_identifier, f"{sender},{revision.cap_identifier},{_cap_time(revision.at)}"
        )
    return " ".join(seen.values())


def _cap_time(when: datetime) -> str:
    """CAP's dateTime: seconds, with a numeric offset ("Z" is not allowed)."""
    return when.isoformat(timespec="seconds")


def _record_and_publish(
    session: Session,
    clock: Clock,
    actor: Actor,
    warning: Warning,
    now: datetime,
    action: str,
    before: dict[str, Any],
    tz: ZoneInfo,
) -> PublishResult:
    """The common end of issuing and updating: a revision, the notices and outreach, and the audit."""
    _flush(session, warning.id)
    _add_revision(session, warning, now, actor)
    result = _publish(session, clock, warning, tz)
    audit.record(
        session,
        clock,
        actor,
        action,
        "warning",
        warning.id,
        before=before,
        after=snapshot(warning),
        detail=_result_detail(result),
    )
    return result


def _publish(session: Session, clock: Clock, warning: Warning, tz: ZoneInfo) -> PublishResult:
    area = ResolvedArea(warning.area_kind, warning.area, tuple(warning.area_districts or []))
    customers = area_customers(session, area, with_phone=True)
    queued, without_phone = _queue_notices(session, clock, warning, customers.ids, customers.phones or [], tz)
    important = important_users_in_area(session, area)
    added = outreach.add_tasks(session, clock, warning.id, [u.customer_id for u in important])
    return PublishResult(
        warning_id=warning.id,
        cap_identifier=warning.cap_identifier,
        notices_queued=queued,
        customers_without_phone=without_phone,
        outreach_added=added,
        disaster_mode=warning.disaster_mode,
    )


@dataclass(frozen=True)
class NoticeSettings:
    """What every warning notice carries besides the warning's own words."""

    signature: str
    hotline: str
    link: str  # where the full warning is read; empty: none
    tz: ZoneInfo

    @classmethod
    def from_settings(cls, session: Session, language: str, tz: ZoneInfo) -> NoticeSettings:
        return cls(
            signature=str(get_setting(session, f"notify.signature_{language}")),
            hotline=str(get_setting(session, "notify.hotline")),
            link=str(get_setting(session, "warnings.notice_link") or "").strip(),
            tz=tz,
        )


def notice_text(warning: Warning, language: str, notice: NoticeSettings) -> str:
    """The customer SMS: the warning's title, colour and hazard, until when, what to do, the link
    and the hotline, in at most `NOTICE_MAX_PARTS` SMS parts (`emergency.public.sms`: Chinese text goes
    as UCS-2, 67 characters a part). The warning's text goes in only when it still fits; otherwise
    the link and hotline stand for it, and a title too long is shortened."""
    update = warning.cap_msg_type == "Update"
    until = warning.expires_at.astimezone(notice.tz) if warning.expires_at else None
    colour_zh, colour_en = COLOUR_WORDS.get(str(warning.level), ("", ""))
    event = hazard_in_text(warning.hazard, language)
    if language == "en":
        ellipsis = "..."  # GSM-7: "…" would turn an English notice into UCS-2

        def compose(title: str, text: str) -> str:
            when = f" until {until:%d %b %H:%M}" if until else ""
            link = f" Details: {notice.link}" if notice.link else ""
            return (
                f"{notice.signature} {'Update: ' if update else ''}{title}. {colour_en.capitalize()} "
                f"{event} warning{when}. {text + ' ' if text else ''}Prepare for possible "
                f"power cuts.{link} Report an outage on {notice.hotline}."
            )

        title, text = warning.title_en, warning.text_en
    else:
        ellipsis = "…"

        def compose(title: str, text: str) -> str:
            when = f"，有效至{until:%m月%d日%H:%M}" if until else ""
            # A space after the address: phones would take a full-width comma into the link.
            link = f"详情见{notice.link} ，" if notice.link else ""
            return (
                f"{notice.signature}{'预警更新：' if update else ''}{title}。"
                f"{colour_zh}{event}预警{when}。"
                f"{text}请做好停电准备，{link}停电报修请拨{notice.hotline}。"
            )

        title, text = warning.title_zh, warning.text_zh
    title, text = " ".join((title or "").split()), " ".join((text or "").split())

    def fits(body: str) -> bool:
        return len(sms_segments(body)) <= NOTICE_MAX_PARTS

    for candidate in (compose(title, text), compose(title, "")):
        if fits(candidate):
            return candidate
    # The longest start of the title that fits (binary search: fitting only shrinks with it).
    low, high = 0, len(title)
    while low < high:
        middle = (low + high + 1) // 2
        if fits(compose(title[:middle].rstrip() + ellipsis, "")):
            low = middle
        else:
            high = middle - 1
    return compose(title[:low].rstrip() + ellipsis if low < len(title) else title, "")


def _queue_notices(
    session: Session,
    clock: Clock,
    warning: Warning,
    customer_ids: Any,
    phones: list[str | None],
    tz: ZoneInfo,
) -> tuple[int, int]:
    """One SMS per customer with a phone, inserted in batches; the dedupe key makes a retry harmless."""
    language = str(get_setting(session, "warnings.notice_language"))
    language = language if language in ("zh", "en") else "zh"
    body = notice_text(warning, language, NoticeSettings.from_settings(session, language, tz))
    prefix = f"warning:{warning.cap_identifier}:"
    already = set(
        session.scalars(select(Notification.dedupe_key).where(Notification.dedupe_key.like(f"{prefix}%")))
    )
    now = clock.now()
    rows: list[dict[str, Any]] = []
    without_phone = 0
    queued = 0
    for customer_id, phone in zip(customer_ids.tolist(), phones, strict=True):
        if not phone:
            without_phone += 1
            continue
        key = f"{prefix}{customer_id}"
        if key in already:
            continue
        rows.append(
            {
                "created_at": now,
                "channel": NotificationChannel.SMS,
                "recipient": phone,
                "customer_id": customer_id,
                "language": language,
                "template": f"warning.{warning.cap_msg_type.lower()}",
                "body": body,
                "subject_kind": "warning",
                "subject_id": warning.id,
                "dedupe_key": key,
                "status": NotificationStatus.PENDING,
                "attempts": 0,
            }
        )
        # Core inserts: the ORM's per-row bookkeeping dominates at hundreds of thousands of notices.
        if len(rows) >= NOTICE_BATCH:
            session.connection().execute(insert(Notification), rows)
            queued += len(rows)
            rows = []
    if rows:
        session.connection().execute(insert(Notification), rows)
        queued += len(rows)
    return queued, without_phone


def _result_detail(result: PublishResult) -> str:
    return (
        f"{result.notices_queued} notices queued, "
        f"{result.customers_without_phone} customers without a phone, "
        f"{result.outreach_added} important users added to outreach, disaster mode {result.disaster_mode}"
    )
