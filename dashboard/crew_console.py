"""On the dispatcher console, what the crews did from their own page on the selected outage: when
each crew accepted (against its target), how its arrival was recorded, handover notes, and the
requests for help or materials, each with an answer box.

A fragment on its own timer: a crew's acceptance or request changes no outage version, so the
console's panel would not redraw for it; this part reads the database every few seconds itself.
"""

from __future__ import annotations

from zoneinfo import ZoneInfo

import streamlit as st

from dashboard import services
from dashboard.i18n import local_time, t
from dashboard.markdown_text import plain
from emergency.app.bus import execute
from emergency.app.commands.crew_field import AnswerFieldRequest
from emergency.app.queries import crew_field as queries
from emergency.core.actor import Actor
from emergency.core.errors import EmergencyError

REFRESH_SECONDS = 10
OUTCOME = "crew-console-outcome"
SOURCE_WORDS = {
    "gps": "crewpage.source.gps",
    "crew": "crewpage.source.crew",
    "dispatcher": "crewpage.source.dispatcher",
}
KIND_WORDS = {"help": "crewpage.request_kind.help", "materials": "crewpage.request_kind.materials"}


@st.fragment(run_every=REFRESH_SECONDS)
def crews_own_steps(actor: Actor, outage_id: int, tz: ZoneInfo) -> None:
    view = queries.outage_field_view(services.context(actor), outage_id)
    if not view.assignments and not view.requests:
        return
    st.markdown(f"**{t('crewpage.console.title')}**")
    outcome = st.session_state.pop(OUTCOME, None)
    if outcome:
        (st.success if outcome[0] == "ok" else st.error)(outcome[1])
    for line in view.assignments:
        st.caption(assignment_words(line, tz))
        if line.handover_note:
            st.warning(
                t(
                    "crewpage.console.handover",
                    crew=plain(line.crew_code),
                    at=local_time(line.ended_at, tz, "%H:%M"),
                    note=plain(line.handover_note),
                )
            )
    for request in view.requests:
        request_box(actor, request, outage_id, tz)


def assignment_words(line: queries.AssignmentLine, tz: ZoneInfo) -> str:
    if line.acknowledged_at is None:
        accepted = t("crewpage.console.not_accepted", by=local_time(line.acknowledge_deadline, tz, "%H:%M"))
    elif line.acknowledged_at > line.acknowledge_deadline:
        accepted = t(
            "crewpage.console.accepted_late",
            at=local_time(line.acknowledged_at, tz, "%H:%M"),
            by=local_time(line.acknowledge_deadline, tz, "%H:%M"),
        )
    else:
        accepted = t("crewpage.console.accepted", at=local_time(line.acknowledged_at, tz, "%H:%M"))
    words = t(
        "crewpage.console.line",
        crew=plain(line.crew_code),
        status=t(f"crew.{line.status}"),
        accepted=accepted,
    )
    if line.on_site_at is not None and line.on_site_source is not None:
        words += " · " + t(
            "crewpage.console.arrived",
            at=local_time(line.on_site_at, tz, "%H:%M"),
            source=t(SOURCE_WORDS.get(line.on_site_source, "crewpage.source.dispatcher")),
        )
    return words


def request_box(actor: Actor, request: queries.RequestLine, outage_id: int, tz: ZoneInfo) -> None:
    asked = t(
        "crewpage.console.request",
        crew=plain(request.crew_code),
        kind=t(KIND_WORDS.get(request.kind, "crewpage.request_kind.help")),
        at=local_time(request.done_at, tz, "%H:%M"),
        text=plain(request.text),
    )
    if request.answered_at is not None:
        st.success(
            asked
            + "\n\n"
            + t(
                "crewpage.request_answer",
                by=plain(request.answered_by or "—"),
                at=local_time(request.answered_at, tz, "%H:%M"),
                answer=plain(request.answer or ""),
            )
        )
        return
    st.info(asked)
    with st.form(f"crew-request-answer-{request.id}", clear_on_submit=True, border=False):
        answer = st.text_input(t("crewpage.console.answer"), max_chars=500, key=f"crew-answer-{request.id}")
        if st.form_submit_button(t("crewpage.console.answer_send")):
            if not answer.strip():
                st.warning(t("crewpage.console.answer_empty"))
                return
            try:
                execute(services.context(actor), AnswerFieldRequest(request.id, answer, request.version))
            except EmergencyError as error:
                words = ("error", t("crewpage.console.refused", id=outage_id, reason=plain(str(error))))
            else:
                words = ("ok", t("crewpage.console.answered", crew=plain(request.crew_code), id=outage_id))
            st.session_state[OUTCOME] = words
            st.rerun(scope="fragment")
