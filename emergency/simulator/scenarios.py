"""The storms the simulator can replay: what crosses the territory, when, and how people report it.

Positions are fractions of the territory's bounding box (x from west to east, y from south to
north), so every scenario fits any utility's territory, the demo city or a hand-made test grid.
Times are minutes from the start of the run. Fragilities are set so that a typhoon fails
about a fifth of the fuses and reclosers and one service transformer in sixteen on its path (a
few hundred outages in a city of 50,000 customers, some forty customers each, as in DOMAIN.md
section 7), a squall line a tenth of what it crosses, an ice storm a tenth of the northern lines.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from emergency.core.models import DeviceKind, Hazard, WarningLevel


@dataclass(frozen=True)
class StormSpec:
    """Where the damaging weather is over time.

    `shape`: "cyclone" (a round storm whose centre moves along a straight track), "line" (a squall
    line across the direction of travel), "area" (weather over the whole territory, stronger towards
    `end`), or "none" (no weather: damage comes from `feeder_trips`).
    """

    shape: str
    start: tuple[float, float] = (0.5, 0.5)
    end: tuple[float, float] = (0.5, 0.5)
    # The centre is at `start` at minute `enter_minute` and at `end` at `leave_minute`.
    enter_minute: float = 0.0
    leave_minute: float = 0.0
    # Damaging-wind radius (cyclone) or half-width (line), as a share of the bounding box diagonal.
    radius_share: float = 0.5
    # Strength over time: rises linearly from `floor` at `rise_from` to 1 at `peak_minute`, falls
    # back to `floor` at `fade_minute`; nothing outside [rise_from, fade_minute].
    rise_from: float = 0.0
    peak_minute: float = 0.0
    fade_minute: float = 0.0
    floor: float = 0.3
    # Expected failures per device-hour at full strength and exposure 1, by device kind.
    fragility: Mapping[str, float] = field(default_factory=dict)
    # Chance that a failure also breaks a service transformer below it, hidden until the first
    # repair: the nested outage a crew finds after restoring the upstream device.
    hidden_damage: float = 0.12
    # Crews drive this much slower at full strength (flooded roads, debris, ice).
    slowdown: float = 0.4
    # Feeder breakers that trip at these minutes (a cable fault), chosen by the seed.
    feeder_trips: tuple[float, ...] = ()


@dataclass(frozen=True)
class WarningSpec:
    """The official warning the meteorological service sends as a CAP alert, and our readiness."""

    hazard: Hazard
    level: WarningLevel
    severity: str  # CAP severity
    readiness_level: int | None
    issue_minute: float
    onset_minute: float
    expires_minute: float
    event_en: str
    event_zh: str
    headline_en: str
    headline_zh: str
    text_en: str
    text_zh: str


@dataclass(frozen=True)
class NoiseSpec:
    """How customers and meters report, with the mess real reports have."""

    call_share: float = 0.18  # customers out who call, text or use the app
    call_median_minutes: float = 9.0  # delay from losing power to calling
    smart_meter_share: float = 0.5  # customers with a meter that sends a last gasp
    last_gasp_share: float = 0.7  # last gasps that get through the mesh in a storm
    duplicate_share: float = 0.15  # callers who call again while still out
    retry_share: float = 0.05  # app or web submissions sent twice with the same external id
    location_share: float = 0.3  # app reports that give a location instead of an account
    location_error_m: float = 120.0  # GPS error of a located report
    wrong_place_share: float = 0.04  # located reports from somewhere else entirely (km off)
    hazard_share: float = 0.03  # callers who report a wire down
    partial_share: float = 0.03  # callers who say "partial power" or flicker
    powered_calls_per_hour_per_10k: float = 3.0  # calls from customers whose power is on, at full strength
    recall_share: float = 0.6  # customers still out after a repair who call again
    restored_ping_share: float = 0.5  # meters that report power restored
    ping_loss: float = 0.2  # answers to a head-end ping lost in the storm (a powered meter seems silent)
    channel_weights: Mapping[str, float] = field(
        default_factory=lambda: {"hotline": 0.5, "app": 0.25, "sms": 0.1, "web": 0.15}
    )


@dataclass(frozen=True)
class Scenario:
    name: str
    title_en: str
    title_zh: str
    storm: StormSpec
    warning: WarningSpec | None
    # Repair takes this many times the utility's typical time (storm damage is worse than a fault).
    repair_factor: float
    # The run stops at the latest here, restored or not.
    max_minutes: float
    noise: NoiseSpec = field(default_factory=NoiseSpec)


TYPHOON = Scenario(
    name="typhoon",
    title_en="Typhoon crossing the coast",
    title_zh="台风登陆",
    storm=StormSpec(
        shape="cyclone",
        # The outer bands reach the south-east coast as the run starts; the eye crosses the city
        # centre about 70 minutes in.
        start=(1.0, 0.0),
        end=(-0.5, 1.5),
        enter_minute=0.0,
        leave_minute=200.0,
        radius_share=0.45,
        rise_from=0.0,
        peak_minute=70.0,
        fade_minute=240.0,
        floor=0.35,
        fragility={
            DeviceKind.BREAKER: 0.07,
            DeviceKind.RECLOSER: 0.29,
            DeviceKind.FUSE: 0.39,
            DeviceKind.TRANSFORMER: 0.11,
        },
        hidden_damage=0.15,
        slowdown=0.45,
    ),
    warning=WarningSpec(
        hazard=Hazard.TYPHOON,
        level=WarningLevel.RED,
        severity="Extreme",
        readiness_level=1,
        issue_minute=0.0,
        onset_minute=20.0,
        expires_minute=24 * 60.0,
        event_en="Typhoon",
        event_zh="台风",
        headline_en="Typhoon red warning (simulated)",
        headline_zh="台风红色预警（模拟）",
        text_en="A typhoon is expected to make landfall within two hours. Gales above force 12 and "
        "torrential rain. Stay indoors and away from fallen power lines.",
        text_zh="预计台风将在两小时内登陆，阵风12级以上，并伴有特大暴雨。请留在室内，远离断落的电线。",
    ),
    repair_factor=1.4,
    max_minutes=36 * 60.0,
)

THUNDERSTORM = Scenario(
    name="thunderstorm",
    title_en="Squall line of thunderstorms",
    title_zh="飑线雷暴",
    storm=StormSpec(
        shape="line",
        start=(-0.2, 0.5),
        end=(1.2, 0.5),
        enter_minute=10.0,
        leave_minute=80.0,
        radius_share=0.08,
        rise_from=8.0,
        peak_minute=30.0,
        fade_minute=85.0,
        floor=0.6,
        fragility={
            DeviceKind.BREAKER: 0.38,
            DeviceKind.RECLOSER: 1.3,
            DeviceKind.FUSE: 2.0,
            DeviceKind.TRANSFORMER: 1.0,  # lightning
        },
        hidden_damage=0.1,
        slowdown=0.25,
    ),
    warning=WarningSpec(
        hazard=Hazard.THUNDERSTORM,
        level=WarningLevel.ORANGE,
        severity="Severe",
        readiness_level=3,
        issue_minute=0.0,
        onset_minute=10.0,
        expires_minute=6 * 60.0,
        event_en="Thunderstorm",
        event_zh="雷电",
        headline_en="Thunderstorm orange warning (simulated)",
        headline_zh="雷电橙色预警（模拟）",
        text_en="A line of severe thunderstorms with lightning, hail and gusts will cross the city "
        "within the hour.",
        text_zh="一条强雷暴带将在一小时内自西向东移过全市，伴有雷电、冰雹和大风。",
    ),
    repair_factor=1.1,
    max_minutes=12 * 60.0,
)

FEEDER_TRIP = Scenario(
    name="feeder-trip",
    title_en="A feeder breaker trips",
    title_zh="馈线开关跳闸",
    storm=StormSpec(shape="none", feeder_trips=(2.0,), hidden_damage=0.6, slowdown=0.0),
    warning=None,
    repair_factor=1.0,
    max_minutes=12 * 60.0,
)

ICE_STORM = Scenario(
    name="ice-storm",
    title_en="Freezing rain and ice",
    title_zh="冻雨覆冰",
    storm=StormSpec(
        shape="area",
        start=(0.5, 0.0),
        end=(0.5, 1.0),  # ice is heavier towards the north (the hills)
        rise_from=30.0,
        peak_minute=360.0,
        fade_minute=480.0,
        floor=0.1,
        fragility={
            DeviceKind.BREAKER: 0.014,
            DeviceKind.RECLOSER: 0.06,
            DeviceKind.FUSE: 0.12,
            DeviceKind.TRANSFORMER: 0.022,
        },
        hidden_damage=0.2,
        slowdown=0.55,
    ),
    warning=WarningSpec(
        hazard=Hazard.ICE,
        level=WarningLevel.ORANGE,
        severity="Severe",
        readiness_level=2,
        issue_minute=0.0,
        onset_minute=30.0,
        expires_minute=24 * 60.0,
        event_en="Freezing rain and road icing",
        event_zh="道路结冰",
        headline_en="Road icing orange warning (simulated)",
        headline_zh="道路结冰橙色预警（模拟）",
        text_en="Freezing rain through the night: ice on lines and trees, icy roads.",
        text_zh="夜间有冻雨，电线和树木覆冰，道路结冰。",
    ),
    repair_factor=1.6,
    max_minutes=48 * 60.0,
)

SCENARIOS: dict[str, Scenario] = {s.name: s for s in (TYPHOON, THUNDERSTORM, FEEDER_TRIP, ICE_STORM)}
