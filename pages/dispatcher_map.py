"""Dispatcher map: active outages and crews over districts and the network, refreshed live."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import streamlit as st
from streamlit_folium import st_folium

from dashboard import maps, services
from dashboard.i18n import current_language, local_time, t
from dashboard.session import CONTROL_ROOM_ROLES, require_role
from emergency.config import load_settings

REFRESH_SECONDS = 10

require_role(*CONTROL_ROOM_ROLES)
settings = load_settings()
language = current_language()
db_url = services.database().url

st.title(t("dispatch.title"))
toggle_network, toggle_transformers, refresh_note = st.columns([1, 1, 2])
show_network = toggle_network.toggle(t("dispatch.show_network"), value=False, key="dispatch-network")
show_transformers = toggle_transformers.toggle(
    t("dispatch.show_transformers"), value=False, key="dispatch-transformers", disabled=not show_network
)
refresh_note.caption(t("dispatch.refresh", n=REFRESH_SECONDS))


def outage_display(outages: dict[str, Any]) -> dict[str, Any]:
    """Popup-ready outages: translated state and kind, local times."""
    features = []
    for feature in outages["features"]:
        props = feature["properties"]
        features.append(
            {
                **feature,
                "properties": {
                    **props,
                    "state_label": t(f"state.{props['state']}"),
                    "kind_label": t(f"kind.{props['device_kind']}"),
                    "first_report_local": local_time(
                        datetime.fromisoformat(props["first_report_at"]), settings.timezone
                    ),
                },
            }
        )
    return {"type": "FeatureCollection", "features": features}


def crew_display(crews: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "FeatureCollection",
        "features": [
            {**f, "properties": {**f["properties"], "status_label": t(f"crew.{f['properties']['status']}")}}
            for f in crews["features"]
        ],
    }


@st.fragment(run_every=REFRESH_SECONDS)
def live_view() -> None:
    layers = services.staff_layers(db_url, show_network, show_network and show_transformers)
    status = layers["status"]
    important_out = sum(sum(o.important_affected.values()) for o in status.active_outages)
    busy = sum(n for s, n in status.crews_by_status.items() if s in ("dispatched", "en_route", "on_site"))
    m1, m2, m3, m4, m5 = st.columns(5)
    m1.metric(t("dispatch.outages"), len(status.active_outages))
    m2.metric(t("dispatch.customers_out"), f"{status.customers_out:,}")
    m3.metric(t("dispatch.important_out"), important_out)
    m4.metric(t("dispatch.crews_available"), status.crews_by_status.get("available", 0))
    m5.metric(t("dispatch.crews_busy"), busy)

    base = services.territory_base(db_url)
    extent = base["extent"]
    if extent is not None:
        # The base map only changes with the language, so Leaflet keeps its view across refreshes;
        # outages, crews and the network arrive as layers added to it.
        fmap = maps.base_map(
            extent.centre,
            ((extent.south, extent.west), (extent.north, extent.east)),
            tiles=settings.tiles,
            height=600,
        )
        maps.district_layer(base["districts"], language).add_to(fmap)
        groups = []
        if layers["network"] is not None:
            groups.append(maps.network_layer(layers["network"]))
        groups.append(
            maps.crew_layer(
                crew_display(layers["crews"]),
                ["name", "code", "kind", "status_label"],
                ["", "", "", ""],
            )
        )
        groups.append(
            maps.outage_layer(
                outage_display(layers["outages"]),
                [
                    "id",
                    "state_label",
                    "device_code",
                    "kind_label",
                    "customers",
                    "important",
                    "reports",
                    "first_report_local",
                ],
                [
                    t("dispatch.col.id"),
                    t("dispatch.col.state"),
                    t("dispatch.col.device"),
                    t("dispatch.col.kind"),
                    t("dispatch.col.customers"),
                    t("dispatch.col.important"),
                    t("dispatch.col.reports"),
                    t("dispatch.col.first_report"),
                ],
            )
        )
        st_folium(
            fmap,
            feature_group_to_add=groups,
            height=600,
            width="stretch",
            returned_objects=[],
            key="dispatch-map",
        )
        st.caption(t("dispatch.legend"))

    st.subheader(t("dispatch.outages"))
    if not status.active_outages:
        st.info(t("dispatch.no_outages"))
        return
    st.dataframe(
        [
            {
                t("dispatch.col.id"): o.id,
                t("dispatch.col.state"): t(f"state.{o.state}"),
                t("dispatch.col.device"): o.device_code,
                t("dispatch.col.kind"): t(f"kind.{o.device_kind}"),
                t("dispatch.col.customers"): o.customers_affected,
                t("dispatch.col.important"): sum(o.important_affected.values()),
                t("dispatch.col.reports"): o.report_count,
                t("dispatch.col.first_report"): local_time(o.first_report_at, settings.timezone),
            }
            for o in status.active_outages
        ],
        hide_index=True,
        width="stretch",
    )


live_view()
