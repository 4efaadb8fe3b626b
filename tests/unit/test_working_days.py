"""Chinese working days and working-day deadlines, around the 2026 National Day holiday.

The 2026 schedule (State Council): 1-7 October off, with Sunday 20 September and Saturday
10 October worked in exchange. Mid-Autumn Festival falls on Friday 25 September.

    Sep 28 Mon  work      Oct 5 Mon  off       Oct 10 Sat  WORK (moved)
    Sep 29 Tue  work      Oct 6 Tue  off       Oct 11 Sun  off
    Sep 30 Wed  work      Oct 7 Wed  off       Oct 12 Mon  work
    Oct 1-4     off       Oct 8 Thu  work      Oct 13 Tue  work
                          Oct 9 Fri  work
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest

from emergency.core.calendar import add_working_days, is_working_day

SHANGHAI = ZoneInfo("Asia/Shanghai")


def local(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=SHANGHAI)


def end_of(day: date) -> datetime:
    """The deadline on `day`, as add_working_days returns it: 23:59:59 local, in UTC."""
    return local(day.year, day.month, day.day, 23, 59, 59).astimezone(UTC)


@pytest.mark.parametrize(
    ("day", "working"),
    [
        (date(2026, 9, 20), True),  # a Sunday worked for the National Day holiday
        (date(2026, 9, 25), False),  # Mid-Autumn Festival, a Friday
        (date(2026, 9, 30), True),
        (date(2026, 10, 1), False),
        (date(2026, 10, 4), False),
        (date(2026, 10, 7), False),  # a Wednesday given off for the Saturday worked
        (date(2026, 10, 8), True),
        (date(2026, 10, 10), True),  # the moved working Saturday
        (date(2026, 10, 11), False),
        (date(2026, 10, 17), False),  # an ordinary weekend
        (date(2026, 10, 19), True),
    ],
)
def test_china_calendar_with_its_moved_working_days(day: date, working: bool) -> None:
    assert is_working_day(day) is working


def test_an_override_makes_a_holiday_a_working_day_and_a_working_day_a_holiday() -> None:
    overrides = {date(2026, 10, 7): True, date(2026, 10, 8): False}

    assert is_working_day(date(2026, 10, 7), overrides) is True
    assert is_working_day(date(2026, 10, 8), overrides) is False
    assert is_working_day(date(2026, 10, 9), overrides) is True, "days without an override follow China"


def test_three_working_days_over_the_national_day_holiday_end_on_the_moved_saturday() -> None:
    accepted = local(2026, 9, 30, 10, 0)  # Wednesday, the last working day before the holiday

    # Oct 8 (Thu), Oct 9 (Fri), Oct 10 (the working Saturday).
    assert add_working_days(accepted, 3, SHANGHAI) == end_of(date(2026, 10, 10))


def test_working_days_skip_the_sunday_after_the_moved_saturday() -> None:
    accepted = local(2026, 10, 9, 16, 30)  # Friday

    # Oct 10 (Sat, worked), Oct 11 (Sun) skipped, Oct 12 (Mon), Oct 13 (Tue).
    assert add_working_days(accepted, 3, SHANGHAI) == end_of(date(2026, 10, 13))


def test_a_start_on_an_ordinary_weekend_counts_from_monday() -> None:
    accepted = local(2026, 10, 17, 9, 0)  # Saturday

    assert add_working_days(accepted, 3, SHANGHAI) == end_of(date(2026, 10, 21))  # Wednesday


def test_the_start_day_never_counts_whatever_the_hour() -> None:
    early = add_working_days(local(2026, 10, 12, 0, 0, 1), 3, SHANGHAI)
    late = add_working_days(local(2026, 10, 12, 23, 59, 59), 3, SHANGHAI)

    assert early == late == end_of(date(2026, 10, 15))


def test_the_start_day_is_the_local_day_not_the_utc_day() -> None:
    # 2026-10-12 17:00 UTC is already Tuesday 13 October 01:00 in Shanghai.
    accepted = datetime(2026, 10, 12, 17, 0, tzinfo=UTC)

    assert add_working_days(accepted, 1, SHANGHAI) == end_of(date(2026, 10, 14))


def test_overrides_move_a_deadline_both_ways() -> None:
    accepted = local(2026, 9, 30, 10, 0)
    worked_holiday = {date(2026, 10, 7): True}
    extra_day_off = {date(2026, 10, 9): False}

    # Oct 7 (now worked), Oct 8, Oct 9.
    assert add_working_days(accepted, 3, SHANGHAI, worked_holiday) == end_of(date(2026, 10, 9))
    # Oct 8, Oct 10, Oct 12: the Friday off pushes the deadline past the Sunday.
    assert add_working_days(accepted, 3, SHANGHAI, extra_day_off) == end_of(date(2026, 10, 12))


def test_refuses_a_naive_start_and_a_limit_under_one_day() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        add_working_days(datetime(2026, 10, 12, 9, 0), 3, SHANGHAI)
    with pytest.raises(ValueError, match="at least 1 day"):
        add_working_days(local(2026, 10, 12, 9, 0), 0, SHANGHAI)


def test_overrides_that_leave_no_working_day_raise_instead_of_looping() -> None:
    every_day_off = _AlwaysOff()

    with pytest.raises(ValueError, match="no working day for a year"):
        add_working_days(local(2026, 10, 12, 9, 0), 1, SHANGHAI, every_day_off)


class _AlwaysOff(dict[date, bool]):
    """An override table that gives every day off, as a badly filled table might."""

    def get(self, key: date, default: bool | None = None) -> bool | None:  # type: ignore[override]
        return False
