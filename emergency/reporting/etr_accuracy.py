"""ETR accuracy: were restored outages back by the time we said, and how far off were we?

For each restored outage, the ETRs that count are those set between its first report and its
restoration (from `etr_history`; a cleared ETR with no time is skipped, and so is one dated
before the outage began, which only a broken record can hold). The first one is what the
customer heard first; the last one is the promise the restoration finally met or broke.
Restored at or before an ETR is "by the ETR". Errors are restoration minus ETR in minutes:
positive is later than promised. Revisions are the ETRs after the first.

Works on the outages of `emergency.reporting.compliance.outage_timings`, so it shares its period and
filters (district, area type, crew).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from sqlalchemy import select
from sqlalchemy.orm import Session

from emergency.core.models import EtrChange
from emergency.reporting.compliance import TIMESTAMP, rows_for_outages

OUTCOME_COLUMNS = (
    "outage_id",
    "district",
    "district_zh",
    "restored_at",
    "etrs",
    "revisions",
    "first_etr_at",
    "first_source",
    "first_error_minutes",
    "first_met",
    "last_etr_at",
    "last_source",
    "last_error_minutes",
    "last_met",
)
# The group of outages with no value in the column grouped by (no ETR, hence no source).
UNKNOWN = "—"
ACCURACY_COLUMNS = (
    "restored",
    "with_etr",
    "share_by_last",
    "share_by_first",
    "mae_last_minutes",
    "mae_first_minutes",
    "bias_last_minutes",
    "revisions_per_outage",
)


def etr_outcomes(session: Session, timings: pd.DataFrame) -> pd.DataFrame:
    """One row per restored outage of `timings`: its first and last ETR before restoration.

    An outage restored without any ETR has `etrs` 0 and NaN/NA in the ETR columns.
    """
    columns = ["outage_id", "district", "district_zh", "first_report_at", "restored_at"]
    restored = timings.loc[timings["restored_at"].notna(), columns]
    history = _history(session, restored["outage_id"].tolist())
    history = history.merge(restored[["outage_id", "first_report_at", "restored_at"]], on="outage_id")
    during = (history["set_at"] >= history["first_report_at"]) & (history["set_at"] <= history["restored_at"])
    history = history[history["etr_at"].notna() & during]
    history = history.sort_values(["outage_id", "set_at", "id"])
    grouped = history.groupby("outage_id")
    first = grouped.first()[["etr_at", "source"]].add_prefix("first_")
    last = grouped.last()[["etr_at", "source"]].add_prefix("last_")
    outcomes = restored.set_index("outage_id").join(first).join(last)
    outcomes["etrs"] = grouped.size().reindex(outcomes.index, fill_value=0).astype("int64")
    outcomes["revisions"] = (outcomes["etrs"] - 1).clip(lower=0)
    for which in ("first", "last"):
        error = (outcomes["restored_at"] - outcomes[f"{which}_etr_at"]).dt.total_seconds() / 60.0
        outcomes[f"{which}_error_minutes"] = error.astype("float64")
        met = pd.Series(pd.NA, index=outcomes.index, dtype="boolean")
        known = error.notna()
        met[known] = error[known] <= 0
        outcomes[f"{which}_met"] = met
    return outcomes.reset_index()[list(OUTCOME_COLUMNS)]


def _history(session: Session, outage_ids: Sequence[int]) -> pd.DataFrame:
    query = select(EtrChange.id, EtrChange.outage_id, EtrChange.etr_at, EtrChange.set_at, EtrChange.source)
    rows = rows_for_outages(session, query, EtrChange.outage_id, outage_ids)
    frame = pd.DataFrame(rows, columns=["id", "outage_id", "etr_at", "set_at", "source"])
    for column in ("etr_at", "set_at"):
        frame[column] = pd.to_datetime(frame[column], utc=True).astype(TIMESTAMP)
    frame["source"] = frame["source"].map(str).astype("object")
    return frame


def etr_accuracy(outcomes: pd.DataFrame, by: str | None = None) -> pd.DataFrame:
    """The accuracy figures, overall (`by` None) or per value of a column of `outcomes`.

    `by` is typically "district", "last_source" or "first_source". Columns: restored (outages),
    with_etr (of them, with at least one ETR), share_by_last and share_by_first (restored by that
    ETR, among those with one), mae_*_minutes (mean absolute error), bias_last_minutes (mean
    signed error; positive is later than promised), revisions_per_outage (among those with one).
    """
    if by is None:
        return pd.DataFrame([_figures(outcomes)], columns=list(ACCURACY_COLUMNS))
    groups = outcomes.groupby(outcomes[by].fillna(UNKNOWN), sort=True)
    table = pd.DataFrame([_figures(group) for _, group in groups], columns=list(ACCURACY_COLUMNS))
    table.insert(0, by, [name for name, _ in groups])
    return table


def _figures(outcomes: pd.DataFrame) -> dict[str, float | int]:
    with_etr = outcomes[outcomes["etrs"] > 0]
    return {
        "restored": len(outcomes),
        "with_etr": len(with_etr),
        "share_by_last": _mean(with_etr["last_met"].astype("float64")),
        "share_by_first": _mean(with_etr["first_met"].astype("float64")),
        "mae_last_minutes": _mean(with_etr["last_error_minutes"].abs()),
        "mae_first_minutes": _mean(with_etr["first_error_minutes"].abs()),
        "bias_last_minutes": _mean(with_etr["last_error_minutes"]),
        "revisions_per_outage": _mean(with_etr["revisions"].astype("float64")),
    }


def _mean(values: pd.Series) -> float:
    return float(values.mean()) if len(values) else float(np.nan)
