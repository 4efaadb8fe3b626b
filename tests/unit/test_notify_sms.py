"""SMS parts for English (GSM-7) and Chinese (UCS-2) text, and the message templates that must fit them."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from emergency.public.notify import TEMPLATES, NotifyRules, format_etr, render
from emergency.public.sms import GSM7, UCS2, encoding_for, sms_length, sms_segments


def test_plain_english_is_gsm7_and_fits_160_characters_in_one_message() -> None:
    text = "A" * 160

    assert encoding_for(text) is GSM7
    assert sms_segments(text) == [text]


def test_longer_english_is_cut_into_parts_of_153() -> None:
    text = "".join(chr(ord("a") + i % 26) for i in range(161))

    parts = sms_segments(text)

    assert [len(p) for p in parts] == [153, 8]
    assert "".join(parts) == text


def test_gsm7_extension_characters_count_twice_and_are_never_split() -> None:
    assert sms_length("[ref]") == 7
    assert sms_segments("a" * 150 + "{}") == ["a" * 150 + "{}"]  # 154 septets: still one
    parts = sms_segments("a" * 152 + "€" + "b" * 10)  # the euro would straddle the first part's end

    assert parts == ["a" * 152, "€" + "b" * 10]


def test_chinese_is_ucs2_and_fits_70_characters_in_one_message() -> None:
    text = "停" * 70

    assert encoding_for(text) is UCS2
    assert sms_segments(text) == [text]


def test_longer_chinese_is_cut_into_parts_of_67() -> None:
    text = "停电" * 40  # 80 characters

    parts = sms_segments(text)

    assert [len(p) for p in parts] == [67, 13]
    assert "".join(parts) == text


def test_one_non_gsm_character_makes_english_ucs2() -> None:
    text = "Power is back, thank you for your patience 谢谢" + "." * 30

    assert encoding_for(text) is UCS2
    assert len(sms_segments(text)) == 2


def test_a_character_outside_the_basic_plane_takes_two_units_and_is_not_split() -> None:
    text = "停" * 66 + "😀" + "电"

    assert sms_length(text) == 69
    parts = sms_segments(text + "电" * 2)  # 71 units: two parts

    assert parts[0] == "停" * 66 and parts[1].startswith("😀")


LONGEST_REF = 9_999_999
LATE_ETR = datetime(2026, 12, 31, 15, 59, tzinfo=UTC)  # 31 Dec 23:59 in Shanghai: the widest date


@pytest.mark.parametrize("stage", sorted(TEMPLATES))
@pytest.mark.parametrize("language", ["zh", "en"])
def test_every_template_at_its_longest_fits_two_sms_parts(stage: str, language: str) -> None:
    rules = NotifyRules.from_settings(None)
    etr = format_etr(LATE_ETR, language, ZoneInfo("Asia/Shanghai"))

    body = render(stage, language, rules, LONGEST_REF, etr)

    assert "{" not in body and str(LONGEST_REF) in body
    assert len(sms_segments(body)) <= 2, f"{len(body)} characters: {body}"
    if language == "en":
        assert encoding_for(body) is GSM7, "an English message must not fall back to UCS-2 (70 per part)"


def test_etr_times_are_local_and_written_for_each_language() -> None:
    tz = ZoneInfo("Asia/Shanghai")

    assert format_etr(LATE_ETR, "zh", tz) == "12月31日23:59"
    assert format_etr(LATE_ETR, "en", tz) == "23:59 on 31 Dec"
