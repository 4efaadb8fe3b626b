"""Switching plans on a hand-drawn network: isolate, back-feed through the tie, capacity, loops,
and back to normal."""

from __future__ import annotations

from emergency.core.vocabulary import DeviceKind, SwitchState
from emergency.network.switching import (
    Grid,
    Limits,
    StepPurpose,
    assess_step,
    restoration_plan,
    return_plan,
)
from emergency.network.trace import TraceDevice

K = DeviceKind
CLOSED, OPEN = SwitchState.CLOSED, SwitchState.OPEN
# Customers per transformer: T1 10 and T2 20 on feeder 1 above SW1, T3 30 below it; T4 40 on feeder 2.
CUSTOMERS = {5: 10, 6: 20, 7: 30, 11: 40}
CODES = {1: "S", 2: "B1", 3: "R1", 4: "SW1", 8: "B2", 9: "R2", 10: "SW2", 12: "TIE"}


def device(
    n: int, code: str, kind: DeviceKind, a: str | None, b: str | None, state: SwitchState, normal: SwitchState
) -> TraceDevice:
    return TraceDevice(n, code, kind, a, b, state, normal)


def grid(**states: SwitchState) -> Grid:
    """S ─ B1 ─ n1 ─ R1 ─ n2 ─ SW1 ─ n3; T1 on n1, T2 on n2, T3 on n3; feeder 2 the same with
    B2, R2, SW2 and T4 on m3; TIE (normally open) joins n3 and m3."""
    s = states.get
    devices = [
        device(1, "S", K.SUBSTATION, None, "bus", CLOSED, CLOSED),
        device(2, "B1", K.BREAKER, "bus", "n1", s("B1", CLOSED), CLOSED),
        device(3, "R1", K.RECLOSER, "n1", "n2", s("R1", CLOSED), CLOSED),
        device(4, "SW1", K.SWITCH, "n2", "n3", s("SW1", CLOSED), CLOSED),
        device(5, "T1", K.TRANSFORMER, "n1", None, CLOSED, CLOSED),
        device(6, "T2", K.TRANSFORMER, "n2", None, CLOSED, CLOSED),
        device(7, "T3", K.TRANSFORMER, "n3", None, CLOSED, CLOSED),
        device(8, "B2", K.BREAKER, "bus", "m1", CLOSED, CLOSED),
        device(9, "R2", K.RECLOSER, "m1", "m2", CLOSED, CLOSED),
        device(10, "SW2", K.SWITCH, "m2", "m3", CLOSED, CLOSED),
        device(11, "T4", K.TRANSFORMER, "m3", None, CLOSED, CLOSED),
        device(12, "TIE", K.SWITCH, "n3", "m3", s("TIE", OPEN), OPEN),
    ]
    return Grid(tuple(devices), CUSTOMERS, {})


def test_a_fault_below_the_recloser_is_isolated_and_the_healthy_section_fed_through_the_tie() -> None:
    plan = restoration_plan(grid(), Limits(customers=100), outage_device=3)
    assert [(s.purpose, s.device_code, s.to_state) for s in plan.steps] == [
        (StepPurpose.ISOLATE, "SW1", OPEN),
        (StepPurpose.RESTORE, "TIE", CLOSED),
    ]
    isolate, restore = plan.steps
    assert isolate.effect.restored == 0 and isolate.effect.interrupted == 0
    # T3's 30 customers come back on feeder 2, which then carries them and T4's 40.
    assert restore.effect.restored == 30 and restore.effect.restored_devices == {7}
    assert restore.effect.feeder_code == "B2" and restore.effect.feeder_customers == 70
    assert not restore.effect.refused and plan.customers_restored == 30
    assert plan.unreachable == ()


def test_a_step_that_would_overload_the_receiving_feeder_is_refused_by_how_much() -> None:
    plan = restoration_plan(grid(), Limits(customers=60), outage_device=3)
    restore = plan.steps[-1]
    assert restore.effect.refused and restore.effect.overload_customers == 10
    assert "70 customers against a limit of 60 (10 too many)" in (restore.effect.refusal() or "")
    assert plan.customers_restored == 0


def test_a_per_feeder_limit_overrides_the_default() -> None:
    limits = Limits(customers=60, per_feeder={"B2": {"customers": 80}})
    assert not restoration_plan(grid(), limits, outage_device=3).steps[-1].effect.refused


def test_the_kva_limit_counts_transformer_ratings_when_set() -> None:
    rated = Grid(grid().devices, CUSTOMERS, {7: 400.0, 11: 630.0})
    restore = restoration_plan(rated, Limits(customers=100, kva=1000), outage_device=3).steps[-1]
    assert restore.effect.feeder_kva == 1030 and restore.effect.overload_kva == 30


def test_closing_the_tie_before_isolating_is_refused_with_the_loop_path() -> None:
    # Nothing out: closing the tie joins two live feeders.
    effect = assess_step(grid(), Limits(customers=1000), {}, None, 12, CLOSED)
    assert effect.refused
    assert effect.loop == ("S", "B1", "R1", "SW1", "TIE", "SW2", "R2", "B2", "S")
    assert "S → B1 → R1 → SW1 → TIE → SW2 → R2 → B2 → S" in (effect.refusal() or "")


def test_a_fault_whose_section_has_no_tie_gets_no_steps() -> None:
    # An outage at R2: below it SW2 and T4; SW2's section (T4) meets the tie, whose far side n3 is live.
    plan = restoration_plan(grid(), Limits(customers=100), outage_device=9)
    assert [s.device_code for s in plan.steps] == ["SW2", "TIE"]
    # An outage at SW1: nothing below it but its own transformer, so nothing to back-feed.
    assert restoration_plan(grid(), Limits(customers=100), outage_device=4).steps == ()


def test_return_to_normal_opens_the_tie_first_then_closes_the_isolating_switch() -> None:
    after_switching = grid(SW1=OPEN, TIE=CLOSED)
    plan = return_plan(after_switching, Limits(customers=100), outage_device=3, cut=None)
    assert [(s.purpose, s.device_code, s.to_state) for s in plan.steps] == [
        (StepPurpose.RETURN_OPEN, "TIE", OPEN),
        (StepPurpose.RETURN_CLOSE, "SW1", CLOSED),
    ]
    open_tie, close_switch = plan.steps
    assert open_tie.effect.interrupted == 30  # T3 is off until SW1 closes
    assert close_switch.effect.restored == 30 and close_switch.effect.feeder_code == "B1"
    assert not any(s.effect.refused for s in plan.steps)


def test_nothing_to_return_when_every_switch_is_normal() -> None:
    assert return_plan(grid(), Limits(customers=100), outage_device=3, cut=None).steps == ()


def test_closing_the_tie_before_isolating_a_fault_would_feed_the_fault_and_is_refused() -> None:
    # R1 is out: closing the tie with SW1 still closed would feed T2's section, where the fault is.
    effect = assess_step(grid(), Limits(customers=1000), {}, 3, 12, CLOSED)
    assert effect.refused and effect.onto_fault == ("T2",)
    assert "faulted section again (T2)" in (effect.refusal() or "")
