"""The console's "make safe first" line lasts while the outage is active, not after it is restored
(issue #16, point 3): the detail says whether the hazard is still live."""

from __future__ import annotations

from sqlalchemy import select

from emergency.core.actor import Actor
from emergency.core.clock import SYSTEM_CLOCK
from emergency.core.db import get_database
from emergency.core.models import Outage, OutageState
from tests.pages.test_console import console
from tests.support.commands import submit_reports
from tests.support.dispatch_actions import restore_outage

HAZARD_LINE = "Hazard reported (wires down or danger): make safe first."


def hazard_outage(url: str, territory) -> int:
    """A customer on TX-4 reports wires down: one hazard outage."""
    report = {
        "channel": "hotline",
        "kind": "hazard",
        "account_no": territory.account_by_transformer["TX-4"][0],
        "reported_at": SYSTEM_CLOCK.now().isoformat(),
        "description": "wires down across the road",
    }
    result = submit_reports(get_database(url), SYSTEM_CLOCK, Actor("hotline", "intake"), [report])
    assert not result.errors
    with get_database(url).read() as session:
        outage = session.scalars(select(Outage).where(Outage.hazard.is_(True))).one()
        return outage.id


def test_the_hazard_line_goes_once_the_outage_is_restored(territory_db):
    url, territory = territory_db
    outage_id = hazard_outage(url, territory)
    at = console(url, outage_id)
    assert HAZARD_LINE in [e.value for e in at.error]

    restore_outage(get_database(url), SYSTEM_CLOCK, Actor("dispatcher", "dispatcher"), outage_id)
    at = console(url, outage_id)
    with get_database(url).read() as session:
        restored = session.get(Outage, outage_id)
        assert (restored.state, restored.hazard) == (OutageState.RESTORED, True)  # the record keeps it
    assert any(f"Outage {outage_id} is restored" in i.value for i in at.info), "the panel is shown"
    assert HAZARD_LINE not in [e.value for e in at.error]
