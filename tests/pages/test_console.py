"""The dispatcher console's actions through the real page (AppTest): each asks first, then acts."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select
from streamlit.testing.v1 import AppTest

from dashboard.console import SELECTED_KEY
from emergency.core.actor import Actor
from emergency.core.clock import SYSTEM_CLOCK
from emergency.core.db import get_database
from emergency.core.models import CrewAssignment, Outage, OutageState
from tests.pages.conftest import APP, page
from tests.pages.test_access import log_in
from tests.support.commands import submit_reports
from tests.support.small_territory import PASSWORDS

TIMEOUT = 30


def make_outage(url: str, territory, transformer: str = "TX-4", calls: int = 2) -> int:
    """Two calls a few minutes ago on a transformer: a predicted outage with its clocks running."""
    when = (SYSTEM_CLOCK.now() - timedelta(minutes=4)).isoformat()
    reports = [
        {
            "channel": "hotline",
            "kind": "no_power",
            "account_no": territory.account_by_transformer[transformer][i],
            "reported_at": when,
        }
        for i in range(calls)
    ]
    result = submit_reports(get_database(url), SYSTEM_CLOCK, Actor("hotline", "intake"), reports)
    return result.analysis.predicted[-1]


def console(url: str, outage_id: int) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.run()
    log_in(at, "dispatcher", PASSWORDS["dispatcher"])
    at.session_state[SELECTED_KEY] = outage_id
    at.switch_page(page("dispatcher_map.py")).run()
    assert not at.exception, at.exception
    return at


def button(at: AppTest, label: str):
    return next(b for b in at.button if b.label == label)


def outage_row(url: str, outage_id: int) -> Outage:
    with get_database(url).read() as session:
        return session.get(Outage, outage_id)


def test_the_board_lists_the_outage_with_its_clocks(territory_db):
    url, territory = territory_db
    outage_id = make_outage(url, territory)
    at = console(url, outage_id)
    board = at.dataframe[0].value
    row = board[board["Outage"] == outage_id].iloc[0]
    assert row["Urgency"] == "on track"
    assert row["Dispatch (10 min)"].endswith("left")
    assert row["Customers"] == 5  # TX-4's customers; 2 of FU-3's 7 calling is under the 30 % roll-up share
    # TX-4 is rural: 90 min x 1.3 to repair a transformer there, so 5 customers make 2.6 an hour.
    assert (row["Rank"], row["Why this rank"]) == (1, "5 out, 2.6 per crew-hour")
    assert f"Outage {outage_id} · TX-4 (transformer)" in [s.value for s in at.subheader]


def test_dispatching_the_recommended_crew_asks_first_then_dispatches(territory_db):
    url, territory = territory_db
    outage_id = make_outage(url, territory)
    at = console(url, outage_id)

    button(at, "Dispatch").click().run()
    assert any("Dispatch crew C1 to outage" in w.value for w in at.warning), "asks before acting"
    assert outage_row(url, outage_id).state == OutageState.PREDICTED, "nothing done before Yes"

    button(at, "Yes, do it").click().run()
    assert not at.exception, at.exception
    assert any(f"dispatched to outage {outage_id}" in s.value for s in at.success)
    outage = outage_row(url, outage_id)
    assert outage.state == OutageState.DISPATCHED
    with get_database(url).read() as session:
        assignment = session.scalars(
            select(CrewAssignment).where(CrewAssignment.outage_id == outage_id)
        ).one()
        assert assignment.assigned_by == "dispatcher"
    board = at.dataframe[0].value
    assert board[board["Outage"] == outage_id].iloc[0]["Crew"] == "C1"


def test_saying_no_changes_nothing(territory_db):
    url, territory = territory_db
    outage_id = make_outage(url, territory)
    at = console(url, outage_id)
    button(at, "Confirm outage").click().run()
    button(at, "No").click().run()
    assert outage_row(url, outage_id).confirmed_at is None
    assert not at.success


def test_confirm_then_restore_in_a_step(territory_db):
    url, territory = territory_db
    outage_id = make_outage(url, territory)
    at = console(url, outage_id)
    button(at, "Confirm outage").click().run()
    button(at, "Yes, do it").click().run()
    assert outage_row(url, outage_id).state == OutageState.CONFIRMED

    affected = outage_row(url, outage_id).customers_affected
    at.number_input(key=f"restore-n-{outage_id}").set_value(2).run()
    button(at, "Restore these customers").click().run()
    assert any(f"Restore 2 customers of outage {outage_id}" in w.value for w in at.warning)
    button(at, "Yes, do it").click().run()
    restored = outage_row(url, outage_id)
    assert (restored.state, restored.customers_restored) == (OutageState.CONFIRMED, 2)
    assert any(f"{affected - 2} still out" in s.value for s in at.success)


def test_cancel_needs_a_reason(territory_db):
    url, territory = territory_db
    outage_id = make_outage(url, territory)
    at = console(url, outage_id)
    button(at, "Cancel outage").click().run()
    assert any("Say why" in w.value for w in at.warning)
    at.text_input(key=f"cancel-reason-{outage_id}").input("duplicate of a known outage").run()
    button(at, "Cancel outage").click().run()
    button(at, "Yes, do it").click().run()
    cancelled = outage_row(url, outage_id)
    assert (cancelled.state, cancelled.cancel_reason) == (
        OutageState.CANCELLED,
        "duplicate of a known outage",
    )


def test_an_outage_restored_in_full_leaves_nothing_to_act_on_and_no_error(territory_db):
    url, territory = territory_db
    outage_id = make_outage(url, territory)
    at = console(url, outage_id)
    at.number_input(key=f"restore-n-{outage_id}").set_value(
        outage_row(url, outage_id).customers_affected
    ).run()
    button(at, "Restore these customers").click().run()
    button(at, "Yes, do it").click().run()

    assert outage_row(url, outage_id).state == OutageState.RESTORED
    assert not at.exception, at.exception
    assert any(f"Outage {outage_id} is restored" in i.value for i in at.info)
    assert not [b for b in at.button if b.label in ("Dispatch", "Confirm outage", "Restore these customers")]
