"""Public power status: totals, a map of generalised outage areas, and districts. No login.

Everything here comes from the public snapshot, which holds no personal data by construction.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import streamlit as st
from streamlit_folium import st_folium

from dashboard import maps, services
from dashboard.i18n import current_language, local_time, t
from emergency.config import load_settings

settings = load_settings()
language = current_language()
snapshot = services.public_snapshot()
name = snapshot.territory_name.get(language) or snapshot.territory_name.get("en") or ""

st.title(t("public.title"))
if name:
    st.caption(t("public.subtitle", name=name))

col_out, col_share, col_outages, col_crews = st.columns(4)
col_out.metric(t("public.customers_out"), f"{snapshot.customers_out:,}")
col_share.metric(t("public.share_with_power"), f"{snapshot.share_with_power:.2%}")
col_outages.metric(t("public.outages"), f"{snapshot.outages:,}")
col_crews.metric(t("public.crews_working"), f"{snapshot.crews_working:,}")
st.caption(
    t(
        "public.updated",
        at=local_time(snapshot.generated_at, settings.timezone),
        next=local_time(snapshot.next_update_at, settings.timezone, "%H:%M"),
    )
)
if snapshot.outages == 0:
    st.success(t("public.all_clear"))


def area_popups(areas: dict[str, Any]) -> dict[str, Any]:
    """Areas with their properties turned into the words and local times a reader expects."""

    def etr(props: dict[str, Any]) -> str:
        if props.get("etr"):
            return local_time(datetime.fromisoformat(props["etr"]), settings.timezone)
        return t("popup.etr_reassessed") if props.get("etr_expired") else t("popup.etr_none")

    features = [
        {
            **feature,
            "properties": {
                "status": t(f"status.{feature['properties']['status']}"),
                "customers_out": f"{feature['properties']['customers_out']:,}",
                "since": local_time(
                    datetime.fromisoformat(feature["properties"]["since"]), settings.timezone
                ),
                "etr": etr(feature["properties"]),
            },
        }
        for feature in areas["features"]
    ]
    return {"type": "FeatureCollection", "features": features}


base = services.territory_base(services.database().url)
extent = base["extent"]
if extent is not None:
    fmap = maps.base_map(
        extent.centre, ((extent.south, extent.west), (extent.north, extent.east)), tiles=settings.tiles
    )
    maps.share_out_layer(snapshot.districts_geojson, language).add_to(fmap)
    maps.outage_area_layer(
        area_popups(snapshot.areas),
        ["status", "customers_out", "since", "etr"],
        [t("popup.status"), t("popup.customers_out"), t("popup.since"), t("popup.etr")],
    ).add_to(fmap)
    st_folium(fmap, height=540, width="stretch", returned_objects=[], key="public-map")
    st.caption(t("public.map_caption", n=snapshot.min_customers_shown))

st.subheader(t("public.districts"))
label = "name_zh" if language == "zh" else "name_en"
st.dataframe(
    [
        {
            t("public.col.district"): getattr(d, label),
            t("public.col.type"): t(f"area.{d.area_type}"),
            t("public.col.served"): d.customers_served,
            t("public.col.out"): d.customers_out,
            t("public.col.share"): round(d.share_with_power * 100, 2),
            t("public.col.outages"): d.outages,
        }
        for d in snapshot.districts
    ],
    hide_index=True,
    width="stretch",
    column_config={
        t("public.col.share"): st.column_config.ProgressColumn(format="%.2f%%", min_value=0, max_value=100)
    },
)
