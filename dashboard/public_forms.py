"""What the public forms share: who is asking (for the rate limit) and refusals in the reader's words."""

from __future__ import annotations

import math
import re
import secrets

import streamlit as st

from dashboard import services
from dashboard.i18n import STRINGS, t
from dashboard.markdown_text import plain
from emergency.app.queries.public import trusted_proxies
from emergency.core.actor import PUBLIC
from emergency.core.ratelimit import RateLimited, Requester, client_address

SESSION_KEY = "public_form_session"
# How the domain words a text over its limit ("longer than 2000 characters (20000)"): the reader is
# told both numbers in their language, so they know how much to cut.
TOO_LONG = re.compile(r"longer than (\d+) characters \((\d+)\)")
# Intake's reasons are English sentences for machines and staff; the common ones a member of the
# public can meet are given in the page's language, the rest shown as intake wrote them.
REASONS = {
    "unknown account number": "form.reason.unknown_account",
    "is outside the territory": "form.reason.outside",
    "no service transformer within": "form.reason.no_transformer",
    "longer than": "form.reason.too_long",
    "contains control characters": "form.reason.control",
    "is not valid Unicode text": "form.reason.control",
    "required": "form.reason.required",
    "give an account number or a location": "form.reason.account_or_location",
    "give both lon and lat": "form.reason.both_coordinates",
    "must be a number from": "form.reason.coordinates",
    "a phone number or an e-mail address": "form.reason.contact",
    "letters, digits or '-'": "form.reason.account_shape",
    "exactly 4 digits": "form.reason.last4",
}


def requester() -> Requester:
    """This browser session (a random key kept in its state) and its client address."""
    if SESSION_KEY not in st.session_state:
        st.session_state[SESSION_KEY] = secrets.token_urlsafe(18)
    forwarded = st.context.headers.get("X-Forwarded-For")
    address = client_address(st.context.ip_address, forwarded, trusted_proxies(services.context(PUBLIC)))
    return Requester(session=st.session_state[SESSION_KEY], address=address)


def reason_text(reason: str) -> str:
    if (too_long := TOO_LONG.search(reason)) is not None:
        limit, length = (int(n) for n in too_long.groups())
        return t("form.reason.too_long_by", limit=f"{limit:,}", length=f"{length:,}")
    for start, key in REASONS.items():
        if start in reason:
            return t(key)
    return plain(reason)


def field_error(field: str | None, reason: str) -> None:
    # Intake names "lon" for any location problem; the reader chose a place, not a longitude.
    field = "location" if field in ("lon", "lat") else field
    label = t(f"form.field.{field}") if f"form.field.{field}" in STRINGS else ""
    st.error(t("form.field_error", field=label, reason=reason_text(reason)) if label else reason_text(reason))


def rate_limited(error: RateLimited) -> None:
    st.error(t("form.rate_limited", minutes=max(math.ceil(error.retry_after.total_seconds() / 60), 1)))


def limit_note(limit: int) -> None:
    """The longest text a field takes, shown under it while the reader types.

    Not Streamlit's `max_chars`: its browser side ignores a paste that would go past the limit,
    so a long text pasted in is lost whole without a word, and its server side cuts what a client
    sends to the limit. Without it the whole text reaches the service, which refuses it with both
    lengths, and the text stays in the box to be shortened.
    """
    st.caption(t("form.limit", limit=f"{limit:,}"))
