"""Every page, as each role sees it (the public's signed out), rendered in Chinese with AppTest: no
English word may show outside an allowlist of codes, ids, units and proper abbreviations.

Whatever a user reads is collected: titles, markdown, captions, alerts, metrics, widget labels,
options, help and placeholders (a multiselect or an empty selectbox without a placeholder shows
Streamlit's English "Choose options"), tab and expander labels, dataframe headers and cells, and
chart titles, axis and legend titles and the category names a legend shows.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pandas as pd
import pyarrow as pa
import pytest
from google.protobuf.message import Message
from sqlalchemy import select, update
from streamlit.testing.v1 import AppTest

from dashboard.console import SELECTED_KEY
from dashboard.i18n import STRINGS
from emergency.app.bus import execute
from emergency.app.commands.admin import RestartDemo
from emergency.core.actor import Actor
from emergency.core.clock import SYSTEM_CLOCK
from emergency.core.db import get_database
from emergency.core.models import Crew, Customer, Depot, Outage, Role
from emergency.core.settings import get_setting, set_setting
from emergency.network import important_users as register
from emergency.public import snapshot as publish
from emergency.simulator.runner import RunSummary
from tests.pages.conftest import APP, page
from tests.support.app_calls import submit_feedback
from tests.support.app_context import context_of
from tests.support.commands import submit_reports
from tests.support.disaster import issue_typhoon_warning
from tests.support.small_territory import PASSWORDS

TIMEOUT = 60

PUBLIC_PAGES = ["public_status.py", "public_check.py", "public_report.py", "public_feedback.py", "login.py"]
ROLE_PAGES = {
    "dispatcher": ["dispatcher_map.py", "public_status.py"],
    "manager": [
        "manager_warnings.py",
        "manager_outreach.py",
        "important_users.py",
        "manager_sitrep.py",
        "manager_complaints.py",
        "manager_compliance.py",
        "manager_reliability.py",
        "audit_log.py",
        "mutual_aid.py",
    ],
    "admin": ["users.py", "simulator_admin.py"],
}

# Words a Chinese reader sees as they are: proper abbreviations, units, formats and the names of
# the standards and file types the pages cite.
ALLOWED_WORDS = frozenset(
    {
        "SAIFI",
        "SAIDI",
        "CAIDI",
        "CAIFI",
        "ASAI",
        "MAIFI",
        "T_MED",
        "MED",
        "IEEE",
        "ETR",
        "ETRs",
        "SMS",
        "SLA",
        "CAP",
        "CSV",
        "GeoJSON",
        "JSON",
        "Markdown",
        "xlsx",
        "Excel",
        "SCADA",
        "IVR",
        "GPS",
        "ID",
        "id",
        "min",
        "km",
        "kb",
        "KB",
        "MB",
        "MiB",
        "kWh",
        "UTC",
        "URL",
        "API",
        "OUTAGE_TZ",
        "OUTAGE_DEMO_SIMULATOR",
        "OUTAGE_LANG",
        "OUTAGE_DB_URL",
        "Outage",
        "Desk",
        "English",
        "p50",
        "p90",
        "QQ",
        "WeChat",
        "App",
        "APP",
        "app",
        "web",
        "Web",
        "PNG",
        # file types as an upload box names them (dashboard/uploads.py)
        "XLSX",
        "XML",
        "GEOJSON",
        "JPG",
        "JPEG",
        "HEIC",
        "HEIF",
        "beta",
        "State",
        "Grid",
    }
)
# Codes a reader types or reads as they are: the import file's columns, the audit trail's entity
# names (its filter takes them), and the Roman numerals of the national warning grades (IV级).
CODES = frozenset(register.CSV_COLUMNS) | {
    "outage",
    "crew",
    "crew_assignment",
    "warning",
    "user",
    "api_token",
    "report",
    "customer",
    "feedback",
    "I",
    "II",
    "III",
    "IV",
    # CAP 1.2 message types, in a warning's CAP history beside the message's identifier
    "Alert",
    "Update",
    "Cancel",
}
# The accounts of the test territory: ids, shown as they are ("已登录：manager").
USERNAMES = frozenset(PASSWORDS) | {"meng", "hotline", "simulator", "system", "public"}
# Codes and references: device codes (TX-4), references (R-12, FB-20261205-AB12), settings keys
# (simulator.demo_enabled), CSV columns (account_no), e-mail-like and URLs.
CODE_PATTERNS = [
    r"(?s)<style>.*?</style>",  # a style sheet is not read
    r"<[^>]*>",  # markup is not read: HTML tags with their attributes
    r":material/[a-z_]+:",  # icons
    r"`[^`\n]+`",  # inline code: a file's column names as the file must spell them
    r":[a-z]+\[",  # Streamlit's colour directives, :red[...]
    r"\bFB-\d{8}-[A-Z0-9]+\b",
    r"\b[\w.-]+-\d{8}T\d{6}-[0-9a-f]+\b",  # CAP message identifiers
    r"\b[A-Z]{1,4}-\d+\b",
    r"\b[a-z]+(?:\.[a-z_]+)+\b",
    r"\b[a-z]+_[a-z_]+(?:,[a-z_]+)+\b",
    r"https?://\S+",
    r"/[a-z\-/]+",
    r"%[A-Za-z]",
]
# The audit trail records codes verbatim (action, entity, changed fields and their stored values,
# the service's own detail, and the actor's account or system name, "trouble-call analysis"):
# translating them would change the record. Its time and the actor's role are translated.
AUDIT_CODE_KEYS = (
    "audit.action",
    "audit.entity",
    "audit.entity_id",
    "audit.col.changes",
    "audit.col.detail",
    "audit.actor",
)
AUDIT_CODE_COLUMNS = frozenset(STRINGS[key][1] for key in (*AUDIT_CODE_KEYS, "audit.before", "audit.after"))
# Proto fields that hold what a reader sees, on any element or block.
TEXT_FIELDS = frozenset({"label", "help", "placeholder", "options", "body", "delta", "caption", "title"})
CHART_TEXT_KEYS = frozenset({"title", "text"})


@pytest.fixture
def storm_db(territory_db, monkeypatch) -> Iterator[str]:
    """The small territory in Chinese, mid-storm: a red typhoon warning over the west (disaster
    mode), two outages with clocks running (one with the hospital), feedback, and audit rows."""
    url, territory = territory_db
    monkeypatch.setenv("OUTAGE_LANG", "zh")
    db = get_database(url)
    with db.write() as session:
        # The test territory's names are English; a Chinese utility's are not.
        session.execute(update(Crew).values(name="抢修队"))
        session.execute(update(Customer).values(name="用户", address="测试路"))
        session.execute(update(Depot).values(name_en="西镇抢修站"))
    issue_typhoon_warning(db, SYSTEM_CLOCK, ("W",))
    when = (SYSTEM_CLOCK.now() - timedelta(minutes=12)).isoformat()
    reports = [
        {"channel": "hotline", "kind": "no_power", "account_no": account, "reported_at": when}
        for transformer in ("TX-3", "TX-4")
        for account in territory.account_by_transformer[transformer][:2]
    ]
    submit_reports(db, SYSTEM_CLOCK, Actor("hotline", "intake"), reports)
    submit_feedback(db, SYSTEM_CLOCK, Actor("public", "public"), "complaint", "停电太久了，请尽快恢复。")
    publish.forget_cached_snapshot(db.url)
    yield url
    publish.forget_cached_snapshot(db.url)


def proto_texts(message: Message) -> Iterator[str]:
    """Every reader-facing string of a proto message and the messages inside it."""
    for field, value in message.ListFields():
        # A repeated field is a container; a single one a message, a string or a number.
        items = value if hasattr(value, "__len__") and not isinstance(value, (str, bytes)) else [value]
        for item in items:
            if isinstance(item, Message):
                yield from proto_texts(item)
            elif isinstance(item, str) and field.name in TEXT_FIELDS:
                yield item


def chart_texts(spec: Any) -> Iterator[str]:
    """Titles anywhere in a Vega-Lite spec, and the values a legend or axis shows (nominal data)."""
    if isinstance(spec, dict):
        for key, value in spec.items():
            if key in CHART_TEXT_KEYS and isinstance(value, str):
                yield value
            else:
                yield from chart_texts(value)
    elif isinstance(spec, list):
        for value in spec:
            yield from chart_texts(value)


def chart_tables(proto: Any) -> Iterator[pd.DataFrame]:
    """The data a Streamlit chart sends beside its spec (Arrow IPC bytes)."""
    blobs = [proto.data.data] if proto.HasField("data") else []
    blobs += [dataset.data.data for dataset in proto.datasets]
    for blob in blobs:
        if blob:
            yield pa.ipc.open_stream(blob).read_all().to_pandas()


def frame_texts(frame: pd.DataFrame, headers: bool = True) -> Iterator[str]:
    for name in frame.columns:
        if headers:
            yield str(name)
        if str(name) in AUDIT_CODE_COLUMNS:
            continue
        column = frame[name]
        if column.dtype == object or pd.api.types.is_string_dtype(column):
            yield from (value for value in column.dropna().astype(str).unique())


def seen_texts(at: AppTest) -> Iterator[str]:
    """What a reader of this page sees, as strings."""
    stack: list[Any] = [at._tree]
    while stack:
        node = stack.pop()
        stack.extend(getattr(node, "children", {}).values())
        proto = getattr(node, "proto", None)
        kind = getattr(node, "type", "")
        if kind == "dataframe":
            yield from frame_texts(node.value)
            continue
        if proto is None or not isinstance(proto, Message):
            continue
        if kind == "html":
            # What the browser shows of raw HTML: its text, not its scripts, styles or tags.
            yield re.sub(r"<(script|style)\b.*?</\1>|<[^>]+>", " ", proto.body, flags=re.S)
            continue
        if kind in ("arrow_vega_lite_chart", "vega_lite_chart"):
            yield from chart_texts(json.loads(proto.spec))
            for table in chart_tables(proto):
                # A legend's and an axis's categories; the columns are fields the spec titles.
                yield from frame_texts(table, headers=False)
        yield from proto_texts(proto)
        # What Streamlit shows in place of a missing placeholder (a selectbox with a choice has none).
        empty = kind == "multiselect" or (kind == "selectbox" and not proto.HasField("default"))
        if empty and not proto.placeholder:
            yield "Choose options"


def english_words(text: str) -> set[str]:
    text = html.unescape(text)
    for pattern in CODE_PATTERNS:
        text = re.sub(pattern, " ", text)
    words = set(re.findall(r"[A-Za-z][A-Za-z_]*[A-Za-z]", text))
    return {w for w in words if w not in ALLOWED_WORDS | CODES | USERNAMES}


def english_on(at: AppTest) -> dict[str, set[str]]:
    """English words, each with a sample of the text it came from."""
    found: dict[str, set[str]] = {}
    for text in seen_texts(at):
        for word in english_words(text):
            found.setdefault(word, set()).add(text[:120])
    return found


def signed_in_as(username: str | None) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.run()
    assert not at.exception, at.exception
    if username is not None:
        at.switch_page(page("login.py")).run()
        at.text_input[0].input(username)
        at.text_input[1].input(PASSWORDS[username])
        at.button[0].click().run()
        assert not at.exception, at.exception
    return at


def visits() -> Iterator[tuple[str | None, str]]:
    for name in PUBLIC_PAGES:
        yield None, name
    for role, names in ROLE_PAGES.items():
        for name in names:
            yield role, name


@pytest.mark.parametrize(("role", "name"), list(visits()))
def test_every_page_in_chinese_shows_no_english_word(storm_db, role, name):
    at = signed_in_as(role)
    at.switch_page(page(name)).run()
    assert not at.exception, at.exception
    english = english_on(at)
    assert not english, f"{name} as {role or 'the public'} shows English: {english}"


def test_the_answer_to_check_my_outage_is_in_chinese(storm_db):
    """The answer too, not only the form: the hospital on TX-3 (customer 8) reported its outage."""
    at = signed_in_as(None)
    at.switch_page(page("public_check.py")).run()
    at.text_input(key="check_account").input("9000000008")
    at.text_input(key="check_last4").input("0008")
    at.button[0].click().run()
    assert not at.exception, at.exception
    answer = "\n".join(m.value for m in (*at.success, *at.info, *at.warning, *at.markdown))
    assert "停电" in answer or "供电" in answer, answer
    assert not english_on(at)


def test_the_dispatcher_console_with_an_outage_open_shows_no_english_word(storm_db):
    """The detail panel too: reports, crews with their kind, important users, history."""
    at = signed_in_as("dispatcher")
    with get_database(storm_db).read() as session:
        outage_id = session.scalars(select(Outage.id).order_by(Outage.id)).first()
    at.session_state[SELECTED_KEY] = outage_id
    at.switch_page(page("dispatcher_map.py")).run()
    assert not at.exception, at.exception
    assert any(str(outage_id) in s.value for s in at.subheader), "the outage's panel is open"
    assert not english_on(at)


def test_the_storm_simulators_progress_reads_in_chinese(storm_db):
    """The progress line is saved as figures and said in the reader's words (it was one English
    sentence, saved by the simulator)."""
    db = get_database(storm_db)
    with db.write() as session:
        set_setting(session, "territory.is_demo", True, SYSTEM_CLOCK)
    execute(context_of(db, SYSTEM_CLOCK, Actor("admin", Role.ADMIN)), RestartDemo("typhoon", 7))
    summary = RunSummary("typhoon", 7, 10.0, damages=3, reports_sent=40, outages={1, 2}, dispatched=1)
    with db.write() as session:
        run = dict(get_setting(session, "simulator.run"))
        run.update(minute=10.0, summary=summary.line(), counts=summary.to_json(), figures=summary.counts())
        set_setting(session, "simulator.run", run, SYSTEM_CLOCK)
    at = signed_in_as("admin")
    at.switch_page(page("simulator_admin.py")).run()
    assert not at.exception, at.exception
    progress = next(c.value for c in at.caption if c.value.startswith("进展"))
    assert "3 台设备故障" in progress and "发送报修 40 条" in progress and "停电事件 2 起" in progress
    assert not english_on(at)


def test_the_check_finds_english_a_chinese_page_would_show():
    """The collector itself: a missing placeholder, an English legend and a raw kind are caught."""
    assert english_words("应急服务 emergency_services") == {"emergency_services"}
    assert english_words("SAIDI（分钟） TX-4 R-12 FB-20261205-AB12") == set()
    assert english_words("Restoration progress 恢复进度") == {"Restoration", "progress"}
