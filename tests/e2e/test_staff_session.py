"""Staff stay signed in across a reload, in Chromium against the real server: the login's cookie
(HttpOnly, SameSite) survives F5 and a bookmarked /dispatch opened in a new tab; a logout drops it,
going back shows the public page only; the other tab, reloaded, shows the login form at the
console's address and signing in there opens the console; a page the role lacks opens the user's own."""

from __future__ import annotations

import time

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


def login_form_only(page: Page) -> None:
    """A staff page's address opened signed out: the login form there, and no staff page."""
    expect(page.get_by_role("heading", name="Staff login")).to_be_visible(timeout=TIMEOUT_MS)
    sidebar = page.get_by_test_id("stSidebar")
    for staff_page in ("Dispatcher console", "Log out"):
        expect(sidebar.get_by_role("link", name=staff_page)).to_have_count(0)
    expect(page.get_by_text("Signed in as")).to_have_count(0)
    expect(page.get_by_text("Page not found")).to_have_count(0)


def log_in_here(page: Page, username: str, password: str) -> None:
    page.get_by_label("Username", exact=True).fill(username)
    page.get_by_label("Password", exact=True).fill(password)
    page.get_by_role("button", name="Log in").click()


def session_cookies(page: Page) -> list[dict]:
    return [dict(c) for c in page.context.cookies() if c["name"] == COOKIE_NAME]


def wait_for_cookies(page: Page, count: int) -> list[dict]:
    """The login and logout fetch the cookie in the background: wait until the jar has `count`."""
    deadline = time.monotonic() + TIMEOUT_MS / 1000
    while len(cookies := session_cookies(page)) != count and time.monotonic() < deadline:
        page.wait_for_timeout(100)
    return cookies


def test_a_dispatcher_stays_signed_in_across_reloads_and_tabs_until_logging_out(
    app_server: str, page: Page, external_requests: list[str]
) -> None:
    page.goto(f"{app_server}/login", wait_until="domcontentloaded")
    log_in_here(page, "dispatcher", "demo-dispatcher")

    # The login opens the console at once (no page load) and the browser fetches its cookie.
    signed_in_on_the_console(page)
    assert page.url.endswith("/dispatch")
    (cookie,) = wait_for_cookies(page, 1)
    assert cookie["httpOnly"] is True
    assert cookie["sameSite"] == "Lax"
    assert COOKIE_NAME not in page.evaluate("document.cookie")  # no script can read it
    assert "ticket=" not in page.url  # the one-time ticket never reaches the address bar

    page.reload(wait_until="domcontentloaded")  # F5
    signed_in_on_the_console(page)

    bookmark = page.context.new_page()  # a bookmarked /dispatch opened in a new tab
    bookmark.goto(f"{app_server}/dispatch", wait_until="domcontentloaded")
    signed_in_on_the_console(bookmark)

    # The logout ends the session, says so on the public page and has the browser drop its cookie.
    page.get_by_test_id("stSidebar").get_by_role("link", name="Log out").click()
    expect(page.get_by_text("You are logged out.")).to_be_visible(timeout=TIMEOUT_MS)
    public_only(page)
    assert wait_for_cookies(page, 0) == []

    # Back to the console's address: Streamlit's own history keeps the page it knows, the public
    # one. The other tab reloaded: signed out, the login form stands where the console was (never
    # "Page not found"), and signing in there opens the console.
    page.go_back(wait_until="domcontentloaded")
    public_only(page)
    bookmark.reload(wait_until="domcontentloaded")
    login_form_only(bookmark)
    log_in_here(bookmark, "dispatcher", "demo-dispatcher")
    signed_in_on_the_console(bookmark)
    assert bookmark.url.endswith("/dispatch")
    assert external_requests == []


def test_a_bookmarked_page_the_role_lacks_opens_the_users_own_page(
    app_server: str, page: Page, external_requests: list[str]
) -> None:
    page.goto(f"{app_server}/reliability", wait_until="domcontentloaded")  # a manager's page
    login_form_only(page)
    log_in_here(page, "dispatcher", "demo-dispatcher")
    signed_in_on_the_console(page)
    assert page.url.endswith("/dispatch")
    assert external_requests == []


def test_a_crew_leaders_bookmarked_crew_page_opens_at_its_own_address(
    app_server: str, page: Page, external_requests: list[str]
) -> None:
    page.goto(f"{app_server}/crew", wait_until="domcontentloaded")
    login_form_only(page)
    log_in_here(page, "crew", "demo-crew")
    expect(page.get_by_role("heading", name="My crew's work")).to_be_visible(timeout=TIMEOUT_MS)
    assert page.url.endswith("/crew")
    # The page shows before the background fetch has stored the cookie (CI once reloaded in between
    # and met the login form): a reload is the cookie's job, so wait for it as the console's test does.
    assert len(wait_for_cookies(page, 1)) == 1
    page.reload(wait_until="domcontentloaded")
    expect(page.get_by_role("heading", name="My crew's work")).to_be_visible(timeout=TIMEOUT_MS)
    expect(page.get_by_text("Page not found")).to_have_count(0)
    assert page.url.endswith("/crew")
    assert external_requests == []
