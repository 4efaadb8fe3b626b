"""The agencies' CAP feeds (managers): which feeds the server watches, their health, the messages they
carried and what became of each; add a feed, change one, switch it off."""

from __future__ import annotations

import streamlit as st

from dashboard import services
from dashboard.choices import choice_key
from dashboard.i18n import local_time, t
from dashboard.markdown_text import plain
from dashboard.outcome import attempt, show_outcome
from dashboard.session import require_role
from emergency.app.bus import execute
from emergency.app.commands.cap_feeds import AddCapFeed, ChangeCapFeed
from emergency.app.queries import cap_feeds as queries
from emergency.core.models import Role
from emergency.warnings.feeds import FeedInput

OUTCOME_KEY = "cap-feeds-outcome"

actor = require_role(Role.MANAGER, Role.ADMIN)
ctx = services.context(actor)
st.title(t("capfeed.title"))
st.caption(t("capfeed.help"))
show_outcome(OUTCOME_KEY)

feeds = queries.feed_rows(ctx)


def feed_fields(form_key: str, name: str = "", url: str = "", minutes: int = 5) -> tuple[str, str, int]:
    """A feed's name, address and polling interval, as the add and change forms ask for them."""
    name = st.text_input(t("capfeed.col.name"), value=name, max_chars=100, key=f"{form_key}-name")
    url = st.text_input(
        t("capfeed.col.url"), value=url, max_chars=500, placeholder="https://", key=f"{form_key}-url"
    )
    interval = st.number_input(
        t("capfeed.col.interval"),
        min_value=1,
        max_value=1440,
        value=minutes,
        step=1,
        key=f"{form_key}-minutes",
    )
    return name, url, int(interval)


def result_words(result: str | None, error: str | None) -> str:
    """The last poll in words; an error keeps the agency's or our reason, as plain text."""
    said = t(f"capfeed.result.{result or 'never'}")
    return f"{said}: {error}" if error else said


if feeds:
    st.dataframe(
        [
            {
                t("capfeed.col.name"): f.name,
                t("capfeed.col.url"): f.url,
                t("capfeed.col.interval"): f.interval_minutes,
                t("capfeed.col.enabled"): f.enabled,
                t("capfeed.col.last_poll"): local_time(f.last_polled_at, ctx.tz),
                t("capfeed.col.next_poll"): local_time(f.next_poll_at, ctx.tz) if f.enabled else "—",
                t("capfeed.col.last_success"): local_time(f.last_success_at, ctx.tz),
                t("capfeed.col.result"): result_words(f.last_result, f.last_error),
                t("capfeed.col.alerts"): f.alerts_seen,
                t("capfeed.col.drafts"): f.drafts_made,
            }
            for f in feeds
        ],
        hide_index=True,
        width="stretch",
    )
    for f in feeds:
        if f.enabled and f.last_result in ("error", "partial"):
            st.error(t("capfeed.failing", feed=plain(f.name), reason=plain(f.last_error or "")))
else:
    st.info(t("capfeed.none"))

add_col, change_col = st.columns(2)
with add_col, st.form("cap-feed-add", clear_on_submit=True):
    st.subheader(t("capfeed.add"))
    name, url, minutes = feed_fields("cap-feed-add")
    if st.form_submit_button(t("capfeed.add"), type="primary"):
        attempt(
            OUTCOME_KEY,
            lambda: execute(ctx, AddCapFeed(FeedInput(name, url, minutes))),
            t("capfeed.added", feed=plain(name)),
        )

if feeds:
    by_id = {f.id: f for f in feeds}
    with change_col:
        st.subheader(t("capfeed.change"))
        chosen = st.selectbox(
            t("capfeed.choose"),
            list(by_id),
            format_func=lambda i: by_id[i].name,
            key=choice_key("cap-feed-chosen"),
        )
        feed = by_id[chosen]
        # Keyed by feed and version: a change elsewhere redraws the form with what is stored now.
        form_key = f"cap-feed-change-{feed.id}-{feed.version}"
        with st.form(form_key):
            new_name, new_url, new_minutes = feed_fields(form_key, feed.name, feed.url, feed.interval_minutes)
            enabled = st.checkbox(t("capfeed.col.enabled"), value=feed.enabled, key=f"{form_key}-enabled")
            if st.form_submit_button(t("capfeed.save")):
                attempt(
                    OUTCOME_KEY,
                    lambda: execute(
                        ctx,
                        ChangeCapFeed(
                            feed.id, feed.version, FeedInput(new_name, new_url, new_minutes, enabled)
                        ),
                    ),
                    t("capfeed.saved", feed=plain(new_name)),
                )

    st.subheader(t("capfeed.items"))
    items = queries.recent_items(ctx)
    if items:
        st.dataframe(
            [
                {
                    t("capfeed.col.fetched"): local_time(i.fetched_at, ctx.tz),
                    t("capfeed.col.name"): i.feed_name,
                    t("capfeed.col.sender"): i.sender,
                    t("capfeed.col.identifier"): i.identifier,
                    t("capfeed.col.sent"): i.sent,
                    "CAP": i.msg_type,
                    t("capfeed.col.outcome"): t(f"capfeed.outcome.{i.outcome}"),
                    t("capfeed.col.warning"): f"#{i.warning_id}" if i.warning_id else "—",
                    t("capfeed.col.reason"): i.reason or "",
                }
                for i in items
            ],
            hide_index=True,
            width="stretch",
        )
    else:
        st.caption(t("capfeed.no_items"))
