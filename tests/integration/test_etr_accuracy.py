"""ETR accuracy on hand-made outages and ETR histories, on SQLite and PostgreSQL.

P West  ETRs: system 09:30 (set 08:00), crew 10:30 (set 09:00), dispatcher 11:00 set after
        the restoration at 10:00 (does not count): first 30 min late, last 30 min early
Q West  one dispatcher ETR exactly at its restoration: restored by it, error 0
R West  restored with no ETR at all
T East  a cleared ETR (no time), then a system ETR the restoration missed by 60 min
S West  still out: not in the figures
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pandas as pd
import pytest

from emergency.core.clock import FakeClock
from emergency.core.db import Database
from emergency.core.models import EtrChange, EtrConfidence, EtrSource, OutageState
from emergency.reporting.compliance import outage_timings
from emergency.reporting.etr_accuracy import etr_accuracy, etr_outcomes
from tests.support.outage_records import add_outage
from tests.support.small_territory import build_small_territory

DAY = datetime(2026, 6, 30, tzinfo=UTC)
TZ = ZoneInfo("Asia/Shanghai")


def at(hh: int, mm: int = 0) -> datetime:
    return DAY + timedelta(hours=hh, minutes=mm)


@pytest.fixture
def outcomes(database: Database, clock: FakeClock) -> pd.DataFrame:
    territory = build_small_territory(database, clock)
    restored = OutageState.RESTORED
    with database.write() as session:
        p = add_outage(session, territory, "TX-1", restored, first_report_at=at(7, 50), restored_at=at(10))
        q = add_outage(session, territory, "TX-2", restored, first_report_at=at(8), restored_at=at(9, 15))
        add_outage(session, territory, "TX-1", restored, first_report_at=at(8), restored_at=at(8, 40))
        t = add_outage(session, territory, "TX-4", restored, first_report_at=at(8), restored_at=at(12))
        s = add_outage(session, territory, "TX-3", OutageState.ON_SITE, first_report_at=at(9))
        for outage, etr_at, source, set_at in (
            (p, at(9, 30), EtrSource.SYSTEM, at(8)),
            (p, at(10, 30), EtrSource.CREW, at(9)),
            (p, at(11), EtrSource.DISPATCHER, at(10, 5)),
            (q, at(9, 15), EtrSource.DISPATCHER, at(8, 30)),
            (q, at(7, 30), EtrSource.SYSTEM, at(7)),
            (t, None, EtrSource.DISPATCHER, at(8, 10)),
            (t, at(11), EtrSource.SYSTEM, at(8, 20)),
            (s, at(13), EtrSource.SYSTEM, at(9, 5)),
        ):
            session.add(
                EtrChange(
                    outage_id=outage.id,
                    etr_at=etr_at,
                    source=source,
                    confidence=EtrConfidence.MEDIUM,
                    set_at=set_at,
                    set_by="dispatcher",
                )
            )
    with database.read() as session:
        timings = outage_timings(session, DAY, DAY + timedelta(days=1), clock=FakeClock(at(14)), tz=TZ)
        return etr_outcomes(session, timings)


def test_first_and_last_etr_before_restoration(outcomes: pd.DataFrame) -> None:
    assert len(outcomes) == 4, "the outage still out is not counted"
    p, q, r, t = (row for row in outcomes.sort_values("outage_id").itertuples())
    assert (p.etrs, p.revisions, p.first_source, p.last_source) == (2, 1, "system", "crew")
    assert (p.first_error_minutes, p.first_met) == (30, False)
    assert (p.last_error_minutes, p.last_met) == (-30, True), "the ETR set after restoration is ignored"
    assert (q.etrs, q.last_error_minutes, q.last_met) == (1, 0, True), "exactly at the ETR is by it"
    assert q.first_source == "dispatcher", "an ETR set before the first report does not count"
    assert r.etrs == 0 and pd.isna(r.last_met) and pd.isna(r.last_etr_at)
    assert (t.etrs, t.first_error_minutes, t.last_met) == (1, 60, False), "a cleared ETR is skipped"


def test_accuracy_overall(outcomes: pd.DataFrame) -> None:
    overall = etr_accuracy(outcomes).iloc[0]
    assert (overall.restored, overall.with_etr) == (4, 3)
    assert overall.share_by_last == pytest.approx(2 / 3)
    assert overall.share_by_first == pytest.approx(1 / 3)
    assert overall.mae_last_minutes == pytest.approx((30 + 0 + 60) / 3)
    assert overall.mae_first_minutes == pytest.approx((30 + 0 + 60) / 3)
    assert overall.bias_last_minutes == pytest.approx((-30 + 0 + 60) / 3)
    assert overall.revisions_per_outage == pytest.approx(1 / 3)


def test_accuracy_by_source_and_district(outcomes: pd.DataFrame) -> None:
    by_source = etr_accuracy(outcomes, "last_source").set_index("last_source")
    assert list(by_source.index) == ["crew", "dispatcher", "system", "—"]
    assert by_source.loc["crew", "share_by_last"] == 1.0
    assert by_source.loc["system", "mae_last_minutes"] == 60
    assert by_source.loc["—", "with_etr"] == 0 and pd.isna(by_source.loc["—", "share_by_last"])
    by_district = etr_accuracy(outcomes, "district").set_index("district")
    assert by_district.loc["East Village", "share_by_last"] == 0.0
    assert by_district.loc["West Town", "restored"] == 3
    assert by_district.loc["West Town", "share_by_last"] == 1.0
