"""The public "report an outage" form's service: rate limited, duplicate-aware, through intake.

The report itself goes through `emergency.intake.reports.receive_reports` (channel "web") like every other
channel, so it is validated, resolved to a transformer and analysed the same way. What this adds
is what a web form needs:

- a reference number to quote (`R-<report id>`);
- duplicates answered with the first reference instead of a second report: an account already
  reported on the web within `public.report_duplicate_minutes` (by anyone, e.g. two people in one
  household), or the same session reporting the same account or place again (a double click, a
  reload) - the latter through intake's idempotency on a stable external id;
- the per-session and per-address rate limit, checked before anything is stored.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from emergency.core import ratelimit
from emergency.core.actor import Actor
from emergency.core.clock import Clock
from emergency.core.db import Database
from emergency.core.errors import Problem
from emergency.core.models import Customer, Report, ReportChannel, ReportKind
from emergency.core.settings import get_setting
from emergency.core.unit_of_work import unit_of_work
from emergency.intake.reports import INTAKE_ROLES, receive_reports
from emergency.public.lookup import ACCOUNT

# What a member of the public can report; meters and SCADA speak for themselves.
PUBLIC_KINDS = (ReportKind.NO_POWER, ReportKind.PARTIAL_POWER, ReportKind.HAZARD)
# Two located reports from one session within about 100 m are the same place.
LOCATION_DECIMALS = 3


@dataclass(frozen=True)
class WebReportReceipt:
    reference: str
    report_id: int
    duplicate: bool  # True: we already had this report; the reference is the first one's
    hazard: bool


class ReportRefused(Exception):
    """Intake refused the report; `errors` say which field and why, for the form to show."""

    def __init__(self, errors: list[Problem]) -> None:
        self.errors = errors
        super().__init__("; ".join(f"{e.field}: {e.reason}" for e in errors))


def reference_of(report_id: int) -> str:
    return f"R-{report_id}"


def report_outage(
    db: Database,
    clock: Clock,
    actor: Actor,
    requester: ratelimit.Requester,
    *,
    kind: str,
    account_no: str | None = None,
    lon: float | None = None,
    lat: float | None = None,
    description: str | None = None,
) -> WebReportReceipt:
    """Send one public report as `actor` (the public, from the web form). Raises ReportRefused for
    bad input (nothing stored) and ratelimit.RateLimited when the session or address has reported
    too often.

    Three steps, each its own transaction: the attempt is counted (and stays counted), the
    duplicate look-up reads, and intake stores the report in its own unit of work.
    """
    account = (account_no or "").strip().replace(" ", "") or None
    if kind not in {k.value for k in PUBLIC_KINDS}:
        raise ReportRefused(
            [Problem.in_item(0, "kind", "choose no power, partial power or wire down / hazard")]
        )
    if account is not None and not ACCOUNT.match(account):
        # Checked before the duplicate look-up, whose query no NUL byte or broken text may reach.
        raise ReportRefused(
            [Problem.in_item(0, "account_no", "4 to 32 letters, digits or '-', as printed on your bill")]
        )
    if account is None and (lon is None or lat is None):
        raise ReportRefused(
            [Problem.in_item(0, "account_no", "give an account number or a location (lon and lat)")]
        )
    place = _place(lon, lat) if account is None else ""
    ratelimit.attempt(db, clock, "report", requester)
    now = clock.now()
    with db.read() as session:
        window = timedelta(minutes=float(get_setting(session, "public.report_duplicate_minutes")))
        earlier = _recent_report(session, account, kind, now - window) if account else None
    if earlier is not None:
        report_id, earlier_kind = earlier
        return WebReportReceipt(reference_of(report_id), report_id, True, earlier_kind == ReportKind.HAZARD)

    subject = f"account:{account}" if account else f"place:{place}"
    item = {
        "channel": ReportChannel.WEB.value,
        "external_id": _external_id(requester.session, subject, kind, now, window),
        "kind": kind,
        "account_no": account,
        "lon": None if account else lon,
        "lat": None if account else lat,
        "description": description,
    }
    with unit_of_work(db, actor, INTAKE_ROLES, against_analysis=True) as session:
        # The form sends no reported_at: the time zone that reads a local time is never used.
        result = receive_reports(session, clock, actor, [item], tz=ZoneInfo("UTC"), model_key=db.url)
    if result.errors:
        raise ReportRefused(result.errors)
    accepted = result.accepted[0]
    return WebReportReceipt(
        reference_of(accepted.id), accepted.id, accepted.duplicate, kind == ReportKind.HAZARD.value
    )


def _place(lon: float | None, lat: float | None) -> str:
    """The place rounded to about 100 m, or ReportRefused for what is not a longitude and latitude
    (NaN, infinities and integers past a float among them, which rounding cannot take)."""
    x = y = math.nan
    if lon is not None and lat is not None:
        try:
            x, y = float(lon), float(lat)
        except (TypeError, ValueError, OverflowError):
            x = y = math.nan
    if not (-180 <= x <= 180 and -90 <= y <= 90):  # NaN is in no range
        raise ReportRefused(
            [Problem.in_item(0, "lon", "give a longitude from -180 to 180 and a latitude from -90 to 90")]
        )
    return f"{x:.{LOCATION_DECIMALS}f},{y:.{LOCATION_DECIMALS}f}"


# Written out, not bound: the planner uses the partial index ix_reports_web_customer only for a
# query that states its condition (channel = 'web') itself.
ON_THE_WEB = text(f"reports.channel = '{ReportChannel.WEB.value}'")


def _recent_report(
    session: Session, account: str, kind: str, since: datetime
) -> tuple[int, ReportKind] | None:
    """The first web report of this kind for this account since `since`: a wire down reported after a
    plain "no power" is new (safety) information, so only the same kind counts as a duplicate."""
    customer_id = session.scalar(select(Customer.id).where(Customer.account_no == account))
    if customer_id is None:
        return None  # intake will say the account is unknown
    row = session.execute(
        select(Report.id, Report.kind)
        .where(
            Report.customer_id == customer_id,
            ON_THE_WEB,
            Report.kind == ReportKind(kind),
            Report.received_at >= since,
        )
        .order_by(Report.id)
        .limit(1)
    ).first()
    return None if row is None else (int(row[0]), ReportKind(row[1]))


def _external_id(session_key: str, subject: str, kind: str, now: datetime, window: timedelta) -> str:
    """Stable for one session, subject and kind within one window, so a resubmit is a retry."""
    slot = int(now.timestamp() // max(window.total_seconds(), 60))
    digest = hashlib.sha256(f"{session_key}|{subject}|{kind}|{slot}".encode()).hexdigest()[:40]
    return f"web-{digest}"


def description_limit(session: Session) -> int:
    """The longest description intake accepts, for the form to stop typing at."""
    return int(get_setting(session, "intake.max_description_chars"))
