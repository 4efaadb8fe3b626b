"""Check my outage's pure parts: field shapes, the phone digits compared, and the ETR shown."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pytest

from emergency.core.errors import InvalidInput
from emergency.core.models import EtrConfidence, OutageState
from emergency.public.lookup import clean_inputs, last_four_digits, status_of_outage

NOW = datetime(2026, 7, 1, 2, 0, tzinfo=UTC)


def outage(state: OutageState, etr_at: datetime | None, **stamps: datetime | None) -> SimpleNamespace:
    """An outage's fields as lookup reads them; lifecycle stamps not given were never set."""
    times = {"confirmed_at": None, "dispatched_at": None, "on_site_at": None, **stamps}
    return SimpleNamespace(
        id=2378,
        state=state,
        first_report_at=NOW - timedelta(hours=1),
        **times,
        etr_at=etr_at,
        etr_confidence=EtrConfidence.MEDIUM if etr_at else None,
        etr_set_at=NOW - timedelta(minutes=20) if etr_at else None,
    )


def test_inputs_are_trimmed_and_checked_for_shape():
    assert clean_inputs(" 6000 1980 49 ", " 0123 ") == ("6000198049", "0123")
    for account, last4, field in (("abc", "1234", "account_no"), ("1234567890", "123", "phone_last4")):
        with pytest.raises(InvalidInput) as refused:
            clean_inputs(account, last4)
        assert refused.value.field == field


def test_the_last_four_digits_ignore_spaces_and_signs():
    assert last_four_digits("+86 139-0000 1234") == "1234"
    assert last_four_digits("12 3") is None
    assert last_four_digits(None) is None


def test_status_words_follow_the_outage_state():
    words = {state: status_of_outage(outage(state, None), NOW).status for state in OutageState}
    assert words[OutageState.PREDICTED] == "reported"
    assert words[OutageState.CONFIRMED] == "assessing"
    assert words[OutageState.EN_ROUTE] == "crew_assigned"
    assert words[OutageState.ON_SITE] == "crew_on_site"


def test_a_future_etr_is_shown_with_its_confidence_and_when_it_was_set():
    status = status_of_outage(outage(OutageState.DISPATCHED, NOW + timedelta(minutes=1)), NOW)
    assert (status.etr_at, status.etr_confidence, status.etr_set_at) == (
        NOW + timedelta(minutes=1),
        "medium",
        NOW - timedelta(minutes=20),
    )
    assert not status.etr_reassessing


@pytest.mark.parametrize("late", [timedelta(0), timedelta(seconds=1), timedelta(days=3)])
def test_an_etr_that_has_come_is_being_reassessed_never_valid(late):
    status = status_of_outage(outage(OutageState.ON_SITE, NOW - late), NOW)
    assert status.etr_reassessing
    assert status.etr_at is None and status.etr_confidence is None and status.etr_set_at is None


def test_no_etr_is_not_an_expired_one():
    status = status_of_outage(outage(OutageState.CONFIRMED, None), NOW)
    assert not status.etr_reassessing and status.etr_at is None


def test_each_status_says_since_when_it_holds_the_crew_on_site_since_its_arrival():
    """ "Crew on site (since ...)" is the crew's arrival, not the outage's start (issue #16, 3)."""
    started = NOW - timedelta(hours=1)
    stamps = {
        "confirmed_at": started + timedelta(minutes=4),
        "dispatched_at": started + timedelta(minutes=9),
        "on_site_at": started + timedelta(minutes=31),
    }
    since = {
        state: status_of_outage(outage(state, None, **stamps), NOW)
        for state in (OutageState.PREDICTED, OutageState.CONFIRMED, OutageState.EN_ROUTE, OutageState.ON_SITE)
    }
    assert {state: (s.status, s.since) for state, s in since.items()} == {
        OutageState.PREDICTED: ("reported", started),
        OutageState.CONFIRMED: ("assessing", stamps["confirmed_at"]),
        OutageState.EN_ROUTE: ("crew_assigned", stamps["dispatched_at"]),
        OutageState.ON_SITE: ("crew_on_site", stamps["on_site_at"]),
    }
    assert {s.out_since for s in since.values()} == {started}, "when the supply went off stays known"


def test_a_stage_never_stamped_falls_back_to_the_outage_start():
    status = status_of_outage(outage(OutageState.ON_SITE, None), NOW)
    assert (status.status, status.since) == ("crew_on_site", NOW - timedelta(hours=1))
