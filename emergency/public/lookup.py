"""Check my outage: a customer's account number and the last 4 digits of the phone on file -> the
state of their supply, in the words of the public page, with the ETR.

A wrong pair and an unknown account get the same answer, by the same path and the same comparison,
so the form cannot be used to find out which accounts exist; every attempt counts against the
session's and the address's rate limit. The answer carries no name, address or other personal data:
only what the customer would see on the public map for their area, made specific to their supply.
"""

from __future__ import annotations

import hmac
import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from emergency.core.clock import Clock
from emergency.core.errors import InvalidInput
from emergency.core.models import (
    ACTIVE_OUTAGE_STATES,
    Customer,
    Outage,
    OutageState,
    Report,
    ReportKind,
    RestorationStep,
)
from emergency.core.settings import get_setting
from emergency.core.vocabulary import SUPPLY_LOSS_KINDS
from emergency.network.model import NetworkModel
from emergency.public.snapshot import PUBLIC_STATUS

ACCOUNT = re.compile(r"^[0-9A-Za-z-]{4,32}$")
LAST4 = re.compile(r"^[0-9]{4}$")
# Compared against when the account is unknown or has no phone, so that path does the same work.
_NO_PHONE = "\x00\x00\x00\x00"
# A customer's own reports that say their supply is wrong: analysis's supply-loss kinds
# (core.vocabulary.SUPPLY_LOSS_KINDS) and partial power, which a customer waits on just the same.
WAITING_REPORT_KINDS = (*sorted(SUPPLY_LOSS_KINDS), ReportKind.PARTIAL_POWER)


@dataclass(frozen=True)
class SupplyStatus:
    """What a matched customer is told. `status` is a key of the public status words:
    no_outage | reported | assessing | crew_assigned | crew_on_site | restored."""

    status: str
    # When the supply entered this status: the crew's arrival for crew_on_site, the first
    # dispatch for crew_assigned, the confirmation for assessing, the first report for reported.
    since: datetime | None = None
    # When the outage began (its first report); None when no outage is known.
    out_since: datetime | None = None
    restored_at: datetime | None = None
    etr_at: datetime | None = None
    etr_confidence: str | None = None
    etr_set_at: datetime | None = None
    # An ETR that has passed is never shown as valid: the customer reads "being reassessed".
    etr_reassessing: bool = False
    # The outage's reference (its number, as the hotline quotes it); None when no outage is known.
    reference: int | None = None


@dataclass(frozen=True)
class LookupAnswer:
    """`status` is None for the neutral answer: wrong pair or unknown account, never saying which."""

    status: SupplyStatus | None

    @property
    def matched(self) -> bool:
        return self.status is not None


def clean_inputs(account_no: str, phone_last4: str) -> tuple[str, str]:
    """The form's two fields, checked for shape only (a shape error says nothing about any account)."""
    account = (account_no or "").strip().replace(" ", "")
    last4 = (phone_last4 or "").strip()
    if not ACCOUNT.match(account):
        raise InvalidInput("4 to 32 letters, digits or '-', as printed on your bill", field="account_no")
    if not LAST4.match(last4):
        raise InvalidInput("exactly 4 digits", field="phone_last4")
    return account, last4


def lookup_supply(
    session: Session, clock: Clock, model: NetworkModel, account_no: str, phone_last4: str
) -> LookupAnswer:
    """Match the pair (already cleaned by `clean_inputs`), then read the supply state. The handler
    (`emergency.app.commands.public.CheckMyOutage`) counts the attempt against the rate limit first."""
    row = session.execute(
        select(Customer.phone, Customer.transformer_id, Customer.id).where(Customer.account_no == account_no)
    ).first()
    phone, transformer_id, customer_id = row if row is not None else (None, None, None)
    on_file = last_four_digits(phone) or _NO_PHONE
    matches = hmac.compare_digest(on_file.encode(), phone_last4.encode())
    if not matches or transformer_id is None or transformer_id not in model.net.index_of:
        return LookupAnswer(None)
    return LookupAnswer(supply_status(session, clock.now(), model, transformer_id, customer_id))


def last_four_digits(phone: str | None) -> str | None:
    digits = re.sub(r"\D", "", phone or "")
    return digits[-4:] if len(digits) >= 4 else None


def supply_status(
    session: Session, now: datetime, model: NetworkModel, transformer_id: int, customer_id: int | None = None
) -> SupplyStatus:
    """The supply of one customer on a service transformer: the active outage above it (or the
    customer's own service outage), else a recent restoration, else a report still waiting for
    trouble-call analysis, else no known outage. A neighbour's service outage is not theirs."""
    path = model.net.path_to_root(transformer_id)
    nearest = {device_id: depth for depth, device_id in enumerate(path)}
    theirs = or_(Outage.customer_id.is_(None), Outage.customer_id == customer_id)
    active = list(
        session.scalars(
            select(Outage).where(Outage.state.in_(ACTIVE_OUTAGE_STATES), Outage.device_id.in_(path), theirs)
        )
    )
    if active:
        # Active outages do not overlap; should two ever cover one supply, the nearer one decides.
        outage = min(active, key=lambda o: nearest[o.device_id])
        back_at = session.scalar(
            select(RestorationStep.at)
            .where(RestorationStep.outage_id == outage.id, RestorationStep.device_id.in_(path))
            .order_by(RestorationStep.at.desc())
            .limit(1)
        )
        if back_at is not None:
            # Restored in a step at or above this supply while the rest of the outage is still out.
            return SupplyStatus(
                "restored",
                since=back_at,
                out_since=outage.first_report_at,
                restored_at=back_at,
                reference=outage.id,
            )
        return status_of_outage(outage, now)

    restored_hours = float(get_setting(session, "public.lookup_restored_hours"))
    restored = session.scalars(
        select(Outage)
        .where(
            Outage.state.in_([OutageState.RESTORED, OutageState.CLOSED]),
            Outage.device_id.in_(path),
            theirs,
            Outage.restored_at >= now - timedelta(hours=restored_hours),
        )
        .order_by(Outage.restored_at.desc())
        .limit(1)
    ).first()
    if restored is not None:
        return SupplyStatus(
            "restored",
            since=restored.restored_at,
            out_since=restored.first_report_at,
            restored_at=restored.restored_at,
            reference=restored.id,
        )

    window = timedelta(minutes=float(get_setting(session, "tca.window_minutes")))
    waiting = session.scalar(
        select(Report.reported_at)
        .where(
            Report.transformer_id == transformer_id,
            Report.outage_id.is_(None),
            Report.kind.in_(WAITING_REPORT_KINDS),
            Report.reported_at >= now - window,
        )
        .order_by(Report.reported_at)
        .limit(1)
    )
    if waiting is not None:
        return SupplyStatus("reported", since=waiting, out_since=waiting)
    return SupplyStatus("no_outage")


# Which of the outage's lifecycle times says when each public status began.
STATUS_SINCE = {
    "reported": "first_report_at",
    "assessing": "confirmed_at",
    "crew_assigned": "dispatched_at",
    "crew_on_site": "on_site_at",
}


def status_of_outage(outage: Outage, now: datetime) -> SupplyStatus:
    etr_valid = outage.etr_at is not None and outage.etr_at > now
    status = PUBLIC_STATUS.get(outage.state, "reported")
    # "Crew on site (since 18:40)" is the crew's arrival, not the outage's start. A stage whose
    # time was never stamped (a record from before stamps were kept) falls back to the start.
    began = getattr(outage, STATUS_SINCE.get(status, "first_report_at")) or outage.first_report_at
    return SupplyStatus(
        status=status,
        since=began,
        out_since=outage.first_report_at,
        etr_at=outage.etr_at if etr_valid else None,
        etr_confidence=str(outage.etr_confidence) if etr_valid and outage.etr_confidence else None,
        etr_set_at=outage.etr_set_at if etr_valid else None,
        etr_reassessing=outage.etr_at is not None and not etr_valid,
        reference=outage.id,
    )
