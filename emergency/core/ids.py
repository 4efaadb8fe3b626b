"""Primary keys taken before the rows are written, so a batch can refer to its rows before storing them.

Trouble-call analysis links reports to outages and audits outages as it creates them; with the ids
known up front, every new row of a batch is written in one statement at the end instead of one
flush per row.
"""

from __future__ import annotations

from sqlalchemy import Table, func, select, text
from sqlalchemy.orm import Session


class IdBlock:
    """New ids for one table, for the rest of the current write transaction.

    On SQLite the transaction holds the database's write lock (`BEGIN IMMEDIATE`), so nothing else
    can take an id above the current largest until it commits. On PostgreSQL the ids come from the
    column's own sequence, as an INSERT without an id would take them.
    """

    def __init__(self, session: Session, table: Table) -> None:
        self._session = session
        self._table = table
        self._next: int | None = None
        # Asked once: analysis takes ids one outage at a time, hundreds per storm batch.
        self._from_sequences = session.get_bind().dialect.name == "postgresql"

    def take(self, count: int = 1) -> list[int]:
        if count <= 0:
            return []
        if self._from_sequences:
            return self._from_sequence(count)
        if self._next is None:
            self._next = (self._session.scalar(select(func.max(self._table.c.id))) or 0) + 1
        ids = list(range(self._next, self._next + count))
        self._next += count
        return ids

    def _from_sequence(self, count: int) -> list[int]:
        rows = self._session.execute(
            text("SELECT nextval(pg_get_serial_sequence(:table, 'id')) FROM generate_series(1, :n)"),
            {"table": self._table.name, "n": count},
        )
        return sorted(int(value) for (value,) in rows)
