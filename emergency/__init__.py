"""Outage Desk: the domain and services of a utility's outage emergency coordination.

Nothing in this package imports Streamlit; pages and the HTTP server call into it.
"""
