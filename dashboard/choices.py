"""Choices that survive a language switch.

A select box, multiselect or radio keeps its choice in the browser as the label it showed
("level 2"). After a switch to Chinese the labels are "二级", so on the next click the browser
sends back a label no option has, and Streamlit silently puts the widget back to its default: a
dispatcher's filter, a manager's chosen warning level were lost without a word (seen in Chromium).

Every choice widget takes its key from `choice_key`, which remembers it for this browser session.
The language switch then sets each remembered choice that is on the page to the value it already
holds (`carry_choices`); a value set through session state is sent to the browser afresh, in the
new language's label, so the choice stays and shows in the new words.

A keyed select box whose value is None is drawn empty, with its placeholder: a box offering None
as a choice ("All", "no crew") gives that choice's label as its placeholder too.
"""

from __future__ import annotations

import streamlit as st

CHOICE_KEYS = "choice-keys"  # session-state key: the keys of the choice widgets this session drew


def choice_key(key: str) -> str:
    """The widget key for a choice (select box, multiselect, radio), remembered so a language
    switch carries the choice over; returns `key` unchanged."""
    known: set[str] = st.session_state.setdefault(CHOICE_KEYS, set())
    known.add(key)
    return key


def new_run() -> None:
    """Start this run's list of choices afresh. The switch's callback runs before the script and
    has used the last run's list; keys of outages long gone do not pile up over a shift."""
    st.session_state[CHOICE_KEYS] = set()


def carry_choices() -> None:
    """The language switch's callback: hand every choice on the page back to the browser, so it
    shows in the new language's label and is kept at the next click."""
    for key in st.session_state.get(CHOICE_KEYS, set()):
        # A fragment's run adds to the list without starting it afresh: only the widgets still
        # drawn are in session state, and a choice on a page the user left is not revived.
        if key in st.session_state:
            st.session_state[key] = st.session_state[key]
