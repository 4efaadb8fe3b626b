"""Sharing an outage's customers among districts in whole customers (`outage_figures.apportion`)."""

from __future__ import annotations

import numpy as np

from emergency.reporting.outage_figures import apportion


def test_whole_customers_add_up_to_the_outage_by_largest_remainder() -> None:
    shares = np.array([[0.5, 0.5, 0.0], [1 / 3, 1 / 3, 1 / 3], [0.15, 0.85, 0.0], [0.0, 0.0, 0.0]])
    levels = np.array([7, 10, 3, 4], dtype=np.int64)

    parts = apportion(levels, shares)

    assert parts.tolist() == [[4, 3, 0], [4, 3, 3], [0, 3, 0], [0, 0, 0]]
    # An outage with no district (all-zero shares) is counted in totals by the caller, in no district.
    assert parts[:3].sum(axis=1).tolist() == [7, 10, 3]


def test_a_level_below_zero_is_nobody_out() -> None:
    assert apportion(np.array([-2], dtype=np.int64), np.array([[1.0]])).tolist() == [[0]]
