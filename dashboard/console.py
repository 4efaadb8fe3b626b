"""Widgets of the dispatcher console: the SLA board, an outage's detail, and actions that ask first.

An action is two steps: the button stores what is about to happen in session state, the page
shows the question, and only "Yes" calls the service. The outcome (or the reason it was refused,
such as another dispatcher having taken the crew first) stays on screen until the next action.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from functools import partial
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

import folium
import streamlit as st
from streamlit_folium import st_folium

from dashboard import crew_console, crew_gps, maps, meter_panel, services, switching_panel
from dashboard.assessment_view import render_assessments
from dashboard.choices import choice_key
from dashboard.i18n import current_language, local_time, t
from dashboard.markdown_text import plain
from dashboard.outage_names import outage_name
from dashboard.selection import id_at, table_key
from emergency.app.bus import execute
from emergency.app.commands.dispatch import (
    ApplyStormPlan,
    CancelOutage,
    ConfirmOutage,
    DispatchCrew,
    MarkEnRoute,
    MarkOnSite,
    RestoreOutage,
    SetEtr,
)
from emergency.app.commands.locate import RecordFaultDevice
from emergency.app.queries import dispatch as dispatch_queries
from emergency.core.actor import Actor
from emergency.core.clock import SYSTEM_CLOCK
from emergency.core.errors import Conflict, EmergencyError
from emergency.core.models import ACTIVE_OUTAGE_STATES, OutageState
from emergency.dispatch.board import BoardRow
from emergency.dispatch.outage_detail import OutageDetail
from emergency.dispatch.plan import CrewOption
from emergency.dispatch.positions import ReasonNeeded
from emergency.dispatch.sla import ClockState, ClockStatus

if TYPE_CHECKING:
    from streamlit.elements.arrow import DataframeStateInput

SELECTED_KEY = "console-selected-outage"
# The chosen outage as the page last drew its panel: (id, version, state) from the board.
DRAWN_KEY = "console-drawn-outage"
MAP_KEY = "dispatch-map"
PENDING_KEY = "console-pending-action"
OUTCOME_KEY = "console-outcome"
MAP_HEIGHT = 560
ZERO = timedelta(0)
URGENCY_WORDS = ("breached", "at_risk", "on_track", "done")


def clock_text(clock: ClockStatus | None) -> str:
    """A countdown a dispatcher reads at a glance: '7 min left', '3 min over', 'met'."""
    return ClockTexts().text(clock)


class ClockTexts:
    """`clock_text` for thousands of clocks: the words looked up once, not once per clock."""

    def __init__(self) -> None:
        self.left = t("clock.left")
        self.over = t("clock.over")
        self.stopped = {state: t(f"clock.{state}") for state in ClockState}

    def text(self, clock: ClockStatus | None) -> str:
        if clock is None:
            return "—"
        if clock.stopped_at is not None:
            return self.stopped[clock.state]
        seconds = int(abs(clock.remaining.total_seconds()))
        template = self.over if clock.remaining < ZERO else self.left
        return template.format(time=f"{seconds // 60}:{seconds % 60:02d}")


class LocalMinutes:
    """`local_time` to the minute for many times, each distinct minute converted once."""

    def __init__(self, tz: ZoneInfo, fmt: str) -> None:
        self.tz = tz
        self.fmt = fmt
        self.seen: dict[int, str] = {}

    def text(self, when: datetime | None) -> str:
        if when is None:
            return "—"
        minute = int(when.timestamp()) // 60
        shown = self.seen.get(minute)
        if shown is None:
            shown = self.seen[minute] = local_time(when, self.tz, self.fmt)
        return shown


def confidence_text(confidence: float | None) -> str:
    """A prediction's confidence as a whole percentage; a dash where no analysis weighed it."""
    return "—" if confidence is None else f"{confidence:.0%}"


def board_frame(rows: list[BoardRow], language: str, tz: ZoneInfo) -> list[dict[str, Any]]:
    clocks = ClockTexts()
    first_reports = LocalMinutes(tz, "%H:%M")
    etrs = LocalMinutes(tz, "%m-%d %H:%M")
    urgency = {u: t(f"urgency.{u}") for u in URGENCY_WORDS}
    states = {state.value: t(f"state.{state.value}") for state in OutageState}
    columns = [
        t(key)
        for key in (
            "board.rank",
            "dispatch.col.id",
            "board.urgency",
            "board.dispatch_clock",
            "board.on_site_clock",
            "dispatch.col.state",
            "dispatch.col.device",
            "locate.confidence",
            "board.district",
            "dispatch.col.customers",
            "dispatch.col.important",
            "board.hazard",
            # Wide, so after the short columns a dispatcher scans; read whole in the selected
            # outage's panel too.
            "board.reason",
            "board.crew",
            "dispatch.col.first_report",
            "dispatch.col.etr",
        )
    ]
    return [
        dict(
            zip(
                columns,
                (
                    r.priority.rank if r.priority else None,
                    r.outage_id,
                    urgency.get(r.urgency) or t(f"urgency.{r.urgency}"),
                    clocks.text(r.clock("outage_dispatch")),
                    clocks.text(r.clock("outage_on_site")),
                    states.get(r.state) or t(f"state.{r.state}"),
                    outage_name(r.device_code, r.service_account),
                    confidence_text(r.confidence),
                    (r.district_zh if language == "zh" else r.district_en) or "—",
                    r.customers_out,
                    r.important_total,
                    "⚠" if r.hazard else "",
                    r.priority.reason(language) if r.priority else "",
                    ", ".join(r.crews) or "—",
                    first_reports.text(r.first_report_at),
                    etrs.text(r.etr_at),
                ),
                strict=True,
            )
        )
        for r in rows
    ]


# The outage layer's popup: these properties, under these column titles. Property names carry
# no underscore: streamlit-folium scans the layer's script for `_name` variables to rename.
OUTAGE_POPUP = {
    "id": "dispatch.col.id",
    "clock": "board.clock",
    "state": "dispatch.col.state",
    "device": "dispatch.col.device",
    "customers": "dispatch.col.customers",
    "important": "dispatch.col.important",
    "reports": "dispatch.col.reports",
    "reported": "dispatch.col.first_report",
}
CREW_TOOLTIP = ["name", "code", "status", "position"]  # position: its age (crew_gps)


def outage_columns(rows: list[BoardRow], language: str, tz: ZoneInfo) -> maps.PointColumns:
    """The outage layer's data, one list per property (`maps.PointLayer`)."""
    clocks = ClockTexts()
    first_reports = LocalMinutes(tz, "%H:%M")
    states = {state.value: t(f"state.{state.value}") for state in OutageState}
    return {
        # About a metre of precision is plenty on a control-room map, and keeps it light.
        "lon": [round(r.lon, 5) for r in rows],
        "lat": [round(r.lat, 5) for r in rows],
        "id": [r.outage_id for r in rows],
        "urgency": [r.urgency for r in rows],
        "state": [states.get(r.state) or t(f"state.{r.state}") for r in rows],
        "device": [outage_name(r.device_code, r.service_account) for r in rows],
        "service": [r.is_service for r in rows],
        "customers": [r.customers_out for r in rows],
        "important": [r.important_total for r in rows],
        "hazard": [r.hazard for r in rows],
        "reports": [r.reports for r in rows],
        "clock": [clocks.text(r.urgent) for r in rows],
        "reported": [first_reports.text(r.first_report_at) for r in rows],
    }


def live_base_map(base: dict[str, Any], language: str, tiles: str | None) -> folium.Map | None:
    """The map that stays put across refreshes: the territory's extent and districts (and the
    configured tiles); it changes only with the language, so Leaflet keeps its view."""
    extent = base["extent"]
    if extent is None:
        return None
    fmap = maps.base_map(
        extent.centre,
        ((extent.south, extent.west), (extent.north, extent.east)),
        tiles=tiles,
        height=MAP_HEIGHT,
    )
    maps.district_layer(base["districts"], language).add_to(fmap)
    return fmap


def live_layers(layers: dict[str, Any], language: str, tz: ZoneInfo) -> list[folium.FeatureGroup]:
    """What changes on every refresh: network (when shown), crews and outages, as layers added to
    the base map (`feature_group_to_add`) rather than a new map."""
    groups = []
    if layers["network"] is not None:
        groups.append(maps.network_layer(layers["network"]))
    crews = crew_gps.with_position_age(layers["crews"])
    groups.append(maps.crew_layer(crews, CREW_TOOLTIP, [""] * len(CREW_TOOLTIP)))
    groups.append(
        maps.outage_layer(
            outage_columns(layers["board"], language, tz),
            list(OUTAGE_POPUP),
            [t(label) for label in OUTAGE_POPUP.values()],
        )
    )
    return groups


def draw_live_map(fmap: folium.Map, groups: list[folium.FeatureGroup], drawn: Sequence[BoardRow]) -> None:
    """The live map on the page, its outage layer drawn from `drawn`; a click selects in a callback.

    The map's value keeps the last point clicked across reruns, so reading it on every run would
    re-select "the outage nearest that point" from whatever the board holds by then (another
    outage, once the clicked one is restored). The click count makes every click a change, and
    only a change, read against the outages as drawn, selects.
    """
    st_folium(
        fmap,
        feature_group_to_add=groups,
        height=MAP_HEIGHT,
        width="stretch",
        returned_objects=["last_object_clicked", "last_object_clicked_count"],
        key=MAP_KEY,
        on_change=partial(choose_on_map, tuple(drawn)),
    )


def choose_on_map(drawn: Sequence[BoardRow]) -> None:
    """The map's click callback: select the outage drawn nearest the point clicked."""
    value = st.session_state.get(MAP_KEY) or {}
    point = value.get("last_object_clicked")
    if point:
        chosen = nearest_outage(drawn, point["lat"], point["lng"])
        if chosen is not None:
            st.session_state[SELECTED_KEY] = chosen


def nearest_outage(rows: Sequence[BoardRow], lat: float, lon: float) -> int | None:
    if not rows:
        return None
    best = min(rows, key=lambda r: (r.lat - lat) ** 2 + (r.lon - lon) ** 2)
    return best.outage_id


# --- choosing an outage, by its id ----------------------------------------------------------------


def board_key(ids: Sequence[int], selected: int | None) -> str:
    """The SLA board widget's key: one per order of the outages shown and per chosen outage.

    Under a key of its own (`dashboard.selection`), a row position is only ever read against the
    order it was made in: when the board re-sorts (a clock turns, an outage arrives, a colleague
    acts) or the choice moves (map, picker), the table is a new widget, highlighted at the chosen
    outage's new row, so an old position never names another outage.
    """
    return table_key("board-table", ids, selected)


def board_choice(ids: Sequence[int], positions: Sequence[int], selected: int | None) -> int | None:
    """The outage a board selection newly chooses, its position read against `ids` as drawn."""
    chosen = id_at(ids, positions)
    return None if chosen == selected else chosen


def sla_board(shown: list[BoardRow], language: str, tz: ZoneInfo, selected: int | None) -> int | None:
    """The SLA board with the chosen outage's row selected; returns an outage newly chosen on it."""
    ids = [r.outage_id for r in shown]
    default: DataframeStateInput | None = (
        {"selection": {"rows": [ids.index(selected)]}} if selected in ids else None
    )
    event = st.dataframe(
        board_frame(shown, language, tz),
        hide_index=True,
        width="stretch",
        # The reason is what a dispatcher reads to trust the order: wide enough to read whole.
        column_config={t("board.reason"): st.column_config.TextColumn(width=520)},
        on_select="rerun",
        selection_mode="single-row",
        selection_default=default,
        key=board_key(ids, selected),
    )
    return board_choice(ids, event.selection.rows, selected)


def outage_picker(board: list[BoardRow], selected: int | None) -> int | None:
    """The board's outages to choose from the keyboard, from the same rows as the board and map;
    returns an outage newly chosen. A choice is a value (an outage id; Streamlit keeps it as its
    label), never a position. Keyed by the chosen outage only: a new outage or another outage's
    state changing must not rebuild the widget under a dispatcher typing in it, while a choice
    made elsewhere (board, map) gives a fresh widget showing it."""
    ids = [r.outage_id for r in board]
    states = {state.value: t(f"state.{state.value}") for state in OutageState}
    labels = {
        r.outage_id: f"{r.outage_id} · {outage_name(r.device_code, r.service_account)} · "
        f"{states.get(r.state, r.state)}"
        for r in board
    }
    picked = st.selectbox(
        t("detail.choose"),
        ids,
        index=ids.index(selected) if selected in ids else None,
        format_func=lambda i: labels.get(i, str(i)),
        placeholder=t("detail.pick"),
        key=choice_key(f"outage-picker-{selected}"),
    )
    return None if picked is None or picked == selected else picked


def drawn_as(selected: int | None, board: Sequence[BoardRow]) -> tuple[int | None, int | None, str | None]:
    """The chosen outage as the board has it: id, version and state (None when not on the board)."""
    row = next((r for r in board if r.outage_id == selected), None) if selected is not None else None
    return (selected, row.version if row else None, row.state if row else None)


# --- asking before acting -----------------------------------------------------------------------


@dataclass(frozen=True)
class Pending:
    """An action waiting for "Yes": the command it will execute, the question asked, and the outage
    and crew the outcome names (commands carry ids, people read ids with device and crew codes).
    `device` is already escaped for Markdown."""

    command: object
    question: str
    outage_id: int | None = None
    device: str = ""
    crew_code: str = ""
    outcome: Callable[[Any], str] | None = None  # its own outcome words (the switching section's)
    needs_reason: bool = False  # a manual "on site" GPS contradicts (crew_gps.ask_for_reason)


def ask(pending: Pending) -> None:
    st.session_state[PENDING_KEY] = pending
    st.session_state.pop(OUTCOME_KEY, None)


def show_outcome() -> None:
    outcome = st.session_state.get(OUTCOME_KEY)
    if outcome:
        kind, message = outcome
        (st.success if kind == "ok" else st.error)(message)


def stale_text(pending: Pending) -> str:
    """Why a confirmed action was refused as stale, naming its outage where the command has one."""
    outage_id = getattr(pending.command, "outage_id", None)
    return t("action.stale", id=outage_id) if outage_id is not None else t("action.stale_any")


def confirmation(actor: Actor) -> None:
    """The pending question, if any, with Yes / No."""
    pending = st.session_state.get(PENDING_KEY)
    if not pending:
        return
    with st.container(border=True):
        st.warning(pending.question)
        reason = crew_gps.reason_input() if pending.needs_reason else None
        yes, no = st.columns(2)
        if yes.button(t("action.yes"), type="primary", key="confirm-yes"):
            if pending.needs_reason:
                if not reason:
                    st.error(t("gps.reason.missing"))
                    return
                pending = replace(pending, command=crew_gps.with_reason(pending.command, reason))
            st.session_state.pop(PENDING_KEY, None)
            try:
                message = perform(actor, pending)
            except ReasonNeeded as needed:
                ask(replace(pending, question=crew_gps.reason_question(needed, pending), needs_reason=True))
                st.rerun()
            except Conflict:
                # A stale screen is the common refusal: said in the reader's language, naming the outage.
                st.session_state[OUTCOME_KEY] = ("error", stale_text(pending))
            except EmergencyError as error:
                st.session_state[OUTCOME_KEY] = ("error", t("action.refused", reason=plain(str(error))))
            else:
                st.session_state[OUTCOME_KEY] = ("ok", message)
            st.cache_data.clear()
            services.forget_staff_layers()
            st.rerun()
        if no.button(t("action.no"), key="confirm-no"):
            st.session_state.pop(PENDING_KEY, None)
            st.rerun()


def perform(actor: Actor, pending: Pending) -> str:
    """Execute a confirmed action's command as `actor`; returns what happened, in words."""
    ctx = services.context(actor)
    return outcome_text(pending, execute(ctx, pending.command), ctx.tz)


def outcome_text(pending: Pending, result: Any, tz: ZoneInfo) -> str:
    """What a command's result means to the dispatcher who asked for it, naming the outage."""
    command = pending.command
    if pending.outcome is not None:
        return pending.outcome(result)
    named = {"id": pending.outage_id, "device": pending.device}
    if isinstance(command, ConfirmOutage):
        return t("done.confirm", **named)
    if isinstance(command, DispatchCrew):
        return t("done.dispatch", crew=pending.crew_code, eta=local_time(result.eta_at, tz), **named)
    if isinstance(command, MarkEnRoute):
        return t("done.en_route", crew=pending.crew_code, **named)
    if isinstance(command, MarkOnSite):
        return t("done.on_site", crew=pending.crew_code, **named)
    if isinstance(command, SetEtr):
        return t("done.etr", etr=local_time(command.etr_at, tz), **named)
    if isinstance(command, RestoreOutage):
        if result.state == OutageState.RESTORED:
            return t("done.restore", **named)
        return t("done.restore_step", n=command.customers, left=result.still_out, **named)
    if isinstance(command, CancelOutage):
        return t("done.cancel", **named)
    if isinstance(command, ApplyStormPlan):
        done = sum(1 for outcome in result if outcome.refused is None)
        refused = [
            f"{outcome.row.crew_code} → {outcome.row.outage_id}: {outcome.refused}"
            for outcome in result
            if outcome.refused is not None
        ]
        return t("done.plan", n=done) + (
            "" if not refused else " " + t("done.plan_refused", list="; ".join(refused))
        )
    raise TypeError(f"no outcome words for {type(command).__name__}")


# --- the selected outage ---------------------------------------------------------------------


def detail_panel(
    actor: Actor, detail: OutageDetail, row: BoardRow | None, language: str, tz: ZoneInfo
) -> None:
    o = detail.outage
    district = (detail.district_name_zh if language == "zh" else detail.district_name_en) or "—"
    # Device codes and district names come from the utility's import: text, never Markdown.
    st.subheader(
        t(
            "detail.title",
            id=o.id,
            device=plain(outage_name(detail.device_code, detail.service_account)),
            kind=t(f"kind.{detail.device_kind}"),
        )
    )
    st.caption(
        t(
            "detail.caption",
            state=t(f"state.{o.state}"),
            district=plain(district),
            customers=f"{o.customers_affected - o.customers_restored:,}",
            reports=detail.report_total,
            since=local_time(o.first_report_at, tz),
        )
    )
    if row is not None and row.confidence is not None:
        st.caption(t("locate.detail_confidence", confidence=confidence_text(row.confidence)))
    if o.hazard_live:
        st.error(t("detail.hazard"))
    if o.nested:
        st.info(t("detail.nested", parent=o.nested_in_id))
    if row is not None and row.priority is not None:
        st.caption(t("detail.why_rank", rank=row.priority.rank, why=plain(row.priority.reason(language))))
    if row is not None:
        cols = st.columns(max(len(row.clocks), 1))
        for col, clock in zip(cols, row.clocks, strict=False):
            name = clock.name_zh if language == "zh" else clock.name_en
            col.metric(
                name, clock_text(clock), help=t("detail.deadline", at=local_time(clock.deadline, tz, "%H:%M"))
            )

    recommend_tab, switching_tab, reports_tab, important_tab, history_tab = st.tabs(
        [
            t("detail.tab.crews"),
            t("switch.tab"),
            t("detail.tab.reports"),
            t("detail.tab.important"),
            t("detail.tab.history"),
        ]
    )

    def propose(command: object, question: str, outcome: Callable[[Any], str]) -> None:
        ask(Pending(command, question, o.id, plain(detail.device_code), outcome=outcome))
        st.rerun()

    with switching_tab:
        switching_panel.switching_section(actor, detail, tz, propose)
    with recommend_tab:
        crews_and_actions(actor, detail, tz)
    with reports_tab:
        st.dataframe(
            [
                {
                    t("report.time"): local_time(r.reported_at, tz, "%H:%M"),
                    t("report.channel"): r.channel,
                    t("report.kind"): t(f"report_kind.{r.kind}"),
                    t("report.account"): r.account_no or "—",
                    t("report.description"): r.description or "",
                    t("report.contact"): " ".join(x for x in (r.contact_name, r.contact_phone) if x),
                }
                for r in detail.reports
            ],
            hide_index=True,
            width="stretch",
        )
    with important_tab:
        if not detail.important_users:
            st.caption(t("detail.no_important"))
        st.dataframe(
            [
                {
                    t("important.name"): u.name,
                    t("important.grade"): t(f"grade.{u.grade}"),
                    t("important.kind"): t(f"customer_kind.{u.kind}"),
                    t("important.backup"): u.backup_hours,
                    t("important.contact"): " ".join(x for x in (u.contact_name, u.contact_phone) if x),
                }
                for u in detail.important_users
            ],
            hide_index=True,
            width="stretch",
        )
    with history_tab:
        for change in detail.etr_history:
            st.caption(
                t(
                    "detail.etr_change",
                    at=local_time(change.set_at, tz, "%H:%M"),
                    etr=local_time(change.etr_at, tz),
                    source=t(f"cmp.source.{change.source}"),
                    confidence=change.confidence,
                    by=plain(change.set_by or "—"),
                )
            )
        for step in detail.steps:
            st.caption(
                t(
                    "detail.step",
                    at=local_time(step.at, tz, "%H:%M"),
                    n=step.customers_restored,
                    by=plain(step.by or "—"),
                )
            )
    meter_panel.meter_section(actor, detail, tz, propose)  # meters asked (#21 point 3)
    render_assessments(services.context(actor), o.id)  # damage assessments (#19.3), read-only


def crews_and_actions(actor: Actor, detail: OutageDetail, tz: ZoneInfo) -> None:
    o = detail.outage
    # The crews' own steps from the crew page: accepted when, handover notes, requests to answer.
    crew_console.crews_own_steps(actor, o.id, tz)
    if o.state not in ACTIVE_OUTAGE_STATES:
        # Restored, closed or cancelled (here or by a colleague): nothing is left to dispatch or do.
        st.info(t("detail.inactive", id=o.id, state=t(f"state.{o.state}")))
        return
    # Every question and outcome names the outage and its device; every command carries the outage
    # version shown here, so an outage that moved on since is refused, never acted on blind.
    device = plain(detail.device_code)

    def ask_about(command: object, key: str, crew_code: str = "", **words: Any) -> None:
        question = t(key, crew=crew_code, id=o.id, device=device, **words)
        ask(Pending(command, question, o.id, device, crew_code))
        st.rerun()

    open_jobs = [a for a in detail.assignments if a.status in ("dispatched", "en_route", "on_site")]
    for job in open_jobs:
        left, mid, right = st.columns([3, 1, 1])
        left.write(
            t(
                "detail.assignment",
                crew=job.crew_code,
                status=t(f"crew.{job.status}"),
                eta=local_time(job.eta_at, tz, "%H:%M"),
            )
        )
        if job.status == "dispatched" and mid.button(t("action.en_route"), key=f"enroute-{job.id}"):
            en_route = MarkEnRoute(job.id, job.version, outage_id=o.id, outage_version=o.version)
            ask_about(en_route, "ask.en_route", job.crew_code)
        if job.status in ("dispatched", "en_route") and right.button(
            t("action.on_site"), key=f"onsite-{job.id}"
        ):
            on_site = MarkOnSite(job.id, job.version, outage_id=o.id, outage_version=o.version)
            ask_about(on_site, "ask.on_site", job.crew_code)

    if not open_jobs:
        crew = recommended_crew(actor, o.id, tz)
        if crew is not None and st.button(t("action.dispatch"), type="primary", key=f"dispatch-{o.id}"):
            send = DispatchCrew(o.id, crew.crew_id, crew_version=crew.version, outage_version=o.version)
            ask_about(send, "ask.dispatch", crew.code, eta=local_time(crew.eta, tz, "%H:%M"))

    st.divider()
    # Popovers open from the left of their button: the ones with forms sit in the left columns so
    # they open within the window; the plain Confirm button takes the right-hand column.
    restore_col, etr_col, confirm_col = st.columns(3)
    with restore_col.popover(t("action.restore")):
        still_out = o.customers_affected - o.customers_restored
        step = st.number_input(
            t("restore.customers"),
            min_value=1,
            max_value=max(still_out, 1),
            value=max(still_out, 1),
            key=f"restore-n-{o.id}",
        )
        if st.button(t("action.restore_now"), key=f"restore-{o.id}"):
            customers = None if step >= still_out else int(step)
            restore = RestoreOutage(o.id, expected_version=o.version, customers=customers)
            if customers is None:
                ask_about(restore, "ask.restore")
            else:
                ask_about(restore, "ask.restore_step", n=customers)
    with etr_col.popover(t("action.etr")):
        now_local = SYSTEM_CLOCK.now().astimezone(tz)
        default = (o.etr_at.astimezone(tz) if o.etr_at else now_local + timedelta(hours=2)).replace(
            second=0, microsecond=0
        )
        day = st.date_input(t("etr.day"), value=default.date(), key=f"etr-day-{o.id}")
        at = st.time_input(
            t("etr.time"), value=default.time(), step=timedelta(minutes=15), key=f"etr-time-{o.id}"
        )
        confidence = st.selectbox(
            t("etr.confidence"),
            ["high", "medium", "low"],
            index=1,
            format_func=lambda c: t(f"confidence.{c}"),
            key=choice_key(f"etr-conf-{o.id}"),
        )
        if st.button(t("action.set_etr"), key=f"etr-set-{o.id}"):
            etr_at = datetime.combine(day, at, tzinfo=tz)
            set_etr = SetEtr(o.id, etr_at, confidence, "dispatcher", expected_version=o.version)
            ask_about(set_etr, "ask.etr", etr=local_time(etr_at, tz))
    if o.confirmed_at is None and confirm_col.button(t("action.confirm"), key=f"confirm-{o.id}"):
        ask_about(ConfirmOutage(o.id, expected_version=o.version), "ask.confirm")
    with st.expander(t("locate.action")):
        # Where the crew found the fault: the accuracy of predictions is judged against it.
        code = st.text_input(
            t("locate.found_at"), value=detail.device_code, max_chars=64, key=f"found-{o.id}"
        )
        if st.button(t("locate.record"), key=f"found-set-{o.id}"):
            found = plain(code.strip())
            done = t("locate.done", id=o.id, device=device, found=found)
            record = RecordFaultDevice(o.id, code.strip(), expected_version=o.version)
            question = t("locate.ask", id=o.id, device=device, found=found)
            ask(Pending(record, question, o.id, device, outcome=lambda _version: done))
            st.rerun()
    with st.expander(t("action.cancel")):
        reason = st.text_input(t("cancel.reason"), max_chars=500, key=f"cancel-reason-{o.id}")
        if st.button(t("action.cancel_now"), key=f"cancel-{o.id}"):
            if not reason.strip():
                st.warning(t("cancel.need_reason"))
            else:
                ask_about(CancelOutage(o.id, reason, expected_version=o.version), "ask.cancel")


def recommended_crew(actor: Actor, outage_id: int, tz: ZoneInfo) -> CrewOption | None:
    """The recommended crews as a table, and the available one chosen to send (None if none)."""
    options = dispatch_queries.recommend_crews(services.context(actor), outage_id)
    if not options:
        st.warning(t("detail.no_crews"))
        return None
    st.dataframe(
        [
            {
                t("crew.col.crew"): f"{c.code} · {c.name}",
                t("crew.col.kind"): t(f"mw.crewkind.{c.kind}"),
                t("crew.col.km"): round(c.distance_km, 1),
                t("crew.col.eta"): local_time(c.eta, tz, "%H:%M"),
                t("crew.col.clock"): "✓" if c.meets_on_site_clock else "✗",
                t("crew.col.why"): c.reason_zh if current_language() == "zh" else c.reason,
            }
            for c in options
        ],
        hide_index=True,
        width="stretch",
    )
    # Chosen by crew id, not by place in a list that re-sorts as crews move.
    available = {c.crew_id: c for c in options if c.free_at is None}
    if not available:
        return None
    choice = st.selectbox(
        t("action.choose_crew"),
        list(available),
        format_func=lambda i: (
            f"{available[i].code} · {t('crew.col.eta')} {local_time(available[i].eta, tz, '%H:%M')}"
        ),
        key=choice_key(f"crew-choice-{outage_id}"),
    )
    return available.get(choice) if choice is not None else None


def storm_plan_panel(actor: Actor, tz: ZoneInfo) -> None:
    """All unassigned outages matched to available crews at once, for the dispatcher to approve."""
    if st.button(t("plan.make"), key="plan-make"):
        st.session_state["console-plan"] = dispatch_queries.storm_plan(services.context(actor))
    plan = st.session_state.get("console-plan")
    if plan is None:
        st.caption(t("plan.explain"))
        return
    st.caption(
        t(
            "plan.summary",
            n=len(plan.rows),
            unassigned=len(plan.unassigned),
            crews=plan.crews_available,
            minutes=round(plan.total_travel_minutes),
        )
    )
    edited = st.data_editor(
        [
            {
                t("plan.apply"): True,
                t("dispatch.col.id"): row.outage_id,
                t("crew.col.crew"): row.crew_code,
                t("crew.col.km"): round(row.distance_km, 1),
                t("crew.col.eta"): local_time(row.eta, tz, "%H:%M"),
                t("crew.col.why"): row.reason_zh if current_language() == "zh" else row.reason,
            }
            for row in plan.rows
        ],
        hide_index=True,
        disabled=[
            t("dispatch.col.id"),
            t("crew.col.crew"),
            t("crew.col.km"),
            t("crew.col.eta"),
            t("crew.col.why"),
        ],
        key="plan-editor",
        width="stretch",
    )
    chosen = [row for row, line in zip(plan.rows, edited, strict=True) if line[t("plan.apply")]]
    if chosen and st.button(t("plan.dispatch", n=len(chosen)), type="primary", key="plan-apply"):
        ask(Pending(ApplyStormPlan(tuple(chosen)), t("ask.plan", n=len(chosen))))
        st.session_state.pop("console-plan", None)
        st.rerun()
