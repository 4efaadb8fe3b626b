"""Hostile text where it is shown: the pages' Markdown (AppTest), the map layers' HTML and script,
and the static public site in Chromium.

Each test stores the payloads through the database as an import, a caller or a manager would, then
reads what the page or file hands to the browser. Markdown must never carry a live link, image,
colour directive or icon made of someone's text; HTML must never carry their tags.
"""

from __future__ import annotations

import re
import shutil
import threading
from collections.abc import Iterator
from datetime import timedelta
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import folium
import pytest
from sqlalchemy import update
from streamlit.testing.v1 import AppTest

from dashboard import maps
from dashboard.console import SELECTED_KEY
from emergency.app.bus import execute
from emergency.app.commands.warnings import CreateWarning, IssueWarning
from emergency.core.actor import Actor
from emergency.core.clock import SYSTEM_CLOCK
from emergency.core.db import get_database
from emergency.core.models import Crew, Device, District
from emergency.core.settings import set_setting
from emergency.network.model import build_network_model
from emergency.public import snapshot as publish
from emergency.public.static_site import write_static_site
from emergency.warnings.area import DistrictsArea
from emergency.warnings.lifecycle import WarningInput
from tests.pages.conftest import APP, page
from tests.pages.test_access import log_in
from tests.security.payloads import INERT_TEXT
from tests.support.app_context import context_of
from tests.support.commands import submit_reports
from tests.support.small_territory import PASSWORDS
from tests.unit.test_point_layer import NODE, outages, run_layer

TIMEOUT = 30
MANAGER = Actor("manager", "manager")
# Markdown that would act rather than read as text: a link or image target, a colour directive, an
# icon. Escaped text has a backslash before the bracket or colon, which these do not match.
LIVE_MARKDOWN = {
    "link or image": re.compile(r"(?<!\\)\]\((?!/api/)"),  # our own links go to /api/
    "colour directive": re.compile(r"(?<!\\):red(?<!\\)\["),
    "icon": re.compile(r"(?<!\\):material/warning(?<!\\):"),
}
TAGS = re.compile(r"<(script|img)\b", re.IGNORECASE)


def shown_markdown(at: AppTest) -> list[str]:
    """Every Markdown source the page sent: text, captions, headings, alerts (not HTML blocks,
    in which Markdown is not read; `TAGS` is their check)."""
    elements = [m for m in at.markdown if not m.proto.allow_html]
    elements += [*at.caption, *at.title, *at.header, *at.subheader]
    elements += [*at.error, *at.warning, *at.info, *at.success]
    return [str(e.value) for e in elements]


def live_markdown(at: AppTest) -> list[tuple[str, str]]:
    return [
        (name, source)
        for source in shown_markdown(at)
        for name, pattern in LIVE_MARKDOWN.items()
        if pattern.search(source)
    ]


def hostile_names(url: str) -> None:
    """District, crew and device names as an import could bring them; the territory's name too."""
    db = get_database(url)
    with db.write() as session:
        session.execute(
            update(District).values(
                name_en=INERT_TEXT["markdown link to javascript"], name_zh=INERT_TEXT["img onerror"]
            )
        )
        session.execute(update(Crew).values(name=INERT_TEXT["img onerror"]))
        session.execute(
            update(Device)
            .where(Device.code == "TX-4")
            .values(code=INERT_TEXT["markdown image from the internet"])
        )
        set_setting(session, "territory.name_en", INERT_TEXT["streamlit markdown directives"], SYSTEM_CLOCK)


def hostile_reports(url: str, territory) -> int:
    when = (SYSTEM_CLOCK.now() - timedelta(minutes=4)).isoformat()
    reports = [
        {
            "channel": "hotline",
            "kind": "no_power",
            "account_no": territory.account_by_transformer["TX-4"][n],
            "reported_at": when,
            "description": payload,
            "contact_name": payload,
        }
        for n, payload in enumerate(list(INERT_TEXT.values())[:2])  # 2 of FU-3's 7: no roll-up
    ]
    result = submit_reports(get_database(url), SYSTEM_CLOCK, Actor("hotline", "intake"), reports)
    return result.analysis.predicted[-1]


def hostile_warning(url: str, issue: bool) -> int:
    db = get_database(url)
    now = SYSTEM_CLOCK.now()
    warning_id = execute(
        context_of(db, SYSTEM_CLOCK, MANAGER),
        CreateWarning(
            WarningInput(
                hazard="typhoon",
                level="red",
                readiness_level=1,
                title_en=INERT_TEXT["markdown image from the internet"],
                title_zh=INERT_TEXT["streamlit markdown directives"],
                text_en=INERT_TEXT["script tag"],
                text_zh=INERT_TEXT["img onerror"],
                area=DistrictsArea(("W",)),
                effective_at=now,
                expires_at=now + timedelta(hours=12),
            )
        ),
    )
    if issue:
        execute(context_of(db, SYSTEM_CLOCK, MANAGER), IssueWarning(warning_id, 1))
    return warning_id


def open_as(name: str, username: str, **state: object) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.run()
    log_in(at, username, PASSWORDS[username])
    for key, value in state.items():
        at.session_state[key] = value
    at.switch_page(page(name)).run()
    assert not at.exception, at.exception
    return at


# --- pages (AppTest) ----------------------------------------------------------------------------


def test_the_dispatcher_console_shows_hostile_names_and_reports_as_text(territory_db):
    url, territory = territory_db
    outage_id = hostile_reports(url, territory)
    hostile_names(url)

    at = open_as("dispatcher_map.py", "dispatcher", **{SELECTED_KEY: outage_id})

    assert any("pixel" in s for s in shown_markdown(at)), "the outage's device code is on the page"
    assert live_markdown(at) == []


def test_the_warnings_console_shows_hostile_titles_and_districts_as_text(territory_db):
    url, _ = territory_db
    hostile_names(url)
    hostile_warning(url, issue=True)

    at = open_as("manager_warnings.py", "manager")

    assert any("pixel" in s for s in shown_markdown(at)), "the warning's title is on the page"
    assert live_markdown(at) == []


def test_a_refused_cap_file_is_quoted_in_the_error_as_text(territory_db):
    at = open_as("manager_warnings.py", "manager")
    document = (Path(__file__).parent / "hostile-cap.xml").read_bytes()

    at.file_uploader(key="cap-upload").set_value(("alert.xml", document, "application/xml"))
    at.run()
    next(b for b in at.button if b.label == "Import").click().run()

    assert not at.exception, at.exception
    [error] = at.error
    assert "evil.example" in error.value and "not an ISO 8601 time" in error.value
    assert live_markdown(at) == []


def test_the_public_page_shows_hostile_names_and_warnings_as_text(territory_db):
    url, _ = territory_db
    hostile_names(url)
    hostile_warning(url, issue=True)
    publish.forget_cached_snapshot(get_database(url).url)
    try:
        at = AppTest.from_file(APP, default_timeout=TIMEOUT)
        at.run()
    finally:
        publish.forget_cached_snapshot(get_database(url).url)

    assert not at.exception, at.exception
    banner = next(m.value for m in at.markdown if 'role="alert"' in m.value)
    assert "&lt;script&gt;" in banner and not TAGS.search(banner)
    assert live_markdown(at) == []


# --- map layers ---------------------------------------------------------------------------------


def test_folium_layers_carry_hostile_names_escaped_in_their_html():
    square = [[[121.0, 28.0], [121.1, 28.0], [121.1, 28.1], [121.0, 28.0]]]
    features = [
        {
            "type": "Feature",
            "geometry": {"type": "Polygon", "coordinates": square},
            "properties": {"name_en": payload, "name_zh": payload, "share": 0.5, "label": payload},
        }
        for payload in INERT_TEXT.values()
    ]
    collection = {"type": "FeatureCollection", "features": features}
    fmap = folium.Map(tiles=None)
    maps.district_layer(collection, "en").add_to(fmap)
    maps.outage_area_layer(collection, ["label"], ["Area"]).add_to(fmap)

    html = fmap.get_root().render()

    for payload in INERT_TEXT.values():
        if "<" in payload or '"' in payload:
            assert payload not in html, payload


def test_point_layer_popups_show_every_payload_as_text():
    if NODE is None:
        pytest.skip("needs Node.js to run the layer's JavaScript")
    payloads = list(INERT_TEXT.values())
    columns = outages(*({"device": payload} for payload in payloads))

    drawn = run_layer(maps.outage_layer(columns, ["device"], ["Device"]))

    entities = {"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;"}
    escaped = ["".join(entities.get(c, c) for c in payload) for payload in payloads]
    assert [d["popup"] for d in drawn] == [
        f"<table><tr><th>Device</th><td>{e}</td></tr></table>" for e in escaped
    ]


# --- the static public site, in Chromium --------------------------------------------------------


@pytest.fixture
def hostile_static_site(territory_db, tmp_path) -> Iterator[str]:
    """`publish --out` of a territory with hostile names and warning, served on loopback."""
    url, _ = territory_db
    hostile_names(url)
    hostile_warning(url, issue=True)
    with get_database(url).read() as session:
        snapshot = publish.build_public_snapshot(session, SYSTEM_CLOCK, build_network_model(session))
    site = tmp_path / "site"
    write_static_site(snapshot, site, "Asia/Shanghai")
    handler = partial(QuietHandler, directory=str(site))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()
        shutil.rmtree(site, ignore_errors=True)


class QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.mark.browser
def test_the_static_site_draws_hostile_names_and_warnings_as_text(
    hostile_static_site, page, external_requests
):
    from playwright.sync_api import expect

    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))

    page.goto(hostile_static_site, wait_until="domcontentloaded")
    expect(page.locator("#warnings")).to_contain_text(
        INERT_TEXT["markdown image from the internet"], timeout=20_000
    )
    expect(page.locator("#warnings")).to_contain_text(INERT_TEXT["script tag"])
    expect(page.locator("#districts")).to_contain_text(INERT_TEXT["markdown link to javascript"])
    page.get_by_role("button", name="简体中文").click()
    expect(page.locator("#districts")).to_contain_text(INERT_TEXT["img onerror"])
    page.locator("path.leaflet-interactive").first.hover()

    assert page.locator("img[src='x']").count() == 0
    assert page.locator("#warnings script").count() == 0
    assert dialogs == []
    assert external_requests == []
