"""Issue 19's "done when", in Chromium at phone size against the real server: a crew leader accepts
and sets off; the crew's vehicle tracker posts positions along the road to the outage (the test
drives it through `POST /api/crews/positions`); the geofence records the crew on site with no
dispatcher's click; the leader files a damage assessment with a photo and restores. The dispatcher's
console shows each step and who recorded the arrival, and the compliance report counts the on-site
clock under `gps`."""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from PIL import Image
from playwright.sync_api import Browser, Page, expect
from sqlalchemy import select

from emergency.app.queries.reporting import compliance_report
from emergency.core.actor import Actor
from emergency.core.clock import SYSTEM_CLOCK
from emergency.core.db import Database
from emergency.core.models import Crew, CrewAssignment, Device, Outage, User
from emergency.core.settings import set_setting
from emergency.core.tokens import create_token
from emergency.core.vocabulary import TokenScope
from tests.e2e.conftest import serve_demo
from tests.e2e.test_crew_page import (
    PHONE,
    TIMEOUT_MS,
    dispatch_the_demo_crew,
    log_in,
    open_outage_on_console,
    step,
)
from tests.support.app_context import context_of
from tests.support.browser import ACTION_TIMEOUT_MS

pytestmark = pytest.mark.browser
# This module's own server: the shared app server's key must keep naming the shared server's files.
FIELD_SERVER_LOG = pytest.StashKey[Path]()
TRACKER_FILE = "tracker.txt"
DWELL_SECONDS = 4  # the drill's dwell: the rule is the same at 60 s, the test just waits less


def prepare(db_url: str) -> None:
    """The demo crew is dispatched (as in test_crew_page); a short dwell; a tracker's token."""
    dispatch_the_demo_crew(db_url)
    db = Database(db_url)
    try:
        with db.write() as session:
            set_setting(session, "crew.arrival_dwell_seconds", DWELL_SECONDS, SYSTEM_CLOCK, by="drill")
            token = create_token(
                session, SYSTEM_CLOCK, Actor("admin", "admin"), "van-tracker", TokenScope.CREW_POSITION
            )
            crew_id = session.scalar(select(User.crew_id).where(User.username == "crew"))
            crew = session.get(Crew, crew_id)
            outage_id = session.scalar(
                select(CrewAssignment.outage_id).where(
                    CrewAssignment.crew_id == crew_id, CrewAssignment.status == "dispatched"
                )
            )
            device = session.get(Device, session.get(Outage, outage_id).device_id)
            line = f"{token} {crew.code} {device.lon} {device.lat}"
        (Path(db_url.removeprefix("sqlite:///")).parent / TRACKER_FILE).write_text(line)
    finally:
        db.dispose()


@pytest.fixture(scope="module")
def field_server(
    tmp_path_factory: pytest.TempPathFactory, pytestconfig: pytest.Config
) -> Iterator[tuple[str, str, int, str, str, str, float, float]]:
    workdir = tmp_path_factory.mktemp("crew-field-server")
    for base_url in serve_demo(
        workdir, {"OUTAGE_DEMO_SIMULATOR": "off"}, pytestconfig, FIELD_SERVER_LOG, prepare
    ):
        outage_id, code = (workdir / "crew-job.txt").read_text().split()
        token, crew_code, lon, lat = (workdir / TRACKER_FILE).read_text().split()
        db_url = f"sqlite:///{workdir / 'outage-desk.db'}"
        yield base_url, db_url, int(outage_id), code, token, crew_code, float(lon), float(lat)


def drive(base_url: str, token: str, crew: str, lon: float, lat: float, page: Page) -> None:
    """The van drives in from 2 km east, one fix a second, then parks beside the device."""
    path = [(lon + 0.02 * (1 - k / 5), lat) for k in range(5)] + [(lon + 0.0004, lat)] * (DWELL_SECONDS + 4)
    with httpx.Client(base_url=base_url, headers={"Authorization": f"Bearer {token}"}) as client:
        for x, y in path:
            at = SYSTEM_CLOCK.now().isoformat()
            answer = client.post(
                "/api/crews/positions", json=[{"crew": crew, "lon": x, "lat": y, "at": at, "accuracy_m": 8}]
            )
            assert answer.status_code == 201, answer.text
            page.wait_for_timeout(1_000)


def a_photo(path: Path) -> Path:
    """A small JPEG with a camera's EXIF, as a phone would take it."""
    image = Image.new("RGB", (640, 480), (90, 120, 60))
    exif = Image.Exif()
    exif[0x010F] = "PhoneMaker"  # Make
    exif[0x0110] = "Model 7"  # Model
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", exif=exif)
    path.write_bytes(buffer.getvalue())
    return path


def test_a_crew_is_recorded_on_site_by_gps_assesses_with_a_photo_and_restores(
    field_server: tuple[str, str, int, str, str, str, float, float],
    browser: Browser,
    page: Page,
    external_requests: list[str],
    tmp_path: Path,
) -> None:
    base_url, db_url, outage_id, code, token, crew_code, lon, lat = field_server
    page.set_viewport_size(PHONE)
    log_in(page, base_url, "crew", "demo-crew")
    named = f"outage {outage_id} · {code}"
    expect(page.get_by_role("heading", name=f"Outage {outage_id} · {code}")).to_be_visible(timeout=TIMEOUT_MS)
    step(page, "Accept the job", f"Accept the job at {named}?", f"Job accepted: {named}.")
    step(page, "On our way", f"Set off for {named}?", f"On your way to {named}.")

    drive(base_url, token, crew_code, lon, lat, page)
    # No click: the crew page redraws by itself when the geofence records the arrival.
    expect(page.get_by_role("button", name="On site", exact=True)).to_have_count(0, timeout=TIMEOUT_MS)
    expect(page.locator("strong", has_text=re.compile(r"^on site$"))).to_be_visible(timeout=TIMEOUT_MS)

    # The damage assessment (open on site), with a photo.
    form = page.get_by_text(f"Damage assessment · outage {outage_id}")
    expect(form).to_be_visible(timeout=TIMEOUT_MS)
    page.get_by_label("Repair time: hours").fill("2")
    page.locator("input[type='file']").set_input_files(str(a_photo(tmp_path / "pole.jpg")))
    expect(page.get_by_text("pole.jpg")).to_be_visible(timeout=TIMEOUT_MS)
    page.get_by_role("button", name=f"File the assessment of outage {outage_id}").click()
    expect(page.get_by_text(f"Assessment filed for outage {outage_id} with 1 photo(s).")).to_be_visible(
        timeout=TIMEOUT_MS
    )

    console_context = browser.new_context(viewport={"width": 1400, "height": 900})
    console_context.set_default_timeout(ACTION_TIMEOUT_MS)
    console = console_context.new_page()
    try:
        log_in(console, base_url, "dispatcher", "demo-dispatcher")
        expect(console.get_by_role("heading", name="Dispatcher console")).to_be_visible(timeout=TIMEOUT_MS)
        open_outage_on_console(console, outage_id, code)
        expect(
            console.get_by_text(
                re.compile(r": on site · accepted \d\d:\d\d · on site \d\d:\d\d, recorded by GPS")
            )
        ).to_be_visible(timeout=TIMEOUT_MS)
        expect(console.get_by_text("Damage assessments")).to_be_visible(timeout=TIMEOUT_MS)
        expect(console.get_by_text(re.compile(r"camera PhoneMaker Model 7"))).to_be_visible(
            timeout=TIMEOUT_MS
        )

        page.get_by_text("Restore", exact=True).click()
        step(
            page,
            "Record the restoration",
            re.compile(rf"^Restore everyone at {re.escape(named)} "),
            f"Outage {outage_id} · {code} restored.",
        )
        expect(console.get_by_text(re.compile(rf"Outage {outage_id} is restored"))).to_be_visible(
            timeout=TIMEOUT_MS
        )
    finally:
        console_context.close()

    # Compliance counts this outage's on-site clock under the source that recorded it: the geofence.
    db = Database(db_url)
    try:
        with db.read() as session:
            outage = session.get(Outage, outage_id)
            assert outage.on_site_source == "gps"
            first = outage.first_report_at
        report = compliance_report(
            context_of(db, SYSTEM_CLOCK, Actor("manager", "manager")),
            first - timedelta(seconds=1),
            first + timedelta(seconds=1),
        )
        by_source = report.on_site_by_source.set_index("source")
        assert by_source.loc["gps", "outages"] >= 1
    finally:
        db.dispose()
    assert external_requests == []
