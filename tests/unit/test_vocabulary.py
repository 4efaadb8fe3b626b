"""One vocabulary: the public page, the manager's pages, the CAP export and the customer SMS name
every hazard with the same words, in both languages; the enumerations and the importance order are
defined once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from dashboard.i18n import STRINGS
from dashboard.public_map import warning_banner
from emergency.core import models, vocabulary
from emergency.core.models import Warning, WarningLevel, WarningStatus
from emergency.core.vocabulary import HAZARD_NAMES, IMPORTANCE_ORDER, Hazard, hazard_in_text, hazard_name
from emergency.dispatch import priority
from emergency.public.snapshot import PublicWarning
from emergency.warnings import cap, preview
from emergency.warnings.cap import NS, alert_element
from emergency.warnings.cap_parse import InfoBlock, derive_hazard
from emergency.warnings.lifecycle import NoticeSettings, notice_text

SHANGHAI = ZoneInfo("Asia/Shanghai")
EFFECTIVE = datetime(2026, 7, 1, 2, 0, tzinfo=UTC)
EXPIRES = EFFECTIVE + timedelta(hours=12)
LANGUAGE_INDEX = {"en": 0, "zh": 1}


def manager_word(hazard: Hazard, language: str) -> str:
    """What the manager's Warnings page shows: `t(f"hazard.{hazard}")`."""
    return STRINGS[f"hazard.{hazard}"][LANGUAGE_INDEX[language]]


def public_banner(hazard: Hazard, language: str) -> str:
    def translate(key: str, **values: object) -> str:
        return STRINGS[key][LANGUAGE_INDEX[language]].format(**values)

    warning = PublicWarning(
        level="red",
        colour="#d7191c",
        hazard=str(hazard),
        title_en="Title",
        title_zh="标题",
        text_en="",
        text_zh="",
        districts=[],
        effective_at=EFFECTIVE,
        expires_at=EXPIRES,
    )
    return warning_banner(warning, None, language, translate, SHANGHAI)


def warning_row(hazard: Hazard) -> Warning:
    return Warning(
        hazard=str(hazard),
        level=WarningLevel.RED,
        status=WarningStatus.ACTIVE,
        title_en="Title",
        title_zh="标题",
        text_en="",
        text_zh="",
        readiness_level=None,
        area_kind="circle",
        area={"circle": {"lon": 121.0, "lat": 28.0, "radius_km": 5.0}},
        area_districts=[],
        effective_at=EFFECTIVE,
        onset_at=None,
        expires_at=EXPIRES,
        created_at=EFFECTIVE,
        cap_identifier="OD-1",
        cap_sender="outage-desk@example.cn",
        cap_msg_type="Alert",
        cap_references=None,
    )


def cap_events(hazard: Hazard, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """The CAP export's `event` per language (its history is empty: a warning not yet stored)."""
    monkeypatch.setattr(cap, "history", lambda session, warning_id: [])
    alert = alert_element(None, warning_row(hazard))
    events = {}
    for info in alert.iter(f"{{{NS}}}info"):
        language = info.findtext(f"{{{NS}}}language")
        events[language] = info.findtext(f"{{{NS}}}event")
    return {"en": events["en-US"], "zh": events["zh-CN"]}


def sms(hazard: Hazard, language: str) -> str:
    signature = "【供电服务】" if language == "zh" else "Power service:"
    return notice_text(
        warning_row(hazard), language, NoticeSettings(signature, "95598", "https://power.example/w", SHANGHAI)
    )


@pytest.mark.parametrize("hazard", list(Hazard))
def test_every_hazard_reads_the_same_on_the_public_page_the_managers_page_in_cap_and_in_the_sms(
    hazard, monkeypatch
):
    events = cap_events(hazard, monkeypatch)
    for language in ("en", "zh"):
        word = manager_word(hazard, language)
        assert word == hazard_name(hazard, language) == events[language]
        public_words = f"Red {word.lower()} warning" if language == "en" else f"{word}红色预警"
        assert public_words in public_banner(hazard, language)
        sms_words = f"Red {word.lower()} warning" if language == "en" else f"红色{word}预警"
        assert sms_words in sms(hazard, language)


def test_chinese_hazard_names_are_the_meteorological_signals_names():
    chinese = {hazard: names[1] for hazard, names in HAZARD_NAMES.items()}
    assert chinese[Hazard.THUNDERSTORM] == "雷电"
    assert chinese[Hazard.ICE] == "道路结冰"
    assert set(HAZARD_NAMES) == set(Hazard)
    assert len(set(chinese.values())) == len(chinese)


def test_a_hazard_inside_a_sentence_is_the_same_word_in_lower_case():
    assert hazard_in_text(Hazard.COLD_WAVE, "en") == "cold wave"
    assert hazard_in_text(Hazard.COLD_WAVE, "zh") == "寒潮"


def test_an_exported_event_name_imports_back_as_its_hazard():
    """CAP import reads the hazard from the event's words: our own words must say it."""
    for hazard in Hazard:
        if hazard == Hazard.OTHER:
            continue
        for language in ("en", "zh"):
            info = InfoBlock(language, language, {"event": hazard_name(hazard, language)}, (), (), ())
            assert derive_hazard((info,)) == hazard


def test_the_importance_order_is_one_tuple_with_life_support_beside_grade_2():
    assert IMPORTANCE_ORDER == ("special", "grade1", "grade2", "life_support", "temporary")
    assert priority.GRADES is IMPORTANCE_ORDER
    assert preview.GRADE_ORDER is IMPORTANCE_ORDER


def test_the_models_module_still_names_every_enumeration():
    for name in ("Role", "Hazard", "WarningLevel", "OutageState", "ImportanceGrade", "ACTIVE_OUTAGE_STATES"):
        assert getattr(models, name) is getattr(vocabulary, name)
