"""The public page's pieces, made from a public snapshot alone: map, banners, table and chart data.

Pure functions with no Streamlit and no database, so the page draws every viewer from the one
cached snapshot and the benchmark can time exactly what a viewer costs. Texts come from the
`translate` function the caller passes (the page passes `dashboard.i18n.t`).
"""

from __future__ import annotations

import html
from collections.abc import Callable
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import altair as alt
import folium
import pandas as pd
from branca.element import Element, Figure, MacroElement
from jinja2 import Template

from dashboard import charts, maps
from emergency.public.snapshot import PublicSnapshot, PublicWarning

Translate = Callable[..., str]

# Outage areas by what the customer is told: warm while waiting, green once power is back.
STATUS_COLOURS = {
    "reported": "#b2182b",
    "assessing": "#b2182b",
    "crew_assigned": "#d6604d",
    "crew_on_site": "#f4a582",
    "restored": "#1a9850",
}
# A dark edge keeps small areas visible on a district already shaded red.
AREA_EDGE = "#4a0010"
RESTORED_EDGE = "#0b5d2a"
# The outage areas feed (dashboard/public_api.py), on the page's own origin like /vendor/leaflet.
AREAS_URL = "/api/public/outages.geojson"
PROGRESS_CHART_PX = 440
# Text on the yellow and orange signals must be dark to be read (white on orange is 2.4:1); on red
# and blue white (tests/unit/test_status_colours.py holds each pair to WCAG AA, 4.5:1).
DARK_TEXT_LEVELS = frozenset({"yellow", "orange"})


def local(when: datetime | None, tz: ZoneInfo, fmt: str = "%Y-%m-%d %H:%M") -> str:
    return "—" if when is None else when.astimezone(tz).strftime(fmt)


class _RenderedScript(Element):
    """Script text already rendered: added to the page as it is.

    Branca turns each element's rendered script into a new Jinja template, which lexes every byte
    of embedded GeoJSON again (0.5 s for 5,000 outage areas); this element skips that step.
    """

    def __init__(self, text: str) -> None:
        super().__init__()
        self._text = text

    def render(self, **kwargs: Any) -> str:
        return self._text


class PublicLayers(MacroElement):
    """Districts shaded by the share of customers out, and the outage areas coloured by status.

    The areas are fetched from the public feed (encoded once per snapshot, cacheable); styles,
    words and local times are made in the browser from each feature's properties, and popups are
    built with `textContent`, so no value is ever parsed as HTML. `tojson` escapes `<`, `>` and
    `&`, so no value can close the script.
    """

    _template = Template(
        """
        {% macro script(this, kwargs) %}
        (function () {
            var texts = {{ this.texts|tojson }};
            var colours = {{ this.colours|tojson }};
            var parts = new Intl.DateTimeFormat("en-GB", {timeZone: {{ this.timezone|tojson }},
                year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit",
                hourCycle: "h23"});
            function local(iso, timeOnly) {
                if (!iso) { return "—"; }
                var p = {};
                parts.formatToParts(new Date(iso)).forEach(function (x) { p[x.type] = x.value; });
                var time = p.hour + ":" + p.minute;
                return timeOnly ? time : p.year + "-" + p.month + "-" + p.day + " " + time;
            }
            function fill(template, values) {
                return template.replace(/\\{(\\w+)\\}/g, function (_, key) { return values[key]; });
            }
            function etr(p) {
                // A passed ETR is never shown as if it held: the snapshot sends none, only the flag.
                if (p.status === "restored") { return fill(texts.restored_at, {at: local(p.restored_at)}); }
                if (p.etr && p.etr_confidence) {
                    return fill(texts.etr_detail, {etr: local(p.etr),
                        confidence: texts.confidence[p.etr_confidence] || p.etr_confidence,
                        set_at: local(p.etr_set_at, true)});
                }
                if (p.etr) { return local(p.etr); }
                return p.etr_expired ? texts.etr_reassessed : texts.etr_none;
            }
            function line(box, label, value) {
                var row = document.createElement("div");
                var name = document.createElement("b");
                name.textContent = label + ": ";
                row.appendChild(name);
                row.appendChild(document.createTextNode(value));
                box.appendChild(row);
            }
            L.geoJson({{ this.districts|tojson }}, {
                style: function (f) {
                    return {fillColor: f.properties.fill, fillOpacity: 1, color: "#8a8170", weight: 1.2};
                },
                onEachFeature: function (f, layer) {
                    var name = document.createElement("span");
                    name.textContent = f.properties.name;
                    layer.bindTooltip(name);
                }
            }).addTo({{ this._parent.get_name() }});
            var areas = L.geoJson(null, {
                style: function (f) {
                    var restored = f.properties.status === "restored";
                    return {fillColor: colours[f.properties.status] || colours.reported, fillOpacity: 0.75,
                            color: restored ? {{ this.restored_edge|tojson }} : {{ this.edge|tojson }},
                            weight: 1.5};
                },
                onEachFeature: function (f, layer) {
                    layer.bindPopup(function () {
                        var p = f.properties, box = document.createElement("div");
                        var restored = p.status === "restored";
                        line(box, texts.status, texts.statuses[p.status] || p.status);
                        line(box, texts.customers,
                             (restored ? p.customers_restored : p.customers_out).toLocaleString("en"));
                        line(box, texts.since, local(p.since));
                        line(box, texts.etr, etr(p));
                        return box;
                    });
                }
            }).addTo({{ this._parent.get_name() }});
            // The areas come from the shared feed, not the page: every viewer's browser revalidates
            // one cached, pre-encoded body (304 when unchanged) instead of each page carrying it.
            fetch({{ this.areas_url|tojson }}, {cache: "no-cache"})
                .then(function (answer) { return answer.ok ? answer.json() : null; })
                .then(function (data) { if (data) { areas.addData(data); } });
        })();
        {% endmacro %}
        """
    )

    def __init__(
        self, districts: dict[str, Any], areas_url: str, texts: dict[str, Any], timezone: str
    ) -> None:
        super().__init__()
        self._name = "PublicLayers"
        self.districts = districts
        self.areas_url = areas_url
        self.texts = texts
        self.timezone = timezone
        self.colours = STATUS_COLOURS
        self.edge = AREA_EDGE
        self.restored_edge = RESTORED_EDGE

    def render(self, **kwargs: Any) -> str:
        figure = self.get_root()
        assert isinstance(figure, Figure), "PublicLayers renders only inside a folium map"
        script = self._template.module.__dict__["script"]
        figure.script.add_child(_RenderedScript(script(self, kwargs)), name=self.get_name())
        return ""  # like MacroElement's: the script went into the figure, nothing goes inline


def map_texts(translate: Translate) -> dict[str, Any]:
    """The words the map's popups need, in the reader's language."""
    return {
        "status": translate("popup.status"),
        "customers": translate("popup.customers_out"),
        "since": translate("popup.since"),
        "etr": translate("popup.etr"),
        "statuses": {status: translate(f"status.{status}") for status in STATUS_COLOURS},
        "confidence": {level: translate(f"public.confidence.{level}") for level in ("low", "medium", "high")},
        # Templates filled in the browser: placeholders stay as they are.
        "etr_detail": translate(
            "popup.etr_detail", etr="{etr}", confidence="{confidence}", set_at="{set_at}"
        ),
        "restored_at": translate("popup.restored_at", at="{at}"),
        "etr_reassessed": translate("popup.etr_reassessed"),
        "etr_none": translate("popup.etr_none"),
    }


def district_shading(snapshot: PublicSnapshot, language: str) -> dict[str, Any]:
    """District shapes with their name in the reader's language and their fill colour."""
    label = "name_zh" if language == "zh" else "name_en"
    return {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "geometry": f["geometry"],
                "properties": {
                    "name": f["properties"][label],
                    "fill": maps.share_out_colour(f["properties"]["share_out"]),
                },
            }
            for f in snapshot.districts_geojson["features"]
        ],
    }


def public_map(
    snapshot: PublicSnapshot, language: str, translate: Translate, tz: ZoneInfo, tiles: str | None = None
) -> folium.Map | None:
    """Districts shaded by the share of customers out, with the generalised outage areas on top
    (read by the browser from `AREAS_URL`, the feed of the same shared snapshot)."""
    if snapshot.bounds is None:
        return None
    west, south, east, north = snapshot.bounds
    fmap = maps.base_map(
        ((south + north) / 2, (west + east) / 2), ((south, west), (north, east)), tiles=tiles
    )
    PublicLayers(district_shading(snapshot, language), AREAS_URL, map_texts(translate), tz.key).add_to(fmap)
    return fmap


def district_name(snapshot: PublicSnapshot, code: str, language: str) -> str:
    for district in snapshot.districts:
        if district.code == code:
            return district.name_zh if language == "zh" else district.name_en
    return code


def warning_banner(
    warning: PublicWarning, snapshot: PublicSnapshot, language: str, translate: Translate, tz: ZoneInfo
) -> str:
    """One warning as a banner in its signal colour; every text in it is escaped."""
    # A warning written only in English still has a title on the Chinese page.
    title = (warning.title_zh or warning.title_en) if language == "zh" else warning.title_en
    text = warning.text_zh if language == "zh" else warning.text_en
    separator = "、" if language == "zh" else ", "  # the Chinese list comma
    areas = separator.join(district_name(snapshot, code, language) for code in warning.districts)
    heading = translate(
        "public.warning_heading",
        level=translate(f"public.level.{warning.level}"),
        hazard=translate(f"public.hazard.{warning.hazard}"),
    )
    details = [translate("public.warning_until", at=local(warning.expires_at, tz))]
    if areas:
        details.insert(0, translate("public.warning_areas", names=areas))
    colour = "#222222" if warning.level in DARK_TEXT_LEVELS else "#ffffff"
    body = f"<div>{html.escape(text)}</div>" if text else ""
    headline = translate("public.warning_title", heading=heading, title=title)
    return (
        f'<div role="alert" style="background:{warning.colour};color:{colour};padding:0.6rem 0.9rem;'
        f'border-radius:0.5rem;margin-bottom:0.5rem">'
        f"<strong>{html.escape(headline)}</strong>{body}"
        f'<div style="font-size:0.9em">{html.escape(" · ".join(details))}</div></div>'
    )


def etr_range(
    earliest: datetime | None, latest: datetime | None, reassessed: int, translate: Translate, tz: ZoneInfo
) -> str:
    if earliest is not None and latest is not None:
        first, last = local(earliest, tz, "%m-%d %H:%M"), local(latest, tz, "%m-%d %H:%M")
        text = first if first == last else f"{first} – {last}"
        return text + (" · " + translate("public.reassessed_n", n=reassessed) if reassessed else "")
    if reassessed:
        return translate("popup.etr_reassessed")
    return "—"


def district_rows(
    snapshot: PublicSnapshot, language: str, translate: Translate, tz: ZoneInfo
) -> list[dict[str, Any]]:
    """The district table: one row per district, columns named in the reader's language.

    What a customer looks for comes first (without power, with power, when it comes back): on a
    phone the table scrolls sideways after the district's name, and these stay in view."""
    return [
        {
            translate("public.col.district"): d.name_zh if language == "zh" else d.name_en,
            translate("public.col.out"): d.customers_out,
            translate("public.col.share"): round(d.share_with_power * 100, 2),
            translate("public.col.etr"): etr_range(
                d.etr_earliest, d.etr_latest, d.etrs_reassessed, translate, tz
            )
            if d.outages
            else "",
            translate("public.col.outages"): d.outages,
            translate("public.col.restored"): d.customers_restored,
            translate("public.col.served"): d.customers_served,
            translate("public.col.type"): translate(f"area.{d.area_type}"),
        }
        for d in snapshot.districts
    ]


def progress_frame(snapshot: PublicSnapshot, language: str, tz: ZoneInfo) -> pd.DataFrame:
    """The share of customers with power (per cent) in each district (columns) at each sample
    time (index, local time): it rises as power comes back, which is what "restoration
    progress" says. Districts that had no outage in the window are left out (a flat line at
    100 % tells nothing).

    Times are text on a 24-hour clock (a chart's own date axis would write "03 PM"), with the date
    when the samples cross midnight so the text still sorts in time order."""
    names = {d.code: d.name_zh if language == "zh" else d.name_en for d in snapshot.districts}
    served = {d.code: d.customers_served for d in snapshot.districts}
    columns = {
        names.get(code, code): [share_with_power(out, served.get(code, 0)) for out in values]
        for code, values in snapshot.progress_out.items()
        if any(values)
    }
    moments = [moment.astimezone(tz) for moment in snapshot.progress_times]
    one_day = len({moment.date() for moment in moments}) <= 1
    index = pd.Index([moment.strftime("%H:%M" if one_day else "%m-%d %H:%M") for moment in moments])
    return pd.DataFrame(columns, index=index)


def share_with_power(out: int, served: int) -> float:
    """Per cent of a district's customers with power, 2 decimals (100 when it serves nobody)."""
    return 100.0 if served <= 0 else round(100 * (1 - min(out, served) / served), 2)


def progress_chart(progress: pd.DataFrame, translate: Translate) -> alt.Chart:
    """The progress lines with the reader's words on the axes and the legend below the plot, so
    long district names never push the plot narrow or get cut off at the right edge."""
    time = translate("public.progress.time")
    district = translate("public.progress.district")
    share = translate("public.progress.share")
    data = progress.rename_axis("at").reset_index()
    data = data.melt(id_vars="at", var_name="district", value_name="share")
    lowest = float(data["share"].min()) if len(data) else 0.0
    # From a little under the lowest share to 100 %: a 2 % dip must be seen, not drawn flat.
    floor = max(0.0, min(lowest - (100 - lowest) * 0.1, 99.0))
    return (
        alt.Chart(data)
        .mark_line(point=len(progress) < 30)
        .encode(
            x=alt.X("at:O", title=time, sort=None, axis=alt.Axis(labelAngle=0, labelOverlap=True)),
            y=alt.Y("share:Q", title=share, scale=alt.Scale(domain=[floor, 100])),
            color=charts.categories("district:N", district),
            tooltip=[
                alt.Tooltip("at:O", title=time),
                alt.Tooltip("district:N", title=district),
                alt.Tooltip("share:Q", title=share, format=".2f"),
            ],
        )
        # The height is the whole chart's, legend and axes included: the plot keeps about 300 px.
        .properties(height=PROGRESS_CHART_PX)
    )


def page_parts(
    snapshot: PublicSnapshot, language: str, translate: Translate, tz: ZoneInfo, tiles: str | None = None
) -> tuple[str, list[dict[str, Any]], pd.DataFrame, list[str]]:
    """Everything the page draws, rendered: the map's HTML, the table, the chart data, the banners.
    The benchmark times this; the page draws the same pieces through Streamlit."""
    fmap = public_map(snapshot, language, translate, tz, tiles)
    map_html = fmap.get_root().render() if fmap is not None else ""
    banners = [warning_banner(w, snapshot, language, translate, tz) for w in snapshot.warnings]
    return (
        map_html,
        district_rows(snapshot, language, translate, tz),
        progress_frame(snapshot, language, tz),
        banners,
    )
