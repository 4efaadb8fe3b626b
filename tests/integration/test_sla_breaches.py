"""Breaches stay breached: recorded once, told to the duty manager once, kept after the outage moves on.

Outages come from reports through `submit_reports` on the small territory (TX-1 is in the urban
West Town). Runs on SQLite and PostgreSQL (the `database` fixture).
"""

from __future__ import annotations

import threading
import time
from datetime import timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select, update

from emergency.core.actor import Actor
from emergency.core.clock import FakeClock
from emergency.core.db import Database
from emergency.core.models import (
    AuditEvent,
    Device,
    Feedback,
    FeedbackKind,
    FeedbackStatus,
    Notification,
    Outage,
    OutageState,
    SlaBreach,
)
from emergency.dispatch import sla
from emergency.dispatch.sla import ClockState, breaches_for, load_targets, outage_clocks, record_breaches
from tests.support.commands import submit_reports
from tests.support.dispatch_actions import restore_outage
from tests.support.small_territory import SmallTerritory, build_small_territory

HOTLINE = Actor("hotline-gateway", "intake")
DISPATCHER = Actor("dispatcher", "dispatcher")
SHANGHAI = ZoneInfo("Asia/Shanghai")


@pytest.fixture
def territory(database: Database, clock: FakeClock) -> SmallTerritory:
    return build_small_territory(database, clock)


@pytest.fixture
def outage_id(database: Database, clock: FakeClock, territory: SmallTerritory) -> int:
    """An outage on TX-1, predicted from two calls made now."""
    calls = [
        {
            "channel": "hotline",
            "kind": "no_power",
            "account_no": territory.account_by_transformer["TX-1"][n],
            "reported_at": clock.now().isoformat(),
        }
        for n in range(2)
    ]
    result = submit_reports(database, clock, HOTLINE, calls)
    assert result.analysis is not None and len(result.analysis.predicted) == 1
    return result.analysis.predicted[0]


def monitor(database: Database, clock: FakeClock, language: str = "zh") -> list[SlaBreach]:
    with database.write() as session:
        return record_breaches(session, clock, tz=SHANGHAI, language=language)


def count(database: Database, model: Any, *where: Any) -> int:
    with database.read() as session:
        return int(session.scalar(select(func.count()).select_from(model).where(*where)) or 0)


def test_a_dispatch_clock_past_ten_minutes_is_recorded_and_told_once(
    database: Database, clock: FakeClock, outage_id: int
) -> None:
    clock.advance(minutes=10)
    assert monitor(database, clock) == [], "exactly at the limit is on time"

    clock.advance(seconds=1)
    recorded = monitor(database, clock)

    assert [(b.subject_kind, b.subject_id, b.code) for b in recorded] == [
        ("outage", outage_id, "outage_dispatch")
    ]
    assert recorded[0].deadline == clock.now() - timedelta(seconds=1)
    assert recorded[0].breached_at == recorded[0].notified_at == clock.now()
    with database.read() as session:
        notification = session.scalars(select(Notification)).one()
        event = session.scalars(select(AuditEvent).where(AuditEvent.action == "sla.breach")).one()
    assert (notification.channel, notification.recipient, notification.template) == (
        "duty",
        "duty-manager",
        "sla_breach",
    )
    assert (notification.subject_kind, notification.subject_id) == ("outage", outage_id)
    assert notification.dedupe_key == f"sla:outage:{outage_id}:outage_dispatch"
    assert notification.language == "zh" and notification.status == "pending"
    zh, en = notification.body.split("\n")
    assert f"停电事件 #{outage_id}" in zh and "抢修派工" in zh and "1秒" in zh
    assert en == (
        f"SLA breach: Outage #{outage_id}, Crew dispatched, overdue by 1 s (deadline 2026-07-01 10:10:00)"
    )
    assert (event.actor, event.actor_role, event.entity, event.entity_id) == (
        "sla-monitor",
        "system",
        "outage",
        str(outage_id),
    )
    assert event.after == {
        "code": "outage_dispatch",
        "state": "breached",
        "deadline": recorded[0].deadline.isoformat(),
        "overrun_seconds": 1,
    }

    clock.advance(minutes=5)
    assert monitor(database, clock) == [], "a breach is recorded once"
    assert count(database, SlaBreach) == 1
    assert count(database, Notification) == 1
    assert count(database, AuditEvent, AuditEvent.action == "sla.breach") == 1


def test_the_breach_stays_after_the_outage_is_dispatched_and_restored(
    database: Database, clock: FakeClock, outage_id: int
) -> None:
    clock.advance(minutes=11)
    monitor(database, clock)
    clock.advance(minutes=1)
    with database.write() as session:
        outage = session.get(Outage, outage_id)
        assert outage is not None
        outage.state = OutageState.DISPATCHED
        outage.dispatched_at = clock.now()

    assert monitor(database, clock) == []
    with database.read() as session:
        outage = session.get(Outage, outage_id)
        clocks = {
            c.code: c for c in outage_clocks(outage, load_targets(session), clock.now(), sla.DEFAULT_AT_RISK)
        }
        kept = breaches_for(session, "outage", [outage_id, outage_id + 1000])
    assert clocks["outage_dispatch"].state == ClockState.MISSED
    assert [b.code for b in kept[outage_id]] == ["outage_dispatch"]
    assert kept[outage_id + 1000] == []

    restore_outage(database, clock, DISPATCHER, outage_id)
    clock.advance(hours=3)

    assert monitor(database, clock) == [], "a restored outage's clocks are no longer watched"
    with database.read() as session:
        assert [b.code for b in breaches_for(session, "outage", [outage_id])[outage_id]] == [
            "outage_dispatch"
        ]


def test_later_clocks_breach_in_turn_and_reference_targets_never_do(
    database: Database, clock: FakeClock, outage_id: int
) -> None:
    clock.advance(minutes=12)
    monitor(database, clock, language="en")
    clock.advance(hours=2)  # past the 30-minute clock and State Grid's 45-minute urban average

    recorded = monitor(database, clock, language="en")

    assert [b.code for b in recorded] == ["outage_on_site"]
    with database.read() as session:
        codes = [b.code for b in breaches_for(session, "outage", [outage_id])[outage_id]]
        bodies = session.scalars(select(Notification.body).order_by(Notification.id)).all()
    assert codes == ["outage_dispatch", "outage_on_site"]
    assert all(body.startswith("SLA breach: Outage") for body in bodies), "English first for an en desk"


def add_feedback(database: Database, clock: FakeClock, reference: str, **fields: Any) -> int:
    values: dict[str, Any] = {
        "reference": reference,
        "kind": FeedbackKind.COMPLAINT,
        "text": "No one called back about the outage",
        "submitted_at": clock.now(),
    }
    values.update(fields)
    with database.write() as session:
        item = Feedback(**values)
        session.add(item)
        session.flush()
        return item.id


def test_an_unanswered_complaint_breaches_its_response_clock(
    database: Database, clock: FakeClock, territory: SmallTerritory
) -> None:
    open_id = add_feedback(database, clock, "FB-1")
    add_feedback(database, clock, "FB-2", status=FeedbackStatus.CLOSED)
    clock.advance(hours=2)
    assert monitor(database, clock) == []

    clock.advance(seconds=1)
    recorded = monitor(database, clock)

    assert [(b.subject_kind, b.subject_id, b.code) for b in recorded] == [
        ("feedback", open_id, "complaint_response")
    ], "a closed complaint is not watched"
    with database.read() as session:
        notification = session.scalars(select(Notification)).one()
    assert notification.dedupe_key == f"sla:feedback:{open_id}:complaint_response"
    assert f"投诉 FB-1 (#{open_id})" in notification.body


def test_a_breach_another_process_recorded_first_is_skipped(
    database: Database, clock: FakeClock, outage_id: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock.advance(minutes=11)
    monitor(database, clock)
    # As if the other process committed between this one's look at the table and its insert.
    monkeypatch.setattr(sla, "_recorded", lambda session, breached: set())
    clock.advance(minutes=20)  # the on-site clock breaches too: it must still be recorded

    recorded = monitor(database, clock)

    assert [b.code for b in recorded] == ["outage_on_site"]
    assert count(database, SlaBreach) == 2
    assert count(database, Notification) == 2
    assert count(database, AuditEvent, AuditEvent.action == "sla.breach") == 2


def test_two_monitors_at_once_record_a_breach_once(
    database: Database, clock: FakeClock, outage_id: int
) -> None:
    clock.advance(minutes=11)
    first_holds_its_transaction = threading.Event()
    let_first_commit = threading.Event()
    results: dict[str, list[SlaBreach]] = {}
    errors: list[BaseException] = []

    def first() -> None:
        try:
            with database.write() as session:
                results["first"] = record_breaches(session, clock, tz=SHANGHAI, language="zh")
                first_holds_its_transaction.set()
                let_first_commit.wait(timeout=10)
        except BaseException as error:  # reported by the main thread, not lost in this one
            errors.append(error)
            first_holds_its_transaction.set()

    def second() -> None:
        try:
            results["second"] = monitor(database, clock)
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    threads[0].start()
    assert first_holds_its_transaction.wait(timeout=10)
    threads[1].start()
    time.sleep(0.2)  # let the second monitor reach the row the first one holds
    let_first_commit.set()
    for thread in threads:
        thread.join(timeout=20)

    assert errors == []
    assert [len(results["first"]), len(results["second"])] == [1, 0]
    assert count(database, SlaBreach) == 1
    assert count(database, Notification) == 1
    assert count(database, AuditEvent, AuditEvent.action == "sla.breach") == 1


def test_a_breach_moves_with_its_outage_into_a_larger_one(
    database: Database, clock: FakeClock, territory: SmallTerritory, outage_id: int
) -> None:
    clock.advance(minutes=11)
    assert len(monitor(database, clock)) == 1

    # Two meters under TX-2 go dark too: FU-1 now has two children out and takes TX-1's outage over.
    gasps = [
        {"channel": "meter", "kind": "last_gasp", "account_no": territory.account_by_transformer["TX-2"][n]}
        for n in range(2)
    ]
    result = submit_reports(database, clock, HOTLINE, gasps)
    assert outage_id in result.analysis.merged
    fuse_outage = next(i for i in result.analysis.predicted if i not in result.analysis.merged)

    assert monitor(database, clock) == [], "the merged outage's breach is the same lateness"
    with database.read() as session:
        carried = breaches_for(session, "outage", [fuse_outage])[fuse_outage]
    assert [b.code for b in carried] == ["outage_dispatch"]
    assert count(database, Notification) == 1


def test_a_breach_carried_twice_in_one_batch_reaches_the_outage_that_takes_everything_over(
    database: Database, clock: FakeClock, territory: SmallTerritory, outage_id: int
) -> None:
    clock.advance(minutes=11)
    assert len(monitor(database, clock)) == 1

    # REC-1's telemetry is lost, so nothing stops a roll-up at it. In one batch: TX-2 goes dark
    # (FU-1 takes TX-1's outage over) and so does TX-3, FU-2's only transformer; with both its
    # fuses out REC-1 takes FU-1's outage over in turn, before the breach carried into FU-1's
    # outage has been written.
    with database.write() as session:
        session.execute(update(Device).where(Device.code == "REC-1").values(scada_state=None))
    gasps = [
        {"channel": "meter", "kind": "last_gasp", "account_no": territory.account_by_transformer[tx][n]}
        for tx, n in (("TX-2", 0), ("TX-2", 1), ("TX-3", 0))
    ]
    result = submit_reports(database, clock, HOTLINE, gasps)
    assert outage_id in result.analysis.merged
    (survivor,) = [i for i in result.analysis.predicted if i not in result.analysis.merged]

    assert monitor(database, clock) == [], "the surviving outage's breach is the same lateness"
    with database.read() as session:
        carried = breaches_for(session, "outage", [survivor])[survivor]
        survivor_device = session.get(Outage, survivor).device.code
    assert survivor_device == "REC-1"
    assert [b.code for b in carried] == ["outage_dispatch"]
