"""The data model: territory, network, customers, crews, and the records of an emergency.

The enumerations live in `emergency.core.vocabulary` and are stored as short strings; they are
re-exported here, so `from emergency.core.models import Role` keeps working. Tables that two people
may edit at once carry a `version` column that SQLAlchemy checks on every UPDATE, so a stale edit
raises instead of overwriting.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy import Enum as SAEnum
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from emergency.core.db import UTCDateTime
from emergency.core.vocabulary import (  # noqa: F401  (re-exported: older imports name them here)
    ACTIVE_OUTAGE_STATES,
    DEVICE_CHILDREN,
    PROTECTIVE_KINDS,
    SWITCH_KINDS,
    TELEMETERED_KINDS,
    AreaType,
    AssignmentStatus,
    CrewKind,
    CrewStatus,
    CustomerKind,
    DeviceKind,
    EtrConfidence,
    EtrSource,
    FeedbackKind,
    FeedbackStatus,
    Hazard,
    ImportanceGrade,
    NotificationChannel,
    NotificationStatus,
    OnSiteSource,
    OutageState,
    OutreachStatus,
    OutreachStep,
    ReportChannel,
    ReportKind,
    ReportStatus,
    Role,
    SwitchState,
    TokenScope,
    WarningLevel,
    WarningStatus,
)

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {datetime: UTCDateTime()}


def str_enum(enum: type[StrEnum]) -> SAEnum:
    return SAEnum(
        enum,
        native_enum=False,
        create_constraint=False,
        length=24,
        values_callable=lambda members: [m.value for m in members],
        validate_strings=True,
    )


# --- territory and network ------------------------------------------------------------------


class District(Base):
    __tablename__ = "districts"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name_en: Mapped[str] = mapped_column(String(120))
    name_zh: Mapped[str] = mapped_column(String(120))
    area_type: Mapped[AreaType] = mapped_column(str_enum(AreaType))
    # GeoJSON geometry (Polygon or MultiPolygon, lon/lat WGS84), portable across both databases.
    geometry: Mapped[dict[str, Any]] = mapped_column(JSON)
    centroid_lon: Mapped[float] = mapped_column(Float)
    centroid_lat: Mapped[float] = mapped_column(Float)


class Depot(Base):
    """A crew base or a staging point crews can be pre-positioned to."""

    __tablename__ = "depots"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name_en: Mapped[str] = mapped_column(String(120))
    name_zh: Mapped[str] = mapped_column(String(120))
    district_id: Mapped[int] = mapped_column(ForeignKey("districts.id"), index=True)
    lon: Mapped[float] = mapped_column(Float)
    lat: Mapped[float] = mapped_column(Float)
    is_staging: Mapped[bool] = mapped_column(Boolean, default=False)


class Device(Base):
    """A device of the network, between two nodes (`from_node`, `to_node`).

    Connectivity is the nodes: a source has only a `to_node`, a service transformer only a
    `from_node`, and a switch conducts between its two nodes while closed. `parent_id` and
    `feeder_id` are the supply as traced from the sources through closed switches
    (`emergency.network.trace`): one step towards the source, and the feeder breaker on the way.
    They change when switching or SCADA changes what feeds what.
    """

    __tablename__ = "devices"
    __table_args__ = (Index("ix_devices_kind_feeder", "kind", "feeder_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(48), unique=True)
    kind: Mapped[DeviceKind] = mapped_column(str_enum(DeviceKind))
    name: Mapped[str] = mapped_column(String(120))
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("devices.id"), index=True)
    # The feeder breaker this device hangs from: a breaker's own id for a breaker, None for a
    # substation. Saves walking the tree for every "which feeder" question.
    feeder_id: Mapped[int | None] = mapped_column(ForeignKey("devices.id"))
    district_id: Mapped[int | None] = mapped_column(ForeignKey("districts.id"), index=True)
    lon: Mapped[float] = mapped_column(Float)
    lat: Mapped[float] = mapped_column(Float)
    telemetered: Mapped[bool] = mapped_column(Boolean, default=False)
    # Node names as the utility's GIS gives them (for a network given as a parent tree: the
    # parent's code and the device's own code).
    from_node: Mapped[str | None] = mapped_column(String(64))
    to_node: Mapped[str | None] = mapped_column(String(64))
    normal_state: Mapped[SwitchState] = mapped_column(str_enum(SwitchState), default=SwitchState.CLOSED)
    scada_state: Mapped[SwitchState | None] = mapped_column(str_enum(SwitchState))
    scada_state_at: Mapped[datetime | None]
    # As last operated by a person (a switching step); the newer of this and SCADA is current.
    switched_state: Mapped[SwitchState | None] = mapped_column(str_enum(SwitchState))
    switched_at: Mapped[datetime | None]
    rating_kva: Mapped[float | None] = mapped_column(Float)
    version: Mapped[int] = mapped_column(Integer, default=1)

    __mapper_args__ = {"version_id_col": version}


class Customer(Base):
    __tablename__ = "customers"
    # Also serves lookups by transformer alone; the reliability report counts customers per pair.
    __table_args__ = (Index("ix_customers_transformer_district", "transformer_id", "district_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    account_no: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    phone: Mapped[str | None] = mapped_column(String(32))
    address: Mapped[str | None] = mapped_column(String(300))
    lon: Mapped[float] = mapped_column(Float)
    lat: Mapped[float] = mapped_column(Float)
    transformer_id: Mapped[int] = mapped_column(ForeignKey("devices.id"))
    district_id: Mapped[int] = mapped_column(ForeignKey("districts.id"), index=True)
    kind: Mapped[CustomerKind] = mapped_column(str_enum(CustomerKind), default=CustomerKind.RESIDENTIAL)
    importance: Mapped[ImportanceGrade] = mapped_column(
        str_enum(ImportanceGrade), default=ImportanceGrade.NONE, index=True
    )
    backup_hours: Mapped[float | None] = mapped_column(Float)
    priority_weight: Mapped[float] = mapped_column(Float, default=1.0)
    # Staff-only contact for important users (outreach before and during a disaster).
    contact_name: Mapped[str | None] = mapped_column(String(120))
    contact_phone: Mapped[str | None] = mapped_column(String(32))
    version: Mapped[int] = mapped_column(Integer, default=1)
    # The customer's smart meter at the head-end (None: no smart meter); fault location pings it.
    meter_id: Mapped[str | None] = mapped_column(String(32), unique=True, index=True)

    __mapper_args__ = {"version_id_col": version}


class Crew(Base):
    __tablename__ = "crews"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(120))
    kind: Mapped[CrewKind] = mapped_column(str_enum(CrewKind))
    size: Mapped[int] = mapped_column(Integer)
    home_depot_id: Mapped[int | None] = mapped_column(ForeignKey("depots.id"))
    lon: Mapped[float] = mapped_column(Float)
    lat: Mapped[float] = mapped_column(Float)
    position_at: Mapped[datetime | None]
    status: Mapped[CrewStatus] = mapped_column(str_enum(CrewStatus), default=CrewStatus.AVAILABLE)
    status_at: Mapped[datetime | None]
    # Shift as local clock times "HH:MM"; a shift may cross midnight.
    shift_start: Mapped[str] = mapped_column(String(5), default="08:00")
    shift_end: Mapped[str] = mapped_column(String(5), default="20:00")
    phone: Mapped[str | None] = mapped_column(String(32))
    # Mutual aid: a crew lent by another utility (`company`; None for our own crews), onboarded on
    # the day from the lender's roster, checked in at a staging site and released at the end.
    company: Mapped[str | None] = mapped_column(String(120), index=True)
    leader_name: Mapped[str | None] = mapped_column(String(120))
    skills: Mapped[str | None] = mapped_column(String(200))
    vehicles: Mapped[str | None] = mapped_column(String(200))
    staging_site: Mapped[str | None] = mapped_column(String(120))
    roster_batch: Mapped[str | None] = mapped_column(String(64))
    checked_in_at: Mapped[datetime | None]
    checked_in_count: Mapped[int | None] = mapped_column(Integer)
    released_at: Mapped[datetime | None]
    version: Mapped[int] = mapped_column(Integer, default=1)

    home_depot: Mapped[Depot | None] = relationship()

    __mapper_args__ = {"version_id_col": version}


# --- the emergency ---------------------------------------------------------------------------


class Outage(Base):
    __tablename__ = "outages"
    __table_args__ = (Index("ix_outages_state_device", "state", "device_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    state: Mapped[OutageState] = mapped_column(str_enum(OutageState), index=True)
    device_id: Mapped[int] = mapped_column(ForeignKey("devices.id"), index=True)
    # Set for a service outage: one customer (premise) out, at `device_id` (their transformer),
    # until more calls roll it up into the transformer's outage.
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customers.id"), index=True)
    district_id: Mapped[int | None] = mapped_column(ForeignKey("districts.id"), index=True)
    cause: Mapped[str | None] = mapped_column(String(200))
    hazard: Mapped[bool] = mapped_column(Boolean, default=False)  # wires down or other danger reported
    nested: Mapped[bool] = mapped_column(Boolean, default=False)
    nested_in_id: Mapped[int | None] = mapped_column(ForeignKey("outages.id"))
    merged_into_id: Mapped[int | None] = mapped_column(ForeignKey("outages.id"))
    # Lifecycle times; first_report_at starts the SLA clocks.
    first_report_at: Mapped[datetime]
    # The newest report: trouble-call analysis groups only reports close together in time.
    last_report_at: Mapped[datetime | None]
    predicted_at: Mapped[datetime | None]
    confirmed_at: Mapped[datetime | None]
    confirmed_by: Mapped[str | None] = mapped_column(String(64))
    dispatched_at: Mapped[datetime | None]
    en_route_at: Mapped[datetime | None]
    on_site_at: Mapped[datetime | None]
    restored_at: Mapped[datetime | None]
    # The customer's return call confirming power is back (the desk's 3-working-day check).
    verified_at: Mapped[datetime | None]
    closed_at: Mapped[datetime | None]
    cancelled_at: Mapped[datetime | None]
    cancel_reason: Mapped[str | None] = mapped_column(String(500))
    # Who is affected, recomputed when the outage moves on the network.
    customers_affected: Mapped[int] = mapped_column(Integer, default=0)
    customers_restored: Mapped[int] = mapped_column(Integer, default=0)
    weighted_customers: Mapped[float] = mapped_column(Float, default=0.0)
    important_affected: Mapped[dict[str, int]] = mapped_column(JSON, default=dict)
    report_count: Mapped[int] = mapped_column(Integer, default=0)
    # The current ETR; every value it ever had is in etr_history.
    etr_at: Mapped[datetime | None]
    etr_source: Mapped[EtrSource | None] = mapped_column(str_enum(EtrSource))
    etr_confidence: Mapped[EtrConfidence | None] = mapped_column(str_enum(EtrConfidence))
    etr_set_at: Mapped[datetime | None]
    # Who recorded the first crew on site (`on_site_at`): the geofence, the crew or a dispatcher.
    on_site_source: Mapped[OnSiteSource | None] = mapped_column(str_enum(OnSiteSource))
    # Fault location (#21): the posterior probability of the analysis's prediction (None for the
    # rules, SCADA and people); the device analysis predicted when it opened the outage; the device
    # where the crew found the fault, with who recorded it and when (the accuracy of predictions).
    prediction_confidence: Mapped[float | None] = mapped_column(Float)
    predicted_device_id: Mapped[int | None] = mapped_column(ForeignKey("devices.id"))
    fault_device_id: Mapped[int | None] = mapped_column(ForeignKey("devices.id"))
    fault_device_at: Mapped[datetime | None]
    fault_device_by: Mapped[str | None] = mapped_column(String(64))
    version: Mapped[int] = mapped_column(Integer, default=1)

    device: Mapped[Device] = relationship(foreign_keys=[device_id])

    __mapper_args__ = {"version_id_col": version}


class Report(Base):
    __tablename__ = "reports"
    # Every index on this table is written by every report a storm sends, so each holds only the
    # reports its lookups need (migration 0008): reports by outage, calls still waiting for one,
    # and web reports by customer. The first two split the table, so no query for waiting calls
    # (`outage_id IS NULL`) can choose the outage index and scan every report never in an outage.
    __table_args__ = (
        UniqueConstraint("channel", "external_id", name="uq_reports_channel_external_id"),
        Index(
            "ix_reports_outage_id",
            "outage_id",
            sqlite_where=text("outage_id IS NOT NULL"),
            postgresql_where=text("outage_id IS NOT NULL"),
        ),
        Index(
            "ix_reports_waiting",
            "reported_at",
            "transformer_id",
            "customer_id",
            "kind",
            "status",
            "outage_id",  # always NULL here, but SQLite reads the table for a column not listed
            sqlite_where=text("outage_id IS NULL"),
            postgresql_where=text("outage_id IS NULL"),
        ),
        Index(
            "ix_reports_web_customer",
            "customer_id",
            sqlite_where=text("channel = 'web'"),
            postgresql_where=text("channel = 'web'"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    channel: Mapped[ReportChannel] = mapped_column(str_enum(ReportChannel))
    external_id: Mapped[str | None] = mapped_column(String(64))
    kind: Mapped[ReportKind] = mapped_column(str_enum(ReportKind))
    reported_at: Mapped[datetime]  # when the customer or device reported
    received_at: Mapped[datetime]  # when we stored it
    account_no: Mapped[str | None] = mapped_column(String(32))
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customers.id"))
    lon: Mapped[float | None] = mapped_column(Float)
    lat: Mapped[float | None] = mapped_column(Float)
    transformer_id: Mapped[int | None] = mapped_column(ForeignKey("devices.id"))
    device_id: Mapped[int | None] = mapped_column(ForeignKey("devices.id"))  # for SCADA reports
    description: Mapped[str | None] = mapped_column(Text)
    contact_name: Mapped[str | None] = mapped_column(String(120))
    contact_phone: Mapped[str | None] = mapped_column(String(32))
    status: Mapped[ReportStatus] = mapped_column(str_enum(ReportStatus), default=ReportStatus.RECEIVED)
    outage_id: Mapped[int | None] = mapped_column(ForeignKey("outages.id"))


class EtrChange(Base):
    __tablename__ = "etr_history"

    id: Mapped[int] = mapped_column(primary_key=True)
    outage_id: Mapped[int] = mapped_column(ForeignKey("outages.id"), index=True)
    etr_at: Mapped[datetime | None]
    source: Mapped[EtrSource] = mapped_column(str_enum(EtrSource))
    confidence: Mapped[EtrConfidence] = mapped_column(str_enum(EtrConfidence))
    set_at: Mapped[datetime]
    set_by: Mapped[str | None] = mapped_column(String(64))
    note: Mapped[str | None] = mapped_column(String(500))


class RestorationStep(Base):
    """Customers brought back in one go; an outage restored whole has one step."""

    __tablename__ = "restoration_steps"

    id: Mapped[int] = mapped_column(primary_key=True)
    outage_id: Mapped[int] = mapped_column(ForeignKey("outages.id"), index=True)
    at: Mapped[datetime]
    customers_restored: Mapped[int] = mapped_column(Integer)
    device_id: Mapped[int | None] = mapped_column(ForeignKey("devices.id"))
    by: Mapped[str | None] = mapped_column(String(64))
    note: Mapped[str | None] = mapped_column(String(500))


class CrewAssignment(Base):
    __tablename__ = "crew_assignments"

    id: Mapped[int] = mapped_column(primary_key=True)
    outage_id: Mapped[int] = mapped_column(ForeignKey("outages.id"), index=True)
    crew_id: Mapped[int] = mapped_column(ForeignKey("crews.id"), index=True)
    status: Mapped[AssignmentStatus] = mapped_column(str_enum(AssignmentStatus))
    assigned_at: Mapped[datetime]
    assigned_by: Mapped[str | None] = mapped_column(String(64))
    eta_at: Mapped[datetime | None]
    en_route_at: Mapped[datetime | None]
    on_site_at: Mapped[datetime | None]
    completed_at: Mapped[datetime | None]
    cancelled_at: Mapped[datetime | None]
    # The crew leader accepted the job on the crew page (its own clock target, as data).
    acknowledged_at: Mapped[datetime | None]
    # How on_site_at was recorded, where the crew was then, and a dispatcher's reason when the
    # crew's positions put it elsewhere.
    on_site_source: Mapped[OnSiteSource | None] = mapped_column(str_enum(OnSiteSource))
    on_site_lon: Mapped[float | None] = mapped_column(Float)
    on_site_lat: Mapped[float | None] = mapped_column(Float)
    on_site_reason: Mapped[str | None] = mapped_column(String(500))
    # A crew handing the job over (end of shift, wrong skills) says what the next crew must know.
    handover_note: Mapped[str | None] = mapped_column(String(1000))
    version: Mapped[int] = mapped_column(Integer, default=1)

    __mapper_args__ = {"version_id_col": version}


class Warning(Base):
    __tablename__ = "warnings"

    id: Mapped[int] = mapped_column(primary_key=True)
    # CAP identity: identifier and sender are ours for warnings we issue, the issuer's for imports.
    cap_identifier: Mapped[str] = mapped_column(String(200), unique=True)
    cap_sender: Mapped[str] = mapped_column(String(200))
    cap_msg_type: Mapped[str] = mapped_column(String(16), default="Alert")
    cap_references: Mapped[str | None] = mapped_column(Text)
    source: Mapped[str] = mapped_column(String(16), default="manual")  # manual | cap_import
    hazard: Mapped[Hazard] = mapped_column(str_enum(Hazard))
    level: Mapped[WarningLevel] = mapped_column(str_enum(WarningLevel))
    readiness_level: Mapped[int | None] = mapped_column(Integer)  # the utility's own, 1 (highest) to 4
    disaster_mode: Mapped[bool] = mapped_column(Boolean, default=False)
    title_en: Mapped[str] = mapped_column(String(200))
    title_zh: Mapped[str] = mapped_column(String(200))
    text_en: Mapped[str] = mapped_column(Text, default="")
    text_zh: Mapped[str] = mapped_column(Text, default="")
    area_kind: Mapped[str] = mapped_column(String(16))  # districts | circle | polygon | cap
    area: Mapped[dict[str, Any]] = mapped_column(JSON)  # GeoJSON geometry of the whole area
    area_districts: Mapped[list[str]] = mapped_column(JSON, default=list)
    effective_at: Mapped[datetime]
    onset_at: Mapped[datetime | None]
    expires_at: Mapped[datetime]
    status: Mapped[WarningStatus] = mapped_column(str_enum(WarningStatus), default=WarningStatus.DRAFT)
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime]
    issued_by: Mapped[str | None] = mapped_column(String(64))
    issued_at: Mapped[datetime | None]
    version: Mapped[int] = mapped_column(Integer, default=1)

    __mapper_args__ = {"version_id_col": version}


class WarningRevision(Base):
    """Each published state of a warning, as sent, so Update and Cancel can reference it."""

    __tablename__ = "warning_revisions"

    id: Mapped[int] = mapped_column(primary_key=True)
    warning_id: Mapped[int] = mapped_column(ForeignKey("warnings.id"), index=True)
    at: Mapped[datetime]
    by: Mapped[str] = mapped_column(String(64))
    status: Mapped[WarningStatus] = mapped_column(str_enum(WarningStatus))
    cap_identifier: Mapped[str] = mapped_column(String(200))
    cap_msg_type: Mapped[str] = mapped_column(String(16))
    snapshot: Mapped[dict[str, Any]] = mapped_column(JSON)


class CapMessage(Base):
    """One official CAP message we imported, kept whole: where a draft or warning came from.

    Unique by (sender, identifier), as CAP identifies a message: the same alert read twice (a
    re-upload, a feed polled by two app processes) is imported once. `level_from`/`area_from` say
    how the colour level and the area were found; None means the manager must choose them before
    the warning can be issued (emergency.warnings.records.import_blockers).
    """

    __tablename__ = "cap_messages"
    __table_args__ = (UniqueConstraint("sender", "identifier", name="uq_cap_messages_sender_identifier"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    warning_id: Mapped[int] = mapped_column(ForeignKey("warnings.id"), index=True)
    sender: Mapped[str] = mapped_column(String(200))
    identifier: Mapped[str] = mapped_column(String(200))
    sent: Mapped[datetime]
    msg_type: Mapped[str] = mapped_column(String(16))  # Alert | Update | Cancel
    status: Mapped[str] = mapped_column(String(16))  # Actual | Test | Exercise
    references: Mapped[str | None] = mapped_column(Text)
    sender_name: Mapped[str | None] = mapped_column(String(200))
    origin: Mapped[str] = mapped_column(String(500))  # "upload", "cli", a feed's URL
    received_at: Mapped[datetime]
    received_by: Mapped[str] = mapped_column(String(64))
    outcome: Mapped[str] = mapped_column(String(16))  # created | updated | cancelled
    level_from: Mapped[str | None] = mapped_column(String(32))
    area_from: Mapped[str | None] = mapped_column(String(32))
    infos: Mapped[list[dict[str, Any]]] = mapped_column(JSON)  # every info block, as the agency wrote it
    notes: Mapped[list[dict[str, Any]]] = mapped_column(JSON)  # what was derived and repaired
    xml: Mapped[str] = mapped_column(Text)  # the original document


class OutreachTask(Base):
    """Reaching one important user about one warning: message, then call, then visit."""

    __tablename__ = "outreach_tasks"
    __table_args__ = (UniqueConstraint("warning_id", "customer_id", name="uq_outreach_warning_customer"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    warning_id: Mapped[int] = mapped_column(ForeignKey("warnings.id"), index=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"))
    step: Mapped[OutreachStep] = mapped_column(str_enum(OutreachStep), default=OutreachStep.MESSAGE)
    status: Mapped[OutreachStatus] = mapped_column(str_enum(OutreachStatus), default=OutreachStatus.PENDING)
    acknowledged_at: Mapped[datetime | None]
    acknowledged_by: Mapped[str | None] = mapped_column(String(120))
    updated_at: Mapped[datetime]
    updated_by: Mapped[str | None] = mapped_column(String(64))
    note: Mapped[str | None] = mapped_column(String(500))
    version: Mapped[int] = mapped_column(Integer, default=1)

    __mapper_args__ = {"version_id_col": version}


class Notification(Base):
    """The outbox: every message to a customer or the duty desk, sent by a sender process."""

    __tablename__ = "notifications"
    __table_args__ = (Index("ix_notifications_status_created", "status", "created_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    created_at: Mapped[datetime]
    channel: Mapped[NotificationChannel] = mapped_column(str_enum(NotificationChannel))
    recipient: Mapped[str] = mapped_column(String(200))
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customers.id"), index=True)
    language: Mapped[str] = mapped_column(String(8), default="zh")
    template: Mapped[str] = mapped_column(String(64))
    body: Mapped[str] = mapped_column(Text)
    subject_kind: Mapped[str | None] = mapped_column(String(32))  # outage | warning | feedback | sla
    subject_id: Mapped[int | None] = mapped_column(Integer)
    dedupe_key: Mapped[str | None] = mapped_column(String(200), unique=True)
    status: Mapped[NotificationStatus] = mapped_column(
        str_enum(NotificationStatus), default=NotificationStatus.PENDING
    )
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(String(500))
    sent_at: Mapped[datetime | None]


class Feedback(Base):
    """Feedback and complaints from any channel, with the timestamps their clocks need."""

    __tablename__ = "feedback"

    id: Mapped[int] = mapped_column(primary_key=True)
    reference: Mapped[str] = mapped_column(String(32), unique=True)
    kind: Mapped[FeedbackKind] = mapped_column(str_enum(FeedbackKind))
    channel: Mapped[ReportChannel] = mapped_column(str_enum(ReportChannel), default=ReportChannel.WEB)
    account_no: Mapped[str | None] = mapped_column(String(32))
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customers.id"))
    contact_name: Mapped[str | None] = mapped_column(String(120))
    contact: Mapped[str | None] = mapped_column(String(200))
    text: Mapped[str] = mapped_column(Text)
    outage_id: Mapped[int | None] = mapped_column(ForeignKey("outages.id"))
    submitted_at: Mapped[datetime]
    accepted_at: Mapped[datetime | None]
    responded_at: Mapped[datetime | None]
    preliminary_at: Mapped[datetime | None]
    result_at: Mapped[datetime | None]
    verified_at: Mapped[datetime | None]
    satisfaction: Mapped[int | None] = mapped_column(Integer)  # 1-5
    status: Mapped[FeedbackStatus] = mapped_column(str_enum(FeedbackStatus), default=FeedbackStatus.OPEN)
    handled_by: Mapped[str | None] = mapped_column(String(64))
    version: Mapped[int] = mapped_column(Integer, default=1)

    __mapper_args__ = {"version_id_col": version}


# --- people, access and records ------------------------------------------------------------


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    display_name: Mapped[str] = mapped_column(String(120))
    role: Mapped[Role] = mapped_column(str_enum(Role))
    password_hash: Mapped[str] = mapped_column(String(200))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    failed_logins: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[datetime | None]
    last_login_at: Mapped[datetime | None]
    created_at: Mapped[datetime]
    password_changed_at: Mapped[datetime]
    # A crew leader's crew (role crew): the crew page shows that crew's work only.
    crew_id: Mapped[int | None] = mapped_column(ForeignKey("crews.id"), index=True)


class ApiToken(Base):
    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    token_hash: Mapped[str] = mapped_column(String(128), unique=True)
    scope: Mapped[TokenScope] = mapped_column(str_enum(TokenScope))
    created_at: Mapped[datetime]
    created_by: Mapped[str] = mapped_column(String(64))
    revoked_at: Mapped[datetime | None]
    last_used_at: Mapped[datetime | None]


class StaffSession(Base):
    """A staff member's signed-in session, shared by every app process (emergency.core.staff_sessions).

    The browser holds a signed cookie with a random token; only the token's hash is stored, and
    the one-time ticket that hands the token to the browser likewise.
    """

    __tablename__ = "staff_sessions"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    token_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    ticket_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    ticket_expires_at: Mapped[datetime | None]
    created_at: Mapped[datetime]
    last_seen_at: Mapped[datetime]
    ended_at: Mapped[datetime | None]
    end_reason: Mapped[str | None] = mapped_column(String(24))
    user_agent: Mapped[str | None] = mapped_column(String(200))
    # The page language the user chose, so a reload or a new tab keeps it.
    language: Mapped[str | None] = mapped_column(String(8))


class SigningKey(Base):
    """A secret the app processes share (the staff-session cookie's signing key), made by a migration."""

    __tablename__ = "signing_keys"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    secret: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime]


class AuditEvent(Base):
    """Append-only: who did what, when, with the row before and after."""

    __tablename__ = "audit_events"
    __table_args__ = (Index("ix_audit_entity", "entity", "entity_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(index=True)
    actor: Mapped[str] = mapped_column(String(64))
    actor_role: Mapped[str] = mapped_column(String(24))
    action: Mapped[str] = mapped_column(String(64))
    entity: Mapped[str] = mapped_column(String(32))
    entity_id: Mapped[str | None] = mapped_column(String(64))
    before: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    after: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    detail: Mapped[str | None] = mapped_column(String(500))


class RateLimitHit(Base):
    """One counted attempt at a public form (lookup, report, feedback) by one session or address.

    In the database, not in process memory, so app processes behind a load balancer share the
    count. `key` is a digest of the action and the session or address, never the raw address;
    rows older than the window are deleted as new attempts come in.
    """

    __tablename__ = "rate_limit_hits"
    __table_args__ = (Index("ix_rate_limit_hits_key_at", "key", "at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(80))
    at: Mapped[datetime] = mapped_column(index=True)


class Setting(Base):
    """A threshold or target as data: SLA limits, trouble-call rules, privacy minimums, lockout."""

    __tablename__ = "settings"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[Any] = mapped_column(JSON)
    description: Mapped[str] = mapped_column(String(300), default="")
    updated_at: Mapped[datetime]
    updated_by: Mapped[str] = mapped_column(String(64), default="system")


class SlaTarget(Base):
    """One clock of the service standard: what starts and stops it, its limit and calendar."""

    __tablename__ = "sla_targets"

    code: Mapped[str] = mapped_column(String(48), primary_key=True)
    name_en: Mapped[str] = mapped_column(String(120))
    name_zh: Mapped[str] = mapped_column(String(120))
    applies_to: Mapped[str] = mapped_column(String(32))  # outage | fault | complaint | feedback
    starts_on: Mapped[str] = mapped_column(String(32))
    stops_on: Mapped[str] = mapped_column(String(32))
    limit_minutes: Mapped[int | None] = mapped_column(Integer)
    limit_working_days: Mapped[int | None] = mapped_column(Integer)
    calendar: Mapped[str] = mapped_column(String(16), default="clock")  # clock | working_days
    area_type: Mapped[str | None] = mapped_column(String(16))  # reference targets by area type
    enforced: Mapped[bool] = mapped_column(Boolean, default=True)  # False: shown for reference only


class CalendarDay(Base):
    """A utility's override of the Chinese working-day calendar (the State Council's next schedule)."""

    __tablename__ = "calendar_days"

    day: Mapped[str] = mapped_column(String(10), primary_key=True)  # YYYY-MM-DD
    working: Mapped[bool] = mapped_column(Boolean)
    note: Mapped[str | None] = mapped_column(String(120))


class SlaBreach(Base):
    """A clock that ran past its limit, recorded once and kept after the outage or complaint moves on.

    The unique constraint makes recording idempotent: when two app processes find the same
    breach at once, the second insert fails and is skipped, so the duty manager hears of it once.
    """

    __tablename__ = "sla_breaches"
    __table_args__ = (
        UniqueConstraint("subject_kind", "subject_id", "code", name="uq_sla_breaches_subject_code"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    subject_kind: Mapped[str] = mapped_column(String(16))  # outage | feedback
    subject_id: Mapped[int] = mapped_column(Integer)
    code: Mapped[str] = mapped_column(ForeignKey("sla_targets.code"))
    deadline: Mapped[datetime]
    breached_at: Mapped[datetime]  # when the monitor found the clock past its deadline
    notified_at: Mapped[datetime | None]  # when the duty manager's notification was queued


# --- agencies' CAP feeds (emergency.warnings.feeds) -----------------------------------------------


class CapFeed(Base):
    """An agency's Atom or RSS feed of CAP alerts that the server polls; a manager configures it.

    `version` counts the manager's changes only (the poller's bookkeeping does not conflict with an
    edit). `last_polled_at` is also the poll's lease: a process claims a due feed by moving it from
    the value it read, so two app processes never fetch one feed at once.
    """

    __tablename__ = "cap_feeds"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    url: Mapped[str] = mapped_column(String(500), unique=True)
    interval_minutes: Mapped[int] = mapped_column(Integer)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    etag: Mapped[str | None] = mapped_column(String(200))
    last_modified: Mapped[str | None] = mapped_column(String(100))
    last_polled_at: Mapped[datetime | None]
    last_success_at: Mapped[datetime | None]
    last_result: Mapped[str | None] = mapped_column(String(24))  # ok | not_modified | error
    last_error: Mapped[str | None] = mapped_column(String(500))
    alerts_seen: Mapped[int] = mapped_column(Integer, default=0)
    drafts_made: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime]
    created_by: Mapped[str] = mapped_column(String(64))
    version: Mapped[int] = mapped_column(Integer, default=1)


class CapFeedItem(Base):
    """One CAP message a feed carried, recorded once whichever feed or process saw it first.

    The unique (sender, identifier, sent) is CAP's own identity of a message (the triple
    `references` cites): when two processes, or two feeds, find the same alert at once, the second
    insert fails and that alert is not imported twice.
    """

    __tablename__ = "cap_feed_items"
    __table_args__ = (
        UniqueConstraint("sender", "identifier", "sent", name="uq_cap_feed_items_sender_identifier_sent"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    feed_id: Mapped[int] = mapped_column(ForeignKey("cap_feeds.id"), index=True)
    entry_key: Mapped[str] = mapped_column(String(500), index=True)  # the feed entry's link or id
    sender: Mapped[str] = mapped_column(String(200))
    identifier: Mapped[str] = mapped_column(String(200))
    sent: Mapped[str] = mapped_column(String(40))  # as the agency wrote it, as `references` cites it
    msg_type: Mapped[str] = mapped_column(String(16))
    fetched_at: Mapped[datetime]
    outcome: Mapped[str] = mapped_column(String(16))  # imported | refused | skipped
    reason: Mapped[str | None] = mapped_column(String(500))
    warning_id: Mapped[int | None] = mapped_column(ForeignKey("warnings.id"))
