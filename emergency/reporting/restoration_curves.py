"""Restoration curves: customers without power over the time of an event, overall and per district.

An outage puts its customers out at its first report; each restoration step brings its customers
back at the step's time, and whatever is left comes back when the outage is restored (so an
outage restored whole without a recorded step still ends). Cancelled outages (false alarms) and
outages merged into another (whose customers are counted in the one that absorbed them) are left
out. Outages that began before the window and were still out at its start are counted from the
start.

The curve is a step function: one row per moment the count changes, plus the window's start and
end, so a chart draws it with step interpolation. Built from change events with one sort and a
cumulative sum per district: no loop over outages or minutes.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import numpy as np
import pandas as pd
from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from emergency.core.models import Outage, RestorationStep
from emergency.reporting.compliance import TIMESTAMP, counted_outages, rows_for_outages

CURVE_COLUMNS = ("at", "district_id", "district", "district_zh", "customers_out")
ALL_DISTRICTS_EN = "All districts"
ALL_DISTRICTS_ZH = "全部区县"


def restoration_curve(
    session: Session,
    start: datetime,
    end: datetime,
    *,
    district_id: int | None = None,
    area_type: str | None = None,
) -> pd.DataFrame:
    """Customers out over [start, end], overall (district_id NA) and per district.

    Columns: at, district_id (NA on the overall rows), district, district_zh, customers_out (the
    count from `at` until the next row of the same district). With `district_id` or `area_type`,
    only the outages of that district or of districts of that area type; the overall rows are
    then their total.
    """
    outages = _outages(session, start, end, district_id, area_type)
    steps = _steps(session, outages["outage_id"].tolist())
    return customers_out_curve(outages, steps, start, end)


def customers_out_curve(
    outages: pd.DataFrame, steps: pd.DataFrame, start: datetime, end: datetime
) -> pd.DataFrame:
    """The curve from plain frames.

    `outages`: outage_id, district_id, district, district_zh, customers_affected,
    first_report_at, restored_at (NaT while out). `steps`: outage_id, at, customers_restored.
    """
    window_start, window_end = pd.Timestamp(start), pd.Timestamp(end)
    names = outages.drop_duplicates("district_id").set_index("district_id")[["district", "district_zh"]]
    step_totals = steps.groupby("outage_id")["customers_restored"].sum()
    left = outages["customers_affected"] - outages["outage_id"].map(step_totals).fillna(0)
    step_district = steps["outage_id"].map(outages.set_index("outage_id")["district_id"])
    finished = outages["restored_at"].notna()
    events = pd.concat(
        [
            _events(outages["first_report_at"], outages["district_id"], outages["customers_affected"]),
            _events(steps["at"], step_district, -steps["customers_restored"]),
            _events(
                outages["restored_at"][finished],
                outages["district_id"][finished],
                -left[finished].clip(lower=0),
            ),
        ],
        ignore_index=True,
    )
    # Changes before the window are its starting level; changes after it are not drawn.
    events = events[events["at"] <= window_end]
    events["at"] = events["at"].clip(lower=window_start)
    districts = outages["district_id"].drop_duplicates()
    per_district = _step_function(events, districts, window_start, window_end)
    overall = _step_function(events.assign(district_id=-1), pd.Series([-1]), window_start, window_end)
    overall["district_id"] = pd.NA
    per_district = per_district.join(names, on="district_id")
    overall["district"], overall["district_zh"] = ALL_DISTRICTS_EN, ALL_DISTRICTS_ZH
    curve = pd.concat([overall, per_district], ignore_index=True)
    curve["district_id"] = curve["district_id"].astype("Int64")
    curve["customers_out"] = curve["customers_out"].astype("int64")
    return curve[list(CURVE_COLUMNS)]


def _events(at: pd.Series, district: pd.Series, delta: pd.Series) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "at": pd.to_datetime(at, utc=True).astype(TIMESTAMP).reset_index(drop=True),
            "district_id": district.reset_index(drop=True),
            "delta": delta.reset_index(drop=True).astype("int64"),
        }
    )


def _step_function(
    events: pd.DataFrame, keys: pd.Series, start: pd.Timestamp, end: pd.Timestamp
) -> pd.DataFrame:
    """Per district, the level after each moment of change, with rows at the window's start and end."""
    key = "district_id"
    bounds = pd.DataFrame(
        {
            "at": pd.DatetimeIndex([start, end]).astype(TIMESTAMP).repeat(len(keys)),
            key: np.tile(keys.to_numpy(), 2),
            "delta": 0,
        }
    )
    ordered = pd.concat([events, bounds], ignore_index=True).sort_values([key, "at"], kind="stable")
    ordered["customers_out"] = ordered.groupby(key, dropna=False)["delta"].cumsum()
    # Several changes at one moment: the level after the last of them is the one that holds.
    levels = ordered.drop_duplicates([key, "at"], keep="last")
    return levels[["at", key, "customers_out"]].reset_index(drop=True)


def _outages(
    session: Session, start: datetime, end: datetime, district_id: int | None, area_type: str | None
) -> pd.DataFrame:
    return counted_outages(
        session,
        Outage.customers_affected,
        Outage.first_report_at,
        Outage.restored_at,
        where=(Outage.first_report_at <= end, or_(Outage.restored_at.is_(None), Outage.restored_at >= start)),
        district_id=district_id,
        area_type=area_type,
    )


def _steps(session: Session, outage_ids: Sequence[int]) -> pd.DataFrame:
    query = select(RestorationStep.outage_id, RestorationStep.at, RestorationStep.customers_restored)
    rows = rows_for_outages(session, query, RestorationStep.outage_id, outage_ids)
    frame = pd.DataFrame(rows, columns=["outage_id", "at", "customers_restored"])
    frame["at"] = pd.to_datetime(frame["at"], utc=True).astype(TIMESTAMP)
    return frame


def sampled(curve: pd.DataFrame, points: int) -> pd.DataFrame:
    """The curve read at `points` evenly spaced moments per district (for a long window's chart).

    Each moment takes the level then in force, so the result is still exact at those moments;
    changes shorter than the spacing may fall between them.
    """
    start, end = curve["at"].min(), curve["at"].max()
    grid = pd.DataFrame({"at": pd.date_range(start, end, periods=points).astype(TIMESTAMP)})
    parts = [
        pd.merge_asof(grid, rows.drop(columns="district"), on="at", direction="backward").assign(
            district=name
        )
        for name, rows in curve.groupby("district", sort=False)
    ]
    return pd.concat(parts, ignore_index=True)[list(CURVE_COLUMNS)]
