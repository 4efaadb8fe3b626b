"""A service outage (one customer's lone call) on the dispatcher's map: a small point with a dotted
violet ring, so it reads as one customer beside transformer and feeder outages. Run in Node like
the other layer tests (tests/unit/test_point_layer.py)."""

from __future__ import annotations

from dashboard import maps
from tests.unit.test_point_layer import need_node, outages, run_layer

__all__ = ["need_node"]  # the fixture skips (or, in CI, fails) without Node.js


def test_a_service_outage_is_a_small_point_with_a_dotted_violet_ring() -> None:
    columns = outages(
        {"customers": 1, "service": True},
        {"customers": 1, "service": False},
        {"customers": 1, "service": True, "important": 1},
        {"customers": 1, "service": True, "hazard": True},
    )
    styles = [d["style"] for d in run_layer(maps.outage_layer(columns, ["id"], ["Outage"]))]
    assert (styles[0]["radius"], styles[0]["color"], styles[0]["weight"], styles[0]["dashArray"]) == (
        maps.SERVICE_RADIUS,
        maps.SERVICE_OUTLINE,
        2,
        maps.SERVICE_DASH,
    )
    assert (styles[1]["color"], styles[1]["dashArray"]) == ("#ffffff", None), "a transformer of 1 customer"
    assert styles[1]["radius"] == maps.outage_radius(1) != maps.SERVICE_RADIUS
    assert (styles[2]["color"], styles[2]["weight"], styles[2]["dashArray"]) == (
        "#222222",
        3,
        maps.SERVICE_DASH,
    )
    assert (styles[3]["color"], styles[3]["dashArray"]) == (maps.HAZARD_OUTLINE, "4 3"), "a hazard wins"
