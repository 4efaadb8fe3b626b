"""A crew leader works a job on a phone (390 x 844) in Chromium against the real server: signs in,
accepts, sets off, arrives, sets an ETR and restores; a dispatcher's console in another browser
context shows the crew's steps as they happen."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError
from sqlalchemy import select

from emergency.app.bus import execute
from emergency.app.commands.dispatch import DispatchCrew
from emergency.core.actor import Actor
from emergency.core.clock import SYSTEM_CLOCK
from emergency.core.db import Database
from emergency.core.field_models import CrewPosition
from emergency.core.models import Crew, CrewAssignment, Device, Outage, User
from emergency.core.vocabulary import OutageState, PositionSource
from tests.e2e.conftest import serve_demo
from tests.support.app_context import context_of
from tests.support.browser import ACTION_TIMEOUT_MS

pytestmark = pytest.mark.browser
# This module's own server: the shared app server's key must keep naming the shared server's files.
CREW_SERVER_LOG = pytest.StashKey[Path]()
TIMEOUT_MS = 60_000
PHONE = {"width": 390, "height": 844}
JOB_FILE = "crew-job.txt"


def dispatch_the_demo_crew(db_url: str) -> None:
    """Before the server starts: the demo crew leader's crew is sent to a waiting outage, as a
    dispatcher would, and its phone has reported a position 2 km away."""
    db = Database(db_url)
    try:
        with db.read() as session:
            crew_id = session.scalar(select(User.crew_id).where(User.username == "crew"))
            crew = session.get(Crew, crew_id)
            busy = select(CrewAssignment.outage_id).where(
                CrewAssignment.status.in_(("dispatched", "en_route"))
            )
            outage = session.scalars(
                select(Outage)
                .where(
                    Outage.state.in_((OutageState.PREDICTED, OutageState.CONFIRMED)), Outage.id.not_in(busy)
                )
                .order_by(Outage.id)
            ).first()
            device = session.get(Device, outage.device_id)
            crew_version, outage_id, code = crew.version, outage.id, device.code
        with db.write() as session:
            now = SYSTEM_CLOCK.now()
            session.add(
                CrewPosition(
                    crew_id=crew_id,
                    at=now,
                    received_at=now,
                    lon=device.lon + 0.02,
                    lat=device.lat,
                    accuracy_m=10.0,
                    source=PositionSource.PHONE,
                )
            )
        execute(
            context_of(db, SYSTEM_CLOCK, Actor("dispatcher", "dispatcher")),
            DispatchCrew(outage_id, crew_id, crew_version),
        )
        (Path(db_url.removeprefix("sqlite:///")).parent / JOB_FILE).write_text(f"{outage_id} {code}")
    finally:
        db.dispose()


@pytest.fixture(scope="module")
def crew_server(
    tmp_path_factory: pytest.TempPathFactory, pytestconfig: pytest.Config
) -> Iterator[tuple[str, int, str]]:
    workdir = tmp_path_factory.mktemp("crew-server")
    for base_url in serve_demo(
        workdir, {"OUTAGE_DEMO_SIMULATOR": "off"}, pytestconfig, CREW_SERVER_LOG, dispatch_the_demo_crew
    ):
        outage_id, code = (workdir / JOB_FILE).read_text().split()
        yield base_url, int(outage_id), code


def log_in(page: Page, base_url: str, username: str, password: str) -> None:
    page.goto(f"{base_url}/login", wait_until="domcontentloaded")
    page.get_by_label("Username", exact=True).fill(username)
    page.get_by_label("Password", exact=True).fill(password)
    page.get_by_role("button", name="Log in").click()


def step(page: Page, button: str, question: str | re.Pattern[str], done: str | re.Pattern[str]) -> None:
    """Tap a step's button, check the question names the outage, say yes, see what was done."""
    asked = (
        page.get_by_text(question, exact=True) if isinstance(question, str) else page.get_by_text(question)
    )
    for _ in range(3):  # a tap during a redraw can be dropped; a crew leader would tap again
        page.get_by_role("button", name=button, exact=True).click()
        try:
            expect(asked).to_be_visible(timeout=10_000)
            break
        except AssertionError:
            continue
    expect(asked).to_be_visible()
    page.get_by_role("button", name="Yes, do it").click()
    shown = page.get_by_text(done, exact=True) if isinstance(done, str) else page.get_by_text(done)
    expect(shown).to_be_visible(timeout=TIMEOUT_MS)


def open_outage_on_console(console: Page, outage_id: int, code: str) -> None:
    """Choose the outage in the console's picker by its id and device, clicking its own option.

    The picker's filter matches anywhere ("2 · " also matches outage 12 and 232), and the live view
    redraws every few seconds and can close the list: type again and click, as a person would.
    """
    picker = console.get_by_role("combobox", name="Outage").last
    heading = console.get_by_role("heading", name=re.compile(rf"^Outage {outage_id} · "))
    expect(picker).to_be_visible(timeout=TIMEOUT_MS)
    for _ in range(4):
        try:
            picker.click()
            picker.fill(f"{outage_id} · {code}")
            option = console.get_by_role("option", name=re.compile(rf"^{outage_id} · {re.escape(code)} · "))
            option.first.click(timeout=10_000)
            expect(heading).to_be_visible(timeout=10_000)
            return
        except (AssertionError, PlaywrightTimeoutError):
            console.keyboard.press("Escape")
    expect(heading).to_be_visible(timeout=TIMEOUT_MS)


def test_a_crew_leader_works_a_job_on_a_phone_and_the_console_follows(
    crew_server: tuple[str, int, str], browser: Browser, page: Page, external_requests: list[str]
) -> None:
    base_url, outage_id, code = crew_server
    page.set_viewport_size(PHONE)
    log_in(page, base_url, "crew", "demo-crew")
    expect(page.get_by_role("heading", name="My crew's work")).to_be_visible(timeout=TIMEOUT_MS)
    named = f"outage {outage_id} · {code}"
    expect(page.get_by_role("heading", name=f"Outage {outage_id} · {code}")).to_be_visible(timeout=TIMEOUT_MS)
    expect(page.get_by_text(re.compile(r"km by road from your last position"))).to_be_visible()

    step(page, "Accept the job", f"Accept the job at {named}?", f"Job accepted: {named}.")
    step(page, "On our way", f"Set off for {named}?", f"On your way to {named}.")
    step(page, "On site", f"Record your crew on site at {named}?", f"On site at {named}.")
    page.get_by_text("Set or confirm the ETR").click()
    step(
        page,
        "Send the ETR",
        re.compile(rf"^Set the ETR of {re.escape(named)} to "),
        re.compile(rf"^ETR of {re.escape(named)} set to "),
    )

    # The dispatcher, in another browser context (another person, another machine), sees the steps.
    dispatcher_context = browser.new_context(viewport={"width": 1400, "height": 900})
    dispatcher_context.set_default_timeout(ACTION_TIMEOUT_MS)
    console = dispatcher_context.new_page()
    try:
        log_in(console, base_url, "dispatcher", "demo-dispatcher")
        expect(console.get_by_role("heading", name="Dispatcher console")).to_be_visible(timeout=TIMEOUT_MS)
        open_outage_on_console(console, outage_id, code)
        expect(console.get_by_text("From the crews' own page")).to_be_visible(timeout=TIMEOUT_MS)
        expect(
            console.get_by_text(
                re.compile(r": on site · accepted \d\d:\d\d · on site \d\d:\d\d, recorded by the crew")
            )
        ).to_be_visible(timeout=TIMEOUT_MS)
        expect(console.get_by_role("combobox", name="Outage")).to_have_value(
            re.compile(rf"^{outage_id} · {re.escape(code)} · on site$"), timeout=TIMEOUT_MS
        )

        page.get_by_text("Restore", exact=True).click()
        step(
            page,
            "Record the restoration",
            re.compile(rf"^Restore everyone at {re.escape(named)} "),
            f"Outage {outage_id} · {code} restored.",
        )
        expect(page.get_by_text("No job for your crew right now.", exact=False)).to_be_visible(
            timeout=TIMEOUT_MS
        )
        # The console's live view follows by itself: the outage is restored, its panel says so.
        expect(console.get_by_text(re.compile(rf"Outage {outage_id} is restored"))).to_be_visible(
            timeout=TIMEOUT_MS
        )
    finally:
        dispatcher_context.close()
    assert external_requests == []
