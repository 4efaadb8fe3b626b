"""Disaster mode at a glance: the priority queue of outages and the outreach list of important users."""

from __future__ import annotations

import streamlit as st

from dashboard import services
from dashboard.choices import choice_key
from dashboard.i18n import current_language, in_language, local_time, t
from dashboard.markdown_text import plain
from dashboard.outcome import show_outcome
from dashboard.session import require_role
from emergency.app.bus import execute
from emergency.app.commands.warnings import (
    AcceptPrepositioning,
    AcknowledgeOutreach,
    CompleteOutreach,
    EscalateOutreach,
    OutreachStepForMany,
)
from emergency.app.queries import warnings as queries
from emergency.core.errors import EmergencyError
from emergency.core.models import Role
from emergency.warnings.outreach import OutreachLine

OUTCOME_KEY = "manager-outreach-outcome"
PLAN_KEY = "manager-preposition-plan"
BULK_KEY = "outreach-bulk-tasks"
LADDER_STEPS = ("message", "call", "visit")
OPEN_STATUSES = ("pending", "acknowledged")

actor = require_role(Role.MANAGER, Role.ADMIN)
ctx = services.context(actor)
tz = ctx.tz
language = current_language()

st.title(t("mo.title"))
show_outcome(OUTCOME_KEY)


def hours(value: float | None) -> str:
    """Backup hours for a table: a dash for a user with no backup supply, not "None"."""
    return "—" if value is None else f"{value:.1f}"


overview = queries.outreach_overview(ctx)
in_force = overview.in_force_ids
disaster_districts = overview.disaster_district_ids
queue = overview.queue
every_warning = overview.warning_titles

st.subheader(t("mo.queue"))
if not disaster_districts:
    st.info(t("mo.no_disaster"))
else:
    st.caption(t("mo.queue_help"))
    st.dataframe(
        [
            {
                t("mo.rank"): row.rank,
                "#": row.outage_id,
                t("mw.col.status"): t(f"state.{row.state}"),
                t("mw.col.districts"): row.district_code,
                t("important.grade"): t(f"grade.{row.top_grade}") if row.top_grade else "—",
                t("mo.backup_left"): hours(row.backup_hours_left),
                t("mo.users_out"): ", ".join(row.important_users),
                t("mw.customers"): row.customers_out,
                t("mo.since"): local_time(row.first_report_at, tz),
                t("crew.col.why"): row.reason(language),
            }
            for row in queue
        ],
        hide_index=True,
        width="stretch",
    )

st.subheader(t("mo.preposition"))
st.caption(t("mo.preposition_help"))
if st.button(t("mo.suggest"), key="preposition-suggest"):
    st.session_state[PLAN_KEY] = queries.suggest_prepositioning(ctx)
plan = st.session_state.get(PLAN_KEY)
if plan is not None:
    st.dataframe(
        [
            {
                t("mo.depot"): f"{d.code} {d.name_zh if language == 'zh' else d.name_en}",
                t("mw.customers"): d.customers_at_risk,
                t("mw.important"): d.important_at_risk,
                t("mo.weight"): d.weight,
                t("mo.crews"): d.crews,
            }
            for d in plan.depots
        ],
        hide_index=True,
        width="stretch",
    )
    if not plan.moves:
        st.info(t("mo.no_moves", n=plan.crews_available))
    else:
        st.dataframe(
            [
                {
                    t("crew.col.crew"): m.crew_code,
                    t("mo.depot"): m.depot_code,
                    t("mw.distance"): m.distance_km,
                }
                for m in plan.moves
            ],
            hide_index=True,
            width="stretch",
        )
        if st.button(t("mo.accept", n=len(plan.moves)), type="primary", key="preposition-accept"):
            try:
                moved = execute(ctx, AcceptPrepositioning(tuple(plan.moves)))
            except EmergencyError as error:
                st.error(t("action.refused", reason=plain(str(error))))
            else:
                st.session_state.pop(PLAN_KEY, None)
                st.session_state[OUTCOME_KEY] = ("ok", t("mo.accepted", n=moved))
                st.rerun()

st.subheader(t("mo.outreach"))
if not every_warning:
    st.info(t("mw.none"))
    st.stop()
default = in_force[0] if in_force else next(iter(every_warning))
warning_id = st.selectbox(
    t("mw.select"),
    list(every_warning),
    index=list(every_warning).index(default),
    format_func=lambda i: f"#{i} {in_language(every_warning[i], overview.warning_titles_zh.get(i))}",
    key=choice_key("outreach-warning"),
)
lines = queries.outreach_lines(ctx, warning_id)
if not lines:
    st.info(t("mo.empty"))
    st.stop()
open_lines = [line for line in lines if line.status != "done"]
c1, c2, c3 = st.columns(3)
c1.metric(t("mo.pending"), sum(1 for line in lines if line.status == "pending"))
c2.metric(t("mo.acknowledged"), sum(1 for line in lines if line.status == "acknowledged"))
c3.metric(t("mo.done"), sum(1 for line in lines if line.status == "done"))
st.dataframe(
    [
        {
            "#": line.task_id,
            t("important.name"): line.name,
            t("important.grade"): t(f"grade.{line.grade}"),
            t("important.backup"): hours(line.backup_hours),
            t("important.contact"): " ".join(filter(None, [line.contact_name, line.contact_phone])),
            t("mo.step"): t(f"ostep.{line.step}"),
            t("mw.col.status"): t(f"ostatus.{line.status}"),
            t("mo.ack_by"): line.acknowledged_by or "",
            t("mo.updated"): f"{local_time(line.updated_at, tz)} {line.updated_by or ''}",
            t("mw.note"): line.note or "",
        }
        for line in lines
    ],
    hide_index=True,
    width="stretch",
)

if open_lines:
    by_task = {line.task_id: line for line in open_lines}
    with st.form("outreach-action"):
        task_id = st.selectbox(
            t("mo.task"),
            list(by_task),
            format_func=lambda i: f"#{i} {by_task[i].name} ({t('ostep.' + by_task[i].step)})",
            key=choice_key("outreach-action-task"),
        )
        # No max_chars (a longer paste would be dropped unseen): the service refuses it by field.
        who = st.text_input(t("mo.ack_by"), key="outreach-action-who")
        note = st.text_input(t("mw.note"), key="outreach-action-note")
        escalate_col, ack_col, done_col = st.columns(3)
        escalate = escalate_col.form_submit_button(t("mo.escalate"))
        acknowledge = ack_col.form_submit_button(t("mo.acknowledge"))
        complete = done_col.form_submit_button(t("mo.complete"), type="primary")
    if escalate or acknowledge or complete:
        line = by_task[task_id]
        try:
            if escalate:
                step = execute(ctx, EscalateOutreach(task_id, line.version, note=note))
                message = t("mo.escalated", name=line.name, step=t(f"ostep.{step}"))
            elif acknowledge:
                execute(ctx, AcknowledgeOutreach(task_id, line.version, who, note=note))
                message = t("mo.acknowledged_by", name=line.name, who=who.strip())
            else:
                execute(ctx, CompleteOutreach(task_id, line.version, note=note))
                message = t("mo.completed", name=line.name)
        except EmergencyError as error:
            st.error(t("action.refused", reason=plain(str(error))))
        else:
            st.session_state[OUTCOME_KEY] = ("ok", message)
            st.rerun()


def bulk_steps(open_lines: list[OutreachLine]) -> None:
    """One step for many users: chosen by hand or all those a filter shows, each moved and audited
    on its own by the service; the outcome names any that did not move."""
    st.markdown(f"**{t('mo.bulk')}**")
    st.caption(t("mo.bulk_help"))
    step_col, status_col = st.columns(2)
    steps = step_col.multiselect(
        t("mo.step"),
        LADDER_STEPS,
        format_func=lambda v: t(f"ostep.{v}"),
        placeholder=t("mo.bulk_any"),
        key=choice_key("outreach-bulk-step"),
    )
    statuses = status_col.multiselect(
        t("mw.col.status"),
        OPEN_STATUSES,
        format_func=lambda v: t(f"ostatus.{v}"),
        placeholder=t("mo.bulk_any"),
        key=choice_key("outreach-bulk-status"),
    )
    shown = {
        line.task_id: line
        for line in open_lines
        if (not steps or line.step in steps) and (not statuses or line.status in statuses)
    }
    if st.button(t("mo.bulk_all", n=len(shown)), key="outreach-bulk-all"):
        st.session_state[BULK_KEY] = list(shown)
    # A user done meanwhile, or filtered out, is no longer an option: drop it from the choice.
    st.session_state[BULK_KEY] = [i for i in st.session_state.get(BULK_KEY, []) if i in shown]
    chosen = st.multiselect(
        t("mo.bulk_users"),
        list(shown),
        format_func=lambda i: (
            f"#{i} {shown[i].name} ({t('ostep.' + shown[i].step)}, {t('ostatus.' + shown[i].status)})"
        ),
        placeholder=t("mo.bulk_pick"),
        key=choice_key(BULK_KEY),
    )
    with st.form("outreach-bulk"):
        who = st.text_input(t("mo.ack_by"), key="outreach-bulk-who")
        note = st.text_input(t("mw.note"), key="outreach-bulk-note")
        escalate_col, ack_col, done_col = st.columns(3)
        pressed = {
            "escalate": escalate_col.form_submit_button(t("mo.bulk_escalate")),
            "acknowledge": ack_col.form_submit_button(t("mo.bulk_acknowledge")),
            "complete": done_col.form_submit_button(t("mo.bulk_complete"), type="primary"),
        }
    step = next((name for name, hit in pressed.items() if hit), None)
    if step is None:
        return
    if not chosen:
        st.warning(t("mo.bulk_none"))
        return
    tasks = tuple((i, shown[i].version) for i in chosen)
    try:
        outcomes = execute(ctx, OutreachStepForMany(step, tasks, by_whom=who, note=note))
    except EmergencyError as error:
        st.error(t("action.refused", reason=plain(str(error))))
        return
    refused = [o for o in outcomes if o.refused is not None]
    message = t("mo.bulk_done", step=t(f"mo.{step}"), done=len(outcomes) - len(refused), chosen=len(tasks))
    if refused:
        names = "; ".join(f"#{o.task_id} {plain(shown[o.task_id].name)}" for o in refused)
        message += " " + t("mo.bulk_refused", who=names)
    st.session_state.pop(BULK_KEY, None)
    st.session_state[OUTCOME_KEY] = ("ok" if not refused else "error", message)
    st.rerun()


if open_lines:
    bulk_steps(open_lines)
