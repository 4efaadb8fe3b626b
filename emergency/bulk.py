"""Many rows of one table written in one statement, straight through the database driver.

SQLAlchemy's executemany builds and processes a parameter dictionary per row, which at storm
rates (thousands of reports a second) costs more than the database's own work. Here each column's
conversion (UTC datetimes, enumerations) is looked up once per call and applied to plain tuples.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Table, insert
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import Session

from emergency.db import UTCDateTime


def insert_rows(
    session: Session, table: Table, columns: Sequence[str], rows: Sequence[Sequence[Any]]
) -> None:
    """INSERT `rows` (values in the order of `columns`) into `table` in the session's transaction.

    Values must be hashable (plain columns, not JSON).
    """
    if not rows:
        return
    connection = session.connection()
    dialect = connection.dialect
    compiled = insert(table).compile(dialect=dialect, column_keys=list(columns))
    # Column by column: each conversion runs once per distinct value (a batch repeats its time of
    # receipt, a few kinds and statuses), and the rows are rebuilt in the statement's order by zip.
    values = [list(column) for column in zip(*rows, strict=True)]
    for position, name in enumerate(columns):
        convert = _converter(table, name, dialect)
        if convert is not None:
            column = values[position]
            converted = {value: convert(value) for value in set(column) if value is not None}
            values[position] = [converted.get(value) for value in column]
    if compiled.positional:
        order = [list(columns).index(name) for name in compiled.positiontup or ()]
        parameters: list[Any] = list(zip(*(values[i] for i in order), strict=True))
    else:
        names = list(columns)
        parameters = [dict(zip(names, row, strict=True)) for row in zip(*values, strict=True)]
    connection.exec_driver_sql(str(compiled), parameters)


def _converter(table: Table, name: str, dialect: Dialect) -> Callable[[Any], Any] | None:
    column_type = table.c[name].type
    if isinstance(column_type, UTCDateTime) and dialect.name == "sqlite":
        # The same text SQLAlchemy's two steps (to naive UTC, then SQLite's storage format) give,
        # in one C call: a batch's report times are all different, so caching does not help them.
        return _sqlite_utc_text
    return column_type.dialect_impl(dialect).bind_processor(dialect)


def _sqlite_utc_text(value: datetime) -> str:
    if value.tzinfo is None:
        raise ValueError("naive datetime given to a UTC column; pass an aware datetime")
    return value.astimezone(UTC).replace(tzinfo=None).isoformat(" ", "microseconds")
