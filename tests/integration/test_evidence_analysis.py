"""Evidence-weighted trouble-call analysis (`tca.method` evidence) through intake, on the small
hand-made network (tests/support/small_territory.py):

    SS-1 ─ BRK-1 ─ REC-1 ─ FU-1 ─ TX-1 (3 customers), TX-2 (4)
                         └ FU-2 ─ TX-3 (1: a grade-1 hospital)
           BRK-2 ─ REC-2 ─ FU-3 ─ TX-4 (5), TX-5 (2)

Runs on SQLite and PostgreSQL (the `database` fixture).
"""

from __future__ import annotations

import pytest
from sqlalchemy import select

from emergency.core.actor import Actor
from emergency.core.models import Device, Outage, OutageState
from emergency.core.settings import set_setting
from tests.support.commands import submit_reports
from tests.support.small_territory import build_small_territory

HOTLINE = Actor("hotline-gateway", "intake")
ACTIVE = [s for s in OutageState if s not in ("restored", "closed", "cancelled", "merged")]


@pytest.fixture
def territory(database, clock):
    return build_small_territory(database, clock, tca_method="evidence")


def calls(territory, transformer: str, customers: range, clock, kind: str = "no_power") -> list[dict]:
    return [
        {
            "channel": "meter" if kind == "last_gasp" else "hotline",
            "kind": kind,
            "account_no": territory.account_by_transformer[transformer][n],
            "reported_at": clock.now().isoformat(),
        }
        for n in customers
    ]


def outages(database) -> dict[str, Outage]:
    """Active outages of devices (not service outages) by device code."""
    with database.read() as session:
        rows = session.execute(
            select(Outage, Device.code)
            .join(Device, Device.id == Outage.device_id)
            .where(Outage.state.in_(ACTIVE), Outage.customer_id.is_(None))
        ).all()
    return {code: outage for outage, code in rows}


def test_two_calls_on_a_transformer_predict_it_with_its_confidence(database, clock, territory):
    submit_reports(database, clock, HOTLINE, calls(territory, "TX-2", range(2), clock))
    found = outages(database)
    assert set(found) == {"TX-2"}
    outage = found["TX-2"]
    assert 0.5 < outage.prediction_confidence < 1.0
    assert outage.predicted_device_id == territory.device_ids["TX-2"]


def test_the_prediction_moves_up_as_calls_arrive_keeping_the_first_report(database, clock, territory):
    submit_reports(database, clock, HOTLINE, calls(territory, "TX-1", range(2), clock))
    first = outages(database)["TX-1"]
    clock.advance(minutes=4)
    submit_reports(
        database,
        clock,
        HOTLINE,
        calls(territory, "TX-1", range(2, 3), clock) + calls(territory, "TX-2", range(4), clock),
    )
    found = outages(database)
    assert set(found) == {"FU-1"}
    assert found["FU-1"].first_report_at == first.first_report_at
    assert found["FU-1"].report_count == 7
    assert found["FU-1"].prediction_confidence > 0.5
    with database.read() as session:
        merged = session.get(Outage, first.id)
        assert merged.state == OutageState.MERGED and merged.merged_into_id == found["FU-1"].id


def test_a_lone_call_opens_only_the_callers_service_outage(database, clock, territory):
    submit_reports(database, clock, HOTLINE, calls(territory, "TX-4", range(1), clock))
    assert outages(database) == {}
    with database.read() as session:
        services = session.scalars(select(Outage).where(Outage.customer_id.is_not(None))).all()
    assert len(services) == 1 and services[0].state == OutageState.PREDICTED


def test_a_wire_down_predicts_its_transformer_at_once(database, clock, territory):
    submit_reports(database, clock, HOTLINE, calls(territory, "TX-4", range(1), clock, kind="hazard"))
    found = outages(database)
    assert set(found) == {"TX-4"} and found["TX-4"].hazard


def test_last_gasps_are_evidence_like_calls(database, clock, territory):
    gasps = calls(territory, "TX-4", range(5), clock, kind="last_gasp") + calls(
        territory, "TX-5", range(2), clock, kind="last_gasp"
    )
    submit_reports(database, clock, HOTLINE, gasps)
    assert set(outages(database)) == {"FU-3"}


def test_the_rules_stay_available_as_a_setting_and_keep_no_confidence(database, clock, territory):
    with database.write() as session:
        set_setting(session, "tca.method", "rules", clock)
    submit_reports(database, clock, HOTLINE, calls(territory, "TX-2", range(2), clock))
    outage = outages(database)["TX-2"]
    assert outage.prediction_confidence is None


def test_an_unknown_method_is_refused_by_name(database, clock, territory):
    with database.write() as session:
        set_setting(session, "tca.method", "guess", clock)
    with pytest.raises(ValueError, match=r"tca\.method"):
        submit_reports(database, clock, HOTLINE, calls(territory, "TX-2", range(2), clock))
