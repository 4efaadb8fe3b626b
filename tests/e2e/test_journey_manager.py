"""The manager's journey in Chromium, offline, as a typhoon comes in.

The meteorological service's red typhoon warning arrives as a CAP 1.2 file (the one the simulator
sends for its typhoon); the manager imports it on the warnings page, checks who is in the area and
issues it, which puts the territory in disaster mode. Meanwhile the storm fails a transformer
(tests/e2e/journeys_support.py), and its outage heads the priority queue; the important users of
the area wait on the outreach list.
"""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import select

from emergency.core.clock import SYSTEM_CLOCK
from emergency.core.models import District
from emergency.simulator.cap_alert import cap_alert
from emergency.simulator.scenarios import TYPHOON
from tests.e2e.journeys_support import drill, metric_value, storm_database
from tests.e2e.test_dispatcher import TIMEOUT_MS, log_in

pytestmark = pytest.mark.browser
# The typhoon's first damage with this seed is a service transformer of 30 customers.
SEED = 1
CUSTOMERS = 3000  # the journeys' demo territory


def test_manager_imports_and_issues_the_typhoon_warning_and_reads_the_queues(
    storm_server: str, pytestconfig: pytest.Config, page: Page, external_requests: list[str], tmp_path: Path
) -> None:
    warning = TYPHOON.warning
    assert warning is not None
    # The storm without its own warning: here the manager issues it.
    with storm_database(pytestconfig) as db, drill(db, replace(TYPHOON, warning=None), SEED) as storm:
        with db.read() as session:
            districts = list(session.scalars(select(District.code).order_by(District.code)))
        cap_file = tmp_path / "typhoon-red.cap.xml"
        cap_file.write_bytes(cap_alert(warning, storm.simulation.origin, SYSTEM_CLOCK.now(), districts, SEED))

        log_in(page, storm_server, "manager", "demo-manager")
        page.get_by_role("link", name="Warnings").click()
        expect(page.get_by_role("heading", name="Disaster warnings")).to_be_visible(timeout=TIMEOUT_MS)
        page.get_by_role("tab", name="Import CAP").click()
        uploader = page.get_by_test_id("stFileUploader").filter(has_text="CAP 1.2 file")
        uploader.get_by_test_id("stFileUploaderDropzoneInput").set_input_files(cap_file)
        page.get_by_role("button", name="Import", exact=True).click()
        imported = page.get_by_text(re.compile(r"^Imported as draft warning \d+\."))
        expect(imported).to_be_visible(timeout=TIMEOUT_MS)
        warning_id = int(re.search(r"\d+", imported.inner_text()).group())

        # The preview: the whole territory is in the area, before anything is sent.
        page.get_by_role("tab", name="Preview and publish").click()
        expect(page.get_by_role("heading", name=warning.headline_en)).to_be_visible(timeout=TIMEOUT_MS)
        expect(page.get_by_text(re.compile(r"^Typhoon · Red \(I\) · draft"))).to_be_visible()
        assert metric_value(page, "Customers") == CUSTOMERS
        page.get_by_text(f"Send to {CUSTOMERS:,} customers").click()
        page.get_by_role("button", name="Issue", exact=True).click()
        expect(page.get_by_text(f"Issued: {CUSTOMERS:,} notices queued", exact=False)).to_be_visible(
            timeout=TIMEOUT_MS
        )
        expect(page.get_by_text(re.compile(r"^Typhoon · Red \(I\) · active · disaster mode$"))).to_be_visible(
            timeout=TIMEOUT_MS
        )

        outage_id = storm.first_outage()
        page.get_by_role("link", name="Priority and outreach").click()
        expect(page.get_by_role("heading", name="Priority queue (disaster mode)")).to_be_visible(
            timeout=TIMEOUT_MS
        )
        expect(page.get_by_text("No district is in disaster mode.")).to_have_count(0)
        # The queue's grid is a canvas; its accessible cells hold the same rows as text.
        queued = page.locator(
            "tr", has=page.locator("td[role='gridcell']", has_text=re.compile(rf"^{outage_id}$"))
        )
        expect(queued).to_have_count(1, timeout=TIMEOUT_MS)
        expect(queued).to_contain_text(str(storm.first_damage.customers))

        expect(page.get_by_role("heading", name="Outreach to important users")).to_be_visible()
        expect(page.get_by_role("combobox", name="Warning")).to_have_value(
            f"#{warning_id} {warning.headline_en}"
        )
        assert metric_value(page, "Pending") > 0
    assert external_requests == []
