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

from emergency.core.models import District, Outage, RestorationStep
from emergency.reporting.compliance import TIMESTAMP, counted_outages, rows_for_outages
from emergency.reporting.outage_figures import DistrictShares, apportion, district_shares

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
    count from `at` until the next row of the same district). Customers are counted in the
    district they live in (`emergency.reporting.outage_figures`). With `district_id` or
    `area_type`, only that district or the districts of that area type; the overall rows are
    then their total.
    """
    outages = _outages(session, start, end)
    steps = _steps(session, outages["outage_id"].tolist())
    split = district_shares(
        session,
        outages["device_id"].to_numpy(dtype=np.int64),
        outages["district_id"].fillna(-1).to_numpy(dtype=np.int64),
    )
    districts = pd.DataFrame(
        session.execute(select(District.id, District.name_en, District.name_zh, District.area_type)).all(),
        columns=["district_id", "district", "district_zh", "area_type"],
    )
    keep: list[int] | None = None
    if district_id is not None:
        keep = [district_id]
    elif area_type is not None:
        kinds = districts["area_type"].map(str)
        keep = [int(i) for i in districts.loc[kinds == area_type, "district_id"]]
    names = districts.set_index("district_id")[["district", "district_zh"]]
    return customers_out_curve(outages, steps, start, end, split=split, names=names, keep=keep)


def customers_out_curve(
    outages: pd.DataFrame,
    steps: pd.DataFrame,
    start: datetime,
    end: datetime,
    *,
    split: DistrictShares | None = None,
    names: pd.DataFrame | None = None,
    keep: Sequence[int] | None = None,
) -> pd.DataFrame:
    """The curve from plain frames.

    `outages`: outage_id, district_id, district, district_zh, customers_affected,
    first_report_at, restored_at (NaT while out). `steps`: outage_id, at, customers_restored.
    `split`: each outage's share of customers per district, row for row (by default each outage
    wholly in its `district_id`); `names`: district, district_zh by district id (by default from
    `outages`); `keep`: the districts to draw, the overall rows then being their total.
    """
    # In UTC, like the events: a window given in local time (the command line's) must compare.
    window_start, window_end = pd.Timestamp(start).tz_convert("UTC"), pd.Timestamp(end).tz_convert("UTC")
    if names is None:
        names = outages.drop_duplicates("district_id").set_index("district_id")[["district", "district_zh"]]
    if split is None:
        split = _own_districts(outages)
    levels = _outage_levels(outages, steps, window_end, window_start)
    # Each outage's level shared among the districts its customers live in, whole customers that
    # always add up to the level (`apportion`); a district's change is the change of its part.
    rows = levels["row"].to_numpy(dtype=np.int64)
    parts = apportion(levels["level"].to_numpy(dtype=np.int64), split.shares[rows])
    first_of_outage = np.r_[True, rows[1:] != rows[:-1]]
    before = np.vstack([np.zeros((1, parts.shape[1]), dtype=np.int64), parts[:-1]])
    before[first_of_outage] = 0
    change = parts - before
    if keep is None:  # every district some outage of the window reaches
        reached = np.flatnonzero(split.shares.sum(axis=0) > 0)
    else:
        reached = np.flatnonzero(np.isin(split.district_ids, np.asarray(list(keep), dtype=np.int64)))
    event_index, column = np.nonzero(change[:, reached])
    events = pd.DataFrame(
        {
            "at": levels["at"].iloc[event_index].reset_index(drop=True),
            "district_id": split.district_ids[reached][column],
            "delta": change[:, reached][event_index, column],
        }
    )
    if keep is None:
        level_before = np.r_[0, levels["level"].to_numpy(dtype=np.int64)[:-1]]
        level_before[first_of_outage] = 0
        overall_events = pd.DataFrame(
            {"at": levels["at"], "delta": levels["level"].to_numpy(dtype=np.int64) - level_before}
        )
    else:
        overall_events = events[["at", "delta"]]
    keys = pd.Series(split.district_ids[reached], dtype="int64")
    per_district = _step_function(events, keys, window_start, window_end)
    overall = _step_function(overall_events.assign(district_id=-1), pd.Series([-1]), window_start, window_end)
    overall["district_id"] = pd.NA
    per_district = per_district.join(names, on="district_id")
    overall["district"], overall["district_zh"] = ALL_DISTRICTS_EN, ALL_DISTRICTS_ZH
    curve = pd.concat([overall, per_district], ignore_index=True)
    curve["district_id"] = curve["district_id"].astype("Int64")
    curve["customers_out"] = curve["customers_out"].astype("int64")
    return curve[list(CURVE_COLUMNS)]


def _outage_levels(
    outages: pd.DataFrame, steps: pd.DataFrame, window_end: pd.Timestamp, window_start: pd.Timestamp
) -> pd.DataFrame:
    """Each outage's customers out after each of its changes in the window: row (the outage's row
    in `outages`), at, level (never below zero), in outage row then time order."""
    row_of = pd.Series(np.arange(len(outages)), index=outages["outage_id"].to_numpy())
    step_totals = steps.groupby("outage_id")["customers_restored"].sum()
    left = outages["customers_affected"] - outages["outage_id"].map(step_totals).fillna(0)
    finished = outages["restored_at"].notna()
    rows = pd.Series(np.arange(len(outages)))
    events = pd.concat(
        [
            _events(outages["first_report_at"], rows, outages["customers_affected"]),
            _events(steps["at"], steps["outage_id"].map(row_of), -steps["customers_restored"]),
            _events(
                outages["restored_at"][finished], rows[finished.to_numpy()], -left[finished].clip(lower=0)
            ),
        ],
        ignore_index=True,
    )
    events = events[events["row"].notna()]
    # Changes before the window are its starting level; changes after it are not drawn.
    events = events[events["at"] <= window_end]
    events["at"] = events["at"].clip(lower=window_start)
    events = events.sort_values(["row", "at"], kind="stable").reset_index(drop=True)
    events["row"] = events["row"].astype("int64")
    events["level"] = events.groupby("row")["delta"].cumsum().clip(lower=0)
    return events[["row", "at", "level"]]


def _own_districts(outages: pd.DataFrame) -> DistrictShares:
    """Each outage wholly in its own district (a frame built by hand, without a territory)."""
    known = outages["district_id"].dropna().astype("int64")
    ids = np.array(sorted(set(known)), dtype=np.int64)
    shares = np.zeros((len(outages), len(ids)))
    column = {int(d): c for c, d in enumerate(ids)}
    for n, district in enumerate(outages["district_id"]):
        if not pd.isna(district):
            shares[n, column[int(district)]] = 1.0
    return DistrictShares(ids, shares)


def _events(at: pd.Series, row: pd.Series, delta: pd.Series) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "at": pd.to_datetime(at, utc=True).astype(TIMESTAMP).reset_index(drop=True),
            "row": row.reset_index(drop=True),
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


def _outages(session: Session, start: datetime, end: datetime) -> pd.DataFrame:
    return counted_outages(
        session,
        Outage.device_id,
        Outage.customers_affected,
        Outage.first_report_at,
        Outage.restored_at,
        where=(Outage.first_report_at <= end, or_(Outage.restored_at.is_(None), Outage.restored_at >= start)),
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
