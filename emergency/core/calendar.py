"""Chinese working days: the State Council's holiday schedule with its moved working days (调休).

The `holidays` package knows the schedule (and rules for later years); the utility's own
`calendar_days` table overrides it day by day, for when the State Council publishes next year's
schedule before the package catches up, or a local decision moves a day.

Working-day deadlines follow one rule, used by every working-day clock:

    The deadline is the end (23:59:59 local time) of the Nth working day after the local
    calendar day on which the clock started.

The start day itself never counts, whatever the time of day and whether or not it is a working
day. So a complaint accepted on a Monday, at 08:00 or at 23:00, with 3 working days and no
holiday in the way, is due by the end of Thursday; one accepted on a Saturday counts from Monday
and is due by the end of Wednesday. Exactly 23:59:59 is on time; the next second is late.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from datetime import UTC, date, datetime, time, timedelta
from types import MappingProxyType
from zoneinfo import ZoneInfo

import holidays
from sqlalchemy import select
from sqlalchemy.orm import Session

from emergency.core.models import CalendarDay

NO_OVERRIDES: Mapping[date, bool] = MappingProxyType({})
END_OF_DAY = time(23, 59, 59)
# No real calendar has a year without a working day; a longer run means the overrides are wrong,
# and an error says so instead of a loop that never ends.
MAX_DAYS_OFF_IN_A_ROW = 366


@functools.lru_cache(maxsize=32)
def _china(year: int) -> holidays.HolidayBase:
    """One year's Chinese holidays, built once: building them is far slower than looking up."""
    return holidays.China(years=year)


def is_working_day(day: date, overrides: Mapping[date, bool] = NO_OVERRIDES) -> bool:
    """Whether `day` is a working day: the utility's override if it has one, else China's calendar.

    China's calendar counts moved working days: a Saturday worked in exchange for a longer holiday
    (2026-10-10) is a working day, and the weekday given off for it (2026-10-07) is not.
    """
    override = overrides.get(day)
    if override is not None:
        return override
    # Ask the year's own calendar, so a lookup never makes the shared, cached object grow a year.
    return _china(day.year).is_working_day(day)


def add_working_days(
    start: datetime, days: int, tz: ZoneInfo, overrides: Mapping[date, bool] = NO_OVERRIDES
) -> datetime:
    """The deadline `days` working days after `start`: the end of that working day, in UTC.

    The rule is the module's: the end (23:59:59 in `tz`) of the Nth working day after the local
    calendar day of `start`; the start day never counts.
    """
    if start.tzinfo is None:
        raise ValueError("start must be a timezone-aware datetime")
    if days < 1:
        raise ValueError(f"a working-day limit must be at least 1 day, not {days}")
    day = start.astimezone(tz).date()
    counted = 0
    days_off = 0
    while counted < days:
        day += timedelta(days=1)
        if is_working_day(day, overrides):
            counted += 1
            days_off = 0
        else:
            days_off += 1
            if days_off > MAX_DAYS_OFF_IN_A_ROW:
                raise ValueError(f"no working day for a year after {day - timedelta(days=days_off)}")
    return datetime.combine(day, END_OF_DAY, tzinfo=tz).astimezone(UTC)


def load_overrides(session: Session) -> dict[date, bool]:
    """The utility's overrides from the `calendar_days` table, by date.

    A malformed day raises instead of being skipped: a silently ignored override would move
    deadlines without anyone noticing.
    """
    overrides: dict[date, bool] = {}
    for day, working in session.execute(select(CalendarDay.day, CalendarDay.working)):
        try:
            overrides[date.fromisoformat(day)] = bool(working)
        except ValueError:
            raise ValueError(f"calendar_days has a day that is not YYYY-MM-DD: {day!r}") from None
    return overrides
