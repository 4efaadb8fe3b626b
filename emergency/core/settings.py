"""Thresholds and targets as data: defaults seeded into the database, read back by the services.

A utility changes them in the `settings` and `sla_targets` tables; code never hard-codes them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from emergency.core.clock import Clock
from emergency.core.models import Setting, SlaTarget

DEFAULT_SETTINGS: dict[str, tuple[Any, str]] = {
    "auth.max_failed_logins": (5, "failed logins in a row that lock an account"),
    "auth.lockout_minutes": (15, "how long a locked account stays locked"),
    "auth.session_idle_minutes": (30, "minutes without a click after which a staff session ends"),
    "territory.is_demo": (False, "the database holds the generated demo territory"),
    "territory.name_en": ("", "the territory's name in English"),
    "territory.name_zh": ("", "the territory's name in Chinese"),
    "territory.revision": (0, "bumped whenever the network or customers change, so caches of them refresh"),
    "tca.calls_to_predict_transformer": (2, "supply-loss reports on one transformer that predict it out"),
    "tca.children_to_roll_up": (2, "predicted children of a device that move the prediction up to it"),
    "tca.share_to_roll_up": (0.3, "share of a device's customers reporting that moves the prediction up"),
    "tca.window_minutes": (30, "reports further apart than this start a new outage"),
    "tca.nested_window_minutes": (60, "reports this soon after a restoration open a nested outage"),
    "tca.method": (
        "evidence",
        "how calls become outages: 'evidence' (faults scored by how well they explain who reported and "
        "who did not) or 'rules' (the calls and roll-up thresholds above)",
    ),
    "tca.p_call": (0.2, "evidence: share of customers out who call within the window (learned: tca learn)"),
    "tca.p_gasp": (
        0.3,
        "evidence: share of customers out whose meter last gasp arrives (learned: tca learn)",
    ),
    "tca.share_concentration": (
        2.0,
        "evidence: how steady the share reporting is from outage to outage (alpha + beta of its Beta "
        "prior; low lets one storm's share differ much from the learned one)",
    ),
    "tca.false_report_rate": (
        0.0001,
        "evidence: chance a customer with power reports an outage within one window (learned: tca learn)",
    ),
    "tca.fault_rates": (
        {
            "breaker": 0.3,
            "recloser": 0.3,
            "sectionaliser": 0.2,
            "fuse": 0.2,
            "transformer": 0.05,
            "service": 0.01,
        },
        "evidence: faults per device per year by kind, 'service' per customer (learned: tca learn)",
    ),
    "tca.ping_loss": (0.1, "evidence: chance a powered smart meter does not answer a ping"),
    "tca.confidence_to_move_up": (
        0.99,
        "evidence: how likely a fault higher up must be against the faults below it before the "
        "prediction moves up (it never moves down again, so with few reports it waits low)",
    ),
    "tca.learned": (None, "what tca learn computed and from which history (written by it)"),
    "meter_ping.enabled": (True, "fault location asks smart meters below a doubtful prediction (#21)"),
    "meter_ping.confidence_below": (
        0.9,
        "a prediction less confident than this pings meters below the devices that would separate it",
    ),
    "meter_ping.per_candidate": (
        3,
        "meters pinged per candidate device (below it, not below the prediction)",
    ),
    "meter_ping.levels": (2, "candidate devices above the prediction whose meters are pinged"),
    "meter_ping.timeout_seconds": (20, "how long the head-end waits for meters to answer a ping"),
    "meter_ping.repeat_minutes": (10, "an outage's meters are asked again at most this often"),
    "meter_ping.max_rounds": (
        3,
        "times analysis asks one outage's meters by itself (a dispatcher may ask more)",
    ),
    "meter_ping.max_outages": (
        50,
        "outages whose meters one round of the follow-up asks, most doubtful first",
    ),
    "meter_ping.head_end_url": ("", "the meter head-end's ping endpoint (JSON over HTTP); empty: none"),
    "intake.match_distance_m": (500, "a located report resolves to a transformer within this distance"),
    "intake.max_description_chars": (2000, "longest accepted report description"),
    "intake.max_age_hours": (72, "reports older than this are refused"),
    "intake.rate_per_minute": (
        1200,
        "requests (each up to 5,000 reports) one API token may make to POST /api/reports in a minute",
    ),
    "notify.enabled": (True, "the app queues and sends customer notifications every 30 s"),
    "notify.language": ("zh", "language of customer messages: zh or en"),
    "notify.etr_min_interval_minutes": (30, "at most one ETR message per customer in this many minutes"),
    "notify.max_age_hours": (24, "outage changes older than this are never notified (after downtime)"),
    "notify.signature_zh": ("【供电服务】", "signature that starts every Chinese message"),
    "notify.signature_en": ("Power service:", "signature that starts every English message"),
    "notify.hotline": ("95598", "number a customer still without power is asked to call"),
    "notify.webhook_url": ("", "SMS gateway webhook (POST JSON); empty: messages go to data/runtime/outbox/"),
    "notify.webhook_timeout_s": (5, "seconds the webhook sender waits for the gateway per attempt"),
    "notify.webhook_max_attempts": (3, "attempts per message on 5xx or connection errors (4xx: one)"),
    "notify.batch_size": (500, "messages handed to the sender per round"),
    "notify.sending_lease_minutes": (10, "a message claimed this long ago without a result is sent again"),
    "notify.watermark": (None, "where the notification sweep got to (UTC); written by the sweep"),
    "sla.at_risk_minutes": (3, "a clock is at risk in its last minutes"),
    "public.min_customers_shown": (25, "outage areas with fewer customers are merged or hidden"),
    "public.snapshot_interval_s": (60, "the public snapshot is rebuilt at most this often"),
    "public.lookup_per_hour": (20, "check-my-outage lookups one browser session may make in an hour"),
    "public.report_per_hour": (10, "web-form outage reports one browser session may send in an hour"),
    "public.feedback_per_hour": (5, "feedback or complaints one browser session may send in an hour"),
    "public.address_limit_factor": (
        10,
        "a client address may do this many times a session's hourly limit (many people share one address)",
    ),
    "public.report_duplicate_minutes": (
        60,
        "a web report for an account already reported this recently is answered with the first reference",
    ),
    "public.trusted_proxies": (
        [],
        "addresses of our own reverse proxies, whose X-Forwarded-For header names the real client",
    ),
    "public.lookup_restored_hours": (12, "check-my-outage says 'restored' this long after power came back"),
    "public.feedback_max_chars": (2000, "longest accepted feedback or complaint text"),
    "public.event_hours": (24, "the public restoration progress and 'restored so far' look back this far"),
    "public.restored_shown_minutes": (60, "restored outage areas stay on the public map this long"),
    "dispatch.road_factor": (1.3, "road distance as a multiple of the straight-line (great-circle) distance"),
    "dispatch.speed_urban_kmh": (30, "average crew driving speed to an outage in an urban district"),
    "dispatch.speed_rural_kmh": (45, "average crew driving speed to an outage in a rural district"),
    "dispatch.speed_remote_kmh": (35, "average crew driving speed to an outage in a remote district"),
    "dispatch.mobilisation_minutes": (5, "minutes from a crew being dispatched to it driving off"),
    "dispatch.busy_offer_minutes": (
        60,
        "a crew on site elsewhere is recommended when that job's ETR is at most this many minutes away",
    ),
    "dispatch.priority_hazard_minutes": (180, "storm plan: priority of an outage with wires down or danger"),
    "dispatch.priority_special_minutes": (150, "storm plan: priority of an outage with a special-grade user"),
    "dispatch.priority_grade1_minutes": (120, "storm plan: priority of an outage with a grade-1 user"),
    "dispatch.priority_grade2_minutes": (40, "storm plan: priority of an outage with a grade-2 user"),
    "dispatch.priority_life_support_minutes": (40, "storm plan: priority of an outage with life support"),
    "dispatch.priority_temporary_minutes": (20, "storm plan: priority of an outage with a temporary user"),
    "dispatch.priority_minutes_per_customer": (0.05, "storm plan: priority per customer still out"),
    "dispatch.priority_customers_cap_minutes": (
        60,
        "storm plan: most priority customer counts can give, so critical users stay ahead of size",
    ),
    "etr.repair_substation_minutes": (240, "typical urban repair time of a substation fault"),
    "etr.repair_breaker_minutes": (150, "typical urban repair time of a feeder breaker outage"),
    "etr.repair_recloser_minutes": (120, "typical urban repair time of a recloser outage"),
    "etr.repair_fuse_minutes": (60, "typical urban repair time of a fuse (lateral) outage"),
    "etr.repair_sectionaliser_minutes": (90, "typical urban repair time of a sectionaliser outage"),
    "etr.repair_switch_minutes": (90, "typical urban repair time of a load-break switch outage"),
    "etr.repair_disconnector_minutes": (90, "typical urban repair time of a disconnector outage"),
    "etr.repair_transformer_minutes": (90, "typical urban repair time of a service transformer outage"),
    "etr.rural_factor": (1.3, "typical repair time in a rural district as a multiple of the urban one"),
    "etr.remote_factor": (1.6, "typical repair time in a remote district as a multiple of the urban one"),
    "etr.disaster_factor": (1.5, "typical repair time in disaster mode as a multiple of the normal one"),
    "etr.round_minutes": (15, "system ETRs are rounded up to a multiple of this many minutes (0: exact)"),
    "etr.max_days_ahead": (14, "an ETR further ahead than this many days is refused"),
    "dispatch.priority_disaster_factor": (
        4.0,
        "in a disaster-mode district, important users' storm-plan priority is multiplied by this",
    ),
    "warnings.disaster_mode_readiness": (
        2,
        "a warning whose readiness level is this or higher (1 is highest) puts its area in disaster mode",
    ),
    "warnings.max_upload_bytes": (1_048_576, "largest GeoJSON or CAP file a manager may upload"),
    "warnings.max_vertices": (20_000, "most polygon vertices an uploaded or imported warning area may have"),
    "warnings.max_radius_km": (300, "largest radius of a circular warning area"),
    "warnings.crews_near_km": (10, "crews within this distance outside a warning area count as near it"),
    "warnings.cap_sender": ("outage-desk@utility.invalid", "the CAP sender of warnings this utility issues"),
    "warnings.notice_language": ("zh", "language of warning notices to customers: zh or en"),
    "warnings.notice_link": ("", "web address in warning SMS where the full warning is read (empty: none)"),
    "warnings.default_hours": (24, "an imported CAP warning without an expiry time expires after this"),
    "capfeed.max_feed_bytes": (8_388_608, "largest Atom or RSS feed document the CAP feed watcher reads"),
    "capfeed.timeout_seconds": (20, "how long the CAP feed watcher waits for an agency's server"),
    "cap.geocode_districts": (
        {},
        "imported CAP areas given as geocodes: {'valueName:value': district code}, kept by the utility",
    ),
    "simulator.demo_enabled": (True, "on a demo database the app runs a simulated storm in the background"),
    "simulator.grace_minutes": (3, "minutes past a missed dispatch clock before the demo dispatches itself"),
    "simulator.run": (None, "the live demo's run: scenario, seed, state, progress (written by it)"),
    "prepositioning.important_weight": (
        100,
        "crew pre-positioning: an important user at risk counts as this many customers",
    ),
    "reliability.momentary_max_minutes": (
        5,
        "reliability indices: an interruption this long or shorter is momentary (MAIFI), longer sustained",
    ),
    "switching.feeder_customer_limit": (
        4000,
        "most customers one feeder may carry after a switching step (a step beyond it is refused); "
        "about twice a feeder's own load, so a feeder can take a neighbour's healthy section",
    ),
    "switching.feeder_kva_limit": (
        0,
        "most transformer kVA one feeder may carry after a switching step (0: not checked)",
    ),
    "switching.feeder_limits": (
        {},
        'limits of single feeders by breaker code, e.g. {"BRK-2": {"customers": 1800, "kva": 9000}}',
    ),
    # Damage assessments (emergency/dispatch/assessment.py, photos.py).
    "assessment.photo_max_bytes": (15_728_640, "largest assessment photo a crew may upload (bytes, as sent)"),
    "assessment.photo_max_edge_px": (1600, "longest edge of an assessment photo as stored (JPEG)"),
    "assessment.photo_max_pixels": (
        100_000_000,
        "an assessment photo that decodes to more pixels than this is refused (decompression bombs)",
    ),
    "assessment.max_photos": (6, "most photos one damage assessment may hold"),
    "assessment.max_offline_hours": (
        24,
        "an assessment done offline may be entered with a done-at time at most this many hours ago",
    ),
    # Feeds for partners (issue #20 point 4): GET /api/partner/*, emergency/public/partner_feed.py.
    "partner.rate_per_minute": (60, "requests one partner token may make to /api/partner/* in a minute"),
    "partner.series_interval_minutes": (
        15,
        "the district series' step: customers out by district at each multiple of this many minutes",
    ),
    "partner.series_max_hours": (72, "the longest window of the district series a partner may ask for"),
    # The crew page (issue 19): the crew's own clock, and how late an offline step may be entered.
    "crew.acknowledge_minutes": (
        5,
        "a dispatched crew should accept its job on the crew page within this many minutes of dispatch",
    ),
    "crew.late_entry_max_hours": (
        12,
        "a crew step done offline may be entered later, at most this many hours after it was done",
    ),
    # Mutual aid (#19 point 4)
    "mutual_aid.link_hours": (24, "hours a crew leader's one-time sign-in link stays valid"),
    # Several app processes (emergency.core.leases; read when an app process starts).
    "server.loop_seconds": (
        30,
        "seconds between two rounds of each background loop (SLA monitor, notifications, warning expiry, "
        "CAP feeds)",
    ),
    "server.lease_seconds": (
        90,
        "a background loop's lease lasts this long unrenewed: when its app process dies, another takes "
        "the loop over within about this time (keep it above server.loop_seconds)",
    ),
    # Crew positions and arrival by GPS (emergency/dispatch/positions.py, geofence.py).
    "crew.arrival_radius_m": (150, "a crew this close to its outage's device counts as there (geofence)"),
    "crew.arrival_dwell_seconds": (60, "a crew inside the radius this long is recorded on site by GPS"),
    "crew.arrival_max_gap_seconds": (
        120,
        "geofence: fixes further apart than this do not make one stay (the crew may have left unseen)",
    ),
    "crew.position_stale_minutes": (10, "a crew position older than this is drawn as stale on the map"),
    "crew.position_max_age_hours": (12, "a position taken longer ago than this is refused"),
    "crew.position_max_future_seconds": (
        120,
        "a position dated this far past our clock is refused (the device's clock is wrong)",
    ),
    "crew.position_keep_hours": (48, "each crew's position track is pruned to this many hours"),
}


@dataclass(frozen=True)
class SlaDefault:
    code: str
    name_en: str
    name_zh: str
    applies_to: str
    starts_on: str
    stops_on: str
    limit_minutes: int | None = None
    limit_working_days: int | None = None
    calendar: str = "clock"
    area_type: str | None = None
    enforced: bool = True


# From the service standard (DOMAIN.md section 1) and State Grid's public commitments (section 2).
DEFAULT_SLA_TARGETS: tuple[SlaDefault, ...] = (
    SlaDefault("outage_dispatch", "Crew dispatched", "抢修派工", "outage", "first_report", "dispatched", 10),
    SlaDefault("outage_on_site", "Crew on site", "到达现场", "outage", "first_report", "on_site", 30),
    SlaDefault("fault_on_site", "Fault: on site", "故障报修到达现场", "fault", "reported", "on_site", 240),
    SlaDefault(
        "fault_solved", "Fault: solution", "故障报修提供解决方案", "fault", "reported", "solved", 1440
    ),
    SlaDefault(
        "complaint_response", "Complaint: response", "投诉响应", "complaint", "submitted", "responded", 120
    ),
    SlaDefault(
        "complaint_preliminary",
        "Complaint: preliminary solution",
        "投诉初步解决方案",
        "complaint",
        "submitted",
        "preliminary",
        1440,
    ),
    SlaDefault(
        "complaint_result",
        "Complaint: investigation result",
        "投诉处理结果反馈",
        "complaint",
        "accepted",
        "result",
        limit_working_days=3,
        calendar="working_days",
    ),
    SlaDefault(
        "feedback_verified",
        "Feedback: verified",
        "意见建议核实",
        "feedback",
        "submitted",
        "verified",
        limit_working_days=3,
        calendar="working_days",
    ),
    # A restored outage is verified by a return call to the customer within 3 working days. Its own
    # `applies_to`, so the outage clocks of the board and the compliance reports never include it.
    SlaDefault(
        "outage_verified",
        "Restored outage: verified with the customer",
        "复电回访核实",
        "restored_outage",
        "restored",
        "verified",
        limit_working_days=3,
        calendar="working_days",
    ),
    SlaDefault(
        "sgcc_arrival_urban",
        "State Grid average arrival, urban",
        "国网城区平均到达",
        "outage",
        "first_report",
        "on_site",
        45,
        area_type="urban",
        enforced=False,
    ),
    SlaDefault(
        "sgcc_arrival_rural",
        "State Grid average arrival, rural",
        "国网农村平均到达",
        "outage",
        "first_report",
        "on_site",
        90,
        area_type="rural",
        enforced=False,
    ),
    SlaDefault(
        "sgcc_arrival_remote",
        "State Grid average arrival, remote",
        "国网偏远地区平均到达",
        "outage",
        "first_report",
        "on_site",
        120,
        area_type="remote",
        enforced=False,
    ),
)


def seed_defaults(session: Session, clock: Clock) -> None:
    """Insert any missing default; never overwrite what a utility has set."""
    now = clock.now()
    present = set(session.scalars(select(Setting.key)))
    for key, (value, description) in DEFAULT_SETTINGS.items():
        if key not in present:
            session.add(Setting(key=key, value=value, description=description, updated_at=now))
    codes = set(session.scalars(select(SlaTarget.code)))
    for target in DEFAULT_SLA_TARGETS:
        if target.code not in codes:
            session.add(SlaTarget(**target.__dict__))


def get_setting(session: Session, key: str) -> Any:
    value = session.get(Setting, key)
    if value is not None:
        return value.value
    return DEFAULT_SETTINGS[key][0]


def set_setting(session: Session, key: str, value: Any, clock: Clock, by: str = "system") -> None:
    row = session.get(Setting, key)
    if row is None:
        description = DEFAULT_SETTINGS.get(key, (None, ""))[1]
        session.add(
            Setting(key=key, value=value, description=description, updated_at=clock.now(), updated_by=by)
        )
    else:
        row.value = value
        row.updated_at = clock.now()
        row.updated_by = by


def bump_territory_revision(session: Session, clock: Clock, by: str = "system") -> int:
    """Note that the network or customers changed, so in-memory models of them are rebuilt."""
    revision = int(get_setting(session, "territory.revision")) + 1
    set_setting(session, "territory.revision", revision, clock, by)
    return revision
