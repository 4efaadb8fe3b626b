"""Reading an official CAP 1.2 alert as the agency wrote it, tolerantly and honestly.

Everything the agency wrote is kept (every `info` block with its language, parameters, event
codes, web and contact; texts of any length), and what we derive from it says where it came from:
the colour level from the severity, else from parameters agencies use for it (MeteoAlarm's
`awareness_level` such as "2; yellow; Moderate", colour words in English or Chinese), else it is
left for the manager to choose. Only what makes the document unusable is refused here: not XML,
DTDs or entities (refused before anything is expanded), not a CAP alert, no identity, bad times.
Areas are read as given; repairing them needs the territory (emergency.warnings.cap_import).
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from xml.parsers import expat

from emergency.core.errors import InvalidInput
from emergency.core.models import Hazard, WarningLevel
from emergency.warnings.area import CircleArea
from emergency.warnings.cap import HAZARD_WORDS, LEVEL_SEVERITY, NS, SEVERITY_LEVEL

_Q = f"{{{NS}}}"
_FORBIDDEN_ID = re.compile(r"[\s,<&]")
MAX_TITLE_CHARS = 200
# English colour words as whole words only ("hundred" holds "red"); Chinese ones as written.
_COLOUR_EN = re.compile(r"\b(red|orange|yellow|blue)\b", re.IGNORECASE)
_COLOUR_ZH = {"红色": "red", "橙色": "orange", "黄色": "yellow", "蓝色": "blue"}
# MeteoAlarm's awareness levels by number: 1 (green) means no particular awareness, so no level.
_AWARENESS_NUMBER = {"2": "yellow", "3": "orange", "4": "red"}
# Where a colour level can come from, in the order they are tried (derive_level).
LEVEL_SOURCES = ("level_parameter", "severity", "awareness_level", "colour_parameter", "colour_text")
STATUSES = ("Actual", "Exercise", "System", "Test", "Draft")
MSG_TYPES = ("Alert", "Update", "Cancel", "Ack", "Error")
# A warning is about this era: a time outside it is a typing error, and year 9999 plus a warning's
# default lifetime would overflow the calendar.
CAP_YEARS = range(1970, 2200)


@dataclass(frozen=True)
class Note:
    """One thing the importer derived, repaired or could not do, for the manager to read.

    `code` names the sentence (i18n key `capin.note.<code>`), `params` fills it in."""

    code: str
    params: dict[str, str] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        return {"code": self.code, **self.params}


@dataclass(frozen=True)
class RawArea:
    """One `area` of an info block as written: rings still in the agency's "lat,lon" text."""

    description: str
    polygons: tuple[str, ...]
    circles: tuple[str, ...]
    geocodes: tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class InfoBlock:
    """One `info` block, every element kept as written (`language` as given, `lang` its prefix)."""

    language: str
    lang: str
    fields: dict[str, str]  # event, headline, description, instruction, web, contact, severity, ...
    parameters: tuple[tuple[str, str], ...]
    event_codes: tuple[tuple[str, str], ...]
    areas: tuple[RawArea, ...]

    def get(self, name: str) -> str | None:
        return self.fields.get(name)

    def as_json(self) -> dict[str, Any]:
        return {
            "language": self.language,
            **self.fields,
            "parameters": [list(p) for p in self.parameters],
            "event_codes": [list(c) for c in self.event_codes],
            "areas": [
                {
                    "description": a.description,
                    "polygons": list(a.polygons),
                    "circles": list(a.circles),
                    "geocodes": [list(g) for g in a.geocodes],
                }
                for a in self.areas
            ],
        }


@dataclass(frozen=True)
class Level:
    """The colour level and where it came from; `value` None: the manager must choose it."""

    value: WarningLevel | None
    source: str | None  # level_parameter | severity | awareness_level | colour_parameter | colour_text
    detail: str = ""


@dataclass(frozen=True)
class ParsedAlert:
    identifier: str
    sender: str
    sent: datetime
    status: str
    msg_type: str
    references: str | None
    infos: tuple[InfoBlock, ...]
    hazard: Hazard
    level: Level
    readiness_level: int | None
    title_en: str
    title_zh: str  # "" when the agency gave no Chinese block: never a copy of the English
    text_en: str
    text_zh: str
    effective_at: datetime
    onset_at: datetime | None
    expires_at: datetime | None
    areas: tuple[RawArea, ...]
    notes: tuple[Note, ...]

    @property
    def sender_name(self) -> str | None:
        return next((i.get("senderName") for i in self.infos if i.get("senderName")), None)

    def reference_triples(self) -> list[tuple[str, str, str]]:
        """The earlier messages this one refers to, as (sender, identifier, sent)."""
        triples = []
        for item in (self.references or "").split():
            parts = item.split(",")
            if len(parts) == 3 and parts[0] and parts[1]:
                triples.append((parts[0], parts[1], parts[2]))
        return triples


def parse_alert(data: bytes, max_bytes: int) -> ParsedAlert:
    """Read a CAP 1.2 alert; refuses only what cannot be read at all (see the module's docstring)."""
    if len(data) > max_bytes:
        raise InvalidInput(f"the file is larger than {max_bytes // 1024} KiB", field="cap")
    root = safe_parse(data)
    if root.tag != f"{_Q}alert":
        raise InvalidInput(f"not a CAP 1.2 alert (root element {root.tag})", field="cap")
    identifier = _required(root, "identifier")
    if _FORBIDDEN_ID.search(identifier):
        raise InvalidInput("the identifier contains a space, comma, '<' or '&'", field="identifier")
    sender = _required(root, "sender")
    sent = _time(_required(root, "sent"), "sent")
    status = _one_of(_required(root, "status"), STATUSES, "status")
    msg_type = _one_of(_required(root, "msgType"), MSG_TYPES, "msgType")
    _required(root, "scope")
    infos = tuple(_info_block(info) for info in root.findall(f"{_Q}info"))
    if not infos and msg_type in ("Alert", "Update"):
        raise InvalidInput("the alert has no info block", field="info")
    return _derive(root, identifier, sender, sent, status, msg_type, infos)


def _derive(
    root: ET.Element,
    identifier: str,
    sender: str,
    sent: datetime,
    status: str,
    msg_type: str,
    infos: tuple[InfoBlock, ...],
) -> ParsedAlert:
    notes: list[Note] = []
    en = next((i for i in infos if i.lang == "en"), None)
    zh = next((i for i in infos if i.lang == "zh"), None)
    primary = en or (infos[0] if infos else None)
    if primary is not None and en is None:
        notes.append(Note("no_english", {"language": primary.language}))
    if infos and zh is None:
        notes.append(Note("no_chinese"))
    title_en = _title(primary, notes, "en") if primary else ""
    title_zh = _title(zh, notes, "zh") if zh else ""
    level = derive_level(infos)
    if infos:
        notes.append(
            Note(f"level_{level.source}", {"detail": level.detail}) if level.source else Note("level_needed")
        )
    times = _times(primary, sent) if primary else (sent, None, None)
    area_block = next((i for i in (primary, *infos) if i is not None and i.areas), primary)
    return ParsedAlert(
        identifier=identifier,
        sender=sender,
        sent=sent,
        status=status,
        msg_type=msg_type,
        references=_text(root, "references"),
        infos=infos,
        hazard=derive_hazard(infos),
        level=level,
        readiness_level=_readiness(primary) if primary else None,
        title_en=title_en,
        title_zh=title_zh,
        text_en=_full_text(primary) if primary else "",
        text_zh=_full_text(zh) if zh else "",
        effective_at=times[0],
        onset_at=times[1],
        expires_at=times[2],
        areas=area_block.areas if area_block else (),
        notes=tuple(notes),
    )


def _title(info: InfoBlock, notes: list[Note], language: str) -> str:
    title = info.get("headline") or info.get("event") or ""
    if len(title) > MAX_TITLE_CHARS:
        # The whole headline stays in the kept info block; the title is what lists and SMS show.
        notes.append(Note("title_shortened", {"language": language, "chars": str(len(title))}))
        return title[: MAX_TITLE_CHARS - 1].rstrip() + "…"
    return title


def _full_text(info: InfoBlock) -> str:
    """The description and the instruction, whole: what to do matters as much as what comes."""
    return "\n\n".join(filter(None, [info.get("description"), info.get("instruction")]))


def _times(info: InfoBlock, sent: datetime) -> tuple[datetime, datetime | None, datetime | None]:
    def optional(name: str) -> datetime | None:
        text = info.get(name)
        return _time(text, name) if text else None

    return optional("effective") or sent, optional("onset"), optional("expires")


# --- colour level and hazard -------------------------------------------------------------------


def derive_level(infos: tuple[InfoBlock, ...]) -> Level:
    """The colour level from the first of: our own `level` parameter, the severity, MeteoAlarm's
    `awareness_level`, a colour word in a parameter, a colour word in the event or headline. A
    text naming two colours ("yellow upgraded to orange") gives none: the manager reads and chooses."""
    for info in infos:
        named = dict(info.parameters).get("level")
        if named in LEVEL_SEVERITY:
            return Level(WarningLevel(named), "level_parameter", named)
    for info in infos:
        severity = info.get("severity")
        if severity in SEVERITY_LEVEL:
            return Level(WarningLevel(SEVERITY_LEVEL[severity]), "severity", severity)
    for info in infos:
        for name, value in info.parameters:
            if name.lower() == "awareness_level":
                colour = awareness_colour(value)
                if colour:
                    return Level(WarningLevel(colour), "awareness_level", value)
    for info in infos:
        for name, value in info.parameters:
            colour = colour_word(value)
            if colour:
                return Level(WarningLevel(colour), "colour_parameter", f"{name}: {value}")
    for info in infos:
        for element in ("event", "headline"):
            text = info.get(element) or ""
            colour = colour_word(text)
            if colour:
                return Level(WarningLevel(colour), "colour_text", text[:80])
    return Level(None, None)


def awareness_colour(value: str) -> str | None:
    """MeteoAlarm's "2; yellow; Moderate": the colour word, else the number."""
    parts = [p.strip().lower() for p in value.split(";")]
    for part in parts[1:2]:
        if part in LEVEL_SEVERITY:
            return part
    return _AWARENESS_NUMBER.get(parts[0]) if parts else None


def colour_word(text: str) -> str | None:
    """The one colour a text names (红色/橙色/黄色/蓝色 or the English word); None for none or several."""
    found = {colour for word, colour in _COLOUR_ZH.items() if word in text}
    found.update(match.lower() for match in _COLOUR_EN.findall(text))
    return found.pop() if len(found) == 1 else None


def derive_hazard(infos: tuple[InfoBlock, ...]) -> Hazard:
    for info in infos:
        code = dict(info.event_codes).get("hazard")
        if code in {h.value for h in Hazard}:
            return Hazard(code)
    words = " ".join(
        text
        for info in infos
        for text in (info.get("event"), info.get("headline"), *(v for _n, v in info.parameters))
        if text
    ).lower()
    for hazard, keys in HAZARD_WORDS:
        if any(key in words for key in keys):
            return hazard
    return Hazard.OTHER


def _readiness(info: InfoBlock) -> int | None:
    value = dict(info.parameters).get("readiness_level")
    if value is None:
        return None
    if value not in ("1", "2", "3", "4"):
        raise InvalidInput("readiness_level must be 1 to 4", field="readiness_level")
    return int(value)


# --- areas as written --------------------------------------------------------------------------


def polygon_ring(text: str) -> tuple[tuple[float, float], ...]:
    """CAP's "lat,lon lat,lon ..." as (lon, lat) points; ValueError when a pair is not one."""
    points = []
    for pair in text.split():
        lat_text, comma, lon_text = pair.partition(",")
        if not comma:
            raise ValueError(f"'{pair[:40]}' is not a 'lat,lon' pair")
        points.append((float(lon_text), float(lat_text)))
    return tuple(points)


def circle_area(text: str) -> CircleArea:
    """CAP's "lat,lon radius-km"; ValueError when it is not one."""
    centre, _, radius = text.strip().partition(" ")
    lat_text, comma, lon_text = centre.partition(",")
    if not comma:
        raise ValueError(f"'{text[:40]}' is not a 'lat,lon radius' circle")
    return CircleArea(float(lon_text), float(lat_text), float(radius))


# --- XML ---------------------------------------------------------------------------------------


def safe_parse(data: bytes) -> ET.Element:
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


_INFO_FIELDS = (
    "category",
    "event",
    "responseType",
    "urgency",
    "severity",
    "certainty",
    "audience",
    "effective",
    "onset",
    "expires",
    "senderName",
    "headline",
    "description",
    "instruction",
    "web",
    "contact",
)


def _info_block(info: ET.Element) -> InfoBlock:
    language = _text(info, "language") or "en-US"  # CAP's default language
    fields = {name: value for name in _INFO_FIELDS if (value := _text(info, name)) is not None}
    return InfoBlock(
        language=language,
        lang=language.lower().split("-")[0],
        fields=fields,
        parameters=_named_values(info, "parameter"),
        event_codes=_named_values(info, "eventCode"),
        areas=tuple(
            RawArea(
                description=_text(area, "areaDesc") or "",
                polygons=_texts(area, "polygon"),
                circles=_texts(area, "circle"),
                geocodes=_named_values(area, "geocode"),
            )
            for area in info.findall(f"{_Q}area")
        ),
    )


def _texts(parent: ET.Element, tag: str) -> tuple[str, ...]:
    return tuple(e.text.strip() for e in parent.findall(f"{_Q}{tag}") if e.text and e.text.strip())


def _named_values(parent: ET.Element, tag: str) -> tuple[tuple[str, str], ...]:
    values = []
    for element in parent.findall(f"{_Q}{tag}"):
        name, value = _text(element, "valueName"), _text(element, "value")
        if name and value:
            values.append((name, value))
    return tuple(values)


def _text(parent: ET.Element, name: str) -> str | None:
    """The element's text with its ends trimmed (a long text keeps its paragraphs); None if blank."""
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


def _one_of(value: str, allowed: tuple[str, ...], name: str) -> str:
    if value not in allowed:
        raise InvalidInput(f"{name} '{value[:40]}' is not one of {', '.join(allowed)}", field=name)
    return value


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
