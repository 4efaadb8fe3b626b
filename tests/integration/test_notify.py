"""Customer notifications: what each outage event queues, for whom, and never twice (SQLite and PostgreSQL).

Outages come from hotline reports through `submit_reports` on the small territory and move on
through the public services (confirm, dispatch, set ETR, restore). TX-4 feeds 5 customers; FU-1
feeds TX-1 (3 customers) and TX-2 (4 customers).
"""

from __future__ import annotations

import threading
import time
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select, update

from emergency.core.actor import Actor
from emergency.core.clock import FakeClock
from emergency.core.db import Database
from emergency.core.models import (
    Crew,
    Customer,
    Notification,
    NotificationChannel,
    NotificationStatus,
    Outage,
)
from emergency.core.settings import set_setting
from emergency.dispatch.outages import record_restoration
from emergency.public.notify import deliver_pending, notify_outage_changes, run_notifications
from emergency.public.senders import Delivery, OutgoingMessage, WebhookSender
from tests.support.commands import submit_reports
from tests.support.dispatch_actions import (
    cancel_outage,
    confirm_outage,
    dispatch_crew,
    restore_outage,
    set_etr,
)
from tests.support.small_territory import SmallTerritory, build_small_territory
from tests.unit.test_notify_senders import Gateway

HOTLINE = Actor("hotline-gateway", "intake")
DISPATCHER = Actor("dispatcher", "dispatcher")
SHANGHAI = ZoneInfo("Asia/Shanghai")


@pytest.fixture
def territory(database: Database, clock: FakeClock) -> SmallTerritory:
    return build_small_territory(database, clock)


def report_out(database: Database, clock: FakeClock, territory: SmallTerritory, *transformers: str) -> Any:
    """Two no-power calls from each transformer named, made now."""
    calls = [
        {
            "channel": "hotline",
            "kind": "no_power",
            "account_no": territory.account_by_transformer[tx][n],
            "reported_at": clock.now().isoformat(),
        }
        for tx in transformers
        for n in range(2)
    ]
    result = submit_reports(database, clock, HOTLINE, calls)
    assert result.analysis is not None
    return result.analysis


def outage_on(database: Database, clock: FakeClock, territory: SmallTerritory, *transformers: str) -> int:
    analysis = report_out(database, clock, territory, *transformers)
    standing = [o for o in analysis.predicted if o not in analysis.merged]
    assert len(standing) == 1, analysis.summary()
    return standing[0]


def sweep(database: Database, clock: FakeClock) -> Any:
    return notify_outage_changes(database, clock, tz=SHANGHAI)


def messages(database: Database, template: str | None = None) -> list[Notification]:
    with database.read() as session:
        query = select(Notification).order_by(Notification.id)
        if template is not None:
            query = query.where(Notification.template == template)
        return list(session.scalars(query))


def customers_of(database: Database, territory: SmallTerritory, *transformers: str) -> dict[int, Customer]:
    ids = [territory.device_ids[tx] for tx in transformers]
    with database.read() as session:
        return {c.id: c for c in session.scalars(select(Customer).where(Customer.transformer_id.in_(ids)))}


def dispatch(database: Database, clock: FakeClock, territory: SmallTerritory, outage_id: int) -> None:
    crew_id = territory.crew_ids["C1"]
    with database.read() as session:
        version = session.get(Crew, crew_id).version
    dispatch_crew(database, clock, DISPATCHER, outage_id, crew_id, crew_version=version)


def test_a_predicted_outage_stays_quiet_and_a_confirmed_one_tells_each_customer_once(
    database: Database, clock: FakeClock, territory: SmallTerritory
) -> None:
    outage_id = outage_on(database, clock, territory, "TX-4")
    assert sweep(database, clock).total == 0, "an unconfirmed prediction may be a false alarm"

    clock.advance(minutes=2)
    confirm_outage(database, clock, DISPATCHER, outage_id)
    summary = sweep(database, clock)

    customers = customers_of(database, territory, "TX-4")
    queued = messages(database)
    assert summary.queued == {"acknowledged": 5}
    assert {m.customer_id for m in queued} == set(customers)
    for message in queued:
        customer = customers[message.customer_id]
        assert message.recipient == customer.phone
        assert message.channel == NotificationChannel.SMS
        assert message.status == NotificationStatus.PENDING
        assert message.language == "zh"
        assert message.template == "outage_acknowledged"
        assert message.dedupe_key == f"outage:{outage_id}:acknowledged:{customer.id}"
        assert f"事件{outage_id}" in message.body and "停电已确认" in message.body
        for private in (customer.name, customer.account_no, customer.address, customer.phone):
            assert private not in message.body


def test_dispatch_queues_crew_dispatched_and_the_system_etr_in_local_time(
    database: Database, clock: FakeClock, territory: SmallTerritory
) -> None:
    outage_id = outage_on(database, clock, territory, "TX-4")
    confirm_outage(database, clock, DISPATCHER, outage_id)
    sweep(database, clock)
    clock.advance(minutes=3)

    dispatch(database, clock, territory, outage_id)
    summary = sweep(database, clock)

    assert summary.queued == {"dispatched": 5, "etr": 5}
    with database.read() as session:
        etr_at = session.get(Outage, outage_id).etr_at
    local = etr_at.astimezone(SHANGHAI)
    expected = f"{local.month}月{local.day}日{local:%H:%M}"
    assert all(expected in m.body for m in messages(database, "outage_etr"))
    assert all("抢修人员已出发" in m.body for m in messages(database, "outage_dispatched"))


def test_confirmed_and_dispatched_between_two_sweeps_sends_only_the_latest_stage(
    database: Database, clock: FakeClock, territory: SmallTerritory
) -> None:
    outage_id = outage_on(database, clock, territory, "TX-4")
    confirm_outage(database, clock, DISPATCHER, outage_id)
    clock.advance(minutes=1)
    dispatch(database, clock, territory, outage_id)

    assert sweep(database, clock).queued == {"dispatched": 5, "etr": 5}
    assert messages(database, "outage_acknowledged") == []


def test_rerunning_the_sweep_never_queues_a_message_twice(
    database: Database, clock: FakeClock, territory: SmallTerritory
) -> None:
    outage_id = outage_on(database, clock, territory, "TX-4")
    confirm_outage(database, clock, DISPATCHER, outage_id)
    assert sweep(database, clock).total == 5

    assert sweep(database, clock).total == 0
    with database.write() as session:  # a lost watermark: the sweep looks at everything again
        set_setting(session, "notify.watermark", None, clock)
    clock.advance(seconds=30)
    assert sweep(database, clock).total == 0
    assert len(messages(database)) == 5


def test_etr_changes_are_throttled_per_customer_and_the_newest_one_is_sent(
    database: Database, clock: FakeClock, territory: SmallTerritory
) -> None:
    outage_id = outage_on(database, clock, territory, "TX-4")
    confirm_outage(database, clock, DISPATCHER, outage_id)
    start = clock.now()

    def etr(hours: float) -> datetime:
        return start + timedelta(hours=hours)

    set_etr(database, clock, DISPATCHER, outage_id, etr(2), "medium", "dispatcher")
    assert sweep(database, clock).queued == {"acknowledged": 5, "etr": 5}

    clock.advance(minutes=10)
    set_etr(database, clock, DISPATCHER, outage_id, etr(3), "medium", "dispatcher")
    held = sweep(database, clock)
    assert held.total == 0 and held.throttled == 5

    clock.advance(minutes=10)
    set_etr(database, clock, DISPATCHER, outage_id, etr(4), "high", "crew")
    assert sweep(database, clock).throttled == 5

    clock.advance(minutes=9)  # 29 minutes after the first ETR message
    assert sweep(database, clock).total == 0
    clock.advance(minutes=1, seconds=1)
    assert sweep(database, clock).queued == {"etr": 5}

    told = [m.body for m in messages(database, "outage_etr")]
    assert len(told) == 10
    newest = etr(4).astimezone(SHANGHAI).strftime("%H:%M")
    skipped = etr(3).astimezone(SHANGHAI).strftime("%H:%M")
    assert sum(newest in body for body in told) == 5
    assert not any(skipped in body for body in told)


def test_an_etr_already_past_is_never_sent(
    database: Database, clock: FakeClock, territory: SmallTerritory
) -> None:
    outage_id = outage_on(database, clock, territory, "TX-4")
    confirm_outage(database, clock, DISPATCHER, outage_id)
    set_etr(database, clock, DISPATCHER, outage_id, clock.now() + timedelta(minutes=20), "low", "dispatcher")
    sweep(database, clock)
    clock.advance(minutes=5)
    set_etr(database, clock, DISPATCHER, outage_id, clock.now() + timedelta(minutes=20), "low", "dispatcher")
    assert sweep(database, clock).throttled == 5

    clock.advance(minutes=30)  # the held ETR has passed by the time the interval allows a message
    assert sweep(database, clock).total == 0
    assert len(messages(database, "outage_etr")) == 5


def test_restoration_tells_everyone_and_asks_whoever_is_still_out_to_reply_or_call(
    database: Database, clock: FakeClock, territory: SmallTerritory
) -> None:
    outage_id = outage_on(database, clock, territory, "TX-4")
    confirm_outage(database, clock, DISPATCHER, outage_id)
    sweep(database, clock)
    clock.advance(minutes=40)

    restore_outage(database, clock, DISPATCHER, outage_id)
    assert sweep(database, clock).queued == {"restored": 5}
    restored = messages(database, "outage_restored")
    assert all("已恢复供电" in m.body and "请回复本短信或拨打95598" in m.body for m in restored)
    assert sweep(database, clock).total == 0


def test_a_step_restoration_tells_only_the_customers_below_the_step_device(
    database: Database, clock: FakeClock, territory: SmallTerritory
) -> None:
    outage_id = outage_on(database, clock, territory, "TX-1", "TX-2")
    with database.read() as session:
        assert session.get(Outage, outage_id).device_id == territory.device_ids["FU-1"]
    confirm_outage(database, clock, DISPATCHER, outage_id)
    assert sweep(database, clock).queued == {"acknowledged": 7}
    clock.advance(minutes=30)

    with database.write() as session:  # the crew closes TX-1's drop-out fuse first: 3 customers back
        outage = session.get(Outage, outage_id)
        record_restoration(
            session, outage, clock.now(), 3, "dispatcher", device_id=territory.device_ids["TX-1"]
        )
    set_etr(database, clock, DISPATCHER, outage_id, clock.now() + timedelta(hours=1), "medium", "crew")
    summary = sweep(database, clock)

    tx1 = set(customers_of(database, territory, "TX-1"))
    tx2 = set(customers_of(database, territory, "TX-2"))
    assert summary.queued == {"restored": 3, "etr": 4}
    assert {m.customer_id for m in messages(database, "outage_restored")} == tx1
    assert {m.customer_id for m in messages(database, "outage_etr")} == tx2

    clock.advance(minutes=20)
    restore_outage(database, clock, DISPATCHER, outage_id)
    assert sweep(database, clock).queued == {"restored": 4}
    assert sorted(m.customer_id for m in messages(database, "outage_restored")) == sorted(tx1 | tx2)


def test_customers_still_out_after_a_restoration_hear_their_nested_outage_is_known(
    database: Database, clock: FakeClock, territory: SmallTerritory
) -> None:
    outage_id = outage_on(database, clock, territory, "TX-1", "TX-2")
    confirm_outage(database, clock, DISPATCHER, outage_id)
    clock.advance(minutes=30)
    restore_outage(database, clock, DISPATCHER, outage_id)
    assert sweep(database, clock).queued == {"restored": 7}

    clock.advance(minutes=5)  # TX-1's customers reply that they are still out
    analysis = report_out(database, clock, territory, "TX-1")
    assert len(analysis.nested) == 1
    nested_id = analysis.nested[0]

    assert sweep(database, clock).queued == {"nested": 3}, "no confirmation needed: they were told restored"
    nested = messages(database, "outage_nested")
    assert {m.customer_id for m in nested} == set(customers_of(database, territory, "TX-1"))
    assert all(m.dedupe_key.startswith(f"outage:{nested_id}:acknowledged:") for m in nested)
    assert all("送电后仍停电" in m.body for m in nested)

    clock.advance(minutes=5)
    confirm_outage(database, clock, DISPATCHER, nested_id)
    assert sweep(database, clock).total == 0, "confirming does not acknowledge a second time"


def test_a_cancelled_outage_sends_nothing_more(
    database: Database, clock: FakeClock, territory: SmallTerritory
) -> None:
    outage_id = outage_on(database, clock, territory, "TX-4")
    confirm_outage(database, clock, DISPATCHER, outage_id)
    cancel_outage(database, clock, DISPATCHER, outage_id, "duplicate of a planned outage")

    assert sweep(database, clock).total == 0


def test_customers_without_a_phone_are_counted_and_an_important_users_contact_is_used(
    database: Database, clock: FakeClock, territory: SmallTerritory
) -> None:
    tx4 = territory.account_by_transformer["TX-4"]
    with database.write() as session:
        session.execute(update(Customer).where(Customer.account_no == tx4[4]).values(phone=None))
        session.execute(
            update(Customer)
            .where(Customer.account_no == tx4[3])
            .values(phone=None, contact_name="Duty Engineer Wang", contact_phone="13811112222")
        )
    outage_id = outage_on(database, clock, territory, "TX-4")
    confirm_outage(database, clock, DISPATCHER, outage_id)

    summary = sweep(database, clock)

    assert summary.queued == {"acknowledged": 4} and summary.unreachable == 1
    assert "13811112222" in {m.recipient for m in messages(database)}
    assert not any("Wang" in m.body for m in messages(database))


def test_changes_older_than_the_age_limit_are_not_notified(
    database: Database, clock: FakeClock, territory: SmallTerritory
) -> None:
    outage_id = outage_on(database, clock, territory, "TX-4")
    confirm_outage(database, clock, DISPATCHER, outage_id)
    clock.advance(hours=25)  # the app was down for a day: a day-old "confirmed" would only confuse

    assert sweep(database, clock).total == 0


def test_english_messages_when_the_utility_sets_english(
    database: Database, clock: FakeClock, territory: SmallTerritory
) -> None:
    with database.write() as session:
        set_setting(session, "notify.language", "en", clock)
    outage_id = outage_on(database, clock, territory, "TX-4")
    confirm_outage(database, clock, DISPATCHER, outage_id)
    sweep(database, clock)

    queued = messages(database)
    assert {m.language for m in queued} == {"en"}
    assert all(
        m.body.startswith(f"Power service: We have confirmed a power outage in your area (ref {outage_id})")
        for m in queued
    )


# --- delivery ------------------------------------------------------------------------------------


class RecordingSender:
    """A sender that keeps what it was given and answers from a script (ok unless told otherwise)."""

    def __init__(self, refuse: set[str] | None = None) -> None:
        self.sent: list[OutgoingMessage] = []
        self.refuse = refuse or set()

    def send(self, message: OutgoingMessage) -> Delivery:
        self.sent.append(message)
        if message.recipient in self.refuse:
            return Delivery(ok=False, attempts=1, error="HTTP 400: unknown number")
        return Delivery(ok=True, attempts=1)


def test_delivery_hands_each_queued_message_over_once_and_records_the_outcome(
    database: Database, clock: FakeClock, territory: SmallTerritory
) -> None:
    outage_id = outage_on(database, clock, territory, "TX-4")
    confirm_outage(database, clock, DISPATCHER, outage_id)
    sweep(database, clock)
    refused = customers_of(database, territory, "TX-4")
    bad_phone = sorted(c.phone for c in refused.values())[0]
    with database.write() as session:  # the duty desk's own message is not for a customer sender
        session.add(
            Notification(
                created_at=clock.now(),
                channel=NotificationChannel.DUTY,
                recipient="duty-manager",
                template="sla_breach",
                body="SLA breach",
            )
        )
    clock.advance(seconds=5)
    sender = RecordingSender(refuse={bad_phone})

    summary = deliver_pending(database, clock, sender)

    assert (summary.sent, summary.failed, summary.attempts) == (4, 1, 5)
    assert [m.title for m in sender.sent] == ["停电已确认"] * 5
    by_recipient = {m.recipient: m for m in messages(database) if m.channel == NotificationChannel.SMS}
    assert by_recipient[bad_phone].status == NotificationStatus.FAILED
    assert by_recipient[bad_phone].last_error == "HTTP 400: unknown number"
    assert by_recipient[bad_phone].sent_at is None
    ok = [m for phone, m in by_recipient.items() if phone != bad_phone]
    assert all(
        m.status == NotificationStatus.SENT and m.attempts == 1 and m.sent_at == clock.now() for m in ok
    )
    duty = messages(database, "sla_breach")
    assert duty[0].status == NotificationStatus.PENDING

    assert deliver_pending(database, clock, sender).sent == 0
    assert len(sender.sent) == 5


def test_delivery_respects_its_limit_and_takes_over_a_claim_left_by_a_dead_process(
    database: Database, clock: FakeClock, territory: SmallTerritory
) -> None:
    outage_id = outage_on(database, clock, territory, "TX-4")
    confirm_outage(database, clock, DISPATCHER, outage_id)
    sweep(database, clock)
    first = messages(database)[0]
    with database.write() as session:  # a process claimed this one, then died before any result
        session.execute(
            update(Notification)
            .where(Notification.id == first.id)
            .values(status=NotificationStatus.SENDING, sent_at=clock.now())
        )

    sender = RecordingSender()
    assert deliver_pending(database, clock, sender, limit=2).sent == 2
    assert deliver_pending(database, clock, sender).sent == 2
    assert first.id not in {m.id for m in sender.sent}, "a fresh claim belongs to its process"

    clock.advance(minutes=11)
    assert deliver_pending(database, clock, sender).sent == 1
    assert sorted(m.id for m in sender.sent) == sorted(m.id for m in messages(database))


def test_delivery_through_the_webhook_records_retries_and_refusals(
    database: Database, clock: FakeClock, territory: SmallTerritory
) -> None:
    outage_id = outage_on(database, clock, territory, "TX-5")
    confirm_outage(database, clock, DISPATCHER, outage_id)
    assert sweep(database, clock).total == 2
    naps: list[float] = []

    # First message: two server errors, then taken. Second: refused as a bad request.
    with Gateway([503, 500, 200, 400]) as gateway:
        webhook = WebhookSender(gateway.url, max_attempts=3, backoff_s=0.01, sleep=naps.append)
        summary = deliver_pending(database, clock, webhook)

    assert (summary.sent, summary.failed, summary.attempts) == (1, 1, 4)
    first, second = messages(database)
    assert (first.status, first.attempts, first.last_error) == (NotificationStatus.SENT, 3, None)
    assert (second.status, second.attempts) == (NotificationStatus.FAILED, 1)
    assert second.last_error == 'HTTP 400: {"error": "unknown number"}'
    assert [r["json"]["id"] for r in gateway.requests] == [first.id] * 3 + [second.id]


def test_a_round_delivers_batch_after_batch_and_stops_when_nothing_goes_out(
    database: Database, clock: FakeClock, territory: SmallTerritory
) -> None:
    with database.write() as session:
        set_setting(session, "notify.batch_size", 2, clock)
    outage_id = outage_on(database, clock, territory, "TX-4")
    confirm_outage(database, clock, DISPATCHER, outage_id)
    phones = {c.phone for c in customers_of(database, territory, "TX-4").values()}

    gateway_down = RecordingSender(refuse=phones)
    swept, delivered = run_notifications(database, clock, SHANGHAI, gateway_down)
    assert swept.total == 5
    assert (delivered.sent, delivered.failed) == (0, 2), "a batch with nothing sent ends the round"

    working = RecordingSender()
    _, delivered = run_notifications(database, clock, SHANGHAI, working)
    assert (delivered.sent, delivered.failed) == (3, 0)
    assert {m.status for m in messages(database)} == {NotificationStatus.SENT, NotificationStatus.FAILED}


def test_when_outages_merge_only_customers_new_to_the_news_hear_it(
    database: Database, clock: FakeClock, territory: SmallTerritory
) -> None:
    first = outage_on(database, clock, territory, "TX-1")
    confirm_outage(database, clock, DISPATCHER, first)
    assert sweep(database, clock).queued == {"acknowledged": 3}

    clock.advance(minutes=5)  # TX-2 goes out too: the prediction rolls up to FU-1 and absorbs TX-1's
    merged = outage_on(database, clock, territory, "TX-2")
    with database.read() as session:
        assert session.get(Outage, first).merged_into_id == merged
        assert session.get(Outage, merged).confirmed_at is not None

    assert sweep(database, clock).queued == {"acknowledged": 4}
    told = messages(database, "outage_acknowledged")
    assert sorted(m.customer_id for m in told) == sorted(customers_of(database, territory, "TX-1", "TX-2"))


class ThreadSafeRecorder(RecordingSender):
    def __init__(self) -> None:
        super().__init__()
        self.lock = threading.Lock()

    def send(self, message: OutgoingMessage) -> Delivery:
        time.sleep(0.002)  # a gateway takes a moment: the other process runs meanwhile
        with self.lock:
            return super().send(message)


def test_two_processes_sweeping_and_sending_at_once_queue_and_send_each_message_once(
    database: Database, clock: FakeClock, territory: SmallTerritory
) -> None:
    outage_id = outage_on(database, clock, territory, "TX-1", "TX-2")
    confirm_outage(database, clock, DISPATCHER, outage_id)
    dispatch(database, clock, territory, outage_id)
    sender = ThreadSafeRecorder()
    start = threading.Barrier(2)
    errors: list[BaseException] = []

    def app_process() -> None:
        try:
            start.wait()
            notify_outage_changes(database, clock, tz=SHANGHAI)
            start.wait()
            while deliver_pending(database, clock, sender, limit=3).sent:
                pass
        except BaseException as error:  # surfaced below: a thread's failure must fail the test
            errors.append(error)

    threads = [threading.Thread(target=app_process) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert errors == []
    queued = messages(database)
    assert len(queued) == 14, "7 customers: dispatched and ETR once each"
    assert sorted(m.id for m in sender.sent) == sorted(m.id for m in queued)
    assert {m.status for m in queued} == {NotificationStatus.SENT}
