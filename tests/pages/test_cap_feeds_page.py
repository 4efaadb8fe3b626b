"""The CAP feeds page and the Warnings page's banner through the real entry script (AppTest)."""

from __future__ import annotations

from streamlit.testing.v1 import AppTest

from emergency.app.bus import execute
from emergency.app.commands.cap_feeds import AddCapFeed, PollCapFeeds
from emergency.app.queries import cap_feeds as queries
from emergency.core.actor import SYSTEM, Actor
from emergency.core.clock import SYSTEM_CLOCK
from emergency.core.db import get_database
from emergency.warnings.feeds import FeedInput
from tests.pages.conftest import APP, page
from tests.pages.test_access import log_in, texts
from tests.support.app_context import context_of
from tests.support.cap_feed_server import Agency, Document, atom_feed, cap_alert, serve
from tests.support.small_territory import PASSWORDS

TIMEOUT = 30
MANAGER = Actor("manager", "manager")


def open_page(name: str) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.run()
    log_in(at, "manager", PASSWORDS["manager"])
    at.switch_page(page(name)).run()
    assert not at.exception, at.exception
    return at


def test_a_draft_from_a_feed_is_announced_on_the_warnings_page_and_the_feed_shows_its_health(territory_db):
    url, _ = territory_db
    db = get_database(url)
    with serve(Agency()) as agency:
        # Sent a moment ago: the importer refuses an alert already expired.
        sent = SYSTEM_CLOCK.now().replace(microsecond=0).isoformat()
        agency.documents["/cap/TY-1.xml"] = Document(cap_alert("TY-1", sent=sent))
        entries = [("urn:TY-1", "2026-07-01T02:00:00Z", agency.url("/cap/TY-1.xml"))]
        agency.documents["/feed.atom"] = Document(atom_feed(entries))
        execute(
            context_of(db, SYSTEM_CLOCK, MANAGER),
            AddCapFeed(FeedInput("Lanhai *meteo*", agency.url("/feed.atom"), 5)),
        )
        execute(
            context_of(db, SYSTEM_CLOCK, MANAGER), AddCapFeed(FeedInput("Dead", "http://127.0.0.1:9/x", 5))
        )
        execute(context_of(db, SYSTEM_CLOCK, SYSTEM), PollCapFeeds("en"))
    (drafts,) = queries.new_feed_drafts(context_of(db, SYSTEM_CLOCK, MANAGER))

    warnings_page = open_page("manager_warnings.py")
    banner = [w.value for w in warnings_page.warning]
    # The feed's name is the manager's own text: shown literally, not as markdown.
    assert f"1 new draft warning(s) from Lanhai \\*meteo\\* (#{drafts.warning_ids[0]})" in banner[0]

    feeds_page = open_page("manager_cap_feeds.py")
    shown = texts(feeds_page)
    assert "Feed Dead is failing: unreachable" in shown
    table = feeds_page.dataframe[0].value
    assert list(table["Name"]) == ["Dead", "Lanhai *meteo*"]
    assert list(table["Drafts made"]) == [0, 1]
    assert list(feeds_page.dataframe[1].value["Outcome"]) == ["draft made"]


def test_a_manager_adds_a_feed_and_a_wrong_address_is_refused_with_its_reason(territory_db):
    url, _ = territory_db
    at = open_page("manager_cap_feeds.py")
    assert "No feeds are watched yet" in texts(at)
    at.text_input[0].input("NWS")
    at.text_input[1].input("file:///etc/passwd")
    at.button[0].click().run()
    # The refusal quotes the service's reason, escaped for markdown.
    assert r"Not done: url\: only http\:// and https\:// feed addresses are watched" in texts(at)
    at.text_input[0].input("NWS")
    at.text_input[1].input("https://alerts.example/feed.atom")
    at.button[0].click().run()
    assert not at.exception, at.exception
    (row,) = queries.feed_rows(context_of(get_database(url), SYSTEM_CLOCK, MANAGER))
    assert (row.name, row.url, row.interval_minutes, row.enabled) == (
        "NWS",
        "https://alerts.example/feed.atom",
        5,
        True,
    )
