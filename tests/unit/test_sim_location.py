"""Location accuracy of a simulated storm (emergency/simulator/location.py) on a hand-made tree:

SS ─ BRK ─ FU-A ─ TX-1, TX-2
         └ FU-B ─ TX-3
"""

from __future__ import annotations

import pytest

from emergency.simulator.grid import build_territory
from emergency.simulator.location import judge
from emergency.simulator.progress import RunSummary

DEVICES = [
    (1, "SS", "substation", None),
    (2, "BRK", "breaker", 1),
    (3, "FU-A", "fuse", 2),
    (4, "TX-1", "transformer", 3),
    (5, "TX-2", "transformer", 3),
    (6, "FU-B", "fuse", 2),
    (7, "TX-3", "transformer", 6),
]


@pytest.fixture
def territory():
    rows = [(i, code, kind, parent, 121.0, 28.0, False, "urban") for i, code, kind, parent in DEVICES]
    customers = [(10 + n, f"A{n}", 121.0, 28.0, tx) for n, tx in enumerate([4, 4, 5, 5, 7])]
    return build_territory(rows, customers)


def at(territory, code: str) -> int:
    return territory.codes.index(code)


def test_each_verdict(territory):
    fu_a, tx1, brk = at(territory, "FU-A"), at(territory, "TX-1"), at(territory, "BRK")
    assert judge(territory, [fu_a], [(fu_a, False)]) == {fu_a: "exact"}
    assert judge(territory, [fu_a], [(brk, False)]) == {fu_a: "too_high"}
    assert judge(territory, [fu_a], [(tx1, False)]) == {fu_a: "too_low"}
    assert judge(territory, [tx1], [(tx1, True)]) == {tx1: "too_low"}, "one customer's service is below"
    assert judge(territory, [fu_a], [(tx1, False), (at(territory, "TX-2"), False)]) == {fu_a: "split"}
    assert judge(territory, [fu_a], [(at(territory, "FU-B"), False)]) == {fu_a: "none"}, "another branch"


def test_outages_belong_to_the_nearest_fault(territory):
    fu_a, tx1 = at(territory, "FU-A"), at(territory, "TX-1")
    # Two faults on one path: the outage at FU-A is FU-A's; TX-1 is hidden behind it.
    assert judge(territory, [fu_a, tx1], [(fu_a, False)]) == {fu_a: "exact", tx1: "behind"}
    assert judge(territory, [fu_a, tx1], []) == {fu_a: "none", tx1: "behind"}
    # An outage at TX-1 belongs to the fault at TX-1, not (too low) to FU-A's.
    assert judge(territory, [fu_a, tx1], [(fu_a, False), (tx1, False)]) == {fu_a: "exact", tx1: "exact"}


def test_the_summary_says_the_location_and_carries_it_over():
    summary = RunSummary("thunderstorm", 3, 60.0, meter_pings=4)
    summary.located = {101: "exact", 102: "too_high", 103: "exact", 104: "none"}
    assert summary.location() == {"exact": 2, "too_high": 1, "too_low": 0, "split": 0, "none": 1, "behind": 0}
    assert (
        "location of 4 faults: 2 exact (50%), 1 too high, 0 too low, 0 split, 1 with no outage, "
        "0 behind another fault" in summary.line()
    )
    assert "4 meters pinged" in summary.line()
    assert summary.counts()["located_exact"] == 2
    again = RunSummary("thunderstorm", 3, 60.0)
    again.carry_on_from(summary.to_json())
    assert again.located == summary.located and again.meter_pings == 4
