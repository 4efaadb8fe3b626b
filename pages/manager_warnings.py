"""The manager's warnings console: list, create or import, preview who is in the area, then publish."""

from __future__ import annotations

import re
from datetime import UTC, datetime, time, timedelta
from typing import Any

import folium
import streamlit as st
from streamlit_folium import st_folium

from dashboard import cap_view, maps, services
from dashboard.cap_feeds_panel import new_drafts_banner
from dashboard.choices import choice_key
from dashboard.i18n import choose_placeholder, current_language, local_time, t
from dashboard.markdown_text import plain
from dashboard.outcome import show_outcome
from dashboard.session import require_role
from dashboard.uploads import upload_box
from emergency.app.bus import execute
from emergency.app.commands.warnings import (
    CancelWarning,
    CreateWarning,
    DiscardDraft,
    EditDraft,
    ImportCapAlert,
    IssueWarning,
    UpdateWarning,
)
from emergency.app.queries import warnings as queries
from emergency.core.config import load_settings
from emergency.core.errors import EmergencyError
from emergency.core.models import Hazard, Role, WarningLevel, WarningStatus
from emergency.warnings.area import CircleArea, DistrictsArea, PolygonArea
from emergency.warnings.preview import WarningPreview
from emergency.warnings.records import IN_FORCE, NO_AREA_KIND, WarningInput

SELECTED_KEY = "manager-warning"
OUTCOME_KEY = "manager-warning-outcome"
MARKDOWN_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|<>~$:&])")
LEVEL_COLOURS = {"blue": "#1f5fbf", "yellow": "#e0b400", "orange": "#f28e2b", "red": "#d7191c"}

actor = require_role(Role.MANAGER, Role.ADMIN)
settings = load_settings()
ctx = services.context(actor)
tz = ctx.tz
db_url = ctx.db.url
language = current_language()

st.title(t("mw.title"))
show_outcome(OUTCOME_KEY)
new_drafts_banner(ctx)  # drafts the agencies' CAP feeds made (dashboard/cap_feeds_panel.py)

rows = queries.warning_rows(ctx)
districts = services.territory_base(db_url)["districts"]
district_names = {
    f["properties"]["code"]: f["properties"]["name_zh" if language == "zh" else "name_en"]
    for f in districts["features"]
}


def plain_markdown(text: str) -> str:
    """User text for st.markdown: every markdown (and emoji/icon shortcode) character escaped."""
    return MARKDOWN_SPECIAL.sub(r"\\\1", text)


def done(message: str) -> None:
    st.session_state[OUTCOME_KEY] = ("ok", message)
    st.cache_data.clear()
    st.rerun()


def refused(error: EmergencyError) -> None:
    st.error(t("action.refused", reason=plain(str(error))))


def warning_form(key: str, initial: dict[str, Any] | None) -> WarningInput | None:
    """The fields of a warning; returns what was entered when the form is submitted."""
    first = initial or {}
    with st.form(key):
        left, middle, right = st.columns(3)
        hazards = [h.value for h in Hazard]
        hazard = left.selectbox(
            t("mw.hazard"),
            hazards,
            index=hazards.index(first.get("hazard", "typhoon")),
            format_func=lambda h: t(f"hazard.{h}"),
            key=choice_key(f"{key}-hazard"),
        )
        levels = [v.value for v in WarningLevel]
        # An imported draft whose alert gave no colour level offers none: the manager chooses.
        level = middle.selectbox(
            t("mw.level"),
            levels,
            index=None if first.get("level_needed") else levels.index(first.get("level", "yellow")),
            format_func=lambda v: t(f"level.{v}"),
            placeholder=t("capin.level_to_choose"),
            key=choice_key(f"{key}-level"),
        )
        readiness_options = [None, 1, 2, 3, 4]
        readiness = right.selectbox(
            t("mw.readiness"),
            readiness_options,
            index=readiness_options.index(first.get("readiness")),
            format_func=lambda r: t("mw.readiness_none") if r is None else t("mw.readiness_n", n=r),
            help=t("mw.readiness_help"),
            placeholder=t("mw.readiness_none"),  # a keyed box shows its None choice as the placeholder
            key=choice_key(f"{key}-readiness"),
        )
        title_en = left.text_input(
            t("mw.title_en"), value=first.get("title_en", ""), max_chars=200, key=f"{key}-title-en"
        )
        title_zh = middle.text_input(
            t("mw.title_zh"), value=first.get("title_zh", ""), max_chars=200, key=f"{key}-title-zh"
        )
        start = first.get("effective_at", datetime.now(UTC)).astimezone(tz)
        day = right.date_input(t("mw.effective_day"), value=start.date(), key=f"{key}-day")
        clock_time = right.time_input(
            t("mw.effective_time"), value=time(start.hour, start.minute), key=f"{key}-time"
        )
        # An agency's text is kept whole, however long; what a manager writes stays within 4,000.
        limit = None if first.get("imported") else 4000
        text_en = left.text_area(
            t("mw.text_en"), value=first.get("text_en", ""), max_chars=limit, key=f"{key}-text-en"
        )
        text_zh = middle.text_area(
            t("mw.text_zh"), value=first.get("text_zh", ""), max_chars=limit, key=f"{key}-text-zh"
        )
        hours = right.number_input(
            t("mw.hours"),
            min_value=1,
            max_value=24 * 14,
            value=int(first.get("hours", 24)),
            step=1,
            key=f"{key}-hours",
        )
        st.markdown(f"**{t('mw.area')}**")
        kinds = ["districts", "circle", "polygon"]
        area_kind = st.radio(
            t("mw.area_kind"),
            kinds,
            horizontal=True,
            format_func=lambda k: t(f"mw.area.{k}"),
            index=kinds.index(first.get("area_kind", "districts")) if first.get("area_kind") in kinds else 0,
            key=choice_key(f"{key}-area-kind"),
        )
        chosen = st.multiselect(
            t("mw.districts_pick"),
            list(district_names),
            default=first.get("districts", []),
            format_func=lambda c: f"{c} {district_names.get(c, '')}",
            placeholder=choose_placeholder(),
            key=choice_key(f"{key}-chosen"),
        )
        c1, c2, c3 = st.columns(3)
        circle = first.get("circle") or {}
        lon = c1.number_input(
            t("mw.lon"), value=float(circle.get("lon", 0.0)), format="%.5f", key=f"{key}-lon"
        )
        lat = c2.number_input(
            t("mw.lat"), value=float(circle.get("lat", 0.0)), format="%.5f", key=f"{key}-lat"
        )
        radius = c3.number_input(
            t("mw.radius"), min_value=0.0, value=float(circle.get("radius_km", 10.0)), key=f"{key}-radius"
        )
        upload = upload_box(t("mw.area.polygon"), ["geojson", "json"], key=f"{key}-geojson")
        if not st.form_submit_button(t("mw.save"), type="primary"):
            return None
    effective = datetime.combine(day, clock_time, tzinfo=tz).astimezone(UTC)
    if area_kind == "districts":
        area: Any = DistrictsArea(tuple(chosen))
    elif area_kind == "circle":
        area = CircleArea(lon, lat, radius)
    else:
        area = PolygonArea(upload.getvalue().decode("utf-8", errors="replace") if upload else "")
    return WarningInput(
        hazard=hazard,
        level=level or "",
        readiness_level=readiness,
        title_en=title_en,
        title_zh=title_zh,
        text_en=text_en,
        text_zh=text_zh,
        area=area,
        effective_at=effective,
        expires_at=effective + timedelta(hours=int(hours)),
    )


@st.cache_data(ttl=60, show_spinner=False, max_entries=16)
def area_preview(db_url: str, warning_id: int, version: int) -> WarningPreview:
    """Cached per warning version: a preview over a large territory is worth keeping a minute."""
    return queries.warning_preview(ctx, warning_id)


def area_map(area: dict[str, Any], level: str) -> folium.Map | None:
    extent = services.territory_base(db_url)["extent"]
    if extent is None:
        return None
    fmap = maps.base_map(
        extent.centre, ((extent.south, extent.west), (extent.north, extent.east)), settings.tiles, 460
    )
    maps.district_layer(districts, language).add_to(fmap)
    colour = LEVEL_COLOURS.get(level, "#d7191c")
    folium.GeoJson(
        {
            "type": "Feature",
            "geometry": {"type": area["type"], "coordinates": area["coordinates"]},
            "properties": {},
        },
        name="warning-area",
        style_function=lambda _f: {"color": colour, "weight": 2.5, "fillColor": colour, "fillOpacity": 0.25},
        control=False,
    ).add_to(fmap)
    return fmap


# --- the list -----------------------------------------------------------------------------------

# An empty table says nothing; the first tab says there are no warnings yet.
if rows:
    st.dataframe(
        [
            {
                t("mw.col.id"): r.id,
                t("mw.col.status"): t(f"wstatus.{r.status}"),
                t("mw.col.level"): cap_view.shown_level(r),
                t("mw.hazard"): t(f"hazard.{r.hazard}"),
                t("mw.col.title"): cap_view.shown_title(r, language),
                t("mw.col.readiness"): r.readiness or "—",
                t("mw.col.disaster"): r.disaster_mode,
                t("mw.col.districts"): ", ".join(r.districts),
                t("mw.col.effective"): local_time(r.effective_at, tz),
                t("mw.col.expires"): local_time(r.expires_at, tz),
            }
            for r in rows
        ],
        hide_index=True,
        width="stretch",
    )

tab_view, tab_new, tab_import = st.tabs([t("mw.tab.view"), t("mw.tab.new"), t("mw.tab.import")])

with tab_new:
    entered = warning_form("new-warning", None)
    if entered is not None:
        try:
            new_id = execute(ctx, CreateWarning(entered))
        except EmergencyError as error:
            refused(error)
        else:
            st.session_state[SELECTED_KEY] = new_id
            done(t("mw.created", id=new_id))

with tab_import:
    st.caption(t("mw.import_help"))
    uploaded = upload_box(t("mw.import_file"), ["xml", "cap"], key="cap-upload")
    allow_test = st.checkbox(t("capin.allow_test"), key="cap-allow-test")
    if uploaded is not None and st.button(t("mw.import"), type="primary"):
        try:
            outcome = execute(
                ctx,
                ImportCapAlert(uploaded.getvalue(), allow_test=allow_test, origin=f"upload:{uploaded.name}"),
            )
        except EmergencyError as error:
            refused(error)
        else:
            st.session_state[SELECTED_KEY] = outcome.warning_id
            if outcome.kind == "created":
                done(t("mw.imported", id=outcome.warning_id))
            else:  # an agency's Update or Cancel of a draft or warning made from an earlier message
                done(t(f"capin.outcome.{outcome.kind}", id=outcome.warning_id))
    cap_view.geocode_table(ctx, district_names, done, refused)

with tab_view:
    if not rows:
        st.info(t("mw.none"))
        st.stop()
    ids = [r.id for r in rows]
    if st.session_state.get(SELECTED_KEY) not in ids:
        st.session_state[SELECTED_KEY] = ids[0]
    by_id = {r.id: r for r in rows}
    selected = st.selectbox(
        t("mw.select"),
        ids,
        key=choice_key(SELECTED_KEY),
        format_func=lambda i: (
            f"#{i} {t('wstatus.' + by_id[i].status)}: {cap_view.shown_title(by_id[i], language)}"
        ),
    )
    row = by_id[selected]
    current = queries.warning_detail(ctx, selected)
    area = dict(current.area)
    form_initial = {
        "hazard": row.hazard,
        "level": row.level,
        "readiness": row.readiness,
        "title_en": current.row.title_en,
        "title_zh": current.row.title_zh,
        "text_en": current.text_en,
        "text_zh": current.text_zh,
        "effective_at": current.row.effective_at,
        "level_needed": "level" in row.needs,
        "imported": row.source == "cap_import",
        "hours": max(round((current.row.expires_at - current.row.effective_at).total_seconds() / 3600), 1),
        "area_kind": current.area_kind,
        "districts": list(row.districts),
        "circle": area.get("circle"),
    }
    revisions = [(r.at, r.by, r.status, r.msg_type, r.identifier, r.note) for r in current.revisions]
    words = [t("hazard." + row.hazard), cap_view.shown_level(row), t("wstatus." + row.status)]
    if row.disaster_mode:
        words.append(f"**{t('mw.disaster_on')}**")
    # The title is user text: shown as plain text, never interpreted as markdown or HTML.
    st.markdown("### " + plain_markdown(cap_view.shown_title(row, language)))
    st.markdown(" · ".join(words))
    cap_view.needs_box(row)
    if row.status == WarningStatus.DRAFT and row.source == "cap_import":
        cap_view.level_chooser(ctx, row, done, refused)
    cap_view.provenance(ctx, selected, tz, expanded=row.status == WarningStatus.DRAFT)
    if row.status not in (WarningStatus.DRAFT, WarningStatus.DISCARDED):  # never published: no CAP message
        cap_url = f"/api/warnings/{selected}.cap.xml"
        st.markdown(f"[{t('mw.cap_link')}]({cap_url}) · [{t('mw.feed_link')}](/api/warnings.cap.xml)")

    # An imported draft whose area is not known here has nothing to preview until it is given.
    seen = None if current.area_kind == NO_AREA_KIND else area_preview(db_url, selected, row.version)
    if seen is not None:
        m1, m2, m3, m4, m5 = st.columns(5)
        m1.metric(t("mw.customers"), f"{seen.customers:,}")
        m2.metric(t("mw.important"), len(seen.important_users))
        m3.metric(t("mw.crews_inside"), len(seen.crews_inside))
        m4.metric(t("mw.crews_near", km=f"{seen.near_km:g}"), len(seen.crews_near))
        m5.metric(t("mw.outages"), len(seen.outages))
        st.caption(t("mw.area_size", km2=f"{seen.area_km2:,.0f}", districts=", ".join(row.districts)))

        fmap = area_map(area, row.level)
        left, right = st.columns([3, 2])
        with left:
            if fmap is not None:
                st_folium(
                    fmap, height=460, width="stretch", returned_objects=[], key=f"warning-map-{selected}"
                )
        with right:
            st.markdown(f"**{t('mw.by_grade')}**")
            st.dataframe(
                [
                    {t("important.grade"): t(f"grade.{g}"), t("mw.count"): n}
                    for g, n in seen.important_by_grade.items()
                ],
                hide_index=True,
                width="stretch",
            )
            st.markdown(f"**{t('mw.by_district')}**")
            st.dataframe(
                [
                    {t("mw.col.districts"): f"{code} {zh if language == 'zh' else en}", t("mw.customers"): n}
                    for code, en, zh, n in seen.customers_by_district
                ],
                hide_index=True,
                width="stretch",
            )
        st.markdown(f"**{t('mw.important_users')}**")
        st.dataframe(
            [
                {
                    t("important.name"): u.name,
                    t("important.grade"): t(f"grade.{u.grade}"),
                    t("important.kind"): t(f"customer_kind.{u.kind}"),
                    t("important.backup"): u.backup_hours,
                    t("important.contact"): " ".join(filter(None, [u.contact_name, u.contact_phone])),
                    t("mw.col.districts"): u.district_code,
                }
                for u in seen.important_users
            ],
            hide_index=True,
            width="stretch",
        )
        crews_col, outages_col = st.columns(2)
        crews_col.markdown(f"**{t('mw.crews')}**")
        crews_col.dataframe(
            [
                {
                    t("crew.col.crew"): c.code,
                    t("crew.col.kind"): t(f"mw.crewkind.{c.kind}"),
                    t("mw.crew_status"): t(f"crew.{c.status}"),
                    t("mw.distance"): c.distance_km,
                }
                for c in (*seen.crews_inside, *seen.crews_near)
            ],
            hide_index=True,
            width="stretch",
        )
        outages_col.markdown(f"**{t('mw.outages')}**")
        outages_col.dataframe(
            [
                {
                    "#": o.outage_id,
                    t("mw.col.status"): t(f"state.{o.state}"),
                    t("mw.col.districts"): o.district_code,
                    t("mw.customers"): o.customers_out,
                    t("mw.important"): o.important,
                }
                for o in seen.outages
            ],
            hide_index=True,
            width="stretch",
        )

    st.subheader(t("mw.actions"))
    if row.status == WarningStatus.DRAFT:
        edit_col, issue_col = st.columns([3, 1])
        with edit_col.expander(t("mw.edit")):
            edited = warning_form(f"edit-{selected}-v{row.version}", form_initial)
            if edited is not None:
                try:
                    execute(ctx, EditDraft(selected, row.version, edited))
                except EmergencyError as error:
                    refused(error)
                else:
                    done(t("mw.saved", id=selected))
        sure = issue_col.checkbox(
            t("mw.issue_confirm", n=f"{seen.customers if seen else 0:,}"), key=f"issue-sure-{selected}"
        )
        if issue_col.button(t("mw.issue"), type="primary", disabled=not sure, key=f"issue-{selected}"):
            try:
                result = execute(ctx, IssueWarning(selected, row.version))
            except EmergencyError as error:
                refused(error)
            else:
                done(t("mw.issued", notices=f"{result.notices_queued:,}", outreach=result.outreach_added))
        # A draft was never published: it is thrown away, not "cancelled" (which would read as a
        # withdrawal to the public and ask for a reason nobody needs).
        if issue_col.button(t("mw.discard"), help=t("mw.discard_help"), key=f"discard-{selected}"):
            try:
                execute(ctx, DiscardDraft(selected, row.version))
            except EmergencyError as error:
                refused(error)
            else:
                done(t("mw.discarded", id=selected))
    elif row.status in IN_FORCE:
        with st.expander(t("mw.update")):
            updated = warning_form(f"update-{selected}-v{row.version}", form_initial)
            if updated is not None:
                try:
                    result = execute(ctx, UpdateWarning(selected, row.version, updated))
                except EmergencyError as error:
                    refused(error)
                else:
                    done(
                        t("mw.updated", notices=f"{result.notices_queued:,}", outreach=result.outreach_added)
                    )
    if row.status in IN_FORCE:
        with st.form(f"cancel-{selected}"):
            reason = st.text_input(t("mw.cancel_reason"), max_chars=500, key=f"cancel-{selected}-reason")
            if st.form_submit_button(t("mw.cancel")):
                try:
                    execute(ctx, CancelWarning(selected, row.version, reason))
                except EmergencyError as error:
                    refused(error)
                else:
                    done(t("mw.cancelled", id=selected))

    st.subheader(t("mw.history"))
    st.dataframe(
        [
            {
                t("report.time"): local_time(at, tz),
                t("mw.by"): by,
                t("mw.col.status"): t(f"wstatus.{status}"),
                "CAP": msg_type,
                t("mw.identifier"): identifier,
                t("mw.note"): note or "",
            }
            for at, by, status, msg_type, identifier, note in revisions
        ],
        hide_index=True,
        width="stretch",
    )
