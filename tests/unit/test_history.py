"""The demo history generator: reproducible, closed, and shaped like records of the live system."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from itertools import pairwise
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
import pytest

from emergency.core.errors import InvalidInput
from emergency.core.models import OutageState
from emergency.demo.history import History, IdStart, generate_history
from emergency.demo.territory import Territory, generate_territory
from emergency.reporting.reliability import (
    ReliabilityData,
    build_report,
    interruption_pieces,
    served_customers,
)

NOW = datetime(2026, 7, 1, 2, 0, tzinfo=UTC)
SIZE = 5_000


@pytest.fixture(scope="module")
def territory() -> Territory:
    return generate_territory(SIZE, 7, NOW)


@pytest.fixture(scope="module")
def history(territory: Territory) -> History:
    return generate_history(territory, NOW, years=3, seed=11)


def test_the_same_seed_gives_the_same_history_and_another_seed_another(
    territory: Territory, history: History
) -> None:
    again = generate_history(territory, NOW, years=3, seed=11)
    for (_, mine), (_, theirs) in zip(history.tables(), again.tables(), strict=True):
        pd.testing.assert_frame_equal(mine, theirs)
    other = generate_history(territory, NOW, years=3, seed=12)
    assert not other.outages["first_report_at"].equals(history.outages["first_report_at"])


def test_history_covers_the_years_before_today_and_everything_is_closed(history: History) -> None:
    outages = history.outages
    assert set(outages["state"]) == {OutageState.CLOSED.value}
    assert history.days == (NOW.date() - NOW.date().replace(year=NOW.year - 3)).days
    assert outages["first_report_at"].min() < NOW - timedelta(days=3 * 365 - 30)
    assert outages["closed_at"].max() <= NOW
    assert outages["id"].is_unique


def test_every_sustained_outage_has_its_lifecycle_in_order(history: History) -> None:
    outages = history.outages
    sustained = outages[outages["dispatched_at"].notna()]
    assert len(sustained) > 100
    order = [
        "first_report_at",
        "predicted_at",
        "confirmed_at",
        "dispatched_at",
        "en_route_at",
        "on_site_at",
        "restored_at",
        "closed_at",
    ]
    for earlier, later in pairwise(order):
        assert (sustained[earlier] <= sustained[later]).all(), (earlier, later)
    assert (sustained["customers_affected"] > 0).all()
    assert (sustained["customers_restored"] == sustained["customers_affected"]).all()


def test_steps_add_up_to_everyone_and_some_outages_come_back_in_steps(history: History) -> None:
    steps = history.restoration_steps
    outages = history.outages.set_index("id")
    per_outage = steps.groupby("outage_id")["customers_restored"].sum()
    assert per_outage.reindex(outages.index).eq(outages["customers_affected"]).all()
    assert (steps["customers_restored"] > 0).all()
    last_step = steps.groupby("outage_id")["at"].max()
    assert last_step.reindex(outages.index).eq(outages["restored_at"]).all()
    assert (steps.groupby("outage_id").size() == 2).sum() > 10


def test_momentary_interruptions_are_reclosures_under_five_minutes(history: History) -> None:
    outages = history.outages
    momentary = outages[outages["dispatched_at"].isna()]
    assert len(momentary) > 50
    minutes = (momentary["restored_at"] - momentary["first_report_at"]).dt.total_seconds() / 60
    assert (minutes < 5).all()
    assert set(momentary["confirmed_by"]) == {"scada"}


def test_etr_history_and_assignments_belong_to_dispatched_outages(history: History) -> None:
    outages = history.outages.set_index("id")
    sustained = outages.index[outages["dispatched_at"].notna()]
    etrs = history.etr_changes
    assert set(etrs["outage_id"]) == set(sustained)
    assert (etrs.groupby("outage_id").size() >= 2).mean() > 0.5
    latest = etrs.sort_values("set_at").groupby("outage_id").last()
    assert latest["etr_at"].eq(outages.loc[latest.index, "etr_at"]).all()
    # Each ETR is given between the outage's dispatch and its restoration, for its own outage.
    dispatched = outages.loc[etrs["outage_id"], "dispatched_at"].to_numpy()
    restored = outages.loc[etrs["outage_id"], "restored_at"].to_numpy()
    assert (etrs["set_at"].to_numpy() >= dispatched).all()
    assert (etrs["set_at"].to_numpy() < restored).all()
    assert (etrs["etr_at"].to_numpy() > dispatched).all()
    assignments = history.assignments.set_index("outage_id")
    assert set(assignments.index) == set(sustained)
    assert assignments["assigned_at"].eq(outages.loc[assignments.index, "dispatched_at"]).all()
    assert assignments["completed_at"].eq(outages.loc[assignments.index, "restored_at"]).all()


def test_a_crew_never_works_two_outages_at_once(history: History) -> None:
    jobs = history.assignments.sort_values(["crew_id", "assigned_at"])
    previous_end = jobs.groupby("crew_id")["completed_at"].shift()
    assert (jobs["assigned_at"] >= previous_end).where(previous_end.notna(), True).all()


def test_sla_is_mostly_met_with_more_breaches_on_storm_days_and_far_from_town(
    territory: Territory, history: History
) -> None:
    outages = history.outages
    sustained = outages[outages["dispatched_at"].notna()]
    to_site = (sustained["on_site_at"] - sustained["first_report_at"]).dt.total_seconds() / 60
    to_dispatch = (sustained["dispatched_at"] - sustained["first_report_at"]).dt.total_seconds() / 60
    assert (to_dispatch <= 10).mean() > 0.8
    assert (to_site <= 30).mean() > 0.6
    area = sustained["district_id"].map(
        dict(zip(territory.districts["id"], territory.districts["area_type"], strict=True))
    )
    on_time = (to_site <= 30).groupby(area).mean()
    assert on_time["urban"] > on_time["remote"]
    breached = set(history.breaches["subject_id"])
    late = sustained.loc[to_site > 30, "id"]
    assert set(late) <= breached
    assert set(history.breaches["code"]) == {"outage_dispatch", "outage_on_site"}


def test_typhoon_season_has_the_most_outages(history: History) -> None:
    months = history.outages["first_report_at"].dt.tz_convert("Asia/Shanghai").dt.month
    per_month = months.value_counts().reindex(range(1, 13), fill_value=0)
    assert per_month[[7, 8, 9]].mean() > 1.5 * per_month[[1, 2, 3, 11, 12]].mean()
    assert history.storm_days > 3 * 3


def test_ids_start_where_asked(territory: Territory) -> None:
    history = generate_history(territory, NOW, years=1, seed=3, ids=IdStart(100, 200, 300, 400, 500))
    assert history.outages["id"].min() == 100
    assert history.restoration_steps["id"].min() == 200
    assert history.etr_changes["id"].min() == 300
    assert history.assignments["id"].min() == 400
    assert history.breaches["id"].min() == 500
    assert np.isin(history.restoration_steps["outage_id"], history.outages["id"]).all()


def test_the_app_sized_demo_has_a_few_major_event_days_a_year_in_typhoon_season() -> None:
    territory = generate_territory(50_000, 7, NOW)
    history = generate_history(territory, NOW, years=3, seed=7)
    at = territory.customers.groupby(["transformer_id", "district_id"]).size().rename("customers")
    served = served_customers(territory.devices, at.reset_index(), territory.districts["id"].to_numpy())
    pieces = interruption_pieces(history.outages, history.restoration_steps, NOW)
    data = ReliabilityData(served, pieces, NOW, ZoneInfo("Asia/Shanghai"), 5.0)
    last_year = build_report(data, date(2025, 7, 1), date(2026, 6, 30))

    assert last_year.threshold is not None and last_year.threshold.previous_only
    assert 1 <= len(last_year.major_event_days) <= 8
    assert all(7 <= day.month <= 9 for day in last_year.major_event_days)
    overall = last_year.overall
    assert overall.loc["without_major_events", "saidi"] < 0.7 * overall.loc["all_days", "saidi"]
    # A plausible utility: one to three sustained interruptions a year per customer on normal days.
    assert 0.8 < overall.loc["without_major_events", "saifi"] < 3


def test_no_history_is_allowed_and_a_negative_number_of_years_is_refused(territory: Territory) -> None:
    assert generate_history(territory, NOW, years=0, seed=1).outages.empty
    with pytest.raises(InvalidInput):
        generate_history(territory, NOW, years=-1, seed=1)
