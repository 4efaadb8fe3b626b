"""Every call opens or joins an outage (issue #17, point 1): a lone supply-loss call is a *service*
outage of its own, with running clocks, on the board, the map, Check my outage and in the figures;
more calls roll it up into the transformer's outage as pending calls were rolled up.

On main a single call on a many-customer transformer created nothing at all: no outage, no clock,
nothing on the board. Runs on SQLite and PostgreSQL (the `database` fixture).

    SS-1 ─ BRK-1 ─ REC-1 ─ FU-1 ─ TX-1 (3), TX-2 (4)
                         └ FU-2 ─ TX-3 (1: a grade-1 hospital)
           BRK-2 ─ REC-2 ─ FU-3 ─ TX-4 (5 + 5 added here = 10), TX-5 (2)
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select, update

from emergency.app.queries.dispatch import outage_detail, sla_board
from emergency.core.actor import Actor
from emergency.core.clock import FakeClock
from emergency.core.db import Database
from emergency.core.models import (
    AuditEvent,
    Crew,
    CrewAssignment,
    Customer,
    CustomerKind,
    Device,
    DeviceKind,
    ImportanceGrade,
    Notification,
    Outage,
    OutageState,
    Report,
    ReportStatus,
    Role,
    SlaBreach,
    SwitchState,
)
from emergency.core.settings import bump_territory_revision
from emergency.dispatch.sla import ClockState
from emergency.network.model import build_network_model
from emergency.network.trace import retrace
from emergency.public.lookup import lookup_supply
from emergency.public.notify import notify_outage_changes
from emergency.public.snapshot import build_public_snapshot
from emergency.reporting.outage_figures import figures_at
from tests.support.app_context import SHANGHAI, context_of
from tests.support.commands import submit_reports
from tests.support.dispatch_actions import confirm_outage, dispatch_crew, restore_outage
from tests.support.small_territory import SmallTerritory, build_small_territory

HOTLINE = Actor("hotline-gateway", "intake")
DISPATCHER = Actor("dana", Role.DISPATCHER)


@pytest.fixture
def territory(database: Database, clock: FakeClock) -> SmallTerritory:
    built = build_small_territory(database, clock)
    with database.write() as session:
        # TX-4 serves 10 customers: the five more live across the boundary, in West, so a service
        # outage's district (the customer's) differs from its transformer's (East).
        tx4, west = built.device_ids["TX-4"], built.district_ids["W"]
        for n in range(5):
            account = f"91000000{n:02d}"
            session.add(
                Customer(
                    account_no=account,
                    name=f"Added {n}",
                    phone=f"1391111{n:04d}",
                    lon=121.151,
                    lat=28.06,
                    transformer_id=tx4,
                    district_id=west,
                )
            )
            built.account_by_transformer["TX-4"].append(account)
        bump_territory_revision(session, clock)
    return built


def call(
    territory: SmallTerritory, transformer: str, n: int, clock: FakeClock, minutes_ago: float = 0
) -> Any:
    return {
        "channel": "hotline",
        "kind": "no_power",
        "account_no": territory.account_by_transformer[transformer][n],
        "reported_at": (clock.now() - timedelta(minutes=minutes_ago)).isoformat(),
    }


def outages(database: Database) -> list[Outage]:
    with database.read() as session:
        return list(session.scalars(select(Outage).order_by(Outage.id)))


def customer_id(database: Database, account: str) -> int:
    with database.read() as session:
        found = session.scalar(select(Customer.id).where(Customer.account_no == account))
    assert found is not None
    return found


def test_a_single_call_on_a_ten_customer_transformer_is_on_the_board_with_running_clocks(
    database: Database, clock: FakeClock, territory: SmallTerritory
) -> None:
    account = territory.account_by_transformer["TX-4"][7]  # one of the customers living in West
    result = submit_reports(database, clock, HOTLINE, [call(territory, "TX-4", 7, clock, minutes_ago=2)])

    (service,) = outages(database)
    assert result.analysis.predicted == [service.id]
    assert (service.state, service.device_id) == (OutageState.PREDICTED, territory.device_ids["TX-4"])
    assert service.customer_id == customer_id(database, account)
    assert (service.customers_affected, service.report_count) == (1, 1)
    assert service.district_id == territory.district_ids["W"], "the customer's district, not the device's"
    assert service.first_report_at == clock.now() - timedelta(minutes=2), "the clocks start at the report"

    (row,) = sla_board(context_of(database, clock, DISPATCHER))
    assert (row.outage_id, row.customers_out, row.service_account) == (service.id, 1, account)
    assert row.is_service and row.service_tail == account[-4:]
    dispatch_clock = row.clock("outage_dispatch")
    assert dispatch_clock is not None and dispatch_clock.stopped_at is None, "running"
    assert dispatch_clock.state == ClockState.ON_TRACK
    assert dispatch_clock.started_at == service.first_report_at
    assert dispatch_clock.remaining == timedelta(minutes=8), "10 minutes from the report, 2 gone"
    with database.read() as session:
        (event,) = session.scalars(
            select(AuditEvent).where(
                AuditEvent.entity_id == str(service.id), AuditEvent.action == "outage.predict"
            )
        )
        assert "service outage" in (event.detail or "")


def test_a_second_call_from_the_same_customer_joins_their_service_outage(
    database: Database, clock: FakeClock, territory: SmallTerritory
) -> None:
    submit_reports(database, clock, HOTLINE, [call(territory, "TX-4", 0, clock, minutes_ago=20)])
    second = submit_reports(database, clock, HOTLINE, [call(territory, "TX-4", 0, clock)])

    (service,) = outages(database)
    assert second.analysis.predicted == [] and second.analysis.grouped_reports == 1
    assert (service.report_count, service.customers_affected) == (2, 1)
    assert service.first_report_at == clock.now() - timedelta(minutes=20)
    with database.read() as session:
        statuses = session.scalars(select(Report.status).where(Report.outage_id == service.id)).all()
    assert sorted(statuses) == [ReportStatus.GROUPED] * 2


def test_the_threshold_rolls_service_outages_up_into_the_transformer_outage_with_crew_and_breach(
    database: Database, clock: FakeClock, territory: SmallTerritory
) -> None:
    submit_reports(database, clock, HOTLINE, [call(territory, "TX-4", 0, clock, minutes_ago=15)])
    (service,) = outages(database)
    with database.read() as session:
        crew_version = session.get(Crew, territory.crew_ids["C1"]).version
    dispatch_crew(
        database, clock, DISPATCHER, service.id, territory.crew_ids["C1"], crew_version=crew_version
    )
    with database.write() as session:
        # The SLA monitor found the on-site clock late on the service outage.
        session.add(
            SlaBreach(
                subject_kind="outage",
                subject_id=service.id,
                code="outage_on_site",
                deadline=clock.now() - timedelta(minutes=1),
                breached_at=clock.now(),
            )
        )

    result = submit_reports(database, clock, HOTLINE, [call(territory, "TX-4", 1, clock)])

    merged, transformer = outages(database)
    assert merged.id == service.id and result.analysis.merged == [service.id]
    assert (merged.state, merged.merged_into_id) == (OutageState.MERGED, transformer.id)
    assert transformer.customer_id is None and transformer.customers_affected == 10
    assert transformer.first_report_at == clock.now() - timedelta(minutes=15), "the first report's clock"
    assert transformer.state == OutageState.DISPATCHED and transformer.dispatched_at is not None
    assert transformer.report_count == 2
    with database.read() as session:
        assignment = session.scalar(
            select(CrewAssignment).where(CrewAssignment.crew_id == territory.crew_ids["C1"])
        )
        assert assignment is not None and assignment.outage_id == transformer.id, "the crew follows"
        carried = session.scalars(select(SlaBreach.code).where(SlaBreach.subject_id == transformer.id)).all()
        assert list(carried) == ["outage_on_site"], "the breach carries over, told once"
        reports = session.scalars(select(Report.outage_id)).all()
        assert set(reports) == {transformer.id}
    (row,) = sla_board(context_of(database, clock, DISPATCHER))
    assert (row.outage_id, row.is_service) == (transformer.id, False)


def test_lone_calls_under_one_fuse_count_in_the_share_but_are_not_child_outages(
    database: Database, clock: FakeClock, territory: SmallTerritory
) -> None:
    # One caller on each of FU-1's transformers: 2 service outages, 2 of 7 customers (29 % < 30 %).
    submit_reports(
        database, clock, HOTLINE, [call(territory, "TX-1", 0, clock), call(territory, "TX-2", 0, clock)]
    )
    assert [o.customer_id is not None for o in outages(database)] == [True, True], (
        "no fuse from two lone calls"
    )

    # A second caller on TX-2 meets its threshold (2 of 4): TX-2's outage takes its service outage;
    # with TX-1's lone caller that is 3 of FU-1's 7 customers calling (43 %): FU-1 takes both.
    submit_reports(database, clock, HOTLINE, [call(territory, "TX-2", 1, clock)])
    every = {o.id: o for o in outages(database)}
    (fuse,) = [o for o in every.values() if o.state != OutageState.MERGED]
    assert fuse.device_id == territory.device_ids["FU-1"] and fuse.report_count == 3

    def last(outage: Outage) -> int:
        return last(every[outage.merged_into_id]) if outage.merged_into_id is not None else outage.id

    assert {last(o) for o in every.values()} == {fuse.id}


def test_check_my_outage_shows_the_lone_caller_their_outage_and_not_their_neighbour(
    database: Database, clock: FakeClock, territory: SmallTerritory
) -> None:
    submit_reports(database, clock, HOTLINE, [call(territory, "TX-4", 0, clock, minutes_ago=4)])
    (service,) = outages(database)
    caller, neighbour = territory.account_by_transformer["TX-4"][:2]
    with database.read() as session:
        model = build_network_model(session)
        phones = dict(session.execute(select(Customer.account_no, Customer.phone)).tuples().all())
        own = lookup_supply(session, clock, model, caller, phones[caller][-4:]).status
        other = lookup_supply(session, clock, model, neighbour, phones[neighbour][-4:]).status
    assert own is not None and other is not None
    assert (own.status, own.reference, own.out_since) == ("reported", service.id, service.first_report_at)
    assert own.since == service.first_report_at
    assert (other.status, other.reference) == ("no_outage", None), "a neighbour's call is not their outage"


def test_the_figures_agree_with_the_board_for_a_service_outage(
    database: Database, clock: FakeClock, territory: SmallTerritory
) -> None:
    west, east = territory.district_ids["W"], territory.district_ids["E"]
    with database.write() as session:
        # The West-living TX-4 customer who calls is registered grade 2; a neighbour is on life support.
        session.execute(
            update(Customer)
            .where(Customer.account_no == territory.account_by_transformer["TX-4"][6])
            .values(importance=ImportanceGrade.GRADE2)
        )
        session.execute(
            update(Customer)
            .where(Customer.account_no == territory.account_by_transformer["TX-4"][1])
            .values(kind=CustomerKind.LIFE_SUPPORT)
        )
    submit_reports(database, clock, HOTLINE, [call(territory, "TX-4", 6, clock)])

    (row,) = sla_board(context_of(database, clock, DISPATCHER))
    with database.read() as session:
        figures = figures_at(session, clock.now())
        snapshot = build_public_snapshot(session, clock, build_network_model(session))
    assert row.customers_out == figures.customers_out == 1
    assert figures.outages == 1
    assert row.important == {"grade2": 1} and row.important_total == figures.important_users_out == 1
    assert row.priority is not None and row.priority.important_users == 1, "the ranking counts the same"
    assert [u.account_no for u in figures.important_users] == [territory.account_by_transformer["TX-4"][6]]
    assert figures.district(west).customers_out == 1 and figures.district(east).customers_out == 0
    assert row.district_id == west
    public = {d.code: d for d in snapshot.districts}
    assert (public["W"].customers_out, public["E"].customers_out) == (1, 0)
    detail = outage_detail(context_of(database, clock, DISPATCHER), row.outage_id)
    assert [u.account_no for u in detail.important_users] == [territory.account_by_transformer["TX-4"][6]]
    assert detail.service_account == territory.account_by_transformer["TX-4"][6]


def test_a_confirmed_service_outage_tells_its_own_customer_only(
    database: Database, clock: FakeClock, territory: SmallTerritory
) -> None:
    """The customer notifications go to who is out: one customer, not the transformer's ten."""
    submit_reports(database, clock, HOTLINE, [call(territory, "TX-4", 3, clock)])
    (service,) = outages(database)
    confirm_outage(database, clock, DISPATCHER, service.id)
    clock.advance(minutes=1)

    notify_outage_changes(database, clock, tz=SHANGHAI)

    with database.read() as session:
        query = select(Notification.customer_id).where(Notification.subject_id == service.id)
        told = session.scalars(query).all()
    assert list(told) == [service.customer_id]


def test_a_neighbour_calling_after_a_service_restoration_opens_no_nested_transformer_outage(
    database: Database, clock: FakeClock, territory: SmallTerritory
) -> None:
    submit_reports(database, clock, HOTLINE, [call(territory, "TX-4", 0, clock)])
    (service,) = outages(database)
    restore_outage(database, clock, DISPATCHER, service.id)
    clock.advance(minutes=10)

    submit_reports(database, clock, HOTLINE, [call(territory, "TX-4", 1, clock)])

    restored, neighbour = outages(database)
    assert restored.state == OutageState.RESTORED
    assert (neighbour.customer_id, neighbour.nested) == (
        customer_id(database, territory.account_by_transformer["TX-4"][1]),
        False,
    ), "the neighbour's own service outage, not the transformer nested in their neighbour's"


def test_a_call_with_no_account_waits_on_its_transformer(
    database: Database, clock: FakeClock, territory: SmallTerritory
) -> None:
    """Located only (no account): no customer to open a service outage for, so it stays waiting and
    counts toward the transformer's threshold as before."""
    located = {"channel": "hotline", "kind": "no_power", "lon": 121.15, "lat": 28.04}  # at TX-5
    submit_reports(database, clock, HOTLINE, [located])
    assert outages(database) == []
    submit_reports(database, clock, HOTLINE, [call(territory, "TX-5", 0, clock)])
    (transformer,) = outages(database)
    assert (transformer.device_id, transformer.customer_id) == (territory.device_ids["TX-5"], None)
    assert transformer.report_count == 2


# --- switches: a tie between feeders, a load-break switch, an open switch ----------------------


def add_tie_section(database: Database, clock: FakeClock, territory: SmallTerritory) -> dict[str, int]:
    """Feeder 2 gets a load-break switch SW-1 below REC-2 with TX-6 and TX-7 (2 customers each)
    beyond it, and a normally open TIE from FU-1's node (feeder 1) to SW-1's far node.

        REC-2 ─ SW-1 ─ TX-6, TX-7        FU-1 ─ TIE (open) ─┘
    """
    ids: dict[str, int] = {}
    with database.write() as session:
        # REC-2 reports nothing: roll-up may go up to it (a closed reading would stop it).
        session.execute(update(Device).where(Device.code == "REC-2").values(scada_state=SwitchState.UNKNOWN))
        east = territory.district_ids["E"]
        for code, kind, a, b, normal in (
            ("SW-1", DeviceKind.SWITCH, "REC-2", "sw1", SwitchState.CLOSED),
            ("TIE", DeviceKind.SWITCH, "FU-1", "sw1", SwitchState.OPEN),
            ("TX-6", DeviceKind.TRANSFORMER, "sw1", None, SwitchState.CLOSED),
            ("TX-7", DeviceKind.TRANSFORMER, "sw1", None, SwitchState.CLOSED),
        ):
            device = Device(
                code=code,
                kind=kind,
                name=code,
                district_id=east,
                lon=121.16,
                lat=28.05,
                from_node=a,
                to_node=b,
                normal_state=normal,
            )
            session.add(device)
            session.flush()
            ids[code] = device.id
        for tx in ("TX-6", "TX-7"):
            territory.account_by_transformer[tx] = []
            for n in range(2):
                account = f"9200{tx[-1]}0000{n}"
                session.add(
                    Customer(
                        account_no=account,
                        name=account,
                        lon=121.16,
                        lat=28.05,
                        transformer_id=ids[tx],
                        district_id=east,
                    )
                )
                territory.account_by_transformer[tx].append(account)
        traced = retrace(session, clock)
        assert traced.trace.loops == [] and traced.trace.unfed == []
        bump_territory_revision(session, clock)  # the customers added, whatever moved
    return ids


def four_calls_beyond_sw1(territory: SmallTerritory, clock: FakeClock) -> list[Any]:
    return [call(territory, tx, n, clock) for tx in ("TX-6", "TX-7") for n in range(2)]


def active_devices(database: Database) -> set[str]:
    with database.read() as session:
        return set(
            session.scalars(
                select(Device.code)
                .join(Outage, Outage.device_id == Device.id)
                .where(Outage.state.not_in([OutageState.MERGED, OutageState.CANCELLED]))
            )
        )


def test_roll_up_passes_a_load_break_switch_and_stays_on_its_own_feeder_beyond_an_open_tie(
    database: Database, clock: FakeClock, territory: SmallTerritory
) -> None:
    ids = add_tie_section(database, clock, territory)
    with database.read() as session:
        parents = dict(session.execute(select(Device.code, Device.parent_id)).tuples().all())
    assert parents["TX-6"] == ids["SW-1"] and parents["SW-1"] == territory.device_ids["REC-2"]
    submit_reports(database, clock, HOTLINE, four_calls_beyond_sw1(territory, clock))
    # Two transformers out below SW-1: a load-break switch clears no fault, so the prediction goes
    # on to REC-2 (feeder 2, where SW-1's customers are served), never to SW-1, the TIE or feeder 1.
    assert active_devices(database) == {"REC-2"}


def test_roll_up_stops_at_an_open_switch(
    database: Database, clock: FakeClock, territory: SmallTerritory
) -> None:
    ids = add_tie_section(database, clock, territory)
    with database.write() as session:
        session.execute(
            update(Device)
            .where(Device.id == ids["SW-1"])
            .values(switched_state=SwitchState.OPEN, switched_at=clock.now())
        )
        retrace(session, clock)
    submit_reports(database, clock, HOTLINE, four_calls_beyond_sw1(territory, clock))
    # SW-1 was opened: TX-6 and TX-7 are out because of it, nothing above it failed.
    assert active_devices(database) == {"TX-6", "TX-7"}


def test_a_load_break_switch_telemetry_shows_closed_stops_the_roll_up_too(
    database: Database, clock: FakeClock, territory: SmallTerritory
) -> None:
    ids = add_tie_section(database, clock, territory)
    with database.write() as session:
        session.execute(
            update(Device)
            .where(Device.id == ids["SW-1"])
            .values(telemetered=True, scada_state=SwitchState.CLOSED, scada_state_at=clock.now())
        )
        bump_territory_revision(session, clock)  # telemetered is part of the network model
    submit_reports(database, clock, HOTLINE, four_calls_beyond_sw1(territory, clock))
    # Passed through, but not past what telemetry says is closed: the fault is below SW-1.
    assert active_devices(database) == {"TX-6", "TX-7"}


def test_back_fed_through_the_tie_the_calls_roll_up_on_the_other_feeder(
    database: Database, clock: FakeClock, territory: SmallTerritory
) -> None:
    ids = add_tie_section(database, clock, territory)
    with database.write() as session:
        for code, state in (("SW-1", SwitchState.OPEN), ("TIE", SwitchState.CLOSED)):
            session.execute(
                update(Device)
                .where(Device.id == ids[code])
                .values(switched_state=state, switched_at=clock.now())
            )
        retrace(session, clock)
        parents = dict(session.execute(select(Device.code, Device.parent_id)).tuples().all())
    assert parents["TX-6"] == ids["TIE"] and parents["TIE"] == territory.device_ids["FU-1"]
    submit_reports(database, clock, HOTLINE, four_calls_beyond_sw1(territory, clock))
    # Fed from feeder 1 now: the TIE (a switch) is passed, FU-1 has two transformers out below it.
    assert active_devices(database) == {"FU-1"}
