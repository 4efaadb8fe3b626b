"""The control room's read-only view of an outage's damage assessments, newest (the one that counts)
first, with photos and their EXIF (staff only: this view is never on a public page)."""

from __future__ import annotations

import streamlit as st

from dashboard.i18n import local_time, t
from dashboard.markdown_text import plain
from emergency.app.context import Context
from emergency.app.queries import assessment as queries
from emergency.app.queries.assessment import AssessmentView, PhotoView


def repair_text(minutes: int) -> str:
    return t("dmg.hours_minutes", h=minutes // 60, m=minutes % 60)


def render_assessments(ctx: Context, outage_id: int) -> None:
    """Every assessment of `outage_id`; the newest is open, the older ones folded."""
    st.markdown(f"**{t('dmg.view.title')}**")
    found = queries.outage_assessments(ctx, outage_id)
    if not found:
        st.caption(t("dmg.view.none"))
        return
    for i, a in enumerate(found):
        with st.expander(heading(a, ctx, newest=i == 0), expanded=i == 0):
            assessment_body(a, ctx)


def heading(a: AssessmentView, ctx: Context, *, newest: bool) -> str:
    crew = t("dmg.view.crew", code=plain(a.crew_code)) if a.crew_code else ""
    text = t(
        "dmg.view.heading",
        done=local_time(a.done_at, ctx.tz, "%m-%d %H:%M"),
        cause=t(f"dmg.cause.{a.cause}"),
        repair=repair_text(a.repair_minutes),
        by=plain(a.by),
        crew=crew,
    )
    return text + (t("dmg.view.current") if newest else "")


def assessment_body(a: AssessmentView, ctx: Context) -> None:
    st.caption(t("dmg.view.recorded", done=local_time(a.done_at, ctx.tz), at=local_time(a.at, ctx.tz)))
    st.write(t("dmg.view.counts", poles=a.poles_down, spans=a.spans_down, crews=a.crews_needed))
    if a.equipment:
        st.write(f"{t('dmg.equipment')}: " + ", ".join(t(f"dmg.equipment.{e}") for e in a.equipment))
    # Typed on a phone in the field: shown as text, never as Markdown or HTML.
    for label, value in (
        (t("dmg.access"), a.access),
        (t("dmg.materials"), a.materials),
        (t("dmg.notes"), a.notes),
    ):
        if value:
            st.text(f"{label}: {value}")
    for photo in a.photos:
        st.image(photo.data, caption=plain(photo.filename), width="stretch")
        st.caption(exif_text(photo))


def exif_text(photo: PhotoView) -> str:
    exif = photo.exif
    position = (
        f"{exif['gps_lat']:.5f}, {exif['gps_lon']:.5f}" if "gps_lat" in exif and "gps_lon" in exif else "—"
    )
    camera = " ".join(str(exif[k]) for k in ("Make", "Model") if exif.get(k)) or "—"
    return t(
        "dmg.view.exif",
        name=plain(photo.filename),
        taken=plain(str(exif.get("taken_at") or "—")),
        camera=plain(camera),
        position=position,
    )
