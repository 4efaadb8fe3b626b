"""Log out: forget the session's user and go back to the public page."""

from __future__ import annotations

import streamlit as st

from dashboard.session import sign_out

sign_out()
st.rerun()
