"""Switching on the traced network (SQLite and PostgreSQL): two feeders joined by a normally open tie.

    S ─ B1 ─ f1 ─ R1 ─ f2 ─ SW1 ─ f3          T1 (5 customers) on f1, T2 (4) on f2, T3 (6) on f3
      └ B2 ─ g1 ─ R2 ─ g2                     T4 (3) and T5 (7) on g2
    TIE (normally open) joins f3 and g2.      25 customers served.

On 1 July 2026, local time: 10:00 SCADA opens R1 (a fault between R1 and SW1: T2 and T3 out, 10
customers); 10:15 the dispatcher opens SW1 (isolate); 10:20 closes the tie: T3's 6 customers come
back from feeder B2; 12:00 the repair restores T2's 4. By hand: 6 x 20 + 4 x 120 = 600 customer
minutes; SAIDI 600 / 25 = 24 minutes; SAIFI 10 / 25.
"""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from emergency.app.bus import execute
from emergency.app.commands.switching import OperateSwitch, SwitchOperated
from emergency.app.queries import reporting as reporting_queries
from emergency.app.queries import switching as switching_queries
from emergency.app.queries.switching import OutageSwitching
from emergency.core.actor import Actor
from emergency.core.clock import FakeClock
from emergency.core.db import Database
from emergency.core.errors import Conflict, InvalidInput
from emergency.core.models import (
    ACTIVE_OUTAGE_STATES,
    AuditEvent,
    Customer,
    Device,
    DeviceKind,
    Outage,
    RestorationStep,
    SwitchState,
)
from emergency.core.settings import set_setting
from emergency.network.switching import StepPurpose
from emergency.network.trace import retrace
from tests.support.app_context import context_of
from tests.support.commands import submit_reports
from tests.support.dispatch_actions import restore_outage
from tests.support.two_feeders import build_two_feeders

TZ = ZoneInfo("Asia/Shanghai")
DISPATCHER = Actor("dispatcher", "dispatcher")
SCADA = Actor("scada-link", "intake")
HOTLINE = Actor("hotline", "intake")
MANAGER = Actor("manager", "manager")
K = DeviceKind
OPEN, CLOSED = SwitchState.OPEN, SwitchState.CLOSED


def at(clock: FakeClock, hour: int, minute: int = 0) -> None:
    clock.set(datetime(2026, 7, 1, hour, minute, tzinfo=TZ))


def accounts_of(database: Database, transformer: int) -> list[str]:
    with database.read() as session:
        return list(
            session.scalars(
                select(Customer.account_no)
                .where(Customer.transformer_id == transformer)
                .order_by(Customer.id)
            )
        )


def links(database: Database) -> dict[str, tuple[str | None, str | None]]:
    """Each device's traced parent and feeder, by code."""
    with database.read() as session:
        code = dict(session.execute(select(Device.id, Device.code)).tuples().all())
        return {
            code[i]: (code.get(p), code.get(f))
            for i, p, f in session.execute(select(Device.id, Device.parent_id, Device.feeder_id))
        }


def plan_for(
    database: Database, clock: FakeClock, outage_id: int, returning: bool = False
) -> OutageSwitching:
    return switching_queries.switching_plan(context_of(database, clock, DISPATCHER), outage_id, returning)


def execute_step(
    database: Database, clock: FakeClock, plan: OutageSwitching, order: int, actor: Actor = DISPATCHER
) -> SwitchOperated:
    step = next(s for s in plan.plan.steps if s.order == order)
    command = OperateSwitch(
        plan.outage_id,
        plan.outage_version,
        step.device_id,
        plan.device_versions[step.device_id],
        step.to_state,
        step.purpose,
    )
    return execute(context_of(database, clock, actor), command)


def scada(kind: str, device: str) -> list[dict[str, str]]:
    return [{"channel": "scada", "kind": kind, "device_code": device}]


def fault_on_r1(database: Database, clock: FakeClock) -> int:
    at(clock, 10)
    return submit_reports(database, clock, SCADA, scada("device_opened", "R1")).analysis.confirmed[0]


@pytest.mark.parametrize(("method", "predicted"), [("rules", "B2"), ("evidence", "R2")])
def test_calls_beyond_the_open_tie_roll_up_on_their_own_feeder(
    database: Database, clock: FakeClock, method: str, predicted: str
) -> None:
    ids = build_two_feeders(database, clock)
    with database.write() as session:
        set_setting(session, "tca.method", method, clock)
    assert links(database)["T5"] == ("R2", "B2") and links(database)["T3"] == ("SW1", "B1")
    at(clock, 9)
    calls = [
        {"channel": "hotline", "kind": "no_power", "account_no": account}
        for transformer in ("T4", "T5")
        for account in accounts_of(database, ids[transformer])[:2]
    ]
    submit_reports(database, clock, HOTLINE, calls)
    with database.read() as session:
        active = session.scalars(select(Outage).where(Outage.state.in_(ACTIVE_OUTAGE_STATES))).all()
    # Four of feeder B2's 10 customers call from both its transformers. The rules roll the
    # prediction up to feeder B2 (past R2, by the share calling); the evidence names R2, the lowest
    # device that explains both transformers (it serves the same 10). Either way it counts feeder
    # B2's 10 customers, not T3's 6 beyond the open tie: never the tie, never feeder B1.
    assert [(o.device_id, o.customers_affected) for o in active] == [(ids[predicted], 10)]


def test_a_healthy_section_is_restored_through_the_tie_and_counted_to_the_step(
    database: Database, clock: FakeClock
) -> None:
    ids = build_two_feeders(database, clock)
    outage_id = fault_on_r1(database, clock)
    with database.read() as session:
        outage = session.get(Outage, outage_id)
        assert (outage.device_id, outage.customers_affected) == (ids["R1"], 10)

    at(clock, 10, 10)
    plan = plan_for(database, clock, outage_id)
    assert [(s.purpose, s.device_code, s.to_state, s.effect.restored) for s in plan.plan.steps] == [
        (StepPurpose.ISOLATE, "SW1", OPEN, 0),
        (StepPurpose.RESTORE, "TIE", CLOSED, 6),
    ]
    restore = plan.plan.steps[1].effect
    # Feeder B2 then carries its own 10 customers and T3's 6, within the default limit.
    assert (restore.feeder_code, restore.feeder_customers, restore.refused) == ("B2", 16, False)

    at(clock, 10, 15)
    isolated = execute_step(database, clock, plan, 1)
    assert (isolated.state, isolated.customers_restored) == ("open", 0)
    at(clock, 10, 20)
    fed = execute_step(database, clock, plan_for(database, clock, outage_id), 1)
    assert (fed.device_code, fed.customers_restored, fed.feeder_code) == ("TIE", 6, "B2")
    assert fed.outage.still_out == 4 and fed.outage.state == "confirmed"
    # The re-trace moved the healthy section to feeder B2 through the tie; the faulted one stays.
    assert links(database)["T3"] == ("TIE", "B2")
    assert links(database)["T2"] == ("R1", "B1")
    with database.read() as session:
        (step,) = session.scalars(select(RestorationStep).where(RestorationStep.outage_id == outage_id)).all()
        tie = session.get(Device, ids["TIE"])
        audit_row = session.scalars(
            select(AuditEvent).where(AuditEvent.action == "outage.switching").order_by(AuditEvent.id.desc())
        ).first()
    assert step.customers_restored == 6 and step.at == datetime(2026, 7, 1, 10, 20, tzinfo=TZ)
    assert step.note == "switching step (restore): close TIE (fed from B2)" and step.by == "dispatcher"
    assert (tie.switched_state, tie.switched_at) == (CLOSED, datetime(2026, 7, 1, 10, 20, tzinfo=TZ))
    assert audit_row is not None and audit_row.actor == "dispatcher" and audit_row.entity_id == str(outage_id)
    assert audit_row.after["switch"]["code"] == "TIE" and audit_row.after["customers_restored_by_step"] == 6
    # Nothing is left to back-feed.
    assert plan_for(database, clock, outage_id).plan.steps == ()

    at(clock, 12)
    restore_outage(database, clock, DISPATCHER, outage_id)
    at(clock, 20)
    report = reporting_queries.reliability_report(
        context_of(database, clock, MANAGER), date(2026, 7, 1), date(2026, 7, 1)
    )
    overall = report.overall.loc["all_days"]
    assert overall["customers_served"] == 25
    assert overall["saidi"] == pytest.approx((6 * 20 + 4 * 120) / 25)
    assert overall["saifi"] == pytest.approx(10 / 25)


def test_return_to_normal_after_the_repair_is_a_plan_too(database: Database, clock: FakeClock) -> None:
    ids = build_two_feeders(database, clock)
    outage_id = fault_on_r1(database, clock)
    for minute in (15, 20):
        at(clock, 10, minute)
        execute_step(database, clock, plan_for(database, clock, outage_id), 1)
    at(clock, 12)
    submit_reports(database, clock, SCADA, scada("device_closed", "R1"))
    with database.read() as session:
        assert session.get(Outage, outage_id).state == "restored"
    plan = plan_for(database, clock, outage_id)
    assert plan.plan.returning
    assert [(s.purpose, s.device_code, s.to_state) for s in plan.plan.steps] == [
        (StepPurpose.RETURN_OPEN, "TIE", OPEN),
        (StepPurpose.RETURN_CLOSE, "SW1", CLOSED),
    ]
    assert plan.plan.steps[0].effect.interrupted == 6 and plan.plan.steps[1].effect.restored == 6
    at(clock, 12, 5)
    opened = execute_step(database, clock, plan, 1)
    assert opened.customers_interrupted == 6 and opened.customers_restored == 0
    at(clock, 12, 6)
    execute_step(database, clock, plan_for(database, clock, outage_id), 1)
    assert links(database)["T3"] == ("SW1", "B1")
    assert plan_for(database, clock, outage_id).plan.steps == ()
    with database.read() as session:
        # A restored outage gets no more restoration steps from switching.
        assert (
            len(session.scalars(select(RestorationStep).where(RestorationStep.outage_id == outage_id)).all())
            == 2
        )
        assert session.get(Device, ids["TIE"]).switched_state == OPEN


def test_a_step_that_would_overload_the_feeder_is_proposed_refused_and_not_executed(
    database: Database, clock: FakeClock
) -> None:
    ids = build_two_feeders(database, clock)
    with database.write() as session:
        set_setting(session, "switching.feeder_customer_limit", 12, clock)
    outage_id = fault_on_r1(database, clock)
    plan = plan_for(database, clock, outage_id)
    restore = plan.plan.steps[-1]
    assert restore.device_code == "TIE" and restore.effect.overload_customers == 4  # 16 against 12
    execute_step(database, clock, plan, 1)
    with pytest.raises(InvalidInput, match=r"16 customers against a limit of 12 \(4 too many\)"):
        execute_step(database, clock, plan_for(database, clock, outage_id), 1)
    with database.read() as session:
        assert session.get(Device, ids["TIE"]).switched_state is None
        assert session.scalars(select(RestorationStep)).all() == []
    # A per-feeder limit lets B2 take it.
    with database.write() as session:
        set_setting(session, "switching.feeder_limits", {"B2": {"customers": 20}}, clock)
    assert execute_step(database, clock, plan_for(database, clock, outage_id), 1).customers_restored == 6


def test_closing_the_tie_between_two_live_feeders_is_refused_with_the_loop(
    database: Database, clock: FakeClock
) -> None:
    ids = build_two_feeders(database, clock)
    outage_id = fault_on_r1(database, clock)
    with database.read() as session:
        tie_version = session.get(Device, ids["TIE"]).version
    # The outage is restored in the field first: R1 closes, so both sides of the tie are live.
    submit_reports(database, clock, SCADA, scada("device_closed", "R1"))
    close_tie = OperateSwitch(outage_id, None, ids["TIE"], tie_version, CLOSED)
    with pytest.raises(InvalidInput, match="closes a loop \\(S → B2 → R2 → TIE → SW1 → R1 → B1 → S\\)"):
        execute(context_of(database, clock, DISPATCHER), close_tie)
    with database.read() as session:
        assert session.get(Device, ids["TIE"]).switched_state is None
    # A stale switch version is refused as a conflict.
    with pytest.raises(Conflict):
        execute(context_of(database, clock, DISPATCHER), OperateSwitch(outage_id, None, ids["SW1"], 99, OPEN))


def test_scada_switching_in_the_field_re_traces_the_supply(database: Database, clock: FakeClock) -> None:
    build_two_feeders(database, clock)
    at(clock, 10)
    # Field automation isolates and back-feeds by itself; SCADA reports both operations.
    submit_reports(database, clock, SCADA, scada("device_opened", "SW1"))
    assert links(database)["T3"] == ("SW1", "B1")  # a tripped switch keeps its dead section below it
    at(clock, 10, 1)
    submit_reports(database, clock, SCADA, scada("device_closed", "TIE"))
    assert links(database)["T3"] == ("TIE", "B2")


def test_the_demo_traces_to_the_tree_it_was_written_as_and_proposes_back_feed(
    database: Database, clock: FakeClock
) -> None:
    from emergency.demo.load import load_demo

    load_demo(database, clock, customers=10_000, seed=7, history_years=0)
    with database.write() as session:
        result = retrace(session, clock)
        ties = session.scalars(select(Device).where(Device.kind == K.SWITCH)).all()
    assert result.moved == [] and result.trace.problems() == []
    assert len(ties) == 3 and all(t.normal_state == OPEN for t in ties)
    # An outage at the recloser heading the section next to a tie's far end: the section below
    # the next recloser down the line is fed from the neighbouring feeder.
    tie = ties[0]
    with database.write() as session:
        end = session.scalars(select(Device).where(Device.code == tie.from_node)).one()
        above = session.get(Device, end.parent_id)
        assert above.kind in (K.RECLOSER, K.BREAKER)
        outage = Outage(
            device_id=above.id,
            state="confirmed",
            customers_affected=1,
            first_report_at=clock.now(),
            last_report_at=clock.now(),
            district_id=above.district_id,
        )
        session.add(outage)
        session.flush()
        outage_id = outage.id
    plan = plan_for(database, clock, outage_id)
    assert [(s.purpose, s.device_code) for s in plan.plan.steps][:2] == [
        (StepPurpose.ISOLATE, end.code),
        (StepPurpose.RESTORE, tie.code),
    ]
    assert plan.plan.steps[1].effect.restored > 0
