"""OASIS Common Alerting Protocol 1.2: export our warnings (import: emergency.warnings.cap_import).

Export writes one `alert` per warning's current message, with an `info` block per language,
Update and Cancel referencing the earlier messages, and polygons in CAP's "lat,lon" order (the
reverse of GeoJSON).
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from datetime import UTC, datetime
from typing import Any

from shapely.geometry import MultiPolygon, Polygon
from sqlalchemy.orm import Session

from emergency.core.models import Hazard, Warning, WarningStatus
from emergency.core.vocabulary import hazard_name
from emergency.warnings.area import area_shape
from emergency.warnings.records import IN_FORCE, history

NS = "urn:oasis:names:tc:emergency:cap:1.2"
ATOM = "http://www.w3.org/2005/Atom"
_Q = f"{{{NS}}}"
LEVEL_SEVERITY = {"blue": "Minor", "yellow": "Moderate", "orange": "Severe", "red": "Extreme"}
SEVERITY_LEVEL = {v: k for k, v in LEVEL_SEVERITY.items()}
LANGUAGES = (("en-US", "en"), ("zh-CN", "zh"))
# Words in an official warning's event name that tell its hazard, checked in this order.
HAZARD_WORDS: tuple[tuple[Hazard, tuple[str, ...]], ...] = (
    (Hazard.TYPHOON, ("typhoon", "tropical cyclone", "tropical storm", "hurricane", "台风", "热带风暴")),
    (Hazard.RAINSTORM, ("rainstorm", "heavy rain", "暴雨")),
    (Hazard.FLOOD, ("flood", "洪水", "山洪", "内涝")),
    (Hazard.THUNDERSTORM, ("thunder", "lightning", "雷电", "雷雨")),
    (Hazard.GALE, ("gale", "wind", "大风")),
    (Hazard.BLIZZARD, ("blizzard", "snowstorm", "暴雪")),
    (Hazard.ICE, ("ice", "icing", "freezing", "道路结冰", "冰冻", "电线积冰")),
    (Hazard.COLD_WAVE, ("cold wave", "寒潮")),
    (Hazard.HEAT, ("heat", "高温")),
)
COLOUR_WORDS = {
    "blue": ("蓝色", "blue"),
    "yellow": ("黄色", "yellow"),
    "orange": ("橙色", "orange"),
    "red": ("红色", "red"),
}
_FORBIDDEN_ID = re.compile(r"[\s,<&]")


# --- export ------------------------------------------------------------------------------------


def alert_xml(session: Session, warning: Warning) -> bytes:
    """The warning's current CAP message as a standalone XML document."""
    root = alert_element(session, warning)
    ET.indent(root)
    return ET.tostring(root, encoding="utf-8", xml_declaration=True, default_namespace=NS)


def feed_xml(session: Session, warnings: list[Warning], now: datetime, self_url: str) -> bytes:
    """The warnings in force as an Atom feed whose entries each carry one full CAP alert."""
    # Prefixed names throughout: ElementTree cannot mix a default namespace with plain attributes.
    ET.register_namespace("atom", ATOM)
    ET.register_namespace("cap", NS)
    feed = ET.Element(f"{{{ATOM}}}feed")
    _sub(feed, f"{{{ATOM}}}id", self_url)
    _sub(feed, f"{{{ATOM}}}title", "Outage Desk warnings in force")
    _sub(feed, f"{{{ATOM}}}updated", _cap_time(now))
    ET.SubElement(feed, f"{{{ATOM}}}link", rel="self", href=self_url)
    for warning in warnings:
        entry = ET.SubElement(feed, f"{{{ATOM}}}entry")
        _sub(entry, f"{{{ATOM}}}id", f"{warning.cap_sender},{warning.cap_identifier}")
        _sub(entry, f"{{{ATOM}}}title", f"{warning.title_en} / {warning.title_zh}")
        _sub(entry, f"{{{ATOM}}}updated", _cap_time(_sent(session, warning)))
        ET.SubElement(
            entry, f"{{{ATOM}}}link", href=f"/api/warnings/{warning.id}.cap.xml", type="application/cap+xml"
        )
        content = ET.SubElement(entry, f"{{{ATOM}}}content", type="application/cap+xml")
        content.append(alert_element(session, warning))
    ET.indent(feed)
    return ET.tostring(feed, encoding="utf-8", xml_declaration=True)


def alert_element(session: Session, warning: Warning) -> ET.Element:
    alert = ET.Element(f"{_Q}alert")
    _sub(alert, "identifier", warning.cap_identifier)
    _sub(alert, "sender", warning.cap_sender)
    _sub(alert, "sent", _cap_time(_sent(session, warning)))
    _sub(alert, "status", "Draft" if warning.status == WarningStatus.DRAFT else "Actual")
    _sub(alert, "msgType", warning.cap_msg_type)
    _sub(alert, "scope", "Public")
    if warning.cap_references and warning.cap_msg_type in ("Update", "Cancel"):
        _sub(alert, "references", warning.cap_references)
    for language, suffix in LANGUAGES:
        alert.append(_info(warning, language, suffix))
    return alert


def _info(warning: Warning, language: str, suffix: str) -> ET.Element:
    info = ET.Element(f"{_Q}info")
    _sub(info, "language", language)
    _sub(info, "category", "Met" if warning.hazard != Hazard.OTHER else "Other")
    _sub(info, "event", hazard_name(warning.hazard, suffix))
    _sub(
        info, "responseType", "Prepare" if warning.status in (WarningStatus.DRAFT, *IN_FORCE) else "AllClear"
    )
    _sub(info, "urgency", "Expected")
    _sub(info, "severity", LEVEL_SEVERITY[str(warning.level)])
    _sub(info, "certainty", "Likely")
    code = ET.SubElement(info, f"{_Q}eventCode")
    _sub(code, "valueName", "hazard")
    _sub(code, "value", str(warning.hazard))
    _sub(info, "effective", _cap_time(warning.effective_at))
    if warning.onset_at is not None:
        _sub(info, "onset", _cap_time(warning.onset_at))
    _sub(info, "expires", _cap_time(warning.expires_at))
    _sub(info, "senderName", "Outage Desk")
    _sub(info, "headline", getattr(warning, f"title_{suffix}"))
    text = getattr(warning, f"text_{suffix}")
    if text:
        _sub(info, "description", text)
    for name, value in (("level", str(warning.level)), ("readiness_level", warning.readiness_level)):
        if value is not None:
            parameter = ET.SubElement(info, f"{_Q}parameter")
            _sub(parameter, "valueName", name)
            _sub(parameter, "value", str(value))
    info.append(_area(warning))
    return info


def _area(warning: Warning) -> ET.Element:
    area = ET.Element(f"{_Q}area")
    codes = list(warning.area_districts or [])
    _sub(area, "areaDesc", ", ".join(codes) if codes else warning.title_en)
    circle = warning.area.get("circle") if warning.area_kind == "circle" else None
    if circle:
        # CAP circles: "lat,lon radius" with the radius in km.
        _sub(area, "circle", f"{circle['lat']},{circle['lon']} {circle['radius_km']}")
    else:
        for ring in _exterior_rings(warning.area):
            _sub(area, "polygon", " ".join(f"{lat},{lon}" for lon, lat in ring))
    if warning.area_kind == "districts":
        for code in codes:
            geocode = ET.SubElement(area, f"{_Q}geocode")
            _sub(geocode, "valueName", "district")
            _sub(geocode, "value", code)
    return area


def _exterior_rings(geometry: dict[str, Any]) -> list[list[tuple[float, float]]]:
    """CAP polygons have no holes: each part's outer ring, closed (first point repeated last)."""
    shape = area_shape(geometry)
    parts = list(shape.geoms) if isinstance(shape, MultiPolygon) else [shape]
    rings = []
    for part in parts:
        assert isinstance(part, Polygon)
        coords = [(round(x, 6), round(y, 6)) for x, y in part.exterior.coords]
        if coords[0] != coords[-1]:
            coords.append(coords[0])
        rings.append(coords)
    return rings


def _sent(session: Session, warning: Warning) -> datetime:
    revisions = history(session, warning.id)
    current = [r for r in revisions if r.cap_identifier == warning.cap_identifier]
    return current[0].at if current else warning.created_at


def _cap_time(when: datetime) -> str:
    return when.astimezone(UTC).isoformat(timespec="seconds")


def _sub(parent: ET.Element, tag: str, text: str) -> ET.Element:
    element = ET.SubElement(parent, tag if tag.startswith("{") else f"{_Q}{tag}")
    element.text = text
    return element
