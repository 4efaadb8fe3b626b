"""The Warnings page shows where an imported draft came from, in both languages (AppTest): the
agency, its identifier, sent time, its own words in its own languages, what was derived and what
repaired, and what the draft still needs; the manager chooses a level no one gave."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

from streamlit.testing.v1 import AppTest

from emergency.app.bus import execute
from emergency.app.commands.warnings import ImportCapAlert
from emergency.core.actor import Actor
from emergency.core.clock import FakeClock
from emergency.core.db import get_database
from emergency.core.models import Warning as WarningRow
from tests.pages.test_access import texts
from tests.pages.test_manager_pages import open_page
from tests.support.app_context import context_of

CAP_DIR = Path(__file__).resolve().parents[1] / "data" / "cap"
# The test set's alerts were sent on 1 July 2026; they are imported as of then.
SENT_CLOCK = FakeClock(datetime(2026, 7, 1, 2, 0, tzinfo=UTC))
MANAGER = Actor("manager", "manager")


def import_file(url: str, name: str, replace: tuple[tuple[bytes, bytes], ...] = ()) -> int:
    data = (CAP_DIR / name).read_bytes()
    for old, new in replace:
        data = data.replace(old, new)
    outcome = execute(context_of(get_database(url), SENT_CLOCK, MANAGER), ImportCapAlert(data))
    assert outcome.warning_id is not None
    return outcome.warning_id


def shown_text(at: AppTest) -> str:
    """What the page says, with the escapes that keep agency text plain in markdown taken out."""
    return re.sub(r"\\(.)", r"\1", texts(at))


def frames_text(at: AppTest) -> str:
    return "\n".join(frame.value.to_string() for frame in at.dataframe)


def test_an_imported_draft_says_where_it_came_from_and_what_it_needs(territory_db):
    url, _territory = territory_db
    import_file(url, "metservice_wind_bad_ring.xml")
    at = open_page("manager_warnings.py")
    shown, frames = shown_text(at), frames_text(at)
    assert "MetService (https://www.metservice.com)" in frames
    assert "2.49.0.0.554.0.NZ.20260701T0130Z.metservice.wind.4411" in frames
    assert "2026-07-01 09:30" in frames  # sent 13:30 +12:00, shown in local time (Asia/Shanghai)
    assert "from its severity" in frames
    assert "Colour level from its severity (Moderate)." in shown
    assert "Polygon 3 was not valid (Self-intersection[121.075 28.025]): repaired into 2 part(s)." in shown
    assert "Polygon 5 could not be used" in shown
    assert "The agency wrote no Chinese: write the Chinese title (edit the draft)." in shown
    description = "Southwest winds may approach severe gale in exposed places, with gusts of 100 km/h."
    assert description in [x.value for x in at.text]
    assert "[Chinese title not given]" not in shown  # the English page shows the English title


def test_in_chinese_the_same_draft_reads_in_chinese_with_the_agencys_own_words(territory_db, monkeypatch):
    url, _territory = territory_db
    import_file(url, "meteoalarm_wind_fr.xml")
    monkeypatch.setenv("OUTAGE_LANG", "zh")
    at = open_page("manager_warnings.py")
    shown = shown_text(at)
    assert "［未提供中文标题］ Yellow wind warning" in shown
    assert "颜色等级来自其 awareness_level 参数（2; yellow; Moderate）。" in shown
    assert "机构未提供中文：请填写中文标题（编辑草稿）。" in shown
    french = [x.value for x in at.text]
    assert "Vigilance jaune vent violent" in french and "Yellow wind warning" in french
    assert "来自其 awareness_level 参数" in frames_text(at)


def test_the_manager_chooses_a_level_the_alert_did_not_give(territory_db):
    url, _territory = territory_db
    warning_id = import_file(
        url,
        "meteoalarm_wind_fr.xml",
        ((b"2; yellow; Moderate", b"Unknown"), (b"Vigilance jaune", b"Vigilance"), (b"Yellow wind", b"Wind")),
    )
    at = open_page("manager_warnings.py")
    assert "The agency's alert gives no colour level: choose one." in shown_text(at)
    assert "to choose" in frames_text(at)
    next(s for s in at.selectbox if s.label == "Colour level").select("orange").run()
    next(b for b in at.button if b.label == "Set the level").click().run()
    assert not at.exception, at.exception
    assert any(f"Warning {warning_id} is now Orange (II)." in s.value for s in at.success)
    with get_database(url).read() as session:
        assert session.get(WarningRow, warning_id).level == "orange"
    assert "The agency's alert gives no colour level" not in shown_text(at)


def test_a_draft_without_a_known_area_opens_without_a_preview(territory_db):
    url, _territory = territory_db
    import_file(url, "bom_thunderstorm_geocode_only.xml")
    at = open_page("manager_warnings.py")
    assert "The alert's area is not known here: draw or pick the area (edit the draft)." in shown_text(at)
    assert not [m for m in at.metric if m.label == "Customers"]
    assert "AMOC-ForecastDistrict:QLD_PW001" in shown_text(at)
