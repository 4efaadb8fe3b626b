"""Customer notifications: which messages an outage's customers are due, and handing them to a sender.

Intake and dispatch never wait for a message. A sweep (`notify_outage_changes`, run every 30 s by
the server and by `python -m emergency notify run`) looks at the outages that changed since its
last run and queues what is due into the `notifications` outbox; `deliver_pending` then hands
queued messages to a `Sender` (emergency.public.senders).

What a customer of an outage hears, once the outage is confirmed, dispatched or found nested (a
predicted outage nobody has confirmed could be a false alarm, so it stays quiet):
- one lifecycle message: acknowledged (or, for a nested outage, "we know you are still out"), then
  crew dispatched, then restored. Only the latest stage is sent: an outage confirmed and dispatched
  between two sweeps sends "dispatched" alone, and one restored before anyone heard of it sends
  "restored" alone;
- each new ETR, at most one ETR message per customer per `notify.etr_min_interval_minutes`; a
  throttled ETR waits, and the newest ETR is the one sent when the interval has passed; an ETR
  already in the past is never sent;
- restored, with "if you are still without power, reply or call": a call, or a reply the SMS gateway
  posts to the intake API, becomes a report, and trouble-call analysis turns reports soon after a
  restoration into a nested outage.
A restoration step with a device tells only the customers below that device. A step of a bare
customer count cannot say who is back, so those customers hear at the outage's restoration.

Every message has a dedupe key (`outage:{id}:{stage}:{customer}`, `outage:{id}:etr:{set}:{customer}`)
under a unique constraint, so rerunning a sweep, or two app processes sweeping at once, never
queues a message twice. When trouble-call analysis merges outages into a larger one, news a customer
already had under a merged outage counts as told. Messages never name anyone or say which important
user is out.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, cast
from zoneinfo import ZoneInfo

from sqlalchemy import Table, func, insert, make_url, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from emergency.core.clock import Clock
from emergency.core.config import RUNTIME_DIR
from emergency.core.db import Database
from emergency.core.models import (
    ACTIVE_OUTAGE_STATES,
    AuditEvent,
    Customer,
    Notification,
    NotificationChannel,
    NotificationStatus,
    Outage,
    OutageState,
    RestorationStep,
)
from emergency.core.settings import set_setting
from emergency.dispatch.etr import load_prefixed
from emergency.network.model import NetworkModel, network_model
from emergency.public.senders import Delivery, FileSender, OutgoingMessage, Sender, WebhookSender

OUTBOX_DIR = RUNTIME_DIR / "outbox"
CUSTOMER_CHANNELS = (NotificationChannel.SMS, NotificationChannel.PUSH, NotificationChannel.EMAIL)
# A sweep looks this far behind its watermark: a change stamped just before one sweep read the
# outages but committed just after it is still seen by the next one (dedupe keys absorb the overlap).
SWEEP_OVERLAP = timedelta(minutes=10)
ID_CHUNK = 900  # below SQLite's bound-parameter limit
INSERT_CHUNK = 1000  # rows per executemany
DELIVERY_BATCH = 100  # results written per transaction while delivering

ACKNOWLEDGED, NESTED, DISPATCHED, ETR, RESTORED = "acknowledged", "nested", "dispatched", "etr", "restored"
TEMPLATE_PREFIX = "outage_"
ALSO_TOLD = "also_told"  # planning only: keys under merged outages that carry the same news

# {sig} signature, {ref} outage number, {etr} local time, {hotline}. Short enough for one or two SMS
# parts in either language (tests/unit/test_notify_sms.py checks every template at its longest).
TEMPLATES: dict[str, dict[str, str]] = {
    ACKNOWLEDGED: {
        "zh": "{sig}您所在区域停电已确认（事件{ref}），正在安排抢修，确定恢复时间后将再通知您。",
        "en": "{sig} We have confirmed a power outage in your area (ref {ref}). Repairs are being "
        "arranged; we will text you when we can estimate the restoration time.",
    },
    NESTED: {
        "zh": "{sig}已获悉您所在区域送电后仍停电（事件{ref}），正在安排抢修，请远离断落电线。",
        "en": "{sig} We know power is still off in your area after the nearby repair (ref {ref}). "
        "A crew is being arranged. Keep away from fallen wires.",
    },
    DISPATCHED: {
        "zh": "{sig}抢修人员已出发处理您所在区域的停电（事件{ref}）。",
        "en": "{sig} A crew is on its way to the power outage in your area (ref {ref}).",
    },
    ETR: {
        "zh": "{sig}您所在区域（事件{ref}）预计{etr}前恢复供电，如有变化将再通知您。",
        "en": "{sig} Power in your area (ref {ref}) is expected back by {etr}. We will text you if "
        "this changes.",
    },
    RESTORED: {
        "zh": "{sig}您所在区域已恢复供电（事件{ref}）。如您仍停电，请回复本短信或拨打{hotline}报修。",
        "en": "{sig} Power is back in your area (ref {ref}). If you are still without power, reply "
        "to this message or call {hotline}.",
    },
}
TITLES: dict[str, dict[str, str]] = {
    ACKNOWLEDGED: {"zh": "停电已确认", "en": "Power outage confirmed"},
    NESTED: {"zh": "仍停电，正在处理", "en": "Still without power: we are on it"},
    DISPATCHED: {"zh": "抢修人员已出发", "en": "Crew on the way"},
    ETR: {"zh": "预计恢复供电时间", "en": "Estimated restoration time"},
    RESTORED: {"zh": "已恢复供电", "en": "Power restored"},
}
MONTHS_EN = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


@dataclass(frozen=True)
class NotifyRules:
    """The `notify.` settings."""

    language: str
    etr_min_interval: timedelta
    max_age: timedelta
    signature: dict[str, str]
    hotline: str
    watermark: datetime | None
    batch_size: int
    sending_lease: timedelta

    @classmethod
    def from_settings(cls, session: Session | None) -> NotifyRules:
        values = load_prefixed(session, "notify.")
        watermark = values["notify.watermark"]
        return cls(
            language="en" if str(values["notify.language"]).lower().startswith("en") else "zh",
            etr_min_interval=timedelta(minutes=float(values["notify.etr_min_interval_minutes"])),
            max_age=timedelta(hours=float(values["notify.max_age_hours"])),
            signature={"zh": str(values["notify.signature_zh"]), "en": str(values["notify.signature_en"])},
            hotline=str(values["notify.hotline"]),
            watermark=datetime.fromisoformat(watermark) if watermark else None,
            batch_size=int(values["notify.batch_size"]),
            sending_lease=timedelta(minutes=float(values["notify.sending_lease_minutes"])),
        )


def render(stage: str, language: str, rules: NotifyRules, outage_id: int, etr: str = "") -> str:
    return TEMPLATES[stage][language].format(
        sig=rules.signature[language], ref=outage_id, etr=etr, hotline=rules.hotline
    )


def format_etr(etr_at: datetime, language: str, tz: ZoneInfo) -> str:
    local = etr_at.astimezone(tz)
    if language == "zh":
        return f"{local.month}月{local.day}日{local:%H:%M}"
    return f"{local:%H:%M} on {local.day} {MONTHS_EN[local.month - 1]}"


# --- the sweep -----------------------------------------------------------------------------------


@dataclass
class SweepSummary:
    outages: int = 0  # outages looked at
    queued: dict[str, int] = field(default_factory=dict)  # by stage
    throttled: int = 0  # ETR messages held back by the per-customer interval
    unreachable: int = 0  # customers due a message with no phone on file

    @property
    def total(self) -> int:
        return sum(self.queued.values())

    def summary(self) -> str:
        parts = ", ".join(f"{n} {stage}" for stage, n in sorted(self.queued.items())) or "nothing new"
        return (
            f"notifications: {self.outages} outage(s) looked at; queued {self.total} ({parts}); "
            f"{self.throttled} ETR message(s) held back; {self.unreachable} customer(s) without a phone"
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "outages": self.outages,
            "queued": dict(sorted(self.queued.items())),
            "throttled": self.throttled,
            "unreachable": self.unreachable,
        }


@dataclass(frozen=True)
class _Recipient:
    customer_id: int
    address: str | None  # the phone number messages go to; None when none is on file


def notify_outage_changes(db: Database, clock: Clock, tz: ZoneInfo) -> SweepSummary:
    """Queue the messages due for outages changed since the last sweep (ETRs written in `tz`);
    safe to run at any time."""
    summary = SweepSummary()
    with db.write() as session:
        now = clock.now()
        rules = NotifyRules.from_settings(session)
        outages = _changed_outages(session, rules, now)
        summary.outages = len(outages)
        if outages:
            model = network_model(session, db.url)
            planner = _Planner(session, model, rules, now, tz, summary)
            for outage in outages:
                planner.plan(outage)
            planner.write()
        set_setting(session, "notify.watermark", now.isoformat(), clock, by="notifications")
    return summary


def _changed_outages(session: Session, rules: NotifyRules, now: datetime) -> list[Outage]:
    """Outages with an audited change since the watermark, and active ones whose ETR may still be held."""
    since = now - rules.max_age
    if rules.watermark is not None:
        since = max(since, rules.watermark - SWEEP_OVERLAP)
    ids = {
        int(entity_id)
        for (entity_id,) in session.execute(
            select(AuditEvent.entity_id)
            .where(AuditEvent.entity == "outage", AuditEvent.at >= since, AuditEvent.entity_id.is_not(None))
            .distinct()
        )
        if str(entity_id).isdigit()
    }
    ids.update(
        session.scalars(
            select(Outage.id).where(
                Outage.state.in_(ACTIVE_OUTAGE_STATES),
                Outage.etr_set_at >= now - rules.etr_min_interval - SWEEP_OVERLAP,
            )
        )
    )
    outages: list[Outage] = []
    for chunk in _chunks(sorted(ids)):
        outages.extend(session.scalars(select(Outage).where(Outage.id.in_(chunk))))
    return sorted(outages, key=lambda o: o.id)


class _Planner:
    """Works out the rows one sweep queues, then writes those not already in the outbox."""

    def __init__(
        self,
        session: Session,
        model: NetworkModel,
        rules: NotifyRules,
        now: datetime,
        tz: ZoneInfo,
        summary: SweepSummary,
    ) -> None:
        self.session = session
        self.model = model
        self.rules = rules
        self.now = now
        self.tz = tz
        self.summary = summary
        self.oldest = now - rules.max_age
        self.rows: list[dict[str, Any]] = []
        # ETR messages wait for their throttle check, which needs every candidate customer at once.
        self.etr_rows: list[dict[str, Any]] = []
        self._recipients: dict[int, list[_Recipient]] = {}
        self._absorbed: dict[int, list[int]] = {}

    def plan(self, outage: Outage) -> None:
        if outage.state in (OutageState.CANCELLED, OutageState.MERGED):
            return
        if outage.confirmed_at is None and outage.dispatched_at is None and not outage.nested:
            return
        everyone = self.recipients_below(outage.device_id)
        if outage.customer_id is not None:  # a service outage: its customer, not the transformer's
            everyone = [r for r in everyone if r.customer_id == outage.customer_id]
        if outage.state in (OutageState.RESTORED, OutageState.CLOSED):
            if outage.restored_at is not None and outage.restored_at >= self.oldest:
                self.add(outage, RESTORED, everyone)
            return
        back = self.restored_by_steps(outage)
        if back:
            self.add(outage, RESTORED, [r for r in everyone if r.customer_id in back])
        still_out = [r for r in everyone if r.customer_id not in back]
        stage, at = self.lifecycle_stage(outage)
        if at >= self.oldest:
            self.add(outage, stage, still_out)
        if (
            outage.etr_at is not None
            and outage.etr_set_at is not None
            and outage.etr_at > self.now
            and outage.etr_set_at >= self.oldest
        ):
            self.add(outage, ETR, still_out)

    @staticmethod
    def lifecycle_stage(outage: Outage) -> tuple[str, datetime]:
        """The latest lifecycle message an active outage has reached, and when it reached it."""
        if outage.dispatched_at is not None:
            return DISPATCHED, outage.dispatched_at
        if outage.nested and outage.confirmed_at is None:
            return NESTED, outage.predicted_at or outage.first_report_at
        assert outage.confirmed_at is not None
        return (NESTED if outage.nested else ACKNOWLEDGED), outage.confirmed_at

    def restored_by_steps(self, outage: Outage) -> set[int]:
        """Customers below the devices of the outage's restoration steps (steps that name one)."""
        back: set[int] = set()
        for device_id in self.session.scalars(
            select(RestorationStep.device_id).where(
                RestorationStep.outage_id == outage.id, RestorationStep.device_id.is_not(None)
            )
        ):
            if device_id in self.model.net.index_of:
                back.update(r.customer_id for r in self.recipients_below(device_id))
        return back

    def absorbed_into(self, outage_id: int) -> list[int]:
        """Outages merged into this one, at any depth: their customers may have heard already."""
        if outage_id not in self._absorbed:
            found: list[int] = []
            frontier = [outage_id]
            while frontier:
                frontier = list(
                    self.session.scalars(select(Outage.id).where(Outage.merged_into_id.in_(frontier)))
                )
                found.extend(frontier)
            self._absorbed[outage_id] = found
        return self._absorbed[outage_id]

    def recipients_below(self, device_id: int) -> list[_Recipient]:
        if device_id not in self._recipients:
            net = self.model.net
            transformer_ids = (
                [int(net.ids[i]) for i in net.transformers_at_or_below(device_id)]
                if device_id in net.index_of
                else []
            )
            found: list[_Recipient] = []
            for chunk in _chunks(transformer_ids):
                for customer_id, phone, contact_phone in self.session.execute(
                    select(Customer.id, Customer.phone, Customer.contact_phone)
                    .where(Customer.transformer_id.in_(chunk))
                    .order_by(Customer.id)
                ):
                    # An important user's own contact may be the only number on file; the message
                    # itself is the same generic text every customer of the area gets.
                    address = (phone or "").strip() or (contact_phone or "").strip() or None
                    found.append(_Recipient(customer_id, address))
            self._recipients[device_id] = found
        return self._recipients[device_id]

    def add(self, outage: Outage, stage: str, recipients: Sequence[_Recipient]) -> None:
        language = self.rules.language
        etr_text = format_etr(outage.etr_at, language, self.tz) if stage == ETR and outage.etr_at else ""
        body = render(stage, language, self.rules, outage.id, etr_text)
        # Nested and acknowledged fill one slot: a customer hears one of them per outage.
        slot = ACKNOWLEDGED if stage == NESTED else stage
        if stage == ETR:
            assert outage.etr_set_at is not None
            slot = f"etr:{int(outage.etr_set_at.timestamp())}"
        target = self.etr_rows if stage == ETR else self.rows
        absorbed = self.absorbed_into(outage.id)
        for recipient in recipients:
            if recipient.address is None:
                self.summary.unreachable += 1
                continue
            target.append(
                {
                    "created_at": self.now,
                    "channel": NotificationChannel.SMS,
                    "recipient": recipient.address,
                    "customer_id": recipient.customer_id,
                    "language": language,
                    "template": TEMPLATE_PREFIX + stage,
                    "body": body,
                    "subject_kind": "outage",
                    "subject_id": outage.id,
                    "dedupe_key": f"outage:{outage.id}:{slot}:{recipient.customer_id}",
                    "status": NotificationStatus.PENDING,
                    "attempts": 0,
                    # The same news under an outage merged into this one counts as told.
                    ALSO_TOLD: [f"outage:{a}:{slot}:{recipient.customer_id}" for a in absorbed],
                }
            )

    def write(self) -> None:
        rows = self._not_yet_queued(self.rows)
        rows.extend(self._not_throttled(self._not_yet_queued(self.etr_rows)))
        for chunk in _chunks(rows, INSERT_CHUNK):
            self.session.execute(_insert_new(self.session), chunk)
        for row in rows:
            stage = row["template"].removeprefix(TEMPLATE_PREFIX)
            self.summary.queued[stage] = self.summary.queued.get(stage, 0) + 1

    def _not_yet_queued(self, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        unique = list({row["dedupe_key"]: row for row in rows}.values())
        keys = [key for row in unique for key in (row["dedupe_key"], *row[ALSO_TOLD])]
        existing: set[str] = set()
        for chunk in _chunks(keys):
            existing.update(
                self.session.scalars(
                    select(Notification.dedupe_key).where(Notification.dedupe_key.in_(chunk))
                )
            )
        fresh = []
        for row in unique:
            also_told = row.pop(ALSO_TOLD)
            if row["dedupe_key"] not in existing and existing.isdisjoint(also_told):
                fresh.append(row)
        return fresh

    def _not_throttled(self, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """At most one ETR message per customer per interval: the newest outage ETR wins a tie."""
        last_told: dict[int | None, datetime] = {}
        for chunk in _chunks(sorted({row["customer_id"] for row in rows})):
            last_told.update(
                self.session.execute(
                    select(Notification.customer_id, func.max(Notification.created_at))
                    .where(
                        Notification.customer_id.in_(chunk),
                        Notification.template == TEMPLATE_PREFIX + ETR,
                    )
                    .group_by(Notification.customer_id)
                )
                .tuples()
                .all()
            )
        kept: list[dict[str, Any]] = []
        for row in sorted(rows, key=lambda r: r["subject_id"], reverse=True):
            last = last_told.get(row["customer_id"])
            if last is not None and self.now - last < self.rules.etr_min_interval:
                self.summary.throttled += 1
                continue
            last_told[row["customer_id"]] = self.now
            kept.append(row)
        return sorted(kept, key=lambda r: (r["subject_id"], r["customer_id"]))


def _insert_new(session: Session) -> Any:
    """A Core INSERT for many rows that skips a row whose dedupe key another process just queued."""
    table = cast(Table, Notification.__table__)
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        return postgresql.insert(table).on_conflict_do_nothing(index_elements=["dedupe_key"])
    if dialect == "sqlite":
        return sqlite.insert(table).on_conflict_do_nothing(index_elements=["dedupe_key"])
    return insert(table)


# --- delivery ------------------------------------------------------------------------------------


@dataclass
class DeliverySummary:
    sent: int = 0
    failed: int = 0
    attempts: int = 0

    def summary(self) -> str:
        return f"delivered: {self.sent} sent, {self.failed} failed ({self.attempts} attempt(s))"

    def to_json(self) -> dict[str, int]:
        return {"sent": self.sent, "failed": self.failed, "attempts": self.attempts}


def deliver_pending(
    db: Database,
    clock: Clock,
    sender: Sender,
    limit: int | None = None,
    channels: Iterable[NotificationChannel] = CUSTOMER_CHANNELS,
) -> DeliverySummary:
    """Hand up to `limit` queued messages (oldest first) to `sender` and record each outcome.

    Messages are claimed first (status `sending`, `sent_at` holding when the claim was made), so
    two processes never send one message; a claim older than `notify.sending_lease_minutes` (a
    process that died mid-send) is taken over. The duty desk's messages are not customer messages
    and stay queued for the desk unless `channels` names them.
    """
    channels = list(channels)
    summary = DeliverySummary()
    messages = _claim(db, clock, channels, limit)
    for batch in _chunks(messages, DELIVERY_BATCH):
        outcomes = [(message, sender.send(message)) for message in batch]
        _record(db, clock, outcomes, summary)
    return summary


def _claim(
    db: Database, clock: Clock, channels: list[NotificationChannel], limit: int | None
) -> list[OutgoingMessage]:
    with db.write() as session:
        now = clock.now()
        rules = NotifyRules.from_settings(session)
        rows = session.execute(
            select(
                Notification.id,
                Notification.channel,
                Notification.recipient,
                Notification.language,
                Notification.template,
                Notification.body,
            )
            .where(
                Notification.channel.in_(channels),
                or_(
                    Notification.status == NotificationStatus.PENDING,
                    (Notification.status == NotificationStatus.SENDING)
                    & (Notification.sent_at < now - rules.sending_lease),
                ),
            )
            .order_by(Notification.id)
            .limit(limit or rules.batch_size)
            # PostgreSQL: a second process sweeping at the same moment skips these rows.
            .with_for_update(skip_locked=True)
        ).all()
        ids = [row.id for row in rows]
        for chunk in _chunks(ids):
            session.execute(
                update(Notification)
                .where(Notification.id.in_(chunk))
                .values(status=NotificationStatus.SENDING, sent_at=now)
            )
    return [
        OutgoingMessage(
            id=row.id,
            channel=str(row.channel),
            recipient=row.recipient,
            language=row.language,
            template=row.template,
            title=_title(row.template, row.language),
            body=row.body,
        )
        for row in rows
    ]


def _title(template: str, language: str) -> str:
    titles = TITLES.get(template.removeprefix(TEMPLATE_PREFIX))
    return titles.get(language, titles["zh"]) if titles else template


def _record(
    db: Database, clock: Clock, outcomes: list[tuple[OutgoingMessage, Delivery]], summary: DeliverySummary
) -> None:
    # One UPDATE per distinct outcome, not per message: a batch is mostly "sent at the first attempt".
    alike: dict[Delivery, list[int]] = {}
    for message, delivery in outcomes:
        alike.setdefault(delivery, []).append(message.id)
        summary.attempts += delivery.attempts
        if delivery.ok:
            summary.sent += 1
        else:
            summary.failed += 1
    with db.write() as session:
        now = clock.now()
        for delivery, ids in alike.items():
            session.execute(
                update(Notification)
                .where(Notification.id.in_(ids))
                .values(
                    status=NotificationStatus.SENT if delivery.ok else NotificationStatus.FAILED,
                    attempts=Notification.attempts + delivery.attempts,
                    last_error=delivery.error,
                    sent_at=now if delivery.ok else None,
                )
                .execution_options(synchronize_session=False)
            )


# --- wiring --------------------------------------------------------------------------------------


def outbox_dir_for(db_url: str) -> Path:
    """Beside a SQLite database file, so each database keeps its own outbox; otherwise data/runtime/."""
    url = make_url(db_url)
    if url.get_backend_name() == "sqlite" and url.database and url.database != ":memory:":
        return Path(url.database).resolve().parent / "outbox"
    return OUTBOX_DIR


def sender_from_settings(
    session: Session, outbox_dir: Path = OUTBOX_DIR, webhook_token: str | None = None
) -> Sender:
    """The webhook sender when `notify.webhook_url` is set, otherwise the file sender.

    `webhook_token` is the bearer token for the gateway, which the entry point reads from
    `OUTAGE_NOTIFY_WEBHOOK_TOKEN` (a secret, so not in the settings table)."""
    values = load_prefixed(session, "notify.")
    url = str(values["notify.webhook_url"] or "").strip()
    if not url:
        return FileSender(outbox_dir)
    return WebhookSender(
        url,
        token=webhook_token or None,
        timeout_s=float(values["notify.webhook_timeout_s"]),
        max_attempts=int(values["notify.webhook_max_attempts"]),
    )


def notifications_enabled(db: Database) -> bool:
    with db.read() as session:
        return bool(load_prefixed(session, "notify.")["notify.enabled"])


def run_notifications(
    db: Database,
    clock: Clock,
    tz: ZoneInfo,
    sender: Sender | None = None,
    *,
    webhook_token: str | None = None,
) -> tuple[SweepSummary, DeliverySummary]:
    """One round: queue what is due, then deliver what is queued, batch after batch.

    Stops when the queue is empty, or after a batch in which nothing went out: a gateway that is
    down would otherwise hold the round (and the next sweep) for every message's retries.
    """
    swept = notify_outage_changes(db, clock, tz)
    with db.read() as session:
        if sender is None:
            sender = sender_from_settings(session, outbox_dir_for(db.url), webhook_token)
        batch_size = NotifyRules.from_settings(session).batch_size
    total = DeliverySummary()
    while True:
        delivered = deliver_pending(db, clock, sender, limit=batch_size)
        total.sent += delivered.sent
        total.failed += delivered.failed
        total.attempts += delivered.attempts
        if delivered.sent == 0 or delivered.sent + delivered.failed < batch_size:
            return swept, total


def _chunks(items: Sequence[Any], size: int = ID_CHUNK) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
