"""Tracing the supply through switches: ties, loops, dead sections and back-feed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from emergency.core.vocabulary import DeviceKind, SwitchState
from emergency.network.trace import TraceDevice, current_state, normal_trace, trace

K = DeviceKind
CLOSED, OPEN = SwitchState.CLOSED, SwitchState.OPEN


def device(
    n: int,
    code: str,
    kind: DeviceKind,
    a: str | None,
    b: str | None,
    state: SwitchState = CLOSED,
    normal: SwitchState | None = None,
) -> TraceDevice:
    return TraceDevice(n, code, kind, a, b, state, normal or state)


def two_feeders(tie: SwitchState = OPEN, **states: SwitchState) -> list[TraceDevice]:
    """Two feeders of one substation; the ends of their mains meet at a normally open tie.

    S ─ B1 ─ n1 ─ R1 ─ n2 ─ SW1 ─ n3 ─ (T3)     and the same for feeder 2 (B2, R2, SW2, T4);
    T1 on n1, T2 on n2, T3 on n3; TIE joins n3 and m3.
    """
    s = states.get
    return [
        device(1, "S", K.SUBSTATION, None, "bus"),
        device(2, "B1", K.BREAKER, "bus", "n1", s("B1", CLOSED), CLOSED),
        device(3, "R1", K.RECLOSER, "n1", "n2", s("R1", CLOSED), CLOSED),
        device(4, "SW1", K.SWITCH, "n2", "n3", s("SW1", CLOSED), CLOSED),
        device(5, "T1", K.TRANSFORMER, "n1", None),
        device(6, "T2", K.TRANSFORMER, "n2", None),
        device(7, "T3", K.TRANSFORMER, "n3", None),
        device(8, "B2", K.BREAKER, "bus", "m1", s("B2", CLOSED), CLOSED),
        device(9, "R2", K.RECLOSER, "m1", "m2"),
        device(10, "SW2", K.SWITCH, "m2", "m3"),
        device(11, "T4", K.TRANSFORMER, "m3", None),
        device(12, "TIE", K.SWITCH, "n3", "m3", tie, OPEN),
    ]


def test_a_normally_open_tie_feeds_nothing_and_each_side_keeps_its_feeder() -> None:
    result = trace(two_feeders())
    assert result.loops == [] and result.unfed == []
    assert result.parent[7] == 4 and result.feeder[7] == 2  # T3 on feeder 1 through SW1
    assert result.parent[11] == 10 and result.feeder[11] == 8  # T4 on feeder 2
    assert result.parent[12] in (4, 10)  # the tie hangs from one side ...
    assert 12 not in result.parent.values()  # ... and feeds nothing


def test_a_section_below_a_tripped_recloser_still_hangs_from_it() -> None:
    result = trace(two_feeders(R1=OPEN))
    assert result.parent[4] == 3 and result.parent[6] == 3  # SW1 and T2 below R1, as normally
    assert result.energized >= {1, 2, 3, 5} and not ({4, 6, 7} & result.energized)
    assert result.feeder[7] == 2


def test_back_feed_through_the_tie_moves_the_healthy_section_to_the_other_feeder() -> None:
    # Fault between R1 and SW1: SW1 opened to isolate, the tie closed to restore n3 from feeder 2.
    result = trace(two_feeders(tie=CLOSED, R1=OPEN, SW1=OPEN))
    assert result.loops == []
    assert result.parent[7] == 12 and result.parent[12] == 10  # T3 through the tie from SW2
    assert result.feeder[7] == 8
    assert 7 in result.energized and 6 not in result.energized
    assert result.parent[6] == 3  # the faulted section stays below R1


def test_closing_the_tie_with_both_feeders_closed_is_a_loop_with_its_path() -> None:
    result = trace(two_feeders(tie=CLOSED))
    assert result.loops == [["S", "B1", "R1", "SW1", "TIE", "SW2", "R2", "B2", "S"]]
    (problem,) = result.problems()
    assert problem.subject == "TIE"
    assert "S → B1 → R1 → SW1 → TIE → SW2 → R2 → B2 → S" in problem.reason


def test_normal_trace_ignores_what_is_operated_now() -> None:
    devices = two_feeders(tie=CLOSED, R1=OPEN, SW1=OPEN)
    assert normal_trace(devices).parent == trace(two_feeders()).parent


def test_a_device_no_source_reaches_is_named() -> None:
    devices = [
        *two_feeders(),
        device(13, "F9", K.FUSE, "nowhere", "x1"),
        device(14, "T9", K.TRANSFORMER, "x1", None),
    ]
    result = trace(devices)
    assert set(result.unfed) == {"F9", "T9"}
    assert sorted((p.subject, p.reason) for p in result.problems()) == [
        ("F9", "is connected to no source"),
        ("T9", "is connected to no source"),
    ]


def test_switches_below_a_fuse_are_traced_like_any_other() -> None:
    devices = [
        device(1, "S", K.SUBSTATION, None, "bus"),
        device(2, "B", K.BREAKER, "bus", "a"),
        device(3, "F", K.FUSE, "a", "b"),
        device(4, "D", K.DISCONNECTOR, "b", "c"),
        device(5, "SEC", K.SECTIONALISER, "c", "d"),
        device(6, "T", K.TRANSFORMER, "d", None),
    ]
    result = trace(devices)
    assert [result.parent[i] for i in (2, 3, 4, 5, 6)] == [1, 2, 3, 4, 5]
    assert result.feeder[1] is None and all(result.feeder[i] == 2 for i in (2, 3, 4, 5, 6))


def test_the_newer_of_scada_and_switching_is_the_current_state() -> None:
    t0 = datetime(2026, 7, 1, tzinfo=UTC)
    assert current_state(CLOSED, None, None, None, None) == CLOSED
    assert current_state(OPEN, None, None, CLOSED, t0) == CLOSED
    assert current_state(CLOSED, OPEN, t0, CLOSED, t0 + timedelta(minutes=5)) == CLOSED
    assert current_state(CLOSED, OPEN, t0 + timedelta(minutes=5), CLOSED, t0) == OPEN
    assert current_state(OPEN, SwitchState.UNKNOWN, t0, None, None) == OPEN
