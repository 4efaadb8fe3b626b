"""A manager's journey in Chromium, offline: a red typhoon warning for two districts, from draft
to issued, with the affected counts, the CAP link and the outreach list."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.e2e.test_dispatcher import TIMEOUT_MS, log_in
from tests.e2e.widgets import choose, choose_many

pytestmark = pytest.mark.browser
CAP = "{urn:oasis:names:tc:emergency:cap:1.2}"


def test_manager_issues_a_red_typhoon_warning_for_two_districts(
    app_server: str, page: Page, external_requests: list[str]
) -> None:
    log_in(page, app_server, "manager", "demo-manager")
    page.get_by_role("link", name="Warnings").click()
    expect(page.get_by_role("heading", name="Disaster warnings")).to_be_visible(timeout=TIMEOUT_MS)

    page.get_by_role("tab", name="New warning").click()
    choose(page, "Colour level", "Red (I)")
    choose(page, "Our readiness level", "level 1")
    page.get_by_label("Title (English)").fill("Typhoon Haikui: red warning")
    page.get_by_label("Title (Chinese)").fill("台风海葵红色预警")
    choose_many(page, "Districts in the area", ["DG Donggang District", "LW Lanwan District"])
    page.get_by_role("button", name="Save draft").click()
    expect(page.get_by_text(re.compile(r"Draft warning \d+ saved"))).to_be_visible(timeout=TIMEOUT_MS)

    # The preview: customers, important users and crews in the two districts, before anything is sent.
    page.get_by_role("tab", name="Preview and publish").click()
    customers = page.get_by_test_id("stMetric").filter(has_text="Customers").first
    expect(customers).to_be_visible(timeout=TIMEOUT_MS)
    count = int(customers.get_by_test_id("stMetricValue").inner_text().replace(",", ""))
    assert count > 0
    page.get_by_text(re.compile(r"^Send to [\d,]+ customers$")).click()
    page.get_by_role("button", name="Issue", exact=True).click()
    expect(page.get_by_text(f"Issued: {count:,} notices queued", exact=False)).to_be_visible(
        timeout=TIMEOUT_MS
    )

    cap_link = page.get_by_role("link", name="CAP message")
    expect(cap_link).to_be_visible(timeout=TIMEOUT_MS)
    alert = ET.fromstring(httpx.get(app_server + cap_link.get_attribute("href"), timeout=30).content)
    assert alert.findtext(f"{CAP}msgType") == "Alert"
    assert alert.findtext(f"{CAP}info/{CAP}severity") == "Extreme"

    page.get_by_role("link", name="Priority and outreach").click()
    expect(page.get_by_role("heading", name="Outreach to important users")).to_be_visible(timeout=TIMEOUT_MS)
    pending = page.get_by_test_id("stMetric").filter(has_text="Pending").first
    expect(pending).to_be_visible(timeout=TIMEOUT_MS)
    assert int(pending.get_by_test_id("stMetricValue").inner_text()) > 0
    assert external_requests == []
