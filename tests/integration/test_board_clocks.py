"""The SLA board's clocks, computed as arrays from plain columns, equal the reference clocks of
`sla.outage_clocks` on the ORM outages, on SQLite and PostgreSQL (the `database` fixture)."""

from __future__ import annotations

import random
from datetime import timedelta

from sqlalchemy import select

from emergency.core.calendar import load_overrides
from emergency.core.clock import FakeClock
from emergency.core.config import load_settings
from emergency.core.db import Database
from emergency.core.models import (
    ACTIVE_OUTAGE_STATES,
    AssignmentStatus,
    CrewAssignment,
    District,
    Outage,
    OutageState,
    SlaBreach,
    SlaTarget,
)
from emergency.dispatch import sla
from emergency.dispatch.board import sla_board
from tests.support.app_context import SHANGHAI
from tests.support.small_territory import SmallTerritory, build_small_territory

# (device, state, seconds since the first report, dispatched after, on site after, hazard, important)
OUTAGES = [
    ("TX-1", OutageState.PREDICTED, 100, None, None, False, {}),
    ("TX-2", OutageState.CONFIRMED, 600, None, None, True, {"grade1": 1}),  # exactly at the limit
    ("TX-3", OutageState.CONFIRMED, 601, None, None, False, {}),  # one second over
    ("TX-4", OutageState.DISPATCHED, 1_500, 600, None, False, {"grade2": 2}),  # dispatched at the limit
    ("TX-5", OutageState.ON_SITE, 4_000, 700, 1_900, False, {}),  # late on both clocks
    ("FU-1", OutageState.DISPATCHED, 1_650, 300, None, True, {}),  # arrival clock at risk
    ("FU-2", OutageState.RESTORED, 900, None, None, False, {}),  # not on the board
]


CREW = "C1"
EXACT = {"TX-2", "TX-3", "TX-4"}


def make_outages(database: Database, clock: FakeClock, territory: SmallTerritory) -> dict[str, int]:
    now = clock.now()
    ids = {}
    with database.write() as session:
        districts = session.scalars(select(District)).all()
        for n, (device, state, age, dispatched, on_site, hazard, important) in enumerate(OUTAGES):
            # Microseconds on the times away from the edges, so they are read back exactly.
            jitter = timedelta(microseconds=0 if device in EXACT else 137 * n)
            first = now - timedelta(seconds=age) + jitter
            outage = Outage(
                state=state,
                device_id=territory.device_ids[device],
                district_id=districts[n % len(districts)].id,
                hazard=hazard,
                first_report_at=first,
                dispatched_at=None if dispatched is None else first + timedelta(seconds=dispatched),
                on_site_at=None if on_site is None else first + timedelta(seconds=on_site),
                restored_at=now if state == OutageState.RESTORED else None,
                customers_affected=10 + n,
                customers_restored=n,
                important_affected=important,
                report_count=n + 1,
            )
            session.add(outage)
            session.flush()
            ids[device] = outage.id
        crew_id = territory.crew_ids[CREW]
        session.add(
            CrewAssignment(
                outage_id=ids["TX-4"],
                crew_id=crew_id,
                status=AssignmentStatus.DISPATCHED,
                assigned_at=now - timedelta(minutes=5),
            )
        )
        session.add(
            SlaBreach(
                subject_kind="outage",
                subject_id=ids["TX-5"],
                code="outage_dispatch",
                deadline=now,
                breached_at=now,
                notified_at=now,
            )
        )
    return ids


def reference_clocks(database: Database, clock: FakeClock) -> dict[int, list[sla.ClockStatus]]:
    with database.read() as session:
        targets = sla.load_targets(session, "outage")
        at_risk = sla.at_risk_window(session)
        area_types = {d.id: str(d.area_type) for d in session.scalars(select(District))}
        outages = session.scalars(select(Outage).where(Outage.state.in_(ACTIVE_OUTAGE_STATES))).all()
        return {
            o.id: sla.outage_clocks(o, targets, clock.now(), at_risk, area_types.get(o.district_id))
            for o in outages
        }


def test_board_clocks_equal_the_reference_as_time_goes_by(database: Database, clock: FakeClock) -> None:
    territory = build_small_territory(database, clock)
    ids = make_outages(database, clock, territory)
    for step in (0, 1, 170, 60, 600):
        clock.advance(seconds=step)
        expected = reference_clocks(database, clock)
        with database.read() as session:
            board = sla_board(session, clock, SHANGHAI)
        assert sorted(r.outage_id for r in board) == sorted(expected)
        for row in board:
            assert row.clocks == expected[row.outage_id]
            assert row.urgent == sla.most_urgent(c for c in expected[row.outage_id] if not c.reference)
            assert row.first_report_at.tzinfo is not None

    rows = {r.device_code: r for r in board}
    assert ids["FU-2"] not in {r.outage_id for r in board}, "restored outages leave the board"
    assert rows["TX-4"].crews == (CREW,)
    assert rows["TX-5"].breached == ("outage_dispatch",)
    assert rows["TX-5"].urgency == "breached", "a recorded breach colours an outage whose clocks stopped"
    assert rows["TX-2"].important == {"grade1": 1} and rows["TX-2"].hazard
    assert rows["TX-5"].customers_out == 10 + 4 - 4


def test_the_first_moments_sort_the_board_by_what_breaks_first(database: Database, clock: FakeClock) -> None:
    territory = build_small_territory(database, clock)
    make_outages(database, clock, territory)
    with database.read() as session:
        board = sla_board(session, clock, SHANGHAI)
    by_device = [r.device_code for r in board]
    # TX-3 is one second over its dispatch clock, TX-2 exactly at it: late before on time.
    assert by_device.index("TX-3") < by_device.index("TX-2")
    states = {r.device_code: (r.urgent.state if r.urgent else None) for r in board}
    assert states["TX-3"] == sla.ClockState.BREACHED
    assert states["TX-2"] == sla.ClockState.AT_RISK
    assert states["TX-1"] == sla.ClockState.ON_TRACK
    assert states["FU-1"] == sla.ClockState.AT_RISK
    assert by_device[-1] == "TX-5", "no clock running: last"


def test_a_working_day_target_on_outages_counts_the_utility_calendar(
    database: Database, clock: FakeClock
) -> None:
    """A utility may add an outage clock in working days: the board counts it with the holiday
    calendar and OUTAGE_TZ, as the reference does."""
    territory = build_small_territory(database, clock)
    with database.write() as session:
        session.add(
            SlaTarget(
                code="outage_restored_wd",
                name_en="Restored within a working day",
                name_zh="一个工作日内恢复",
                applies_to="outage",
                starts_on="first_report",
                stops_on="restored",
                limit_working_days=1,
                calendar="working_days",
            )
        )
    make_outages(database, clock, territory)
    clock.advance(days=3)
    with database.read() as session:
        board = sla_board(session, clock, SHANGHAI)
        targets = sla.load_targets(session, "outage")
        tz = load_settings().timezone
        overrides = load_overrides(session)
        outages = {o.id: o for o in session.scalars(select(Outage))}
        for row in board:
            expected = sla.outage_clocks(
                outages[row.outage_id],
                targets,
                clock.now(),
                sla.at_risk_window(session),
                row.area_type,
                tz=tz,
                calendar_overrides=overrides,
            )
            assert row.clocks == expected
            assert "outage_restored_wd" in [c.code for c in row.clocks]


def test_each_rows_urgency_follows_the_clocks_it_shows_over_random_outages(
    database: Database, clock: FakeClock
) -> None:
    """The board's own path (clocks as arrays, breaches as recorded) over 120 random outages at
    several moments: a row never reads "on track" beside a missed or breached clock (issue #16, 3)."""
    territory = build_small_territory(database, clock)
    chance = random.Random(1603)
    devices = sorted(territory.device_ids)
    districts = sorted(territory.district_ids.values())
    with database.write() as session:
        for _ in range(120):
            first = clock.now() - timedelta(seconds=chance.randint(0, 3_000))
            dispatched = (
                first + timedelta(seconds=chance.randint(0, 1_500)) if chance.random() < 0.7 else None
            )
            dispatched = dispatched if dispatched and dispatched <= clock.now() else None
            on_site = None
            if dispatched is not None and chance.random() < 0.6:
                on_site = dispatched + timedelta(seconds=chance.randint(0, 1_800))
                on_site = on_site if on_site <= clock.now() else None
            state = (
                OutageState.ON_SITE
                if on_site
                else OutageState.DISPATCHED
                if dispatched
                else OutageState.CONFIRMED
            )
            session.add(
                Outage(
                    state=state,
                    device_id=territory.device_ids[chance.choice(devices)],
                    district_id=chance.choice(districts),
                    first_report_at=first,
                    dispatched_at=dispatched,
                    on_site_at=on_site,
                    customers_affected=1,
                    important_affected={},
                )
            )
    seen = set()
    for step in (0, 240, 600, 1_800):
        clock.advance(seconds=step)
        with database.read() as session:
            board = sla_board(session, clock, SHANGHAI)
        assert len(board) == 120
        for row in board:
            late = any(c.state in (sla.ClockState.BREACHED, sla.ClockState.MISSED) for c in row.clocks)
            running = [c for c in row.clocks if c.running]
            seen.add(row.urgency)
            assert (row.urgency == "breached") == (late or bool(row.breached)), row
            if row.urgency == "on_track":
                assert running and all(c.state == sla.ClockState.ON_TRACK for c in running), row
            if row.urgency == "at_risk":
                assert any(c.state == sla.ClockState.AT_RISK for c in running), row
            if row.urgency == "done":
                assert not running and all(c.state == sla.ClockState.MET for c in row.clocks), row
    assert seen == set(sla.URGENCY_WORDS)
