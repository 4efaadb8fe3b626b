"""The damage-assessment form, phone first: one column, big inputs, photos from the camera.

The crew page calls `render_assessment_form(ctx, outage_id, crew_id)` for the crew's current job; a
dispatcher may use it too. Everything goes through `FileAssessment`: limits are shown before they
refuse (`max_chars`, the photo count and size), and a refusal says why, with nothing kept.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from datetime import datetime, time

import streamlit as st

from dashboard.choices import choice_key
from dashboard.i18n import choose_placeholder, local_time, t
from dashboard.markdown_text import plain
from dashboard.uploads import upload_boxes
from emergency.app.bus import execute
from emergency.app.commands.assessment import FileAssessment
from emergency.app.context import Context
from emergency.app.queries import assessment as queries
from emergency.core.errors import EmergencyError
from emergency.dispatch.assessment import Filed

PHOTO_TYPES = ["jpg", "jpeg", "png", "heic", "heif"]


def _labels(prefix: str, values: Sequence[str]) -> Callable[[str], str]:
    """Labels made now, in the page's language: a widget may format its options outside this run."""
    return {value: t(f"{prefix}.{value}") for value in values}.__getitem__


def render_assessment_form(ctx: Context, outage_id: int, crew_id: int | None) -> None:
    """Draw the form for `outage_id` (filed for `crew_id`, or the signed-in leader's own crew)."""
    limits = queries.form_limits(ctx)
    # A new form (empty) after each filing; after a refusal the same form, with what was typed.
    generation_key = f"dmg-{outage_id}-generation"
    key = f"dmg-{outage_id}-{st.session_state.get(generation_key, 0)}"
    outcome_key = f"dmg-{outage_id}-outcome"
    st.subheader(t("dmg.form.title", id=outage_id))
    st.caption(t("dmg.form.help"))
    said = st.session_state.pop(outcome_key, None)
    if said is not None:
        for level, text in said:
            getattr(st, level)(text)
    with st.form(key, clear_on_submit=False, border=True):
        cause = st.selectbox(
            t("dmg.cause"),
            limits.causes,
            format_func=_labels("dmg.cause", limits.causes),
            key=choice_key(f"{key}-cause"),
        )
        equipment = st.multiselect(
            t("dmg.equipment"),
            limits.equipment,
            format_func=_labels("dmg.equipment", limits.equipment),
            placeholder=choose_placeholder(),
            key=choice_key(f"{key}-equipment"),
        )
        poles = st.number_input(t("dmg.poles_down"), 0, limits.max_count, 0, step=1, key=f"{key}-poles")
        spans = st.number_input(t("dmg.spans_down"), 0, limits.max_count, 0, step=1, key=f"{key}-spans")
        hours_col, minutes_col = st.columns(2)
        hours = hours_col.number_input(
            t("dmg.repair_hours"), 0, limits.max_repair_minutes // 60, 0, step=1, key=f"{key}-hours"
        )
        minutes = minutes_col.number_input(t("dmg.repair_minutes"), 0, 59, 0, step=5, key=f"{key}-minutes")
        crews = st.number_input(t("dmg.crews_needed"), 0, limits.max_count, 0, step=1, key=f"{key}-crews")
        access = st.text_area(
            t("dmg.access"), max_chars=limits.max_access_chars, height=80, key=f"{key}-access"
        )
        materials = st.text_area(
            t("dmg.materials"), max_chars=limits.max_materials_chars, height=80, key=f"{key}-materials"
        )
        notes = st.text_area(t("dmg.notes"), max_chars=limits.max_notes_chars, height=100, key=f"{key}-notes")
        offline = st.checkbox(t("dmg.offline"), key=f"{key}-offline")
        now = ctx.clock.now().astimezone(ctx.tz)
        day_col, time_col = st.columns(2)
        day = day_col.date_input(t("dmg.done_day"), now.date(), key=f"{key}-day")
        at = time_col.time_input(t("dmg.done_time"), time(now.hour, now.minute), step=60, key=f"{key}-at")
        photos = upload_boxes(
            t("dmg.photos"),
            PHOTO_TYPES,
            # The browser refuses a larger file at once, saying the limit; the service checks again.
            limit_mb=max(math.ceil(limits.photo_max_bytes / 1_048_576), 1),
        )
        st.caption(t("dmg.photos_help", n=limits.max_photos, mb=limits.photo_max_bytes // 1_048_576))
        sent = st.form_submit_button(t("dmg.submit", id=outage_id), type="primary", width="stretch")
    if not sent:
        return
    repair = int(hours) * 60 + int(minutes)
    if repair <= 0:
        st.session_state[outcome_key] = [("error", t("dmg.no_repair"))]
        st.rerun()
    command = FileAssessment(
        outage_id=outage_id,
        cause=str(cause),
        repair_minutes=repair,
        equipment=tuple(equipment),
        poles_down=int(poles),
        spans_down=int(spans),
        access=access or None,
        crews_needed=int(crews),
        materials=materials or None,
        notes=notes or None,
        done_at=datetime.combine(day, at, tzinfo=ctx.tz) if offline else None,
        crew_id=crew_id,
        photos=tuple((p.name, p.getvalue()) for p in photos or ()),
    )
    try:
        filed = execute(ctx, command)
    except EmergencyError as error:
        st.session_state[outcome_key] = [("error", t("action.refused", reason=plain(error)))]
    else:
        st.session_state[outcome_key] = outcome_lines(filed, ctx)
        st.session_state[generation_key] = st.session_state.get(generation_key, 0) + 1
    st.rerun()


def outcome_lines(filed: Filed, ctx: Context) -> list[tuple[str, str]]:
    """What filing came to, naming the outage: stored, and what became of its ETR and why."""
    lines = [("success", t("dmg.filed", id=filed.outage_id, photos=filed.photos))]
    etr = filed.etr
    when = local_time(etr.etr_at, ctx.tz) if etr.etr_at else "—"
    if etr.set:
        confidence = t(f"confidence.{etr.confidence}")
        lines.append(("info", t("dmg.etr.set", id=filed.outage_id, etr=when, confidence=confidence)))
    else:
        lines.append(("warning", t(f"dmg.etr.{etr.reason}", id=filed.outage_id, etr=when)))
    return lines
