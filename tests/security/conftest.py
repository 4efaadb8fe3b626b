"""Fixtures the hostile payload suite borrows: the page tests' small territory in SQLite, and the
browser tests' Chromium (a page that refuses every request leaving the machine)."""

from tests.e2e.conftest import browser, external_requests, page  # noqa: F401
from tests.pages.conftest import territory_db  # noqa: F401
