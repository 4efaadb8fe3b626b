"""The public side in a real browser: the page and its map, the feeds, and the static site, all offline."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.e2e.conftest import INIT_SECONDS, ROOT, STARTUP_SECONDS, free_port, stop
from tests.support.browser import map_frame

pytestmark = pytest.mark.browser
RENDER_TIMEOUT_MS = 60_000


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


def test_anonymous_visitor_typing_a_staff_url_gets_the_login_form_and_nothing_of_the_page(
    app_server: str, page: Page, external_requests: list[str]
) -> None:
    page.goto(f"{app_server}/dispatch", wait_until="domcontentloaded")
    expect(page.get_by_role("heading", name="Staff login")).to_be_visible(timeout=RENDER_TIMEOUT_MS)
    expect(page.get_by_text("Page not found")).to_have_count(0)
    expect(page.get_by_role("heading", name="Dispatcher console")).to_have_count(0)
    expect(page.get_by_role("link", name="Dispatcher console")).to_have_count(0)
    assert external_requests == []


def test_public_feeds_answer_from_the_running_server(app_server: str) -> None:
    summary = httpx.get(f"{app_server}/api/public/summary.json", timeout=30)
    areas = httpx.get(f"{app_server}/api/public/outages.geojson", timeout=30)

    assert summary.status_code == areas.status_code == 200
    assert summary.headers["cache-control"].startswith("public, max-age=")
    assert areas.headers["content-type"] == "application/geo+json"
    assert summary.json()["outages"] > 0 and areas.json()["type"] == "FeatureCollection"


def test_an_outage_area_popup_says_status_and_restoration_time(
    app_server: str, page: Page, external_requests: list[str]
) -> None:
    page.goto(app_server, wait_until="domcontentloaded")
    frame = map_frame(page)
    expect(frame.locator(".leaflet-container")).to_be_visible(timeout=RENDER_TIMEOUT_MS)
    # Outage areas are the paths with a dark edge (districts have a grey one).
    areas = frame.locator('path.leaflet-interactive[stroke="#4a0010"]')
    expect(areas.first).to_be_attached(timeout=RENDER_TIMEOUT_MS)
    areas.first.dispatch_event("click")

    popup = frame.locator(".leaflet-popup-content")
    expect(popup).to_contain_text("Status:", timeout=RENDER_TIMEOUT_MS)
    expect(popup).to_contain_text("Customers out:")
    expect(popup).to_contain_text("Estimated restoration:")
    assert external_requests == []


@pytest.fixture(scope="module")
def static_site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`publish --out` on a small demo database, served by Python's plain static file server."""
    workdir = tmp_path_factory.mktemp("static-site")
    env = {**os.environ, "OUTAGE_DB_URL": f"sqlite:///{workdir / 'demo.db'}"}
    for command in (["init", "--demo", "--customers", "3000", "--seed", "7"], ["publish", "--out", "site"]):
        done = subprocess.run(
            [sys.executable, "-m", "emergency", *command],
            cwd=workdir,
            env={**env, "PYTHONPATH": str(ROOT)},
            capture_output=True,
            text=True,
            timeout=INIT_SECONDS,
            check=False,
        )
        assert done.returncode == 0, done.stdout + done.stderr
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1", "--directory", "site"],
        cwd=workdir,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base_url = f"http://127.0.0.1:{port}/"
    try:
        deadline = time.monotonic() + STARTUP_SECONDS
        while time.monotonic() < deadline:
            try:
                if httpx.get(base_url, timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        yield base_url
    finally:
        stop(server)


def test_the_static_site_draws_the_map_offline_in_both_languages(
    static_site: str, page: Page, external_requests: list[str]
) -> None:
    page.goto(static_site, wait_until="domcontentloaded")
    expect(page.locator(".leaflet-container")).to_be_visible(timeout=RENDER_TIMEOUT_MS)
    paths = page.locator("path.leaflet-interactive")
    expect(paths.first).to_be_attached(timeout=RENDER_TIMEOUT_MS)
    assert paths.count() >= 10, "expected every district of the demo territory on the map"
    expect(page.locator(".metric").first).to_contain_text("Customers without power")
    expect(page.locator("#districts tbody tr")).to_have_count(12)

    page.get_by_role("button", name="简体中文").click()
    expect(page.locator(".metric").first).to_contain_text("停电用户")
    expect(page.locator("h1")).to_have_text("供电状态")
    assert external_requests == []
