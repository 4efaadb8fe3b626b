"""The audit trail (managers and administrators): filter, page newest first, read a change, download."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

import streamlit as st

from dashboard import services
from dashboard.choices import choice_key
from dashboard.i18n import local_time, shown_value, t
from dashboard.markdown_text import plain
from dashboard.selection import id_at, table_key
from dashboard.session import require_role
from emergency.app.bus import execute
from emergency.app.commands.reporting import ExportAuditTrail
from emergency.app.queries import reporting as queries
from emergency.core.errors import EmergencyError
from emergency.core.models import Role
from emergency.reporting import audit_log as audit_query
from emergency.reporting.audit_log import AuditFilter, AuditRow

FILTER_KEY = "audit-filter"
# The `before_id` of each page shown so far (None for the newest), so "Newer" can go back.
CURSORS_KEY = "audit-cursors"
AUDIT_CHOSEN_KEY = "audit-chosen-event"
ROLES = ["", "dispatcher", "manager", "admin", "system", "public", "intake", "crew_position"]

actor = require_role(Role.MANAGER, Role.ADMIN)
# The changes and the detail get the room: a change names its fields and both values, and was cut
# off after a few words (at the right edge, behind six columns). The rest are codes and times.
AUDIT_COLUMNS_PX = {
    t("audit.col.at"): st.column_config.Column(width=140),
    t("audit.action"): st.column_config.Column(width=120),
    t("audit.entity"): st.column_config.Column(width=80),
    t("audit.entity_id"): st.column_config.Column(width=60),
    t("audit.col.changes"): st.column_config.Column(width=420),
    t("audit.col.detail"): st.column_config.Column(width=260),
}
ctx = services.context(actor)
tz = ctx.tz

st.title(t("audit.title"))
st.caption(t("audit.intro"))


def day_start(day: date | None) -> datetime | None:
    """Midnight of a local calendar day, in UTC."""
    return None if day is None else datetime.combine(day, time(), tzinfo=tz).astimezone(UTC)


def role_label(role: str) -> str:
    return t("audit.any") if not role else t(f"role.{role}")


with st.form("audit-filters"):
    since_col, until_col, actor_col, role_col = st.columns(4)
    since_day = since_col.date_input(
        t("audit.since"), value=None, format="YYYY-MM-DD", key="audit-filters-since-day"
    )
    until_day = until_col.date_input(
        t("audit.until"), value=None, format="YYYY-MM-DD", key="audit-filters-until-day"
    )
    who = actor_col.text_input(t("audit.actor"), max_chars=64, key="audit-filters-who")
    role = role_col.selectbox(
        t("login.role"), ROLES, format_func=role_label, key=choice_key("audit-filters-role")
    )
    action_col, entity_col, entity_id_col, text_col = st.columns(4)
    action = action_col.text_input(
        t("audit.action"), max_chars=64, help=t("audit.action_help"), key="audit-filters-action"
    )
    entity = entity_col.text_input(
        t("audit.entity"), max_chars=32, help=t("audit.entity_help"), key="audit-filters-entity"
    )
    entity_id = entity_id_col.text_input(t("audit.entity_id"), max_chars=64, key="audit-filters-entity-id")
    text = text_col.text_input(
        t("audit.text"), max_chars=audit_query.MAX_FILTER_CHARS, key="audit-filters-text"
    )
    if st.form_submit_button(t("audit.apply"), type="primary"):
        st.session_state[FILTER_KEY] = AuditFilter(
            since=day_start(since_day),
            until=day_start(until_day + timedelta(days=1)) if until_day else None,
            actor=who,
            role=role or None,
            action=action,
            entity=entity,
            entity_id=entity_id,
            text=text,
        )
        st.session_state[CURSORS_KEY] = [None]

wanted: AuditFilter = st.session_state.get(FILTER_KEY, AuditFilter())
cursors: list[int | None] = st.session_state.setdefault(CURSORS_KEY, [None])

try:
    trail = queries.audit_trail(ctx, wanted, before_id=cursors[-1])
except EmergencyError as error:
    st.error(t("action.refused", reason=plain(str(error))))
    st.stop()
total, page = trail.total, trail.page

if total >= audit_query.COUNT_CAP:
    st.markdown(t("audit.count_many", n=f"{audit_query.COUNT_CAP:,}"))
else:
    st.markdown(t("audit.count", n=f"{total:,}"))


def changes_text(row: AuditRow) -> str:
    """`field: before → after` per change, moments in local time (the trail stores UTC)."""
    return "; ".join(
        f"{c.field}: {shown_value(c.before, tz)} → {shown_value(c.after, tz)}" for c in row.changes
    )


def table(rows: list[AuditRow]) -> list[dict[str, str]]:
    return [
        {
            # What happened to what, then its changes, in view at 1366 px; who, then the detail.
            t("audit.col.at"): local_time(r.at, tz, "%Y-%m-%d %H:%M:%S"),
            t("audit.action"): r.action,
            t("audit.entity"): r.entity,
            t("audit.entity_id"): r.entity_id or "",
            t("audit.col.changes"): changes_text(r),
            t("audit.actor"): r.actor,
            t("login.role"): role_label(r.role),
            t("audit.col.detail"): r.detail or "",
        }
        for r in rows
    ]


if page.rows:
    ids = [r.id for r in page.rows]
    chosen = st.session_state.get(AUDIT_CHOSEN_KEY)
    shown = st.dataframe(
        table(page.rows),
        hide_index=True,
        width="stretch",
        on_select="rerun",
        selection_mode="single-row",
        column_config=AUDIT_COLUMNS_PX,
        # Keyed by the events it lists: new events push rows down, and an old position must
        # never open another event (dashboard.selection); the chosen event stays selected.
        selection_default={"selection": {"rows": [ids.index(chosen)]}} if chosen in ids else None,
        key=table_key("audit-table", ids, chosen),
    )
    newer, where, older = st.columns([1, 2, 1])
    if newer.button(t("audit.newer"), disabled=len(cursors) == 1, width="stretch"):
        cursors.pop()
        st.rerun()
    where.caption(t("audit.page", n=len(cursors)))
    if older.button(t("audit.older"), disabled=page.next_before_id is None, width="stretch"):
        cursors.append(page.next_before_id)
        st.rerun()

    picked = st.session_state[AUDIT_CHOSEN_KEY] = id_at(ids, shown.selection.rows)
    if picked is not None:
        event = next(r for r in page.rows if r.id == picked)
        st.subheader(t("audit.event", id=event.id, action=event.action))
        changes = event.changes
        if changes:
            st.dataframe(
                [
                    {
                        t("audit.field"): c.field,
                        t("audit.before"): "" if c.before is None else shown_value(c.before, tz),
                        t("audit.after"): "" if c.after is None else shown_value(c.after, tz),
                    }
                    for c in changes
                ],
                hide_index=True,
                width="stretch",
            )
        else:
            st.caption(t("audit.no_changes"))
    else:
        st.caption(t("audit.pick"))
else:
    st.info(t("audit.none"))


def csv_download() -> bytes:
    data: bytes = execute(ctx, ExportAuditTrail(wanted))
    return data


st.download_button(
    t("audit.download", n=f"{audit_query.MAX_EXPORT_ROWS:,}"),
    data=csv_download,
    file_name=f"audit-{ctx.clock.now().astimezone(tz):%Y%m%d-%H%M}.csv",
    mime="text/csv",
    disabled=not page.rows,
    icon=":material/download:",
)
