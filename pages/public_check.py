"""Check my outage: account number and the last 4 digits of the phone on file -> the supply's state.

No login. A wrong pair and an unknown account read the same; every attempt counts against the
session's and the address's hourly limit.
"""

from __future__ import annotations

import streamlit as st

from dashboard import public_forms, services
from dashboard.i18n import local_time, t
from emergency.app.bus import execute
from emergency.app.commands.public import CheckMyOutage
from emergency.core.actor import PUBLIC
from emergency.core.errors import InvalidInput
from emergency.core.ratelimit import RateLimited
from emergency.public.lookup import LookupAnswer, SupplyStatus

ctx = services.context(PUBLIC)
tz = ctx.tz

st.title(t("check.title"))
st.caption(t("check.intro"))

with st.form("check-outage", clear_on_submit=False):
    account = st.text_input(t("form.field.account_no"), max_chars=32, key="check_account")
    last4 = st.text_input(t("form.field.phone_last4"), max_chars=4, key="check_last4")
    submitted = st.form_submit_button(t("check.submit"), type="primary")


def show(status: SupplyStatus) -> None:
    if status.status == "no_outage":
        st.success(t("check.no_outage"))
        return
    if status.status == "restored":
        st.success(t("check.restored", at=local_time(status.restored_at, tz)))
        return
    st.warning(t("check.out", status=t(f"status.{status.status}"), since=local_time(status.since, tz)))
    if status.reference is not None:
        st.caption(t("service.check.reference", reference=status.reference))
    if status.out_since is not None and status.out_since != status.since:
        # The status began later than the outage (a crew arrived): say when the supply went off too.
        st.caption(t("check.out_since", at=local_time(status.out_since, tz)))
    if status.etr_at is not None:
        st.info(
            t(
                "check.etr",
                at=local_time(status.etr_at, tz),
                confidence=t(f"confidence.{status.etr_confidence or 'low'}"),
                set_at=local_time(status.etr_set_at, tz),
            )
        )
    elif status.etr_reassessing:
        st.info(t("check.etr_reassessing"))
    else:
        st.info(t("check.etr_none"))


if submitted:
    try:
        answer: LookupAnswer = execute(ctx, CheckMyOutage(public_forms.requester(), account, last4))
    except InvalidInput as error:
        public_forms.field_error(error.field, error.reason)
    except RateLimited as error:
        public_forms.rate_limited(error)
    else:
        if answer.status is None:
            st.error(t("check.no_match"))
        else:
            show(answer.status)
