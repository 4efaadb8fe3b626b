"""Streamlit-facing code: the server process, the page router, maps, words and widgets."""
