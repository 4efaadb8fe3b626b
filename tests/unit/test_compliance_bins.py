"""Histogram bins closed on the right: a clock stopped exactly at its limit counts below it."""

from __future__ import annotations

import pandas as pd

from emergency.reporting.compliance import right_closed_bins


def test_exactly_at_the_limit_falls_in_the_bin_ending_at_it() -> None:
    bins = right_closed_bins(pd.Series([10.0, 10 + 1 / 60, 9.5, 5.0]), 40)
    assert bins.to_dict("list") == {"low": [4.0, 9.0, 10.0], "high": [5.0, 10.0, 11.0], "outages": [1, 2, 1]}


def test_a_wide_spread_gets_wider_bins_and_negative_minutes_work() -> None:
    bins = right_closed_bins(pd.Series([-90.0, -1.0, 0.0, 30.0, 70.0]), 40)
    assert set(bins["high"] - bins["low"]) == {4.0}, "160 minutes of spread over at most 40 bins"
    assert bins.to_dict("list") == {
        "low": [-92.0, -4.0, 28.0, 68.0],
        "high": [-88.0, 0.0, 32.0, 72.0],
        "outages": [1, 2, 1, 1],
    }


def test_no_values_no_bins() -> None:
    assert right_closed_bins(pd.Series([], dtype="float64"), 40).empty
