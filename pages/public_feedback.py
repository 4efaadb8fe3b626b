"""Feedback and complaints: a suggestion, complaint, praise or question, answered with a reference.

No login. Submitting starts the service standard's clocks; the receipt says by when to expect an
answer, from the same targets the SLA monitor watches.
"""

from __future__ import annotations

import streamlit as st

from dashboard import public_forms, services
from dashboard.choices import choice_key
from dashboard.i18n import current_language, local_time, t
from emergency.app.bus import execute
from emergency.app.commands.public import SubmitFeedback
from emergency.app.queries import public as queries
from emergency.core.actor import PUBLIC
from emergency.core.errors import InvalidInput
from emergency.core.models import FeedbackKind
from emergency.core.ratelimit import RateLimited
from emergency.public.feedback import FeedbackReceipt

ctx = services.context(PUBLIC)
tz = ctx.tz

st.title(t("feedback.title"))
st.caption(t("feedback.intro"))

with st.form("feedback", clear_on_submit=False):
    kind = st.radio(
        t("feedback.kind"),
        options=[k.value for k in FeedbackKind],
        format_func={k.value: t(f"feedback.kind.{k.value}") for k in FeedbackKind}.__getitem__,
        horizontal=True,
        key=choice_key("feedback_kind"),
    )
    # No max_chars on any field: see public_forms.limit_note (an over-long paste would be dropped
    # unseen); the service refuses what is too long, by field, and the text stays in the form.
    text = st.text_area(t("form.field.text"), key="feedback_text")
    public_forms.limit_note(queries.feedback_max_chars(ctx))
    account = st.text_input(t("feedback.account_optional"), key="feedback_account")
    col_name, col_contact = st.columns(2)
    contact_name = col_name.text_input(t("form.field.contact_name"), key="feedback_name")
    contact = col_contact.text_input(t("form.field.contact"), key="feedback_contact")
    submitted = st.form_submit_button(t("feedback.submit"), type="primary")

LAST_KEY = (
    "feedback_last"  # (what was sent, its receipt): a second click on the same text is not a second item
)


def show(receipt: FeedbackReceipt) -> None:
    st.success(t("feedback.received", reference=receipt.reference))
    zh = current_language() == "zh"
    for clock in receipt.clocks:
        st.caption(
            t(
                "feedback.deadline",
                name=clock.name_zh if zh else clock.name_en,
                at=local_time(clock.deadline, tz),
            )
        )


if submitted:
    sent = (kind, text.strip(), account.strip(), contact_name.strip(), contact.strip())
    last = st.session_state.get(LAST_KEY)
    if last is not None and last[0] == sent:
        show(last[1])
        st.stop()
    try:
        receipt: FeedbackReceipt = execute(
            ctx,
            SubmitFeedback(
                kind,
                text,
                account_no=account,
                contact_name=contact_name,
                contact=contact,
                requester=public_forms.requester(),
            ),
        )
    except InvalidInput as error:
        public_forms.field_error(error.field, error.reason)
    except RateLimited as error:
        public_forms.rate_limited(error)
    else:
        st.session_state[LAST_KEY] = (sent, receipt)
        show(receipt)
