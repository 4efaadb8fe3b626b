"""The dispatcher console's actions through the real page (AppTest): each asks first, then acts."""

from __future__ import annotations

import json
from datetime import timedelta

from sqlalchemy import select
from streamlit.testing.v1 import AppTest

from dashboard import console as console_module
from dashboard import services
from dashboard.console import SELECTED_KEY
from emergency.app.bus import execute
from emergency.app.commands.dispatch import SetEtr
from emergency.app.queries import dispatch as dispatch_queries
from emergency.core.actor import Actor
from emergency.core.clock import SYSTEM_CLOCK
from emergency.core.db import get_database
from emergency.core.models import CrewAssignment, Outage, OutageState
from tests.pages.conftest import APP, page
from tests.pages.test_access import log_in
from tests.support.app_context import context_of
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


def console(url: str, outage_id: int | None) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.run()
    log_in(at, "dispatcher", PASSWORDS["dispatcher"])
    if outage_id is not None:
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
    # The whole reason, in the chosen outage's panel: the board's column may be scrolled out of view.
    assert "Rank 1: 5 out, 2.6 per crew-hour" in [c.value for c in at.caption]
    # The device comes before the wide reason, so a dispatcher sees it without scrolling.
    columns = list(board.columns)
    assert columns.index("Device") < columns.index("Why this rank")


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


# --- the chosen outage, by its id -----------------------------------------------------------------


def board_of(at: AppTest):
    """The SLA board: the console's table with selections on (its key is `board-table-...`)."""
    return next(d for d in at.dataframe if (d.key or "").startswith("board-table"))


def choose_on_board(at: AppTest, outage_id: int) -> None:
    """What a click on the outage's row in the browser does: the board's selection, as a position."""
    table = board_of(at)
    position = list(table.value["Outage"]).index(outage_id)
    at.session_state[table.key] = {"selection": {"rows": [position]}}
    at.run()
    assert not at.exception, at.exception


def highlighted(at: AppTest) -> list[int]:
    """The outage ids the board shows selected (its default selection, as drawn)."""
    table = board_of(at)
    rows = json.loads(table.proto.selection_default or "{}").get("selection", {}).get("rows", [])
    return [int(table.value["Outage"].iloc[i]) for i in rows]


def refresh(at: AppTest) -> None:
    """The live view's next refresh, with the shared board rebuilt as it would be by then."""
    services.forget_staff_layers()
    at.run()
    assert not at.exception, at.exception


def test_a_board_choice_stays_on_its_outage_when_the_board_re_sorts(territory_db):
    url, territory = territory_db
    chosen = make_outage(url, territory, "TX-4")
    at = console(url, None)
    choose_on_board(at, chosen)
    assert at.session_state[SELECTED_KEY] == chosen
    assert list(board_of(at).value["Outage"]).index(chosen) == 0

    # A hospital loses power: its outage goes to the top, and the chosen one moves down a row.
    hospital = make_outage(url, territory, "TX-3", calls=1)
    refresh(at)
    assert list(board_of(at).value["Outage"])[:2] == [hospital, chosen]

    assert at.session_state[SELECTED_KEY] == chosen, "the old row position must not choose the hospital"
    assert f"Outage {chosen} · TX-4 (transformer)" in [s.value for s in at.subheader]
    assert highlighted(at) == [chosen], "the chosen outage's row is the one selected, where it is now"
    button(at, "Confirm outage").click().run()
    assert any(f"Confirm outage {chosen} · TX-4?" in w.value for w in at.warning)
    button(at, "Yes, do it").click().run()
    assert outage_row(url, chosen).confirmed_at is not None
    assert outage_row(url, hospital).confirmed_at is None


def test_the_picker_chooses_by_outage_and_the_board_follows(territory_db):
    url, territory = territory_db
    first = make_outage(url, territory, "TX-4")
    second = make_outage(url, territory, "TX-3", calls=1)
    at = console(url, None)
    choose_on_board(at, first)
    picker = next(s for s in at.selectbox if s.label == "Outage")
    picker.set_value(second).run()
    assert not at.exception, at.exception

    # The board's earlier selection (a position) does not pull the choice back.
    assert at.session_state[SELECTED_KEY] == second
    assert f"Outage {second} · FU-2 (fuse)" in [s.value for s in at.subheader]
    assert highlighted(at) == [second]
    refresh(at)
    assert at.session_state[SELECTED_KEY] == second


def test_crew_reports_name_the_outage_and_refuse_one_that_moved_on(territory_db):
    url, territory = territory_db
    outage_id = make_outage(url, territory)
    at = console(url, outage_id)
    button(at, "Dispatch").click().run()
    assert any(f"Dispatch crew C1 to outage {outage_id} · TX-4 (ETA" in w.value for w in at.warning)
    button(at, "Yes, do it").click().run()
    assert any(f"Crew C1 dispatched to outage {outage_id} · TX-4, ETA" in s.value for s in at.success)

    button(at, "En route").click().run()
    assert any(f"Mark crew C1 en route to outage {outage_id} · TX-4?" in w.value for w in at.warning)
    button(at, "Yes, do it").click().run()
    assert any(f"Crew C1 is en route to outage {outage_id} · TX-4." in s.value for s in at.success)

    button(at, "On site").click().run()
    assert any(f"Mark crew C1 on site at outage {outage_id} · TX-4?" in w.value for w in at.warning)
    # While the question is up, a colleague sets the outage's ETR: the screen is out of date.
    execute(
        context_of(get_database(url), SYSTEM_CLOCK, Actor("bob", "dispatcher")),
        SetEtr(outage_id, SYSTEM_CLOCK.now() + timedelta(hours=3), "medium", "dispatcher", None),
    )
    button(at, "Yes, do it").click().run()
    assert any(f"Not done: outage {outage_id} or its crew changed since" in e.value for e in at.error)
    assert outage_row(url, outage_id).state == OutageState.EN_ROUTE, "nothing done on a stale screen"

    # Asked again on the page as it is now, it goes through.
    button(at, "On site").click().run()
    button(at, "Yes, do it").click().run()
    assert any(f"Crew C1 is on site at outage {outage_id} · TX-4." in s.value for s in at.success)
    assert outage_row(url, outage_id).state == OutageState.ON_SITE


def test_a_map_click_chooses_the_outage_drawn_nearest_it_once(territory_db, monkeypatch):
    """The map's click callback reads the click against the outages as drawn; the page never
    re-reads the map's last click on later runs (it would name whatever is nearest by then)."""
    url, territory = territory_db
    first = make_outage(url, territory, "TX-4")
    second = make_outage(url, territory, "TX-3", calls=1)
    ctx = context_of(get_database(url), SYSTEM_CLOCK, Actor("dispatcher", "dispatcher"))
    drawn = {r.outage_id: r for r in dispatch_queries.sla_board(ctx)}
    state: dict[str, object] = {}
    monkeypatch.setattr(console_module.st, "session_state", state)

    near_second = drawn[second]
    state[console_module.MAP_KEY] = {
        "last_object_clicked": {"lat": near_second.lat + 0.0001, "lng": near_second.lon},
        "last_object_clicked_count": 1,
    }
    console_module.choose_on_map(tuple(drawn.values()))
    assert state[SELECTED_KEY] == second

    # The same click, against a map that no longer draws that outage, chooses nothing else.
    state[SELECTED_KEY] = first
    console_module.choose_on_map(())
    assert state[SELECTED_KEY] == first
