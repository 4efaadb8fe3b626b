"""The outage and crew map layers: one GeoJSON each, styled and labelled by a small JavaScript
function. The generated script runs here in Node against a stand-in for Leaflet, so the styles
and the escaping are checked on what the browser would run."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from typing import Any

import folium
import pytest

from dashboard import maps

NODE = shutil.which("node")
HOSTILE = '</script><img src=x onerror="alert(1)">{{ 7*7 }}'

# Leaflet as far as the layer uses it: each point's style and popup or tooltip are recorded.
LEAFLET_STAND_IN = """
var drawn = [];
var L = {
  circleMarker: function (latlng, style) {
    var marker = {latlng: latlng, style: style};
    marker.bindPopup = function (html) { marker.popup = html; };
    marker.bindTooltip = function (html) { marker.tooltip = html; };
    drawn.push(marker);
    return marker;
  },
  geoJson: function (data, options) {
    data.features.forEach(function (f) {
      var c = f.geometry.coordinates;
      options.onEachFeature(f, options.pointToLayer(f, [c[1], c[0]]));
    });
    return {addTo: function () { return this; }};
  }
};
"""


def outages(*rows: dict[str, Any]) -> maps.PointColumns:
    """Outage layer columns, one row per outage, with defaults for what a row leaves out."""
    defaults = {"urgency": "on_track", "customers": 0, "important": 0, "hazard": False, "device": "TX"}
    full = [{"lon": 121.0 + n / 100, "lat": 28.0, "id": n} | defaults | row for n, row in enumerate(rows, 1)]
    return {name: [row[name] for row in full] for name in full[0]}


def run_layer(group: folium.FeatureGroup) -> list[dict[str, Any]]:
    """The layer's script as the page sends it (rendered inside a map), run in Node."""
    fmap = folium.Map(tiles=None)
    group.add_to(fmap)
    layer = next(iter(group._children.values()))
    script = layer._template.module.script(layer, {})
    program = (
        LEAFLET_STAND_IN
        + f"var {group.get_name()} = {{}};\n"
        + script
        + "\nconsole.log(JSON.stringify(drawn));"
    )
    done = subprocess.run([NODE, "-e", program], capture_output=True, text=True, check=True, timeout=30)
    return json.loads(done.stdout)


@pytest.fixture(autouse=True)
def need_node() -> None:
    """Node.js comes with these machines; a developer without it skips, CI must not."""
    if NODE is None:
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail("needs Node.js to run the layer's JavaScript (CI must run it)")
        pytest.skip("needs Node.js to run the layer's JavaScript")


def test_outages_are_coloured_by_urgency_sized_by_customers_and_ringed() -> None:
    columns = outages(
        {"urgency": "breached", "customers": 400},
        {"urgency": "at_risk", "customers": 10_000, "important": 2},
        {"urgency": "done", "hazard": True, "important": 1},
        {"urgency": "something new"},
    )
    drawn = run_layer(maps.outage_layer(columns, ["id"], ["Outage"]))
    styles = [d["style"] for d in drawn]
    assert [s["fillColor"] for s in styles] == [
        maps.URGENCY_COLOURS["breached"],
        maps.URGENCY_COLOURS["at_risk"],
        maps.URGENCY_COLOURS["done"],
        maps.URGENCY_COLOURS["on_track"],
    ]
    for style, customers in zip(styles, columns["customers"], strict=True):
        assert style["radius"] == pytest.approx(maps.outage_radius(customers))
    assert (styles[0]["color"], styles[0]["weight"], styles[0]["dashArray"]) == ("#ffffff", 1, None)
    assert (styles[1]["color"], styles[1]["weight"]) == ("#222222", 3), "important users: dark ring"
    assert (styles[2]["color"], styles[2]["weight"], styles[2]["dashArray"]) == (
        maps.HAZARD_OUTLINE,
        3,
        "4 3",
    ), "a hazard wins over important users"
    assert drawn[0]["latlng"] == [28.0, 121.01]


def test_popups_and_tooltips_show_hostile_text_as_text() -> None:
    columns = outages({"device": HOSTILE, "customers": 3})
    layer = maps.outage_layer(columns, ["device", "customers"], ["Device <b>", "Customers"])
    popup = run_layer(layer)[0]["popup"]
    assert popup == (
        "<table><tr><th>Device &lt;b&gt;</th>"
        "<td>&lt;/script&gt;&lt;img src=x onerror=&quot;alert(1)&quot;&gt;{{ 7*7 }}</td></tr>"
        "<tr><th>Customers</th><td>3</td></tr></table>"
    )
    crews = {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "geometry": {"type": "Point", "coordinates": [121.0, 28.0]},
                "properties": {"name": HOSTILE, "status": "available"},
            }
        ],
    }
    crew = run_layer(maps.crew_layer(crews, ["name", "status"], ["", ""]))[0]
    assert "<img" not in crew["tooltip"] and "&lt;img" in crew["tooltip"]
    assert crew["style"]["fillColor"] == maps.CREW_COLOURS["available"]


def test_the_page_cannot_be_broken_out_of_by_the_data() -> None:
    fmap = folium.Map(tiles=None)
    maps.outage_layer(outages({"device": HOSTILE}), ["device"], ["Device"]).add_to(fmap)
    page = fmap.get_root().render()
    assert "</script><img" not in page and "<img" not in page
    assert "{{ 7*7 }}" in page, "data is never read as template source"


def test_columns_must_be_points_of_one_length() -> None:
    with pytest.raises(ValueError, match="lon and lat"):
        maps.PointLayer({"id": [1]}, maps.CREW_STYLE_JS, ["id"], ["Id"])
    with pytest.raises(ValueError, match="as long as each other"):
        maps.PointLayer({"lon": [1.0, 2.0], "lat": [1.0], "id": [1, 2]}, maps.CREW_STYLE_JS, ["id"], ["Id"])
