"""Bulk inserts convert values exactly as SQLAlchemy would, however they get there."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy.dialects import sqlite

from emergency.bulk import sqlite_utc_text
from emergency.db import UTCDateTime

SQLITE = sqlite.dialect()
SQLALCHEMY_UTC_TEXT = UTCDateTime().dialect_impl(SQLITE).bind_processor(SQLITE)


@pytest.mark.parametrize(
    "value",
    [
        datetime(2026, 7, 1, 10, 15, tzinfo=UTC),
        datetime(2026, 7, 1, 10, 15, 0, 7, tzinfo=timezone(timedelta(hours=8))),  # across midnight
        datetime(2026, 1, 1, 0, 30, 59, 999_999, tzinfo=timezone(timedelta(hours=-5))),
        datetime(999, 12, 31, 23, 59, tzinfo=UTC),  # years below 1000 keep four digits
        datetime(2026, 7, 1, 10, 15, 0, 123_456, tzinfo=UTC),
        datetime.fromisoformat("2026-07-01T10:15:00+00:00"),  # how reports' times arrive
        datetime(2026, 7, 1, 10, 15, tzinfo=ZoneInfo("UTC")),  # UTC, but not the same object
        datetime(2026, 7, 1, 10, 15, tzinfo=ZoneInfo("Asia/Shanghai")),
    ],
)
def test_sqlite_time_text_is_the_one_sqlalchemy_stores(value: datetime) -> None:
    assert SQLALCHEMY_UTC_TEXT is not None
    assert sqlite_utc_text(value) == SQLALCHEMY_UTC_TEXT(value)


def test_sqlite_time_text_refuses_a_naive_time() -> None:
    with pytest.raises(ValueError, match="naive"):
        sqlite_utc_text(datetime(2026, 7, 1, 10, 15))
