"""The simulator asks the meters and reports location accuracy (#21 point 4), on small demo
territories (half the customers with smart meters), on SQLite and PostgreSQL."""

from __future__ import annotations

from dataclasses import replace

from sqlalchemy import func, select

from emergency.core.meter_models import MeterPing
from emergency.core.models import Customer
from emergency.demo.load import load_demo
from emergency.simulator.grid import Damage
from emergency.simulator.runner import Simulation
from emergency.simulator.scenarios import SCENARIOS


def test_the_simulators_head_end_answers_from_the_simulated_grid(database, clock):
    load_demo(database, clock, customers=2_000, seed=7)
    scenario = SCENARIOS["thunderstorm"]
    exact = replace(scenario, noise=replace(scenario.noise, ping_loss=0.0))
    sim = Simulation(database, exact, seed=3, start=clock.now())
    with database.read() as session:
        metered = session.scalar(select(func.count()).where(Customer.meter_id.is_not(None)))
    assert len(sim.meter_customer) == metered and 800 < metered < 1_200, "the demo's share has meters"
    t = sim.territory
    fuse = next(d for d, kind in enumerate(t.kinds) if kind == "fuse" and len(t.customers_below(d)) >= 4)
    sim.grid.break_device(Damage(fuse, 0.0))
    below = set(int(c) for c in t.customers_below(fuse))
    meters = {meter: position in below for meter, position in sim.meter_customer.items()}
    answers = sim.head_end.ping(sorted(meters), 20)
    assert {m for m, a in answers.items() if a == "silent"} == {m for m, dark in meters.items() if dark}
    assert any(meters.values())


def test_a_run_reports_where_its_outages_stood_for_each_fault(database, clock):
    load_demo(database, clock, customers=5_000, seed=7)
    sim = Simulation(database, SCENARIOS["thunderstorm"], seed=3, start=clock.now(), auto_dispatch=True)
    summary = sim.run_fast()
    assert summary.damages > 0
    # Every fault the storm caused was judged, and each judged fault is one the storm caused.
    t = sim.territory
    damaged = {int(t.device_ids[t.codes.index(e.subject)]) for e in sim.events if e.kind == "damage"}
    assert set(summary.located) == damaged and len(damaged) == summary.damages
    assert sum(summary.location().values()) == summary.damages
    assert summary.location()["exact"] > 0
    assert f"location of {summary.damages} faults:" in summary.line()
    with database.read() as session:
        pinged = session.scalars(select(MeterPing.asked_by)).all()
    assert summary.meter_pings > 0 and pinged == ["simulator"] * summary.meter_pings


def test_meter_pings_can_be_switched_off_for_a_comparison(database, clock):
    load_demo(database, clock, customers=2_000, seed=7)
    sim = Simulation(database, SCENARIOS["thunderstorm"], seed=3, start=clock.now(), meter_pings=False)
    summary = sim.run_fast(max_minutes=90)
    assert summary.meter_pings == 0 and summary.located
    with database.read() as session:
        assert session.scalar(select(func.count()).select_from(MeterPing)) == 0
