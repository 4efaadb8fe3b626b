"""Hostile payloads against the public forms' services (report an outage, feedback, check my
outage), on SQLite and PostgreSQL: kept as inert text or refused with the field, nothing stored."""

from __future__ import annotations

import itertools

import pytest
from sqlalchemy import func, select

from emergency.core.actor import PUBLIC
from emergency.core.errors import InvalidInput
from emergency.core.models import Feedback, Report
from emergency.core.ratelimit import Requester
from emergency.public.web_reports import ReportRefused
from tests.security.payloads import HOSTILE_NUMBERS, HUGE_TEXT, INERT_TEXT, REFUSED_TEXT
from tests.support.app_calls import check_my_outage, report_outage, submit_feedback
from tests.support.small_territory import build_small_territory

# Each call its own session, so the forms' hourly limits (tested elsewhere) stay out of the way.
_sessions = itertools.count()


def someone() -> Requester:
    return Requester(f"session-{next(_sessions)}", None)


@pytest.fixture
def territory(database, clock):
    return build_small_territory(database, clock)


def count(database, model) -> int:
    with database.read() as session:
        return session.scalar(select(func.count()).select_from(model)) or 0


def test_web_report_descriptions_are_stored_as_written(database, clock, territory):
    ids = {}
    for name, payload in INERT_TEXT.items():
        receipt = report_outage(
            database, clock, someone(), kind="no_power", lon=121.15, lat=28.06, description=payload
        )
        ids[name] = receipt.report_id
    with database.read() as session:
        kept = {name: session.get(Report, report_id).description for name, report_id in ids.items()}
    assert kept == INERT_TEXT


def test_web_reports_refuse_hostile_fields_and_store_nothing(database, clock, territory):
    account = territory.account_by_transformer["TX-4"][0]
    attempts = {
        **{f"description: {n}": {"account_no": account, "description": p} for n, p in REFUSED_TEXT.items()},
        "description: 1 MiB": {"account_no": account, "description": HUGE_TEXT},
        **{f"account: {n}": {"account_no": p} for n, p in (INERT_TEXT | REFUSED_TEXT).items()},
        **{f"lon: {n}": {"lon": v, "lat": 28.06} for n, v in HOSTILE_NUMBERS.items()},
        **{f"lat: {n}": {"lon": 121.15, "lat": v} for n, v in HOSTILE_NUMBERS.items()},
    }
    for name, fields in attempts.items():
        with pytest.raises(ReportRefused) as refused:
            report_outage(database, clock, someone(), kind="no_power", **fields)
        assert refused.value.errors and all(e.reason for e in refused.value.errors), name
    for kind in [*INERT_TEXT.values(), "no_power\x00"]:
        with pytest.raises(ReportRefused):
            report_outage(database, clock, someone(), kind=kind, account_no=account)
    assert count(database, Report) == 0


def test_feedback_text_and_names_are_stored_as_written(database, clock, territory):
    for payload in INERT_TEXT.values():
        submit_feedback(
            database, clock, PUBLIC, "complaint", payload, contact_name=payload, requester=someone()
        )
    with database.read() as session:
        kept = sorted(session.execute(select(Feedback.text, Feedback.contact_name)).tuples())
    assert kept == sorted((p, p) for p in INERT_TEXT.values())


def test_feedback_refuses_hostile_fields_and_stores_nothing(database, clock, territory):
    attempts = {
        **{f"text: {n}": {"text": p} for n, p in REFUSED_TEXT.items()},
        "text: 1 MiB": {"text": HUGE_TEXT},
        **{f"contact_name: {n}": {"contact_name": p} for n, p in REFUSED_TEXT.items()},
        **{f"account_no: {n}": {"account_no": p} for n, p in (INERT_TEXT | REFUSED_TEXT).items()},
        **{f"contact: {n}": {"contact": p} for n, p in (INERT_TEXT | REFUSED_TEXT).items()},
        **{f"kind: {n}": {"kind": p} for n, p in (INERT_TEXT | REFUSED_TEXT).items()},
    }
    for name, fields in attempts.items():
        sent = {"kind": "complaint", "text": "the lights went out"} | fields
        with pytest.raises(InvalidInput) as refused:
            submit_feedback(database, clock, PUBLIC, requester=someone(), **sent)
        assert refused.value.field in fields, name
    assert count(database, Feedback) == 0


def test_check_my_outage_refuses_hostile_pairs_by_shape(database, clock, territory):
    account = territory.account_by_transformer["TX-4"][0]
    for payload in [*INERT_TEXT.values(), *REFUSED_TEXT.values(), HUGE_TEXT, "١٢٣٤"]:
        with pytest.raises(InvalidInput) as last4:
            check_my_outage(database, clock, someone(), account, payload)
        with pytest.raises(InvalidInput) as account_no:
            check_my_outage(database, clock, someone(), payload, "1234")
        assert (last4.value.field, account_no.value.field) == ("phone_last4", "account_no")
    # A well-shaped account that does not exist gets the neutral answer, like a wrong pair.
    assert not check_my_outage(database, clock, someone(), "DROP-TABLE-1", "1234").matched
