"""Log out: end the session (in the database, recorded in the audit trail) and go back to the public
page; the next run sends the browser to the route that drops its session cookie."""

from __future__ import annotations

import streamlit as st

from dashboard.session import log_out

log_out()
st.rerun()
