"""The crew page's drawing: a crew leader's jobs on a phone (390 px wide first), and the steps.

Every step asks before it acts, in words that name the outage and its device, and carries an
idempotency key made when its button is drawn (kept in the session state per job and step): a
double tap, or the same request resent after Streamlit reconnects, is applied once and answered
with the first outcome. A step done without coverage is entered with "done earlier" and its time.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import streamlit as st

from dashboard import services
from dashboard.assessment_form import render_assessment_form
from dashboard.choices import choice_key
from dashboard.crew_gps import render_position_sharing
from dashboard.i18n import current_language, local_time, t
from dashboard.markdown_text import plain
from emergency.app.bus import execute
from emergency.app.commands import crew_field as commands
from emergency.app.queries import crew_field as queries
from emergency.core.actor import Actor
from emergency.core.clock import SYSTEM_CLOCK
from emergency.core.errors import EmergencyError

KEYS = "crewpage-keys"  # {(assignment id, step): idempotency key}
PENDING = "crewpage-pending"
OUTCOME = "crewpage-outcome"  # ("ok" | "error", words)
REFRESH_SECONDS = 20
ETR_SOURCE_WORDS = {
    "system": "crewpage.etr_source.system",
    "dispatcher": "crewpage.etr_source.dispatcher",
    "crew": "crewpage.etr_source.crew",
    "assessment": "crewpage.etr_source.assessment",
}
# Bigger touch targets than Streamlit's default buttons: gloved hands, a moving truck.
TOUCH_CSS = """<style>
.st-key-crewpage div[data-testid="stButton"] button { min-height: 3.25rem; font-size: 1.05rem; }
.st-key-crewpage div[data-testid="stPopover"] button { min-height: 3.25rem; }
</style>"""


@dataclass(frozen=True)
class Pending:
    """A step waiting for "Yes": its command (with its key), the question, the outage it names."""

    command: object
    question: str
    outage_id: int
    device: str
    step: str
    assignment_id: int


def step_key(assignment_id: int, step: str) -> str:
    """The idempotency key of this job's step, made when its button is first drawn and kept until
    the step is done (so a repeat of the same tap carries the same key)."""
    keys: dict[tuple[int, str], str] = st.session_state.setdefault(KEYS, {})
    return keys.setdefault((assignment_id, step), uuid.uuid4().hex)


def _done(pending: Pending) -> None:
    """The step is recorded: its next use (another request, say) gets a new key."""
    st.session_state.get(KEYS, {}).pop((pending.assignment_id, pending.step), None)
    # A sent request's words are cleared, so they are not sent again by mistake under a new key.
    if pending.step == "request":
        st.session_state.pop(f"crewpage-request-text-{pending.assignment_id}", None)


def render(actor: Actor) -> None:
    ctx = services.context(actor)
    tz = ctx.tz
    st.html(TOUCH_CSS)
    with st.container(key="crewpage"):
        work = queries.crew_work(ctx)
        st.title(t("crewpage.title"))
        st.caption(t("crewpage.crew", code=plain(work.code), name=plain(work.name)))
        # The phone's position, with the leader's consent: the geofence records arrival from it.
        render_position_sharing(ctx, work.crew_id)
        watch_for_changes(actor, work)
        show_outcome()
        confirmation(actor, tz)
        done_at = done_earlier(tz, work)
        if not work.jobs:
            st.info(t("crewpage.no_jobs"))
            return
        current, *upcoming = work.jobs
        job_card(actor, current, work, tz, done_at)
        for job in upcoming:
            with st.expander(t("crewpage.next_job", id=job.outage_id, device=plain(job.device_code))):
                job_card(actor, job, work, tz, done_at)


@st.fragment(run_every=REFRESH_SECONDS)
def watch_for_changes(actor: Actor, shown: queries.CrewWork) -> None:
    """A new job, or a dispatcher's change to one, redraws the page (a timer; not a click)."""
    now = queries.crew_work(services.context(actor))
    if _signature(now) != _signature(shown):
        st.rerun(scope="app")
    st.caption(t("crewpage.refresh", n=REFRESH_SECONDS))


def _signature(work: queries.CrewWork) -> tuple[tuple[int, int, str, int], ...]:
    return tuple((j.assignment_id, j.version, j.outage_state, len(j.requests)) for j in work.jobs)


def done_earlier(tz: ZoneInfo, work: queries.CrewWork) -> datetime | None:
    """The "done earlier, without coverage" switch: the time the next step was done, or None."""
    if not st.toggle(t("crewpage.late.toggle"), key="crewpage-late", help=t("crewpage.late.help")):
        return None
    now = SYSTEM_CLOCK.now().astimezone(tz).replace(second=0, microsecond=0)
    day, at = st.columns(2)
    chosen_day = day.date_input(t("crewpage.late.day"), value=now.date(), key="crewpage-late-day")
    chosen_time = at.time_input(
        t("crewpage.late.time"), value=now.time(), step=timedelta(minutes=1), key="crewpage-late-time"
    )
    done_at = datetime.combine(chosen_day, chosen_time, tzinfo=tz)
    st.caption(t("crewpage.late.note", at=local_time(done_at, tz), hours=f"{work.late_entry_max_hours:g}"))
    return done_at


def job_card(
    actor: Actor, job: queries.CrewJob, work: queries.CrewWork, tz: ZoneInfo, done_at: datetime | None
) -> None:
    language = current_language()
    device = plain(job.device_code)
    with st.container(border=True):
        st.subheader(t("crewpage.job", id=job.outage_id, device=device))
        st.markdown(f"**{t(f'crew.{job.status}')}** · {t('crewpage.customers_out', n=job.customers_out)}")
        district = (job.district_zh if language == "zh" else job.district_en) or "—"
        st.write(
            t(
                "crewpage.where",
                device=plain(job.device_name),
                kind=t(f"kind.{job.device_kind}"),
                district=plain(district),
            )
        )
        if job.hazard:
            st.error(t("crewpage.hazard"), icon=":material/warning:")
        if job.distance_km is not None and job.travel_minutes is not None:
            st.write(t("crewpage.distance", km=f"{job.distance_km:.1f}", minutes=f"{job.travel_minutes:.0f}"))
        else:
            st.caption(t("crewpage.no_position"))
        important_users(job)
        clocks(job, tz, language)
        actions(actor, job, tz, done_at)
        requests(job, tz)
        # The damage assessment feeds the ETR (source `assessment`), the situation report and the plan.
        with st.expander(t("crewpage.assess"), expanded=job.status == "on_site"):
            render_assessment_form(services.context(actor), job.outage_id, work.crew_id)


def important_users(job: queries.CrewJob) -> None:
    if not job.important:
        return
    st.markdown(f"**{t('crewpage.important')}**")
    lines = []
    for user in job.important:
        words = [t(f"grade.{user.grade}"), t(f"customer_kind.{user.kind}")]
        # A life-support customer has no grade: "life support" once, not twice.
        said = " · ".join(dict.fromkeys(words))
        lines.append(f"- {plain(user.name)} · {said}")
    st.markdown("\n".join(lines))


def clocks(job: queries.CrewJob, tz: ZoneInfo, language: str) -> None:
    lines = []
    for clock in job.clocks:
        name = clock.name_zh if language == "zh" else clock.name_en
        state = t(f"clock.{clock.state}")
        if clock.stopped_at is not None:
            said = t("crewpage.clock.stopped", state=state, at=local_time(clock.stopped_at, tz, "%H:%M"))
        else:
            said = t("crewpage.clock.running", state=state, at=local_time(clock.deadline, tz, "%H:%M"))
        lines.append("- " + t("crewpage.clock.line", name=plain(name), said=said))
    etr_source = t(ETR_SOURCE_WORDS.get(job.etr_source or "", "crewpage.etr_source.none"))
    lines.append(f"- {t('crewpage.etr', etr=local_time(job.etr_at, tz, '%m-%d %H:%M'), source=etr_source)}")
    lines.append(f"- {t('crewpage.dispatched_at', at=local_time(job.assigned_at, tz, '%H:%M'))}")
    st.markdown(f"**{t('crewpage.clocks')}**")
    st.markdown("\n".join(lines))


def ask(pending: Pending) -> None:
    st.session_state[PENDING] = pending
    st.session_state.pop(OUTCOME, None)
    st.rerun()


def actions(actor: Actor, job: queries.CrewJob, tz: ZoneInfo, done_at: datetime | None) -> None:
    device = plain(job.device_code)
    named = {"id": job.outage_id, "device": device}
    late = {"late": t("crewpage.late.suffix", at=local_time(done_at, tz, "%m-%d %H:%M")) if done_at else ""}

    def propose(step: str, command: object, question: str) -> None:
        ask(Pending(command, question, job.outage_id, device, step, job.assignment_id))

    a = job.assignment_id
    command: object
    if job.acknowledged_at is None and st.button(
        t("crewpage.accept"), type="primary", width="stretch", key=f"crewpage-accept-{a}"
    ):
        command = commands.AcceptJob(a, job.version, step_key(a, "accept"), done_at)
        propose("accept", command, t("crewpage.ask.accept", **named, **late))
    if job.status == "dispatched" and st.button(
        t("crewpage.en_route"), type="primary", width="stretch", key=f"crewpage-enroute-{a}"
    ):
        command = commands.CrewEnRoute(a, job.version, step_key(a, "en_route"), done_at)
        propose("en_route", command, t("crewpage.ask.en_route", **named, **late))
    if job.status in ("dispatched", "en_route") and st.button(
        t("crewpage.on_site"), type="primary", width="stretch", key=f"crewpage-onsite-{a}"
    ):
        command = commands.CrewOnSite(a, job.version, step_key(a, "on_site"), done_at)
        propose("on_site", command, t("crewpage.ask.on_site", **named, **late))
    with st.expander(t("crewpage.etr_set")):
        now = SYSTEM_CLOCK.now().astimezone(tz)
        default = (job.etr_at.astimezone(tz) if job.etr_at else now + timedelta(hours=2)).replace(
            second=0, microsecond=0
        )
        day = st.date_input(t("etr.day"), value=default.date(), key=f"crewpage-etr-day-{a}")
        at = st.time_input(
            t("etr.time"), value=default.time(), step=timedelta(minutes=15), key=f"crewpage-etr-time-{a}"
        )
        # Labels fixed at this run: a format function is also called between runs, in no language.
        confidences = {c: t(f"confidence.{c}") for c in ("high", "medium", "low")}
        confidence = st.radio(
            t("etr.confidence"),
            list(confidences),
            index=0,
            horizontal=True,
            format_func=confidences.__getitem__,
            key=choice_key(f"crewpage-etr-conf-{a}"),
        )
        if st.button(t("crewpage.etr_send"), width="stretch", key=f"crewpage-etr-{a}"):
            etr_at = datetime.combine(day, at, tzinfo=tz)
            command = commands.CrewSetEtr(a, etr_at, confidence, step_key(a, "etr"))
            propose("etr", command, t("crewpage.ask.etr", etr=local_time(etr_at, tz, "%m-%d %H:%M"), **named))
    with st.expander(t("crewpage.restore")):
        still_out = job.customers_out
        customers = st.number_input(
            t("crewpage.restore_customers"),
            min_value=1,
            max_value=max(still_out, 1),
            value=max(still_out, 1),
            key=f"crewpage-restore-n-{a}",
        )
        if st.button(t("crewpage.restore_send"), width="stretch", key=f"crewpage-restore-{a}"):
            whole = customers >= still_out
            command = commands.CrewRestore(
                a, None if whole else int(customers), step_key(a, "restore"), done_at
            )
            key = "crewpage.ask.restore" if whole else "crewpage.ask.restore_step"
            propose("restore", command, t(key, n=int(customers), **named, **late))
    with st.expander(t("crewpage.request")):
        kinds = {"help": t("crewpage.request_kind.help"), "materials": t("crewpage.request_kind.materials")}
        kind = st.radio(
            t("crewpage.request_kind"),
            list(kinds),
            horizontal=True,
            format_func=kinds.__getitem__,
            key=choice_key(f"crewpage-request-kind-{a}"),
        )
        text = st.text_area(t("crewpage.request_text"), max_chars=2000, key=f"crewpage-request-text-{a}")
        if st.button(t("crewpage.request_send"), width="stretch", key=f"crewpage-request-{a}"):
            if not text.strip():
                st.warning(t("crewpage.request_empty"))
            else:
                command = commands.RequestSupport(a, kind, text, step_key(a, "request"), done_at)
                kind_words = t(f"crewpage.request_kind.{kind}")
                propose("request", command, t("crewpage.ask.request", kind=kind_words, **named, **late))
    with st.expander(t("crewpage.handover")):
        note = st.text_area(t("crewpage.handover_note"), max_chars=1000, key=f"crewpage-handover-note-{a}")
        if st.button(t("crewpage.handover_send"), width="stretch", key=f"crewpage-handover-{a}"):
            if not note.strip():
                st.warning(t("crewpage.handover_empty"))
            else:
                command = commands.HandOver(a, note, job.version, step_key(a, "handover"), done_at)
                propose("handover", command, t("crewpage.ask.handover", **named, **late))


def requests(job: queries.CrewJob, tz: ZoneInfo) -> None:
    for request in job.requests:
        asked = t(
            "crewpage.request_line",
            kind=t(f"crewpage.request_kind.{request.kind}"),
            at=local_time(request.done_at, tz, "%H:%M"),
            text=plain(request.text),
        )
        if request.answered_at is None:
            st.info(f"{asked}\n\n{t('crewpage.request_waiting')}")
        else:
            answer = t(
                "crewpage.request_answer",
                by=plain(request.answered_by or "—"),
                at=local_time(request.answered_at, tz, "%H:%M"),
                answer=plain(request.answer or ""),
            )
            st.success(f"{asked}\n\n{answer}")


# --- asking, doing, saying what happened ------------------------------------------------------------


def show_outcome() -> None:
    outcome = st.session_state.get(OUTCOME)
    if outcome:
        kind, message = outcome
        (st.success if kind == "ok" else st.error)(message)


def confirmation(actor: Actor, tz: ZoneInfo) -> None:
    pending: Pending | None = st.session_state.get(PENDING)
    if pending is None:
        return
    with st.container(border=True):
        st.warning(pending.question)
        # The Yes button's key is the step's key: a second tap on it is the same step, never a new one.
        command_key = getattr(pending.command, "key", "")
        if st.button(t("action.yes"), type="primary", width="stretch", key=f"crewpage-yes-{command_key}"):
            st.session_state.pop(PENDING, None)
            st.session_state[OUTCOME] = perform(actor, pending, tz)
            # The console's shared board is dropped, so the next look there shows this step.
            services.forget_staff_layers()
            st.rerun()
        if st.button(t("action.no"), width="stretch", key=f"crewpage-no-{command_key}"):
            st.session_state.pop(PENDING, None)
            st.rerun()


def perform(actor: Actor, pending: Pending, tz: ZoneInfo) -> tuple[str, str]:
    try:
        outcome: commands.FieldOutcome = execute(services.context(actor), pending.command)
    except EmergencyError as error:  # a stale screen, a step out of order, a bad time: said, nothing done
        return (
            "error",
            t("crewpage.refused", id=pending.outage_id, device=pending.device, reason=plain(str(error))),
        )
    _done(pending)
    return ("ok", outcome_text(pending, outcome, tz))


def outcome_text(pending: Pending, outcome: commands.FieldOutcome, tz: ZoneInfo) -> str:
    named = {"id": pending.outage_id, "device": pending.device}
    words = {
        "accept": t("crewpage.done.accept", **named),
        "en_route": t("crewpage.done.en_route", **named),
        "on_site": t("crewpage.done.on_site", **named),
        "etr": t("crewpage.done.etr", etr=local_time(outcome.etr_at, tz, "%m-%d %H:%M"), **named),
        "restore": t("crewpage.done.restore", **named),
        "restore_step": t("crewpage.done.restore_step", n=outcome.customers, left=outcome.still_out, **named),
        "handover": t("crewpage.done.handover", **named),
        "request_help": t("crewpage.done.request", kind=t("crewpage.request_kind.help"), **named),
        "request_materials": t("crewpage.done.request", kind=t("crewpage.request_kind.materials"), **named),
    }[outcome.step]
    if outcome.done_at is not None:
        words += " " + t(
            "crewpage.done.late",
            done=local_time(outcome.done_at, tz, "%m-%d %H:%M"),
            recorded=local_time(outcome.recorded_at, tz, "%H:%M"),
        )
    if outcome.replayed:
        words = t("crewpage.done.replayed", at=local_time(outcome.recorded_at, tz, "%H:%M")) + " " + words
    return words
