"""Staff stay signed in across a reload, in Chromium against the real server: the login's cookie
(HttpOnly, SameSite) survives F5 and a bookmarked /dispatch opened in a new tab; a logout drops it,
and going back shows the public page only."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from dashboard.auth_routes import COOKIE_NAME

pytestmark = pytest.mark.browser
TIMEOUT_MS = 60_000


def signed_in_on_the_console(page: Page) -> None:
    expect(page.get_by_role("heading", name="Dispatcher console")).to_be_visible(timeout=TIMEOUT_MS)
    expect(page.get_by_text("Signed in as dispatcher")).to_be_visible(timeout=TIMEOUT_MS)


def public_only(page: Page) -> None:
    """The public page, with the login link and no staff page in the sidebar."""
    expect(page.get_by_role("heading", name="Power status")).to_be_visible(timeout=TIMEOUT_MS)
    sidebar = page.get_by_test_id("stSidebar")
    expect(sidebar.get_by_role("link", name="Staff login")).to_be_visible(timeout=TIMEOUT_MS)
    for staff_page in ("Dispatcher console", "Log out"):
        expect(sidebar.get_by_role("link", name=staff_page)).to_have_count(0)
    expect(page.get_by_text("Signed in as")).to_have_count(0)


def test_a_dispatcher_stays_signed_in_across_reloads_and_tabs_until_logging_out(
    app_server: str, page: Page, external_requests: list[str]
) -> None:
    page.goto(f"{app_server}/login", wait_until="domcontentloaded")
    page.get_by_label("Username", exact=True).fill("dispatcher")
    page.get_by_label("Password", exact=True).fill("demo-dispatcher")
    page.get_by_role("button", name="Log in").click()

    # The login sends the browser for its cookie and on to the console.
    expect(page).to_have_url(re.compile(r"/dispatch(\?lang=en)?$"), timeout=TIMEOUT_MS)
    signed_in_on_the_console(page)
    (cookie,) = [c for c in page.context.cookies() if c["name"] == COOKIE_NAME]
    assert cookie["httpOnly"] is True
    assert cookie["sameSite"] == "Lax"
    assert COOKIE_NAME not in page.evaluate("document.cookie")  # no script can read it
    assert "ticket=" not in page.url  # the one-time ticket is not left in the address bar

    page.reload(wait_until="domcontentloaded")  # F5
    signed_in_on_the_console(page)

    bookmark = page.context.new_page()  # a bookmarked /dispatch opened in a new tab
    bookmark.goto(f"{app_server}/dispatch", wait_until="domcontentloaded")
    signed_in_on_the_console(bookmark)

    # The browser is sent to drop its cookie and comes back to the public page, which says so.
    with page.expect_navigation(url=re.compile(r"signed_out=logout"), timeout=TIMEOUT_MS):
        page.get_by_test_id("stSidebar").get_by_role("link", name="Log out").click()
    expect(page.get_by_text("You are logged out.")).to_be_visible(timeout=TIMEOUT_MS)
    public_only(page)
    assert [c for c in page.context.cookies() if c["name"] == COOKIE_NAME] == []

    page.go_back(wait_until="domcontentloaded")  # back to the console's address: public page only
    public_only(page)
    bookmark.reload(wait_until="domcontentloaded")  # the other tab is signed out too
    public_only(bookmark)
    assert external_requests == []
