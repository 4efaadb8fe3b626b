"""The important users register (manager): list with filters, add, edit, import a CSV."""

from __future__ import annotations

from collections.abc import Callable

import streamlit as st

from dashboard import outcome, services
from dashboard.choices import choice_key
from dashboard.i18n import choose_placeholder, current_language, t
from dashboard.markdown_text import plain
from dashboard.outcome import show_outcome
from dashboard.session import require_role
from dashboard.uploads import upload_box
from emergency.app.bus import execute
from emergency.app.commands.network import EditImportantUser, ImportImportantUsers, RegisterImportantUser
from emergency.app.queries import network as network_queries
from emergency.core.errors import EmergencyError
from emergency.core.models import CustomerKind, ImportanceGrade, Role
from emergency.network import important_users as register

OUTCOME_KEY = "important-users-outcome"
PROBLEMS_KEY = "important-users-problems"
GRADES = [g.value for g in ImportanceGrade]
KINDS = [k.value for k in CustomerKind]

actor = require_role(Role.MANAGER, Role.ADMIN)
language = current_language()
ctx = services.context(actor)


def grade_label(grade: str) -> str:
    return t("iu.grade_none") if grade == ImportanceGrade.NONE else t(f"grade.{grade}")


def kind_label(kind: str) -> str:
    return t(f"customer_kind.{kind}")


def attempt(action: Callable[[], object], success: str) -> None:
    outcome.attempt(OUTCOME_KEY, action, success)


def details_form(key: str, current: register.ImportantUser | None) -> register.ImportantUserInput | None:
    """Grade, kind, backup hours and contacts; the input when submitted, else None."""
    grade = st.selectbox(
        t("important.grade"),
        GRADES,
        index=GRADES.index(current.grade) if current else 1,
        format_func=grade_label,
        key=choice_key(f"{key}-grade"),
    )
    kind = st.selectbox(
        t("iu.kind"),
        KINDS,
        index=KINDS.index(current.kind) if current else KINDS.index("hospital"),
        format_func=kind_label,
        key=choice_key(f"{key}-kind"),
    )
    known_hours = current.backup_hours if current is not None else None
    has_backup = st.checkbox(
        t("iu.has_backup"), value=known_hours is not None or current is None, key=f"{key}-has-backup"
    )
    hours = st.number_input(
        t("iu.backup_hours"),
        min_value=0.0,
        max_value=register.MAX_BACKUP_HOURS,
        value=float(known_hours) if known_hours is not None else 0.0,
        step=0.5,
        key=f"{key}-hours",
    )
    name = st.text_input(
        t("iu.contact_name"),
        value=(current.contact_name or "") if current else "",
        max_chars=120,
        key=f"{key}-name",
    )
    phone = st.text_input(
        t("iu.contact_phone"),
        value=(current.contact_phone or "") if current else "",
        max_chars=32,
        key=f"{key}-phone",
    )
    if not st.form_submit_button(t("iu.save")):
        return None
    return register.ImportantUserInput(grade, kind, float(hours) if has_backup else None, name, phone)


st.title(t("iu.title"))
st.caption(t("iu.help"))
show_outcome(OUTCOME_KEY)
problems = st.session_state.pop(PROBLEMS_KEY, None)
if problems:
    st.dataframe(
        [{t("iu.line"): p.line, t("iu.account"): p.subject, t("iu.problem"): p.message} for p in problems],
        hide_index=True,
        width="stretch",
    )

districts = services.territory_base(ctx.db.url)["districts"]
district_codes = sorted(f["properties"]["code"] for f in districts["features"]) if districts else []
columns = st.columns(4)
chosen_grades = columns[0].multiselect(
    t("important.grade"),
    GRADES,
    format_func=grade_label,
    placeholder=choose_placeholder(),
    key=choice_key("iu-f-grade"),
)
chosen_kinds = columns[1].multiselect(
    t("iu.kind"), KINDS, format_func=kind_label, placeholder=choose_placeholder(), key=choice_key("iu-f-kind")
)
chosen_districts = columns[2].multiselect(
    t("board.district"), district_codes, placeholder=choose_placeholder(), key=choice_key("iu-f-district")
)
search = columns[3].text_input(t("iu.search"), max_chars=100, key="iu-f-search")

users = network_queries.important_users(
    ctx, grades=chosen_grades, kinds=chosen_kinds, district_codes=chosen_districts, search=search
)

st.subheader(t("iu.count", count=len(users)))
if users:
    st.dataframe(
        [
            {
                t("iu.account"): u.account_no,
                t("iu.name"): u.name,
                t("important.grade"): grade_label(u.grade),
                t("iu.kind"): kind_label(u.kind),
                t("iu.backup_hours"): u.backup_hours,
                t("board.district"): u.district_code,
                t("iu.contact_name"): u.contact_name or "—",
                t("iu.contact_phone"): u.contact_phone or "—",
            }
            for u in users
        ],
        hide_index=True,
        width="stretch",
    )
else:
    st.info(t("iu.none"))

edit_tab, add_tab, import_tab = st.tabs([t("iu.edit"), t("iu.add"), t("iu.import")])

with edit_tab:
    by_id = {u.customer_id: u for u in users}
    chosen = st.selectbox(
        t("iu.pick"),
        list(by_id),
        index=None,
        format_func=lambda i: f"{by_id[i].account_no} · {by_id[i].name}",
        placeholder=t("iu.pick"),
        key=choice_key("iu-edit-pick"),
    )
    if chosen is not None:
        current = by_id[chosen]
        # Keyed by version: after a save the form shows the stored values, not the typed ones.
        with st.form(f"iu-edit-{current.customer_id}-{current.version}"):
            edited = details_form(f"iu-edit-{current.customer_id}-{current.version}", current)
        if edited is not None:
            edit = EditImportantUser(current.customer_id, current.version, edited)
            attempt(lambda: execute(ctx, edit), t("iu.saved", account=current.account_no))

with add_tab:
    with st.form("iu-add"):
        account_no = st.text_input(t("iu.account"), max_chars=32, key="iu-add-account")
        added = details_form("iu-add", None)
    if added is not None:
        registration = RegisterImportantUser(account_no, added)
        attempt(lambda: execute(ctx, registration), t("iu.saved", account=account_no.strip()))

with import_tab:
    st.caption(
        t("iu.import_help", columns=", ".join(register.CSV_COLUMNS), kb=register.MAX_CSV_BYTES // 1000)
    )
    upload = upload_box(t("iu.file"), ["csv"], key="iu-import-file")
    if upload is not None and st.button(t("iu.import_go"), key="iu-import-go"):
        try:
            result = execute(ctx, ImportImportantUsers(upload.getvalue()))
        except EmergencyError as error:
            st.session_state[OUTCOME_KEY] = ("error", t("action.refused", reason=plain(str(error))))
        else:
            if result.problems:
                st.session_state[OUTCOME_KEY] = ("error", t("iu.import_refused", count=len(result.problems)))
                st.session_state[PROBLEMS_KEY] = result.problems[: register.MAX_ERRORS_SHOWN]
            else:
                st.session_state[OUTCOME_KEY] = ("ok", t("iu.imported", count=result.stored))
        st.rerun()
