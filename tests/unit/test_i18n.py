"""The i18n catalogue as data: both languages have the same keys and the same {placeholders}, and
every key is used by a page or a dashboard module, literally or as one value of an enumeration."""

from __future__ import annotations

import string
import tomllib
from collections.abc import Iterable
from pathlib import Path

import pytest

from dashboard.console import URGENCY_WORDS
from dashboard.i18n import CATALOGUE_DIR, STRINGS, load_catalogue
from dashboard.public_map import STATUS_COLOURS
from emergency.core.meter_models import PingAnswer
from emergency.core.vocabulary import (
    IMPORTANCE_ORDER,
    AreaType,
    CrewKind,
    CrewStatus,
    CustomerKind,
    DamageCause,  # damage assessment (#19.3)
    DeviceKind,
    EtrConfidence,
    EtrSource,
    FeedbackKind,
    FeedbackStatus,
    Hazard,
    ImportanceGrade,
    OutageState,
    OutreachStatus,
    OutreachStep,
    ReportKind,
    Role,
    TokenScope,
    WarningLevel,
    WarningStatus,
)
from emergency.dispatch.assessment import EQUIPMENT_KINDS  # damage assessment (#19.3)
from emergency.dispatch.sla import ClockState
from emergency.public.snapshot import PUBLIC_STATUS
from emergency.public.web_reports import PUBLIC_KINDS
from emergency.reporting.complaints import Step
from emergency.reporting.compliance import BreachCause
from emergency.reporting.location_accuracy import VERDICTS
from emergency.reporting.sitrep import ReportKind as SitrepKind
from emergency.simulator.live import FINISHED, PAUSED, RUNNING
from emergency.simulator.scenarios import SCENARIOS
from emergency.warnings.cap_import import LEVEL_FROM, NOTE_CODES, TAKEN_OUTCOMES
from emergency.warnings.feeds import ITEM_OUTCOMES, POLL_RESULTS
from emergency.warnings.records import IMPORT_NEED_CODES

REPO = Path(__file__).resolve().parents[2]


def values(*sources: Iterable[object]) -> tuple[str, ...]:
    return tuple(str(value) for source in sources for value in source)


# Keys the pages build at run time, f"{prefix}{value}", with every value the value can take.
DYNAMIC_KEYS: dict[str, tuple[str, ...]] = {
    "alert.": ("breached", "at_risk"),  # pages/dispatcher_map.py: a toast per clock that turned
    "area.": values(AreaType),
    # dashboard/cap_view.py and pages/manager_warnings.py: what a CAP import did and derived
    "capin.level_from.": LEVEL_FROM,
    "capin.need.": IMPORT_NEED_CODES,
    "capin.note.": NOTE_CODES,
    "capin.outcome.": ("updated", "cancelled"),
    "capin.outcome_word.": TAKEN_OUTCOMES,
    "clock.": values(ClockState),
    "capfeed.outcome.": ITEM_OUTCOMES,  # pages/manager_cap_feeds.py
    "capfeed.result.": (*POLL_RESULTS, "never"),  # "never": a feed not polled yet
    "cmp.cause.": values(BreachCause),
    "cmp.source.": values(EtrSource),
    "confidence.": values(EtrConfidence),
    "crew.": values(CrewStatus),
    "customer_kind.": values(CustomerKind),
    "desk.status.": values(FeedbackStatus),
    "desk.step.": values(Step),
    "feedback.kind.": values(FeedbackKind),
    "form.field.": ("location",),  # dashboard/public_forms.py: intake's lon and lat, as one place
    "grade.": values(ImportanceGrade, IMPORTANCE_ORDER),
    "hazard.": values(Hazard),
    "kind.": values(DeviceKind),
    "level.": values(WarningLevel),
    "meters.answer.": values(PingAnswer),  # dashboard/meter_panel.py: what a pinged meter said
    "locate.verdict.": VERDICTS,  # pages/manager_compliance.py: a prediction against the fault found
    "mw.area.": ("districts", "circle", "polygon"),  # pages/manager_warnings.py: where an area comes from
    "mw.crewkind.": values(CrewKind),
    "ostatus.": values(OutreachStatus),
    "ostep.": values(OutreachStep),
    "public.confidence.": values(EtrConfidence),
    "public.hazard.": values(Hazard),
    "public.level.": values(WarningLevel),
    "report.kind.": values(PUBLIC_KINDS),
    "report.where.": ("account", "location"),  # pages/public_report.py: how a caller says where
    "report_kind.": values(ReportKind),
    "role.": values(Role, TokenScope, ("system", "public")),  # the audit log's actors
    "sim.banner.": (RUNNING, PAUSED, FINISHED),
    "sim.scenario.": tuple(SCENARIOS),
    "sim.state.": (RUNNING, PAUSED, FINISHED),
    "sitrep.kind.": values(SitrepKind),
    "state.": values(OutageState),
    "status.": values(STATUS_COLOURS, PUBLIC_STATUS.values(), ("no_outage",)),
    "urgency.": values(URGENCY_WORDS),
    "wstatus.": values(WarningStatus),
    # dashboard/assessment_form.py and assessment_view.py (#19.3)
    "dmg.cause.": values(DamageCause),
    "dmg.equipment.": EQUIPMENT_KINDS,
    "dmg.etr.": ("set", "passed", "inactive", "dispatcher_later"),
}


def catalogue(language: str) -> dict[str, str]:
    return tomllib.loads((CATALOGUE_DIR / f"{language}.toml").read_text("utf-8"))


def placeholders(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name is not None}


def source_text() -> str:
    files = [*(REPO / "dashboard").rglob("*.py"), *(REPO / "pages").rglob("*.py")]
    files.append(REPO / "emergency" / "operations_cli.py")  # `outages ...` prints the console's words
    return "\n".join(path.read_text("utf-8") for path in files)


def test_both_languages_have_the_same_keys_in_the_same_order():
    assert list(catalogue("en")) == list(catalogue("zh"))


def test_both_languages_fill_in_the_same_placeholders():
    differ = [
        key for key, (english, chinese) in STRINGS.items() if placeholders(english) != placeholders(chinese)
    ]
    assert differ == []


def test_no_text_is_empty():
    assert [key for key, texts in STRINGS.items() if not all(text.strip() for text in texts)] == []


def test_every_key_is_used_by_a_page_or_a_dashboard_module():
    code = source_text()
    built = {prefix + value for prefix, options in DYNAMIC_KEYS.items() for value in options}
    unused = [
        key for key in STRINGS if key not in built and f'"{key}"' not in code and f"'{key}'" not in code
    ]
    assert unused == []


def test_every_value_a_page_builds_a_key_from_has_words():
    built = {prefix + value for prefix, options in DYNAMIC_KEYS.items() for value in options}
    assert sorted(built - set(STRINGS)) == []


def test_hazard_words_come_from_the_vocabulary_not_the_files():
    assert not [key for key in catalogue("en") if key.startswith(("hazard.", "public.hazard."))]
    assert {key for key in load_catalogue() if key.startswith("hazard.")} == {f"hazard.{h}" for h in Hazard}


def test_a_catalogue_with_a_key_missing_in_chinese_fails_to_load(tmp_path):
    (tmp_path / "en.toml").write_text('"a" = "A"\n"b" = "B"\n', "utf-8")
    (tmp_path / "zh.toml").write_text('"a" = "甲"\n', "utf-8")
    with pytest.raises(KeyError, match="b"):
        load_catalogue(tmp_path)
