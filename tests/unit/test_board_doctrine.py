"""The board never contradicts itself, and ranks as documented (issue #16, point 3).

- Doctrine cases on the one ranking (`emergency.dispatch.priority.rank`): each key of the
  documented order, with the cases seen on the demo typhoon (a hazard below a grade-2 user, a
  grade-1 user at rank 5 of the disaster queue below grade-2 ones).
- The README's "Priority" list and the ranking module's doctrine are the same words.
- Urgency follows from the clocks in the same row: a seeded sweep over thousands of random clock
  states (hypothesis is not installed) checks the word against every clock the row shows.
"""

from __future__ import annotations

import random
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace

import pytest

from emergency.core.settings import DEFAULT_SLA_TARGETS
from emergency.dispatch import priority
from emergency.dispatch.board import BoardRow
from emergency.dispatch.priority import AT_RISK, BREACHED, NO_CLOCK, ON_TRACK, rank
from emergency.dispatch.sla import URGENCY_WORDS, ClockState, ClockStatus, Target, most_urgent, outage_clocks
from tests.unit.test_priority import G1, G2, LIFE, SPECIAL, order, ranking_input

TEMPORARY = priority.GRADES.index("temporary")
REPO = Path(__file__).resolve().parents[2]


# --- the doctrine, key by key -------------------------------------------------------------------


def test_a_hazard_beats_a_grade_2_user_in_disaster_mode_as_on_the_demo_typhoon() -> None:
    """The demo's outages 4 (wires down, a life-support customer with 2.8 h of backup) and 6 (a
    grade-2 user with 2.2 h): both cut off important users in disaster mode; the hazard leads."""
    rows = [
        {"id": 6, "disaster": True, "grade": G2, "users": 1, "backup": 2.2, "out": 39},
        {"id": 4, "disaster": True, "hazard": True, "grade": LIFE, "users": 1, "backup": 2.8, "out": 32},
    ]
    assert order(rows) == [4, 6]


def test_a_hazard_beats_a_grade_2_user_whose_clock_is_in_the_same_band() -> None:
    for band in (BREACHED, AT_RISK, ON_TRACK, NO_CLOCK):
        rows = [
            {"id": 1, "grade": G2, "users": 3, "clock": band, "out": 900},
            {"id": 2, "hazard": True, "clock": band, "out": 1},
        ]
        assert order(rows) == [2, 1], band


def test_special_then_grade_1_then_grade_2_and_life_support_then_temporary_then_the_rest() -> None:
    # Equal backup everywhere: the tier decides, then the grade within a tier.
    rows = [
        {"id": 1, "out": 5000},  # many customers, nobody important
        {"id": 2, "grade": TEMPORARY, "users": 1},
        {"id": 3, "grade": LIFE, "users": 1},
        {"id": 4, "grade": G2, "users": 1},
        {"id": 5, "grade": G1, "users": 1},
        {"id": 6, "grade": SPECIAL, "users": 1},
    ]
    assert order(rows) == [6, 5, 4, 3, 2, 1]


def test_backup_running_out_sooner_orders_within_a_tier_never_across_tiers() -> None:
    rows = [
        {"id": 1, "grade": G2, "users": 1, "backup": 0.0},  # no backup at all, but grade 2
        {"id": 2, "grade": G1, "users": 1, "backup": 8.0},
        {"id": 3, "grade": SPECIAL, "users": 1, "backup": 9.0},
        {"id": 4, "grade": LIFE, "users": 1, "backup": 1.0},
    ]
    # Grade 1 with less backup than the special user goes first within the critical tier; the
    # grade-2 user with none still waits for both; life support after it (1 h left against 0).
    assert order(rows) == [2, 3, 1, 4]


def test_in_disaster_mode_the_clocks_do_not_reorder_the_grades() -> None:
    """The queue seen on the demo: a grade-1 user whose crew is on site (no clock running) stood at
    rank 5, below grade-2 users whose clocks were running."""
    rows = [
        {"id": 3, "disaster": True, "grade": G2, "users": 5, "clock": ON_TRACK, "out": 502},
        {"id": 2, "disaster": True, "grade": G2, "users": 6, "clock": BREACHED, "out": 467},
        {"id": 1, "disaster": True, "grade": G1, "users": 22, "backup": 8.8, "clock": NO_CLOCK},
        {"id": 5, "disaster": True, "clock": BREACHED, "out": 68},
        {"id": 8, "disaster": True, "clock": NO_CLOCK, "out": 90},
    ]
    # Users first by tier; then the plain outages by customers per crew-hour, not by clock.
    assert order(rows) == [1, 3, 2, 8, 5]


def test_outside_disaster_mode_the_running_clocks_lead_the_doctrine() -> None:
    rows = [
        {"id": 1, "hazard": True, "clock": ON_TRACK},
        {"id": 2, "grade": SPECIAL, "users": 1, "clock": AT_RISK},
        {"id": 3, "clock": BREACHED, "out": 1},
        {"id": 4, "hazard": True, "clock": NO_CLOCK},
        {"id": 5, "grade": G1, "users": 1, "clock": NO_CLOCK},
    ]
    assert order(rows) == [3, 2, 1, 4, 5]


def test_disaster_mode_important_users_come_before_every_clock_elsewhere() -> None:
    rows = [
        {"id": 1, "hazard": True, "clock": BREACHED},  # outside disaster mode
        {"id": 2, "disaster": True, "grade": TEMPORARY, "users": 1},
        {"id": 3, "disaster": True, "hazard": True},  # wires down, nobody important
    ]
    # The breached clock outside leads the disaster area's plain hazard, whose clock does not count.
    assert order(rows) == [2, 1, 3]


def test_ties_go_to_customers_per_crew_hour_then_the_earlier_report_then_the_lower_id() -> None:
    rows = [
        {"id": 9, "grade": G2, "users": 1, "out": 100, "hours": 4.0, "first": 5},  # 25 per crew-hour
        {"id": 8, "grade": G2, "users": 1, "out": 60, "hours": 1.0, "first": 9},  # 60
        {"id": 7, "grade": G2, "users": 1, "out": 60, "hours": 1.0, "first": 3},  # 60, earlier
        {"id": 6, "grade": G2, "users": 1, "out": 60, "hours": 1.0, "first": 3},  # same: lower id
    ]
    assert order(rows) == [6, 7, 8, 9]


def test_the_reason_names_the_keys_that_placed_an_outage_in_their_order() -> None:
    rows = [
        {"id": 1, "disaster": True, "hazard": True, "grade": LIFE, "users": 1, "backup": 2.8, "out": 32},
        {"id": 2, "hazard": True, "clock": BREACHED, "grade": G1, "users": 2, "backup": 1.5},
        {"id": 3, "disaster": True, "clock": BREACHED, "out": 7},
    ]
    first, second, third = rank(ranking_input(rows))
    assert first.reason() == (
        "disaster mode: important users first; public-safety hazard; "
        "life-support customer (1 important), backup 2.8 h left; 32 out, 32.0 per crew-hour"
    )
    assert first.reason("zh") == (
        "灾害模式：重要用户优先；公共安全隐患；生命支持用户（共 1 户），备用电源剩 2.8 小时；"
        "停电 32 户，每工时 32.0 户"
    )
    assert second.reason() == (
        '"Crew on site" clock breached; public-safety hazard; grade-1 user (2 important), '
        "backup 1.5 h left; 10 out, 10.0 per crew-hour"
    )
    assert second.reason("zh").startswith("到场已超时；公共安全隐患；一级重要用户（共 2 户）")
    # Its clock breached, but in disaster mode the clocks do not order: the reason does not say so.
    assert third.reason() == "disaster-mode area; 7 out, 7.0 per crew-hour"
    assert third.clock_en is None


# --- one doctrine, stated once in words ------------------------------------------------------------


def numbered_items(text: str) -> list[str]:
    """The items of the first numbered list (`1. ...`) in `text`, each on one line of words."""
    items: list[str] = []
    for line in text.splitlines():
        start = re.match(r"^\s*(\d+)\. (.*)$", line)
        if start and int(start.group(1)) == len(items) + 1:
            items.append(start.group(2).strip())
        elif items and line.startswith("   ") and line.strip():
            items[-1] += " " + line.strip()
        elif items and not line.strip():
            break
    return items


def test_the_readme_states_the_ranking_module_doctrine_word_for_word() -> None:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("Priority (`emergency/dispatch/priority.py`)") :]
    documented = [item.replace("`", "") for item in numbered_items(section)]
    coded = numbered_items(priority.__doc__ or "")
    assert len(coded) == 5
    assert documented == coded


# --- urgency follows the clocks in the same row ------------------------------------------------

TARGETS = [Target(**default.__dict__) for default in DEFAULT_SLA_TARGETS]
START = datetime(2026, 9, 14, 1, 0, tzinfo=UTC)


def board_row(clocks: list[ClockStatus], breached: tuple[str, ...] = ()) -> BoardRow:
    """A board row with these clocks (and recorded breaches); the rest does not bear on urgency."""
    return BoardRow(
        outage_id=1,
        version=1,
        state="dispatched",
        device_id=1,
        device_code="TX-1",
        device_kind="transformer",
        lon=0.0,
        lat=0.0,
        district_id=None,
        district_en=None,
        district_zh=None,
        area_type=None,
        customers_out=1,
        important={},
        weighted_customers=1.0,
        hazard=False,
        nested=False,
        reports=1,
        first_report_at=START,
        etr_at=None,
        etr_source=None,
        clocks=clocks,
        urgent=most_urgent(c for c in clocks if not c.reference),
        breached=breached,
    )


def random_clocks(chance: random.Random) -> list[ClockStatus]:
    """One outage's clocks at a random moment: stamps after the first report (whole minutes now and
    then, to land exactly on a deadline), each only if it happened before now."""

    def minutes(low: float, high: float) -> timedelta:
        value = chance.uniform(low, high)
        return timedelta(minutes=round(value) if chance.random() < 0.3 else value)

    now = START + minutes(0, 90)
    dispatched = START + minutes(0, 40) if chance.random() < 0.7 else None
    on_site = dispatched + minutes(0, 50) if dispatched and chance.random() < 0.6 else None
    outage = SimpleNamespace(
        state="dispatched",
        first_report_at=START,
        dispatched_at=dispatched if dispatched and dispatched <= now else None,
        on_site_at=on_site if on_site and on_site <= now else None,
    )
    area = chance.choice(["urban", "rural", "remote", None])
    at_risk = timedelta(minutes=chance.choice([1, 3, 5, 10]))
    return outage_clocks(outage, TARGETS, now, at_risk, area)


def test_urgency_never_contradicts_the_clocks_of_its_row_over_random_clock_states() -> None:
    chance = random.Random(16_3)
    seen: set[str] = set()
    for _ in range(5000):
        clocks = random_clocks(chance)
        late = [c for c in clocks if not c.reference and c.state in (ClockState.BREACHED, ClockState.MISSED)]
        # A breach is recorded only once a clock breached; now and then the monitor has not yet run.
        recorded = tuple(c.code for c in late if chance.random() < 0.5)
        row = board_row(clocks, recorded)
        word = row.urgency
        seen.add(word)
        running = [c for c in clocks if c.running and not c.reference]
        assert word in URGENCY_WORDS
        # "on track" (or "at risk", or done) never stands beside a missed or breached clock.
        assert (word == "breached") == bool(late), (word, clocks)
        if word == "at_risk":
            assert any(c.state == ClockState.AT_RISK for c in running)
        if word == "on_track":
            assert running and all(c.state == ClockState.ON_TRACK for c in running)
        if word == "done":
            assert not running and all(c.state == ClockState.MET for c in clocks if not c.reference)
        shown = {row.clock("outage_dispatch"), row.clock("outage_on_site")} - {None}
        if any(c.breached for c in shown if c is not None):
            assert word == "breached"
    assert seen == set(URGENCY_WORDS), "the sweep reached every word"


def test_a_missed_dispatch_beside_an_on_site_clock_on_track_reads_breached() -> None:
    """The case seen on the board: dispatched 4 minutes late, the crew still has time to arrive."""
    late_dispatch = SimpleNamespace(
        state="dispatched",
        first_report_at=START,
        dispatched_at=START + timedelta(minutes=14),
        on_site_at=None,
    )
    clocks = outage_clocks(late_dispatch, TARGETS, START + timedelta(minutes=15), timedelta(minutes=3))
    row = board_row(clocks)
    assert row.clock("outage_dispatch").state == ClockState.MISSED  # type: ignore[union-attr]
    assert row.clock("outage_on_site").state == ClockState.ON_TRACK  # type: ignore[union-attr]
    assert row.urgency == "breached"


@pytest.mark.parametrize(
    ("elapsed", "word"),
    [(5, "on_track"), (8, "at_risk"), (10, "at_risk"), (10.02, "breached")],
)
def test_a_fresh_outage_takes_the_word_of_its_dispatch_clock(elapsed: float, word: str) -> None:
    fresh = SimpleNamespace(state="predicted", first_report_at=START, dispatched_at=None, on_site_at=None)
    now = START + timedelta(minutes=elapsed)
    assert board_row(outage_clocks(fresh, TARGETS, now, timedelta(minutes=3))).urgency == word
