"""Many rows written in one statement, and hot reads made, straight through the database driver.

SQLAlchemy's executemany builds and processes a parameter dictionary per row, which at storm
rates (thousands of reports a second) costs more than the database's own work. Here each column's
conversion (UTC datetimes, enumerations) is looked up once per call and applied to plain values,
column by column.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from sqlalchemy import Table, insert
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import Session

from emergency.core.db import UTCDateTime


def insert_columns(session: Session, table: Table, columns: Mapping[str, Sequence[Any]]) -> None:
    """INSERT one row per position of the equally long value lists in `columns` (name -> values).

    Values must be hashable (plain columns, not JSON).
    """
    if not columns or not len(next(iter(columns.values()))):
        return
    # A column no row gives a value, and that has no default, is left to be NULL by the database:
    # most of a storm's reports have no location, description or contact, and binding six NULLs
    # a row doubled the driver's time for the INSERT (measured in memory: 11.8 ms a 1,000-report
    # batch with 17 columns against 5.8 ms with 11).
    columns = {
        name: values
        for name, values in columns.items()
        if not _null_by_default(table, name) or any(value is not None for value in values)
    }
    names = list(columns)
    connection = session.connection()
    dialect = connection.dialect
    sql, positions = _statement(table, tuple(names), dialect)
    # Each conversion runs once per distinct value (a batch repeats its time of receipt, a few
    # kinds and statuses); the rows are then rebuilt in the statement's order by zip.
    values: dict[str, Sequence[Any]] = {}
    for name, column in columns.items():
        convert = _converter(table, name, dialect)
        if convert is not None:
            converted = {value: convert(value) for value in set(column) if value is not None}
            column = [converted.get(value) for value in column]
        values[name] = column
    if positions is not None:
        parameters: list[Any] = list(zip(*(values[name] for name in positions), strict=True))
    else:
        parameters = [dict(zip(names, row, strict=True)) for row in zip(*values.values(), strict=True)]
    connection.exec_driver_sql(sql, parameters)


@lru_cache(maxsize=256)
def _statement(table: Table, names: tuple[str, ...], dialect: Dialect) -> tuple[str, tuple[str, ...] | None]:
    """The INSERT's text and, for a positional driver, its columns in parameter order.

    Compiled once per table, columns and dialect: an intake batch would otherwise compile it anew.
    """
    compiled = insert(table).compile(dialect=dialect, column_keys=list(names))
    return str(compiled), tuple(compiled.positiontup or ()) if compiled.positional else None


def _null_by_default(table: Table, name: str) -> bool:
    column = table.c[name]
    return column.nullable is True and column.default is None and column.server_default is None


def _converter(table: Table, name: str, dialect: Dialect) -> Callable[[Any], Any] | None:
    column_type = table.c[name].type
    if isinstance(column_type, UTCDateTime) and dialect.name == "sqlite":
        # The same text SQLAlchemy's two steps (to naive UTC, then SQLite's storage format) give,
        # in one C call: a batch's report times are all different, so caching does not help them.
        return sqlite_utc_text
    return column_type.dialect_impl(dialect).bind_processor(dialect)


def sqlite_utc_text(value: datetime) -> str:
    """A UTC time as SQLAlchemy stores it in SQLite: "YYYY-MM-DD HH:MM:SS.ffffff", no offset."""
    if value.tzinfo is UTC:
        return value.isoformat(" ", "microseconds")[:26]  # already UTC: drop the "+00:00"
    if value.tzinfo is None:
        raise ValueError("naive datetime given to a UTC column; pass an aware datetime")
    return value.astimezone(UTC).replace(tzinfo=None).isoformat(" ", "microseconds")


def sqlite_utc_time(text: str | None) -> datetime | None:
    """A time as SQLite holds it (`sqlite_utc_text`), as SQLAlchemy's UTCDateTime returns it."""
    return None if text is None else datetime.fromisoformat(text).replace(tzinfo=UTC)


def on_sqlite(session: Session) -> bool:
    return session.get_bind().dialect.name == "sqlite"


def driver_rows(session: Session, sql: str, parameters: tuple[Any, ...]) -> list[tuple[Any, ...]]:
    """Rows of `sql` from the driver's own cursor, in the session's transaction: no result object
    per row, and values as the driver gives them (convert them with the functions above)."""
    cursor = session.connection().connection.cursor()
    try:
        return cursor.execute(sql, parameters).fetchall()
    finally:
        cursor.close()
