"""Reading agencies' alerts without a database: the colour level and where it came from, every info
block kept, titles per language (never a copy), and refusals only for what cannot be read."""

from __future__ import annotations

from pathlib import Path

import pytest

from emergency.core.errors import InvalidInput
from emergency.warnings.cap_parse import awareness_colour, colour_word, parse_alert

LIMIT = 1_048_576
CAP_DIR = Path(__file__).resolve().parents[1] / "data" / "cap"


def alert_with(info: str, *, status: str = "Actual", language: str = "en-US") -> bytes:
    return f"""<?xml version="1.0"?>
<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2">
  <identifier>X-1</identifier><sender>met@example.org</sender><sent>2026-07-01T10:00:00+08:00</sent>
  <status>{status}</status><msgType>Alert</msgType><scope>Public</scope>
  <info><language>{language}</language><category>Met</category><urgency>Expected</urgency>
    <certainty>Likely</certainty>{info}</info>
</alert>""".encode()


@pytest.mark.parametrize(
    ("text", "colour"),
    [
        ("Orange warning for wind", "orange"),
        ("台风红色预警信号", "red"),
        ("暴雨蓝色预警", "blue"),
        ("Required Weekly Test", None),  # "Required" holds "red"
        ("A hundred millimetres of rain", None),  # so does "hundred"
        ("Yellow warning upgraded to orange", None),  # two colours: a person reads and chooses
        ("由黄色升级为橙色预警", None),
        ("Fog", None),
    ],
)
def test_a_colour_word_counts_only_whole_and_alone(text, colour):
    assert colour_word(text) == colour


@pytest.mark.parametrize(
    ("value", "colour"),
    [
        ("2; yellow; Moderate", "yellow"),
        ("3; orange; Severe", "orange"),
        ("4; red; Extreme", "red"),
        ("4", "red"),
        ("1; green; Minor", None),  # green: no particular awareness, so no colour level of ours
    ],
)
def test_meteoalarm_awareness_levels(value, colour):
    assert awareness_colour(value) == colour


def test_the_severity_comes_before_the_parameters_and_the_words():
    alert = parse_alert(
        alert_with(
            "<event>Wind</event><severity>Severe</severity><headline>Yellow wind warning</headline>"
            "<parameter><valueName>awareness_level</valueName><value>2; yellow; Moderate</value></parameter>"
        ),
        LIMIT,
    )
    assert (alert.level.value, alert.level.source, alert.level.detail) == ("orange", "severity", "Severe")


def test_a_colour_in_a_parameter_comes_before_one_in_the_headline():
    alert = parse_alert(
        alert_with(
            "<event>Wind</event><severity>Unknown</severity><headline>Red sky at night</headline>"
            "<parameter><valueName>ColourCode</valueName><value>Orange</value></parameter>"
        ),
        LIMIT,
    )
    assert (alert.level.value, alert.level.source) == ("orange", "colour_parameter")


def test_no_chinese_block_means_no_chinese_title_never_a_copy():
    alert = parse_alert(
        alert_with("<event>Wind</event><severity>Minor</severity><headline>Wind</headline>"), LIMIT
    )
    assert (alert.title_en, alert.title_zh, alert.text_zh) == ("Wind", "", "")
    assert "no_chinese" in [n.code for n in alert.notes]


def test_a_headline_longer_than_a_title_is_shortened_and_kept_whole_in_its_block():
    headline = "Severe Thunderstorm Warning " * 20
    alert = parse_alert(
        alert_with(f"<event>Storm</event><severity>Severe</severity><headline>{headline}</headline>"), LIMIT
    )
    assert len(alert.title_en) == 200 and alert.title_en.endswith("…")
    assert alert.infos[0].get("headline") == headline.strip()
    assert ("title_shortened", {"language": "en", "chars": str(len(headline.strip()))}) in [
        (n.code, n.params) for n in alert.notes
    ]


def test_every_info_block_is_kept_with_its_language():
    alert = parse_alert((CAP_DIR / "meteoalarm_wind_fr.xml").read_bytes(), LIMIT)
    assert [(i.language, i.lang) for i in alert.infos] == [("fr-FR", "fr"), ("en-GB", "en")]
    french = alert.infos[0]
    assert french.get("headline") == "Vigilance jaune vent violent"
    assert ("awareness_type", "1; Wind") in french.parameters and ("EMMA_ID", "FR29") in french.event_codes
    assert french.areas[0].geocodes == (("EMMA_ID", "FR29"), ("NUTS3", "FR522"))
    # The English block is the English title and text, whichever block comes first.
    assert alert.title_en == "Yellow wind warning"
    assert alert.text_en.startswith("Gusts of 90 to 100 km/h") and alert.text_en.endswith("carry off.")


@pytest.mark.parametrize("status", ["Actual", "Test", "Exercise", "System", "Draft"])
def test_every_cap_status_is_read_for_the_importer_to_judge(status):
    alert = parse_alert(alert_with("<event>Wind</event><severity>Minor</severity>", status=status), LIMIT)
    assert alert.status == status


def test_a_status_outside_cap_is_refused():
    with pytest.raises(InvalidInput, match="status 'Live' is not one of"):
        parse_alert(alert_with("<event>Wind</event><severity>Minor</severity>", status="Live"), LIMIT)
