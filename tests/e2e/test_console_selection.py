"""The dispatcher console acts on the outage the dispatcher chose, in Chromium, against the real server.

The dispatcher clicks an outage's row on the SLA board. Then the board re-sorts under them: a
colleague restores the outage ranked first, and a new outage arrives. The chosen outage stays
chosen (the panel, the picker and the board's highlighted row follow its id, not its old row), the
new outage is in the picker without a reload, and "Restore" restores the chosen outage and only it.
The Restore popover opens within a 1366x768 window.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import select

from emergency.app.queries import dispatch as dispatch_queries
from emergency.core.actor import Actor
from emergency.core.clock import SYSTEM_CLOCK
from emergency.core.db import Database
from emergency.core.models import ACTIVE_OUTAGE_STATES, Customer, Device, DeviceKind, Outage, OutageState
from emergency.dispatch.board import BoardRow
from tests.e2e.conftest import serve_demo
from tests.e2e.journeys_support import click_until_visible
from tests.e2e.test_dispatcher import TIMEOUT_MS, log_in
from tests.support.app_context import context_of
from tests.support.commands import submit_reports
from tests.support.dispatch_actions import restore_outage

pytestmark = pytest.mark.browser
SERVER_LOG = pytest.StashKey[Path]()
COLLEAGUE = Actor("colleague", "dispatcher")
HOTLINE = Actor("hotline", "intake")
# The SLA board's grid (glide-data-grid) draws rows of 35 px under a 35 px header, with a column of
# row markers (the selection boxes) on the left.
ROW_PX = 35
MARKER_X = 18


@pytest.fixture(scope="module")
def selection_server(
    tmp_path_factory: pytest.TempPathFactory, pytestconfig: pytest.Config
) -> Iterator[tuple[Path, str]]:
    """A server of its own (this test changes outages other browser tests count on): the directory
    holding its database, and its base URL."""
    workdir = tmp_path_factory.mktemp("selection-server")
    server = serve_demo(workdir, {"OUTAGE_DEMO_SIMULATOR": "off"}, pytestconfig, SERVER_LOG)
    base_url = next(server)
    try:
        yield workdir, base_url
    finally:
        server.close()


def board(db: Database) -> list[BoardRow]:
    return dispatch_queries.sla_board(context_of(db, SYSTEM_CLOCK, COLLEAGUE))


def quiet_transformer_accounts(db: Database) -> tuple[str, list[str]]:
    """A transformer no active outage covers (nor any device above it), and its customers' accounts."""
    with db.read() as session:
        out = set(session.scalars(select(Outage.device_id).where(Outage.state.in_(ACTIVE_OUTAGE_STATES))))
        parents = {device: parent for device, parent in session.execute(select(Device.id, Device.parent_id))}
        for device in session.scalars(
            select(Device).where(Device.kind == DeviceKind.TRANSFORMER).order_by(Device.id.desc())
        ):
            above: list[int] = []
            node: int | None = device.id
            while node is not None:
                above.append(node)
                node = parents.get(node)
            accounts = list(
                session.scalars(select(Customer.account_no).where(Customer.transformer_id == device.id))
            )
            if not out.intersection(above) and len(accounts) >= 2:
                return device.code, accounts
    raise AssertionError("the demo has no quiet transformer")


def click_board_row(page: Page, row: int) -> None:
    """Select the board's `row` (0 = first) as a person does: a click on its row marker."""
    grid = page.locator("[class*='st-key-board-table'] [data-testid='stDataFrameResizable']")
    grid.scroll_into_view_if_needed()
    box = grid.bounding_box()
    assert box is not None
    page.mouse.click(box["x"] + MARKER_X, box["y"] + ROW_PX * (row + 1) + ROW_PX / 2)


def test_an_action_goes_to_the_chosen_outage_after_the_board_re_sorts(selection_server, page: Page) -> None:
    workdir, base_url = selection_server
    page.set_viewport_size({"width": 1366, "height": 768})
    db = Database(f"sqlite:///{workdir / 'outage-desk.db'}")
    try:
        assert len(board(db)) >= 4, "the demo has outages in progress"
        log_in(page, base_url, "dispatcher", "demo-dispatcher")
        page.get_by_role("link", name="Dispatcher console").click()
        expect(page.get_by_role("heading", name="SLA board")).to_be_visible(timeout=TIMEOUT_MS)
        # The third row, whichever outage the board ranks there now.
        any_outage = page.get_by_role("heading", name=re.compile(r"^Outage \d+ · "))
        click_until_visible(_Click(page, 2), any_outage)  # type: ignore[arg-type]
        chosen_id = int(re.match(r"Outage (\d+)", any_outage.inner_text()).group(1))  # type: ignore[union-attr]
        before = board(db)
        at = [r.outage_id for r in before].index(chosen_id)
        assert at >= 1, "an outage ranked above the chosen one, to take away"
        first, chosen = before[at - 1], before[at]
        taking_its_row = before[at + 1] if at + 1 < len(before) else None
        heading = page.get_by_role("heading", name=re.compile(rf"^Outage {chosen.outage_id} · "))
        picker = page.get_by_role("combobox", name="Outage")
        expect(picker).to_have_value(re.compile(rf"^{chosen.outage_id} · {chosen.device_code} · "))

        # The board re-sorts under the dispatcher: a colleague restores the outage ranked just above
        # the chosen one, so the rows below move up, and a new outage arrives.
        restore_outage(db, SYSTEM_CLOCK, COLLEAGUE, first.outage_id, note="restored by a colleague")
        device, accounts = quiet_transformer_accounts(db)
        calls = [{"channel": "hotline", "kind": "no_power", "account_no": a} for a in accounts]
        new_outage = submit_reports(db, SYSTEM_CLOCK, HOTLINE, calls).analysis.predicted[0]
        # The live view refreshes by itself: the picker (one view with the board and the map)
        # drops the restored outage and lists the new one, without a reload.
        picker = page.get_by_role("combobox", name="Outage")
        wait_for_picker(page, f"{new_outage} · {device} · ", listed=True)
        wait_for_picker(page, f"{first.outage_id} · {first.device_code} · ", listed=False)

        # Still the chosen outage, everywhere.
        expect(heading).to_be_visible()
        expect(picker).to_have_value(re.compile(rf"^{chosen.outage_id} · {chosen.device_code} · "))

        # Restore: the popover opens within the window, and the question names the chosen outage.
        page.get_by_role("button", name="Restore", exact=True).click()
        body = page.get_by_test_id("stPopoverBody")
        expect(body).to_be_visible(timeout=TIMEOUT_MS)
        box = body.bounding_box()
        # The outage's tabs span the page's content column, padding excluded.
        content = page.get_by_test_id("stTabs").first.bounding_box()
        assert box is not None and content is not None
        # Within the window, and not hanging past the right edge of the page's content either.
        assert box["y"] >= 0 and box["y"] + box["height"] <= 768, box
        assert content["x"] <= box["x"] and box["x"] + box["width"] <= content["x"] + content["width"], (
            box,
            content,
        )
        question = page.get_by_text(
            f"Restore outage {chosen.outage_id} · {chosen.device_code}: everyone still out?"
        )
        click_until_visible(page.get_by_role("button", name="Restore these customers"), question)
        page.get_by_role("button", name="Yes, do it").click()
        expect(page.get_by_text(f"Outage {chosen.outage_id} · {chosen.device_code} restored.")).to_be_visible(
            timeout=TIMEOUT_MS
        )

        with db.read() as session:
            assert session.get(Outage, chosen.outage_id).state == OutageState.RESTORED
            if taking_its_row is not None:
                assert session.get(Outage, taking_its_row.outage_id).state in ACTIVE_OUTAGE_STATES
            assert session.get(Outage, new_outage).state in ACTIVE_OUTAGE_STATES
    finally:
        db.dispose()


def wait_for_picker(page: Page, label: str, *, listed: bool) -> None:
    """Wait until the outage picker lists (or no longer lists) an option starting with `label`;
    the picker is opened, filtered by typing, and closed again without choosing."""
    picker = page.get_by_role("combobox", name="Outage")
    option = page.get_by_role("option", name=re.compile("^" + re.escape(label)))
    deadline = time.monotonic() + TIMEOUT_MS / 1000
    while True:
        picker.click()
        picker.fill(label.split(" · ")[0] + " ·")
        found = option.count() > 0
        picker.press("Escape")
        if found == listed:
            return
        assert time.monotonic() < deadline, (
            f"the picker {'never listed' if listed else 'still lists'} {label!r}"
        )
        page.wait_for_timeout(2_000)


class _Click:
    """`click_until_visible` wants something with `.click()`: a click on a board row."""

    def __init__(self, page: Page, row: int) -> None:
        self.page, self.row = page, row

    def click(self) -> None:
        click_board_row(self.page, self.row)
