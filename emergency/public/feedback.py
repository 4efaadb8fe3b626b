"""Feedback and complaints from the public: validated, stored with a reference number, audited.

Storing `submitted_at` is what starts the clocks of the service standard (DOMAIN.md section 1):
a complaint's 2-hour response and 24-hour preliminary solution, other feedback's verification
within 3 working days. The SLA monitor watches them from then on; the receipt tells the customer
the deadlines, computed by the same `emergency.dispatch.sla` functions the monitor uses.

An account number is optional and never confirmed or denied: a feedback form that answered
"unknown account" would let anyone test which accounts exist.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from emergency.core import audit, ratelimit
from emergency.core.actor import Actor
from emergency.core.calendar import load_overrides
from emergency.core.clock import Clock
from emergency.core.errors import InvalidInput
from emergency.core.models import Customer, Feedback, FeedbackKind, FeedbackStatus, ReportChannel, Role
from emergency.core.settings import get_setting
from emergency.dispatch.sla import ClockStatus, feedback_clocks, load_targets

FEEDBACK_ROLES = ("public", Role.DISPATCHER, Role.MANAGER, Role.ADMIN)
# No 0/O or 1/I: a reference is read out over the phone and typed back.
REFERENCE_ALPHABET = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"
REFERENCE_TRIES = 20
ACCOUNT = re.compile(r"^[0-9A-Za-z-]{4,32}$")
PHONE = re.compile(r"^\+?[0-9][0-9 ()-]{5,30}$")
EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]{2,}$")
CONTROL_IN_TEXT = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")  # newlines and tabs allowed in the text
CONTROL_IN_LINE = re.compile(r"[\x00-\x1f\x7f]")


@dataclass(frozen=True)
class FeedbackReceipt:
    reference: str
    kind: str
    submitted_at: datetime
    clocks: tuple[ClockStatus, ...]  # the deadlines that started with this submission


def submit_feedback(
    session: Session,
    clock: Clock,
    actor: Actor,
    kind: str,
    text: str,
    *,
    tz: ZoneInfo,
    account_no: str | None = None,
    contact_name: str | None = None,
    contact: str | None = None,
    requester: ratelimit.Requester | None = None,
    channel: ReportChannel = ReportChannel.WEB,
) -> FeedbackReceipt:
    """Validate and store one piece of feedback; the public passes a requester to be rate limited.

    `tz` dates the reference and counts the working days of the deadlines. Raises InvalidInput
    (with the field) for bad input, ratelimit.RateLimited when over the limit; the caller's
    transaction then stores nothing.
    """
    fields = _validate(session, kind, text, account_no, contact_name, contact)
    if requester is not None:
        ratelimit.check_and_count(session, clock, "feedback", requester)
    now = clock.now()
    customer_id = None
    if fields["account_no"]:
        customer_id = session.scalar(select(Customer.id).where(Customer.account_no == fields["account_no"]))
    item = Feedback(
        reference=_new_reference(session, now.astimezone(tz)),
        kind=fields["kind"],
        channel=channel,
        account_no=fields["account_no"],
        customer_id=customer_id,
        contact_name=fields["contact_name"],
        contact=fields["contact"],
        text=fields["text"],
        submitted_at=now,
        status=FeedbackStatus.OPEN,
    )
    session.add(item)
    session.flush()
    audit.record(
        session,
        clock,
        actor,
        "feedback.create",
        "feedback",
        item.id,
        after={"reference": item.reference, "kind": str(item.kind), "channel": str(channel)},
    )
    clocks = feedback_clocks(item, load_targets(session), now, load_overrides(session), tz)
    return FeedbackReceipt(item.reference, str(item.kind), now, tuple(clocks))


def _validate(
    session: Session,
    kind: str,
    text: str,
    account_no: str | None,
    contact_name: str | None,
    contact: str | None,
) -> dict[str, Any]:
    try:
        chosen = FeedbackKind(str(kind).strip().lower())
    except ValueError:
        allowed = ", ".join(k.value for k in FeedbackKind)
        raise InvalidInput(f"one of {allowed}", field="kind") from None
    limit = int(get_setting(session, "public.feedback_max_chars"))
    body = _clean(text, "text", limit, multiline=True)
    if body is None:
        raise InvalidInput("required", field="text")
    account = _clean(account_no, "account_no", 32)
    if account is not None:
        account = account.replace(" ", "")
        if not ACCOUNT.match(account):
            raise InvalidInput("4 to 32 letters, digits or '-', as printed on your bill", field="account_no")
    reach = _clean(contact, "contact", 200)
    if reach is not None and not (PHONE.match(reach) or EMAIL.match(reach)):
        raise InvalidInput("a phone number or an e-mail address", field="contact")
    return {
        "kind": chosen,
        "text": body,
        "account_no": account,
        "contact_name": _clean(contact_name, "contact_name", 120),
        "contact": reach,
    }


def _clean(value: str | None, field: str, limit: int, multiline: bool = False) -> str | None:
    if value is None:
        return None
    value = str(value).strip()
    if not value:
        return None
    if len(value) > limit:
        raise InvalidInput(f"longer than {limit} characters ({len(value)})", field=field)
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidInput("is not valid Unicode text", field=field) from None
    if (CONTROL_IN_TEXT if multiline else CONTROL_IN_LINE).search(value):
        raise InvalidInput("contains control characters", field=field)
    return value


def _new_reference(session: Session, local_now: datetime) -> str:
    """FB-YYYYMMDD-XXXX with a random suffix: references do not reveal how many came before."""
    prefix = f"FB-{local_now:%Y%m%d}-"
    for _ in range(REFERENCE_TRIES):
        reference = prefix + "".join(secrets.choice(REFERENCE_ALPHABET) for _ in range(4))
        if session.scalar(select(Feedback.id).where(Feedback.reference == reference)) is None:
            return reference
    # A million references a day would be needed to get here; a longer suffix still reads well.
    return prefix + "".join(secrets.choice(REFERENCE_ALPHABET) for _ in range(8))


def feedback_limit(session: Session) -> int:
    """The longest text accepted, for the form to stop typing at."""
    return int(get_setting(session, "public.feedback_max_chars"))
