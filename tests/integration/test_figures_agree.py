"""Every figure agrees across pages: the public snapshot, the situation report, `status --json` and
the dispatcher's board count customers out, outages and important users out the same way, in total
and by district (on SQLite and PostgreSQL).

The rule: a customer is counted in the district they live in. On main the situation report put a
feeder outage's customers in the district of its device (Liuxi Town 0 against the public page's
1,861), and `status` counted 400 important users where the register and the pages counted 500 (it
left out life-support customers).
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import update

from emergency.app.queries.dispatch import sla_board
from emergency.app.queries.reporting import compliance_report, reliability_report, situation_report
from emergency.cli import main
from emergency.core.actor import Actor
from emergency.core.clock import Clock, FakeClock
from emergency.core.db import Database
from emergency.core.models import Customer, CustomerKind, OutageState, Role
from emergency.demo.load import load_demo
from emergency.network.model import build_network_model
from emergency.public.snapshot import PublicSnapshot, build_public_snapshot
from emergency.reporting.sitrep import SituationReport
from emergency.simulator.runner import Simulation
from emergency.simulator.scenarios import SCENARIOS
from tests.support.app_context import SHANGHAI, context_of
from tests.support.outage_records import add_outage
from tests.support.small_territory import build_small_territory

MANAGER = Actor("mia", Role.MANAGER)
DISPATCHER = Actor("dana", Role.DISPATCHER)


def snapshot_at(db: Database, clock: Clock) -> PublicSnapshot:
    with db.read() as session:
        return build_public_snapshot(session, clock, build_network_model(session))


def sitrep_at(db: Database, clock: Clock) -> SituationReport:
    return situation_report(context_of(db, clock, MANAGER), "quick", clock.now() - timedelta(days=1))


def status_json(db: Database, capsys: pytest.CaptureFixture[str]) -> dict[str, Any]:
    """`python -m emergency status --json`, run as the command line runs it."""
    capsys.readouterr()
    assert main(["--db", db.url, "status", "--json"]) == 0
    return json.loads(capsys.readouterr().out)


# --- the rule, on a hand-made outage whose customers live in two districts ----------------------


def test_a_customer_counts_in_the_district_they_live_in_on_every_page(
    database: Database, clock: FakeClock, capsys: pytest.CaptureFixture[str]
) -> None:
    territory = build_small_territory(database, clock)
    west, east = territory.district_ids["W"], territory.district_ids["E"]
    moved = territory.account_by_transformer["TX-2"][0]
    life_support = territory.account_by_transformer["TX-4"][0]
    with database.write() as session:
        # A TX-2 customer (a West transformer) who lives across the boundary, in East; and a
        # life-support customer, an important user by the register's definition.
        session.execute(update(Customer).where(Customer.account_no == moved).values(district_id=east))
        session.execute(
            update(Customer).where(Customer.account_no == life_support).values(kind=CustomerKind.LIFE_SUPPORT)
        )
        # REC-1 cuts off TX-1, TX-2 and the hospital on TX-3: 8 customers, one of them in East.
        add_outage(
            session,
            territory,
            "REC-1",
            OutageState.CONFIRMED,
            customers_affected=8,
            first_report_at=clock.now() - timedelta(minutes=20),
        )

    public = {d.code: d for d in snapshot_at(database, clock).districts}
    report = sitrep_at(database, clock)
    lines = {d.code: d for d in report.districts}
    status = status_json(database, capsys)
    by_code = {d["code"]: d for d in status["districts_out"]}

    assert (public["W"].customers_out, public["E"].customers_out) == (7, 1)
    assert (lines["W"].progress.out_now, lines["E"].progress.out_now) == (7, 1)
    assert (by_code["W"]["customers_out"], by_code["E"]["customers_out"]) == (7, 1)
    # The outage counts in both districts its customers live in, once in the total.
    assert (public["W"].outages, public["E"].outages) == (1, 1)
    assert (lines["W"].outages_active, lines["E"].outages_active) == (1, 1)
    assert (by_code["W"]["outages"], by_code["E"]["outages"]) == (1, 1)
    assert report.outages_active == status["outages_by_state"]["confirmed"] == 1
    # The hospital is out, in West; the life-support customer (East, not cut off) is registered.
    assert [u.district_code for u in report.important_users] == ["W"]
    assert (by_code["W"]["important_users_out"], by_code["E"]["important_users_out"]) == (1, 0)
    assert status["important_users"] == 2
    assert status["important_users_out"] == 1
    assert status["active_outages"][0]["customers_by_district"] == {"E": 1, "W": 7}
    # SLA compliance and reliability by district go by where the customers live too.
    ctx = context_of(database, clock, MANAGER)
    window = (clock.now() - timedelta(hours=1), clock.now())
    for district in (west, east):
        compliance = compliance_report(ctx, *window, district_id=district)
        assert len(compliance.timings) == 1, district
        curve = compliance.curve
        overall = curve[curve["district_id"].isna()]
        assert overall["customers_out"].iloc[-1] == (7 if district == west else 1)
    day = clock.now().astimezone(SHANGHAI).date()
    reliability = reliability_report(ctx, day, day)
    assert reliability.by_district.loc[[west, east], "customers_interrupted"].tolist() == [7, 1]


# --- a replayed storm, read at several moments -------------------------------------------------


def test_a_replayed_storm_tells_the_same_figures_on_every_page_at_every_moment(
    database: Database, clock: FakeClock, capsys: pytest.CaptureFixture[str]
) -> None:
    load_demo(database, clock, customers=2_000, seed=7)
    sim = Simulation(database, SCENARIOS["typhoon"], seed=7, start=clock.now(), auto_dispatch=True)
    for minute in (45, 80, 110, 150, 240):
        sim.advance_to(sim.at(minute))
        now = sim.clock.now()
        fixed = FakeClock(now)
        public = snapshot_at(database, fixed)
        report = sitrep_at(database, fixed)
        status = status_json(database, capsys)
        board = sla_board(context_of(database, fixed, DISPATCHER))
        customers_out = sum(row.customers_out for row in board)
        outages = len(board)

        assert public.customers_out == report.progress.out_now == status["customers_out"] == customers_out, (
            minute
        )
        assert public.outages == report.outages_active == sum(status["outages_by_state"].values()) == outages
        assert len(report.important_users) == status["important_users_out"], minute
        assert len(report.important_users) == sum(row.important_total for row in board), minute
        assert {o["id"]: o["customers_affected"] for o in status["active_outages"]} == {
            r.outage_id: r.customers_out for r in board
        }

        lines = {d.code: d for d in report.districts}
        out = {d["code"]: d for d in status["districts_out"]}
        important_by_district: dict[str, int] = {}
        for user in report.important_users:
            important_by_district[user.district_code] = important_by_district.get(user.district_code, 0) + 1
        for district in public.districts:
            code = district.code
            assert district.customers_out == lines[code].progress.out_now == out[code]["customers_out"], (
                minute,
                code,
            )
            assert district.outages == lines[code].outages_active == out[code]["outages"], (minute, code)
            assert important_by_district.get(code, 0) == out[code]["important_users_out"], (minute, code)
        assert sum(d.customers_out for d in public.districts) == public.customers_out
    assert sim.summary.outages, "the storm caused outages"
