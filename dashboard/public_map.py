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

import folium
import pandas as pd

from dashboard import maps
from emergency.publish import PublicSnapshot, PublicWarning

Translate = Callable[..., str]

# Outage areas by what the customer is told: warm while waiting, green once power is back.
STATUS_COLOURS = {
    "reported": "#b2182b",
    "assessing": "#b2182b",
    "crew_assigned": "#d6604d",
    "crew_on_site": "#f4a582",
    "restored": "#1a9850",
}
AREA_POPUP_FIELDS = ["status", "customers", "since", "etr"]
# Text on the yellow signal must be dark to be read; on the others white.
DARK_TEXT_LEVELS = frozenset({"yellow"})


def local(when: datetime | None, tz: ZoneInfo, fmt: str = "%Y-%m-%d %H:%M") -> str:
    return "—" if when is None else when.astimezone(tz).strftime(fmt)


def _parse(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None


def etr_text(properties: dict[str, Any], translate: Translate, tz: ZoneInfo) -> str:
    """The ETR as a customer should read it: a time with its confidence and when it was set, or
    'being reassessed' once it has passed (never an expired time as if it held)."""
    if properties.get("status") == "restored":
        return translate("popup.restored_at", at=local(_parse(properties.get("restored_at")), tz))
    if properties.get("etr"):
        etr = local(_parse(properties["etr"]), tz)
        confidence = properties.get("etr_confidence")
        if not confidence:
            return etr
        return translate(
            "popup.etr_detail",
            etr=etr,
            confidence=translate(f"public.confidence.{confidence}"),
            set_at=local(_parse(properties.get("etr_set_at")), tz, "%H:%M"),
        )
    return translate("popup.etr_reassessed") if properties.get("etr_expired") else translate("popup.etr_none")


def area_popups(snapshot: PublicSnapshot, translate: Translate, tz: ZoneInfo) -> dict[str, Any]:
    """The snapshot's areas with their properties turned into words and local times."""
    features = []
    for feature in snapshot.areas["features"]:
        props = feature["properties"]
        customers = props["customers_restored"] if props["status"] == "restored" else props["customers_out"]
        features.append(
            {
                "type": "Feature",
                "geometry": feature["geometry"],
                "properties": {
                    "kind": props["status"],
                    "status": translate(f"status.{props['status']}"),
                    "customers": f"{customers:,}",
                    "since": local(_parse(props["since"]), tz),
                    "etr": etr_text(props, translate, tz),
                },
            }
        )
    return {"type": "FeatureCollection", "features": features}


def area_layer(areas: dict[str, Any], translate: Translate) -> folium.GeoJson:
    """Outage areas coloured by status; popups escape every value (maps.escaped)."""
    labels = [
        translate("popup.status"),
        translate("popup.customers_out"),
        translate("popup.since"),
        translate("popup.etr"),
    ]
    return folium.GeoJson(
        maps.escaped(areas),
        name="outage areas",
        style_function=lambda f: {
            "fillColor": STATUS_COLOURS.get(f["properties"]["kind"], STATUS_COLOURS["reported"]),
            "fillOpacity": 0.55,
            "color": STATUS_COLOURS.get(f["properties"]["kind"], STATUS_COLOURS["reported"]),
            "weight": 1,
        },
        popup=folium.GeoJsonPopup(fields=AREA_POPUP_FIELDS, aliases=labels) if areas["features"] else None,
    )


def public_map(
    snapshot: PublicSnapshot, language: str, translate: Translate, tz: ZoneInfo, tiles: str | None = None
) -> folium.Map | None:
    """Districts shaded by the share of customers out, with the generalised outage areas on top."""
    if snapshot.bounds is None:
        return None
    west, south, east, north = snapshot.bounds
    fmap = maps.base_map(
        ((south + north) / 2, (west + east) / 2), ((south, west), (north, east)), tiles=tiles
    )
    maps.share_out_layer(snapshot.districts_geojson, language).add_to(fmap)
    area_layer(area_popups(snapshot, translate, tz), translate).add_to(fmap)
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
    title = warning.title_zh if language == "zh" else warning.title_en
    text = warning.text_zh if language == "zh" else warning.text_en
    areas = ", ".join(district_name(snapshot, code, language) for code in warning.districts)
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
    return (
        f'<div role="alert" style="background:{warning.colour};color:{colour};padding:0.6rem 0.9rem;'
        f'border-radius:0.5rem;margin-bottom:0.5rem">'
        f"<strong>{html.escape(heading)}: {html.escape(title)}</strong>{body}"
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
    """The district table: one row per district, columns named in the reader's language."""
    return [
        {
            translate("public.col.district"): d.name_zh if language == "zh" else d.name_en,
            translate("public.col.type"): translate(f"area.{d.area_type}"),
            translate("public.col.served"): d.customers_served,
            translate("public.col.out"): d.customers_out,
            translate("public.col.share"): round(d.share_with_power * 100, 2),
            translate("public.col.outages"): d.outages,
            translate("public.col.restored"): d.customers_restored,
            translate("public.col.etr"): etr_range(
                d.etr_earliest, d.etr_latest, d.etrs_reassessed, translate, tz
            )
            if d.outages
            else "",
        }
        for d in snapshot.districts
    ]


def progress_frame(snapshot: PublicSnapshot, language: str, tz: ZoneInfo) -> pd.DataFrame:
    """Customers without power per district (columns) at each sample time (index, local time);
    districts that had no outage in the window are left out so the chart stays readable."""
    names = {d.code: d.name_zh if language == "zh" else d.name_en for d in snapshot.districts}
    columns = {names.get(code, code): values for code, values in snapshot.progress_out.items() if any(values)}
    index = pd.DatetimeIndex(
        [moment.astimezone(tz).replace(tzinfo=None) for moment in snapshot.progress_times]
    )
    return pd.DataFrame(columns, index=index)


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
