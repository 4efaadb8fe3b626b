"""SLA clocks without a database: outages and complaints as plain objects, time from a fake clock."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from types import SimpleNamespace
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from emergency.core.clock import FakeClock
from emergency.core.settings import DEFAULT_SLA_TARGETS
from emergency.dispatch.sla import (
    ClockState,
    ClockStatus,
    Target,
    breach_message,
    deadline_for,
    feedback_clocks,
    format_duration,
    most_urgent,
    outage_clocks,
)

SHANGHAI = ZoneInfo("Asia/Shanghai")
AT_RISK = timedelta(minutes=3)
FIRST_REPORT = datetime(2026, 7, 1, 2, 0, tzinfo=UTC)
ALL_TARGETS = [Target(**default.__dict__) for default in DEFAULT_SLA_TARGETS]
ENFORCED = [t for t in ALL_TARGETS if t.enforced]


def outage(**times: Any) -> SimpleNamespace:
    """An active outage first reported at FIRST_REPORT; keyword arguments set other times."""
    fields: dict[str, Any] = {
        "id": 17,
        "state": "predicted",
        "first_report_at": FIRST_REPORT,
        "confirmed_at": None,
        "dispatched_at": None,
        "on_site_at": None,
        "restored_at": None,
        "cancelled_at": None,
        "closed_at": None,
    }
    fields.update(times)
    return SimpleNamespace(**fields)


def clocks_at(subject: SimpleNamespace, now: datetime, **kwargs: Any) -> dict[str, ClockStatus]:
    return {c.code: c for c in outage_clocks(subject, ALL_TARGETS, now, AT_RISK, **kwargs)}


def after(**delta: float) -> datetime:
    return FIRST_REPORT + timedelta(**delta)


# --- the 10-minute dispatch and 30-minute on-site clocks ----------------------------------------


def test_exactly_at_the_limit_is_on_time() -> None:
    clock = FakeClock(FIRST_REPORT)
    clock.advance(minutes=10)

    dispatch = clocks_at(outage(), clock.now())["outage_dispatch"]

    assert dispatch.deadline == after(minutes=10)
    assert dispatch.state == ClockState.AT_RISK
    assert dispatch.remaining == timedelta(0)
    assert not dispatch.breached


def test_one_second_over_the_limit_is_breached() -> None:
    clock = FakeClock(FIRST_REPORT)
    clock.advance(minutes=10, seconds=1)

    clocks = clocks_at(outage(), clock.now())

    assert clocks["outage_dispatch"].state == ClockState.BREACHED
    assert clocks["outage_dispatch"].remaining == timedelta(seconds=-1)
    assert clocks["outage_dispatch"].overrun == timedelta(seconds=1)
    assert clocks["outage_on_site"].state == ClockState.ON_TRACK
    assert clocks["outage_on_site"].remaining == timedelta(minutes=19, seconds=59)


@pytest.mark.parametrize(
    ("elapsed", "state"),
    [
        (timedelta(minutes=6, seconds=59), ClockState.ON_TRACK),  # 3 min 1 s left
        (timedelta(minutes=7), ClockState.AT_RISK),  # exactly 3 min left: the window includes its edge
        (timedelta(minutes=9, seconds=59), ClockState.AT_RISK),
        (timedelta(minutes=10), ClockState.AT_RISK),
        (timedelta(minutes=10, seconds=1), ClockState.BREACHED),
    ],
)
def test_the_at_risk_window_is_the_last_three_minutes(elapsed: timedelta, state: ClockState) -> None:
    assert clocks_at(outage(), FIRST_REPORT + elapsed)["outage_dispatch"].state == state


def test_the_at_risk_window_is_configurable() -> None:
    now = after(minutes=4)  # 6 minutes left on the dispatch clock

    default = outage_clocks(outage(), ENFORCED, now, AT_RISK)[0]
    wider = outage_clocks(outage(), ENFORCED, now, timedelta(minutes=6))[0]

    assert (default.code, default.state) == ("outage_dispatch", ClockState.ON_TRACK)
    assert (wider.code, wider.state) == ("outage_dispatch", ClockState.AT_RISK)


def test_stopped_clocks_are_met_or_missed_whatever_the_time_now() -> None:
    on_time = outage(dispatched_at=after(minutes=10), on_site_at=after(minutes=30, seconds=1))
    much_later = after(hours=5)

    clocks = clocks_at(on_time, much_later)

    dispatch, on_site = clocks["outage_dispatch"], clocks["outage_on_site"]
    assert (dispatch.state, dispatch.remaining, dispatch.stopped_at) == (
        ClockState.MET,
        timedelta(0),
        after(minutes=10),
    )
    assert (on_site.state, on_site.remaining) == (ClockState.MISSED, timedelta(seconds=-1))
    assert on_site.breached and not on_site.running
    assert dispatch.running is False


def test_an_outage_confirmed_later_keeps_its_first_report_start() -> None:
    late_confirmation = outage(state="confirmed", confirmed_at=after(minutes=8))

    clocks = clocks_at(late_confirmation, after(minutes=11))

    assert clocks["outage_dispatch"].started_at == FIRST_REPORT
    assert clocks["outage_dispatch"].state == ClockState.BREACHED
    assert clocks["outage_on_site"].deadline == after(minutes=30)


def test_an_outage_restored_before_dispatch_stops_its_clocks_at_the_restoration() -> None:
    reclosed = outage(state="restored", restored_at=after(minutes=4))
    cancelled_late = outage(state="cancelled", cancelled_at=after(minutes=12))

    assert {c.code: c.state for c in outage_clocks(reclosed, ENFORCED, after(hours=2), AT_RISK)} == {
        "outage_dispatch": ClockState.MET,
        "outage_on_site": ClockState.MET,
    }
    dispatch = outage_clocks(cancelled_late, ENFORCED, after(hours=2), AT_RISK)[0]
    assert (dispatch.state, dispatch.stopped_at) == (ClockState.MISSED, after(minutes=12))


def test_a_merged_outage_has_no_clocks_of_its_own() -> None:
    assert outage_clocks(outage(state="merged"), ALL_TARGETS, after(hours=1), AT_RISK) == []


def test_only_outage_targets_make_outage_clocks() -> None:
    codes = [c.code for c in outage_clocks(outage(), ENFORCED, after(minutes=1), AT_RISK)]

    assert codes == ["outage_dispatch", "outage_on_site"], "fault and complaint clocks are not outage clocks"


# --- State Grid's reference targets by area type ------------------------------------------------


@pytest.mark.parametrize(
    ("area_type", "code", "minutes"),
    [
        ("urban", "sgcc_arrival_urban", 45),
        ("rural", "sgcc_arrival_rural", 90),
        ("remote", "sgcc_arrival_remote", 120),
    ],
)
def test_reference_arrival_target_for_the_outage_area_type_only(
    area_type: str, code: str, minutes: int
) -> None:
    clocks = clocks_at(outage(), after(minutes=40), area_type=area_type)

    assert set(clocks) == {"outage_dispatch", "outage_on_site", code}
    reference = clocks[code]
    assert reference.reference
    assert reference.deadline == after(minutes=minutes)
    assert not clocks["outage_on_site"].reference


def test_no_reference_target_without_an_area_type() -> None:
    assert set(clocks_at(outage(), after(minutes=1))) == {"outage_dispatch", "outage_on_site"}


# --- most urgent ------------------------------------------------------------------------------


def status(code: str, remaining_min: float, *, stopped: bool = False, reference: bool = False) -> ClockStatus:
    remaining = timedelta(minutes=remaining_min)
    if stopped:
        state = ClockState.MET if remaining >= timedelta(0) else ClockState.MISSED
    elif remaining < timedelta(0):
        state = ClockState.BREACHED
    else:
        state = ClockState.AT_RISK if remaining <= AT_RISK else ClockState.ON_TRACK
    deadline = after(minutes=30)
    return ClockStatus(
        code=code,
        name_en=code,
        name_zh=code,
        started_at=FIRST_REPORT,
        deadline=deadline,
        stopped_at=deadline - remaining if stopped else None,
        state=state,
        remaining=remaining,
        reference=reference,
    )


def test_most_urgent_orders_breached_most_overdue_then_least_time_left() -> None:
    clocks = [
        status("on_track", 8),
        status("missed", -40, stopped=True),
        status("breached_a_little", -1),
        status("at_risk", 2),
        status("reference_breached", -30, reference=True),
        status("breached_most", -5),
    ]
    order = []
    while clocks:
        urgent = most_urgent(clocks)
        assert urgent is not None
        order.append(urgent.code)
        clocks.remove(urgent)

    assert order == [
        "breached_most",
        "breached_a_little",
        "at_risk",
        "on_track",
        "reference_breached",
        "missed",
    ]


def test_most_urgent_of_stopped_clocks_is_the_worst_margin_and_of_nothing_is_none() -> None:
    stopped = [status("met", 4, stopped=True), status("missed", -2, stopped=True)]

    assert most_urgent(stopped) == stopped[1]
    assert most_urgent([]) is None


def test_most_urgent_of_a_real_outage_is_its_dispatch_clock_until_dispatched() -> None:
    waiting = outage_clocks(outage(), ALL_TARGETS, after(minutes=12), AT_RISK, "urban")
    dispatched = outage_clocks(
        outage(dispatched_at=after(minutes=9)), ALL_TARGETS, after(minutes=12), AT_RISK, "urban"
    )

    assert most_urgent(waiting).code == "outage_dispatch"  # type: ignore[union-attr]
    assert most_urgent(dispatched).code == "outage_on_site"  # type: ignore[union-attr]


# --- complaints and feedback on working days ----------------------------------------------------


def local(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=SHANGHAI)


def feedback(kind: str = "complaint", **times: Any) -> SimpleNamespace:
    fields: dict[str, Any] = {
        "id": 5,
        "reference": "FB-0005",
        "kind": kind,
        "submitted_at": local(2026, 9, 30, 9, 0),
        "accepted_at": None,
        "responded_at": None,
        "preliminary_at": None,
        "result_at": None,
        "verified_at": None,
    }
    fields.update(times)
    return SimpleNamespace(**fields)


def feedback_at(
    subject: SimpleNamespace, now: datetime, overrides: dict[date, bool] | None = None
) -> dict[str, ClockStatus]:
    clocks = feedback_clocks(subject, ALL_TARGETS, now, overrides or {}, SHANGHAI)
    return {c.code: c for c in clocks}


def test_complaint_clocks_response_preliminary_and_result_over_the_national_day_holiday() -> None:
    complaint = feedback(accepted_at=local(2026, 9, 30, 10, 0), responded_at=local(2026, 9, 30, 10, 45))

    clocks = feedback_at(complaint, local(2026, 10, 10, 23, 59, 59))

    assert clocks["complaint_response"].state == ClockState.MET
    assert clocks["complaint_preliminary"].deadline == local(2026, 10, 1, 9, 0)
    assert clocks["complaint_preliminary"].state == ClockState.BREACHED
    # Three working days after 30 September: 8, 9 and the working Saturday 10 October.
    result = clocks["complaint_result"]
    assert result.started_at == local(2026, 9, 30, 10, 0)
    assert result.deadline == local(2026, 10, 10, 23, 59, 59)
    assert result.state == ClockState.AT_RISK, "the last second of the third working day is on time"

    one_second_later = feedback_at(complaint, local(2026, 10, 11, 0, 0, 0))["complaint_result"]
    assert one_second_later.state == ClockState.BREACHED


def test_a_complaint_result_clock_follows_the_utility_overrides() -> None:
    complaint = feedback(accepted_at=local(2026, 9, 30, 10, 0))
    worked_holiday = {date(2026, 10, 7): True}

    result = feedback_at(complaint, local(2026, 10, 9, 12, 0), worked_holiday)["complaint_result"]

    assert result.deadline == local(2026, 10, 9, 23, 59, 59)


def test_a_complaint_not_yet_accepted_has_no_result_clock() -> None:
    clocks = feedback_at(feedback(), local(2026, 9, 30, 9, 30))

    assert set(clocks) == {"complaint_response", "complaint_preliminary"}
    assert clocks["complaint_response"].remaining == timedelta(hours=1, minutes=30)


def test_other_feedback_is_verified_within_three_working_days() -> None:
    suggestion = feedback(kind="suggestion", verified_at=local(2026, 10, 12, 9, 0))

    clocks = feedback_at(suggestion, local(2026, 10, 20, 9, 0))

    assert set(clocks) == {"feedback_verified"}
    verified = clocks["feedback_verified"]
    assert verified.deadline == local(2026, 10, 10, 23, 59, 59)
    assert verified.state == ClockState.MISSED


def test_a_working_day_target_needs_a_time_zone() -> None:
    result_target = next(t for t in ALL_TARGETS if t.code == "complaint_result")

    with pytest.raises(ValueError, match="time zone"):
        deadline_for(result_target, local(2026, 9, 30, 10, 0))
    with pytest.raises(ValueError, match="no limit_minutes"):
        deadline_for(replace(result_target, calendar="clock"), local(2026, 9, 30, 10, 0))


def test_a_target_on_an_event_nobody_records_says_so() -> None:
    odd = replace(ENFORCED[0], code="outage_verified", stops_on="verified")

    with pytest.raises(ValueError, match=r"outage_verified.*verified_at"):
        outage_clocks(outage(), [odd], after(minutes=1), AT_RISK)


# --- the duty manager's message -----------------------------------------------------------------


def test_durations_read_in_their_two_largest_units() -> None:
    assert format_duration(timedelta(minutes=2, seconds=5)) == ("2 min 5 s", "2分5秒")
    assert format_duration(timedelta(days=1, hours=3, minutes=20)) == ("1 d 3 h", "1天3小时")
    assert format_duration(timedelta(hours=2, seconds=7)) == ("2 h", "2小时")
    assert format_duration(timedelta(milliseconds=300)) == ("under 1 s", "不足1秒")


def test_breach_message_names_the_outage_the_clock_and_the_overrun() -> None:
    dispatch = clocks_at(outage(), after(minutes=12, seconds=5))["outage_dispatch"]

    zh, en = breach_message("outage", outage(), dispatch, SHANGHAI)

    assert (
        en == "SLA breach: Outage #17, Crew dispatched, overdue by 2 min 5 s (deadline 2026-07-01 10:10:00)"
    )
    assert "停电事件 #17" in zh and "抢修派工" in zh and "2分5秒" in zh
