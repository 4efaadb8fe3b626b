"""The dispatcher's journey in Chromium, offline, with a typhoon driving the app.

The storm (the simulator's typhoon, brought forward; tests/e2e/journeys_support.py) fails a
transformer; its meters' last gasps reach intake and a new outage appears on the live console. The
dispatcher picks it, dispatches a crew well within the 10-minute clock, watches the simulated crew
set off and arrive, and restores the customers.
"""

from __future__ import annotations

import re
from dataclasses import replace

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import select

from emergency.core.models import CrewAssignment, Outage, OutageState, RestorationStep
from emergency.simulator.scenarios import TYPHOON
from tests.e2e.journeys_support import DrillTimes, choose_outage, click_until_visible, drill, storm_database
from tests.e2e.test_dispatcher import TIMEOUT_MS, log_in
from tests.support.browser import map_frame

pytestmark = pytest.mark.browser
# The typhoon's first damage with this seed is a service transformer of 55 customers.
SEED = 2
# Long enough that the dispatcher, not the crew's own report, restores the customers.
CREW = DrillTimes(repair=30.0)
# Outages waiting for a crew are yellow while their clocks are on track; purple once the crew is
# on site (dashboard/maps.py URGENCY_COLOURS).
ON_TRACK = "path.leaflet-interactive[fill='#f2c94c']"
CREW_ON_SITE = "path.leaflet-interactive[fill='#7b61c4']"


def board_row(page: Page, device_code: str):
    """The board's row of an outage, in the grid's accessible cells (the grid itself is a canvas)."""
    return page.locator("tr", has=page.locator("td[role='gridcell']", has_text=device_code))


def test_dispatcher_handles_an_outage_the_storm_causes(
    storm_server: str, pytestconfig: pytest.Config, page: Page, external_requests: list[str]
) -> None:
    log_in(page, storm_server, "dispatcher", "demo-dispatcher")
    page.get_by_role("link", name="Dispatcher console").click()
    expect(page.get_by_role("heading", name="Dispatcher console")).to_be_visible(timeout=TIMEOUT_MS)
    frame = map_frame(page)
    expect(frame.locator(".leaflet-container")).to_be_visible(timeout=TIMEOUT_MS)

    with (
        storm_database(pytestconfig) as db,
        drill(db, replace(TYPHOON, warning=None), SEED, times=CREW) as storm,
    ):
        device = storm.first_damage.device_code
        expect(board_row(page, device)).to_have_count(0)

        # The live view refreshes by itself: the new outage arrives on the board and the map.
        row = board_row(page, device)
        expect(row).to_have_count(1, timeout=TIMEOUT_MS)
        expect(row).to_contain_text("predicted")
        expect(frame.locator(ON_TRACK).first).to_be_attached(timeout=TIMEOUT_MS)
        outage_id = storm.first_outage(timeout_s=5)

        # The outage picker is part of the live view: the new outage is in it without a reload.
        heading = page.get_by_role("heading", name=re.compile(rf"^Outage {outage_id} · {device} "))
        choose_outage(page, outage_id, heading)
        dispatch_clock = page.get_by_test_id("stMetric").filter(has_text="Crew dispatched")
        expect(dispatch_clock).to_contain_text(re.compile(r"\d+:\d\d left"))

        click_until_visible(
            page.get_by_role("button", name="Dispatch", exact=True),
            page.get_by_text(re.compile(rf"Dispatch crew \S+ to outage {outage_id}")),
        )
        page.get_by_role("button", name="Yes, do it").click()
        dispatched = page.get_by_text(
            re.compile(rf"^Crew \S+ dispatched to outage {outage_id} · {device}, ETA")
        )
        expect(dispatched).to_be_visible(timeout=TIMEOUT_MS)
        crew = re.match(r"Crew (\S+)", dispatched.inner_text()).group(1)

        # The simulated crew sets off and reports on site; the board and the map say so.
        expect(row).to_contain_text("on site", timeout=TIMEOUT_MS)
        expect(frame.locator(CREW_ON_SITE).first).to_be_attached(timeout=TIMEOUT_MS)

        page.get_by_role("button", name="Restore", exact=True).click()
        question = page.get_by_text(f"Restore outage {outage_id} · {device}: everyone still out?")
        click_until_visible(page.get_by_role("button", name="Restore these customers"), question)
        # Asking redrew the outage's panel: the crew is there, and the dispatch clock was met.
        expect(page.get_by_text(re.compile(rf"Crew {crew}: on site, ETA"))).to_be_visible()
        expect(dispatch_clock).to_contain_text("met")
        page.get_by_role("button", name="Yes, do it").click()
        expect(page.get_by_text(f"Outage {outage_id} · {device} restored.")).to_be_visible(timeout=TIMEOUT_MS)
        expect(row).to_have_count(0, timeout=TIMEOUT_MS)
        # The restored outage stays open on the console, with nothing left to act on and no error.
        expect(page.get_by_text(f"Outage {outage_id} is restored: no crew to send")).to_be_visible(
            timeout=TIMEOUT_MS
        )
        expect(page.get_by_test_id("stException")).to_have_count(0)

        with db.read() as session:
            outage = session.get(Outage, outage_id)
            job = session.scalars(select(CrewAssignment).where(CrewAssignment.outage_id == outage_id)).one()
            restored_by = session.scalars(
                select(RestorationStep.by).where(RestorationStep.outage_id == outage_id)
            ).all()
        assert outage.state == OutageState.RESTORED and restored_by == ["dispatcher"]
        assert job.assigned_by == "dispatcher" and job.on_site_at is not None
        assert (job.assigned_at - outage.first_report_at).total_seconds() < 10 * 60
    assert external_requests == []
