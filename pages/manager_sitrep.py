"""Situation reports (manager): a quick report or the 08:00 / 17:00 update, previewed and downloaded."""

from __future__ import annotations

from datetime import datetime

import streamlit as st

from dashboard import services
from dashboard.choices import choice_key
from dashboard.i18n import LANGUAGE_LABELS, current_language, local_time, t
from dashboard.markdown_text import plain
from dashboard.session import require_role
from emergency.app.queries import reporting as queries
from emergency.core.errors import EmergencyError
from emergency.core.models import Role
from emergency.reporting import sitrep, sitrep_export

DAY_KEY = "sitrep-start-day"
PREVIEW_KEY = "sitrep-preview"
PREVIEW_CSS = (
    f".st-key-{PREVIEW_KEY} table {{display: block; max-width: 100%; overflow-x: auto}}"
    f" .st-key-{PREVIEW_KEY} td {{word-break: keep-all}}"
)
TIME_KEY = "sitrep-start-time"

actor = require_role(Role.MANAGER, Role.ADMIN)
ctx = services.context(actor)
tz = ctx.tz

st.title(t("sitrep.title"))
st.caption(t("sitrep.help"))

if DAY_KEY not in st.session_state:
    # Suggested once per session, so the inputs keep what the manager chose on every rerun.
    suggested = queries.suggested_event_start(ctx).astimezone(tz)
    st.session_state[DAY_KEY] = suggested.date()
    st.session_state[TIME_KEY] = suggested.time().replace(second=0, microsecond=0)

columns = st.columns([3, 2, 2, 2])
kind = columns[0].radio(
    t("sitrep.kind"),
    [k.value for k in sitrep.ReportKind],
    format_func=lambda k: t(f"sitrep.kind.{k}"),
    horizontal=True,
    key=choice_key("sitrep-kind"),
)
day = columns[1].date_input(t("sitrep.start_day"), key=DAY_KEY)
start_time = columns[2].time_input(t("sitrep.start_time"), key=TIME_KEY, step=300)
document_language = columns[3].selectbox(
    t("sitrep.language"),
    list(LANGUAGE_LABELS),
    index=list(LANGUAGE_LABELS).index(current_language()),
    format_func=LANGUAGE_LABELS.__getitem__,
    key=f"sitrep-language-{current_language()}",  # follows the page language until chosen
)
event_start = datetime.combine(day, start_time, tzinfo=tz)

try:
    report = queries.situation_report(ctx, kind, event_start)
except EmergencyError as error:
    st.error(t("action.refused", reason=plain(error)))
    st.stop()

st.caption(t("sitrep.as_of", at=local_time(report.as_of, tz), previous=local_time(report.previous_at, tz)))
progress = report.progress
figures = st.columns(6)
figures[0].metric(
    t("sitrep.out_now"),
    f"{progress.out_now:,}",
    t("sitrep.out_share", share=f"{report.share_out:.1%}"),
    delta_color="off",
    delta_arrow="off",
)
figures[1].metric(
    t("sitrep.peak"),
    f"{progress.peak:,}",
    t("sitrep.peak_at", at=local_time(progress.peak_at, tz, "%m-%d %H:%M")) if progress.peak_at else None,
    delta_color="off",
    delta_arrow="off",
)
figures[2].metric(
    t("sitrep.restored"),
    f"{progress.restored_share:.1%}",
    t("sitrep.restored_since", n=f"{progress.restored_since_previous:,}"),
    delta_color="off",
    delta_arrow="off",
)
figures[3].metric(t("sitrep.outages"), f"{report.outages_active:,}")
figures[4].metric(
    t("sitrep.crews"),
    f"{report.crews.deployed:,}",
    t("sitrep.workers", n=report.crews.workers),
    delta_color="off",
    delta_arrow="off",
)
figures[5].metric(t("sitrep.important"), f"{len(report.important_users):,}")

markdown = sitrep_export.to_markdown(report, document_language, tz)
stem = f"sitrep-{report.kind}-{report.as_of.astimezone(tz):%Y%m%d-%H%M}"
buttons = st.columns(2)
buttons[0].download_button(
    t("sitrep.download_md"),
    markdown.encode("utf-8"),
    file_name=f"{stem}.md",
    mime="text/markdown",
    key="sitrep-md",
    width="stretch",
)
buttons[1].download_button(
    t("sitrep.download_xlsx"),
    sitrep_export.to_xlsx(report, document_language, tz),
    file_name=f"{stem}.xlsx",
    mime="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    key="sitrep-xlsx",
    width="stretch",
)
st.subheader(t("sitrep.preview"))
# The preview's tables: a Chinese name in a cell is never broken between its characters (the
# district table wrapped 白沙镇 over two lines in a column squeezed by its headers; the headers may
# wrap instead), and a table wider than the page scrolls inside its own box instead of being cut off.
st.html(f"<style>{PREVIEW_CSS}</style>")
with st.container(border=True, key=PREVIEW_KEY):
    # Every name and title in it is escaped by to_markdown: none can become a link or HTML.
    st.markdown(markdown)
