"""Reading CAP 1.2 without a database: hostile XML refused, lat,lon turned round, hazards and levels."""

from __future__ import annotations

import pytest

from emergency.core.errors import InvalidInput
from emergency.warnings.area import CircleArea
from emergency.warnings.cap_parse import circle_area, parse_alert, polygon_ring
from tests.integration.test_warning_cap import OFFICIAL

LIMIT = 1_048_576


def with_info(info: str, head: str = "<msgType>Alert</msgType>") -> bytes:
    return f"""<?xml version="1.0"?>
<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2">
  <identifier>X-1</identifier><sender>met@example.cn</sender><sent>2026-07-01T10:00:00+08:00</sent>
  <status>Actual</status>{head}<scope>Public</scope>
  <info><language>en-US</language><category>Met</category><urgency>Expected</urgency>
    <certainty>Likely</certainty>{info}</info>
</alert>""".encode()


def test_an_official_chinese_alert_reads_with_its_polygon_turned_to_lon_lat():
    alert = parse_alert(OFFICIAL, LIMIT)
    assert (alert.hazard, alert.level.value, alert.msg_type) == ("typhoon", "red", "Alert")
    assert alert.sent.isoformat() == "2026-07-01T02:00:00+00:00"
    assert polygon_ring(alert.areas[0].polygons[0])[0] == (121.12, 28.0)  # CAP wrote "28.0,121.12"
    assert alert.expires_at.isoformat() == "2026-07-02T02:00:00+00:00"


@pytest.mark.parametrize(
    ("document", "reason"),
    [
        (b'<!DOCTYPE a [<!ENTITY x SYSTEM "file:///etc/passwd">]><a>&x;</a>', "DTDs and entity declarations"),
        (b'<!DOCTYPE a SYSTEM "http://evil.example/a.dtd"><a/>', "DTDs and entity declarations"),
        (b"<a>" + b"x" * 200, "larger than"),
    ],
    ids=["external-entity", "external-dtd", "too-big"],
)
def test_hostile_documents_are_refused_before_parsing(document, reason):
    with pytest.raises(InvalidInput, match=reason):
        parse_alert(document, 100 if reason == "larger than" else LIMIT)


@pytest.mark.parametrize(
    ("event", "severity", "hazard", "level"),
    [
        ("Heavy rain warning", "Severe", "rainstorm", "orange"),
        ("雷电黄色预警", "Moderate", "thunderstorm", "yellow"),
        ("Road icing", "Minor", "ice", "blue"),
        ("Volcanic ash", "Extreme", "other", "red"),
    ],
)
def test_hazard_and_colour_come_from_the_event_and_severity(event, severity, hazard, level):
    alert = parse_alert(
        with_info(
            f"<event>{event}</event><severity>{severity}</severity><area><areaDesc>x</areaDesc>"
            "<circle>28.05,121.05 5</circle></area>"
        ),
        LIMIT,
    )
    assert (alert.hazard, alert.level.value) == (hazard, level)
    assert circle_area(alert.areas[0].circles[0]) == CircleArea(121.05, 28.05, 5.0)


def test_an_unknown_severity_without_a_colour_leaves_the_level_to_the_manager():
    alert = parse_alert(with_info("<event>Fog</event><severity>Unknown</severity>"), LIMIT)
    assert (alert.level.value, alert.level.source) == (None, None)
    assert "level_needed" in [n.code for n in alert.notes]
