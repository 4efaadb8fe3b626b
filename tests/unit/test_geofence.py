"""The geofence rule on tracks made with a fake clock: radius, dwell, poor accuracy, gaps."""

from __future__ import annotations

from datetime import UTC, datetime

from emergency.core.clock import FakeClock
from emergency.dispatch.geofence import Fix, GeofenceRule, arrival, distance_m

SITE = (121.10, 28.05)
RULE = GeofenceRule(radius_m=150, dwell_seconds=60, max_gap_seconds=120)
# One degree of latitude is about 111 km: these offsets put a fix this far north of the site.
M_PER_DEG = 111_195.0


def north(metres: float) -> tuple[float, float]:
    return SITE[0], SITE[1] + metres / M_PER_DEG


class Track:
    """Fixes taken on a fake clock that the test steps forward."""

    def __init__(self) -> None:
        self.clock = FakeClock(datetime(2026, 7, 1, 6, 0, tzinfo=UTC))
        self.fixes: list[Fix] = []

    def at(self, metres: float, *, accuracy: float | None = 10.0, then: float = 30.0) -> datetime:
        lon, lat = north(metres)
        when = self.clock.now()
        self.fixes.append(Fix(when, lon, lat, accuracy))
        self.clock.advance(seconds=then)
        return when


def test_offsets_are_metres() -> None:
    assert abs(distance_m(*SITE, *north(100)) - 100) < 0.5


def test_a_stay_inside_for_the_dwell_is_an_arrival_at_its_first_fix() -> None:
    track = Track()
    track.at(2000)
    track.at(800)
    first = track.at(120)
    track.at(40)
    track.at(10)
    found = arrival(track.fixes, SITE, RULE)
    assert found is not None and found.at == first
    assert abs(distance_m(found.lon, found.lat, *SITE) - 120) < 1


def test_a_stay_shorter_than_the_dwell_is_not_an_arrival() -> None:
    track = Track()
    track.at(100)
    track.at(50)  # 30 s inside so far
    assert arrival(track.fixes, SITE, RULE) is None


def test_driving_past_is_not_an_arrival() -> None:
    track = Track()
    for metres in (400, 140, 20, 400, 900):  # inside for 30 s of a 60 s dwell
        track.at(metres)
    assert arrival(track.fixes, SITE, RULE) is None


def test_a_fix_outside_ends_the_stay() -> None:
    track = Track()
    track.at(100)
    track.at(100)
    track.at(300)  # out again
    track.at(100)
    track.at(100)
    assert arrival(track.fixes, SITE, RULE) is None


def test_a_fix_with_poor_accuracy_counts_neither_way() -> None:
    track = Track()
    track.at(50, accuracy=400)  # too vague: not the start of the stay
    first = track.at(50)
    track.at(900, accuracy=1000)  # too vague to end it either
    track.at(50)
    found = arrival(track.fixes, SITE, RULE)
    assert found is not None and found.at == first


def test_only_vague_fixes_are_no_arrival() -> None:
    track = Track()
    for _ in range(5):
        track.at(10, accuracy=151)
    assert arrival(track.fixes, SITE, RULE) is None


def test_a_gap_longer_than_allowed_starts_the_stay_again() -> None:
    track = Track()
    track.at(50, then=300)  # then nothing for 5 minutes: the crew may have left and come back
    second = track.at(50)
    track.at(50)
    assert arrival(track.fixes, SITE, RULE) is None  # 300 s since the first fix, 30 s of this stay
    track.at(50)
    found = arrival(track.fixes, SITE, RULE)
    assert found is not None and found.at == second


def test_fixes_arriving_out_of_order_are_read_in_time_order() -> None:
    track = Track()
    first = track.at(100)
    track.at(90)
    track.at(80)
    found = arrival(list(reversed(track.fixes)), SITE, RULE)
    assert found is not None and found.at == first
