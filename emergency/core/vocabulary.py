"""The one vocabulary: every enumeration, and the words, orders and sets that go with them.

A word, an enum or an order is defined here once and imported: pages, CAP, the SMS notices and the
exports then say the same thing. Nothing here touches the database or the pages.

Enumerations are stored as short strings (not native database enums) so adding a value later is
a code change, not a migration fight.
"""

from __future__ import annotations

from enum import StrEnum


class AreaType(StrEnum):
    URBAN = "urban"
    RURAL = "rural"
    REMOTE = "remote"


class DeviceKind(StrEnum):
    SUBSTATION = "substation"  # a source: substation transformer (or a feeder breaker given as one)
    BREAKER = "breaker"  # feeder breaker at the substation, telemetered
    RECLOSER = "recloser"  # recloser on the feeder, telemetered
    SECTIONALISER = "sectionaliser"  # opens while the recloser upstream is open; counts its trips
    SWITCH = "switch"  # load-break switch: sectionalising, or a tie between feeders (normally open)
    DISCONNECTOR = "disconnector"  # isolator: opened off load, to make a section safe
    FUSE = "fuse"  # lateral fuse
    TRANSFORMER = "transformer"  # service (distribution) transformer


# Devices that open and close the circuit; each has a normal state and a current state.
SWITCH_KINDS = frozenset(
    {
        DeviceKind.BREAKER,
        DeviceKind.RECLOSER,
        DeviceKind.SECTIONALISER,
        DeviceKind.SWITCH,
        DeviceKind.DISCONNECTOR,
        DeviceKind.FUSE,
    }
)
# Devices that clear or isolate a fault by themselves, so an outage's edge is one of them
# (a sectionaliser opens in the recloser's dead time): where trouble-call analysis rolls up to.
PROTECTIVE_KINDS = frozenset(
    {DeviceKind.BREAKER, DeviceKind.RECLOSER, DeviceKind.SECTIONALISER, DeviceKind.FUSE}
)

# Child kind allowed under each kind in the traced supply tree. A real feeder has switches
# anywhere (a sectionaliser below a fuse, a tie switch at the end of a lateral); only a source
# heads the tree and only a service transformer ends it.
DEVICE_CHILDREN: dict[DeviceKind, frozenset[DeviceKind]] = {
    DeviceKind.SUBSTATION: SWITCH_KINDS | {DeviceKind.TRANSFORMER},
    **{kind: SWITCH_KINDS | {DeviceKind.TRANSFORMER} for kind in SWITCH_KINDS},
    DeviceKind.TRANSFORMER: frozenset(),
}
TELEMETERED_KINDS = frozenset({DeviceKind.BREAKER, DeviceKind.RECLOSER})


class SwitchState(StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    UNKNOWN = "unknown"


class ImportanceGrade(StrEnum):
    SPECIAL = "special"  # 特级
    GRADE1 = "grade1"  # 一级
    GRADE2 = "grade2"  # 二级
    TEMPORARY = "temporary"  # 临时性
    NONE = "none"


class CustomerKind(StrEnum):
    RESIDENTIAL = "residential"
    COMMERCIAL = "commercial"
    INDUSTRIAL = "industrial"
    HOSPITAL = "hospital"
    WATER = "water"
    GAS = "gas"
    TELECOM = "telecom"
    GOVERNMENT = "government"
    TRANSPORT = "transport"
    SCHOOL = "school"
    EMERGENCY_SERVICES = "emergency_services"
    LIFE_SUPPORT = "life_support"
    OTHER = "other"


class CrewKind(StrEnum):
    LINE = "line"
    CABLE = "cable"
    TREE = "tree"
    ASSESSMENT = "assessment"
    MUTUAL_AID = "mutual_aid"


class CrewStatus(StrEnum):
    AVAILABLE = "available"
    DISPATCHED = "dispatched"
    EN_ROUTE = "en_route"
    ON_SITE = "on_site"
    OFF_DUTY = "off_duty"


class ReportChannel(StrEnum):
    HOTLINE = "hotline"
    APP = "app"
    WEB = "web"
    SMS = "sms"
    METER = "meter"
    SCADA = "scada"
    FIELD = "field"


class ReportKind(StrEnum):
    NO_POWER = "no_power"
    PARTIAL_POWER = "partial_power"  # partial power, flicker, low voltage
    HAZARD = "hazard"  # wire down or other danger
    LAST_GASP = "last_gasp"  # smart meter lost supply
    POWER_RESTORED = "power_restored"  # smart meter regained supply
    DEVICE_OPENED = "device_opened"  # SCADA trip
    DEVICE_CLOSED = "device_closed"


class ReportStatus(StrEnum):
    RECEIVED = "received"
    GROUPED = "grouped"  # attached to an outage
    INFORMATIONAL = "informational"  # kept, but not a supply loss (e.g. power restored ping)


class OutageState(StrEnum):
    REPORTED = "reported"
    PREDICTED = "predicted"
    CONFIRMED = "confirmed"
    DISPATCHED = "dispatched"
    EN_ROUTE = "en_route"
    ON_SITE = "on_site"
    RESTORED = "restored"
    CLOSED = "closed"
    CANCELLED = "cancelled"
    MERGED = "merged"  # absorbed into a larger outage; keeps its history


ACTIVE_OUTAGE_STATES = frozenset(
    {
        OutageState.REPORTED,
        OutageState.PREDICTED,
        OutageState.CONFIRMED,
        OutageState.DISPATCHED,
        OutageState.EN_ROUTE,
        OutageState.ON_SITE,
    }
)


class EtrSource(StrEnum):
    SYSTEM = "system"
    DISPATCHER = "dispatcher"
    CREW = "crew"
    # From a crew's damage assessment (estimated repair time on site).
    ASSESSMENT = "assessment"


class OnSiteSource(StrEnum):
    """Who recorded a crew on site: the geofence on its positions, the crew, or a dispatcher."""

    GPS = "gps"
    CREW = "crew"
    DISPATCHER = "dispatcher"


class PositionSource(StrEnum):
    """Where a crew position came from."""

    PHONE = "phone"  # the crew page, the browser's geolocation with the crew's consent
    TRACKER = "tracker"  # a vehicle tracker through a `crew_position` token
    SIMULATOR = "simulator"
    DISPATCHER = "dispatcher"  # moved by hand on the console


class FieldRequestKind(StrEnum):
    HELP = "help"
    MATERIALS = "materials"


class DamageCause(StrEnum):
    TREE = "tree"
    WIND = "wind"
    LIGHTNING = "lightning"
    FLOOD = "flood"
    LANDSLIDE = "landslide"
    VEHICLE = "vehicle"
    ANIMAL = "animal"
    FIRE = "fire"
    EQUIPMENT_FAILURE = "equipment_failure"
    THIRD_PARTY = "third_party"
    UNKNOWN = "unknown"


class EtrConfidence(StrEnum):
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"


class AssignmentStatus(StrEnum):
    DISPATCHED = "dispatched"
    EN_ROUTE = "en_route"
    ON_SITE = "on_site"
    COMPLETE = "complete"
    CANCELLED = "cancelled"


class Hazard(StrEnum):
    TYPHOON = "typhoon"
    RAINSTORM = "rainstorm"
    FLOOD = "flood"
    THUNDERSTORM = "thunderstorm"
    GALE = "gale"
    BLIZZARD = "blizzard"
    ICE = "ice"
    COLD_WAVE = "cold_wave"
    HEAT = "heat"
    OTHER = "other"


class WarningLevel(StrEnum):
    BLUE = "blue"
    YELLOW = "yellow"
    ORANGE = "orange"
    RED = "red"


class WarningStatus(StrEnum):
    DRAFT = "draft"
    ACTIVE = "active"
    UPDATED = "updated"
    CANCELLED = "cancelled"
    EXPIRED = "expired"
    DISCARDED = "discarded"  # a draft thrown away unpublished: no CAP message, no notice ever went out


class NotificationChannel(StrEnum):
    SMS = "sms"
    PUSH = "push"
    EMAIL = "email"
    DUTY = "duty"  # to the duty manager's desk


class NotificationStatus(StrEnum):
    PENDING = "pending"
    SENDING = "sending"  # claimed by a sender process; sent_at holds when
    SENT = "sent"
    DELIVERED = "delivered"
    FAILED = "failed"


class FeedbackKind(StrEnum):
    SUGGESTION = "suggestion"
    COMPLAINT = "complaint"
    PRAISE = "praise"
    INQUIRY = "inquiry"


class FeedbackStatus(StrEnum):
    OPEN = "open"
    RESPONDED = "responded"
    IN_PROGRESS = "in_progress"
    RESOLVED = "resolved"
    VERIFIED = "verified"
    CLOSED = "closed"


class Role(StrEnum):
    DISPATCHER = "dispatcher"
    MANAGER = "manager"
    ADMIN = "admin"
    # A crew leader (ours or a mutual-aid company's): sees and works only their crew's assignments.
    CREW = "crew"


class TokenScope(StrEnum):
    INTAKE = "intake"
    CREW_POSITION = "crew_position"
    # Partners (emergency management, telecom operators, a regional dispatch centre) reading the
    # partner feeds: critical facilities by kind only, or (partner_named) by name too.
    PARTNER = "partner"
    PARTNER_NAMED = "partner_named"


class OutreachStep(StrEnum):
    MESSAGE = "message"
    CALL = "call"
    VISIT = "visit"


class OutreachStatus(StrEnum):
    PENDING = "pending"
    ACKNOWLEDGED = "acknowledged"
    DONE = "done"


# --- words and orders that go with the enumerations ---------------------------------------------

# Each hazard's name, (English, Chinese): the manager's pages, the public page, the CAP export's
# `event` and the customer SMS all say these words. Where the hazard is one of the China
# Meteorological Administration's warning signals (DOMAIN.md section 2), the Chinese is the signal's
# name, since that is what the public hears from the weather service: 台风, 暴雨, 大风, 暴雪, 寒潮,
# 高温; 雷电 for thunderstorms (the signal is 雷电; 雷雨 is a forecast word, and 雷雨大风 a different
# signal); 道路结冰 for ice, the national signal that freezing rain raises, the same weather that
# ices the lines (冰冻 names no signal). Floods are warned by the water authorities (洪水预警), not by
# a CMA signal. "Other" is a weather warning of no listed hazard: 气象 / weather, as in "气象红色预警".
HAZARD_NAMES: dict[Hazard, tuple[str, str]] = {
    Hazard.TYPHOON: ("Typhoon", "台风"),
    Hazard.RAINSTORM: ("Rainstorm", "暴雨"),
    Hazard.FLOOD: ("Flood", "洪水"),
    Hazard.THUNDERSTORM: ("Thunderstorm", "雷电"),
    Hazard.GALE: ("Gale", "大风"),
    Hazard.BLIZZARD: ("Blizzard", "暴雪"),
    Hazard.ICE: ("Ice", "道路结冰"),
    Hazard.COLD_WAVE: ("Cold wave", "寒潮"),
    Hazard.HEAT: ("Heat", "高温"),
    Hazard.OTHER: ("Weather", "气象"),
}


def hazard_name(hazard: str, language: str) -> str:
    """The hazard's name on its own, as a label or a CAP event: "Typhoon", "台风"."""
    english, chinese = HAZARD_NAMES[Hazard(hazard)]
    return chinese if language == "zh" else english


def hazard_in_text(hazard: str, language: str) -> str:
    """The hazard's name inside a sentence ("Red typhoon warning", "台风红色预警"): the same word,
    in lower case in English."""
    name = hazard_name(hazard, language)
    return name if language == "zh" else name.lower()


# Important users, most critical first: the four grades of important power users, with residential
# life-support customers, who are not a grade but count as critical beside grade 2 (DOMAIN.md
# section 2, and the restoration doctrine in section 3: critical facilities and life support before
# the rest). Also the keys, in this order, of `Outage.important_affected`.
IMPORTANCE_ORDER: tuple[str, ...] = (
    ImportanceGrade.SPECIAL.value,
    ImportanceGrade.GRADE1.value,
    ImportanceGrade.GRADE2.value,
    CustomerKind.LIFE_SUPPORT.value,
    ImportanceGrade.TEMPORARY.value,
)

# Reports that say a customer has lost supply: trouble-call analysis groups these into outages.
# A partial-power report (flicker, low voltage) is kept but does not predict an outage.
SUPPLY_LOSS_KINDS = frozenset({ReportKind.NO_POWER, ReportKind.LAST_GASP, ReportKind.HAZARD})
