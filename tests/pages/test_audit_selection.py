"""The audit page opens the event the reader chose, even when newer events push its row down."""

from __future__ import annotations

from streamlit.testing.v1 import AppTest

from tests.pages.conftest import page
from tests.pages.test_audit_page import add_confirmations
from tests.support.small_territory import PASSWORDS
from tests.support.staff_login import signed_in


def audit_table(at: AppTest):  # type: ignore[no-untyped-def]
    return next(d for d in at.dataframe if (d.key or "").startswith("audit-table"))


def opened(at: AppTest) -> list[str]:
    return [s.value for s in at.subheader if s.value.startswith("Event ")]


def test_a_chosen_event_stays_open_when_newer_events_arrive(territory_db) -> None:
    url, _ = territory_db
    add_confirmations(url, 3)
    at = signed_in("manager", PASSWORDS["manager"])
    at.switch_page(page("audit_log.py")).run()
    table = audit_table(at)
    # The newest of the three confirmations (entity 2) is on row 0; the reader picks row 1 (entity 1).
    entity_ids = list(table.value["Entity id"])
    chosen_row = entity_ids.index("1")
    at.session_state[table.key] = {"selection": {"rows": [chosen_row]}}
    at.run()
    assert not at.exception, at.exception
    first_view = opened(at)
    assert len(first_view) == 1 and "outage.confirm" in first_view[0]

    # Two more events arrive (a colleague's work, or this reader's own audited download) and the
    # page reruns: the rows move down two places.
    add_confirmations(url, 2)
    at.run()
    assert not at.exception, at.exception
    assert len(audit_table(at).value) == len(entity_ids) + 2
    assert opened(at) == first_view, "the same event stays open, not the one now on its old row"
