"""The crew page's position sharing script (dashboard/components/geolocation/share.js) in Chromium,
with the browser's geolocation emulated and our route answered by the test: fixes are posted as
JSON with the time they were taken and their accuracy, the status line says what happened, and
fixes taken without a connection wait on the phone and go, in order, once it is back."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from dashboard.crew_gps import WORDS, sharing_html
from dashboard.crew_positions_api import PATH
from dashboard.i18n import t
from tests.support.browser import ACTION_TIMEOUT_MS

ORIGIN = "http://localhost:8622"  # never contacted: every request is answered by the test


def config(share: bool = True) -> dict[str, Any]:
    return {
        "share": share,
        "crew": 7,
        "endpoint": PATH,
        "everySeconds": 0,
        "retrySeconds": 1,
        "batch": 1000,
        "maxQueued": 5000,
        "tz": "Asia/Shanghai",
        "locale": "en-GB",
        "words": {word: t(key) for word, key in WORDS.items()},
    }


@pytest.fixture
def phone(browser) -> Iterator[Any]:
    context = browser.new_context(
        geolocation={"latitude": 28.05, "longitude": 121.10, "accuracy": 12},
        permissions=["geolocation"],
        timezone_id="Asia/Shanghai",
        viewport={"width": 390, "height": 844},
    )
    context.set_default_timeout(ACTION_TIMEOUT_MS)
    try:
        yield context
    finally:
        context.close()


def open_page(context, answer) -> tuple[Any, list[list[dict[str, Any]]]]:
    """A page with the sharing script; `answer(route, items)` answers each POST of positions."""
    posted: list[list[dict[str, Any]]] = []
    html = f"<!doctype html><html><body>{sharing_html(config())}</body></html>"
    context.route(f"{ORIGIN}/crew", lambda route: route.fulfill(body=html, content_type="text/html"))

    def positions(route) -> None:
        request = route.request
        assert request.method == "POST"
        assert request.headers["content-type"] == "application/json"
        items = json.loads(request.post_data or "[]")
        posted.append(items)
        answer(route, items)

    context.route(f"{ORIGIN}{PATH}", positions)
    page = context.new_page()
    page.goto(f"{ORIGIN}/crew")
    return page, posted


def accepted(route, items) -> None:
    body = {"accepted": [{"index": i} for i in range(len(items))], "arrived": []}
    route.fulfill(status=201, body=json.dumps(body), content_type="application/json")


def test_the_phones_fixes_are_posted_with_their_time_and_accuracy(phone):
    page, posted = open_page(phone, accepted)
    page.wait_for_function("document.getElementById('crew-gps-status').textContent.includes('sent')")
    item = posted[0][0]
    assert (item["lon"], item["lat"], item["accuracy_m"]) == (121.10, 28.05, 12)
    assert item["at"].endswith("Z") and "crew" not in item, "the route fills in the leader's own crew"
    assert "(within 12 m)" in page.locator("#crew-gps-status").inner_text()


def test_fixes_taken_offline_wait_and_go_in_order_when_the_connection_is_back(phone):
    online = {"up": False}

    def flaky(route, items) -> None:
        if online["up"]:
            accepted(route, items)
        else:
            route.abort("internetdisconnected")

    page, posted = open_page(phone, flaky)
    page.wait_for_function("document.getElementById('crew-gps-status').textContent.includes('No connection')")
    phone.set_geolocation({"latitude": 28.06, "longitude": 121.11, "accuracy": 8})
    page.wait_for_function("Number(document.getElementById('crew-gps-status').dataset.waiting) >= 2")
    online["up"] = True
    page.wait_for_function("document.getElementById('crew-gps-status').dataset.waiting === '0'")
    delivered = posted[-1]
    assert [(i["lat"], i["accuracy_m"]) for i in delivered][:2] == [(28.05, 12), (28.06, 8)]
    assert delivered == sorted(delivered, key=lambda i: i["at"])


def test_refused_fixes_are_said_with_the_reason(phone):
    def refuse(route, items) -> None:
        body = {"errors": [{"index": 0, "field": "at", "reason": "too old"}], "accepted": [], "arrived": []}
        route.fulfill(status=422, body=json.dumps(body), content_type="application/json")

    page, _ = open_page(phone, refuse)
    page.wait_for_function("document.getElementById('crew-gps-status').textContent.includes('refused')")
    assert page.locator("#crew-gps-status").inner_text().startswith("1 position(s) refused: too old")
