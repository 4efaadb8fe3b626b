"""Report an outage: by account number or by location, what is wrong, and a description. No login.

The report goes through intake like every channel. A wire down gets the safety message first,
before anything else, as a utility's own page would.
"""

from __future__ import annotations

import folium
import streamlit as st
from streamlit_folium import st_folium

from dashboard import maps, public_forms, services
from dashboard.choices import choice_key
from dashboard.i18n import current_language, t
from emergency.app.bus import execute
from emergency.app.commands.public import ReportOutage
from emergency.app.queries import public as queries
from emergency.core.actor import PUBLIC
from emergency.core.config import load_settings
from emergency.core.ratelimit import RateLimited
from emergency.public.web_reports import PUBLIC_KINDS, ReportRefused, WebReportReceipt

ctx = services.context(PUBLIC)
MAP_HEIGHT = 360
PICKED_KEY = "report_picked"

st.title(t("report.title"))
st.caption(t("report.intro"))

kind = st.radio(
    t("form.field.kind"),
    options=[k.value for k in PUBLIC_KINDS],
    format_func={k.value: t(f"report.kind.{k.value}") for k in PUBLIC_KINDS}.__getitem__,
    horizontal=True,
    key=choice_key("report_kind"),
)
if kind == "hazard":
    st.error(t("report.safety"), icon=":material/warning:")

where = st.radio(
    t("report.where"),
    options=["account", "location"],
    format_func={w: t(f"report.where.{w}") for w in ("account", "location")}.__getitem__,
    horizontal=True,
    key=choice_key("report_where"),
)


def pick_on_map() -> None:
    """A click on the map fills in the latitude and longitude below (typing them still works)."""
    base = services.territory_base(ctx.db.url)
    extent = base["extent"]
    if extent is None:
        return
    st.caption(t("report.map_help"))
    fmap = maps.base_map(
        extent.centre,
        ((extent.south, extent.west), (extent.north, extent.east)),
        tiles=load_settings().tiles,
        height=MAP_HEIGHT,
    )
    maps.district_layer(base["districts"], current_language()).add_to(fmap)
    marker = folium.FeatureGroup(name="picked")
    picked = st.session_state.get(PICKED_KEY)
    if picked is not None:
        folium.CircleMarker(picked, radius=8, color="#b2182b", fill=True, fill_opacity=0.8).add_to(marker)
    answer = st_folium(
        fmap,
        height=MAP_HEIGHT,
        width="stretch",
        returned_objects=["last_clicked"],
        feature_group_to_add=marker,
        key="report-map",
    )
    clicked = (answer or {}).get("last_clicked")
    if clicked:
        point = (round(float(clicked["lat"]), 5), round(float(clicked["lng"]), 5))
        if point != picked:
            # Set before the inputs below are drawn, so they show the clicked point.
            st.session_state[PICKED_KEY] = point
            st.session_state["report_lat"], st.session_state["report_lon"] = point
            st.rerun()


if where == "location":
    pick_on_map()

with st.form("report-outage", clear_on_submit=False):
    account = lat = lon = None
    if where == "account":
        account = st.text_input(t("form.field.account_no"), key="report_account")
    else:
        st.caption(t("report.location_help"))
        col_lat, col_lon = st.columns(2)
        lat = col_lat.number_input(
            t("form.field.lat"), min_value=-90.0, max_value=90.0, value=None, format="%.5f", key="report_lat"
        )
        lon = col_lon.number_input(
            t("form.field.lon"),
            min_value=-180.0,
            max_value=180.0,
            value=None,
            format="%.5f",
            key="report_lon",
        )
    # No max_chars: see public_forms.limit_note (an over-long paste would be dropped unseen).
    description = st.text_area(
        t("form.field.description"), placeholder=t("report.description_hint"), key="report_description"
    )
    public_forms.limit_note(queries.description_max_chars(ctx))
    submitted = st.form_submit_button(t("report.submit"), type="primary")

if submitted:
    try:
        receipt: WebReportReceipt = execute(
            ctx,
            ReportOutage(
                public_forms.requester(),
                kind=kind,
                account_no=account,
                lon=lon,
                lat=lat,
                description=description,
            ),
        )
    except ReportRefused as refused:
        for error in refused.errors:
            public_forms.field_error(error.field, error.reason)
    except RateLimited as error:
        public_forms.rate_limited(error)
    else:
        if receipt.duplicate:
            st.info(t("report.duplicate", reference=receipt.reference))
            if (description or "").strip():
                # The earlier report stands as it was: say so rather than let the new text vanish.
                st.warning(t("report.duplicate_text"))
        else:
            st.success(t("report.received", reference=receipt.reference))
        if receipt.hazard and kind != "hazard":  # a hazard's safety message is already above the form
            st.error(t("report.safety"), icon=":material/warning:")
