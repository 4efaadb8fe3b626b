"""Colours people read text on pass WCAG AA (4.5:1): the theme, and the warning banners in their
signal colours on the public page and on the published static site.

axe-core in Chromium (tests/e2e/test_accessibility.py) checks the pages as drawn, but only with
the warnings in force at that moment; here every signal level is checked.
"""

from __future__ import annotations

import re
import tomllib
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from dashboard.i18n import STRINGS
from dashboard.public_map import warning_banner
from emergency.core.models import WarningLevel
from emergency.public.snapshot import WARNING_COLOURS, PublicWarning
from tests.support.wcag import AA_TEXT, contrast

ROOT = Path(__file__).resolve().parents[2]
STREAMLIT_CONFIG = ROOT / "dashboard" / ".streamlit" / "config.toml"
STATIC_SITE = ROOT / "emergency" / "public" / "public_site.html"
WHITE = "#ffffff"
AT = datetime(2026, 7, 1, 2, 0, tzinfo=UTC)


def english(key: str, **values: object) -> str:
    return STRINGS[key][0].format(**values)


def banner_colours(level: WarningLevel) -> tuple[str, str]:
    """(background, text) of the public page's banner for a warning at `level`."""
    warning = PublicWarning(
        level=str(level),
        colour=WARNING_COLOURS[level],
        hazard="typhoon",
        title_en="Title",
        title_zh="标题",
        text_en="Text",
        text_zh="正文",
        districts=[],
        effective_at=AT,
        expires_at=AT + timedelta(hours=6),
    )
    html = warning_banner(warning, None, "en", english, ZoneInfo("Asia/Shanghai"))
    style = re.search(r'style="background:(#[0-9a-fA-F]{6});color:(#[0-9a-fA-F]{6})', html)
    assert style is not None, html
    return style.group(1), style.group(2)


@pytest.mark.parametrize("level", list(WarningLevel))
def test_the_public_pages_warning_banner_is_readable(level: WarningLevel) -> None:
    background, text = banner_colours(level)

    assert contrast(background, text) >= AA_TEXT, (level, background, text)


def static_site_text_colour(css: str, level: str) -> str:
    """The text colour the static site's CSS gives `.banner.<level>`: an override, else `.banner`'s."""
    for selectors, body in re.findall(r"([^{}]+)\{([^}]*)\}", css):
        names = {selector.strip() for selector in selectors.split(",")}
        colour = re.search(r"(?<![-\w])color:\s*(#[0-9a-fA-F]{3,6})", body)
        if f".banner.{level}" in names and colour:
            return colour.group(1)
    for selectors, body in re.findall(r"([^{}]+)\{([^}]*)\}", css):
        colour = re.search(r"(?<![-\w])color:\s*(#[0-9a-fA-F]{3,6})", body)
        if ".banner" in {selector.strip() for selector in selectors.split(",")} and colour:
            return colour.group(1)
    raise AssertionError("the static site has no text colour for .banner")


@pytest.mark.parametrize("level", list(WarningLevel))
def test_the_static_sites_warning_banner_is_readable(level: WarningLevel) -> None:
    css = STATIC_SITE.read_text(encoding="utf-8").split("<style>", 1)[1].split("</style>", 1)[0]
    text = static_site_text_colour(css, str(level))

    assert contrast(WARNING_COLOURS[level], text) >= AA_TEXT, (level, WARNING_COLOURS[level], text)


def test_the_themes_primary_colour_reads_with_white_and_on_white() -> None:
    """Primary buttons put white text on it; selected controls and links put it on white."""
    theme = tomllib.loads(STREAMLIT_CONFIG.read_text(encoding="utf-8"))["theme"]
    primary = theme["primaryColor"]

    assert contrast(primary, WHITE) >= AA_TEXT, primary
    assert contrast(theme["textColor"], WHITE) >= 7, theme["textColor"]  # body text, AAA
