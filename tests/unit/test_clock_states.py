"""The board's clocks as arrays (`sla.clock_states`) agree with the reference `sla.clock_status`."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from emergency.dispatch import sla

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MICROSECOND = timedelta(microseconds=1)
NOW = datetime(2026, 7, 1, 2, 0, tzinfo=UTC)
AT_RISK = timedelta(minutes=3)
TARGET = sla.Target(
    code="outage_on_site",
    name_en="Crew on site",
    name_zh="到达现场",
    applies_to="outage",
    starts_on="first_report",
    stops_on="on_site",
    limit_minutes=30,
)


def micros(when: datetime | None) -> int:
    return int(sla.NO_TIME) if when is None else (when - EPOCH) // MICROSECOND


def vectorised(
    cases: list[tuple[datetime, datetime | None, datetime]], at_risk: timedelta = AT_RISK
) -> list[tuple[sla.ClockState, timedelta]]:
    """Each (deadline, stopped_at, now) case evaluated by `clock_states`, one call per `now`."""
    answers = []
    for deadline, stopped_at, now in cases:
        states, remaining = sla.clock_states(
            np.array([micros(deadline)], dtype=np.int64),
            np.array([micros(stopped_at)], dtype=np.int64),
            micros(now),
            at_risk // MICROSECOND,
        )
        answers.append((sla.CLOCK_STATES[int(states[0])], timedelta(microseconds=int(remaining[0]))))
    return answers


def reference(
    cases: list[tuple[datetime, datetime | None, datetime]], at_risk: timedelta = AT_RISK
) -> list[tuple[sla.ClockState, timedelta]]:
    answers = []
    for deadline, stopped_at, now in cases:
        status = sla.clock_status(
            TARGET, deadline - timedelta(minutes=30), deadline, stopped_at, now, at_risk
        )
        answers.append((status.state, status.remaining))
    return answers


@pytest.mark.parametrize(
    ("offset", "stopped", "expected"),
    [
        (timedelta(0), False, sla.ClockState.AT_RISK),  # exactly at the deadline is on time
        (MICROSECOND, False, sla.ClockState.BREACHED),  # any moment after it is late
        (timedelta(seconds=1), False, sla.ClockState.BREACHED),
        (-AT_RISK, False, sla.ClockState.AT_RISK),  # the window includes its first moment
        (-AT_RISK - MICROSECOND, False, sla.ClockState.ON_TRACK),
        (timedelta(0), True, sla.ClockState.MET),  # stopped exactly at the deadline
        (MICROSECOND, True, sla.ClockState.MISSED),
        (timedelta(seconds=1), True, sla.ClockState.MISSED),
    ],
)
def test_the_edges_of_a_clock_match_the_reference(
    offset: timedelta, stopped: bool, expected: sla.ClockState
) -> None:
    deadline = NOW + timedelta(minutes=30)
    moment = deadline + offset
    # A stopped clock stopped at `moment` and is read long after; a running one is read at `moment`.
    case = (deadline, moment, deadline + timedelta(hours=5)) if stopped else (deadline, None, moment)
    assert vectorised([case]) == reference([case])
    assert vectorised([case])[0][0] == expected


def test_random_clocks_agree_with_the_reference() -> None:
    rng = np.random.default_rng(20260701)
    cases: list[tuple[datetime, datetime | None, datetime]] = []
    for _ in range(3_000):
        deadline = NOW + timedelta(microseconds=int(rng.integers(-(10**10), 10**10)))
        # Near the edges most of the time: the deadline and the start of the at-risk window.
        edge = deadline - AT_RISK if rng.random() < 0.3 else deadline
        jitter = timedelta(
            microseconds=int(rng.choice([0, 1, -1, 999_999, -1_000_000, rng.integers(-(10**9), 10**9)]))
        )
        now = edge + jitter
        stopped_at = None
        if rng.random() < 0.4:
            stopped_at = deadline + timedelta(
                microseconds=int(rng.choice([0, 1, -1, rng.integers(-(10**9), 10**9)]))
            )
            now = max(now, stopped_at)
        cases.append((deadline, stopped_at, now))
    assert vectorised(cases) == reference(cases)
    states = {state for state, _ in vectorised(cases)}
    assert states == set(sla.ClockState), "the cases reach every state"


def test_many_clocks_in_one_call_keep_their_order() -> None:
    deadline = NOW + timedelta(minutes=10)
    deadlines = np.array([micros(deadline)] * 4, dtype=np.int64)
    stopped = np.array(
        [sla.NO_TIME, sla.NO_TIME, micros(deadline), micros(deadline + timedelta(seconds=1))], dtype=np.int64
    )
    for now, expected in [
        (deadline - timedelta(minutes=5), ["on_track", "on_track", "met", "missed"]),
        (deadline + timedelta(seconds=1), ["breached", "breached", "met", "missed"]),
    ]:
        states, remaining = sla.clock_states(deadlines, stopped, micros(now), AT_RISK // MICROSECOND)
        assert [str(sla.CLOCK_STATES[s]) for s in states] == expected
        assert remaining[0] == (deadline - now) // MICROSECOND
        assert remaining[3] == -1_000_000
