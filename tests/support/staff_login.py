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
