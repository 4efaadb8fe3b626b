"""Every kind of element our pages colour through the theme, on one page, for axe-core to check.

Not a test: tests/e2e/test_accessibility.py serves it with a copy of dashboard/.streamlit/config.toml,
so the status boxes (error, warning, success, info), buttons, metrics, progress bars, captions and
links are all checked against the theme, whatever state the real pages happen to be in.
"""

import pandas as pd
import streamlit as st

st.title("Theme swatch")
st.caption("A caption, as under every page title")
st.error("An error box: a refused action")
st.warning("A warning box: the DEMO banner, a clock at risk")
st.success("A success box: an action done")
st.info("An info box: the demo territory note")
st.button("Primary action", type="primary")
st.button("Secondary action")
st.metric("Customers without power", "1,455", delta="12", delta_color="off")
st.metric("Restored", "300", delta=30)
st.metric("Out", "300", delta=-30)
st.dataframe(
    pd.DataFrame({"District": ["Baisha Town", "Beitang Town"], "With power": [0.25, 1.0]}),
    column_config={"With power": st.column_config.ProgressColumn("With power", min_value=0, max_value=1)},
    hide_index=True,
)
st.markdown("A [link](#top) in running text.")
st.sidebar.segmented_control("Language", ["English", "简体中文"], default="English")
st.radio("Location", ["By account", "By place"], horizontal=True)
st.checkbox("Only breached clocks")
st.text_input("Account number", placeholder="8 digits")
