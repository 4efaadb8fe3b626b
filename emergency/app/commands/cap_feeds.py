"""CAP feed commands: a manager adds or changes the agencies' feeds; the server's watcher polls them.

Polling runs in several short transactions (claim the feed, record each alert, record the poll's
result) with the fetching between them, outside any transaction: a slow or dead agency server
never holds the write lock, and one bad alert or feed never stops the others.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from emergency.app.bus import handles
from emergency.app.context import Context
from emergency.core.errors import InvalidInput
from emergency.core.unit_of_work import unit_of_work
from emergency.warnings import feeds
from emergency.warnings.feeds import FEED_ROLES, POLL_ROLES, FeedEntry, FeedInput, FeedTarget, FetchFailed

log = logging.getLogger("outage_desk.cap_feeds")


@dataclass(frozen=True)
class AddCapFeed:
    """Watch an agency's Atom or RSS feed of CAP alerts every `interval_minutes`."""

    data: FeedInput


@handles(AddCapFeed)
def add_cap_feed(ctx: Context, cmd: AddCapFeed) -> int:
    with unit_of_work(ctx.db, ctx.actor, FEED_ROLES) as session:
        return feeds.add_feed(session, ctx.clock, ctx.actor, cmd.data)


@dataclass(frozen=True)
class ChangeCapFeed:
    """Rename, re-point, re-time or switch a feed on or off, as of the version the manager saw."""

    feed_id: int
    expected_version: int
    data: FeedInput


@handles(ChangeCapFeed)
def change_cap_feed(ctx: Context, cmd: ChangeCapFeed) -> None:
    with unit_of_work(ctx.db, ctx.actor, FEED_ROLES) as session:
        feeds.change_feed(
            session, ctx.clock, ctx.actor, cmd.feed_id, cmd.data, expected_version=cmd.expected_version
        )


@dataclass(frozen=True)
class PollCapFeeds:
    """Poll every due feed once (the server's loop, as the system). `language` is the utility's, for
    the duty manager's notices."""

    language: str


@dataclass(frozen=True)
class PollReport:
    """What one feed's poll did: its result, the alerts it recorded and the drafts it made."""

    feed_id: int
    result: str  # ok | not_modified | partial | error
    alerts: int = 0
    drafts: tuple[int, ...] = ()
    error: str | None = None


@handles(PollCapFeeds)
def poll_cap_feeds(ctx: Context, cmd: PollCapFeeds) -> tuple[PollReport, ...]:
    with unit_of_work(ctx.db, ctx.actor, POLL_ROLES) as session:
        due = feeds.due_feeds(session, ctx.clock.now())
        limits = feeds.limits(session)
    reports = []
    for feed_id, polled in due:
        with unit_of_work(ctx.db, ctx.actor, POLL_ROLES) as session:
            target = feeds.claim_feed(session, feed_id, polled, ctx.clock.now())
        if target is None:
            continue  # another process is polling it
        try:
            report = _poll(ctx, target, limits, cmd.language)
        except Exception as error:  # a bug on one agency's document must not stop the other feeds
            log.exception("CAP feed %s: poll failed", target.name)
            report = PollReport(target.id, "error", error=f"internal error: {type(error).__name__}")
            _record(ctx, report)
        reports.append(report)
    return tuple(reports)


def _poll(ctx: Context, feed: FeedTarget, limits: feeds.Limits, language: str) -> PollReport:
    try:
        fetched = feeds.http_fetch(
            feed.url,
            max_bytes=limits.feed_bytes,
            timeout=limits.timeout,
            etag=feed.etag,
            last_modified=feed.last_modified,
        )
        entries = [] if fetched.status == 304 else feeds.parse_feed(fetched.body, feed.url)
    except (FetchFailed, InvalidInput) as failure:
        log.warning("CAP feed %s (%s): %s", feed.name, feed.url, failure)
        report = PollReport(feed.id, "error", error=str(failure))
        _record(ctx, report)
        return report
    if fetched.status == 304:
        report = PollReport(feed.id, "not_modified")
        _record(ctx, report)
        return report
    with unit_of_work(ctx.db, ctx.actor, POLL_ROLES) as session:
        new = feeds.unseen(session, entries)
    alerts, drafts, problems = 0, [], []
    for entry in new:
        try:
            outcome = _take(ctx, feed, entry, limits, language)
        except (FetchFailed, InvalidInput) as failure:
            log.warning("CAP feed %s: entry %s: %s", feed.name, entry.link or entry.key, failure)
            problems.append(f"{entry.link or entry.key}: {failure}")
            continue
        if outcome is not None:
            alerts += 1
            if outcome.warning_id is not None:
                drafts.append(outcome.warning_id)
    report = PollReport(
        feed.id,
        "partial" if problems else "ok",
        alerts,
        tuple(drafts),
        "; ".join(problems) if problems else None,
    )
    # With an alert unread, keep the old validators: the next poll fetches the feed again and
    # retries it (the alerts it recorded are skipped), where a 304 would have hidden it for good.
    _record(ctx, report, None if problems else fetched)
    return report


def _take(
    ctx: Context, feed: FeedTarget, entry: FeedEntry, limits: feeds.Limits, language: str
) -> feeds.AlertOutcome | None:
    """One entry's alert, fetched when the feed only links to it, recorded in its own transaction."""
    data = entry.alert
    if data is None:
        if entry.link is None:
            raise InvalidInput("the entry carries no CAP alert and links to none", field="feed")
        data = feeds.http_fetch(
            entry.link, max_bytes=limits.alert_bytes, timeout=limits.timeout, accept=feeds.ALERT_ACCEPT
        ).body
    elif len(data) > limits.alert_bytes:
        raise FetchFailed(f"the inline alert is larger than {limits.alert_bytes // 1024} KiB")
    with unit_of_work(ctx.db, ctx.actor, POLL_ROLES) as session:
        return feeds.record_alert(session, ctx.clock, feed, entry.key, data, language=language)


def _record(ctx: Context, report: PollReport, fetched: feeds.Fetched | None = None) -> None:
    with unit_of_work(ctx.db, ctx.actor, POLL_ROLES) as session:
        feeds.record_poll(
            session,
            report.feed_id,
            ctx.clock.now(),
            result=report.result,
            error=report.error,
            fetched=fetched,
            alerts=report.alerts,
            drafts=len(report.drafts),
        )
