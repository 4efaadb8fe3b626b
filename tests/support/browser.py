"""Debian's Chromium driven by Playwright, for every test folder that needs a real browser.

Registered once in tests/conftest.py: the browser is session-scoped, and Playwright's sync API
refuses to start a second instance while the first one is open, so the browser tests and the
hostile-rendering tests must share this one. Pages record every request that would leave the
machine (and stop it), because control rooms run on isolated networks and so do our tests.

Without Chromium or Playwright these tests skip on a developer's machine and fail in CI (CI=true).
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import pytest

if TYPE_CHECKING:
    from playwright.sync_api import Browser, FrameLocator, Page, Route

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
LOCAL_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def missing(reason: str) -> None:
    """Skip where a developer may lack the tool; in CI a missing tool is a broken pipeline."""
    if IN_CI:
        pytest.fail(f"{reason} (CI must run the browser tests)")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    """Debian's Chromium, headless; Playwright's own browser downloads are never used."""
    if importlib.util.find_spec("playwright") is None:
        missing("playwright is not installed")
    if not CHROMIUM.exists():
        missing(f"{CHROMIUM} is missing: apt-get install chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def external_requests() -> list[str]:
    """URLs the page tried to fetch from anywhere but this machine; the `page` fixture fills it."""
    return []


def is_external(url: str) -> bool:
    parts = urlsplit(url)
    return parts.scheme in ("http", "https", "ws", "wss") and (parts.hostname or "") not in LOCAL_HOSTS


ACTION_TIMEOUT_MS = 60_000


@pytest.fixture
def page(browser: Browser, external_requests: list[str]) -> Iterator[Page]:
    """A fresh browser context and page that records and refuses every request leaving the machine."""
    context = browser.new_context(
        locale="en-US", timezone_id="Asia/Shanghai", viewport={"width": 1400, "height": 900}
    )

    def refuse(route: Route) -> None:
        external_requests.append(route.request.url)
        route.abort("blockedbyclient")

    # Refused rather than let through, so a test never waits on a network that is not there.
    context.route(lambda url: is_external(url), refuse)
    # A click waits for its element up to a minute, as the tests' expectations do: on a loaded CI
    # machine a rerun after an upload once took longer than Playwright's 30 s (the CAP import).
    context.set_default_timeout(ACTION_TIMEOUT_MS)
    new_page = context.new_page()
    new_page.on("websocket", lambda ws: external_requests.append(ws.url) if is_external(ws.url) else None)
    try:
        yield new_page
    finally:
        context.close()


# The st_folium component's iframe (a map is a custom component in its own frame).
MAP_FRAME = "iframe[title='streamlit_folium.st_folium']"


def map_frame(page: Page) -> FrameLocator:
    """The page's map frame: the newest one. While a live view redraws, Streamlit can keep the
    map it replaces in the page beside the new one (seen once on the console: two frames, the old
    one unsized), and a strict locator refuses two."""
    return page.locator(MAP_FRAME).last.content_frame
