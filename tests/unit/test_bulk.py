"""Bulk inserts convert values exactly as SQLAlchemy would, however they get there."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Column, Integer, MetaData, String, Table, create_engine, event, select
from sqlalchemy.dialects import sqlite
from sqlalchemy.orm import Session

from emergency.core.bulk import insert_columns, sqlite_utc_text
from emergency.core.db import UTCDateTime

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


def _table() -> Table:
    return Table(
        "calls",
        MetaData(),
        Column("id", Integer, primary_key=True),
        Column("note", String, nullable=True),
        Column("seen_at", UTCDateTime, nullable=True),
        Column("status", String, nullable=True, server_default="new"),
    )


def test_columns_are_written_in_order_and_a_column_without_values_is_left_null() -> None:
    table = _table()
    engine = create_engine("sqlite://")
    table.metadata.create_all(engine)
    seen = datetime(2026, 7, 1, 10, 15, tzinfo=UTC)
    with Session(engine) as session, session.begin():
        statements: list[str] = []
        event.listen(engine, "before_cursor_execute", lambda *args: statements.append(args[2]))
        insert_columns(session, table, {"id": [1, 2], "note": [None, None], "seen_at": [seen, None]})
        insert_columns(session, table, {"id": [3], "note": ["x"], "seen_at": [None], "status": [None]})
        rows = session.execute(select(table).order_by(table.c.id)).all()
    # The column nobody gave a value is not in the first statement; one with a default always is.
    assert "note" not in statements[0] and "note" in statements[1] and "status" in statements[1]
    assert [tuple(row) for row in rows] == [
        (1, None, seen.replace(tzinfo=UTC), "new"),
        (2, None, None, "new"),
        (3, "x", None, None),
    ]
