"""The simulator's physics without a database: storm strength, damage draws, what crews find, reports."""

from __future__ import annotations

import numpy as np

from emergency.simulator.grid import Damage, Grid, build_territory
from emergency.simulator.reports import ReportMaker
from emergency.simulator.scenarios import SCENARIOS, NoiseSpec
from emergency.simulator.storm import StormModel, plan_damage

# SS ─ BRK (telemetered) ─ FU ─ TX-A (3 customers), TX-B (2 customers)
#                        └ TX-C (4 customers)
DEVICES = [
    (1, "SS", "substation", None, 121.00, 28.00, False, "urban"),
    (2, "BRK", "breaker", 1, 121.01, 28.00, True, "urban"),
    (3, "FU", "fuse", 2, 121.02, 28.01, False, "rural"),
    (4, "TX-A", "transformer", 3, 121.03, 28.02, False, "rural"),
    (5, "TX-B", "transformer", 3, 121.03, 28.00, False, "rural"),
    (6, "TX-C", "transformer", 2, 121.05, 28.05, False, "urban"),
]
PER_TRANSFORMER = {4: 3, 5: 2, 6: 4}
CUSTOMERS = [
    (100 * tx + n, f"A{tx}{n}", 121.03 + n / 1000, 28.0 + tx / 100, tx)
    for tx, count in PER_TRANSFORMER.items()
    for n in range(count)
]
territory = build_territory(DEVICES, CUSTOMERS)
INDEX = {code: n for n, code in enumerate(territory.codes)}


def test_a_fuse_failure_darkens_exactly_the_customers_below_it_and_its_repair_brings_them_back():
    grid = Grid(territory)
    out = grid.break_device(Damage(INDEX["FU"], 10.0))
    assert len(out) == 5
    assert grid.dark(INDEX["TX-A"]) and not grid.dark(INDEX["TX-C"])
    assert len(grid.repair([INDEX["FU"]])) == 5
    assert not grid.dark(INDEX["TX-A"])


def test_a_crew_misses_hidden_damage_below_its_device_and_the_next_crew_finds_it():
    grid = Grid(territory)
    grid.break_device(Damage(INDEX["FU"], 10.0))
    assert len(grid.break_device(Damage(INDEX["TX-B"], 10.0, hidden=True))) == 0  # already dark
    found = grid.found_by_crew_at(INDEX["FU"])
    assert found == [INDEX["FU"]]
    grid.repair(found)
    assert len(grid.customers_dark_below(INDEX["FU"])) == 2, "TX-B's customers are still out: a nested outage"
    assert grid.found_by_crew_at(INDEX["TX-B"]) == [INDEX["TX-B"]]


def test_a_crew_sent_to_a_transformer_patrols_up_to_the_blown_fuse_above_it():
    grid = Grid(territory)
    grid.break_device(Damage(INDEX["FU"], 10.0))
    assert grid.found_by_crew_at(INDEX["TX-A"]) == [INDEX["FU"]]


def test_a_cyclone_is_strongest_at_its_centre_and_gone_once_it_fades():
    model = StormModel(SCENARIOS["typhoon"].storm, territory.bbox)
    peak = SCENARIOS["typhoon"].storm.peak_minute
    cx, cy = model.centre(peak)
    near, far = model.strength(peak, np.array([cx, cx + 2.0]), np.array([cy, cy + 2.0]))
    assert near > 0.9 and far < 0.01
    fade = SCENARIOS["typhoon"].storm.fade_minute
    assert model.strength(fade + 1, np.array([cx]), np.array([cy]))[0] == 0.0


def test_damage_is_drawn_from_the_seed():
    spec = SCENARIOS["thunderstorm"].storm
    model = StormModel(spec, territory.bbox)

    def draw(seed: int) -> list[tuple[int, float, bool]]:
        damages = plan_damage(territory, spec, model, spec.fade_minute, np.random.default_rng(seed))
        return [(d.device, d.at_minute, d.hidden) for d in damages]

    draws = {seed: draw(seed) for seed in range(12)}
    assert draw(3) == draws[3]
    assert len({tuple(d) for d in draws.values()}) > 1


def test_a_feeder_trip_breaks_a_breaker_that_serves_customers():
    spec = SCENARIOS["feeder-trip"].storm
    damages = plan_damage(territory, spec, StormModel(spec, territory.bbox), 0.0, np.random.default_rng(1))
    assert [territory.codes[d.device] for d in damages if not d.hidden] == ["BRK"]


def test_reports_carry_scada_for_telemetered_devices_and_app_retries_keep_their_external_id():
    noise = NoiseSpec(call_share=1.0, retry_share=1.0, location_share=0.0, channel_weights={"app": 1.0})
    maker = ReportMaker(territory, noise, np.random.default_rng(5), "t", np.ones(len(CUSTOMERS), dtype=bool))
    customers = Grid(territory).break_device(Damage(INDEX["BRK"], 0.0))
    intents = maker.supply_lost(0.0, INDEX["BRK"], customers)
    scada = [i.item for i in intents if i.item["channel"] == "scada"]
    assert scada == [
        {"channel": "scada", "kind": "device_opened", "device_code": "BRK", "external_id": "sim-t-1"}
    ]
    calls = [i for i in intents if i.item["channel"] == "app"]
    ids = [i.item["external_id"] for i in calls]
    assert len(ids) == 2 * len(set(ids)), "every app report was sent twice with the same external id"
    assert all(i.customer is not None for i in calls)
    fuse_out = maker.supply_lost(0.0, INDEX["FU"], np.array([0]))
    assert not any(i.item["channel"] == "scada" for i in fuse_out)
