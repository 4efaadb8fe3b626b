"""Staff accounts (administrators): list, add, disable, enable again, reset a password."""

from __future__ import annotations

import streamlit as st

from dashboard import services
from dashboard.choices import choice_key
from dashboard.i18n import local_time, t
from dashboard.session import require_role
from emergency.app.bus import execute
from emergency.app.commands.admin import EnableUser
from emergency.app.queries import crew_field as crew_queries
from emergency.core.errors import EmergencyError
from emergency.core.models import Role

admin = require_role(Role.ADMIN)
st.title(t("users.title"))

users = services.list_users(admin)
st.dataframe(
    [
        {
            t("login.username"): u.username,
            t("users.name"): u.display_name,
            t("login.role"): t(f"role.{u.role}"),
            t("users.active"): u.active,
            t("users.locked_until"): local_time(u.locked_until),
            t("users.last_login"): local_time(u.last_login_at),
            t("users.sessions"): u.open_sessions,
        }
        for u in users
    ],
    hide_index=True,
    width="stretch",
)

add, manage = st.columns(2)
with add, st.form("add-user", clear_on_submit=True):
    st.subheader(t("users.add"))
    username = st.text_input(t("login.username"), max_chars=32, key="add-user-username")
    name = st.text_input(t("users.name"), max_chars=120, key="add-user-name")
    # Labels fixed at this run: a format function is also called between runs, in no language.
    role_names = {r.value: t(f"role.{r.value}") for r in Role}
    role = st.selectbox(
        t("login.role"), list(role_names), format_func=role_names.__getitem__, key=choice_key("add-user-role")
    )
    # A crew leader's account names its crew (by id); the other roles leave this empty.
    crew_names = {c.crew_id: c.label for c in crew_queries.crew_choices(services.context(admin))}
    crew_id = st.selectbox(
        t("crewpage.users.crew"),
        [None, *crew_names],
        format_func=lambda c: "—" if c is None else crew_names[c],
        help=t("crewpage.users.crew_help"),
        placeholder="—",  # a keyed box shows its None choice as the placeholder
        key=choice_key("add-user-crew"),
    )
    password = st.text_input(
        t("login.password"),
        type="password",
        max_chars=256,
        help=t("users.password_rule"),
        key="add-user-password",
    )
    if st.form_submit_button(t("users.add"), type="primary"):
        try:
            services.add_user(admin, username, password, role, name or None, crew_id)
        except EmergencyError as error:
            st.error(str(error))
        else:
            st.success(t("users.added", user=username.strip().lower()))

with manage, st.form("manage-user"):
    st.subheader(t("users.manage"))
    target = st.selectbox(
        t("login.username"), [u.username for u in users], key=choice_key("manage-user-target")
    )
    new_password = st.text_input(
        t("users.new_password"),
        type="password",
        max_chars=256,
        help=t("users.password_rule"),
        key="manage-user-new-password",
    )
    confirm = st.checkbox(t("users.confirm"), key="manage-user-confirm")
    reset_clicked, disable_clicked, enable_clicked = st.columns(3)
    reset = reset_clicked.form_submit_button(t("users.reset"))
    disable = disable_clicked.form_submit_button(t("users.disable"))
    enable = enable_clicked.form_submit_button(t("users.enable"))
    if (reset or disable or enable) and not confirm:
        st.warning(t("users.confirm_first"))
    elif reset or disable or enable:
        try:
            if reset:
                services.reset_password(admin, target, new_password)
                st.success(t("users.reset_done", user=target))
            elif disable:
                # Also ends every session the account has open, in every browser.
                services.disable_user(admin, target)
                st.success(t("users.disabled", user=target))
            else:
                execute(services.context(admin), EnableUser(target))
                st.success(t("users.enabled", user=target))
        except EmergencyError as error:
            st.error(str(error))
