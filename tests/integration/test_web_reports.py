"""The public report form's service on SQLite and PostgreSQL: reference, duplicates, bad input, limit."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from emergency.core.models import AuditEvent, Outage, Report
from emergency.core.ratelimit import RateLimited, Requester
from emergency.core.settings import set_setting
from emergency.public.web_reports import ReportRefused
from tests.support.app_calls import report_outage
from tests.support.intake_api import intake_api
from tests.support.small_territory import build_small_territory

ME = Requester("session-me", "10.2.2.2")
NEIGHBOUR = Requester("session-neighbour", "10.3.3.3")


@pytest.fixture
def territory(database, clock):
    return build_small_territory(database, clock)


def reports(database) -> list[Report]:
    with database.read() as session:
        return list(session.scalars(select(Report).order_by(Report.id)))


def test_a_wire_down_report_is_stored_with_its_text_and_a_reference(database, clock, territory):
    text = 'Pole down on the corner <script>alert("x")</script>'
    receipt = report_outage(
        database,
        clock,
        ME,
        kind="hazard",
        account_no=territory.account_by_transformer["TX-4"][0],
        description=text,
    )
    (stored,) = reports(database)
    assert (receipt.reference, receipt.duplicate, receipt.hazard) == (f"R-{stored.id}", False, True)
    assert (stored.channel, stored.kind, stored.description) == ("web", "hazard", text)
    with database.read() as session:
        # A wire down predicts an outage at once, and the public's report is audited.
        assert session.get(Outage, stored.outage_id).hazard
        assert (
            session.scalar(select(AuditEvent.actor_role).where(AuditEvent.action == "report.create"))
            == "public"
        )


def test_the_same_account_again_gets_the_first_reference(database, clock, territory):
    account = territory.account_by_transformer["TX-1"][0]
    first = report_outage(database, clock, ME, kind="no_power", account_no=account)
    clock.advance(minutes=10)
    again = report_outage(database, clock, ME, kind="no_power", account_no=account, description="still dark")
    other_person = report_outage(database, clock, NEIGHBOUR, kind="no_power", account_no=account)
    assert again.reference == other_person.reference == first.reference
    assert again.duplicate and other_person.duplicate
    # A wire down is new, safety-relevant information, never swallowed by an earlier "no power".
    hazard = report_outage(database, clock, ME, kind="hazard", account_no=account)
    assert not hazard.duplicate and hazard.reference != first.reference
    # After the duplicate window the same account is a new report (a new outage, perhaps).
    clock.advance(minutes=61)
    later = report_outage(database, clock, ME, kind="no_power", account_no=account)
    assert not later.duplicate
    assert len(reports(database)) == 3


def test_a_located_report_resubmitted_by_the_same_session_is_stored_once(database, clock, territory):
    first = report_outage(database, clock, ME, kind="no_power", lon=121.15, lat=28.06)
    clock.advance(seconds=5)
    again = report_outage(database, clock, ME, kind="no_power", lon=121.1501, lat=28.0601)  # a few metres off
    neighbour = report_outage(database, clock, NEIGHBOUR, kind="no_power", lon=121.15, lat=28.06)
    assert again.duplicate and again.reference == first.reference
    assert not neighbour.duplicate  # another person nearby is another call for trouble-call analysis
    assert [r.transformer_id for r in reports(database)] == [territory.device_ids["TX-4"]] * 2


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"kind": "last_gasp", "account_no": "9000000001"}, "kind"),
        ({"kind": "no_power"}, "account_no"),
        ({"kind": "no_power", "lon": 121.15}, "account_no"),
        ({"kind": "no_power", "account_no": "12345678"}, "account_no"),
        ({"kind": "no_power", "lon": 100.0, "lat": 30.0}, "lon"),
        ({"kind": "no_power", "account_no": "9000000001", "description": "x" * 2001}, "description"),
        ({"kind": "no_power", "account_no": "9000000001", "description": "nul \x00"}, "description"),
    ],
)
def test_bad_input_is_refused_per_field_and_nothing_is_stored(database, clock, territory, fields, field):
    with pytest.raises(ReportRefused) as refused:
        report_outage(database, clock, ME, **fields)
    assert [e.field for e in refused.value.errors] == [field]
    assert reports(database) == []


def test_reports_are_limited_per_session(database, clock, territory):
    with database.write() as session:
        set_setting(session, "public.report_per_hour", 2, clock)
    accounts = territory.account_by_transformer["TX-4"]
    report_outage(database, clock, ME, kind="no_power", account_no=accounts[0])
    report_outage(database, clock, ME, kind="no_power", account_no=accounts[1])
    with pytest.raises(RateLimited):
        report_outage(database, clock, ME, kind="no_power", account_no=accounts[2])
    assert len(reports(database)) == 2
    report_outage(database, clock, NEIGHBOUR, kind="no_power", account_no=accounts[2])
    assert len(reports(database)) == 3


def test_the_intake_api_refuses_an_over_long_description_whole_and_stores_nothing(
    database, clock, territory, monkeypatch
):
    """The JSON route, where no form stops typing: the item is refused with both lengths, never
    stored cut to the limit or without its text."""
    item = {
        "channel": "app",
        "external_id": "app-long-1",
        "kind": "no_power",
        "account_no": territory.account_by_transformer["TX-4"][0],
        "description": "停电" * 10_000,
    }
    with intake_api(database, clock, monkeypatch) as api:
        response = api.post(item)
        assert response.status_code == 422, response.text
        [error] = response.json()["errors"]
        assert (error["field"], error["reason"]) == ("description", "longer than 2000 characters (20000)")
        assert api.report_count() == 0
