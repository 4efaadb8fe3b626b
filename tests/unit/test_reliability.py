"""IEEE 1366 indices against a small example worked out by hand, and the 2.5 beta threshold.

The network (customers in brackets, district after the slash):

    S ─ B1 ─ R ─ T1 [10 /1], T2 [20 /2]        feeder B1 serves 60: 30 in district 1, 30 in 2
         │     └ (T1, T2 below the recloser)
         └ T3 [30 /1]
      B2 ─ T4 [40 /2]                           feeder B2 serves 40, all in district 2

100 customers served: district 1 has 40 (T1, T3), district 2 has 60 (T2, T4).
On 1 June 2026 (Asia/Shanghai):
  1. R out 10:00; 20 customers back 10:30 (switching), the other 10 at 12:00 (repair);
  2. T3 out 14:00-15:00 (30 customers, 60 min);
  3. B2 trips 16:00 and recloses 16:02 (40 customers, momentary);
  4. T1 out 18:00-18:45 (10 customers, 45 min).
"""

from __future__ import annotations

import math
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
import pytest

from emergency.core.clock import FakeClock
from emergency.reporting.reliability import (
    ReliabilityData,
    build_report,
    compute_indices,
    daily_saidi,
    interruption_pieces,
    major_event_threshold,
    preorder,
    running_saidi,
    served_customers,
    subtree_totals,
    threshold_for,
)

TZ = ZoneInfo("Asia/Shanghai")
DAY = date(2026, 6, 1)
S, B1, B2, R, T1, T2, T3, T4 = 1, 2, 3, 4, 5, 6, 7, 8


def local(hour: int, minute: int = 0, day: date = DAY) -> pd.Timestamp:
    return pd.Timestamp(datetime(day.year, day.month, day.day, hour, minute, tzinfo=TZ)).tz_convert(UTC)


def network():
    devices = pd.DataFrame(
        {
            "id": [S, B1, B2, R, T1, T2, T3, T4],
            "parent_id": [None, S, S, B1, R, R, B1, B2],
            "feeder_id": [None, B1, B2, B1, B1, B1, B1, B2],
            "district_id": [1, 1, 2, 1, 1, 2, 1, 2],
        }
    )
    customers_at = pd.DataFrame(
        {"transformer_id": [T1, T2, T3, T4], "district_id": [1, 2, 1, 2], "customers": [10, 20, 30, 40]}
    )
    return served_customers(devices, customers_at, np.array([1, 2]))


def records(outages: list[tuple], steps: list[tuple]) -> tuple[pd.DataFrame, pd.DataFrame]:
    outage_frame = pd.DataFrame(
        outages, columns=["id", "device_id", "first_report_at", "restored_at", "customers_affected"]
    )
    step_frame = pd.DataFrame(steps, columns=["outage_id", "at", "customers_restored"])
    for frame, columns in ((outage_frame, ["first_report_at", "restored_at"]), (step_frame, ["at"])):
        for column in columns:
            frame[column] = pd.to_datetime(frame[column], utc=True)
    return outage_frame, step_frame


EXAMPLE_OUTAGES = [
    (1, R, local(10), local(12), 30),
    (2, T3, local(14), local(15), 30),
    (3, B2, local(16), local(16, 2), 40),
    (4, T1, local(18), local(18, 45), 10),
]
EXAMPLE_STEPS = [
    (1, local(10, 30), 20),
    (1, local(12), 10),
    (2, local(15), 30),
    (3, local(16, 2), 40),
    (4, local(18, 45), 10),
]
LATER = datetime(2026, 6, 5, tzinfo=UTC)


def example(momentary_max_minutes: float = 5.0, now: datetime = LATER) -> ReliabilityData:
    outages, steps = records(EXAMPLE_OUTAGES, EXAMPLE_STEPS)
    return ReliabilityData(
        network(), interruption_pieces(outages, steps, now), now, TZ, momentary_max_minutes
    )


def test_network_arithmetic_counts_customers_below_each_device_and_runs_them_together() -> None:
    parent = np.array([-1, 0, 0, 1, 3, 3, 1, 2])  # rows of S, B1, B2, R, T1, T2, T3, T4
    totals = subtree_totals(parent, np.array([0, 0, 0, 0, 10, 20, 30, 40]))
    assert totals.tolist() == [100, 60, 40, 30, 10, 20, 30, 40]
    position = preorder(parent)
    size = subtree_totals(parent, np.ones(8)).astype(int)
    for row in range(8):
        inside = set(np.flatnonzero((position >= position[row]) & (position < position[row] + size[row])))
        below = {r for r in range(8) if _is_below(parent, r, row)}
        assert inside == below, row


def _is_below(parent: np.ndarray, node: int, top: int) -> bool:
    while node >= 0:
        if node == top:
            return True
        node = parent[node]
    return False


def test_overall_indices_match_the_hand_computation() -> None:
    row = compute_indices(example(), DAY, DAY).loc["all"]
    # Sustained: 20 x 30 + 10 x 120 (the recloser in two steps) + 30 x 60 + 10 x 45 = 4,050
    # customer minutes for 30 + 30 + 10 = 70 customer interruptions; 100 customers served.
    assert row["customers_served"] == 100
    assert row["saifi"] == pytest.approx(0.70)
    assert row["saidi"] == pytest.approx(40.5)
    assert row["caidi"] == pytest.approx(4050 / 70)
    # Distinct customers with a sustained interruption: T1 and T2 (30) and T3 (30); T1's second
    # outage adds nobody new.
    assert row["distinct_customers"] == 60
    assert row["caifi"] == pytest.approx(70 / 60)
    assert row["asai"] == pytest.approx(1 - 4050 / (100 * 1440))
    # B2's two-minute reclose: 40 momentary customer interruptions.
    assert row["maifi"] == pytest.approx(0.40)


def test_by_district_shares_an_outage_by_where_its_customers_are_and_divides_by_customers_served() -> None:
    table = compute_indices(example(), DAY, DAY, by="district")
    one, two = table.loc[1], table.loc[2]
    # The recloser's 30 customers: 10 in district 1, 20 in district 2 (a third and two thirds of
    # its 1,800 customer minutes).
    assert (one["customers_served"], two["customers_served"]) == (40, 60)
    assert one["saifi"] == pytest.approx((10 + 30 + 10) / 40)
    assert one["saidi"] == pytest.approx((600 + 1800 + 450) / 40)
    assert one["caifi"] == pytest.approx(50 / 40)
    assert one["maifi"] == 0
    assert two["saifi"] == pytest.approx(20 / 60)
    assert two["saidi"] == pytest.approx(1200 / 60)
    assert two["maifi"] == pytest.approx(40 / 60)
    assert two["distinct_customers"] == 20


def test_by_feeder_divides_by_the_customers_below_each_breaker() -> None:
    table = compute_indices(example(), DAY, DAY, by="feeder")
    assert table.loc[B1, "customers_served"] == 60
    assert table.loc[B1, "saidi"] == pytest.approx(4050 / 60)
    assert table.loc[B1, "saifi"] == pytest.approx(70 / 60)
    assert table.loc[B2, "saifi"] == 0 and table.loc[B2, "maifi"] == pytest.approx(1.0)
    assert math.isnan(table.loc[B2, "caidi"])


def test_a_substation_outage_is_shared_among_its_feeders() -> None:
    outages, steps = records([(1, S, local(9), local(10), 100)], [(1, local(10), 100)])
    data = ReliabilityData(network(), interruption_pieces(outages, steps, LATER), LATER, TZ, 5.0)
    table = compute_indices(data, DAY, DAY, by="feeder")
    assert table.loc[B1, "customers_interrupted"] == pytest.approx(60)
    assert table.loc[B2, "customer_minutes"] == pytest.approx(40 * 60)


def test_the_momentary_threshold_is_a_setting_not_a_constant() -> None:
    row = compute_indices(example(momentary_max_minutes=60), DAY, DAY).loc["all"]
    # At most 60 minutes is momentary now: only the 10 customers repaired after 120 minutes stay
    # sustained; 20 (switched back at 30 min) + 30 (60 min) + 40 (2 min) + 10 (45 min) are momentary.
    assert row["saifi"] == pytest.approx(0.10)
    assert row["saidi"] == pytest.approx(12.0)
    assert row["maifi"] == pytest.approx(1.0)


def test_interruptions_outside_the_period_and_on_left_out_days_do_not_count() -> None:
    data = example()
    assert compute_indices(data, DAY + timedelta(days=1), DAY + timedelta(days=3)).loc["all", "saifi"] == 0
    assert compute_indices(data, DAY, DAY, leave_out_days=frozenset({DAY})).loc["all", "saidi"] == 0
    two_days = compute_indices(data, DAY, DAY + timedelta(days=1)).loc["all"]
    assert two_days["asai"] == pytest.approx(1 - 4050 / (100 * 2880))


def test_major_event_threshold_by_the_two_and_a_half_beta_method() -> None:
    # Zero days are left out; ln of 1, 2, 4, 8 and 16 is 0, 1, 2, 3, 4 times ln 2.
    series = pd.Series([0.0, 1.0, 2.0, 4.0, 8.0, 0.0, 16.0])
    t_med, alpha, beta, days = major_event_threshold(series)
    assert days == 5
    assert alpha == pytest.approx(2 * math.log(2))  # mean of 0..4 times ln 2
    # Sample standard deviation of 0, 1, 2, 3, 4 is sqrt(10 / 4) = sqrt(2.5).
    assert beta == pytest.approx(math.sqrt(2.5) * math.log(2))
    assert t_med == pytest.approx(math.exp(2 * math.log(2) + 2.5 * math.sqrt(2.5) * math.log(2)))
    assert t_med == pytest.approx(61.94, abs=0.01)
    assert major_event_threshold(pd.Series([0.0, 3.0])) is None


def history_then_today(now: datetime) -> ReliabilityData:
    """40 earlier days alternating SAIDI 10 and 40 (T4's 40 customers out 25 or 100 minutes),
    and today T4 out since 09:00, still out."""
    today = now.astimezone(TZ).date()
    outages, steps = [], []
    for n in range(1, 41):
        day = today - timedelta(days=n)
        minutes = 25 if n % 2 else 100
        start = local(3, 0, day)
        outages.append((n, T4, start, start + timedelta(minutes=minutes), 40))
        steps.append((n, start + timedelta(minutes=minutes), 40))
    outages.append((99, T4, local(9, 0, today), None, 40))
    outage_frame, step_frame = records(outages, steps)
    return ReliabilityData(network(), interruption_pieces(outage_frame, step_frame, now), now, TZ, 5.0)


def test_running_saidi_counts_active_outages_up_to_now_and_flags_the_day_when_it_passes_t_med() -> None:
    clock = FakeClock(local(13, 30).to_pydatetime())
    # ln 10 and ln 40, twenty days each: alpha = ln 20, beta = (ln 4 / 2) * sqrt(40 / 39).
    expected = math.exp(math.log(20) + 2.5 * (math.log(4) / 2) * math.sqrt(40 / 39))
    assert expected == pytest.approx(115.66, abs=0.01)

    early = running_saidi(history_then_today(clock.now()))
    assert early.threshold is not None and early.threshold.previous_only
    assert early.threshold.t_med == pytest.approx(expected)
    assert early.saidi == pytest.approx(270 * 40 / 100)  # 09:00 to 13:30
    assert early.customers_out == 40
    assert not early.is_major_event

    clock.advance(minutes=30)
    late = running_saidi(history_then_today(clock.now()))
    assert late.saidi == pytest.approx(300 * 40 / 100)
    assert late.is_major_event and late.share_of_threshold == pytest.approx(120 / expected)


def test_daily_saidi_has_every_day_and_the_report_marks_major_event_days() -> None:
    now = local(23, 0).to_pydatetime()
    data = history_then_today(now)
    today = now.astimezone(TZ).date()
    daily = daily_saidi(data, today - timedelta(days=3), today)
    assert daily.tolist() == pytest.approx([10.0, 40.0, 10.0, 14 * 60 * 40 / 100])
    threshold = threshold_for(data, today, today)
    report = build_report(data, today, today)
    assert report.major_event_days == [today] and threshold == report.threshold
    assert report.overall.loc["all_days", "saidi"] == pytest.approx(336.0)
    assert report.overall.loc["without_major_events", "saidi"] == 0


def test_a_report_has_one_t_med_for_its_major_event_days_its_chart_and_todays_gauge() -> None:
    """The reliability page showed two T_MED values (24.92 beside the gauge, 24.39 under the
    table): today's gauge fitted its own five years while the period fitted the years before
    its first day. Here those windows differ (30 or 40 days of history), and one is shown."""
    now = local(13, 30).to_pydatetime()
    data = history_then_today(now)
    today = now.astimezone(TZ).date()
    first_day = today - timedelta(days=10)
    assert threshold_for(data, first_day) != threshold_for(data, today), "the two windows give two values"

    report = build_report(data, first_day, today)

    # A period that reaches today is read against the threshold in force today.
    assert report.threshold == threshold_for(data, today)
    assert report.running.threshold == report.threshold
    assert report.running.share_of_threshold == pytest.approx(report.running.saidi / report.threshold.t_med)
    # A past period against the years before it, and today's gauge on its page says the same.
    past = build_report(data, first_day, today - timedelta(days=2))
    assert past.threshold == threshold_for(data, first_day)
    assert past.running.threshold == past.threshold
