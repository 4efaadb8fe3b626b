"""The Warnings page's banner about drafts the agencies' CAP feeds made (emergency.warnings.feeds).

A function of plain data in and Streamlit out, so the Warnings page includes it with one call.
"""

from __future__ import annotations

import streamlit as st

from dashboard.i18n import t
from dashboard.markdown_text import plain
from emergency.app.context import Context
from emergency.app.queries import cap_feeds as queries


def new_drafts_banner(ctx: Context) -> None:
    """One line per feed with drafts nobody has issued or discarded yet: they wait for a person."""
    for drafts in queries.new_feed_drafts(ctx):
        ids = ", ".join(f"#{i}" for i in drafts.warning_ids)
        st.warning(
            t("capfeed.banner", n=len(drafts.warning_ids), feed=plain(drafts.feed_name), ids=ids),
            icon=":material/rss_feed:",
        )
