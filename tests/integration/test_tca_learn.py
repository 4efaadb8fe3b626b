"""`tca learn`: evidence-weighted analysis's settings from the history, on the small network.

SS-1 ─ BRK-1 ─ REC-1 ─ FU-1 ─ TX-1 (3 customers), TX-2 (4)
                     └ FU-2 ─ TX-3 (1)
       BRK-2 ─ REC-2 ─ FU-3 ─ TX-4 (5), TX-5 (2)
"""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from emergency.app.bus import execute
from emergency.app.commands.locate import LearnTcaSettings
from emergency.cli import main
from emergency.core.actor import Actor
from emergency.core.errors import PermissionDenied
from emergency.core.models import Outage, OutageState
from emergency.core.settings import get_setting
from tests.support.app_context import context_of
from tests.support.small_territory import build_small_territory

MANAGER = Actor("manager", "manager")


@pytest.fixture
def territory(database, clock):
    return build_small_territory(database, clock, tca_method="evidence")


def past_outage(
    session, clock, device_id: int, days_ago: float, customers: int, reports: int, minutes: float
):
    start = clock.now() - timedelta(days=days_ago)
    session.add(
        Outage(
            state=OutageState.CLOSED,
            device_id=device_id,
            first_report_at=start,
            last_report_at=start,
            restored_at=start + timedelta(minutes=minutes),
            customers_affected=customers,
            customers_restored=customers,
            report_count=reports,
            confirmed_by="dispatcher",
        )
    )


def test_rates_and_the_share_calling_come_from_the_past_outages(database, clock, territory):
    ids = territory.device_ids
    with database.write() as session:
        # Two years of history: two fuse faults (7 customers, 2 and 1 calling), a transformer's,
        # and a recloser's reclose that cleared in two minutes (momentary: no fault to find).
        past_outage(session, clock, ids["FU-1"], 730, 7, 2, 90)
        past_outage(session, clock, ids["FU-3"], 365, 7, 1, 60)
        past_outage(session, clock, ids["TX-4"], 10, 5, 1, 45)
        past_outage(session, clock, ids["REC-1"], 0, 8, 1, 2)
    learned = execute(context_of(database, clock, MANAGER), LearnTcaSettings())
    assert learned.outages == 4 and learned.years == pytest.approx(2.0, rel=0.01)
    assert learned.fault_rates["fuse"] == pytest.approx(2 / (3 * 2.0), rel=0.01)  # 3 fuses
    assert learned.fault_rates["transformer"] == pytest.approx(1 / (5 * 2.0), rel=0.01)
    assert "recloser" not in learned.fault_rates
    assert learned.p_call == pytest.approx(4 / 19) and learned.p_gasp == 0
    with database.read() as session:
        assert get_setting(session, "tca.p_call") == pytest.approx(4 / 19)
        rates = get_setting(session, "tca.fault_rates")
        assert rates["recloser"] == 0.3  # never seen: the setting is kept
        assert get_setting(session, "tca.learned")["outages"] == 4


def test_without_history_nothing_changes_and_only_managers_may_learn(database, clock, territory):
    with pytest.raises(PermissionDenied):
        execute(context_of(database, clock, Actor("dispatcher", "dispatcher")), LearnTcaSettings())
    learned = execute(context_of(database, clock, MANAGER), LearnTcaSettings())
    assert learned.outages == 0 and learned.summary() == "no past outages: the settings are kept"
    with database.read() as session:
        assert get_setting(session, "tca.p_call") == 0.2


def test_tca_learn_on_the_command_line(database, clock, territory, capsys):
    with database.write() as session:
        past_outage(session, clock, territory.device_ids["FU-1"], 365, 7, 3, 90)
    capsys.readouterr()
    assert main(["--db", database.url, "tca", "learn", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["outages"] == 1 and data["p_call"] == pytest.approx(3 / 7)
