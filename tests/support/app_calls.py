"""The application layer's commands as tests call them: one line per command, run through
`execute` with a context built from the test's database and clock (the public's, unless an actor
is given), so tests go the way pages and routes do."""

from __future__ import annotations

from typing import Any

from emergency.app.bus import execute
from emergency.app.commands.admin import LogIn
from emergency.app.commands.public import CheckMyOutage, ReportOutage, SubmitFeedback
from emergency.core.actor import PUBLIC, Actor
from emergency.core.clock import Clock
from emergency.core.db import Database
from emergency.core.ratelimit import Requester
from emergency.public.feedback import FeedbackReceipt
from emergency.public.lookup import LookupAnswer
from emergency.public.web_reports import WebReportReceipt
from tests.support.app_context import context_of


def log_in(db: Database, clock: Clock, username: str, password: str) -> Actor:
    actor: Actor = execute(context_of(db, clock, PUBLIC), LogIn(username, password))
    return actor


def submit_feedback(
    db: Database, clock: Clock, actor: Actor, kind: str, text: str, **fields: Any
) -> FeedbackReceipt:
    receipt: FeedbackReceipt = execute(context_of(db, clock, actor), SubmitFeedback(kind, text, **fields))
    return receipt


def report_outage(db: Database, clock: Clock, requester: Requester, **fields: Any) -> WebReportReceipt:
    receipt: WebReportReceipt = execute(context_of(db, clock, PUBLIC), ReportOutage(requester, **fields))
    return receipt


def check_my_outage(
    db: Database, clock: Clock, requester: Requester, account_no: str, phone_last4: str
) -> LookupAnswer:
    answer: LookupAnswer = execute(
        context_of(db, clock, PUBLIC), CheckMyOutage(requester, account_no, phone_last4)
    )
    return answer
