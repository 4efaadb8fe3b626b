"""A long text pasted into a public form, in Chromium: refused with a message and kept, never lost.

With Streamlit's `max_chars` on a text area, the browser ignores an input event that would take the
text past the limit: a 20,000-character paste left the box empty, so the report went in without its
description and the feedback form said "required". These tests paste (Playwright's `fill` sends the
same single input event a paste does) and check what the reader then sees and what was stored.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import func, select

from emergency.core.db import Database
from emergency.core.models import Customer, Feedback, Report
from tests.e2e.conftest import SERVER_LOG

pytestmark = pytest.mark.browser
TIMEOUT_MS = 60_000
LONG_TEXT = "The whole street has been dark since the storm. " * 417  # 20,016 characters


@pytest.fixture
def server_db(app_server: str, pytestconfig: pytest.Config) -> Iterator[Database]:
    """The app server's own database, next to the server log in the fixture's directory."""
    path = pytestconfig.stash[SERVER_LOG].parent / "outage-desk.db"
    db = Database(f"sqlite:///{path}")
    yield db
    db.dispose()


def count(db: Database, model: type[Report] | type[Feedback]) -> int:
    with db.read() as session:
        return session.scalar(select(func.count()).select_from(model)) or 0


def test_a_pasted_long_description_is_refused_with_its_length_and_stays_in_the_box(
    app_server: str, server_db: Database, page: Page, external_requests: list[str]
) -> None:
    with server_db.read() as session:
        account = session.scalars(select(Customer.account_no).order_by(Customer.id)).first()
    reports_before = count(server_db, Report)
    page.goto(f"{app_server}/report", wait_until="domcontentloaded")
    expect(page.get_by_role("heading", name="Report an outage")).to_be_visible(timeout=TIMEOUT_MS)
    expect(page.get_by_text("At most 2,000 characters")).to_be_visible()
    page.get_by_label("Account number", exact=True).fill(account)
    description = page.get_by_label("Description", exact=True)
    description.fill(LONG_TEXT.strip())
    expect(description).to_have_value(LONG_TEXT.strip())  # the browser kept the paste
    page.get_by_role("button", name="Send report").click()
    expect(page.get_by_text("Description: 20,015 characters, at most 2,000")).to_be_visible(
        timeout=TIMEOUT_MS
    )
    expect(description).to_have_value(LONG_TEXT.strip())
    assert count(server_db, Report) == reports_before
    assert external_requests == []


def test_pasted_long_feedback_is_refused_with_its_length_not_called_missing(
    app_server: str, server_db: Database, page: Page, external_requests: list[str]
) -> None:
    feedback_before = count(server_db, Feedback)
    page.goto(f"{app_server}/feedback", wait_until="domcontentloaded")
    expect(page.get_by_role("heading", name="Feedback and complaints")).to_be_visible(timeout=TIMEOUT_MS)
    message = page.get_by_label("Your message", exact=True)
    message.fill(LONG_TEXT.strip())
    page.get_by_role("button", name="Send", exact=True).click()
    expect(page.get_by_text("Your message: 20,015 characters, at most 2,000")).to_be_visible(
        timeout=TIMEOUT_MS
    )
    expect(page.get_by_text("Your message: required")).to_have_count(0)
    expect(message).to_have_value(LONG_TEXT.strip())
    assert count(server_db, Feedback) == feedback_before
    assert external_requests == []
