"""`bench tca` on the small hand-made network: it places faults, feeds reports through intake and
classifies what analysis made of them, with answers known by hand.

    SS-1 ─ BRK-1 ─ REC-1 ─ FU-1 ─ TX-1 (3 customers), TX-2 (4)
                         └ FU-2 ─ TX-3 (1: a grade-1 hospital)
           BRK-2 ─ REC-2 ─ FU-3 ─ TX-4 (5), TX-5 (2)
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from bench.common import fresh_sqlite
from bench.tca import (
    Grid,
    Resetter,
    Tally,
    by_feeder,
    choose_faults,
    draw_reports,
    format_tally,
    pristine_copy,
    read_grid,
    run_rounds,
    tally_rows,
    verdict,
    was_reported,
)
from tests.support.small_territory import build_small_territory


@pytest.fixture
def grid_and_resetter(tmp_path: Path, clock) -> tuple[Grid, Resetter]:
    source = fresh_sqlite(str(tmp_path), clock)
    build_small_territory(source, clock)
    pristine = tmp_path / "pristine.db"
    pristine_copy(source, pristine)
    source.dispose()
    resetter = Resetter(pristine, tmp_path / "work.db")
    return read_grid(resetter.fresh("rules")), resetter


def index(grid: Grid, code: str) -> int:
    return grid.net.codes.index(code)


def test_every_protective_device_and_transformer_is_faulted_one_per_feeder_a_round(grid_and_resetter):
    grid, _ = grid_and_resetter
    singles, pairs = choose_faults(grid, np.random.default_rng(1))
    codes = sorted(grid.net.codes[f[0]] for f in singles)
    assert codes == sorted(
        ["BRK-1", "BRK-2", "REC-1", "REC-2", "FU-1", "FU-2", "FU-3"] + [f"TX-{n}" for n in range(1, 6)]
    )
    assert sorted((grid.net.codes[a], grid.net.codes[b]) for a, b in pairs) == [
        ("FU-1", "FU-2"),
        ("TX-1", "TX-2"),
        ("TX-4", "TX-5"),
    ]
    for faults in by_feeder(grid, singles):
        feeders = [grid.feeder(f[0]) for f in faults]
        assert len(feeders) == len(set(feeders))


def test_verdicts_name_exact_ancestor_descendant_several_and_nothing(grid_and_resetter):
    grid, _ = grid_and_resetter
    fu1, tx1, tx2 = index(grid, "FU-1"), index(grid, "TX-1"), index(grid, "TX-2")
    assert verdict(grid, fu1, [(fu1, False)], (fu1,)) == "exact"
    assert verdict(grid, tx1, [(fu1, False)], (tx1,)) == "ancestor"
    assert verdict(grid, fu1, [(tx1, False)], (fu1,)) == "descendant"
    assert verdict(grid, tx1, [(tx1, True)], (tx1,)) == "descendant"  # a caller's service outage
    assert verdict(grid, fu1, [(tx1, False), (tx2, False)], (fu1,)) == "several"
    assert verdict(grid, fu1, [(index(grid, "TX-4"), False)], (fu1,)) == "nothing"
    # A pair: the sibling's own outage is not this device's.
    assert verdict(grid, tx1, [(tx1, False), (tx2, False)], (tx1, tx2)) == "exact"


def test_with_every_customer_calling_each_fault_is_classified_as_worked_out_by_hand(grid_and_resetter):
    grid, resetter = grid_and_resetter
    singles, _ = choose_faults(grid, np.random.default_rng(1))
    tally = Tally()
    run_rounds(
        resetter,
        grid,
        by_feeder(grid, singles),
        "calls 100%",
        lambda faults, rng: draw_reports(grid, faults, 1.0, False, rng),
        tally,
        seed=1,
    )
    for method in ("rules", "evidence"):
        verdicts = {kind: dict(c) for (scenario, m, kind), c in tally.by_kind.items() if m == method}
        # Breakers and reclosers trip (SCADA); fuses and transformers are found from the calls,
        # except TX-3: it is FU-2's only transformer, so its one customer's call is all of FU-2's.
        assert verdicts["breaker"] == {"exact": 2}
        assert verdicts["recloser"] == {"exact": 2}
        assert verdicts["fuse"] == {"exact": 3}
        assert verdicts["transformer"] == {"exact": 4, "ancestor": 1}
    assert tally.unreported["calls 100%"] == 0  # everyone called: every fault was reported
    table = format_tally(tally)
    assert "calls 100%  rules" in table and "calls 100%  evidence" in table


def test_a_fault_nobody_reported_is_counted_apart(grid_and_resetter):
    grid, _ = grid_and_resetter
    faults = [(index(grid, "REC-1"),), (index(grid, "FU-3"),)]
    reports = draw_reports(grid, faults, 0.0, False, np.random.default_rng(1))
    # Nobody calls: only the telemetered recloser's trip reaches intake.
    assert [item["device_code"] for _, item in reports] == ["REC-1"]
    assert was_reported(grid, faults[0][0], reports) and not was_reported(grid, faults[1][0], reports)


def test_the_budget_counts_reported_faults_left_with_no_outage_not_faults_nobody_reported():
    tally = Tally()
    for method, verdicts in (("evidence", ["exact"] * 8 + ["nothing"] * 2), ("rules", ["nothing"] * 10)):
        for found in verdicts:
            tally.add("calls 10%", method, "fuse", found)
    tally.unreported["calls 10%"] = 1  # one of the two left with nothing had no caller at all
    (left,) = [row for row in tally_rows(tally) if "no outage" in row.name]
    assert left.value == 1.0  # the reported one the analysis missed
    assert left.baseline == 9.0
    assert "1 more sent no report at all" in left.baseline_description
