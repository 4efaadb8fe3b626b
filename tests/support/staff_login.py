"""Page tests' way in: the entry script run by AppTest, signed in through the real login page."""

from __future__ import annotations

from streamlit.testing.v1 import AppTest

from tests.pages.conftest import APP, page

TIMEOUT = 30


def signed_in(username: str, password: str) -> AppTest:
    """A session of the app after logging in (or trying to: a refused login leaves it signed out)."""
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.run()
    at.switch_page(page("login.py")).run()
    at.text_input[0].input(username)
    at.text_input[1].input(password)
    at.button[0].click().run()
    assert not at.exception, at.exception
    return at


def login_ticket(at: AppTest) -> str:
    """The one-time ticket the app sent the browser off with after a login (its redirect script)."""
    scripts = [h.value for h in at.html if "/staff/session?ticket=" in h.value]
    assert len(scripts) == 1, [h.value for h in at.html]
    return scripts[0].split("ticket=", 1)[1].split("&", 1)[0]


def browser_cookie(at: AppTest) -> str:
    """The session cookie the browser would hold after following the login's redirect: the ticket
    redeemed through the same route the server mounts (AppTest has no browser to do it)."""
    from starlette.applications import Starlette
    from starlette.testclient import TestClient

    from dashboard.auth_routes import COOKIE_NAME, auth_routes, login_redirect

    with TestClient(Starlette(routes=auth_routes)) as client:
        answer = client.get(login_redirect(login_ticket(at), "dispatch"), follow_redirects=False)
    return str(answer.cookies[COOKIE_NAME])


def reopened() -> AppTest:
    """A new browser session of the app (a reload, a bookmark opened in a new tab); the test decides
    which cookie it sends by replacing `dashboard.session.browser_cookie`."""
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.run()
    assert not at.exception, at.exception
    return at
