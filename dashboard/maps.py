"""Folium builders: pure functions from plain GeoJSON data to folium objects, offline by design.

Leaflet's JavaScript and CSS come from our own `/vendor/leaflet/` route, never a CDN, and the
basemap is our own vector layers (sea, land, districts); a tile layer is added only when the
utility configures one (OUTAGE_TILES). Layers that change carry GeoJSON with styling by property
(one layer per kind, not one marker per object), so thousands of objects stay light.
"""

from __future__ import annotations

import html
import json
from typing import Any

import folium
from branca.element import Element, Figure, MacroElement
from folium.template import Template

VENDOR_PREFIX = "/vendor/leaflet"
LEAFLET_JS = [("leaflet", f"{VENDOR_PREFIX}/leaflet.js")]
LEAFLET_CSS = [("leaflet_css", f"{VENDOR_PREFIX}/leaflet.css")]
SEA_COLOUR = "#cfe3ef"
# Points as columns: one list per property, `lon` and `lat` among them (see `PointLayer`).
PointColumns = dict[str, list[Any]]

# Outages are coloured by their most urgent SLA clock.
URGENCY_COLOURS = {
    "breached": "#d7191c",
    "at_risk": "#f28e2b",
    "on_track": "#f2c94c",
    "done": "#7b61c4",  # no clock running: the crew is on site
}
HAZARD_OUTLINE = "#d7191c"
# A service outage (one customer's lone call): a small point with a dotted violet ring, so a
# dispatcher tells one customer from a transformer at a glance; hazard and important rings win.
SERVICE_OUTLINE = "#6a3d9a"
SERVICE_RADIUS = 4
SERVICE_DASH = "2 2"
CREW_COLOURS = {"available": "#27ae60", "off_duty": "#9e9e9e"}
CREW_BUSY_COLOUR = "#1f5fbf"
# A crew whose position is older than `crew.position_stale_minutes` is drawn as stale: its status
# colour faded, with a dashed dark outline (the legend says so, gps.legend.stale): the crew was
# there, it may not be now.
STALE_OUTLINE = "#333333"
STALE_DASH = "2 2"
STALE_FILL_OPACITY = 0.35
AREA_TYPE_FILL = {"urban": "#f4efe6", "rural": "#eef3e2", "remote": "#e6ece0"}


def escaped(collection: dict[str, Any]) -> dict[str, Any]:
    """A copy whose string properties are HTML-escaped.

    Folium's GeoJSON tooltips and popups put property values into innerHTML as they are, so a
    name like `<img onerror=...>` from an imported file would run; escaping here makes every
    layer safe whatever its source.
    """
    return {
        **collection,
        "features": [
            {
                **feature,
                "properties": {
                    key: html.escape(value) if isinstance(value, str) else value
                    for key, value in feature.get("properties", {}).items()
                },
            }
            for feature in collection["features"]
        ],
    }


def base_map(
    centre: tuple[float, float],
    bounds: tuple[tuple[float, float], tuple[float, float]] | None = None,
    tiles: str | None = None,
    height: int = 560,
) -> folium.Map:
    """An empty map that loads nothing from the internet unless `tiles` is configured."""
    # Quarter zoom steps let fit_bounds fill the frame instead of falling back a whole level.
    fmap = folium.Map(
        location=list(centre), zoom_start=10, tiles=None, control_scale=True, height=height, zoom_snap=0.25
    )
    # Instance attributes shadow folium's CDN defaults; st_folium reads these same lists.
    fmap.default_js = list(LEAFLET_JS)
    fmap.default_css = list(LEAFLET_CSS)
    root = fmap.get_root()
    if not isinstance(root, Figure):
        raise TypeError("a folium Map always has a Figure at its root")
    root.header.add_child(
        Element(f"<style>.folium-map, .leaflet-container {{ background: {SEA_COLOUR}; }}</style>")
    )
    if tiles:
        folium.TileLayer(tiles=tiles, attr="configured basemap (OUTAGE_TILES)", name="basemap").add_to(fmap)
    if bounds:
        fmap.fit_bounds([list(bounds[0]), list(bounds[1])])
    return fmap


def district_layer(districts: dict[str, Any], language: str, name: str = "districts") -> folium.GeoJson:
    """District outlines filled by area type: the land of the vector basemap."""
    label = "name_zh" if language == "zh" else "name_en"
    return folium.GeoJson(
        escaped(districts),
        name=name,
        style_function=lambda f: {
            "fillColor": AREA_TYPE_FILL.get(f["properties"].get("area_type", ""), "#f0f0f0"),
            "fillOpacity": 1.0,
            "color": "#8a8170",
            "weight": 1.2,
        },
        tooltip=folium.GeoJsonTooltip(fields=[label], labels=False),
        control=False,
    )


def share_out_colour(share: float) -> str:
    if share <= 0:
        return "#f4efe6"
    if share < 0.01:
        return "#fde0c5"
    if share < 0.05:
        return "#facba6"
    if share < 0.2:
        return "#f59e72"
    return "#e4572e"


def outage_area_layer(
    areas: dict[str, Any], popup_fields: list[str], popup_labels: list[str]
) -> folium.GeoJson:
    return folium.GeoJson(
        escaped(areas),
        name="outage areas",
        style_function=lambda f: {
            "fillColor": "#b2182b",
            "fillOpacity": 0.45,
            "color": "#b2182b",
            "weight": 1,
        },
        popup=folium.GeoJsonPopup(fields=popup_fields, aliases=popup_labels) if areas["features"] else None,
    )


def network_layer(network: dict[str, Any]) -> folium.FeatureGroup:
    group = folium.FeatureGroup(name="network")
    features = escaped(network)["features"]
    lines = {"type": "FeatureCollection", "features": [f for f in features if _is_line(f)]}
    points = {"type": "FeatureCollection", "features": [f for f in features if not _is_line(f)]}
    folium.GeoJson(
        lines,
        style_function=lambda f: {
            "color": "#c0392b" if f["properties"].get("scada_state") == "open" else "#5d6d7e",
            "weight": {"breaker": 2.5, "recloser": 2.0, "fuse": 1.2}.get(f["properties"]["kind"], 0.7),
            "opacity": 0.8,
        },
        tooltip=folium.GeoJsonTooltip(fields=["code", "kind"], labels=False),
    ).add_to(group)
    folium.GeoJson(
        points,
        marker=folium.CircleMarker(radius=6, fill=True),
        style_function=lambda f: {"color": "#34495e", "fillColor": "#ffffff", "fillOpacity": 1, "weight": 3},
        tooltip=folium.GeoJsonTooltip(fields=["name"], labels=False),
    ).add_to(group)
    return group


def _is_line(feature: dict[str, Any]) -> bool:
    return feature["geometry"]["type"] == "LineString"


def outage_layer(
    outages: PointColumns, popup_fields: list[str], popup_labels: list[str]
) -> folium.FeatureGroup:
    """Outages sized by customers out and coloured by urgency; important users get a dark ring,
    a hazard (wires down) a red dashed one, a service outage (an optional `service` column) is a
    small point with a dotted violet ring. `outages` are columns (`PointLayer`) with at least
    `urgency`, `customers`, `important` and `hazard`."""
    group = folium.FeatureGroup(name="outages")
    PointLayer(outages, OUTAGE_STYLE_JS, popup_fields, popup_labels).add_to(group)
    return group


def outage_radius(customers: int) -> float:
    """Area grows with customers: radius ~ sqrt, bounded so one feeder does not cover a city."""
    return float(min(OUTAGE_RADIUS_MIN + customers**0.5 / OUTAGE_RADIUS_DIVISOR, OUTAGE_RADIUS_MAX))


def crew_layer(
    crews: dict[str, Any], popup_fields: list[str], popup_labels: list[str]
) -> folium.FeatureGroup:
    group = folium.FeatureGroup(name="crews")
    PointLayer(point_columns(crews), CREW_STYLE_JS, popup_fields, popup_labels, tooltip=True).add_to(group)
    return group


OUTAGE_RADIUS_MIN = 6
OUTAGE_RADIUS_DIVISOR = 2.5
OUTAGE_RADIUS_MAX = 30
# The browser styles each point from its properties: the same rules as `outage_radius` and the
# colour tables above, sent once instead of once per feature.
OUTAGE_STYLE_JS = f"""function (p) {{
    var ring = p.hazard ? {json.dumps(HAZARD_OUTLINE)} : (p.important ? "#222222" :
        (p.service ? {json.dumps(SERVICE_OUTLINE)} : "#ffffff"));
    return {{
        radius: p.service ? {SERVICE_RADIUS} : Math.min(
            {OUTAGE_RADIUS_MIN} + Math.sqrt(p.customers) / {OUTAGE_RADIUS_DIVISOR}, {OUTAGE_RADIUS_MAX}
        ),
        color: ring,
        weight: p.hazard || p.important ? 3 : (p.service ? 2 : 1),
        dashArray: p.hazard ? "4 3" : (p.service ? {json.dumps(SERVICE_DASH)} : null),
        fill: true,
        fillColor: {json.dumps(URGENCY_COLOURS)}[p.urgency] || {json.dumps(URGENCY_COLOURS["on_track"])},
        fillOpacity: 0.85
    }};
}}"""
CREW_STYLE_JS = f"""function (p) {{
    return {{
        radius: p.stale ? 6 : 5,
        color: p.stale ? {json.dumps(STALE_OUTLINE)} : "#ffffff",
        weight: 1.5,
        dashArray: p.stale ? {json.dumps(STALE_DASH)} : null,
        fill: true,
        fillColor: {json.dumps(CREW_COLOURS)}[p.status] || {json.dumps(CREW_BUSY_COLOUR)},
        fillOpacity: p.stale ? {STALE_FILL_OPACITY} : 1
    }};
}}"""


class PointLayer(MacroElement):
    """Thousands of points as one GeoJSON layer of circle markers, styled in the browser.

    Folium's `GeoJson` evaluates a Python style function per feature and serialises the data
    more than once; this layer sends the data once, as columns (one list per property, `lon`
    and `lat` among them: a third of the bytes of GeoJSON, which repeats every key for every
    feature), turns them back into GeoJSON features in the browser and styles each with a small
    JavaScript `style` function of its properties. The popup (or tooltip) is a table of `fields`
    under `labels`, every value HTML-escaped in the browser whatever its source, so an imported
    name like `<img onerror=...>` shows as text; the data itself is escaped for the script tag.
    """

    _template = Template(
        """
        {% macro script(this, kwargs) %}
        var {{ this.get_name() }} = L.geoJson((function (columns) {
            var names = Object.keys(columns).filter(function (k) { return k !== "lon" && k !== "lat"; });
            var features = columns.lon.map(function (lon, i) {
                var properties = {};
                names.forEach(function (name) { properties[name] = columns[name][i]; });
                return {
                    type: "Feature",
                    geometry: {type: "Point", coordinates: [lon, columns.lat[i]]},
                    properties: properties
                };
            });
            return {type: "FeatureCollection", features: features};
        })({{ this.data }}), {
            pointToLayer: function (feature, latlng) {
                return L.circleMarker(latlng, ({{ this.style }})(feature.properties));
            },
            onEachFeature: function (feature, layer) {
                var p = feature.properties, fields = {{ this.fields }}, labels = {{ this.labels }};
                var entities = {"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;"};
                var escape = function (value) {
                    var text = String(value === null || value === undefined ? "" : value);
                    return text.replace(/[&<>"']/g, function (c) { return entities[c]; });
                };
                var rows = fields.map(function (field, i) {
                    return "<tr><th>" + labels[i] + "</th><td>" + escape(p[field]) + "</td></tr>";
                });
                var table = "<table>" + rows.join("") + "</table>";
                layer.{{ "bindTooltip" if this.tooltip else "bindPopup" }}(table);
            }
        }).addTo({{ this._parent.get_name() }});
        {% endmacro %}
        """
    )

    def __init__(
        self,
        columns: PointColumns,
        style_js: str,
        fields: list[str],
        labels: list[str],
        *,
        tooltip: bool = False,
    ) -> None:
        super().__init__()
        self._name = "PointLayer"
        if "lon" not in columns or "lat" not in columns:
            raise ValueError("point columns need lon and lat")
        if len({len(values) for values in columns.values()}) > 1:
            raise ValueError("point columns must all be as long as each other")
        self.data = script_json(columns)
        self.style = style_js
        self.fields = script_json(fields)
        # Labels are ours, but escaped all the same: they go into the table as HTML.
        self.labels = script_json([html.escape(label) for label in labels])
        self.tooltip = tooltip

    def render(self, **kwargs: Any) -> str:
        """Add the layer's script to the page once, as text.

        `MacroElement.render` would wrap the rendered script in a new jinja Template, lexing
        megabytes of data as template source on every refresh (and reading any `{{` in it as
        template syntax).
        """
        figure = self.get_root()
        if not isinstance(figure, Figure):
            raise TypeError("a PointLayer must be added to a map inside a Figure before rendering")
        figure.script.add_child(_ScriptText(self._template.module.script(self, kwargs)), name=self.get_name())
        return ""  # the script went into the figure; nothing to put in place of the element


class _ScriptText(Element):
    """Already rendered JavaScript, added to a figure's script as it is."""

    _template = Template("{{ this.text }}")

    def __init__(self, text: str) -> None:
        super().__init__()
        self.text = text


def point_columns(collection: dict[str, Any]) -> PointColumns:
    """A GeoJSON collection of points as `PointLayer` columns."""
    features = collection["features"]
    names = list(dict.fromkeys(name for f in features for name in f["properties"]))
    return {
        "lon": [f["geometry"]["coordinates"][0] for f in features],
        "lat": [f["geometry"]["coordinates"][1] for f in features],
        **{name: [f["properties"].get(name) for f in features] for name in names},
    }


def script_json(value: Any) -> str:
    """Compact JSON that is safe inside a <script> element: no `<`, `>` or `&` can end it early."""
    return (
        json.dumps(value, separators=(",", ":"), ensure_ascii=False)
        .replace("<", "\\u003c")
        .replace(">", "\\u003e")
        .replace("&", "\\u0026")
    )
