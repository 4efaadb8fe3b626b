"""Mutual-aid crews (dispatchers and managers): import a lender's roster, the crews by company with
their staging site, check-in and release, and one-time sign-in links for their leaders."""

from __future__ import annotations

from datetime import datetime, time
from urllib.parse import urlsplit

import pandas as pd
import streamlit as st

from dashboard import outcome, services
from dashboard.choices import choice_key
from dashboard.i18n import choose_placeholder, local_time, t
from dashboard.markdown_text import plain
from dashboard.outcome import show_outcome
from dashboard.session import require_role
from dashboard.uploads import upload_box
from emergency.app.bus import execute
from emergency.app.commands.mutual_aid import CheckInCrews, CreateCrewLink, ImportRoster, ReleaseCrews
from emergency.app.queries import mutual_aid as queries
from emergency.core.errors import EmergencyError
from emergency.core.models import Role
from emergency.dispatch import mutual_aid as rules
from emergency.dispatch.mutual_aid import CheckIn, MutualAidCrew, ReleaseResult, RosterResult

OUTCOME_KEY = "mutual-aid-outcome"
PROBLEMS_KEY = "mutual-aid-problems"

# Written out, so every key is found where it is used.
KIND_KEYS = {
    "line": "ma.kind.line",
    "cable": "ma.kind.cable",
    "tree": "ma.kind.tree",
    "assessment": "ma.kind.assessment",
    "mutual_aid": "ma.kind.mutual_aid",
}

actor = require_role(Role.DISPATCHER, Role.MANAGER)
ctx = services.context(actor)


def crew_label(crew: MutualAidCrew) -> str:
    return f"{crew.code} · {crew.leader_name}" if crew.leader_name else crew.code


def status_label(crew: MutualAidCrew) -> str:
    if crew.released_at is not None:
        return t("ma.state.released")
    if crew.checked_in_at is None:
        return t("ma.state.expected")
    return t(f"crew.{crew.status}")


def roster_outcome(result: RosterResult) -> None:
    if result.problems:
        st.session_state[OUTCOME_KEY] = ("error", t("ma.import_refused", count=len(result.problems)))
        st.session_state[PROBLEMS_KEY] = result.problems[: rules.MAX_PROBLEMS_SHOWN]
    else:
        companies = "; ".join(
            t("ma.company_count", company=c, crews=n, workers=w) for c, n, w in result.companies
        )
        st.session_state[OUTCOME_KEY] = ("ok", t("ma.imported", count=result.stored, companies=companies))


def release_outcome(company: str, result: ReleaseResult) -> None:
    said = t(
        "ma.released", count=len(result.released), company=company, crews=", ".join(result.released) or "—"
    )
    if result.refused:
        kept = "; ".join(plain(reason) for _, reason in result.refused)
        st.session_state[OUTCOME_KEY] = ("error", said + " " + t("ma.not_released", reasons=kept))
    else:
        st.session_state[OUTCOME_KEY] = ("ok", said)


def link_address(path: str) -> str:
    """The link as the leader's phone opens it: this page's own address with the link's path."""
    here = urlsplit(st.context.url or "")
    return f"{here.scheme}://{here.netloc}{path}" if here.scheme and here.netloc else path


st.title(t("ma.title"))
st.caption(t("ma.help"))
show_outcome(OUTCOME_KEY)
problems = st.session_state.pop(PROBLEMS_KEY, None)
if problems:
    st.dataframe(
        [
            {
                t("ma.row"): p.line or "—",
                t("ma.crew"): p.subject or "—",
                t("ma.column"): p.field or "—",
                t("ma.problem"): p.reason,
            }
            for p in problems
        ],
        hide_index=True,
        width="stretch",
    )

crews = queries.mutual_aid_crews(ctx)
by_id = {c.crew_id: c for c in crews}
companies = sorted({c.company for c in crews})

import_tab, crews_tab, check_in_tab, release_tab, link_tab = st.tabs(
    [t("ma.import"), t("ma.crews"), t("ma.check_in"), t("ma.release"), t("ma.links")]
)

with import_tab:
    depots = queries.staging_depots(ctx)
    st.markdown(t("ma.columns_help", rows=rules.MAX_ROSTER_ROWS))
    st.caption(
        t(
            "ma.sites",
            sites=", ".join(f"{d.code} ({d.name_zh} / {d.name_en})" for d in depots if d.is_staging),
        )
    )
    upload = upload_box(t("ma.file"), ["csv", "xlsx"], key="ma-file")
    if upload is not None and st.button(t("ma.import_go", file=upload.name), key="ma-import-go"):
        try:
            result = execute(ctx, ImportRoster(upload.getvalue(), upload.name))
        except EmergencyError as error:
            st.session_state[OUTCOME_KEY] = ("error", t("action.refused", reason=plain(error)))
        else:
            roster_outcome(result)
        st.rerun()

with crews_tab:
    if not crews:
        st.info(t("ma.none"))
    for company in companies:
        members = [c for c in crews if c.company == company]
        present = [c for c in members if c.checked_in_at is not None and c.released_at is None]
        st.subheader(
            t(
                "ma.company_summary",
                company=company,
                crews=len(members),
                workers=sum(c.size for c in members),
                present=len(present),
                counted=sum(c.checked_in_count or 0 for c in present),
            )
        )
        st.dataframe(
            [
                {
                    t("ma.crew"): c.code,
                    t("ma.leader"): c.leader_name or "—",
                    t("ma.phone"): c.phone or "—",
                    t("ma.kind"): t(KIND_KEYS[c.kind]),
                    t("ma.size"): c.size,
                    t("ma.counted"): c.checked_in_count if c.checked_in_count is not None else "—",
                    t("ma.skills"): c.skills or "—",
                    t("ma.vehicles"): c.vehicles or "—",
                    t("ma.staging"): c.staging_site or "—",
                    t("ma.state"): status_label(c),
                    t("ma.checked_in_at"): local_time(c.checked_in_at, ctx.tz),
                    t("ma.released_at"): local_time(c.released_at, ctx.tz),
                    t("ma.job"): c.outage_id or "—",
                    t("ma.signed_in"): local_time(c.link_used_at, ctx.tz),
                }
                for c in members
            ],
            hide_index=True,
            width="stretch",
        )

with check_in_tab:
    arriving = st.selectbox(
        t("ma.company"), companies, index=None, placeholder=t("ma.company"), key=choice_key("ma-ci-company")
    )
    expected = [c for c in crews if c.company == arriving and c.released_at is None]
    waiting = [c for c in expected if c.checked_in_at is None]
    if arriving is not None and not waiting:
        st.info(t("ma.all_checked_in", company=arriving))
    if waiting:
        # Keyed by crew id (the index), never by row position; counts start at the roster's size.
        table = pd.DataFrame(
            {
                "arrived": [True] * len(waiting),
                "crew": [crew_label(c) for c in waiting],
                "staging": [c.staging_site or "—" for c in waiting],
                "size": [c.size for c in waiting],
                "count": [c.size for c in waiting],
            },
            index=pd.Index([c.crew_id for c in waiting], name="id"),
        )
        edited = st.data_editor(
            table,
            column_config={
                "arrived": st.column_config.CheckboxColumn(t("ma.arrived")),
                "crew": st.column_config.TextColumn(t("ma.crew"), disabled=True),
                "staging": st.column_config.TextColumn(t("ma.staging"), disabled=True),
                "size": st.column_config.NumberColumn(t("ma.size"), disabled=True),
                "count": st.column_config.NumberColumn(
                    t("ma.counted"), min_value=1, max_value=rules.MAX_SIZE, step=1, required=True
                ),
            },
            hide_index=True,
            key=f"ma-ci-table-{arriving}",
        )
        now_local = datetime.now(ctx.tz)
        day_col, time_col = st.columns(2)
        day = day_col.date_input(t("ma.arrival_day"), value=now_local.date(), key="ma-ci-day")
        clock_time = time_col.time_input(
            t("ma.arrival_time"), value=time(now_local.hour, now_local.minute), key="ma-ci-time"
        )
        chosen = [int(i) for i, row in edited.iterrows() if bool(row["arrived"])]
        arrived_at = datetime.combine(day, clock_time, tzinfo=ctx.tz)
        go = t(
            "ma.check_in_go",
            count=len(chosen),
            company=arriving,
            crews=", ".join(by_id[i].code for i in chosen) or "—",
            when=arrived_at.strftime("%Y-%m-%d %H:%M"),
        )
        if chosen and st.button(go, key="ma-ci-go", type="primary"):
            arrivals = tuple(CheckIn(i, by_id[i].version, int(edited.loc[i, "count"])) for i in chosen)
            command = CheckInCrews(arrivals, arrived_at)
            outcome.attempt(
                OUTCOME_KEY,
                lambda: execute(ctx, command),
                t("ma.checked_in", count=len(chosen), company=arriving),
            )

with release_tab:
    leaving = st.selectbox(
        t("ma.company"), companies, index=None, placeholder=t("ma.company"), key=choice_key("ma-rel-company")
    )
    present = [c for c in crews if c.company == leaving and c.released_at is None]
    picked = st.multiselect(
        t("ma.release_pick"),
        [c.crew_id for c in present],
        default=[c.crew_id for c in present if c.outage_id is None],
        format_func=lambda i: (
            crew_label(by_id[i]) + (t("ma.busy", outage=by_id[i].outage_id) if by_id[i].outage_id else "")
        ),
        key=choice_key(f"ma-rel-pick-{leaving}"),
        placeholder=choose_placeholder(),
    )
    if leaving is not None and picked:
        go = t(
            "ma.release_go",
            count=len(picked),
            company=leaving,
            crews=", ".join(by_id[i].code for i in picked),
        )
        if st.button(go, key="ma-rel-go"):
            try:
                released = execute(ctx, ReleaseCrews(tuple((i, by_id[i].version) for i in picked)))
            except EmergencyError as error:
                st.session_state[OUTCOME_KEY] = ("error", t("action.refused", reason=plain(error)))
            else:
                release_outcome(leaving, released)
            st.rerun()

with link_tab:
    st.caption(t("ma.links_help"))
    leaders = [c.crew_id for c in crews if c.released_at is None]
    crew_id = st.selectbox(
        t("ma.crew"),
        leaders,
        index=None,
        format_func=lambda i: f"{crew_label(by_id[i])} · {by_id[i].company}",
        placeholder=t("ma.crew"),
        key=choice_key("ma-link-crew"),
    )
    if crew_id is not None and st.button(t("ma.link_go", crew=crew_label(by_id[crew_id])), key="ma-link-go"):
        try:
            link = execute(ctx, CreateCrewLink(crew_id))
        except EmergencyError as error:
            st.error(t("action.refused", reason=plain(error)))
        else:
            expires = local_time(datetime.fromisoformat(link.expires_at_utc), ctx.tz)
            # Shown once, on this run only: the token is stored nowhere but in this answer.
            st.success(t("ma.link_made", crew=link.crew_code, expires=expires))
            st.code(link_address(link.path), language=None)
