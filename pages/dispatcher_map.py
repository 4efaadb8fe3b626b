"""The dispatcher console: live map and SLA board, the selected outage, and the actions on it."""

from __future__ import annotations

from typing import Any

import streamlit as st

from dashboard import console, services
from dashboard.choices import choice_key
from dashboard.i18n import choose_placeholder, current_language, t
from dashboard.session import CONTROL_ROOM_ROLES, idle_too_long, require_role
from emergency.app.queries import dispatch as dispatch_queries
from emergency.core.config import load_settings
from emergency.dispatch.board import BoardRow

REFRESH_SECONDS = 10
ALERTED_KEY = "console-alerted"

actor = require_role(*CONTROL_ROOM_ROLES)
ctx = services.context(actor)
tz = ctx.tz
tiles = load_settings().tiles
language = current_language()
db_url = ctx.db.url

st.title(t("dispatch.title"))
toggle_network, toggle_transformers, refresh_note = st.columns([1, 1, 2])
show_network = toggle_network.toggle(t("dispatch.show_network"), value=False, key="dispatch-network")
show_transformers = toggle_transformers.toggle(
    t("dispatch.show_transformers"), value=False, key="dispatch-transformers", disabled=not show_network
)
refresh_note.caption(t("dispatch.refresh", n=REFRESH_SECONDS))


def choose(outage_id: int | None) -> None:
    """Select an outage (by its id, never by where it sits on a list that re-sorts)."""
    if outage_id is not None:
        st.session_state[console.SELECTED_KEY] = outage_id


@st.fragment(run_every=REFRESH_SECONDS)
def live_view() -> None:
    """Map, board and outage picker: one live view, all drawn from the same rows on every refresh."""
    # Timed refreshes are not clicks: an unattended console must not go on showing the board
    # past the idle limit, so the whole page reruns and the session ends there.
    if idle_too_long():
        st.rerun(scope="app")
    layers = services.staff_layers(actor, show_network, show_network and show_transformers)
    board = layers["board"]
    live_figures(layers)
    # The base map changes only with the language, so Leaflet keeps its view across refreshes;
    # outages, crews and the network arrive as layers added to it. A click selects in a callback.
    fmap = console.live_base_map(services.territory_base(db_url), language, tiles)
    if fmap is not None:
        console.draw_live_map(fmap, console.live_layers(layers, language, tz), board)
        stale = t("gps.legend.stale", minutes=f"{layers['crews'].get('stale_minutes', 10):g}")
        st.caption(t("dispatch.legend") + " " + stale)
    selected = st.session_state.get(console.SELECTED_KEY)
    choose(console.outage_picker(board, selected))
    board_and_filters(board, st.session_state.get(console.SELECTED_KEY))
    # The panel below the live view shows the outage as the page last drew it. A new choice, or
    # the chosen outage moving on (a colleague's action, a crew's report), redraws the whole page,
    # so the panel and its buttons always act on the outage the dispatcher sees chosen here.
    now_selected = st.session_state.get(console.SELECTED_KEY)
    if console.drawn_as(now_selected, board) != st.session_state.get(console.DRAWN_KEY):
        st.rerun(scope="app")


def live_figures(layers: dict[str, Any]) -> None:
    board = layers["board"]
    busy = sum(
        1
        for f in layers["crews"]["features"]
        if f["properties"]["status"] in ("dispatched", "en_route", "on_site")
    )
    available = sum(1 for f in layers["crews"]["features"] if f["properties"]["status"] == "available")
    m1, m2, m3, m4, m5 = st.columns(5)
    m1.metric(t("dispatch.outages"), len(board))
    m2.metric(t("dispatch.customers_out"), f"{sum(r.customers_out for r in board):,}")
    m3.metric(t("dispatch.important_out"), sum(r.important_total for r in board))
    m4.metric(t("dispatch.crews_available"), available)
    m5.metric(t("dispatch.crews_busy"), busy)

    breached = [
        r.outage_id for r in board if r.urgency == "breached" and r.urgent is not None and r.urgent.running
    ]
    at_risk = [r.outage_id for r in board if r.urgency == "at_risk"]
    # Red only for clocks past their limit, orange for those about to be; nothing when none is.
    if breached:
        st.error(t("alert.clocks_breached", n=len(breached), ids=", ".join(map(str, breached[:12]))))
    if at_risk:
        st.warning(t("alert.clocks_at_risk", n=len(at_risk), ids=", ".join(map(str, at_risk[:12]))))
    # A toast for each clock that turned at risk or breached since this dispatcher last looked.
    alerted = st.session_state.setdefault(ALERTED_KEY, set())
    for outage_id, state in [(i, "breached") for i in breached] + [(i, "at_risk") for i in at_risk]:
        if (outage_id, state) not in alerted:
            alerted.add((outage_id, state))
            st.toast(t(f"alert.{state}", id=outage_id), icon=":material/alarm:")


def board_and_filters(board: list[BoardRow], selected: int | None) -> None:
    st.subheader(t("board.title"))
    districts = sorted({(r.district_zh if language == "zh" else r.district_en) or "—" for r in board})
    states = sorted({r.state for r in board})
    f1, f2 = st.columns(2)
    chosen_districts = f1.multiselect(
        t("board.filter_district"),
        districts,
        placeholder=choose_placeholder(),
        key=choice_key("board-districts"),
    )
    chosen_states = f2.multiselect(
        t("board.filter_state"),
        states,
        format_func=lambda s: t(f"state.{s}"),
        placeholder=choose_placeholder(),
        key=choice_key("board-states"),
    )
    shown = [
        r
        for r in board
        if (
            not chosen_districts
            or ((r.district_zh if language == "zh" else r.district_en) or "—") in chosen_districts
        )
        and (not chosen_states or r.state in chosen_states)
    ]
    if not shown:
        st.info(t("dispatch.no_outages"))
        return
    choose(console.sla_board(shown, language, tz, selected))


# What the page draws below the live view is for the outage chosen now, as the board has it now.
board_rows = services.staff_layers(actor, show_network, show_network and show_transformers)["board"]
selected = st.session_state.get(console.SELECTED_KEY)
st.session_state[console.DRAWN_KEY] = console.drawn_as(selected, board_rows)

live_view()

console.show_outcome()
console.confirmation(actor)
if selected is not None:
    console.detail_panel(
        actor,
        dispatch_queries.outage_detail(ctx, selected),
        next((r for r in board_rows if r.outage_id == selected), None),
        language,
        tz,
    )
else:
    st.caption(t("detail.pick"))

with st.expander(t("plan.title")):
    console.storm_plan_panel(actor, tz)
