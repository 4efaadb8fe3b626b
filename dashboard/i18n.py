"""Every word on the pages in English and Simplified Chinese, and the language switch.

The words are data, one file per language in `data/i18n/` (the same keys in both), read once when
the module is first imported.
"""

from __future__ import annotations

import tomllib
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import streamlit as st

from emergency.core.config import REPO_ROOT, load_settings
from emergency.core.vocabulary import Hazard, hazard_in_text, hazard_name

LANGUAGE_KEY = "lang"
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
    st.sidebar.segmented_control(
        t("lang.label"),
        options=list(LANGUAGE_LABELS),
        format_func=LANGUAGE_LABELS.__getitem__,
        key=LANGUAGE_KEY,
        selection_mode="single",
    )


def local_time(when: datetime | None, tz: ZoneInfo | None = None, fmt: str = "%Y-%m-%d %H:%M") -> str:
    if when is None:
        return "—"
    return when.astimezone(tz or load_settings().timezone).strftime(fmt)
