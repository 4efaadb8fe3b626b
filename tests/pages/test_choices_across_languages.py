"""A choice made before a language switch stays chosen after it.

The browser holds a select box's or radio's choice as the label it showed. After a switch every
label is new, so unless the app hands the choice back in the new words, the next click sends an
old label and Streamlit puts the widget back to its default (tests/e2e/test_public_report.py shows
it in Chromium). Here: the switch sends each choice on the page back to the browser, in the new
language, and every choice widget in the app is one the switch knows about. A text field keeps
what was typed through its key (an unkeyed widget is known by its label, which the switch renames).
"""

from __future__ import annotations

import ast
from pathlib import Path

from streamlit.testing.v1 import AppTest

from dashboard.choices import CHOICE_KEYS
from tests.pages.conftest import APP, page
from tests.pages.test_access import log_in
from tests.support.small_territory import PASSWORDS

REPO = Path(__file__).resolve().parents[2]
INPUT_WIDGETS = {
    "text_input",
    "text_area",
    "number_input",
    "date_input",
    "time_input",
    "checkbox",
    "toggle",
    "slider",
}
CHOICE_WIDGETS = {"selectbox", "multiselect", "radio", "pills", "segmented_control", "select_slider"}
# Widgets that do not carry their choice across a switch, and why.
NOT_CARRIED = {
    # The language switch itself: its labels are the same in both languages.
    ("dashboard/i18n.py", "segmented_control"),
    # The situation report's document language follows the page's until the manager picks one (a
    # widget per page language); with two languages a pick is always the page's new language.
    ("pages/manager_sitrep.py", "selectbox"),
}


def switch_to_chinese(at: AppTest) -> AppTest:
    at.sidebar.button_group(key="lang").set_value("zh").run()
    assert not at.exception, at.exception
    return at


def test_a_public_radio_is_handed_back_in_chinese_and_keeps_the_wire_down(territory_db):
    at = AppTest.from_file(APP, default_timeout=30).run()
    at.switch_page(page("public_report.py")).run()
    at.radio(key="report_kind").set_value("hazard").run()
    switch_to_chinese(at)
    kind = at.radio(key="report_kind")
    assert kind.proto.set_value  # sent to the browser afresh ...
    assert kind.proto.raw_value == "电线落地或其他危险"  # ... as the label it now shows
    assert kind.value == "hazard"
    at.run()  # a later run, with nothing switched, leaves the browser's value alone
    assert not at.radio(key="report_kind").proto.set_value
    assert at.radio(key="report_kind").value == "hazard"


def test_the_switch_knows_the_choices_of_the_last_run_only(territory_db):
    at = AppTest.from_file(APP, default_timeout=30).run()
    at.switch_page(page("public_report.py")).run()
    assert at.session_state[CHOICE_KEYS] == {"report_kind", "report_where"}
    at.switch_page(page("public_feedback.py")).run()
    assert at.session_state[CHOICE_KEYS] == {"feedback_kind"}  # not a growing list of every key seen


def test_a_managers_filters_keep_their_choice_in_the_other_language(territory_db):
    _, territory = territory_db
    at = AppTest.from_file(APP, default_timeout=30).run()
    log_in(at, "manager", PASSWORDS["manager"])
    at.switch_page(page("manager_compliance.py")).run()
    district = next(iter(territory.district_ids.values()))
    at.selectbox(key="cmp-district").set_value(district).run()
    at.selectbox(key="cmp-area").set_value("urban").run()
    switch_to_chinese(at)
    district_box, area_box = at.selectbox(key="cmp-district"), at.selectbox(key="cmp-area")
    assert (district_box.value, area_box.value) == (district, "urban")
    assert district_box.proto.set_value and area_box.proto.set_value
    assert area_box.proto.raw_value == "城区"
    assert district_box.proto.raw_value in district_box.proto.options  # the district's Chinese name
    # "All" is the None option; a keyed box at None is drawn empty, showing its placeholder.
    crew_box = at.selectbox(key="cmp-crew")
    assert crew_box.value is None and crew_box.proto.placeholder == "全部"


def test_what_a_manager_typed_is_still_there_in_chinese(territory_db):
    at = AppTest.from_file(APP, default_timeout=30).run()
    log_in(at, "manager", PASSWORDS["manager"])
    at.switch_page(page("audit_log.py")).run()
    at.text_input(key="audit-filters-who").input("dispatcher")
    at.selectbox(key="audit-filters-role").set_value("dispatcher")
    next(b for b in at.button if b.label == "Apply filters").click().run()
    switch_to_chinese(at)
    who = at.text_input(key="audit-filters-who")
    assert who.label == "操作人" and who.value == "dispatcher"
    assert at.selectbox(key="audit-filters-role").value == "dispatcher"


def widget_calls(path: Path, kinds: set[str]) -> list[tuple[str, int, ast.expr | None]]:
    """Each widget of `kinds` in a file: its kind, line and key expression (None without a key)."""
    calls = []
    for node in ast.walk(ast.parse(path.read_text("utf-8"))):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in kinds:
            key = next((k.value for k in node.keywords if k.arg == "key"), None)
            calls.append((node.func.attr, node.lineno, key))
    return calls


APP_FILES = sorted([*(REPO / "dashboard").glob("*.py"), *(REPO / "pages").glob("*.py")])


def test_every_input_widget_has_a_key():
    """An unkeyed widget is known by its label, and a switch renames every label: what was typed
    into it would be gone."""
    calls = [(path, *call) for path in APP_FILES for call in widget_calls(path, INPUT_WIDGETS)]
    assert len(calls) > 40  # the walk found the app's widgets
    assert [f"{path.name}:{line} {kind}" for path, kind, line, key in calls if key is None] == []


def test_every_choice_widget_takes_its_key_from_choice_key():
    seen, missing = 0, []
    for path in APP_FILES:
        name = path.relative_to(REPO).as_posix()
        for kind, line, key in widget_calls(path, CHOICE_WIDGETS):
            seen += 1
            carried = (
                isinstance(key, ast.Call) and isinstance(key.func, ast.Name) and key.func.id == "choice_key"
            )
            if not carried and (name, kind) not in NOT_CARRIED:
                missing.append(f"{name}:{line} {kind}")
    assert seen > 40  # the walk found the app's widgets
    assert missing == []
