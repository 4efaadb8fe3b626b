"""The Warnings page's parts about official CAP alerts: where a draft came from (the agency, its
identifier, sent time, its own words in its own languages, what was derived and what repaired),
what it still needs before issuing, and the utility's table of geocodes.

Agency text is shown as plain text (st.text / st.code / escaped markdown), never interpreted.
"""

from __future__ import annotations

from collections.abc import Callable
from zoneinfo import ZoneInfo

import pandas as pd
import streamlit as st

from dashboard.choices import choice_key
from dashboard.i18n import local_time, t
from dashboard.markdown_text import plain
from dashboard.uploads import upload_box
from emergency.app.bus import execute
from emergency.app.commands.warnings import ChooseDraftLevel, SetCapGeocodeDistricts
from emergency.app.context import Context
from emergency.app.queries import warnings as queries
from emergency.app.queries.warnings import CapProvenance, InfoText, WarningRow
from emergency.core.errors import EmergencyError, InvalidInput
from emergency.core.models import WarningLevel
from emergency.warnings.cap_import import LEVEL_FROM, parse_geocode_csv

MAX_CSV_BYTES = 1_048_576


def note_text(code: str, values: dict[str, str]) -> str:
    """One thing the importer derived or repaired, in the page's language."""
    try:
        return t(f"capin.note.{code}", **values)
    except (KeyError, IndexError):  # a note written by a newer importer than these words
        return code


def shown_title(row: WarningRow, language: str) -> str:
    """The title to show: a Chinese title the agency did not give says so, beside the English."""
    title = row.title(language)
    return title if title else f"{t('capin.no_title_zh')} {row.title_en}"


def shown_level(row: WarningRow) -> str:
    return t("capin.level_to_choose") if "level" in row.needs else t(f"level.{row.level}")


def needs_box(row: WarningRow) -> None:
    """What an imported draft lacks before it can be issued, each in the page's language."""
    if row.needs:
        st.warning("\n".join([t("capin.needs"), *(f"- {t('capin.need.' + need)}" for need in row.needs)]))


def level_chooser(
    ctx: Context, row: WarningRow, done: Callable[[str], None], refused: Callable[..., None]
) -> None:
    """The manager's colour level for a draft whose alert gave none (or one to overrule)."""
    levels = [v.value for v in WarningLevel]
    left, right = st.columns([3, 1])
    chosen = left.selectbox(
        t("capin.choose_level"),
        levels,
        index=None if "level" in row.needs else levels.index(row.level),
        format_func=lambda v: t(f"level.{v}"),
        placeholder=t("capin.level_to_choose"),
        key=choice_key(f"cap-level-{row.id}"),
    )
    if right.button(t("capin.choose_level_button"), disabled=chosen is None, key=f"cap-level-set-{row.id}"):
        try:
            execute(ctx, ChooseDraftLevel(row.id, row.version, str(chosen)))
        except EmergencyError as error:
            refused(error)
        else:
            done(t("capin.level_set", id=row.id, level=t(f"level.{chosen}")))


def provenance(ctx: Context, warning_id: int, tz: ZoneInfo, *, expanded: bool = True) -> None:
    """Every agency message the warning came from, newest first, with its own words. Open while
    a manager checks the draft; folded once issued, where the preview and actions come first."""
    messages = queries.cap_provenance(ctx, warning_id)
    if not messages:
        return
    with st.expander(t("capin.from"), expanded=expanded):
        for number, message in enumerate(reversed(messages)):
            if number:
                st.divider()
            _message(ctx, warning_id, message, tz)


def _message(ctx: Context, warning_id: int, message: CapProvenance, tz: ZoneInfo) -> None:
    agency = message.sender_name or message.sender
    st.dataframe(
        [
            {t("capin.name"): t("capin.agency"), t("capin.value"): f"{agency} ({message.sender})"},
            {t("capin.name"): t("capin.identifier"), t("capin.value"): message.identifier},
            {t("capin.name"): t("capin.sent"), t("capin.value"): local_time(message.sent, tz)},
            {
                t("capin.name"): t("capin.msg_type"),
                t("capin.value"): f"{message.msg_type} · {message.status}",
            },
            {
                t("capin.name"): t("capin.outcome"),
                t("capin.value"): t(f"capin.outcome_word.{message.outcome}"),
            },
            {
                t("capin.name"): t("mw.level"),
                t("capin.value"): (
                    t(f"capin.level_from.{message.level_from}")
                    if message.level_from in LEVEL_FROM
                    else "—"
                    if message.msg_type == "Cancel"
                    else t("capin.level_to_choose")
                ),
            },
            {t("capin.name"): t("capin.origin"), t("capin.value"): message.origin},
            {
                t("capin.name"): t("capin.received"),
                t("capin.value"): f"{local_time(message.received_at, tz)} · {message.received_by}",
            },
        ],
        hide_index=True,
        width="stretch",
    )
    st.markdown(f"**{t('capin.derived')}**")
    st.markdown("\n".join(f"- {plain(note_text(code, values))}" for code, values in message.notes) or "—")
    st.markdown(f"**{t('capin.original')}**")
    for info in message.infos:
        _info(info)
    xml = queries.cap_original(ctx, warning_id, message.identifier)
    if xml is not None:
        st.download_button(
            t("capin.download_xml", chars=f"{message.xml_chars:,}"),
            xml.encode("utf-8"),
            file_name=f"cap-{warning_id}-{message.msg_type.lower()}.xml",
            mime="application/cap+xml",
            key=f"cap-xml-{warning_id}-{message.identifier}",
        )


def _info(info: InfoText) -> None:
    """One info block in the agency's language: plain text, whole."""
    st.caption(f"{t('capin.language')}: {info.language}")
    for label, text in (
        ("capin.event", info.event),
        ("capin.headline", info.headline),
        ("capin.severity", info.severity),
        ("capin.description", info.description),
        ("capin.instruction", info.instruction),
        ("capin.web", info.web),
        ("capin.contact", info.contact),
        ("capin.areas", " · ".join(a for a in info.areas if a)),
    ):
        if text:
            st.markdown(f"*{t(label)}*")
            st.text(text)
    for label, pairs in (
        ("capin.parameters", info.parameters),
        ("capin.event_codes", info.event_codes),
        ("capin.geocodes", info.geocodes),
    ):
        if pairs:
            st.markdown(f"*{t(label)}*")
            st.dataframe(
                [{t("capin.name"): name, t("capin.value"): value} for name, value in pairs],
                hide_index=True,
                width="stretch",
            )


def geocode_table(
    ctx: Context, districts: dict[str, str], done: Callable[[str], None], refused: Callable[..., None]
) -> None:
    """The utility's table of an alert's geocodes -> our districts: edit and save, or import a CSV."""
    with st.expander(t("capin.geocodes_title")):
        st.caption(t("capin.geocodes_help"))
        columns = [t("capin.value_name"), t("capin.value"), t("capin.district")]
        table = pd.DataFrame(list(queries.cap_geocode_table(ctx)), columns=columns, dtype="string")
        edited = st.data_editor(
            table,
            num_rows="dynamic",
            width="stretch",
            key="cap-geocodes",
            column_config={
                t("capin.district"): st.column_config.SelectboxColumn(
                    t("capin.district"), options=list(districts)
                )
            },
        )
        if st.button(t("capin.geocodes_save"), key="cap-geocodes-save"):
            cells = edited.fillna("").astype(str).itertuples(index=False, name=None)
            _save(ctx, tuple((a, b, c) for a, b, c in cells if a or b or c), done, refused)
        upload = upload_box(t("capin.geocodes_csv"), ["csv"], key="cap-geocodes-csv")
        if upload is not None and st.button(t("capin.geocodes_csv"), key="cap-geocodes-import"):
            data = upload.getvalue()
            try:
                if len(data) > MAX_CSV_BYTES:
                    raise InvalidInput(f"the file is larger than {MAX_CSV_BYTES // 1024} KiB", field="csv")
                _save(ctx, parse_geocode_csv(data.decode("utf-8", errors="replace")), done, refused)
            except EmergencyError as error:
                refused(error)


def _save(
    ctx: Context,
    table: tuple[tuple[str, str, str], ...],
    done: Callable[[str], None],
    refused: Callable[..., None],
) -> None:
    try:
        count = execute(ctx, SetCapGeocodeDistricts(table))
    except EmergencyError as error:
        refused(error)
    else:
        done(t("capin.geocodes_saved", n=count))
