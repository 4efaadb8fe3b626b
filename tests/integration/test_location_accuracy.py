"""The accuracy of fault location: a prediction against the device where the crew found the fault,
on the compliance report, `report location-accuracy --json` and the board's confidence column.

    SS-1 ─ BRK-1 ─ REC-1 ─ FU-1 ─ TX-1 (3 customers), TX-2 (4)
"""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from sqlalchemy import select

from dashboard.console import board_frame, confidence_text
from emergency.app.bus import execute
from emergency.app.commands.locate import RecordFaultDevice
from emergency.app.queries import reporting as queries
from emergency.cli import main
from emergency.core.actor import Actor
from emergency.core.errors import Conflict, InvalidInput, PermissionDenied
from emergency.core.models import AuditEvent, Outage, OutageState
from emergency.dispatch.board import sla_board
from emergency.reporting.location_accuracy import judge, location_accuracy
from tests.support.app_context import SHANGHAI, context_of
from tests.support.commands import submit_reports
from tests.support.small_territory import build_small_territory

HOTLINE = Actor("hotline-gateway", "intake")
DISPATCHER = Actor("dispatcher", "dispatcher")
MANAGER = Actor("manager", "manager")


@pytest.fixture
def territory(database, clock):
    return build_small_territory(database, clock, tca_method="evidence")


def calls(territory, transformer: str, n: int, clock) -> list[dict]:
    return [
        {
            "channel": "hotline",
            "kind": "no_power",
            "account_no": territory.account_by_transformer[transformer][i],
            "reported_at": clock.now().isoformat(),
        }
        for i in range(n)
    ]


def fuse_outage(database, clock, territory) -> Outage:
    submit_reports(
        database, clock, HOTLINE, calls(territory, "TX-1", 3, clock) + calls(territory, "TX-2", 4, clock)
    )
    with database.read() as session:
        return session.scalars(select(Outage).where(Outage.state == OutageState.PREDICTED)).one()


def test_a_judgement_names_exact_too_high_too_low_and_elsewhere():
    fuse, tx1, tx2, recloser = [4, 3, 2], [5, 4, 3, 2], [6, 4, 3, 2], [3, 2]
    assert judge(tx1, tx1) == "exact"
    assert judge(tx1, fuse) == "too_high"  # the fault was below the device predicted
    assert judge(recloser, fuse) == "too_low"
    assert judge(tx2, tx1) == "elsewhere"


def test_the_crews_finding_is_judged_against_the_prediction_on_the_compliance_report(
    database, clock, territory
):
    outage = fuse_outage(database, clock, territory)
    assert outage.device_id == territory.device_ids["FU-1"]
    version = execute(
        context_of(database, clock, DISPATCHER), RecordFaultDevice(outage.id, "TX-2", outage.version)
    )
    assert version == outage.version + 1
    report = queries.compliance_report(
        context_of(database, clock, MANAGER),
        clock.now() - timedelta(hours=1),
        clock.now() + timedelta(hours=1),
    )
    row = report.location.set_index("outage_id").loc[outage.id]
    assert (row["predicted"], row["final"], row["found"]) == ("FU-1", "FU-1", "TX-2")
    assert row["first_verdict"] == "too_high" and row["final_verdict"] == "too_high"
    figures = location_accuracy(report.location)
    assert figures["outages"] == 1 and figures["first_exact_share"] == 0.0 and figures["first_too_high"] == 1
    assert 0 < figures["mean_confidence"] <= 1
    with database.read() as session:
        event = session.scalars(select(AuditEvent).where(AuditEvent.action == "outage.fault_device")).one()
    assert event.entity_id == str(outage.id) and event.actor == "dispatcher"


def test_a_finding_on_a_changed_outage_or_an_unknown_device_is_refused(database, clock, territory):
    outage = fuse_outage(database, clock, territory)
    ctx = context_of(database, clock, DISPATCHER)
    with pytest.raises(Conflict):
        execute(ctx, RecordFaultDevice(outage.id, "TX-2", outage.version - 1))
    with pytest.raises(InvalidInput, match="NOPE"):
        execute(ctx, RecordFaultDevice(outage.id, "NOPE", outage.version))
    with pytest.raises(PermissionDenied):
        execute(context_of(database, clock, HOTLINE), RecordFaultDevice(outage.id, "TX-2", outage.version))


def test_report_location_accuracy_prints_the_figures_as_json(database, clock, territory, capsys):
    outage = fuse_outage(database, clock, territory)
    execute(context_of(database, clock, DISPATCHER), RecordFaultDevice(outage.id, "FU-1", outage.version))
    day = clock.now().astimezone(SHANGHAI).date().isoformat()
    capsys.readouterr()
    assert (
        main(["--db", database.url, "report", "location-accuracy", "--from", day, "--to", day, "--json"]) == 0
    )
    data = json.loads(capsys.readouterr().out)
    assert data["overall"]["first_exact"] == 1 and data["overall"]["first_exact_share"] == 1.0
    assert [row["found"] for row in data["outcomes"]] == ["FU-1"]


def test_the_board_shows_each_predictions_confidence(database, clock, territory):
    outage = fuse_outage(database, clock, territory)
    with database.read() as session:
        (row,) = sla_board(session, clock, SHANGHAI)
    assert row.outage_id == outage.id and row.confidence == outage.prediction_confidence
    frame = board_frame([row], "en", SHANGHAI)
    assert frame[0]["Confidence"] == f"{outage.prediction_confidence:.0%}"
    assert confidence_text(None) == "—" and confidence_text(0.874) == "87%"
