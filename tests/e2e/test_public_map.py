"""The public page in a real browser: the map draws with no internet, and staff pages stay shut."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

pytestmark = pytest.mark.browser
RENDER_TIMEOUT_MS = 60_000


def map_frame(page: Page):
    """The st_folium component's iframe (the map is a custom component in its own frame)."""
    return page.frame_locator("iframe[title='streamlit_folium.st_folium']")


def test_public_page_draws_the_map_offline(app_server: str, page: Page, external_requests: list[str]) -> None:
    page.goto(app_server, wait_until="domcontentloaded")
    expect(page.get_by_role("heading", name="Power status")).to_be_visible(timeout=RENDER_TIMEOUT_MS)

    frame = map_frame(page)
    expect(frame.locator(".leaflet-container")).to_be_visible(timeout=RENDER_TIMEOUT_MS)
    # Districts and outage areas are SVG paths drawn by Leaflet from our own /vendor copy.
    paths = frame.locator("path.leaflet-interactive")
    expect(paths.first).to_be_attached(timeout=RENDER_TIMEOUT_MS)
    assert paths.count() >= 10, "expected every district of the demo territory on the map"

    expect(page.get_by_text("Customers without power", exact=True)).to_be_visible()
    assert external_requests == []


def test_anonymous_visitor_typing_a_staff_url_gets_the_public_page(
    app_server: str, page: Page, external_requests: list[str]
) -> None:
    page.goto(f"{app_server}/dispatch", wait_until="domcontentloaded")
    expect(page.get_by_role("heading", name="Power status")).to_be_visible(timeout=RENDER_TIMEOUT_MS)
    expect(page.get_by_role("heading", name="Dispatcher console")).to_have_count(0)
    expect(page.get_by_role("link", name="Dispatcher console")).to_have_count(0)
    assert external_requests == []
