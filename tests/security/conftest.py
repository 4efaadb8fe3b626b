"""Fixtures the hostile payload suite borrows: the page tests' small territory in SQLite. The browser
(a page that refuses every request leaving the machine) comes from tests/conftest.py."""

from tests.pages.conftest import territory_db  # noqa: F401
