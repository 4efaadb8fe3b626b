"""Log out: end the session (recorded in the audit trail) and go back to the public page."""

from __future__ import annotations

import streamlit as st

from dashboard.session import log_out

log_out()
st.rerun()
