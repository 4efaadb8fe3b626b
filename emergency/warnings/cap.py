"""OASIS Common Alerting Protocol 1.2: export our warnings, import official ones into drafts.

Export writes one `alert` per warning's current message, with an `info` block per language,
Update and Cancel referencing the earlier messages, and polygons in CAP's "lat,lon" order (the
reverse of GeoJSON). Import reads an alert from an untrusted file: the size is capped and any
DTD or entity declaration is refused before the document is parsed, which rules out entity
expansion bombs and external entities with the standard library's parser.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from xml.parsers import expat

from shapely.geometry import MultiPolygon, Polygon
from sqlalchemy.orm import Session

from emergency.core.errors import InvalidInput
from emergency.core.models import Hazard, Warning, WarningLevel, WarningStatus
from emergency.core.settings import get_setting
from emergency.core.vocabulary import hazard_name
from emergency.warnings.area import AreaSpec, CapArea, CircleArea, DistrictsArea, area_shape, resolve_area
from emergency.warnings.records import IN_FORCE, WarningInput, default_expiry, history

NS = "urn:oasis:names:tc:emergency:cap:1.2"
ATOM = "http://www.w3.org/2005/Atom"
_Q = f"{{{NS}}}"
LEVEL_SEVERITY = {"blue": "Minor", "yellow": "Moderate", "orange": "Severe", "red": "Extreme"}
SEVERITY_LEVEL = {v: k for k, v in LEVEL_SEVERITY.items()}
LANGUAGES = (("en-US", "en"), ("zh-CN", "zh"))
# Words in an official warning's event name that tell its hazard, checked in this order.
HAZARD_WORDS: tuple[tuple[Hazard, tuple[str, ...]], ...] = (
    (Hazard.TYPHOON, ("typhoon", "tropical cyclone", "hurricane", "台风")),
    (Hazard.RAINSTORM, ("rainstorm", "heavy rain", "暴雨")),
    (Hazard.FLOOD, ("flood", "洪水", "山洪", "内涝")),
    (Hazard.THUNDERSTORM, ("thunder", "lightning", "雷电", "雷雨")),
    (Hazard.GALE, ("gale", "strong wind", "大风")),
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


# --- import ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ParsedAlert:
    identifier: str
    sender: str
    sent: datetime
    msg_type: str
    references: str | None
    hazard: Hazard
    level: WarningLevel
    readiness_level: int | None
    title_en: str
    title_zh: str
    text_en: str
    text_zh: str
    effective_at: datetime
    onset_at: datetime | None
    expires_at: datetime | None
    area: CapArea


def parse_alert(data: bytes, max_bytes: int) -> ParsedAlert:
    """Read a CAP 1.2 alert, refusing oversize files, DTDs and entities, and missing fields."""
    if len(data) > max_bytes:
        raise InvalidInput(f"the file is larger than {max_bytes // 1024} KiB", field="cap")
    root = _safe_parse(data)
    if root.tag != f"{_Q}alert":
        raise InvalidInput(f"not a CAP 1.2 alert (root element {root.tag})", field="cap")
    identifier = _required(root, "identifier")
    if _FORBIDDEN_ID.search(identifier):
        raise InvalidInput("the identifier contains a space, comma, '<' or '&'", field="identifier")
    sender = _required(root, "sender")
    sent = _time(_required(root, "sent"), "sent")
    for name in ("status", "scope"):
        _required(root, name)
    msg_type = _required(root, "msgType")
    if msg_type not in ("Alert", "Update"):
        raise InvalidInput(
            f"a {msg_type} message cannot become a draft warning; import an Alert or Update", field="msgType"
        )
    infos = root.findall(f"{_Q}info")
    if not infos:
        raise InvalidInput("the alert has no info block", field="info")
    by_language = {_language(info): info for info in infos}
    en = by_language.get("en") or infos[0]
    zh = by_language.get("zh") or en
    for info in {id(en): en, id(zh): zh}.values():
        for name in ("category", "event", "urgency", "severity", "certainty"):
            _required(info, name)
    effective = _optional_time(en, "effective") or sent
    return ParsedAlert(
        identifier=identifier,
        sender=sender,
        sent=sent,
        msg_type=msg_type,
        references=_text(root, "references"),
        hazard=_hazard(en, zh),
        level=_level(en, zh),
        readiness_level=_readiness(en),
        title_en=(_text(en, "headline") or _required(en, "event"))[:200],
        title_zh=(_text(zh, "headline") or _required(zh, "event"))[:200],
        text_en=_text(en, "description") or "",
        text_zh=_text(zh, "description") or "",
        effective_at=effective,
        onset_at=_optional_time(en, "onset"),
        expires_at=_optional_time(en, "expires"),
        area=_cap_area(en),
    )


def draft_from_alert(session: Session, data: bytes) -> tuple[WarningInput, tuple[str, str]]:
    """An official CAP warning read as a draft for the manager to check and issue, with its own
    CAP identity (sender, identifier). The caller (the ImportCapAlert command) has checked the role
    before this reads the file: a caller who may not create warnings learns nothing about it."""
    limit = int(get_setting(session, "warnings.max_upload_bytes"))
    parsed = parse_alert(data, limit)
    area = resolve_area(session, cap_area_spec(parsed.area))
    expires = parsed.expires_at or default_expiry(session, parsed.effective_at)
    draft = WarningInput(
        hazard=parsed.hazard,
        level=parsed.level,
        readiness_level=parsed.readiness_level,
        title_en=parsed.title_en,
        title_zh=parsed.title_zh,
        text_en=parsed.text_en,
        text_zh=parsed.text_zh,
        area=area,
        effective_at=parsed.effective_at,
        onset_at=parsed.onset_at,
        expires_at=expires,
    )
    return draft, (parsed.sender, parsed.identifier)


def cap_area_spec(area: CapArea) -> AreaSpec:
    """Our own kinds where the message states them: district codes, or a single circle."""
    if area.district_codes:
        return DistrictsArea(area.district_codes)
    if len(area.circles) == 1 and not area.polygons:
        return area.circles[0]
    return area


def _safe_parse(data: bytes) -> ET.Element:
    def refuse(*_args: Any) -> Any:  # one refusal for handlers of several signatures
        raise InvalidInput("DTDs and entity declarations are not accepted in a CAP file", field="cap")

    # First pass: expat with handlers that stop at any DTD or entity, before anything is expanded.
    checker = expat.ParserCreate()
    checker.StartDoctypeDeclHandler = refuse
    checker.EntityDeclHandler = refuse
    checker.UnparsedEntityDeclHandler = refuse
    checker.ExternalEntityRefHandler = refuse
    try:
        checker.Parse(data, True)
        return ET.fromstring(data)
    except (expat.ExpatError, ET.ParseError) as error:
        raise InvalidInput(f"not well-formed XML: {error}", field="cap") from None


def _text(parent: ET.Element, name: str) -> str | None:
    element = parent.find(f"{_Q}{name}")
    if element is None or element.text is None or not element.text.strip():
        return None
    return element.text.strip()


def _required(parent: ET.Element, name: str) -> str:
    value = _text(parent, name)
    if value is None:
        where = parent.tag.removeprefix(_Q)
        raise InvalidInput(f"the {where} has no {name}", field=name)
    return value


# A warning is about this era: a time outside it is a typing error, and year 9999 plus a warning's
# default lifetime would overflow the calendar.
CAP_YEARS = range(1970, 2200)


def _time(text: str, field: str) -> datetime:
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        raise InvalidInput(f"'{text[:40]}' is not an ISO 8601 time", field=field) from None
    if when.tzinfo is None:
        raise InvalidInput("CAP times need an offset such as +08:00", field=field)
    try:
        when = when.astimezone(UTC)
    except OverflowError:  # year 1 or 9999 pushed past the calendar by its offset
        when = datetime.min.replace(tzinfo=UTC)
    if when.year not in CAP_YEARS:
        raise InvalidInput(f"'{text[:40]}' is not a time a warning can be about", field=field)
    return when


def _optional_time(parent: ET.Element, name: str) -> datetime | None:
    text = _text(parent, name)
    return _time(text, name) if text else None


def _language(info: ET.Element) -> str:
    language = (_text(info, "language") or "en-US").lower()
    return "zh" if language.startswith("zh") else "en" if language.startswith("en") else language


def _named_values(info: ET.Element, tag: str) -> dict[str, str]:
    values: dict[str, str] = {}
    for element in info.findall(f"{_Q}{tag}"):
        name, value = _text(element, "valueName"), _text(element, "value")
        if name and value:
            values[name] = value
    return values


def _hazard(en: ET.Element, zh: ET.Element) -> Hazard:
    code = _named_values(en, "eventCode").get("hazard")
    if code in {h.value for h in Hazard}:
        return Hazard(code)
    words = " ".join(
        filter(None, [_text(en, "event"), _text(zh, "event"), _text(en, "headline"), _text(zh, "headline")])
    ).lower()
    for hazard, keys in HAZARD_WORDS:
        if any(key in words for key in keys):
            return hazard
    return Hazard.OTHER


def _level(en: ET.Element, zh: ET.Element) -> WarningLevel:
    named = _named_values(en, "parameter").get("level")
    if named in LEVEL_SEVERITY:
        return WarningLevel(named)
    words = " ".join(filter(None, [_text(zh, "headline"), _text(zh, "event"), _text(en, "headline")])).lower()
    for colour, keys in COLOUR_WORDS.items():
        if any(key in words for key in keys):
            return WarningLevel(colour)
    severity = _required(en, "severity")
    if severity in SEVERITY_LEVEL:
        return WarningLevel(SEVERITY_LEVEL[severity])
    raise InvalidInput(
        f"severity {severity} gives no colour level; state it in a 'level' parameter", field="severity"
    )


def _readiness(info: ET.Element) -> int | None:
    value = _named_values(info, "parameter").get("readiness_level")
    if value is None:
        return None
    if value not in ("1", "2", "3", "4"):
        raise InvalidInput("readiness_level must be 1 to 4", field="readiness_level")
    return int(value)


def _cap_area(info: ET.Element) -> CapArea:
    polygons: list[tuple[tuple[float, float], ...]] = []
    circles: list[CircleArea] = []
    codes: list[str] = []
    for area in info.findall(f"{_Q}area"):
        for element in area.findall(f"{_Q}polygon"):
            polygons.append(tuple(_lon_lat(pair) for pair in (element.text or "").split()))
        for element in area.findall(f"{_Q}circle"):
            centre, _, radius = (element.text or "").strip().partition(" ")
            lon, lat = _lon_lat(centre)
            try:
                radius_km = float(radius)
            except ValueError:
                raise InvalidInput(
                    f"circle '{(element.text or '')[:40]}' has no radius", field="circle"
                ) from None
            circles.append(CircleArea(lon, lat, radius_km))
        for element in area.findall(f"{_Q}geocode"):
            if _text(element, "valueName") == "district" and _text(element, "value"):
                codes.append(str(_text(element, "value")))
    return CapArea(tuple(polygons), tuple(circles), tuple(codes))


def _lon_lat(pair: str) -> tuple[float, float]:
    """CAP's "lat,lon" to (lon, lat)."""
    lat_text, _, lon_text = pair.partition(",")
    try:
        return float(lon_text), float(lat_text)
    except ValueError:
        raise InvalidInput(f"'{pair[:40]}' is not a 'lat,lon' pair", field="polygon") from None
