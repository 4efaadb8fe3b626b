"""Many rows of one table written in one statement, straight through the database driver.

SQLAlchemy's executemany builds and processes a parameter dictionary per row, which at storm
rates (thousands of reports a second) costs more than the database's own work. Here each column's
conversion (UTC datetimes, enumerations) is looked up once per call and applied to plain tuples.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from operator import itemgetter
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
    converters = [
        (position, convert)
        for position, name in enumerate(columns)
        if (convert := _converter(table, name, dialect)) is not None
    ]
    compiled = insert(table).compile(dialect=dialect, column_keys=list(columns))
    if compiled.positional:
        order = [list(columns).index(name) for name in compiled.positiontup or ()]
        arrange: Callable[[list[Any]], Any] = tuple if order == list(range(len(columns))) else _picker(order)
    else:
        names = list(columns)

        def arrange(values: list[Any]) -> Any:
            return dict(zip(names, values, strict=True))

    if not converters:
        parameters = [arrange(list(row)) for row in rows]
    else:
        # A batch repeats most values of a converted column (its time of receipt, a few kinds and
        # statuses), so each distinct value is converted once.
        seen: list[dict[Any, Any]] = [{} for _ in converters]
        parameters = []
        for row in rows:
            values = list(row)
            for (position, convert), done in zip(converters, seen, strict=True):
                value = values[position]
                if value is not None:
                    result = done.get(value)
                    if result is None:
                        result = done[value] = convert(value)
                    values[position] = result
            parameters.append(arrange(values))
    connection.exec_driver_sql(str(compiled), parameters)


def _picker(order: list[int]) -> Callable[[list[Any]], tuple[Any, ...]]:
    get = itemgetter(*order)
    if len(order) == 1:
        return lambda values: (get(values),)
    return get  # type: ignore[return-value]


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
