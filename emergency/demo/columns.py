"""Column helpers shared by the demo's stages: text, number and phone columns, frames whose columns are a
model's columns, and those frames as chunks of plain rows for the database drivers."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import Integer

from emergency.core.models import Base

TEXT = np.dtypes.StringDType()
INSERT_CHUNK = 10_000


def apportion(total: int, weights: np.ndarray, minimum: int = 0) -> np.ndarray:
    """Split an integer total by weights (largest remainder), giving each part at least `minimum`."""
    weights = np.asarray(weights, dtype=float)
    spare = total - minimum * len(weights)
    if spare < 0:
        raise ValueError(f"cannot give {len(weights)} parts {minimum} each out of {total}")
    raw = weights / weights.sum() * spare
    counts = np.floor(raw).astype(np.int64)
    short = spare - int(counts.sum())
    counts[np.argsort(-(raw - counts), kind="stable")[:short]] += 1
    return counts + minimum


def zh_number(n: int) -> str:
    """Chinese numerals up to 99 (第十二中学); larger numbers stay Arabic, as signs write them."""
    digits = "零一二三四五六七八九"
    if n < 10:
        return digits[n]
    if n < 20:
        return "十" + (digits[n % 10] if n % 10 else "")
    if n < 100:
        return digits[n // 10] + "十" + (digits[n % 10] if n % 10 else "")
    return str(n)


def text_column(values: Sequence[str]) -> np.ndarray:
    return np.array(list(values), dtype=TEXT)


def number_column(values: np.ndarray, width: int = 0) -> np.ndarray:
    text_values = np.asarray(values).astype(TEXT)
    return np.strings.zfill(text_values, width) if width else text_values


def phone_column(rng: np.random.Generator, count: int) -> np.ndarray:
    # No Chinese mobile number starts with 10, so a demo SMS can never reach a real person.
    return "10" + number_column(rng.integers(0, 10**9, count), 9)


def object_column(values: np.ndarray) -> pd.Series:
    return pd.Series(values.tolist(), dtype=object)


def model_columns(model: type[Base]) -> list[str]:
    """A table's columns in order: every frame of a territory has exactly these."""
    return [column.name for column in model.__table__.columns]


def model_frame(records: list[dict[str, Any]], model: type[Base]) -> pd.DataFrame:
    """A frame of a table's rows; integer columns with gaps stay integers (pandas would use floats)."""
    frame = pd.DataFrame(records, columns=model_columns(model))
    for column in model.__table__.columns:
        if isinstance(column.type, Integer) and frame[column.name].dtype != np.int64:
            frame[column.name] = frame[column.name].astype("Int64")
    return frame


def round_up(moment: datetime, minutes: int = 5) -> datetime:
    """ETRs are given on the five minutes, as people say them."""
    seconds = minutes * 60
    stamp = moment.timestamp()
    return moment + timedelta(seconds=(-stamp) % seconds)


def _python_values(series: pd.Series) -> list[Any]:
    """Plain Python values for the database drivers: int, float, str, datetime, dict or None."""
    if isinstance(series.dtype, pd.DatetimeTZDtype):
        return [None if value is pd.NaT else value.to_pydatetime() for value in series]
    if series.hasnans:
        return series.astype(object).where(series.notna(), None).tolist()
    return series.tolist()


def chunked_rows(frame: pd.DataFrame, chunk_size: int) -> Iterator[list[dict[str, Any]]]:
    columns = list(frame.columns)
    for start in range(0, len(frame), chunk_size):
        part = frame.iloc[start : start + chunk_size]
        values = [_python_values(part[column]) for column in columns]
        yield [dict(zip(columns, row, strict=True)) for row in zip(*values, strict=True)]
