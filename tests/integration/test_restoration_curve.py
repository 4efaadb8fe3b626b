"""Restoration curve of an event window 10:00-14:00 on hand-made outages (SQLite and PostgreSQL).

O1 West 100 customers, out since 09:00 (before the window); steps of 40 at 10:30 and 30 at
   11:00; the last 30 restored with the outage at 12:00
O2 East  50 customers, 10:15, restored whole at 13:00 with no step recorded
O3 West  20 customers, 11:00, still out
O4 West   7 customers, 08:00-09:30: over before the window
O5 East  10 customers, 13:30, restored after the window
cancelled and merged outages do not count
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pandas as pd
import pytest

from emergency.core.clock import FakeClock
from emergency.core.db import Database
from emergency.core.models import OutageState, RestorationStep
from emergency.reporting.restoration_curves import customers_out_curve, restoration_curve, sampled
from tests.support.outage_records import add_outage
from tests.support.small_territory import SmallTerritory, build_small_territory

DAY = datetime(2026, 6, 30, tzinfo=UTC)


def at(hh: int, mm: int = 0) -> datetime:
    return DAY + timedelta(hours=hh, minutes=mm)


@pytest.fixture
def territory(database: Database, clock: FakeClock) -> SmallTerritory:
    territory = build_small_territory(database, clock)
    restored = OutageState.RESTORED
    with database.write() as session:
        o1 = add_outage(
            session,
            territory,
            "TX-1",
            restored,
            customers_affected=100,
            first_report_at=at(9),
            restored_at=at(12),
        )
        session.add_all(
            [
                RestorationStep(outage_id=o1.id, at=at(10, 30), customers_restored=40),
                RestorationStep(outage_id=o1.id, at=at(11), customers_restored=30),
                RestorationStep(outage_id=o1.id, at=at(12), customers_restored=30),
            ]
        )
        add_outage(
            session,
            territory,
            "TX-4",
            restored,
            customers_affected=50,
            first_report_at=at(10, 15),
            restored_at=at(13),
        )
        add_outage(
            session, territory, "TX-2", OutageState.ON_SITE, customers_affected=20, first_report_at=at(11)
        )
        add_outage(
            session,
            territory,
            "TX-1",
            restored,
            customers_affected=7,
            first_report_at=at(8),
            restored_at=at(9, 30),
        )
        add_outage(
            session,
            territory,
            "TX-5",
            restored,
            customers_affected=10,
            first_report_at=at(13, 30),
            restored_at=at(15),
        )
        add_outage(
            session,
            territory,
            "TX-3",
            OutageState.CANCELLED,
            customers_affected=1,
            first_report_at=at(10),
            cancelled_at=at(10, 20),
        )
        add_outage(
            session, territory, "TX-2", OutageState.MERGED, customers_affected=4, first_report_at=at(10, 40)
        )
    return territory


def series(curve: pd.DataFrame, district: str) -> list[tuple[str, int]]:
    rows = curve[curve["district"] == district]
    return [(t.strftime("%H:%M"), n) for t, n in zip(rows["at"], rows["customers_out"], strict=True)]


def test_customers_out_overall_and_per_district_with_steps(
    database: Database, territory: SmallTerritory
) -> None:
    with database.read() as session:
        curve = restoration_curve(session, at(10), at(14))
    assert series(curve, "All districts") == [
        ("10:00", 100),
        ("10:15", 150),
        ("10:30", 110),
        ("11:00", 100),
        ("12:00", 70),
        ("13:00", 20),
        ("13:30", 30),
        ("14:00", 30),
    ]
    assert series(curve, "West Town") == [
        ("10:00", 100),
        ("10:30", 60),
        ("11:00", 50),
        ("12:00", 20),
        ("14:00", 20),
    ]
    assert series(curve, "East Village") == [
        ("10:00", 0),
        ("10:15", 50),
        ("13:00", 0),
        ("13:30", 10),
        ("14:00", 10),
    ]
    assert curve.loc[curve["district"] == "All districts", "district_id"].isna().all()
    assert str(curve["at"].dtype) == "datetime64[us, UTC]"
    assert set(curve.loc[curve["district"] == "East Village", "district_zh"]) == {"东村"}


def test_one_district_or_area_type_only(database: Database, territory: SmallTerritory) -> None:
    with database.read() as session:
        curve = restoration_curve(session, at(10), at(14), district_id=territory.district_ids["E"])
    assert series(curve, "All districts") == series(curve, "East Village")
    assert set(curve["district"]) == {"All districts", "East Village"}
    with database.read() as session:
        urban = restoration_curve(session, at(10), at(14), area_type="urban")
    assert series(urban, "All districts") == series(urban, "West Town")
    assert set(urban["district"]) == {"All districts", "West Town"}


def test_a_quiet_window_is_zero_from_start_to_end() -> None:
    outages = pd.DataFrame(
        columns=[
            "outage_id",
            "district_id",
            "district",
            "district_zh",
            "customers_affected",
            "first_report_at",
            "restored_at",
        ]
    )
    steps = pd.DataFrame(columns=["outage_id", "at", "customers_restored"])
    curve = customers_out_curve(outages, steps, at(10), at(14))
    assert series(curve, "All districts") == [("10:00", 0), ("14:00", 0)]
    assert str(curve["at"].dtype) == "datetime64[us, UTC]"


def test_a_long_curve_is_read_at_even_moments(database: Database, territory: SmallTerritory) -> None:
    with database.read() as session:
        curve = sampled(restoration_curve(session, at(10), at(14)), 5)
    assert series(curve, "All districts") == [
        ("10:00", 100),
        ("11:00", 100),
        ("12:00", 70),
        ("13:00", 20),
        ("14:00", 30),
    ]
    assert series(curve, "East Village") == [
        ("10:00", 0),
        ("11:00", 50),
        ("12:00", 50),
        ("13:00", 0),
        ("14:00", 10),
    ]
