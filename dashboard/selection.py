"""Choosing a row of a table by what it is, not by where it sits.

`st.dataframe` reports a row selection as a position in the table the browser drew, and keeps that
position across reruns. Tables that change between runs (a board that re-sorts, an audit page that
new events push down) would turn an old position into another row. A table whose key is made from
the ids it draws, in order, is a new widget whenever that list changes, so a position is only ever
read against the list it was made in.
"""

from __future__ import annotations

import hashlib
from collections.abc import Hashable, Sequence
from typing import TypeVar

T = TypeVar("T")


def table_key(prefix: str, ids: Sequence[Hashable], *more: Hashable) -> str:
    """A widget key for a table drawing `ids` in this order (and `more`, such as the row chosen)."""
    digest = hashlib.blake2b(repr((tuple(ids), more)).encode(), digest_size=8).hexdigest()
    return f"{prefix}-{digest}"


def id_at(ids: Sequence[T], positions: Sequence[int]) -> T | None:
    """The id of the first selected row, its position read against `ids` as drawn."""
    if not positions or not 0 <= positions[0] < len(ids):
        return None
    return ids[positions[0]]
