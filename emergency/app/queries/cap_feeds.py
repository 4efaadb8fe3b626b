"""CAP feed queries for the managers' feeds page and the Warnings page's banner: plain frozen data."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select

from emergency.app.context import Context
from emergency.core.models import CapFeed, CapFeedItem
from emergency.core.unit_of_work import read_as
from emergency.warnings import feeds
from emergency.warnings.feeds import FEED_ROLES

RECENT_ITEMS = 100


@dataclass(frozen=True)
class FeedRow:
    """One watched feed and its health."""

    id: int
    version: int
    name: str
    url: str
    interval_minutes: int
    enabled: bool
    last_polled_at: datetime | None
    next_poll_at: datetime | None  # None: disabled, or never polled (due now)
    last_success_at: datetime | None
    last_result: str | None  # ok | not_modified | partial | error, None before the first poll
    last_error: str | None
    alerts_seen: int
    drafts_made: int


@dataclass(frozen=True)
class FeedItemRow:
    """One CAP message a feed carried, and what became of it."""

    fetched_at: datetime
    feed_name: str
    sender: str
    identifier: str
    sent: str
    msg_type: str
    outcome: str  # imported | refused | skipped
    reason: str | None
    warning_id: int | None


@dataclass(frozen=True)
class FeedDrafts:
    """Drafts a feed made that nobody has issued or discarded yet (the Warnings page's banner)."""

    feed_name: str
    warning_ids: tuple[int, ...]


def feed_rows(ctx: Context) -> tuple[FeedRow, ...]:
    with read_as(ctx.db, ctx.actor, FEED_ROLES) as session:
        return tuple(
            _row(feed) for feed in session.scalars(select(CapFeed).order_by(CapFeed.name, CapFeed.id))
        )


def recent_items(ctx: Context, limit: int = RECENT_ITEMS) -> tuple[FeedItemRow, ...]:
    """The latest messages from every feed, newest first."""
    with read_as(ctx.db, ctx.actor, FEED_ROLES) as session:
        rows = session.execute(
            select(CapFeedItem, CapFeed.name)
            .join(CapFeed, CapFeed.id == CapFeedItem.feed_id)
            .order_by(CapFeedItem.fetched_at.desc(), CapFeedItem.id.desc())
            .limit(max(1, min(int(limit), 1000)))
        )
        return tuple(
            FeedItemRow(
                item.fetched_at,
                name,
                item.sender,
                item.identifier,
                item.sent,
                item.msg_type,
                item.outcome,
                item.reason,
                item.warning_id,
            )
            for item, name in rows
        )


def new_feed_drafts(ctx: Context) -> tuple[FeedDrafts, ...]:
    with read_as(ctx.db, ctx.actor, FEED_ROLES) as session:
        return tuple(FeedDrafts(name, tuple(ids)) for name, ids in feeds.new_drafts_by_feed(session))


def _row(feed: CapFeed) -> FeedRow:
    next_poll = None
    if feed.enabled and feed.last_polled_at is not None:
        next_poll = feed.last_polled_at + timedelta(minutes=feed.interval_minutes)
    return FeedRow(
        feed.id,
        feed.version,
        feed.name,
        feed.url,
        feed.interval_minutes,
        feed.enabled,
        feed.last_polled_at,
        next_poll,
        feed.last_success_at,
        feed.last_result,
        feed.last_error,
        feed.alerts_seen,
        feed.drafts_made,
    )
