"""The data model on SQLite and PostgreSQL: round trips, UTC time, versions, constraints, SQLite setup."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import IntegrityError, StatementError
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from emergency.core.clock import FakeClock
from emergency.core.db import SQLITE_BUSY_TIMEOUT_MS, Database
from emergency.core.models import (
    ApiToken,
    AreaType,
    AssignmentStatus,
    AuditEvent,
    Crew,
    CrewAssignment,
    CrewKind,
    CrewStatus,
    Customer,
    CustomerKind,
    Depot,
    Device,
    DeviceKind,
    District,
    EtrChange,
    EtrConfidence,
    EtrSource,
    Feedback,
    FeedbackKind,
    Hazard,
    ImportanceGrade,
    Notification,
    NotificationChannel,
    NotificationStatus,
    Outage,
    OutageState,
    Report,
    ReportChannel,
    ReportKind,
    ReportStatus,
    RestorationStep,
    Role,
    Setting,
    TokenScope,
    User,
    Warning,
    WarningLevel,
    WarningRevision,
    WarningStatus,
)

BEIJING = timezone(timedelta(hours=8))
SQUARE = {
    "type": "Polygon",
    "coordinates": [[[113.0, 23.0], [113.1, 23.0], [113.1, 23.1], [113.0, 23.1], [113.0, 23.0]]],
}


@dataclass(frozen=True)
class Ids:
    """Primary keys of the small emergency that `build_emergency` writes."""

    district: int
    depot: int
    substation: int
    breaker: int
    recloser: int
    fuse: int
    transformer: int
    hospital: int
    household: int
    crew: int
    outage: int
    report: int
    assignment: int
    warning: int
    notification: int
    feedback: int
    user: int
    token: int
    audit: int


def add_device(
    session: Session,
    code: str,
    kind: DeviceKind,
    parent: Device | None,
    feeder: Device | None,
    district: District,
) -> Device:
    device = Device(
        code=code,
        kind=kind,
        name=f"{kind} {code}",
        parent_id=parent.id if parent else None,
        feeder_id=feeder.id if feeder else None,
        district_id=district.id,
        lon=113.05,
        lat=23.05,
        telemetered=kind in (DeviceKind.BREAKER, DeviceKind.RECLOSER),
    )
    session.add(device)
    session.flush()
    return device


def build_emergency(session: Session, clock: FakeClock) -> Ids:
    """One feeder from substation to transformer, two customers, a crew, and one outage's records."""
    now = clock.now()
    district = District(
        code="D01",
        name_en="Harbour",
        name_zh="港区",
        area_type=AreaType.URBAN,
        geometry=SQUARE,
        centroid_lon=113.05,
        centroid_lat=23.05,
    )
    session.add(district)
    session.flush()
    depot = Depot(
        code="DEP1", name_en="North depot", name_zh="北站", district_id=district.id, lon=113.0, lat=23.0
    )
    session.add(depot)
    session.flush()

    substation = add_device(session, "SS1", DeviceKind.SUBSTATION, None, None, district)
    breaker = add_device(session, "SS1-F1", DeviceKind.BREAKER, substation, None, district)
    recloser = add_device(session, "SS1-F1-R1", DeviceKind.RECLOSER, breaker, breaker, district)
    fuse = add_device(session, "SS1-F1-R1-FU1", DeviceKind.FUSE, recloser, breaker, district)
    transformer = add_device(session, "SS1-F1-R1-FU1-T1", DeviceKind.TRANSFORMER, fuse, breaker, district)

    hospital = Customer(
        account_no="0000000001",
        name="城东医院",
        phone="13800000001",
        address="港区一路1号",
        lon=113.051,
        lat=23.051,
        transformer_id=transformer.id,
        district_id=district.id,
        kind=CustomerKind.HOSPITAL,
        importance=ImportanceGrade.GRADE1,
        backup_hours=4.0,
        priority_weight=50.0,
        contact_name="王主任",
        contact_phone="13800000009",
    )
    household = Customer(
        account_no="0000000002",
        name="李雷",
        lon=113.052,
        lat=23.052,
        transformer_id=transformer.id,
        district_id=district.id,
    )
    crew = Crew(
        code="C01",
        name="Line crew 1",
        kind=CrewKind.LINE,
        size=4,
        home_depot_id=depot.id,
        lon=113.0,
        lat=23.0,
        position_at=now,
    )
    session.add_all([hospital, household, crew])
    session.flush()

    outage = Outage(
        state=OutageState.DISPATCHED,
        device_id=fuse.id,
        district_id=district.id,
        first_report_at=now,
        predicted_at=now + timedelta(minutes=1),
        dispatched_at=now + timedelta(minutes=6),
        customers_affected=2,
        weighted_customers=51.0,
        important_affected={"grade1": 1},
        report_count=1,
        etr_at=now + timedelta(hours=3),
        etr_source=EtrSource.DISPATCHER,
        etr_confidence=EtrConfidence.MEDIUM,
        etr_set_at=now + timedelta(minutes=6),
    )
    session.add(outage)
    session.flush()
    report = Report(
        channel=ReportChannel.HOTLINE,
        external_id="95598-0001",
        kind=ReportKind.NO_POWER,
        reported_at=now,
        received_at=now,
        account_no=household.account_no,
        customer_id=household.id,
        transformer_id=transformer.id,
        description="整栋楼停电",
        contact_phone="13900000002",
        status=ReportStatus.GROUPED,
        outage_id=outage.id,
    )
    assignment = CrewAssignment(
        outage_id=outage.id,
        crew_id=crew.id,
        status=AssignmentStatus.DISPATCHED,
        assigned_at=now + timedelta(minutes=6),
        assigned_by="dispatcher1",
        eta_at=now + timedelta(minutes=25),
    )
    etr = EtrChange(
        outage_id=outage.id,
        etr_at=now + timedelta(hours=3),
        source=EtrSource.DISPATCHER,
        confidence=EtrConfidence.MEDIUM,
        set_at=now + timedelta(minutes=6),
        set_by="dispatcher1",
    )
    step = RestorationStep(
        outage_id=outage.id, at=now + timedelta(hours=2), customers_restored=1, device_id=transformer.id
    )
    warning = Warning(
        cap_identifier="urn:outage-desk:warning:1",
        cap_sender="duty@utility.example",
        hazard=Hazard.TYPHOON,
        level=WarningLevel.ORANGE,
        readiness_level=2,
        disaster_mode=True,
        title_en="Typhoon warning",
        title_zh="台风橙色预警",
        area_kind="districts",
        area=SQUARE,
        area_districts=["D01"],
        effective_at=now,
        expires_at=now + timedelta(days=1),
        status=WarningStatus.ACTIVE,
        created_by="manager1",
        created_at=now,
        issued_by="manager1",
        issued_at=now,
    )
    session.add_all([report, assignment, etr, step, warning])
    session.flush()
    revision = WarningRevision(
        warning_id=warning.id,
        at=now,
        by="manager1",
        status=WarningStatus.ACTIVE,
        cap_identifier=warning.cap_identifier,
        cap_msg_type="Alert",
        snapshot={"level": "orange"},
    )
    notification = Notification(
        created_at=now,
        channel=NotificationChannel.SMS,
        recipient="13900000002",
        customer_id=household.id,
        template="outage.etr",
        body="预计恢复时间 05:00",
        subject_kind="outage",
        subject_id=outage.id,
        dedupe_key=f"outage:{outage.id}:etr:1",
    )
    feedback = Feedback(
        reference="FB-0001",
        kind=FeedbackKind.COMPLAINT,
        customer_id=household.id,
        text="抢修太慢",
        outage_id=outage.id,
        submitted_at=now,
    )
    user = User(
        username="dispatcher1",
        display_name="Dispatcher One",
        role=Role.DISPATCHER,
        password_hash="$argon2id$not-a-real-hash",
        created_at=now,
        password_changed_at=now,
    )
    token = ApiToken(
        name="call-centre",
        token_hash="0" * 64,
        scope=TokenScope.INTAKE,
        created_at=now,
        created_by="admin",
    )
    audit = AuditEvent(
        at=now,
        actor="dispatcher1",
        actor_role="dispatcher",
        action="outage.dispatch",
        entity="outage",
        entity_id=str(outage.id),
        before={"state": "confirmed"},
        after={"state": "dispatched", "crew": "C01"},
    )
    session.add_all([revision, notification, feedback, user, token, audit])
    session.flush()
    return Ids(
        district=district.id,
        depot=depot.id,
        substation=substation.id,
        breaker=breaker.id,
        recloser=recloser.id,
        fuse=fuse.id,
        transformer=transformer.id,
        hospital=hospital.id,
        household=household.id,
        crew=crew.id,
        outage=outage.id,
        report=report.id,
        assignment=assignment.id,
        warning=warning.id,
        notification=notification.id,
        feedback=feedback.id,
        user=user.id,
        token=token.id,
        audit=audit.id,
    )


@pytest.fixture
def ids(database: Database, clock: FakeClock) -> Ids:
    with database.write() as session:
        return build_emergency(session, clock)


def test_network_reads_back_as_a_radial_tree(database: Database, ids: Ids) -> None:
    with database.read() as session:
        chain = []
        device = session.get(Device, ids.transformer)
        while device is not None:
            chain.append((device.kind, device.feeder_id))
            device = session.get(Device, device.parent_id) if device.parent_id else None

    assert chain == [
        (DeviceKind.TRANSFORMER, ids.breaker),
        (DeviceKind.FUSE, ids.breaker),
        (DeviceKind.RECLOSER, ids.breaker),
        (DeviceKind.BREAKER, None),
        (DeviceKind.SUBSTATION, None),
    ]


def test_emergency_records_read_back(database: Database, ids: Ids, clock: FakeClock) -> None:
    now = clock.now()
    with database.read() as session:
        hospital = session.get(Customer, ids.hospital)
        assert hospital.name == "城东医院"
        assert hospital.importance is ImportanceGrade.GRADE1
        assert hospital.kind is CustomerKind.HOSPITAL
        household = session.get(Customer, ids.household)
        assert household.importance is ImportanceGrade.NONE
        assert household.priority_weight == 1.0

        crew = session.get(Crew, ids.crew)
        assert crew.status is CrewStatus.AVAILABLE
        assert crew.home_depot is not None and crew.home_depot.code == "DEP1"
        assert (crew.shift_start, crew.shift_end, crew.version) == ("08:00", "20:00", 1)

        outage = session.get(Outage, ids.outage)
        assert outage.state is OutageState.DISPATCHED
        assert outage.device.kind is DeviceKind.FUSE
        assert outage.important_affected == {"grade1": 1}
        assert outage.etr_at == now + timedelta(hours=3)
        assert outage.hazard is False and outage.nested is False

        report = session.get(Report, ids.report)
        assert (report.channel, report.external_id) == (ReportChannel.HOTLINE, "95598-0001")
        assert (report.customer_id, report.outage_id) == (ids.household, ids.outage)
        assert report.description == "整栋楼停电"

        assignment = session.get(CrewAssignment, ids.assignment)
        assert (assignment.crew_id, assignment.status) == (ids.crew, AssignmentStatus.DISPATCHED)
        history = session.scalars(select(EtrChange).where(EtrChange.outage_id == ids.outage)).all()
        assert [(h.etr_at, h.source) for h in history] == [(now + timedelta(hours=3), EtrSource.DISPATCHER)]
        steps = session.scalars(select(RestorationStep).where(RestorationStep.outage_id == ids.outage)).all()
        assert [s.customers_restored for s in steps] == [1]

        warning = session.get(Warning, ids.warning)
        assert (warning.level, warning.hazard, warning.disaster_mode) == (
            WarningLevel.ORANGE,
            Hazard.TYPHOON,
            True,
        )
        assert warning.area == SQUARE
        assert warning.area_districts == ["D01"]
        assert warning.text_en == ""
        revisions = session.scalars(select(WarningRevision).where(WarningRevision.warning_id == ids.warning))
        assert [r.snapshot for r in revisions] == [{"level": "orange"}]

        notification = session.get(Notification, ids.notification)
        assert (notification.status, notification.attempts, notification.language) == (
            NotificationStatus.PENDING,
            0,
            "zh",
        )
        feedback = session.get(Feedback, ids.feedback)
        assert (feedback.kind, feedback.channel, feedback.text) == (
            FeedbackKind.COMPLAINT,
            ReportChannel.WEB,
            "抢修太慢",
        )

        user = session.get(User, ids.user)
        assert (user.username, user.role, user.active, user.failed_logins) == (
            "dispatcher1",
            Role.DISPATCHER,
            True,
            0,
        )
        token = session.get(ApiToken, ids.token)
        assert (token.scope, token.revoked_at) == (TokenScope.INTAKE, None)
        audit = session.get(AuditEvent, ids.audit)
        assert audit.after == {"state": "dispatched", "crew": "C01"}
        assert audit.entity_id == str(ids.outage)


def test_timestamps_come_back_as_aware_utc(database: Database, ids: Ids, clock: FakeClock) -> None:
    local = datetime(2026, 7, 1, 13, 30, tzinfo=BEIJING)
    with database.write() as session:
        session.get(Outage, ids.outage).confirmed_at = local

    with database.read() as session:
        outage = session.get(Outage, ids.outage)
        times = [outage.first_report_at, outage.confirmed_at, outage.etr_at, outage.predicted_at]
        first_report_at, confirmed_at = outage.first_report_at, outage.confirmed_at
        # Stored as the UTC wall time, so SQL on either database sees the same value.
        stored = session.execute(text("SELECT confirmed_at FROM outages WHERE id = :id"), {"id": ids.outage})
        raw = str(stored.scalar_one())

    assert all(t.tzinfo is UTC for t in times)
    assert first_report_at == clock.now()
    assert confirmed_at == local
    assert confirmed_at.hour == 5
    assert raw.startswith("2026-07-01 05:30:00")


def test_naive_datetimes_are_refused(database: Database, ids: Ids, clock: FakeClock) -> None:
    naive = datetime(2026, 7, 1, 13, 30)
    with pytest.raises(StatementError, match="naive datetime"), database.write() as session:
        session.get(Crew, ids.crew).position_at = naive

    with database.read() as session:
        assert session.get(Crew, ids.crew).position_at == clock.now()


def test_version_increments_on_every_update(database: Database, ids: Ids) -> None:
    versions = []
    for status in (CrewStatus.DISPATCHED, CrewStatus.ON_SITE):
        with database.write() as session:
            crew = session.get(Crew, ids.crew)
            crew.status = status
            session.flush()
            versions.append(crew.version)

    with database.read() as session:
        assert session.get(Crew, ids.crew).version == 3
    assert versions == [2, 3]


def test_a_stale_update_is_refused(database: Database, ids: Ids, clock: FakeClock) -> None:
    with (
        Session(database.engine, expire_on_commit=False) as first,
        Session(database.engine, expire_on_commit=False) as second,
    ):
        seen_by_first = first.get(Crew, ids.crew)
        seen_by_second = second.get(Crew, ids.crew)
        assert seen_by_first.version == seen_by_second.version == 1
        # Each dispatcher's screen was drawn by an earlier request; its transaction is over.
        first.commit()
        second.commit()

        seen_by_first.status = CrewStatus.DISPATCHED
        seen_by_first.status_at = clock.now()
        first.commit()

        seen_by_second.status = CrewStatus.OFF_DUTY
        with pytest.raises(StaleDataError):
            second.commit()

    with database.read() as session:
        crew = session.get(Crew, ids.crew)
        assert (crew.status, crew.version) == (CrewStatus.DISPATCHED, 2)


def test_foreign_keys_are_enforced(database: Database, ids: Ids, clock: FakeClock) -> None:
    orphan = Report(
        channel=ReportChannel.APP,
        external_id="app-404",
        kind=ReportKind.NO_POWER,
        reported_at=clock.now(),
        received_at=clock.now(),
        customer_id=ids.household + ids.hospital + 1000,
    )
    with pytest.raises(IntegrityError), database.write() as session:
        session.add(orphan)

    with database.read() as session:
        assert session.scalar(select(Report).where(Report.external_id == "app-404")) is None


def make_report(clock: FakeClock, channel: ReportChannel, external_id: str | None) -> Report:
    return Report(
        channel=channel,
        external_id=external_id,
        kind=ReportKind.NO_POWER,
        reported_at=clock.now(),
        received_at=clock.now(),
    )


def test_a_report_is_unique_per_channel_and_external_id(
    database: Database, ids: Ids, clock: FakeClock
) -> None:
    with pytest.raises(IntegrityError), database.write() as session:
        session.add(make_report(clock, ReportChannel.HOTLINE, "95598-0001"))

    with database.write() as session:
        # The same number from another channel is another report; reports without an id never clash.
        session.add(make_report(clock, ReportChannel.APP, "95598-0001"))
        session.add(make_report(clock, ReportChannel.WEB, None))
        session.add(make_report(clock, ReportChannel.WEB, None))

    with database.read() as session:
        assert len(session.scalars(select(Report)).all()) == 4


def test_sqlite_runs_in_wal_mode_with_foreign_keys(sqlite_database: Database) -> None:
    with sqlite_database.engine.connect() as connection:
        journal_mode = connection.exec_driver_sql("PRAGMA journal_mode").scalar()
        foreign_keys = connection.exec_driver_sql("PRAGMA foreign_keys").scalar()
        busy_timeout = connection.exec_driver_sql("PRAGMA busy_timeout").scalar()

    assert journal_mode == "wal"
    assert foreign_keys == 1
    assert busy_timeout == SQLITE_BUSY_TIMEOUT_MS


def test_two_threads_writing_at_once_on_sqlite_both_succeed(
    sqlite_database: Database, clock: FakeClock
) -> None:
    """Read-then-write transactions in two threads: BEGIN IMMEDIATE makes them queue, not fail.

    With a deferred BEGIN both would hold a read snapshot and one would fail with "database is
    locked" when upgrading to write; counting also proves no increment is lost.
    """
    rounds = 25
    with sqlite_database.write() as session:
        session.add(Setting(key="test.counter", value=0, updated_at=clock.now()))
    start = threading.Barrier(2)
    errors: list[BaseException] = []

    def work() -> None:
        try:
            start.wait(timeout=10)
            for _ in range(rounds):
                with sqlite_database.write() as session:
                    row = session.get(Setting, "test.counter")
                    value = row.value
                    # Hand the other thread the processor between the read and the write.
                    threading.Event().wait(0.001)
                    row.value = value + 1
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=work) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert not any(thread.is_alive() for thread in threads)
    assert errors == []
    with sqlite_database.read() as session:
        assert session.get(Setting, "test.counter").value == 2 * rounds
