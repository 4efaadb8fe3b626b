"""Watching agencies' CAP feeds: fetch an Atom or RSS feed, find its CAP alerts, record each one once.

Agencies publish their alerts as Atom (NWS, MeteoAlarm, WMO's alert hub) or RSS feeds whose entries
link to a CAP document or carry the alert inline. The server polls each due feed with the validators
the agency's server gave last time (ETag, Last-Modified: a 304 costs nothing), reads bounded
documents with a deadline, refuses DTDs and entity declarations before parsing, and records each CAP
message once by CAP's own identity (sender, identifier, sent). A new Actual message whose area
touches the territory becomes a draft and the duty manager is told; nothing is issued without a
person.

Fetching is I/O outside any transaction, so a slow agency never holds the write lock; the command
handler (`emergency.app.commands.cap_feeds`) runs the steps: claim a due feed, fetch, record.
"""

from __future__ import annotations

import time
import urllib.error
import urllib.request
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from datetime import datetime, timedelta
from http.client import HTTPException
from typing import Any
from urllib.parse import urljoin, urlsplit
from xml.parsers import expat

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from emergency.core import audit
from emergency.core.actor import Actor
from emergency.core.clock import Clock
from emergency.core.errors import Conflict, InvalidInput, NotFound
from emergency.core.models import (
    CapFeed,
    CapFeedItem,
    Notification,
    NotificationChannel,
    Role,
    Warning,
    WarningStatus,
)
from emergency.core.settings import get_setting
from emergency.warnings import cap
from emergency.warnings.cap_import import ImportOutcome, import_alert

# The server's feed watcher, named in the audit trail of the drafts it makes.
FEED_WATCHER = Actor("cap-feed", "system")
FEED_ROLES = (Role.MANAGER, Role.ADMIN)
POLL_ROLES = ("system",)
DUTY_RECIPIENT = "duty-manager"  # the desk SLA breach notices go to (emergency.dispatch.sla)
NOTICE_TEMPLATE = "cap_feed_draft"
INTERVAL_MINUTES = range(1, 24 * 60 + 1)
# What a poll came to, and what became of each message a feed carried (the pages have words for each).
POLL_RESULTS = ("ok", "not_modified", "partial", "error")
ITEM_OUTCOMES = ("imported", "refused", "skipped")
ATOM = "{http://www.w3.org/2005/Atom}"
CAP = f"{{{cap.NS}}}"
CAP_TYPES = ("application/cap+xml", "application/common-alerting-protocol+xml")
FEED_ACCEPT = "application/atom+xml, application/rss+xml, application/xml;q=0.9, */*;q=0.5"
ALERT_ACCEPT = "application/cap+xml, application/xml;q=0.9, */*;q=0.5"
USER_AGENT = "OutageDesk-CapFeed/1"
READ_CHUNK = 65_536


# --- the feeds a manager configures ---------------------------------------------------------------


@dataclass(frozen=True)
class FeedInput:
    """A feed as the manager enters it."""

    name: str
    url: str
    interval_minutes: int
    enabled: bool = True


def check_url(url: str) -> str:
    """An http(s) address with a host and no credentials (they would show on the page), else refused."""
    url = (url or "").strip()
    if not url or len(url) > 500 or any(c.isspace() for c in url):
        raise InvalidInput("give the feed's web address (at most 500 characters, no spaces)", field="url")
    parts = urlsplit(url)
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise InvalidInput("only http:// and https:// feed addresses are watched", field="url")
    if parts.username or parts.password:
        raise InvalidInput("the address must not carry a user name or password", field="url")
    return url


def check_feed(data: FeedInput) -> FeedInput:
    name = (data.name or "").strip()
    if not name or len(name) > 100:
        raise InvalidInput("name the feed (at most 100 characters)", field="name")
    interval = data.interval_minutes
    if not isinstance(interval, int) or interval not in INTERVAL_MINUTES:
        raise InvalidInput("the interval is 1 to 1440 minutes", field="interval_minutes")
    return FeedInput(name, check_url(data.url), interval, bool(data.enabled))


def add_feed(session: Session, clock: Clock, actor: Actor, data: FeedInput) -> int:
    """A new feed to watch; returns its id. The same address twice is refused."""
    data = check_feed(data)
    _refuse_taken_url(session, data.url, None)
    feed = CapFeed(
        name=data.name,
        url=data.url,
        interval_minutes=data.interval_minutes,
        enabled=data.enabled,
        alerts_seen=0,
        drafts_made=0,
        created_at=clock.now(),
        created_by=actor.username,
        version=1,
    )
    session.add(feed)
    session.flush()
    audit.record(session, clock, actor, "capfeed.add", "cap_feed", feed.id, after=_snapshot(feed))
    return feed.id


def change_feed(
    session: Session, clock: Clock, actor: Actor, feed_id: int, data: FeedInput, *, expected_version: int
) -> None:
    """Rename, re-point, re-time, switch on or off; refused when someone changed the feed first."""
    data = check_feed(data)
    feed = session.scalar(select(CapFeed).where(CapFeed.id == feed_id).with_for_update())
    if feed is None:
        raise NotFound(f"feed {feed_id} does not exist")
    if feed.version != expected_version:
        raise Conflict(f"feed {feed.name} was changed by someone else; look at it again")
    _refuse_taken_url(session, data.url, feed_id)
    before = _snapshot(feed)
    if data.url != feed.url:  # another server's validators mean nothing here
        feed.etag = feed.last_modified = None
    feed.name, feed.url = data.name, data.url
    feed.interval_minutes, feed.enabled = data.interval_minutes, data.enabled
    feed.version += 1
    session.flush()
    audit.record(
        session, clock, actor, "capfeed.change", "cap_feed", feed.id, before=before, after=_snapshot(feed)
    )


def _refuse_taken_url(session: Session, url: str, feed_id: int | None) -> None:
    taken = session.scalar(select(CapFeed.id).where(CapFeed.url == url, CapFeed.id != (feed_id or -1)))
    if taken is not None:
        raise Conflict(f"this address is already watched as feed {taken}")


def _snapshot(feed: CapFeed) -> dict[str, Any]:
    return {
        "name": feed.name,
        "url": feed.url,
        "interval_minutes": feed.interval_minutes,
        "enabled": feed.enabled,
    }


# --- fetching -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Fetched:
    """What an agency's server answered: 200 with a body, or 304 (unchanged since the validators)."""

    status: int
    body: bytes
    etag: str | None
    last_modified: str | None


class FetchFailed(Exception):
    """The document could not be had: unreachable, an HTTP error, too large or too slow."""


class _HttpOnlyRedirects(urllib.request.HTTPRedirectHandler):
    """Follow redirects only to http(s): urllib would also follow one to ftp://."""

    def redirect_request(self, req: Any, fp: Any, code: int, msg: str, headers: Any, newurl: str) -> Any:
        if urlsplit(newurl).scheme.lower() not in ("http", "https"):
            raise FetchFailed(f"redirected to a non-http address ({newurl[:80]})")
        return super().redirect_request(req, fp, code, msg, headers, newurl)


_OPENER = urllib.request.build_opener(_HttpOnlyRedirects())


def http_fetch(
    url: str,
    *,
    max_bytes: int,
    timeout: float,
    accept: str = FEED_ACCEPT,
    etag: str | None = None,
    last_modified: str | None = None,
) -> Fetched:
    """GET `url` with the validators, refusing a body over `max_bytes` or a transfer over `timeout`
    seconds in all (a server dripping bytes must not hold the watcher)."""
    check_url(url)
    headers = {"Accept": accept, "User-Agent": USER_AGENT}
    if etag:
        headers["If-None-Match"] = etag
    if last_modified:
        headers["If-Modified-Since"] = last_modified
    deadline = time.monotonic() + timeout
    try:
        with _OPENER.open(urllib.request.Request(url, headers=headers), timeout=timeout) as response:
            declared = response.headers.get("Content-Length")
            if declared and declared.isdigit() and int(declared) > max_bytes:
                raise FetchFailed(_too_large(int(declared), max_bytes))
            body = _read_bounded(response, max_bytes, deadline, timeout)
            return Fetched(
                response.status, body, response.headers.get("ETag"), response.headers.get("Last-Modified")
            )
    except urllib.error.HTTPError as error:
        if error.code == 304:
            return Fetched(304, b"", etag, last_modified)
        raise FetchFailed(f"HTTP {error.code} {error.reason}") from None
    except urllib.error.URLError as error:
        raise FetchFailed(f"unreachable: {error.reason}") from None
    except (TimeoutError, OSError, HTTPException) as error:
        raise FetchFailed(f"unreachable: {type(error).__name__} {error}".strip()) from None


def _read_bounded(response: Any, max_bytes: int, deadline: float, timeout: float) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while chunk := response.read(READ_CHUNK):
        size += len(chunk)
        if size > max_bytes:
            raise FetchFailed(_too_large(size, max_bytes))
        if time.monotonic() > deadline:
            raise FetchFailed(f"the transfer took longer than {timeout:g} s")
        chunks.append(chunk)
    return b"".join(chunks)


def _too_large(size: int, limit: int) -> str:
    return f"the document is larger than {limit // 1024} KiB ({size // 1024} KiB or more)"


# --- reading feeds and alerts ---------------------------------------------------------------------


@dataclass(frozen=True)
class FeedEntry:
    """One entry of a feed: its key (link or id, with its update time) and the alert inline or linked."""

    key: str
    alert: bytes | None
    link: str | None


@dataclass(frozen=True)
class AlertIdentity:
    sender: str
    identifier: str
    sent: str
    status: str
    msg_type: str


def safe_xml(data: bytes, what: str) -> ET.Element:
    """Parse untrusted XML, refusing any DTD or entity declaration before anything is expanded."""

    def refuse(*_args: Any) -> Any:  # one refusal for handlers of several signatures
        raise InvalidInput(f"the {what} declares a DTD or entities, which are not accepted", field=what)

    checker = expat.ParserCreate()
    checker.StartDoctypeDeclHandler = refuse
    checker.EntityDeclHandler = refuse
    checker.UnparsedEntityDeclHandler = refuse
    checker.ExternalEntityRefHandler = refuse
    try:
        checker.Parse(data, True)
        return ET.fromstring(data)
    except (expat.ExpatError, ET.ParseError) as error:
        raise InvalidInput(f"the {what} is not well-formed XML: {error}", field=what) from None


def parse_feed(data: bytes, base_url: str) -> list[FeedEntry]:
    """The entries of an Atom or RSS feed (or a lone CAP alert served at the feed's address)."""
    root = safe_xml(data, "feed")
    if root.tag == f"{ATOM}feed":
        return [_atom_entry(entry, base_url) for entry in root.iter(f"{ATOM}entry")]
    if root.tag == "rss":
        return [_rss_item(item, base_url) for item in root.iter("item")]
    if root.tag == f"{CAP}alert":
        return [FeedEntry(base_url, data, None)]
    raise InvalidInput(f"not an Atom or RSS feed (root element {root.tag[:80]})", field="feed")


def _atom_entry(entry: ET.Element, base_url: str) -> FeedEntry:
    links = entry.findall(f"{ATOM}link")
    cap_links = [link for link in links if link.get("type", "").split(";")[0].strip() in CAP_TYPES]
    plain = [link for link in links if link.get("rel", "alternate") == "alternate"]
    chosen = (cap_links or plain)[:1]
    href = urljoin(base_url, chosen[0].get("href", "")) if chosen else None
    ident = (entry.findtext(f"{ATOM}id") or "").strip()
    updated = (entry.findtext(f"{ATOM}updated") or "").strip()
    return _entry(entry, href, ident or href or "", updated)


def _rss_item(item: ET.Element, base_url: str) -> FeedEntry:
    enclosures = [e for e in item.findall("enclosure") if e.get("type", "") in CAP_TYPES]
    link = enclosures[0].get("url") if enclosures else (item.findtext("link") or "").strip()
    href = urljoin(base_url, link) if link else None
    ident = (item.findtext("guid") or "").strip()
    return _entry(item, href, href or ident, (item.findtext("pubDate") or "").strip())


def _entry(element: ET.Element, href: str | None, ident: str, updated: str) -> FeedEntry:
    # An agency may re-use one link for each new message about a hazard: its update time tells them apart.
    key = f"{ident}|{updated}"[:500]
    inline = element.find(f".//{CAP}alert")
    if inline is not None:
        return FeedEntry(key, ET.tostring(inline, encoding="utf-8", xml_declaration=True), None)
    return FeedEntry(key, None, href)


def alert_identity(data: bytes) -> AlertIdentity:
    """CAP's identity of a message and what kind it is, read before anything is imported."""
    root = safe_xml(data, "alert")
    if root.tag != f"{CAP}alert":
        raise InvalidInput(f"not a CAP 1.2 alert (root element {root.tag[:80]})", field="alert")
    values = {}
    for name, limit in (("sender", 200), ("identifier", 200), ("sent", 40), ("status", 16), ("msgType", 16)):
        value = (root.findtext(f"{CAP}{name}") or "").strip()
        if not value or len(value) > limit:
            raise InvalidInput(f"the alert has no {name} (or one over {limit} characters)", field=name)
        values[name] = value
    return AlertIdentity(
        values["sender"], values["identifier"], values["sent"], values["status"], values["msgType"]
    )


# --- polling and recording ------------------------------------------------------------------------


@dataclass(frozen=True)
class FeedTarget:
    """A feed this process has claimed for one poll."""

    id: int
    name: str
    url: str
    etag: str | None
    last_modified: str | None


@dataclass(frozen=True)
class Limits:
    feed_bytes: int
    alert_bytes: int
    timeout: float


def limits(session: Session) -> Limits:
    return Limits(
        int(get_setting(session, "capfeed.max_feed_bytes")),
        # Each alert is held to what a manager may upload by hand.
        int(get_setting(session, "warnings.max_upload_bytes")),
        float(get_setting(session, "capfeed.timeout_seconds")),
    )


def due_feeds(session: Session, now: datetime) -> list[tuple[int, datetime | None]]:
    """Enabled feeds whose interval has passed since their last poll: (id, last polled) each."""
    rows = session.execute(
        select(CapFeed.id, CapFeed.last_polled_at, CapFeed.interval_minutes)
        .where(CapFeed.enabled.is_(True))
        .order_by(CapFeed.id)
    )
    return [
        (feed_id, polled)
        for feed_id, polled, minutes in rows
        if polled is None or polled + timedelta(minutes=minutes) <= now
    ]


def claim_feed(session: Session, feed_id: int, polled: datetime | None, now: datetime) -> FeedTarget | None:
    """Take the feed for this poll, or None when another process took it since `polled` was read.

    Moving `last_polled_at` from the value read is the lease: of two processes that both found the
    feed due, one update matches and the other's does not.
    """
    seen = CapFeed.last_polled_at.is_(None) if polled is None else CapFeed.last_polled_at == polled
    claimed = session.execute(
        update(CapFeed)
        .where(CapFeed.id == feed_id, CapFeed.enabled.is_(True), seen)
        .values(last_polled_at=now)
        .execution_options(synchronize_session=False)
    )
    if claimed.rowcount != 1:  # type: ignore[attr-defined]
        return None
    feed = session.get(CapFeed, feed_id)
    assert feed is not None
    return FeedTarget(feed.id, feed.name, feed.url, feed.etag, feed.last_modified)


def unseen(session: Session, entries: list[FeedEntry]) -> list[FeedEntry]:
    """The entries no feed has recorded yet (a linked alert already recorded is not fetched again)."""
    keys = sorted({entry.key for entry in entries})
    known: set[str] = set()
    for start in range(0, len(keys), 500):
        chunk = keys[start : start + 500]
        known.update(session.scalars(select(CapFeedItem.entry_key).where(CapFeedItem.entry_key.in_(chunk))))
    return list({e.key: e for e in entries if e.key not in known}.values())


@dataclass(frozen=True)
class AlertOutcome:
    item_id: int
    outcome: str  # imported | refused | skipped
    warning_id: int | None
    reason: str | None


def record_alert(
    session: Session, clock: Clock, feed: FeedTarget, entry_key: str, data: bytes, *, language: str
) -> AlertOutcome | None:
    """Record one CAP message and import it if it is new; None when it was already recorded.

    The item row goes in first, in a SAVEPOINT: when another process (or feed) recorded the same
    message first, the unique constraint refuses it and nothing else happens here. Raises
    InvalidInput when the document is not a CAP alert with an identity (nothing is stored).
    """
    identity = alert_identity(data)
    item = CapFeedItem(
        feed_id=feed.id,
        entry_key=entry_key,
        sender=identity.sender,
        identifier=identity.identifier,
        sent=identity.sent,
        msg_type=identity.msg_type,
        fetched_at=clock.now(),
        outcome="skipped",
    )
    try:
        with session.begin_nested():
            session.add(item)
            session.flush()
    except IntegrityError:
        return None
    if identity.status != "Actual":
        item.reason = f"status {identity.status}: only Actual messages become drafts"
    else:
        outcome = _import_one(session, clock, feed, data)
        item.warning_id = outcome.warning_id
        if outcome.kind == "refused":
            item.outcome, item.reason = "refused", outcome.reason[:500]
        elif outcome.kind == "duplicate":
            # Made before from this message (uploaded by hand, or carried by another feed).
            item.reason = f"already imported as warning {outcome.warning_id}"
        else:
            item.outcome = "imported"
            _tell_duty_manager(session, clock, feed, item, language, outcome.kind)
    session.flush()
    return AlertOutcome(item.id, item.outcome, item.warning_id, item.reason)


def _import_one(session: Session, clock: Clock, feed: FeedTarget, data: bytes) -> ImportOutcome:
    """The one call into the CAP importer: a new draft, or the draft or warning an Update or a
    Cancel refers to updated or cancelled (`emergency.warnings.cap_import`)."""
    return import_alert(session, clock, FEED_WATCHER, data, origin=f"feed {feed.id}: {feed.name}"[:120])


def _tell_duty_manager(
    session: Session, clock: Clock, feed: FeedTarget, item: CapFeedItem, language: str, kind: str = "created"
) -> None:
    warning = session.get(Warning, item.warning_id)
    assert warning is not None
    en, zh = draft_notice(feed.name, warning.id, warning.title_en, warning.title_zh, kind)
    session.add(
        Notification(
            created_at=clock.now(),
            channel=NotificationChannel.DUTY,
            recipient=DUTY_RECIPIENT,
            language=language,
            template=NOTICE_TEMPLATE,
            body=f"{zh}\n{en}" if language == "zh" else f"{en}\n{zh}",
            subject_kind="warning",
            subject_id=warning.id,
            dedupe_key=f"capfeed:{item.sender},{item.identifier},{item.sent}"[:200],
        )
    )


def draft_notice(
    feed_name: str, warning_id: int, title_en: str, title_zh: str, kind: str = "created"
) -> tuple[str, str]:
    """The duty manager's message about what a feed's alert did, in English and Chinese:
    `kind` is the importer's outcome (created, updated or cancelled)."""
    if kind == "updated":
        return (
            f"The agency updated warning {warning_id} ({title_en}) through the feed {feed_name}. "
            "Check it on the Warnings page; nothing is issued without a person.",
            f"订阅源“{feed_name}”发来机构对预警 {warning_id}（{title_zh or title_en}）的更新。"
            "请在“灾害预警”页面核对；未经人工确认不会发布。",
        )
    if kind == "cancelled":
        return (
            f"The agency cancelled warning {warning_id} ({title_en}) through the feed {feed_name}.",
            f"订阅源“{feed_name}”发来机构取消预警 {warning_id}（{title_zh or title_en}）的消息。",
        )
    return (
        f"New draft warning {warning_id} from the feed {feed_name}: {title_en}. "
        "Check it on the Warnings page and issue it; nothing is issued without a person.",
        f"订阅源“{feed_name}”导入了新的草稿预警 {warning_id}：{title_zh or title_en}。"
        "请在“灾害预警”页面核对后发布；未经人工确认不会发布。",
    )


def record_poll(
    session: Session,
    feed_id: int,
    now: datetime,
    *,
    result: str,
    error: str | None = None,
    fetched: Fetched | None = None,
    alerts: int = 0,
    drafts: int = 0,
) -> None:
    """The poll's outcome on the feed: `result` ok, not_modified, partial (some alerts unreadable) or
    error; the validators of a 200 answer; counts added, not overwritten (two processes may add)."""
    values: dict[str, Any] = {
        "last_result": result,
        "last_error": error[:500] if error else None,
        "alerts_seen": CapFeed.alerts_seen + alerts,
        "drafts_made": CapFeed.drafts_made + drafts,
    }
    if result != "error":
        values["last_success_at"] = now
    if fetched is not None and fetched.status == 200:
        values["etag"], values["last_modified"] = fetched.etag, fetched.last_modified
    session.execute(
        update(CapFeed)
        .where(CapFeed.id == feed_id)
        .values(**values)
        .execution_options(synchronize_session=False)
    )


def new_drafts_by_feed(session: Session) -> list[tuple[str, list[int]]]:
    """Each feed's name with the drafts it made that nobody has issued or discarded yet."""
    rows = session.execute(
        select(CapFeed.name, CapFeedItem.warning_id)
        .join(CapFeed, CapFeed.id == CapFeedItem.feed_id)
        .join(Warning, Warning.id == CapFeedItem.warning_id)
        .where(CapFeedItem.outcome == "imported", Warning.status == WarningStatus.DRAFT)
        .order_by(CapFeed.name, CapFeedItem.warning_id)
    )
    drafts: dict[str, list[int]] = {}
    for name, warning_id in rows:
        drafts.setdefault(name, []).append(warning_id)
    return list(drafts.items())
