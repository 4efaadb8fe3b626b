"""The server process: health check, Leaflet served from our own /vendor route, the app in Chromium."""

from __future__ import annotations

from typing import TYPE_CHECKING

import httpx
import pytest

if TYPE_CHECKING:
    from playwright.sync_api import Page

pytestmark = pytest.mark.browser

JAVASCRIPT_TYPES = ("text/javascript", "application/javascript")


def media_type(response: httpx.Response) -> str:
    return response.headers.get("content-type", "").split(";")[0].strip().lower()


def test_healthz_answers_ok_with_json(app_server: str) -> None:
    response = httpx.get(f"{app_server}/healthz", timeout=10)

    assert response.status_code == 200
    assert media_type(response) == "application/json"
    assert response.json()["status"] == "ok"


def test_leaflet_script_is_served_as_javascript(app_server: str) -> None:
    response = httpx.get(f"{app_server}/vendor/leaflet/leaflet.js", timeout=10)

    assert response.status_code == 200
    # Browsers refuse to run a script sent as text/plain, which is what Streamlit's static folder does.
    assert media_type(response) in JAVASCRIPT_TYPES
    assert "Leaflet" in response.text[:2000]


def test_leaflet_stylesheet_is_served_as_css(app_server: str) -> None:
    response = httpx.get(f"{app_server}/vendor/leaflet/leaflet.css", timeout=10)

    assert response.status_code == 200
    assert media_type(response) == "text/css"
    assert ".leaflet-container" in response.text


def test_vendor_route_serves_only_what_exists(app_server: str) -> None:
    response = httpx.get(f"{app_server}/vendor/leaflet/no-such-file.js", timeout=10)

    assert response.status_code == 404


def test_the_app_opens_in_chromium_without_leaving_the_machine(
    app_server: str, page: Page, external_requests: list[str]
) -> None:
    leaflet = f"{app_server}/vendor/leaflet/leaflet.js"
    # The public page's map is a component frame that asks for Leaflet once the script has run.
    with page.expect_request(leaflet, timeout=60_000):
        page.goto(app_server, wait_until="domcontentloaded")
    page.frame_locator("iframe").first.locator(".leaflet-container").wait_for(state="visible", timeout=30_000)
    page.locator('[data-testid="stApp"][data-test-script-state="notRunning"]').wait_for(timeout=30_000)
    page.wait_for_load_state("networkidle", timeout=30_000)

    assert page.get_by_test_id("stException").count() == 0
    assert external_requests == []
