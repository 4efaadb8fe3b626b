"""Who is using this browser session, and the guard every staff page starts with."""

from __future__ import annotations

import streamlit as st

from dashboard.i18n import t
from emergency.auth import Actor
from emergency.models import Role

ACTOR_KEY = "actor"
STAFF_ROLES = (Role.DISPATCHER, Role.MANAGER, Role.ADMIN)
CONTROL_ROOM_ROLES = (Role.DISPATCHER, Role.MANAGER)


def current_actor() -> Actor | None:
    return st.session_state.get(ACTOR_KEY)


def sign_in(actor: Actor) -> None:
    st.session_state[ACTOR_KEY] = actor


def sign_out() -> None:
    st.session_state.pop(ACTOR_KEY, None)


def require_role(*roles: Role) -> Actor:
    """Stop the page unless the session's user has one of these roles.

    Navigation already hides staff pages from the public; this guard is the second lock, for a
    page reached some other way.
    """
    actor = current_actor()
    if actor is None or actor.role not in {str(r) for r in roles}:
        st.error(t("denied"))
        st.stop()
    return actor
