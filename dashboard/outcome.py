"""An action's outcome, said on the run after it: a service call, then a rerun that redraws the page.

A page that changes something reruns at once so its lists show the new state; the success or the
refusal is kept in the session under the page's own key and shown at the top of the next run.
Refusals quote the service's message, escaped, because it may repeat what someone typed.
"""

from __future__ import annotations

from collections.abc import Callable

import streamlit as st

from dashboard.i18n import t
from dashboard.markdown_text import plain
from emergency.core.errors import EmergencyError


def attempt(key: str, action: Callable[[], object], success: str) -> None:
    """Run a service call, keep what came of it under `key`, and rerun the page."""
    try:
        action()
    except EmergencyError as error:
        st.session_state[key] = ("error", t("action.refused", reason=plain(error)))
    else:
        st.session_state[key] = ("ok", success)
    st.rerun()


def show_outcome(key: str) -> None:
    """Say once what the previous run's action came to."""
    outcome = st.session_state.pop(key, None)
    if outcome is not None:
        (st.success if outcome[0] == "ok" else st.error)(outcome[1])
