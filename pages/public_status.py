"""Public power status: warnings, totals, a map of generalised outage areas, districts and progress.

No login. Everything here comes from the shared public snapshot, which holds no personal data by
construction; every viewer of the process is drawn from the same one, built at most once per interval.
"""

from __future__ import annotations

import logging

import streamlit as st
from streamlit_folium import st_folium

from dashboard import public_map, services
from dashboard.i18n import current_language, t
from dashboard.markdown_text import plain
from emergency.core.actor import PUBLIC
from emergency.core.config import load_settings

TABLE_ROW_PX = 35  # Streamlit's dataframe row height
WITH_POWER_COLOUR = "green"
SHARE_COLUMN_PX = 115  # a bar to tell 90 % from 99 %, with its figure, in view on a phone
ETR_COLUMN_PX = 300  # "12-05 18:30 – 12-05 21:00 · 2 being reassessed" in full

ctx = services.context(PUBLIC)
tz = ctx.tz
tiles = load_settings().tiles
language = current_language()
try:
    snapshot = services.public_snapshot()
except Exception:  # no snapshot was ever built and the database cannot give one: say so, calmly
    logging.getLogger(__name__).exception("public snapshot unavailable")
    st.title(t("public.title"))
    st.error(t("public.unavailable"))
    st.stop()
name = snapshot.territory_name.get(language) or snapshot.territory_name.get("en") or ""

st.title(t("public.title"))
if name:
    st.caption(t("public.subtitle", name=plain(name)))  # the territory's name comes from an import

for warning in snapshot.warnings:
    # The banner's texts are escaped in warning_banner; the HTML is only for the signal colour.
    st.markdown(public_map.warning_banner(warning, snapshot, language, t, tz), unsafe_allow_html=True)

if snapshot.is_stale(ctx.clock.now()):
    st.warning(t("public.stale", at=public_map.local(snapshot.generated_at, tz)), icon=":material/schedule:")

col_out, col_share, col_outages, col_crews, col_restored = st.columns(5)
col_out.metric(t("public.customers_out"), f"{snapshot.customers_out:,}")
col_share.metric(t("public.share_with_power"), f"{snapshot.share_with_power:.2%}")
col_outages.metric(t("public.outages"), f"{snapshot.outages:,}")
col_crews.metric(t("public.crews_working"), f"{snapshot.crews_working:,}")
col_restored.metric(
    t("public.restored_so_far", hours=snapshot.event_hours), f"{snapshot.customers_restored:,}"
)
st.caption(
    t(
        "public.updated",
        at=public_map.local(snapshot.generated_at, tz),
        next=public_map.local(snapshot.next_update_at, tz, "%H:%M"),
    )
)
if snapshot.outages == 0:
    st.success(t("public.all_clear"))

fmap = public_map.public_map(snapshot, language, t, tz, tiles)
if fmap is not None:
    st_folium(fmap, height=540, width="stretch", returned_objects=[], key="public-map")
    st.caption(t("public.map_caption", n=snapshot.min_customers_shown))

st.subheader(t("public.districts"))
st.dataframe(
    public_map.district_rows(snapshot, language, t, tz),
    hide_index=True,
    width="stretch",
    # Every district in view, no inner scrolling: the table is short and people print this page.
    height=TABLE_ROW_PX * (len(snapshot.districts) + 1) + 3,
    column_config={
        # Green: the filled part is the customers with power, the same green as a restored area on
        # the map. Red means one thing on this page: without power.
        t("public.col.share"): st.column_config.ProgressColumn(
            format="%.2f%%", min_value=0, max_value=100, color=WITH_POWER_COLOUR, width=SHARE_COLUMN_PX
        ),
        # Wide enough for a range of two times and "N being reassessed", on a laptop too.
        t("public.col.etr"): st.column_config.TextColumn(width=ETR_COLUMN_PX),
        t("public.col.district"): st.column_config.TextColumn(pinned=True),
    },
)

progress = public_map.progress_frame(snapshot, language, tz)
if not progress.empty and len(progress.columns):
    st.subheader(t("public.progress"))
    st.altair_chart(public_map.progress_chart(progress, t), width="stretch")
    st.caption(t("public.progress_caption", hours=snapshot.event_hours))
