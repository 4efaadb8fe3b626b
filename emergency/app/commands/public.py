"""The public forms: report an outage, give feedback, check my outage (each counted against the
session's and the address's rate limit, which is why checking is a command and not a query)."""

from __future__ import annotations

from dataclasses import dataclass

from emergency.app.bus import handles
from emergency.app.context import Context
from emergency.core import ratelimit
from emergency.core.models import ReportChannel, Role
from emergency.core.unit_of_work import read_as, unit_of_work
from emergency.network.model import network_model
from emergency.public import feedback, lookup, web_reports
from emergency.public.feedback import FeedbackReceipt
from emergency.public.lookup import LookupAnswer
from emergency.public.web_reports import WebReportReceipt

# The public forms are open to anyone; staff may use them too (on the phone with a customer).
PUBLIC_FORM_ROLES = ("public", Role.DISPATCHER, Role.MANAGER, Role.ADMIN)


@dataclass(frozen=True)
class ReportOutage:
    """One report from the web form: by account number, or by place (lon and lat)."""

    requester: ratelimit.Requester
    kind: str
    account_no: str | None = None
    lon: float | None = None
    lat: float | None = None
    description: str | None = None


@handles(ReportOutage)
def report_outage(ctx: Context, cmd: ReportOutage) -> WebReportReceipt:
    """Raises web_reports.ReportRefused for bad input and ratelimit.RateLimited when over the limit.

    Not one transaction: the attempt is counted in its own (a refused report still counts), and
    the report goes through intake's unit of work like every channel's (`web_reports.report_outage`).
    """
    ctx.actor.require(*PUBLIC_FORM_ROLES)
    return web_reports.report_outage(
        ctx.db,
        ctx.clock,
        ctx.actor,
        cmd.requester,
        kind=cmd.kind,
        account_no=cmd.account_no,
        lon=cmd.lon,
        lat=cmd.lat,
        description=cmd.description,
    )


@dataclass(frozen=True)
class SubmitFeedback:
    """A suggestion, complaint, praise or question. `requester` is None for staff typing in what
    came by another channel (not rate limited)."""

    kind: str
    text: str
    account_no: str | None = None
    contact_name: str | None = None
    contact: str | None = None
    requester: ratelimit.Requester | None = None
    channel: ReportChannel = ReportChannel.WEB


@handles(SubmitFeedback)
def submit_feedback(ctx: Context, cmd: SubmitFeedback) -> FeedbackReceipt:
    """Raises InvalidInput (with the field) for bad input and ratelimit.RateLimited when over the
    limit; nothing is stored in either case."""
    with unit_of_work(ctx.db, ctx.actor, feedback.FEEDBACK_ROLES) as session:
        return feedback.submit_feedback(
            session,
            ctx.clock,
            ctx.actor,
            cmd.kind,
            cmd.text,
            tz=ctx.tz,
            account_no=cmd.account_no,
            contact_name=cmd.contact_name,
            contact=cmd.contact,
            requester=cmd.requester,
            channel=cmd.channel,
        )


@dataclass(frozen=True)
class CheckMyOutage:
    """An account number and the last 4 digits of the phone on file."""

    requester: ratelimit.Requester
    account_no: str
    phone_last4: str


@handles(CheckMyOutage)
def check_my_outage(ctx: Context, cmd: CheckMyOutage) -> LookupAnswer:
    """Rate limit, then match the pair, then read the supply state; raises InvalidInput for a
    malformed field and ratelimit.RateLimited when the session or address has asked too often.

    The attempt is counted in a transaction of its own, which stays committed whatever the answer;
    the look-up itself only reads.
    """
    ctx.actor.require(*PUBLIC_FORM_ROLES)
    account, last4 = lookup.clean_inputs(cmd.account_no, cmd.phone_last4)
    ratelimit.attempt(ctx.db, ctx.clock, "lookup", cmd.requester)
    with read_as(ctx.db, ctx.actor, PUBLIC_FORM_ROLES) as session:
        model = network_model(session, ctx.db.url)
        return lookup.lookup_supply(session, ctx.clock, model, account, last4)
