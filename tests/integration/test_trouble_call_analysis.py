"""Trouble-call analysis on the small hand-made network, with answers counted by hand.

    SS-1 ─ BRK-1 ─ REC-1 ─ FU-1 ─ TX-1 (3 customers), TX-2 (4)
                         └ FU-2 ─ TX-3 (1: a grade-1 hospital)
           BRK-2 ─ REC-2 ─ FU-3 ─ TX-4 (5), TX-5 (2)

Runs on SQLite and PostgreSQL (the `database` fixture).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select, update

from emergency.core.actor import Actor
from emergency.core.errors import Conflict, InvalidInput
from emergency.core.models import (
    Customer,
    Device,
    Outage,
    OutageState,
    Report,
    ReportStatus,
    RestorationStep,
    SwitchState,
)
from emergency.core.settings import set_setting
from tests.support.commands import submit_reports
from tests.support.dispatch_actions import confirm_outage, restore_outage
from tests.support.small_territory import build_small_territory

HOTLINE = Actor("hotline-gateway", "intake")
DISPATCHER = Actor("dispatcher", "dispatcher")


@pytest.fixture
def territory(database, clock):
    return build_small_territory(database, clock)


def call(
    territory, transformer: str, n: int, clock, minutes_ago: float = 0, kind: str = "no_power"
) -> dict[str, Any]:
    return {
        "channel": "meter" if kind == "last_gasp" else "hotline",
        "kind": kind,
        "account_no": territory.account_by_transformer[transformer][n],
        "reported_at": (clock.now() - timedelta(minutes=minutes_ago)).isoformat(),
    }


ACTIVE = [s for s in OutageState if s not in ("restored", "closed", "cancelled", "merged")]


def active(database) -> dict[str, Outage]:
    """Active outages of devices (not single customers' service outages) by device code."""
    with database.read() as session:
        rows = session.execute(
            select(Outage, Device.code)
            .join(Device, Device.id == Outage.device_id)
            .where(Outage.state.in_(ACTIVE), Outage.customer_id.is_(None))
        ).all()
    return {code: outage for outage, code in rows}


def services(database) -> dict[tuple[str, str], Outage]:
    """Active service outages (one customer's lone call) by (transformer code, account number)."""
    with database.read() as session:
        rows = session.execute(
            select(Outage, Device.code, Customer.account_no)
            .join(Device, Device.id == Outage.device_id)
            .join(Customer, Customer.id == Outage.customer_id)
            .where(Outage.state.in_(ACTIVE))
        ).all()
    return {(code, account): outage for outage, code, account in rows}


def test_two_calls_on_one_transformer_predict_it(database, clock, territory):
    first = submit_reports(database, clock, HOTLINE, [call(territory, "TX-1", 0, clock, minutes_ago=3)])
    assert active(database) == {}, "one call of three customers does not predict the transformer"
    (service,) = services(database).values()  # the caller's own outage, clocks running
    assert first.analysis.predicted == [service.id]

    result = submit_reports(database, clock, HOTLINE, [call(territory, "TX-1", 1, clock)])

    outages = active(database)
    assert set(outages) == {"TX-1"} and services(database) == {}
    tx1 = outages["TX-1"]
    assert result.analysis.predicted == [tx1.id]
    assert result.analysis.merged == [service.id], "the service outage is rolled up into it"
    assert tx1.state == OutageState.PREDICTED
    assert (tx1.customers_affected, tx1.report_count) == (3, 2)
    assert tx1.first_report_at == clock.now() - timedelta(minutes=3)


def test_one_call_predicts_a_transformer_that_serves_one_customer(database, clock, territory):
    submit_reports(database, clock, HOTLINE, [call(territory, "TX-3", 0, clock)])
    # TX-3 is FU-2's only transformer: its one customer calling is all of FU-2's customers, so the
    # prediction rolls up to the fuse (and stops at REC-1, which telemetry shows closed).
    outage = active(database)["FU-2"]
    assert outage.customers_affected == 1
    assert outage.important_affected == {"grade1": 1}
    assert outage.weighted_customers == 50


def test_calls_under_two_transformers_of_one_fuse_roll_up_to_the_fuse(database, clock, territory):
    submit_reports(
        database,
        clock,
        HOTLINE,
        [call(territory, "TX-1", 0, clock), call(territory, "TX-1", 1, clock)]
        + [call(territory, "TX-2", i, clock, kind="last_gasp") for i in range(2)],
    )

    outages = active(database)
    assert set(outages) == {"FU-1"}
    assert (outages["FU-1"].customers_affected, outages["FU-1"].report_count) == (7, 4)
    with database.read() as session:
        merged = session.scalars(select(Outage).where(Outage.state == OutageState.MERGED)).all()
        assert {m.merged_into_id for m in merged} == {outages["FU-1"].id}
        assert (
            session.scalar(
                select(func.count()).select_from(Report).where(Report.outage_id == outages["FU-1"].id)
            )
            == 4
        )


def test_the_share_of_customers_calling_rolls_up_without_predicted_children(database, clock, territory):
    one_call_each = [call(territory, "TX-1", 0, clock), call(territory, "TX-2", 0, clock)]  # 2 of FU-1's 7
    submit_reports(database, clock, HOTLINE, one_call_each)
    assert active(database) == {}, "2/7 = 29 % is under the default 30 % share"
    assert {code for code, _ in services(database)} == {"TX-1", "TX-2"}, "each caller's own outage"

    with database.write() as session:
        set_setting(session, "tca.share_to_roll_up", 0.25, clock)
    submit_reports(database, clock, HOTLINE, [call(territory, "TX-2", 1, clock)])
    assert set(active(database)) == {"FU-1"}
    assert services(database) == {}, "the service outages' calls counted, and they were rolled up"
    assert active(database)["FU-1"].report_count == 3


def test_a_recloser_telemetry_shows_closed_stops_the_roll_up(database, clock, territory):
    both_fuses = [call(territory, "TX-1", i, clock) for i in range(2)] + [
        call(territory, "TX-2", i, clock) for i in range(2)
    ]
    submit_reports(database, clock, HOTLINE, [*both_fuses, call(territory, "TX-3", 0, clock)])
    assert set(active(database)) == {"FU-1", "FU-2"}, "REC-1 reports closed, so the fault is below it"
    assert active(database)["FU-2"].customers_affected == 1


def test_without_telemetry_two_fuses_out_roll_up_to_the_recloser(database, clock, territory):
    with database.write() as session:
        session.execute(update(Device).where(Device.code == "REC-1").values(scada_state=SwitchState.UNKNOWN))
    both_fuses = [call(territory, "TX-1", i, clock) for i in range(2)] + [
        call(territory, "TX-2", i, clock) for i in range(2)
    ]
    submit_reports(database, clock, HOTLINE, [*both_fuses, call(territory, "TX-3", 0, clock)])
    outages = active(database)
    assert set(outages) == {"REC-1"}
    assert outages["REC-1"].customers_affected == 8
    assert outages["REC-1"].important_affected == {"grade1": 1}


def test_a_scada_trip_confirms_an_outage_at_once_and_absorbs_predictions_below(database, clock, territory):
    submit_reports(
        database, clock, HOTLINE, [call(territory, "TX-4", i, clock, minutes_ago=2) for i in range(2)]
    )
    assert set(active(database)) == {"TX-4"}

    trip = {"channel": "scada", "kind": "device_opened", "device_code": "BRK-2", "external_id": "EMS-77"}
    result = submit_reports(database, clock, Actor("scada-link", "intake"), [trip])

    outages = active(database)
    assert set(outages) == {"BRK-2"}
    brk2 = outages["BRK-2"]
    assert brk2.state == OutageState.CONFIRMED
    assert (brk2.confirmed_by, brk2.confirmed_at) == ("scada", clock.now())
    assert brk2.first_report_at == clock.now() - timedelta(minutes=2), (
        "the first call still starts the clocks"
    )
    assert (brk2.customers_affected, brk2.report_count) == (7, 3)
    assert result.analysis.confirmed == [brk2.id]
    with database.read() as session:
        assert session.scalar(select(Device.scada_state).where(Device.code == "BRK-2")) == SwitchState.OPEN


def test_scada_close_restores_the_outage_at_that_device(database, clock, territory):
    scada = Actor("scada-link", "intake")
    submit_reports(
        database, clock, scada, [{"channel": "scada", "kind": "device_opened", "device_code": "REC-2"}]
    )
    clock.advance(minutes=40)
    result = submit_reports(
        database, clock, scada, [{"channel": "scada", "kind": "device_closed", "device_code": "REC-2"}]
    )
    assert active(database) == {}
    with database.read() as session:
        outage = session.get(Outage, result.analysis.restored[0])
        assert (outage.state, outage.restored_at, outage.customers_restored) == ("restored", clock.now(), 7)


def test_calls_far_apart_in_time_do_not_make_one_outage(database, clock, territory):
    submit_reports(database, clock, HOTLINE, [call(territory, "TX-1", 0, clock, minutes_ago=45)])
    submit_reports(database, clock, HOTLINE, [call(territory, "TX-1", 1, clock)])
    assert active(database) == {}, "45 minutes apart: not the same event (window 30 min)"
    assert len(services(database)) == 2, "each caller keeps an outage of their own"


def test_predictions_far_apart_in_time_do_not_roll_up(database, clock, territory):
    submit_reports(
        database, clock, HOTLINE, [call(territory, "TX-1", i, clock, minutes_ago=50) for i in range(2)]
    )
    submit_reports(database, clock, HOTLINE, [call(territory, "TX-2", i, clock) for i in range(2)])
    assert set(active(database)) == {"TX-1", "TX-2"}, "two predictions 50 minutes apart stay two outages"


def test_calls_after_an_upstream_restoration_open_a_nested_outage(database, clock, territory):
    submit_reports(
        database,
        clock,
        HOTLINE,
        [call(territory, "TX-1", i, clock) for i in range(2)]
        + [call(territory, "TX-2", i, clock) for i in range(2)],
    )
    fuse = active(database)["FU-1"]
    restore_outage(database, clock, DISPATCHER, fuse.id)
    clock.advance(minutes=10)

    result = submit_reports(database, clock, HOTLINE, [call(territory, "TX-2", 3, clock)])

    outages = active(database)
    assert set(outages) == {"TX-2"}
    nested = outages["TX-2"]
    assert result.analysis.nested == [nested.id]
    assert (nested.nested, nested.nested_in_id, nested.customers_affected) == (True, fuse.id, 4)


def test_a_call_long_after_a_restoration_is_an_ordinary_call(database, clock, territory):
    submit_reports(database, clock, HOTLINE, [call(territory, "TX-3", 0, clock)])
    restore_outage(database, clock, DISPATCHER, active(database)["FU-2"].id)
    clock.advance(hours=3)
    submit_reports(database, clock, HOTLINE, [call(territory, "TX-1", 0, clock)])
    assert active(database) == {}, "not nested: an ordinary lone call ..."
    (service,) = services(database).values()
    assert service.nested is False, "... which opens the caller's service outage"


def test_step_restoration_counts_customers_back_in_steps(database, clock, territory):
    submit_reports(
        database,
        clock,
        HOTLINE,
        [call(territory, "TX-4", i, clock) for i in range(2)]
        + [call(territory, "TX-5", 0, clock), call(territory, "TX-5", 1, clock)],
    )
    fuse = active(database)["FU-3"]
    assert fuse.customers_affected == 7
    confirm_outage(database, clock, DISPATCHER, fuse.id)
    clock.advance(minutes=30)
    step = restore_outage(database, clock, DISPATCHER, fuse.id, customers=5, note="TX-4 back on")
    assert (step.state, step.customers_restored) == (OutageState.CONFIRMED, 5)
    with pytest.raises(InvalidInput):
        restore_outage(database, clock, DISPATCHER, fuse.id, customers=3)
    clock.advance(minutes=20)
    done = restore_outage(database, clock, DISPATCHER, fuse.id)
    assert (done.state, done.customers_restored, done.restored_at) == (OutageState.RESTORED, 7, clock.now())
    with database.read() as session:
        steps = session.scalars(
            select(RestorationStep).where(RestorationStep.outage_id == fuse.id).order_by(RestorationStep.at)
        ).all()
        assert [s.customers_restored for s in steps] == [5, 2]
    with pytest.raises(Conflict):
        restore_outage(database, clock, DISPATCHER, fuse.id)


def test_a_wire_down_report_predicts_at_once_and_marks_the_hazard(database, clock, territory):
    submit_reports(database, clock, HOTLINE, [call(territory, "TX-4", 0, clock, kind="hazard")])
    outage = active(database)["TX-4"]
    assert outage.hazard is True


def test_a_retried_report_is_stored_once_and_answered_with_the_first_id(database, clock, territory):
    report = {**call(territory, "TX-1", 0, clock), "external_id": "CC-2026-0001"}
    first = submit_reports(database, clock, HOTLINE, [report])
    again = submit_reports(database, clock, HOTLINE, [report, report])
    assert [a.id for a in again.accepted] == [first.accepted[0].id] * 2
    assert all(a.duplicate for a in again.accepted)
    with database.read() as session:
        assert session.scalar(select(func.count()).select_from(Report)) == 1


def test_repeats_within_one_batch_are_stored_once(database, clock, territory):
    report = {**call(territory, "TX-1", 0, clock), "external_id": "APP-9"}
    result = submit_reports(database, clock, HOTLINE, [report, report])
    assert result.accepted[0].id == result.accepted[1].id
    assert [a.duplicate for a in result.accepted] == [False, True]


def test_a_location_resolves_to_the_nearest_transformer(database, clock, territory):
    result = submit_reports(
        database, clock, HOTLINE, [{"channel": "web", "kind": "no_power", "lon": 121.1502, "lat": 28.0401}]
    )
    with database.read() as session:
        report = session.get(Report, result.accepted[0].id)
        assert report.transformer_id == territory.device_ids["TX-5"]
        assert report.status == ReportStatus.RECEIVED


@pytest.mark.parametrize(
    ("change", "field", "reason"),
    [
        ({"account_no": "0000000000"}, "account_no", "unknown account number"),
        ({"account_no": None, "lon": 100.0, "lat": 20.0}, "lon", "outside the territory"),
        ({"account_no": None, "lon": 121.0001, "lat": 28.0999}, "lon", "no service transformer within 500 m"),
        ({"account_no": None}, "account_no", "give an account number or a location"),
        ({"kind": "power_cut"}, "kind", "unknown kind 'power_cut'"),
        ({"channel": None}, "channel", "required"),
        ({"reported_at": "FUTURE"}, "reported_at", "is in the future"),
        ({"reported_at": "OLD"}, "reported_at", "hours old"),
        ({"reported_at": "yesterday"}, "reported_at", "not an ISO 8601 time"),
        ({"description": "x" * 2001}, "description", "longer than 2000 characters"),
        ({"lat": 28.05}, "lon", "give both lon and lat"),
        ({"lon": "east", "lat": 28.0}, "lon", "not a number"),
        ({"contact_phone": "call me"}, "contact_phone", "not a phone number"),
        ({"colour": "red"}, "colour", "unknown field"),
        ({"contact_name": "a\x00b"}, "contact_name", "control characters"),
        ({"description": "broken \ud800 text"}, "description", "not valid Unicode"),
    ],
)
def test_bad_reports_are_refused_with_field_and_reason_and_nothing_is_stored(
    database, clock, territory, change, field, reason
):
    report = call(territory, "TX-1", 0, clock)
    if change.get("reported_at") == "FUTURE":
        change = {"reported_at": (clock.now() + timedelta(hours=1)).isoformat()}
    elif change.get("reported_at") == "OLD":
        change = {"reported_at": (clock.now() - timedelta(days=10)).isoformat()}
    report.update(change)
    report = {k: v for k, v in report.items() if v is not None}

    result = submit_reports(database, clock, HOTLINE, [report])

    assert result.accepted == []
    assert [(e.index, e.field) for e in result.errors][:1] == [(0, field)]
    assert reason in result.errors[0].reason
    with database.read() as session:
        assert session.scalar(select(func.count()).select_from(Report)) == 0
        assert session.scalar(select(func.count()).select_from(Outage)) == 0


def test_a_bad_item_does_not_stop_the_good_ones_in_its_batch(database, clock, territory):
    result = submit_reports(
        database,
        clock,
        HOTLINE,
        [call(territory, "TX-1", 0, clock), {"channel": "web"}, call(territory, "TX-1", 1, clock)],
    )
    assert [a.index for a in result.accepted] == [0, 2]
    assert {e.index for e in result.errors} == {1}
    assert set(active(database)) == {"TX-1"}
