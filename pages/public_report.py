"""Report an outage: by account number or by location, what is wrong, and a description. No login.

The report goes through intake like every channel. A wire down gets the safety message first,
before anything else, as a utility's own page would.
"""

from __future__ import annotations

import streamlit as st

from dashboard import public_forms, services
from dashboard.i18n import t
from emergency.clock import SYSTEM_CLOCK
from emergency.ratelimit import RateLimited
from emergency.web_reports import PUBLIC_KINDS, ReportRefused, description_limit, report_outage

db = services.database()

st.title(t("report.title"))
st.caption(t("report.intro"))

kind = st.radio(
    t("form.field.kind"),
    options=[k.value for k in PUBLIC_KINDS],
    format_func={k.value: t(f"report.kind.{k.value}") for k in PUBLIC_KINDS}.__getitem__,
    horizontal=True,
    key="report_kind",
)
if kind == "hazard":
    st.error(t("report.safety"), icon=":material/warning:")

where = st.radio(
    t("report.where"),
    options=["account", "location"],
    format_func={w: t(f"report.where.{w}") for w in ("account", "location")}.__getitem__,
    horizontal=True,
    key="report_where",
)

with st.form("report-outage", clear_on_submit=False):
    account = lat = lon = None
    if where == "account":
        account = st.text_input(t("form.field.account_no"), max_chars=32, key="report_account")
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
    description = st.text_area(
        t("form.field.description"),
        max_chars=description_limit(db),
        placeholder=t("report.description_hint"),
        key="report_description",
    )
    submitted = st.form_submit_button(t("report.submit"), type="primary")

if submitted:
    try:
        receipt = report_outage(
            db,
            SYSTEM_CLOCK,
            public_forms.requester(),
            kind=kind,
            account_no=account,
            lon=lon,
            lat=lat,
            description=description,
        )
    except ReportRefused as refused:
        for error in refused.errors:
            public_forms.field_error(error.field, error.reason)
    except RateLimited as error:
        public_forms.rate_limited(error)
    else:
        if receipt.duplicate:
            st.info(t("report.duplicate", reference=receipt.reference))
        else:
            st.success(t("report.received", reference=receipt.reference))
        if receipt.hazard and kind != "hazard":  # a hazard's safety message is already above the form
            st.error(t("report.safety"), icon=":material/warning:")
