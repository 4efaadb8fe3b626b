"""Widgets of the dispatcher console: the SLA board, an outage's detail, and actions that ask first.

An action is two steps: the button stores what is about to happen in session state, the page
shows the question, and only "Yes" calls the service. The outcome (or the reason it was refused,
such as another dispatcher having taken the crew first) stays on screen until the next action.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import folium
import streamlit as st
from streamlit_folium import st_folium

from dashboard import maps, services
from dashboard.i18n import local_time, t
from dashboard.markdown_text import plain
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
from emergency.app.queries import dispatch as dispatch_queries
from emergency.core.actor import Actor
from emergency.core.clock import SYSTEM_CLOCK
from emergency.core.errors import EmergencyError
from emergency.core.models import ACTIVE_OUTAGE_STATES, OutageState
from emergency.dispatch.board import BoardRow
from emergency.dispatch.outage_detail import OutageDetail
from emergency.dispatch.sla import ClockState, ClockStatus

SELECTED_KEY = "console-selected-outage"
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
            "board.reason",
            "board.dispatch_clock",
            "board.on_site_clock",
            "dispatch.col.state",
            "dispatch.col.device",
            "board.district",
            "dispatch.col.customers",
            "dispatch.col.important",
            "board.hazard",
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
                    r.priority.reason(language) if r.priority else "",
                    clocks.text(r.clock("outage_dispatch")),
                    clocks.text(r.clock("outage_on_site")),
                    states.get(r.state) or t(f"state.{r.state}"),
                    r.device_code,
                    (r.district_zh if language == "zh" else r.district_en) or "—",
                    r.customers_out,
                    r.important_total,
                    "⚠" if r.hazard else "",
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
CREW_TOOLTIP = ["name", "code", "status"]


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
        "device": [r.device_code for r in rows],
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
    groups.append(maps.crew_layer(layers["crews"], CREW_TOOLTIP, [""] * len(CREW_TOOLTIP)))
    groups.append(
        maps.outage_layer(
            outage_columns(layers["board"], language, tz),
            list(OUTAGE_POPUP),
            [t(label) for label in OUTAGE_POPUP.values()],
        )
    )
    return groups


def draw_live_map(fmap: folium.Map, groups: list[folium.FeatureGroup]) -> dict[str, Any] | None:
    """The live map on the page; returns what the dispatcher last clicked, if anything."""
    return st_folium(
        fmap,
        feature_group_to_add=groups,
        height=MAP_HEIGHT,
        width="stretch",
        returned_objects=["last_object_clicked"],
        key="dispatch-map",
    )


def nearest_outage(rows: list[BoardRow], lat: float, lon: float) -> int | None:
    if not rows:
        return None
    best = min(rows, key=lambda r: (r.lat - lat) ** 2 + (r.lon - lon) ** 2)
    return best.outage_id


# --- asking before acting -----------------------------------------------------------------------


@dataclass(frozen=True)
class Pending:
    """An action waiting for "Yes": the command it will execute, the question asked, and the crew
    code the outcome names (commands carry ids, people read codes)."""

    command: object
    question: str
    crew_code: str = ""


def ask(pending: Pending) -> None:
    st.session_state[PENDING_KEY] = pending
    st.session_state.pop(OUTCOME_KEY, None)


def show_outcome() -> None:
    outcome = st.session_state.get(OUTCOME_KEY)
    if outcome:
        kind, message = outcome
        (st.success if kind == "ok" else st.error)(message)


def confirmation(actor: Actor) -> None:
    """The pending question, if any, with Yes / No."""
    pending = st.session_state.get(PENDING_KEY)
    if not pending:
        return
    with st.container(border=True):
        st.warning(pending.question)
        yes, no = st.columns(2)
        if yes.button(t("action.yes"), type="primary", key="confirm-yes"):
            st.session_state.pop(PENDING_KEY, None)
            try:
                message = perform(actor, pending)
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
    """What a command's result means to the dispatcher who asked for it."""
    command = pending.command
    if isinstance(command, ConfirmOutage):
        return t("done.confirm", id=command.outage_id)
    if isinstance(command, DispatchCrew):
        return t(
            "done.dispatch", crew=pending.crew_code, id=command.outage_id, eta=local_time(result.eta_at, tz)
        )
    if isinstance(command, MarkEnRoute):
        return t("done.en_route", crew=pending.crew_code)
    if isinstance(command, MarkOnSite):
        return t("done.on_site", crew=pending.crew_code)
    if isinstance(command, SetEtr):
        return t("done.etr", id=command.outage_id, etr=local_time(command.etr_at, tz))
    if isinstance(command, RestoreOutage):
        if result.state == OutageState.RESTORED:
            return t("done.restore", id=command.outage_id)
        return t("done.restore_step", id=command.outage_id, n=command.customers, left=result.still_out)
    if isinstance(command, CancelOutage):
        return t("done.cancel", id=command.outage_id)
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
        t("detail.title", id=o.id, device=plain(detail.device_code), kind=t(f"kind.{detail.device_kind}"))
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
    if o.hazard:
        st.error(t("detail.hazard"))
    if o.nested:
        st.info(t("detail.nested", parent=o.nested_in_id))
    if row is not None:
        cols = st.columns(max(len(row.clocks), 1))
        for col, clock in zip(cols, row.clocks, strict=False):
            name = clock.name_zh if language == "zh" else clock.name_en
            col.metric(
                name, clock_text(clock), help=t("detail.deadline", at=local_time(clock.deadline, tz, "%H:%M"))
            )

    recommend_tab, reports_tab, important_tab, history_tab = st.tabs(
        [t("detail.tab.crews"), t("detail.tab.reports"), t("detail.tab.important"), t("detail.tab.history")]
    )
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
                    source=change.source,
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


def crews_and_actions(actor: Actor, detail: OutageDetail, tz: ZoneInfo) -> None:
    o = detail.outage
    if o.state not in ACTIVE_OUTAGE_STATES:
        # Restored, closed or cancelled (here or by a colleague): nothing is left to dispatch or do.
        st.info(t("detail.inactive", id=o.id, state=t(f"state.{o.state}")))
        return
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
            ask(
                Pending(
                    MarkEnRoute(job.id, expected_version=job.version),
                    t("ask.en_route", crew=job.crew_code),
                    crew_code=job.crew_code,
                )
            )
            st.rerun()
        if job.status in ("dispatched", "en_route") and right.button(
            t("action.on_site"), key=f"onsite-{job.id}"
        ):
            ask(
                Pending(
                    MarkOnSite(job.id, expected_version=job.version),
                    t("ask.on_site", crew=job.crew_code),
                    crew_code=job.crew_code,
                )
            )
            st.rerun()

    if not open_jobs:
        options = dispatch_queries.recommend_crews(services.context(actor), o.id)
        if not options:
            st.warning(t("detail.no_crews"))
        else:
            st.dataframe(
                [
                    {
                        t("crew.col.crew"): f"{c.code} · {c.name}",
                        t("crew.col.kind"): t(f"mw.crewkind.{c.kind}"),
                        t("crew.col.km"): round(c.distance_km, 1),
                        t("crew.col.eta"): local_time(c.eta, tz, "%H:%M"),
                        t("crew.col.clock"): "✓" if c.meets_on_site_clock else "✗",
                        t("crew.col.why"): c.reason,
                    }
                    for c in options
                ],
                hide_index=True,
                width="stretch",
            )
            available = [c for c in options if c.free_at is None]
            if available:
                choice = st.selectbox(
                    t("action.choose_crew"),
                    range(len(available)),
                    format_func=lambda i: (
                        f"{available[i].code} · {t('crew.col.eta')} "
                        f"{local_time(available[i].eta, tz, '%H:%M')}"
                    ),
                    key=f"crew-choice-{o.id}",
                )
                crew = available[choice]
                if st.button(t("action.dispatch"), type="primary", key=f"dispatch-{o.id}"):
                    ask(
                        Pending(
                            DispatchCrew(o.id, crew.crew_id, crew_version=crew.version),
                            t("ask.dispatch", crew=crew.code, id=o.id, eta=local_time(crew.eta, tz, "%H:%M")),
                            crew_code=crew.code,
                        )
                    )
                    st.rerun()

    st.divider()
    act1, act2, act3 = st.columns(3)
    if o.confirmed_at is None and act1.button(t("action.confirm"), key=f"confirm-{o.id}"):
        ask(Pending(ConfirmOutage(o.id, expected_version=o.version), t("ask.confirm", id=o.id)))
        st.rerun()
    with act2.popover(t("action.etr")):
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
            key=f"etr-conf-{o.id}",
        )
        if st.button(t("action.set_etr"), key=f"etr-set-{o.id}"):
            etr_at = datetime.combine(day, at, tzinfo=tz)
            ask(
                Pending(
                    SetEtr(o.id, etr_at, confidence, "dispatcher", expected_version=o.version),
                    t("ask.etr", id=o.id, etr=local_time(etr_at, tz)),
                )
            )
            st.rerun()
    with act3.popover(t("action.restore")):
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
            question = (
                t("ask.restore", id=o.id)
                if customers is None
                else t("ask.restore_step", id=o.id, n=customers)
            )
            ask(Pending(RestoreOutage(o.id, expected_version=o.version, customers=customers), question))
            st.rerun()
    with st.expander(t("action.cancel")):
        reason = st.text_input(t("cancel.reason"), max_chars=500, key=f"cancel-reason-{o.id}")
        if st.button(t("action.cancel_now"), key=f"cancel-{o.id}"):
            if not reason.strip():
                st.warning(t("cancel.need_reason"))
            else:
                ask(Pending(CancelOutage(o.id, reason, expected_version=o.version), t("ask.cancel", id=o.id)))
                st.rerun()


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
                t("crew.col.why"): row.reason,
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
