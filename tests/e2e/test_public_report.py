"""A member of the public reports a wire down with a script in the description; a dispatcher reads it.

The text must reach the dispatcher as text: not run as a script in either page, and not swallowed
by escaping that drops it. The console's report table is a canvas grid; its accessible cells (the
DOM twin of what is drawn) carry the same text, so that is where the browser can read it.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import select

from emergency.core.db import Database
from emergency.core.models import ACTIVE_OUTAGE_STATES, Customer, Outage, Report
from tests.e2e.conftest import SERVER_LOG
from tests.e2e.journeys_support import choose_outage

pytestmark = pytest.mark.browser
TIMEOUT_MS = 60_000
DESCRIPTION = 'Pole down <script>window.__pwned = 1</script> & "wires" <b>on</b> the road'


@pytest.fixture
def server_db(app_server: str, pytestconfig: pytest.Config) -> Iterator[Database]:
    """The app server's own database, next to the server log in the fixture's directory."""
    path = pytestconfig.stash[SERVER_LOG].parent / "outage-desk.db"
    db = Database(f"sqlite:///{path}")
    yield db
    db.dispose()


def quiet_account(db: Database) -> str:
    """An account on a transformer with no outage and no report, so the report makes its own outage."""
    with db.read() as session:
        busy = set(session.scalars(select(Outage.device_id).where(Outage.state.in_(ACTIVE_OUTAGE_STATES))))
        busy |= set(session.scalars(select(Report.transformer_id).where(Report.transformer_id.is_not(None))))
        return session.scalars(
            select(Customer.account_no).where(Customer.transformer_id.not_in(busy)).order_by(Customer.id)
        ).first()


def test_a_public_wire_down_report_reaches_the_dispatcher_as_text(
    app_server: str, server_db: Database, page: Page, external_requests: list[str]
) -> None:
    account = quiet_account(server_db)
    page.goto(f"{app_server}/report", wait_until="domcontentloaded")
    expect(page.get_by_role("heading", name="Report an outage")).to_be_visible(timeout=TIMEOUT_MS)
    page.get_by_text("Wire down or other danger").click()
    expect(page.get_by_text("Stay at least 10 m away")).to_be_visible(timeout=TIMEOUT_MS)
    page.get_by_label("Account number", exact=True).fill(account)
    page.get_by_label("Description", exact=True).fill(DESCRIPTION)
    page.get_by_role("button", name="Send report").click()
    receipt = page.get_by_text(re.compile(r"Your reference number is R-\d+"))
    expect(receipt).to_be_visible(timeout=TIMEOUT_MS)
    report_id = int(re.search(r"R-(\d+)", receipt.inner_text()).group(1))
    assert page.evaluate("window.__pwned") is None

    with server_db.read() as session:
        report = session.get(Report, report_id)
    assert report.description == DESCRIPTION and report.channel == "web"
    assert report.outage_id is not None  # a wire down predicts an outage by itself

    page.get_by_role("link", name="Staff login").click()
    page.get_by_label("Username", exact=True).fill("dispatcher")
    page.get_by_label("Password", exact=True).fill("demo-dispatcher")
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_text("Signed in as dispatcher")).to_be_visible(timeout=TIMEOUT_MS)
    page.get_by_role("link", name="Dispatcher console").click()
    heading = page.get_by_role("heading", name=re.compile(rf"^Outage {report.outage_id} · "))
    choose_outage(page, report.outage_id, heading)
    expect(page.get_by_text("Hazard reported (wires down or danger)")).to_be_visible()
    page.get_by_role("tab", name="Reports").click()

    cell = page.locator("td[role='gridcell']", has_text="window.__pwned")
    expect(cell).to_have_count(1, timeout=TIMEOUT_MS)
    assert cell.inner_text() == DESCRIPTION  # every character, markup and all, as written
    assert page.evaluate("window.__pwned") is None
    assert page.locator("b", has_text=re.compile(r"^on$")).count() == 0  # the <b> was not rendered as markup
    assert external_requests == []


def test_a_choice_made_before_switching_to_chinese_is_kept_after_the_next_click(
    app_server: str, page: Page, external_requests: list[str]
) -> None:
    """The browser keeps a radio's choice as its label. Switching the language changed every label,
    so the next click sent back a label no option had and Streamlit put the radio back to "No power":
    a wire down would have gone in as a plain outage, without the safety message."""
    page.goto(f"{app_server}/report", wait_until="domcontentloaded")
    expect(page.get_by_role("heading", name="Report an outage")).to_be_visible(timeout=TIMEOUT_MS)
    page.get_by_text("Wire down or other danger").click()
    expect(page.get_by_text("Stay at least 10 m away")).to_be_visible(timeout=TIMEOUT_MS)

    page.get_by_test_id("stSidebar").get_by_text("简体中文").click()
    expect(page.get_by_role("heading", name="停电报修")).to_be_visible(timeout=TIMEOUT_MS)
    hazard = page.get_by_role("radio", name="电线落地或其他危险")
    expect(hazard).to_be_checked(timeout=TIMEOUT_MS)

    page.get_by_text("按位置").click()  # the next click: a run with what the browser holds
    expect(page.get_by_role("radio", name="按位置")).to_be_checked(timeout=TIMEOUT_MS)
    expect(hazard).to_be_checked(timeout=TIMEOUT_MS)
    expect(page.get_by_text("请远离落地电线")).to_be_visible(timeout=TIMEOUT_MS)
    assert external_requests == []
