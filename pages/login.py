"""Staff login. The same message for every refusal; demo accounts are listed only in a demo database.

A successful login opens a staff session in the database; the next run of the app sends the
browser to a server route that sets the session cookie (dashboard/auth_routes.py), so a reload or
a bookmark keeps the user signed in.
"""

from __future__ import annotations

import streamlit as st

from dashboard import services
from dashboard.i18n import t
from dashboard.session import WANTED_KEY, current_actor, sign_in
from emergency.app.bus import execute
from emergency.app.commands.admin import SignIn
from emergency.core.actor import PUBLIC
from emergency.core.errors import AuthenticationFailed

st.title(t("login.title"))

actor = current_actor()
if actor is not None:
    st.info(t("login.already", user=actor.username))
    st.stop()

if st.session_state.get(WANTED_KEY):
    # A staff page's address opened signed out (a bookmark, a reload after the session ended).
    st.info(t("login.to_open"))

with st.form("login", clear_on_submit=False):
    username = st.text_input(t("login.username"), max_chars=64, autocomplete="username", key="login-username")
    password = st.text_input(
        t("login.password"),
        type="password",
        max_chars=256,
        autocomplete="current-password",
        key="login-password",
    )
    submitted = st.form_submit_button(t("login.submit"), type="primary")

if submitted:
    if not username.strip() or not password:
        st.warning(t("login.missing"))
    else:
        try:
            # The session lives in the database; the next run sends the browser for its cookie.
            user_agent = st.context.headers.get("User-Agent")
            sign_in(execute(services.context(PUBLIC), SignIn(username, password, user_agent)))
        except AuthenticationFailed:
            st.error(t("login.failed"))
        else:
            st.rerun()

if services.is_demo(services.database().url):
    from emergency.demo.territory import DEMO_ACCOUNTS

    st.subheader(t("login.demo_accounts"))
    st.caption(t("login.demo_note"))
    st.table(
        [
            {t("login.username"): user, t("login.role"): t(f"role.{role}"), t("login.password"): pw}
            for user, role, pw in DEMO_ACCOUNTS
        ]
    )
