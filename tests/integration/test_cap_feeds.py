"""Watching agencies' CAP feeds, on SQLite and PostgreSQL, against a local agency (an HTTP server in a
thread): new alerts become drafts and duty notices once each, across polls, restarts and two app
processes; 304s cost nothing; unreachable feeds, bad XML, oversize documents and entity tricks are
recorded on the feed and never stop the others."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from emergency.app.bus import execute
from emergency.app.commands.cap_feeds import AddCapFeed, ChangeCapFeed, PollCapFeeds, PollReport
from emergency.app.queries import cap_feeds as queries
from emergency.core.actor import SYSTEM, Actor
from emergency.core.clock import FakeClock
from emergency.core.db import Database
from emergency.core.errors import Conflict, InvalidInput, PermissionDenied
from emergency.core.models import AuditEvent, CapFeedItem, Notification, NotificationChannel
from emergency.core.models import Warning as WarningRow
from emergency.core.settings import set_setting
from emergency.warnings.feeds import FeedInput, FeedTarget, record_alert
from tests.support.app_context import context_of
from tests.support.cap_feed_server import OUTSIDE, Agency, Document, atom_feed, cap_alert, rss_feed, serve
from tests.support.small_territory import build_small_territory

MANAGER = Actor("meng", "manager")
DISPATCHER = Actor("dai", "dispatcher")


@pytest.fixture
def territory(database: Database, clock: FakeClock) -> Any:
    return build_small_territory(database, clock)


@pytest.fixture
def agency() -> Iterator[Agency]:
    with serve(Agency()) as running:
        yield running


def add_feed(database: Database, clock: FakeClock, name: str, url: str, minutes: int = 5) -> int:
    return execute(context_of(database, clock, MANAGER), AddCapFeed(FeedInput(name, url, minutes)))


def poll(database: Database, clock: FakeClock) -> tuple[PollReport, ...]:
    return execute(context_of(database, clock, SYSTEM), PollCapFeeds("en"))


def feed_warnings(database: Database) -> list[WarningRow]:
    with database.read() as session:
        rows = session.scalars(select(WarningRow).order_by(WarningRow.id)).all()
        session.expunge_all()
        return list(rows)


def duty_notices(database: Database) -> list[Notification]:
    with database.read() as session:
        rows = session.scalars(
            select(Notification)
            .where(
                Notification.channel == NotificationChannel.DUTY, Notification.template == "cap_feed_draft"
            )
            .order_by(Notification.id)
        ).all()
        session.expunge_all()
        return list(rows)


def items(database: Database) -> dict[str, tuple[str, str | None]]:
    """Each recorded message's identifier with its outcome and reason."""
    with database.read() as session:
        return {
            i.identifier: (i.outcome, i.reason)
            for i in session.scalars(select(CapFeedItem).order_by(CapFeedItem.id))
        }


def publish(agency: Agency, feed_path: str, alerts: dict[str, bytes], etag: str | None) -> None:
    """The agency's feed now lists these alerts, each at its own address."""
    for name, body in alerts.items():
        agency.documents[f"/cap/{name}.xml"] = Document(body, "application/cap+xml")
    entries = [(f"urn:test:{n}", "2026-07-01T02:00:00Z", agency.url(f"/cap/{n}.xml")) for n in alerts]
    agency.documents[feed_path] = Document(atom_feed(entries), "application/atom+xml", etag=etag)


def test_new_alerts_become_drafts_and_notices_once_and_a_304_costs_nothing(
    database: Database, clock: FakeClock, territory: Any, agency: Agency
) -> None:
    publish(
        agency,
        "/feed.atom",
        {
            "TY-1": cap_alert("TY-1", headline="Typhoon red warning"),
            "TY-2": cap_alert("TY-2", headline="Gale orange warning", sent="2026-07-01T10:05:00+08:00"),
            "FAR-1": cap_alert("FAR-1", polygon=OUTSIDE),
            "DRILL-1": cap_alert("DRILL-1", status="Test"),
        },
        etag='"v1"',
    )
    feed_id = add_feed(database, clock, "Lanhai meteo", agency.url("/feed.atom"))

    (report,) = poll(database, clock)

    assert (report.result, report.alerts, len(report.drafts)) == ("ok", 4, 2)
    drafts = feed_warnings(database)
    assert [(w.title_en, str(w.status), w.source, w.created_by) for w in drafts] == [
        ("Typhoon red warning", "draft", "cap_import", "cap-feed"),
        ("Gale orange warning", "draft", "cap_import", "cap-feed"),
    ]
    outcomes = items(database)
    assert outcomes["TY-1"][0] == outcomes["TY-2"][0] == "imported"
    assert outcomes["FAR-1"][0] == "refused" and "outside the territory" in str(outcomes["FAR-1"][1])
    assert outcomes["DRILL-1"] == ("skipped", "status Test: only Actual messages become drafts")
    notices = duty_notices(database)
    assert [(n.recipient, n.subject_id) for n in notices] == [("duty-manager", w.id) for w in drafts]
    assert "Lanhai meteo" in notices[0].body and "订阅源" in notices[0].body

    # Not due yet: the agency is not asked.
    clock.advance(minutes=2)
    assert poll(database, clock) == ()
    assert agency.fetched("/feed.atom") == 1

    # Due: asked with the ETag it gave, it answers 304 and nothing is fetched or made.
    clock.advance(minutes=4)
    (report,) = poll(database, clock)
    assert report.result == "not_modified"
    assert agency.requests[-1] == ("/feed.atom", '"v1"')
    assert agency.fetched("/cap/TY-1.xml") == 1
    assert len(feed_warnings(database)) == 2 and len(duty_notices(database)) == 2
    (row,) = queries.feed_rows(context_of(database, clock, MANAGER))
    assert (row.id, row.last_result, row.alerts_seen, row.drafts_made) == (feed_id, "not_modified", 4, 2)
    assert row.next_poll_at == clock.now() + timedelta(minutes=5)
    banner = queries.new_feed_drafts(context_of(database, clock, MANAGER))
    assert [(b.feed_name, b.warning_ids) for b in banner] == [("Lanhai meteo", tuple(w.id for w in drafts))]


def test_a_changed_feed_brings_only_its_new_alert_across_a_restart(
    database: Database, clock: FakeClock, territory: Any, agency: Agency
) -> None:
    first = {"TY-1": cap_alert("TY-1")}
    publish(agency, "/feed.atom", first, etag='"v1"')
    add_feed(database, clock, "Lanhai meteo", agency.url("/feed.atom"))
    poll(database, clock)

    # The app restarts (a new process on the same database) and the agency adds an alert.
    restarted = Database(database.url)
    try:
        publish(
            agency,
            "/feed.atom",
            {**first, "TY-2": cap_alert("TY-2", sent="2026-07-01T11:00:00+08:00")},
            etag='"v2"',
        )
        clock.advance(minutes=5)
        (report,) = poll(restarted, clock)
    finally:
        restarted.dispose()

    assert (report.result, report.alerts, len(report.drafts)) == ("ok", 1, 1)
    assert agency.fetched("/cap/TY-1.xml") == 1  # already recorded: not fetched again
    assert sorted(items(database)) == ["TY-1", "TY-2"]
    assert len(feed_warnings(database)) == 2 and len(duty_notices(database)) == 2


def test_two_processes_polling_feeds_that_share_alerts_import_each_once(
    database: Database, clock: FakeClock, territory: Any, agency: Agency
) -> None:
    """The same alerts in a national and a regional feed, polled by two app processes at once."""
    alerts = {f"TY-{n}": cap_alert(f"TY-{n}", sent=f"2026-07-01T10:0{n}:00+08:00") for n in range(4)}
    for path in ("/national.atom", "/regional.atom"):
        publish(agency, path, alerts, etag=None)
    add_feed(database, clock, "National", agency.url("/national.atom"))
    add_feed(database, clock, "Regional", agency.url("/regional.atom"))
    start = threading.Barrier(2)
    results: list[tuple[PollReport, ...]] = []
    failures: list[BaseException] = []

    def app_process() -> None:
        own = Database(database.url)
        try:
            start.wait()
            results.append(poll(own, clock))
        except BaseException as error:  # reported below, in the test's thread
            failures.append(error)
        finally:
            own.dispose()

    threads = [threading.Thread(target=app_process) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)

    assert not failures, failures
    polled = sorted(report.feed_id for reports in results for report in reports)
    assert len(polled) == 2 and len(set(polled)) == 2  # each feed claimed by one process
    assert sorted(items(database)) == sorted(alerts)
    warnings = feed_warnings(database)
    assert sorted(w.cap_identifier for w in warnings) == sorted(alerts)
    assert sorted(n.subject_id for n in duty_notices(database)) == sorted(w.id for w in warnings)


def test_unreachable_bad_oversize_and_entity_feeds_are_recorded_and_the_others_still_polled(
    database: Database, clock: FakeClock, territory: Any, agency: Agency
) -> None:
    laughs = (
        b'<?xml version="1.0"?><!DOCTYPE feed [<!ENTITY a "ha"><!ENTITY b "&a;&a;&a;&a;">]>'
        b'<feed xmlns="http://www.w3.org/2005/Atom">&b;</feed>'
    )
    agency.documents["/laughs.atom"] = Document(laughs)
    agency.documents["/broken.atom"] = Document(b"<feed><entry>")
    agency.documents["/huge.atom"] = Document(b"<feed>" + b" " * 300_000 + b"</feed>")
    agency.documents["/error.atom"] = Document(b"busy", status=503)
    agency.documents["/not-a-feed.xml"] = Document(b"<html><body>hello</body></html>")
    agency.documents["/cap/big.xml"] = Document(cap_alert("BIG-1").replace(b"Gusts", b"G" * 300_000))
    agency.documents["/cap/TY-1.xml"] = Document(cap_alert("TY-1"))
    agency.documents["/hub.rss"] = Document(
        rss_feed([agency.url("/cap/big.xml"), agency.url("/cap/TY-1.xml")])
    )
    with database.write() as session:
        set_setting(session, "capfeed.max_feed_bytes", 200_000, clock)
        set_setting(session, "warnings.max_upload_bytes", 200_000, clock)
    names = {
        "laughs": "/laughs.atom",
        "broken": "/broken.atom",
        "huge": "/huge.atom",
        "error": "/error.atom",
        "html": "/not-a-feed.xml",
        "missing": "/gone.atom",
        "hub": "/hub.rss",
    }
    ids = {name: add_feed(database, clock, name, agency.url(path)) for name, path in names.items()}
    # Nothing listens on this port once the probe socket is closed.
    ids["down"] = add_feed(database, clock, "down", "http://127.0.0.1:9/feed.atom")

    reports = {r.feed_id: r for r in poll(database, clock)}

    by_name = {name: reports[feed_id] for name, feed_id in ids.items()}
    assert {name: r.result for name, r in by_name.items()} == {
        "laughs": "error",
        "broken": "error",
        "huge": "error",
        "error": "error",
        "html": "error",
        "missing": "error",
        "down": "error",
        "hub": "partial",
    }
    assert "DTD or entities" in str(by_name["laughs"].error)
    assert "not well-formed" in str(by_name["broken"].error)
    assert "larger than 195 KiB" in str(by_name["huge"].error)
    assert "HTTP 503" in str(by_name["error"].error)
    assert "not an Atom or RSS feed" in str(by_name["html"].error)
    assert "HTTP 404" in str(by_name["missing"].error)
    assert "unreachable" in str(by_name["down"].error)
    assert "big.xml" in str(by_name["hub"].error) and "larger than" in str(by_name["hub"].error)
    # The readable alert of the hub's feed became a draft all the same.
    assert [w.cap_identifier for w in feed_warnings(database)] == ["TY-1"]
    rows = {row.name: row for row in queries.feed_rows(context_of(database, clock, MANAGER))}
    assert rows["huge"].last_result == "error" and "larger than" in str(rows["huge"].last_error)
    assert rows["hub"].last_success_at == clock.now() and rows["down"].last_success_at is None

    # The unreadable alert is retried on the next poll (the feed's validators were not kept), once fixed.
    agency.documents["/cap/big.xml"] = Document(cap_alert("BIG-1"))
    clock.advance(minutes=5)
    reports = {r.feed_id: r for r in poll(database, clock)}
    assert (reports[ids["hub"]].result, reports[ids["hub"]].alerts) == ("ok", 1)
    assert agency.fetched("/cap/TY-1.xml") == 1


def test_only_managers_configure_feeds_and_only_http_addresses(database: Database, clock: FakeClock) -> None:
    manager = context_of(database, clock, MANAGER)
    with pytest.raises(PermissionDenied):
        execute(context_of(database, clock, DISPATCHER), AddCapFeed(FeedInput("x", "https://a.example/f", 5)))
    for url in ("file:///etc/passwd", "ftp://a.example/f", "https://user:pw@a.example/f", "a.example/feed"):
        with pytest.raises(InvalidInput):
            execute(manager, AddCapFeed(FeedInput("x", url, 5)))
    with pytest.raises(InvalidInput):
        execute(manager, AddCapFeed(FeedInput("x", "https://a.example/f", 0)))
    feed_id = execute(manager, AddCapFeed(FeedInput("NWS", "https://a.example/f", 5)))
    with pytest.raises(Conflict):
        execute(manager, AddCapFeed(FeedInput("again", "https://a.example/f", 5)))

    execute(
        manager, ChangeCapFeed(feed_id, 1, FeedInput("NWS east", "https://a.example/f", 10, enabled=False))
    )
    with pytest.raises(Conflict):  # the version the manager saw is gone
        execute(manager, ChangeCapFeed(feed_id, 1, FeedInput("NWS", "https://a.example/f", 5)))
    (row,) = queries.feed_rows(manager)
    assert (row.name, row.interval_minutes, row.enabled, row.version) == ("NWS east", 10, False, 2)
    assert poll(database, clock) == ()  # a switched-off feed is not polled
    with database.read() as session:
        actions = session.scalars(
            select(AuditEvent.action).where(AuditEvent.entity == "cap_feed").order_by(AuditEvent.id)
        ).all()
    assert actions == ["capfeed.add", "capfeed.change"]


def test_an_agency_update_and_cancel_change_the_draft_made_from_its_alert(
    database: Database, clock: FakeClock, territory: Any, agency: Agency
) -> None:
    sender = "meteo@lanhai.example"
    first = cap_alert("TY-1", headline="Typhoon orange warning")
    update = cap_alert(
        "TY-1-U",
        msg_type="Update",
        sent="2026-07-01T12:00:00+08:00",
        references=f"{sender},TY-1,2026-07-01T10:00:00+08:00",
        headline="Typhoon red warning",
    )
    cancel = cap_alert(
        "TY-1-C",
        msg_type="Cancel",
        sent="2026-07-01T14:00:00+08:00",
        references=f"{sender},TY-1-U,2026-07-01T12:00:00+08:00",
        headline="Typhoon warning cancelled",
    )
    publish(agency, "/feed.atom", {"TY-1": first}, etag='"v1"')
    add_feed(database, clock, "Lanhai meteo", agency.url("/feed.atom"))
    poll(database, clock)
    publish(agency, "/feed.atom", {"TY-1": first, "TY-1-U": update}, etag='"v2"')
    clock.advance(minutes=5)
    poll(database, clock)

    (draft,) = feed_warnings(database)
    assert (str(draft.status), draft.title_en) == ("draft", "Typhoon red warning")

    publish(agency, "/feed.atom", {"TY-1": first, "TY-1-U": update, "TY-1-C": cancel}, etag='"v3"')
    clock.advance(minutes=5)
    poll(database, clock)
    clock.advance(minutes=5)
    poll(database, clock)  # nothing new: each message was taken once

    (draft,) = feed_warnings(database)
    assert str(draft.status) in ("discarded", "cancelled")
    assert sorted(items(database)) == ["TY-1", "TY-1-C", "TY-1-U"]
    # Every notice about the agency's three messages is about the one draft they made and changed.
    assert {n.subject_id for n in duty_notices(database)} == {draft.id}


def test_a_message_two_processes_record_at_the_same_moment_is_imported_by_one(
    database: Database, clock: FakeClock, territory: Any
) -> None:
    """The second insert waits for the first transaction, then meets the unique key and steps aside."""
    feed_id = add_feed(database, clock, "Lanhai meteo", "https://meteo.example/feed.atom")
    target = FeedTarget(feed_id, "Lanhai meteo", "https://meteo.example/feed.atom", None, None)
    message = cap_alert("TY-1")
    other = Database(database.url)
    second: list[object] = []
    try:
        with database.write() as session:
            first = record_alert(session, clock, target, "entry", message, language="en")

            def other_process() -> None:
                with other.write() as own:
                    second.append(record_alert(own, clock, target, "entry", message, language="en"))

            racer = threading.Thread(target=other_process)
            racer.start()
            racer.join(0.5)
            assert racer.is_alive(), "the second process must wait for the first one's transaction"
        racer.join(30)
    finally:
        other.dispose()

    assert first is not None and first.outcome == "imported"
    assert second == [None]
    assert len(feed_warnings(database)) == 1 and len(duty_notices(database)) == 1
