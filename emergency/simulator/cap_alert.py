"""The official warning as the meteorological service would send it: a CAP 1.2 alert document.

The simulator imports this document through the same CAP import a manager uses, so the warning
goes through parsing, area resolution and the draft -> issue flow like a real one.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import datetime, timedelta, timezone

from emergency.simulator.scenarios import WarningSpec

CAP_NS = "urn:oasis:names:tc:emergency:cap:1.2"
BEIJING = timezone(timedelta(hours=8))
SENDER = "met-office@simulator.invalid"


def cap_alert(
    spec: WarningSpec, origin: datetime, sent: datetime, district_codes: list[str], seed: int
) -> bytes:
    """A CAP Alert in English and Chinese over the given districts, times relative to `origin`."""
    ET.register_namespace("", CAP_NS)
    root = ET.Element(f"{{{CAP_NS}}}alert")

    def sub(parent: ET.Element, tag: str, text: str | None = None) -> ET.Element:
        element = ET.SubElement(parent, f"{{{CAP_NS}}}{tag}")
        element.text = text
        return element

    def cap_time(minute: float) -> str:
        return (origin + timedelta(minutes=minute)).astimezone(BEIJING).isoformat(timespec="seconds")

    sub(root, "identifier", f"SIM-{spec.hazard}-{seed}-{origin:%Y%m%dT%H%M%S}")
    sub(root, "sender", SENDER)
    sub(root, "sent", sent.astimezone(BEIJING).isoformat(timespec="seconds"))
    sub(root, "status", "Actual")
    sub(root, "msgType", "Alert")
    sub(root, "scope", "Public")
    for language, event, headline, text in (
        ("en-US", spec.event_en, spec.headline_en, spec.text_en),
        ("zh-CN", spec.event_zh, spec.headline_zh, spec.text_zh),
    ):
        info = sub(root, "info")
        sub(info, "language", language)
        sub(info, "category", "Met")
        sub(info, "event", event)
        sub(info, "urgency", "Expected")
        sub(info, "severity", spec.severity)
        sub(info, "certainty", "Likely")
        code = sub(info, "eventCode")
        sub(code, "valueName", "hazard")
        sub(code, "value", str(spec.hazard))
        sub(info, "effective", cap_time(spec.issue_minute))
        sub(info, "onset", cap_time(spec.onset_minute))
        sub(info, "expires", cap_time(spec.expires_minute))
        sub(info, "headline", headline)
        sub(info, "description", text)
        for name, value in (("level", str(spec.level)), ("readiness_level", spec.readiness_level)):
            if value is not None:
                parameter = sub(info, "parameter")
                sub(parameter, "valueName", name)
                sub(parameter, "value", str(value))
        area = sub(info, "area")
        sub(area, "areaDesc", "Whole territory" if language == "en-US" else "全市")
        for district in district_codes:
            geocode = sub(area, "geocode")
            sub(geocode, "valueName", "district")
            sub(geocode, "value", district)
    return ET.tostring(root, encoding="utf-8", xml_declaration=True)
