"""The page's map code run without a Streamlit server, as `python -m emergency bench` times it.

Streamlit's UI hooks live here so that the benchmarks in `bench/` need not touch them.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import streamlit_folium
from streamlit.logger import set_log_level


def quiet_bare_mode() -> None:
    """Without a server ("bare mode") Streamlit warns on every session-state read; the page's
    default language is all a benchmark needs, so the warnings are silenced."""
    set_log_level(logging.ERROR)


class SentToBrowser:
    """Stands in for streamlit-folium's component call, which needs a running Streamlit server:
    records what `st_folium` would send to the browser and answers as the component does before
    any click. Everything `st_folium` computes in Python still runs, so it is timed."""

    def __init__(self) -> None:
        self.payload_bytes = 0

    def __call__(self, **sent: Any) -> Any:
        self.payload_bytes = sum(
            len(str(sent[part]).encode("utf-8"))
            for part in ("script", "header", "html", "feature_group", "layer_control")
            if sent.get(part)
        )
        return sent["default"]


@contextmanager
def browser_stand_in() -> Iterator[SentToBrowser]:
    """While it lasts, `st_folium` records its payload instead of calling the browser component."""
    sent = SentToBrowser()
    component = streamlit_folium._component_func
    streamlit_folium._component_func = sent
    try:
        yield sent
    finally:
        streamlit_folium._component_func = component
