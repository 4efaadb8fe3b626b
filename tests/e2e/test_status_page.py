"""The light public status page (/status/) in Chromium against the real server: axe-core in both
languages with its areas table open, a phone's screen (390 x 844), the keyboard (skip link,
language switch), and its links to the interactive Check my outage page. Nothing from a CDN.

Without Chromium or axe-core this skips on a developer's machine and fails in CI (CI=true)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import pytest

from tests.e2e.test_accessibility import axe_script, blocking_violations, describe

if TYPE_CHECKING:
    from playwright.sync_api import Page
from tests.support.browser import ACTION_TIMEOUT_MS

pytestmark = pytest.mark.browser

__all__ = ["axe_script"]  # the fixture, shared with the accessibility test

TIMEOUT_MS = 60_000
HEADINGS = {"en": "Power status", "zh": "供电状态"}
PHONE = {"width": 390, "height": 844}


def open_status(page: Page, url: str) -> None:
    page.goto(url, wait_until="domcontentloaded")
    # Drawn once the snapshot files arrived: the totals and the map's layers.
    page.locator("#totals .metric").first.wait_for(timeout=TIMEOUT_MS)
    page.locator("#map .leaflet-interactive").first.wait_for(timeout=TIMEOUT_MS)


@pytest.mark.parametrize("language", HEADINGS)
def test_the_status_page_has_no_serious_violation(
    app_server: str, page: Page, external_requests: list[str], axe_script: Path, language: str
) -> None:
    open_status(page, f"{app_server}/status/{language}/")
    assert page.get_by_role("heading", level=1).inner_text() == HEADINGS[language]
    page.locator("#areas-box summary").click()  # the table alternative to the map, checked too
    page.locator("#areas tbody tr").first.wait_for(timeout=TIMEOUT_MS)

    found = blocking_violations(page, axe_script)

    assert not found, f"axe on /status/{language}/:\n{describe(found)}"
    assert external_requests == []


def test_the_areas_table_lists_every_area_on_the_map(app_server: str, page: Page) -> None:
    open_status(page, f"{app_server}/status/en/")
    areas = httpx.get(f"{app_server}/status/data/outages.geojson", timeout=30).json()["features"]
    assert areas, "the demo has outage areas to draw"

    page.get_by_text(f"Outage areas as a table ({len(areas)})").click()

    rows = page.locator("#areas tbody tr")
    rows.first.wait_for(timeout=TIMEOUT_MS)
    assert rows.count() == len(areas)
    assert page.locator("#map path.leaflet-interactive").count() >= len(areas)  # districts + areas


def test_on_a_phone_the_page_fits_and_its_links_lead_to_check_my_outage(
    app_server: str, browser, external_requests: list[str]
) -> None:
    context = browser.new_context(locale="zh-CN", timezone_id="Asia/Shanghai", viewport=PHONE)
    context.set_default_timeout(ACTION_TIMEOUT_MS)
    try:
        page = context.new_page()
        open_status(page, f"{app_server}/status/")  # Accept-Language zh-CN: the page in Chinese
        assert page.get_by_role("heading", level=1).inner_text() == HEADINGS["zh"]
        assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
        box = page.locator("#map").bounding_box()
        assert box is not None and box["width"] <= PHONE["width"] and box["height"] >= 300

        page.get_by_role("link", name="查询我的停电").click()

        page.wait_for_url(f"{app_server}/check", timeout=TIMEOUT_MS)
        page.get_by_role("heading", level=1).first.wait_for(timeout=TIMEOUT_MS)
    finally:
        context.close()
    assert external_requests == []


def test_the_keyboard_reaches_the_status_and_switches_the_language(app_server: str, page: Page) -> None:
    open_status(page, f"{app_server}/status/en/")

    page.keyboard.press("Tab")
    skip = page.get_by_role("link", name="Skip to the status")
    assert skip.evaluate("node => node === document.activeElement")
    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.id") == "main"

    chinese = page.get_by_role("button", name="简体中文")
    chinese.focus()
    page.keyboard.press("Enter")

    page.get_by_role("heading", level=1, name=HEADINGS["zh"]).wait_for(timeout=TIMEOUT_MS)
    assert chinese.get_attribute("aria-pressed") == "true"
    assert page.evaluate("document.documentElement.lang") == "zh-CN"
    assert page.url.endswith("/status/zh/")  # a reload keeps the language
