"""Every word on the pages in English and Simplified Chinese, and the language switch.

The words are data, one file per language in `data/i18n/` (the same keys in both), read once when
the module is first imported.
"""

from __future__ import annotations

import re
import tomllib
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import streamlit as st

from dashboard.choices import carry_choices, new_run
from emergency.core.config import REPO_ROOT, load_settings
from emergency.core.vocabulary import Hazard, hazard_in_text, hazard_name

LANGUAGE_KEY = "lang"
# An ISO 8601 date and time ("2026-12-05T06:30:00+00:00"), as the audit trail stores moments.
ISO_MOMENT = re.compile(r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}")
LANGUAGE_LABELS = {"en": "English", "zh": "简体中文"}

CATALOGUE_DIR = REPO_ROOT / "data" / "i18n"


def load_catalogue(directory: Path = CATALOGUE_DIR) -> dict[str, tuple[str, str]]:
    """Every key's (English, Chinese) text: the catalogue files, and the hazard names from the vocabulary
    (`hazard.*` as a label, `public.hazard.*` inside the public page's sentences)."""
    english, chinese = (
        tomllib.loads((directory / f"{language}.toml").read_text("utf-8")) for language in ("en", "zh")
    )
    strings = {key: (text, chinese[key]) for key, text in english.items()}
    for hazard in Hazard:
        strings[f"hazard.{hazard}"] = (hazard_name(hazard, "en"), hazard_name(hazard, "zh"))
        strings[f"public.hazard.{hazard}"] = (hazard_in_text(hazard, "en"), hazard_in_text(hazard, "zh"))
    return strings


STRINGS = load_catalogue()


def current_language() -> str:
    language = st.session_state.get(LANGUAGE_KEY)
    if language not in LANGUAGE_LABELS:
        # First visit, or the selected option was clicked again (which deselects it).
        language = load_settings().language
        st.session_state[LANGUAGE_KEY] = language
    return language


def t(key: str, **values: object) -> str:
    """The text for `key` in the current language; unknown keys show as the key, never crash."""
    pair = STRINGS.get(key)
    text = key if pair is None else pair[1 if current_language() == "zh" else 0]
    return text.format(**values) if values else text


def language_switch() -> None:
    """The switch shown on every page; keeps its own session-state key."""
    current_language()
    new_run()  # drawn first on every run, before any choice
    st.sidebar.segmented_control(
        t("lang.label"),
        options=list(LANGUAGE_LABELS),
        format_func=LANGUAGE_LABELS.__getitem__,
        key=LANGUAGE_KEY,
        selection_mode="single",
        on_change=carry_choices,
    )


def in_language(english: str, chinese: str | None) -> str:
    """A text kept in both languages (a warning's title): the reader's, or the English one when
    no Chinese was written."""
    return chinese if current_language() == "zh" and chinese else english


def choose_placeholder() -> str:
    """For a multiselect or an empty selectbox: without one Streamlit writes "Choose options"."""
    return t("select.placeholder")


# Chart date axes in numbers and the reader's words: Vega-Lite's own labels are English month
# names ("December"), whatever the page's language. Keys are the time units Vega picks per tick.
TIME_AXIS_FORMATS = {
    "en": {
        "year": "%Y",
        "quarter": "%Y-%m",
        "month": "%Y-%m",
        "week": "%m-%d",
        "date": "%m-%d",
        "hours": "%H:%M",
        "minutes": "%H:%M",
        "seconds": "%H:%M:%S",
        "milliseconds": "%H:%M:%S",
    },
    "zh": {
        "year": "%Y年",
        "quarter": "%Y年%m月",
        "month": "%Y年%m月",
        "week": "%m月%d日",
        "date": "%m月%d日",
        "hours": "%H:%M",
        "minutes": "%H:%M",
        "seconds": "%H:%M:%S",
        "milliseconds": "%H:%M:%S",
    },
}


def time_axis_format() -> dict[str, str]:
    """A Vega time multi-format for the current language (the `format` of a temporal axis)."""
    return TIME_AXIS_FORMATS[current_language()]


def shown_value(value: object, tz: ZoneInfo | None = None) -> str:
    """A stored value as a person reads it: a moment (stored as ISO 8601 in UTC) in local time,
    nothing as "—", anything else as it is."""
    if isinstance(value, str) and ISO_MOMENT.match(value):
        try:
            when = datetime.fromisoformat(value)
        except ValueError:
            return value
        if when.tzinfo is not None:
            return local_time(when, tz, "%Y-%m-%d %H:%M:%S")
    return "—" if value is None else str(value)


def local_time(when: datetime | None, tz: ZoneInfo | None = None, fmt: str = "%Y-%m-%d %H:%M") -> str:
    if when is None:
        return "—"
    return when.astimezone(tz or load_settings().timezone).strftime(fmt)
