"""Warning notices as SMS: short, split by `emergency.public.sms` (UCS-2 for Chinese, GSM-7 for plain
English), at most `NOTICE_MAX_PARTS` parts whatever the warning's 4,000-character text, with the
link and hotline; and what publishing puts in the outbox, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select

from emergency.app.bus import execute
from emergency.app.commands.warnings import CreateWarning, IssueWarning
from emergency.core.actor import Actor
from emergency.core.models import Notification, Warning, WarningLevel
from emergency.core.settings import set_setting
from emergency.public.sms import GSM7, UCS2, encoding_for, sms_segments
from emergency.warnings.area import DistrictsArea
from emergency.warnings.lifecycle import (
    MAX_TEXT_CHARS,
    NOTICE_MAX_PARTS,
    NoticeSettings,
    WarningInput,
    notice_text,
)
from tests.support.app_context import context_of
from tests.support.small_territory import build_small_territory

MANAGER = Actor("meng", "manager")
SHANGHAI = ZoneInfo("Asia/Shanghai")
ZH = NoticeSettings("【供电服务】", "95598", "https://power.example/w", SHANGHAI)
EN = NoticeSettings("Power service:", "95598", "https://power.example/w", SHANGHAI)
EXPIRES = datetime(2026, 7, 1, 15, 0, tzinfo=UTC)  # 23:00 in Shanghai


def warning(
    title_zh: str = "台风海葵红色预警", text_zh: str = "", title_en: str = "Typhoon Haikui", text_en: str = ""
):
    return Warning(
        hazard="typhoon",
        level=WarningLevel.RED,
        title_zh=title_zh,
        text_zh=text_zh,
        title_en=title_en,
        text_en=text_en,
        expires_at=EXPIRES,
        cap_msg_type="Alert",
    )


def test_a_short_chinese_notice_keeps_its_text_and_fits_two_ucs2_parts() -> None:
    body = notice_text(warning(text_zh="预计今夜登陆。"), "zh", ZH)
    assert body == (
        "【供电服务】台风海葵红色预警。红色台风预警，有效至07月01日23:00。预计今夜登陆。"
        "请做好停电准备，详情见https://power.example/w ，停电报修请拨95598。"
    )
    assert encoding_for(body) is UCS2
    parts = sms_segments(body)
    assert len(parts) == 2 and all(len(p) <= 67 for p in parts) and "".join(parts) == body


def test_a_4000_character_chinese_text_is_left_to_the_link_and_the_hotline() -> None:
    long_text = ("台风中心附近最大风力十四级，沿海地区将出现大暴雨。" * 200)[:MAX_TEXT_CHARS]
    body = notice_text(warning(text_zh=long_text), "zh", ZH)
    assert "沿海地区" not in body
    assert "https://power.example/w" in body and body.endswith("停电报修请拨95598。")
    assert len(sms_segments(body)) <= NOTICE_MAX_PARTS


def test_a_title_too_long_is_shortened_with_an_ellipsis() -> None:
    body = notice_text(warning(title_zh="台风" * 100), "zh", ZH)
    assert "台风台风…。红色台风预警" in body
    assert len(sms_segments(body)) == NOTICE_MAX_PARTS
    # Shortened only as much as needed: one more character of the title would not fit.
    assert len(sms_segments(body.replace("…", "台风"))) > NOTICE_MAX_PARTS


def test_a_plain_english_notice_stays_gsm7_and_a_long_text_is_dropped() -> None:
    short = notice_text(warning(text_en="Landfall expected tonight."), "en", EN)
    assert short == (
        "Power service: Typhoon Haikui. Red typhoon warning until 01 Jul 23:00. Landfall expected "
        "tonight. Prepare for possible power cuts. Details: https://power.example/w Report an outage "
        "on 95598."
    )
    assert encoding_for(short) is GSM7 and len(sms_segments(short)) == 2
    long = notice_text(warning(text_en="Gusts above force 12 along the coast. " * 100), "en", EN)
    assert "Gusts" not in long and len(sms_segments(long)) <= NOTICE_MAX_PARTS
    title = notice_text(warning(title_en="Typhoon " * 80), "en", EN)
    assert title.startswith("Power service: Typhoon Typhoon") and ".... Red typhoon warning" in title
    assert encoding_for(title) is GSM7
    assert len(sms_segments(title)) == NOTICE_MAX_PARTS


def test_publishing_puts_the_short_split_notice_in_the_outbox(database, clock) -> None:
    build_small_territory(database, clock)
    with database.write() as session:
        set_setting(session, "warnings.notice_link", "https://power.example/w", clock, "test")
    warning_id = execute(
        context_of(database, clock, MANAGER),
        CreateWarning(
            WarningInput(
                "typhoon",
                "red",
                1,
                "Typhoon Haikui",
                "台风海葵红色预警",
                "Full text " * 300,
                "台风中心附近最大风力十四级。" * 250,
                DistrictsArea(("W",)),
                clock.now(),
                clock.now() + timedelta(hours=12),
            )
        ),
    )
    execute(context_of(database, clock, MANAGER), IssueWarning(warning_id, 1))
    with database.read() as session:
        bodies = session.scalars(select(Notification.body)).all()
    assert len(bodies) == 8 and len(set(bodies)) == 1
    (body,) = set(bodies)
    assert body.startswith("【供电服务】台风海葵红色预警。红色台风预警") and "https://power.example/w" in body
    assert "风力十四级" not in body and len(sms_segments(body)) <= NOTICE_MAX_PARTS
