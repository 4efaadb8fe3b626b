"""`bench tca`'s meter-ping variant on the small hand-made network, every customer metered:

    SS-1 ─ BRK-1 ─ REC-1 ─ FU-1 ─ TX-1 (3 customers), TX-2 (4)
                         └ FU-2 ─ TX-3 (1)
           BRK-2 ─ REC-2 ─ FU-3 ─ TX-4 (5), TX-5 (2)

A fault at FU-1 with two calls from TX-2: evidence analysis alone waits low at TX-2 (too low); with
its follow-up asking the meters (TX-1's silent), the same reports locate FU-1.
"""

from __future__ import annotations

from collections import Counter
from datetime import timedelta
from pathlib import Path

import numpy as np
from sqlalchemy import update

from bench.common import BENCH_NOW, fresh_sqlite
from bench.storm_location import judge_faults
from bench.tca import METHODS, Resetter, Tally, pristine_copy, read_grid, run_rounds
from bench.tca_pings import PING_METHOD, ping_rows
from emergency.core.models import Customer
from emergency.network.model import network_model
from tests.support.small_territory import build_small_territory


def test_meter_pings_find_the_fuse_the_calls_alone_leave_too_low(tmp_path: Path, clock):
    source = fresh_sqlite(str(tmp_path), clock)
    built = build_small_territory(source, clock)
    with source.write() as session:
        session.execute(update(Customer).values(meter_id="M-" + Customer.account_no))
    pristine = tmp_path / "pristine.db"
    pristine_copy(source, pristine)
    source.dispose()
    resetter = Resetter(pristine, tmp_path / "work.db")
    grid = read_grid(resetter.fresh("rules"))
    fuse = grid.net.codes.index("FU-1")

    def two_calls(faults, rng: np.random.Generator):
        at = BENCH_NOW + timedelta(seconds=30)
        return [
            (
                at,
                {
                    "channel": "hotline",
                    "kind": "no_power",
                    "account_no": account,
                    "reported_at": at.isoformat(),
                    "external_id": f"T-{n}",
                },
            )
            for n, account in enumerate(built.account_by_transformer["TX-2"][:2])
        ]

    tally = Tally()
    run_rounds(resetter, grid, [[(fuse,)]], "calls 10%", two_calls, tally, seed=1)
    resetter.db.dispose()
    assert PING_METHOD in METHODS
    assert tally.counts[("calls 10%", "evidence")] == {"descendant": 1}
    assert tally.counts[("calls 10%", PING_METHOD)] == {"exact": 1}
    (row,) = ping_rows(tally)
    assert row.value == 100.0 and row.baseline == 0.0


def test_the_storm_bench_judges_each_burst_fault_against_the_outages(tmp_path: Path, clock):
    db = fresh_sqlite(str(tmp_path), clock)
    built = build_small_territory(db, clock)
    ids = built.device_ids
    with db.read() as session:
        net = network_model(session, db.url).net
    faults = [ids["FU-1"], ids["FU-3"], ids["TX-3"]]
    outages = [
        (ids["REC-1"], False),  # above FU-1: too high for it (and for TX-3 below REC-1 too)
        (ids["TX-4"], False),  # below FU-3 ...
        (ids["TX-5"], True),  # ... with a service outage beside it: split
    ]
    assert judge_faults(net, faults, outages) == Counter({"too_high": 2, "split": 1})
    assert judge_faults(net, faults, [(ids["FU-1"], False), (ids["TX-4"], True)]) == Counter(
        {"exact": 1, "too_low": 1, "none": 1}
    )
    db.dispose()
