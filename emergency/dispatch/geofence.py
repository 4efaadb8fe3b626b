"""Geofence arrival: a crew is on site when its track stays near the outage for a dwell time.

Pure: a track of fixes, the site and the rule in; the fix the crew arrived at (or None) out. No
database, no clock, so the rule is tested with any times at all.

The rule: fixes are read in time order. A fix counts when its reported accuracy is no worse than
the radius (a 500 m fix cannot say the crew is within 150 m). A counted fix within the radius starts
or continues a stay; a counted fix outside ends it. A stay also ends at a gap longer than
`max_gap_seconds` between counted fixes (the crew may have driven off and back unseen). A stay that
lasts `dwell_seconds` (from its first fix to a later one) is an arrival at its first fix: the crew
got there then, not when the dwell ran out.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from emergency.dispatch.routing import great_circle_km


@dataclass(frozen=True)
class Fix:
    """One position of a crew: when it was taken, where, and how sure the device was (metres)."""

    at: datetime
    lon: float
    lat: float
    accuracy_m: float | None = None


@dataclass(frozen=True)
class GeofenceRule:
    """`crew.arrival_radius_m`, `crew.arrival_dwell_seconds`, `crew.arrival_max_gap_seconds`."""

    radius_m: float
    dwell_seconds: float
    max_gap_seconds: float


def distance_m(lon1: float, lat1: float, lon2: float, lat2: float) -> float:
    return float(great_circle_km(lon1, lat1, lon2, lat2)) * 1000.0


def counts(fix: Fix, rule: GeofenceRule) -> bool:
    """A fix too vague to tell inside from outside the radius says nothing either way."""
    return fix.accuracy_m is None or fix.accuracy_m <= rule.radius_m


def arrival(track: Iterable[Fix], site: tuple[float, float], rule: GeofenceRule) -> Fix | None:
    """The first fix of the first stay within the radius that lasted the dwell time, if any."""
    start: Fix | None = None
    previous: Fix | None = None
    for fix in sorted(track, key=lambda f: f.at):
        if not counts(fix, rule):
            continue
        inside = distance_m(fix.lon, fix.lat, site[0], site[1]) <= rule.radius_m
        gap = (fix.at - previous.at).total_seconds() if previous is not None else 0.0
        previous = fix
        if not inside:
            start = None
            continue
        if start is None or gap > rule.max_gap_seconds:
            start = fix
        if (fix.at - start.at).total_seconds() >= rule.dwell_seconds:
            return start
    return None
