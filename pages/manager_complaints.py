"""The complaints and feedback desk (manager): items with their clocks, the next step recorded, and
restored outages verified with the customer."""

from __future__ import annotations

import unicodedata
from collections.abc import Callable

import streamlit as st

from dashboard import outcome, services
from dashboard.choices import choice_key
from dashboard.i18n import current_language, local_time, t
from dashboard.outcome import show_outcome
from dashboard.session import require_role
from emergency.app.bus import execute
from emergency.app.commands.reporting import RecordFeedbackStep, VerifyRestoration
from emergency.app.queries import reporting as queries
from emergency.core.models import FeedbackKind, FeedbackStatus, Role
from emergency.dispatch.sla import ClockStatus, format_duration
from emergency.reporting import complaints

OUTCOME_KEY = "desk-outcome"
SEEN_KEY = "desk-seen"
VERIFY_SEEN_KEY = "desk-verify-seen"
# Bumped when a step or verification is recorded: the note boxes get new keys, so they start empty.
# A refused one (someone changed the item first) keeps what the manager typed; clear_on_submit
# would empty the box either way.
FORMS_KEY = "desk-forms"
KINDS = [k.value for k in FeedbackKind]
STATUSES = [s.value for s in FeedbackStatus]
SCORES = [None, 5, 4, 3, 2, 1]
# Enough of a message to tell a power cut from a billing question at a glance, counted in the
# columns a line takes (a Chinese character is as wide as two Latin letters), so that a preview
# in either language fits its cell, which the grid never wraps; the whole text shows when opened.
PREVIEW_COLUMNS = 80
PREVIEW_WIDTH_PX = 600  # 80 columns of the grid's font, measured in Chromium at 1366 and 1920 wide

actor = require_role(Role.MANAGER, Role.ADMIN)
ctx = services.context(actor)
tz = ctx.tz
language = current_language()


def duration(clock: ClockStatus) -> str:
    en, zh = format_duration(abs(clock.remaining))
    return zh if language == "zh" else en


def clock_text(clock: ClockStatus | None) -> str:
    """Time left, the overrun, or how the clock stopped, in words."""
    if clock is None:
        return "—"
    if clock.running:
        return t("desk.overdue" if clock.breached else "desk.left", d=duration(clock))
    return t("desk.missed" if clock.breached else "desk.met", d=duration(clock))


def clock_name(clock: ClockStatus | None) -> str:
    if clock is None:
        return "—"
    return clock.name_zh if language == "zh" else clock.name_en


def columns(char: str) -> int:
    return 2 if unicodedata.east_asian_width(char) in ("W", "F") else 1


def preview(text: str) -> str:
    """The start of what the customer wrote, on one line, marked with "…" when it goes on."""
    flat = " ".join(text.split())
    if sum(columns(c) for c in flat) <= PREVIEW_COLUMNS:
        return flat
    kept, used = [], 1  # the ellipsis takes one column
    for char in flat:
        used += columns(char)
        if used > PREVIEW_COLUMNS:
            break
        kept.append(char)
    return "".join(kept).rstrip() + "…"


def attempt(action: Callable[[], object], success: str) -> None:
    def act() -> None:
        action()
        st.session_state[FORMS_KEY] = st.session_state.get(FORMS_KEY, 0) + 1  # only when it went in

    outcome.attempt(OUTCOME_KEY, act, success)


def note_key(name: str) -> str:
    return f"{name}-{st.session_state.get(FORMS_KEY, 0)}"


st.title(t("desk.title"))
st.caption(t("desk.help"))
show_outcome(OUTCOME_KEY)

filters = st.columns([3, 3, 2])
chosen_kinds = filters[0].multiselect(
    t("feedback.kind"),
    KINDS,
    format_func=lambda k: t(f"feedback.kind.{k}"),
    placeholder=t("desk.any"),
    key=choice_key("desk-f-kind"),
)
chosen_statuses = filters[1].multiselect(
    t("desk.status"),
    STATUSES,
    format_func=lambda s: t(f"desk.status.{s}"),
    placeholder=t("desk.any"),
    key=choice_key("desk-f-status"),
)
breached_only = filters[2].checkbox(t("desk.breached_only"), key="desk-f-breached")

desk = queries.complaints_desk(ctx, kinds=chosen_kinds, statuses=chosen_statuses, breached_only=breached_only)
items, pending = desk.items, desk.pending

feedback_tab, verify_tab = st.tabs(
    [t("desk.tab.feedback", n=len(items)), t("desk.tab.verify", n=len(pending))]
)

with feedback_tab:
    if not items:
        st.info(t("desk.none"))
    else:
        st.dataframe(
            [
                {
                    # The clock first, then the text: at 1366 px both show before the grid scrolls.
                    t("desk.col.reference"): item.reference,
                    t("feedback.kind"): t(f"feedback.kind.{item.kind}"),
                    t("desk.col.clock"): clock_name(item.urgent),
                    t("desk.col.left"): clock_text(item.urgent),
                    t("desk.col.preview"): preview(item.text),
                    t("desk.status"): t(f"desk.status.{item.status}"),
                    t("desk.col.submitted"): local_time(item.submitted_at, tz),
                    t("desk.col.next"): t(f"desk.step.{item.next_step}") if item.next_step else "—",
                    t("desk.col.satisfaction"): "★" * item.satisfaction if item.satisfaction else "—",
                }
                for item in items
            ],
            hide_index=True,
            width="stretch",
            column_config={t("desk.col.preview"): st.column_config.TextColumn(width=PREVIEW_WIDTH_PX)},
        )
        by_id = {item.id: item for item in items}
        chosen = st.selectbox(
            t("desk.pick"),
            list(by_id),
            index=None,
            format_func=lambda i: (
                f"{by_id[i].reference} · {t(f'feedback.kind.{by_id[i].kind}')} · {preview(by_id[i].text)}"
            ),
            placeholder=t("desk.pick"),
            key=choice_key("desk-pick"),
        )
        if chosen is not None:
            item = by_id[chosen]
            st.markdown(f"**{t('desk.text')}**")
            st.text(item.text)  # plain text: whatever the customer typed is shown, never rendered
            st.dataframe(
                [
                    {
                        t("desk.col.channel"): item.channel,
                        t("desk.contact"): " · ".join(x for x in (item.contact_name, item.contact) if x)
                        or "—",
                        t("desk.account"): item.account_no or "—",
                    }
                ],
                hide_index=True,
                width="stretch",
            )
            st.dataframe(
                [
                    {
                        t("desk.col.clock_name"): clock_name(clock),
                        t("desk.col.started"): local_time(clock.started_at, tz),
                        t("desk.col.deadline"): local_time(clock.deadline, tz),
                        t("desk.col.left"): clock_text(clock),
                    }
                    for clock in item.clocks
                ],
                hide_index=True,
                width="stretch",
            )
            # The step and version this manager was shown, kept from the run that drew the form: a
            # click reruns the page on fresh data, and acting on that would hide a colleague's change.
            seen = st.session_state.setdefault(SEEN_KEY, {})
            step, version = seen.get(item.id, (item.next_step, item.version))
            seen[item.id] = (item.next_step, item.version)
            if item.next_step is None:
                st.info(t("desk.finished"))
            else:
                with st.form(f"desk-step-{item.id}"):
                    # No max_chars: Streamlit's would drop a longer paste unseen; the service refuses it.
                    note = st.text_area(t("desk.note"), key=note_key("desk-note"))
                    st.caption(t("form.limit", limit=f"{complaints.MAX_NOTE_CHARS:,}"))
                    score = None
                    if item.next_step == complaints.Step.CLOSE:
                        score = st.selectbox(
                            t("desk.satisfaction"),
                            SCORES,
                            format_func=lambda s: t("desk.satisfaction.none") if s is None else "★" * s,
                            # A keyed box shows its None choice as the placeholder.
                            placeholder=t("desk.satisfaction.none"),
                            key=choice_key("desk-satisfaction"),
                        )
                    record = st.form_submit_button(
                        t("desk.record", step=t(f"desk.step.{item.next_step}")), key="desk-record"
                    )
                if record and step is not None:
                    attempt(
                        lambda: execute(
                            ctx,
                            RecordFeedbackStep(item.id, step, version, note=note, satisfaction=score),
                        ),
                        t("desk.recorded", reference=item.reference, step=t(f"desk.step.{step}")),
                    )

with verify_tab:
    st.caption(t("desk.verify_help"))
    if not pending:
        st.info(t("desk.verify_none"))
    else:
        st.dataframe(
            [
                {
                    t("desk.col.outage"): row.outage_id,
                    t("desk.col.district"): row.district_code,
                    t("desk.col.device"): row.device_code,
                    t("desk.col.customers"): row.customers_affected,
                    t("desk.col.restored"): local_time(row.restored_at, tz),
                    t("desk.col.deadline"): local_time(row.clock.deadline, tz) if row.clock else "—",
                    t("desk.col.left"): clock_text(row.clock),
                }
                for row in pending
            ],
            hide_index=True,
            width="stretch",
        )
        waiting = {row.outage_id: row.version for row in pending}
        # As for the steps: the versions this manager was shown, not the ones reloaded by the click.
        shown = st.session_state.get(VERIFY_SEEN_KEY, waiting)
        st.session_state[VERIFY_SEEN_KEY] = waiting
        with st.form("desk-verify"):
            outage_id = st.selectbox(t("desk.verify_pick"), list(waiting), key=choice_key("desk-verify-pick"))
            verify_note = st.text_input(
                t("desk.note"),
                key=note_key("desk-verify-note"),
                help=t("form.limit", limit=f"{complaints.MAX_NOTE_CHARS:,}"),
            )
            confirmed = st.form_submit_button(t("desk.verify"))
        if confirmed and outage_id is not None:
            attempt(
                lambda: execute(
                    ctx,
                    VerifyRestoration(outage_id, shown.get(outage_id, waiting[outage_id]), note=verify_note),
                ),
                t("desk.verified", id=outage_id),
            )
