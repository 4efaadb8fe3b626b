"""Warnings on the small hand-made territory, on SQLite and PostgreSQL: areas, lifecycle, outbox.

    West Town (W, 121.0-121.1): TX-1 (3 customers), TX-2 (4), TX-3 (1 grade-1 hospital, 8 h backup)
    East Village (E, 121.1-121.2): TX-4 (5 customers at 121.150-121.154, 28.06), TX-5 (2 at 28.04)

Every customer has a phone; crews C1, C2, C3 wait at the depot (121.03, 28.05) in West Town.
"""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from emergency.app.bus import execute
from emergency.app.commands.warnings import (
    CancelWarning,
    CreateWarning,
    DiscardDraft,
    EditDraft,
    ExpireWarnings,
    IssueWarning,
    UpdateWarning,
)
from emergency.core.actor import Actor
from emergency.core.errors import Conflict, InvalidInput, PermissionDenied
from emergency.core.models import (
    AuditEvent,
    Notification,
    OutreachTask,
    WarningRevision,
    WarningStatus,
)
from emergency.core.models import Warning as WarningRow
from emergency.warnings.area import CircleArea, DistrictsArea, PolygonArea, resolve_area
from emergency.warnings.lifecycle import (
    WarningInput,
    disaster_mode_districts,
    history,
)
from emergency.warnings.preview import preview
from tests.support.app_context import context_of
from tests.support.small_territory import build_small_territory

MANAGER = Actor("meng", "manager")
DISPATCHER = Actor("alice", "dispatcher")
HOSPITAL_CORNER = {
    "type": "Polygon",
    "coordinates": [[[121.0, 28.0], [121.08, 28.0], [121.08, 28.045], [121.0, 28.045], [121.0, 28.0]]],
}


@pytest.fixture
def territory(database, clock):
    return build_small_territory(database, clock)


def draft(clock, area, readiness: int | None = 1, **changes) -> WarningInput:
    fields = {
        "hazard": "typhoon",
        "level": "red",
        "readiness_level": readiness,
        "title_en": "Typhoon Haikui: red warning",
        "title_zh": "台风海葵红色预警",
        "text_en": "Landfall expected tonight.",
        "text_zh": "预计今夜登陆。",
        "area": area,
        "effective_at": clock.now(),
        "expires_at": clock.now() + timedelta(hours=12),
    }
    return WarningInput(**(fields | changes))


def version(db, warning_id: int) -> int:
    with db.read() as session:
        return session.get(WarningRow, warning_id).version


# --- areas -------------------------------------------------------------------------------


def test_districts_area_holds_their_customers_and_important_users(database, territory):
    with database.read() as session:
        area = resolve_area(session, DistrictsArea(("W",)))
        seen = preview(session, area)
    assert area.district_codes == ("W",)
    assert seen.customers == 8
    assert [u.name for u in seen.important_users] == ["West Hospital 西镇医院"]
    assert seen.important_users[0].backup_hours == 8
    assert seen.important_by_grade["grade1"] == 1
    assert {c.code for c in seen.crews_inside} == {"C1", "C2", "C3"}
    assert seen.customers_by_district[0][0] == "W" and seen.customers_by_district[0][3] == 8


def test_circle_area_holds_only_the_customers_inside(database, territory):
    with database.read() as session:
        area = resolve_area(session, CircleArea(121.152, 28.06, 1.0))
        seen = preview(session, area)
    assert area.kind == "circle" and area.district_codes == ("E",)
    assert seen.customers == 5  # TX-4's five; TX-5 is 2 km south
    assert seen.important_users == ()
    assert seen.crews_inside == ()
    assert seen.crews_near == ()  # the depot is 12 km west, beyond the 10 km "near"


def test_uploaded_polygon_finds_the_hospital_and_the_crews_near_it(database, territory):
    with database.read() as session:
        area = resolve_area(
            session, PolygonArea(json.dumps({"type": "Feature", "geometry": HOSPITAL_CORNER}))
        )
        seen = preview(session, area)
    assert area.kind == "polygon"
    assert seen.customers == 1
    assert seen.important_users[0].account_no == territory.account_by_transformer["TX-3"][0]
    # The depot (121.03, 28.05) is 0.55 km north of the polygon's top edge.
    assert {c.code for c in seen.crews_near} == {"C1", "C2", "C3"}
    assert 0.4 < seen.crews_near[0].distance_km < 0.7


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (DistrictsArea(()), "choose at least one district"),
        (DistrictsArea(("W", "NOPE")), "unknown district(s): NOPE"),
        (CircleArea(121.05, 28.05, 0), "more than 0 km"),
        (CircleArea(121.05, 28.05, 5000), "at most 300 km"),
        (CircleArea(100.0, 10.0, 5), "outside the territory"),
        (
            PolygonArea(
                {
                    "type": "Polygon",
                    "coordinates": [
                        [[121.0, 28.0], [121.1, 28.1], [121.1, 28.0], [121.0, 28.1], [121.0, 28.0]]
                    ],
                }
            ),
            "Self-intersection",
        ),
        (
            PolygonArea({"type": "Polygon", "coordinates": []}),
            "empty",
        ),
        (PolygonArea({"type": "Point", "coordinates": [121.0, 28.0]}), "must be a polygon"),
        (PolygonArea("{not json"), "not JSON"),
        (PolygonArea({"type": "FeatureCollection", "features": []}), "no polygon"),
    ],
)
def test_bad_areas_are_refused_with_the_reason(database, territory, spec, message):
    with database.read() as session, pytest.raises(InvalidInput) as refused:
        resolve_area(session, spec)
    assert message in str(refused.value)


def test_an_upload_over_the_size_limit_is_refused(database, territory):
    ring = [[121.0 + i * 1e-6, 28.0] for i in range(60_000)] + [[121.05, 28.05], [121.0, 28.0]]
    text = json.dumps({"type": "Polygon", "coordinates": [ring]})
    with database.read() as session, pytest.raises(InvalidInput) as refused:
        resolve_area(session, PolygonArea(text))
    assert "larger than 1024 KiB" in str(refused.value)


# --- lifecycle ---------------------------------------------------------------------------------


def test_issue_queues_notices_builds_outreach_and_enters_disaster_mode(database, clock, territory):
    warning_id = execute(
        context_of(database, clock, MANAGER), CreateWarning(draft(clock, DistrictsArea(("W",))))
    )
    with database.read() as session:
        assert disaster_mode_districts(session, clock.now()) == set()  # a draft changes nothing
    result = execute(
        context_of(database, clock, MANAGER), IssueWarning(warning_id, version(database, warning_id))
    )

    assert (result.notices_queued, result.customers_without_phone, result.outreach_added) == (8, 0, 1)
    assert result.disaster_mode
    with database.read() as session:
        warning = session.get(WarningRow, warning_id)
        assert warning.status == WarningStatus.ACTIVE and warning.issued_by == "meng"
        notices = session.scalars(select(Notification).order_by(Notification.customer_id)).all()
        assert len(notices) == 8
        assert {n.dedupe_key for n in notices} == {
            f"warning:{warning.cap_identifier}:{n.customer_id}" for n in notices
        }
        assert all("台风海葵红色预警" in n.body and n.language == "zh" for n in notices)
        assert {n.recipient for n in notices} == {f"1390000{i:04d}" for i in range(1, 9)}
        task = session.scalars(select(OutreachTask)).one()
        assert task.step == "message" and task.status == "pending"
        assert disaster_mode_districts(session, clock.now()) == {territory.district_ids["W"]}
        assert [r.cap_msg_type for r in history(session, warning_id)] == ["Alert"]


def test_low_readiness_does_not_enter_disaster_mode(database, clock, territory):
    warning_id = execute(
        context_of(database, clock, MANAGER), CreateWarning(draft(clock, DistrictsArea(("W",)), readiness=3))
    )
    execute(context_of(database, clock, MANAGER), IssueWarning(warning_id, version(database, warning_id)))
    with database.read() as session:
        assert disaster_mode_districts(session, clock.now()) == set()


def test_update_and_cancel_reference_every_earlier_message(database, clock, territory):
    warning_id = execute(
        context_of(database, clock, MANAGER), CreateWarning(draft(clock, DistrictsArea(("W",))))
    )
    execute(context_of(database, clock, MANAGER), IssueWarning(warning_id, version(database, warning_id)))
    with database.read() as session:
        first = session.get(WarningRow, warning_id).cap_identifier
    clock.advance(hours=1)
    result = execute(
        context_of(database, clock, MANAGER),
        UpdateWarning(warning_id, version(database, warning_id), draft(clock, DistrictsArea(("W", "E")))),
    )
    # A new message: everyone in the wider area hears of it; the hospital is not listed twice.
    assert (result.notices_queued, result.outreach_added) == (15, 0)
    with database.read() as session:
        warning = session.get(WarningRow, warning_id)
        second = warning.cap_identifier
        assert second != first and warning.status == WarningStatus.UPDATED
        assert warning.cap_msg_type == "Update"
        assert warning.cap_references == f"outage-desk@utility.invalid,{first},2026-07-01T02:00:00+00:00"
        assert disaster_mode_districts(session, clock.now()) == set(territory.district_ids.values())
        updates = session.scalars(
            select(Notification.body).where(Notification.template == "warning.update")
        ).all()
        assert len(updates) == 15 and all(
            body.startswith("【供电服务】预警更新：台风海葵红色预警。") for body in updates
        )
    clock.advance(minutes=30)
    execute(
        context_of(database, clock, MANAGER),
        CancelWarning(warning_id, version(database, warning_id), "typhoon turned north"),
    )
    with database.read() as session:
        warning = session.get(WarningRow, warning_id)
        assert warning.status == WarningStatus.CANCELLED and warning.cap_msg_type == "Cancel"
        assert warning.cap_references.split(" ") == [
            f"outage-desk@utility.invalid,{first},2026-07-01T02:00:00+00:00",
            f"outage-desk@utility.invalid,{second},2026-07-01T03:00:00+00:00",
        ]
        assert [r.cap_msg_type for r in history(session, warning_id)] == ["Alert", "Update", "Cancel"]
        assert disaster_mode_districts(session, clock.now()) == set()
        actions = session.scalars(
            select(AuditEvent.action).where(AuditEvent.entity == "warning").order_by(AuditEvent.id)
        ).all()
        assert actions == ["warning.create", "warning.issue", "warning.update", "warning.cancel"]


def test_warnings_expire_and_leave_disaster_mode(database, clock, territory):
    warning_id = execute(
        context_of(database, clock, MANAGER), CreateWarning(draft(clock, DistrictsArea(("E",))))
    )
    execute(context_of(database, clock, MANAGER), IssueWarning(warning_id, version(database, warning_id)))
    clock.advance(hours=11)
    assert execute(context_of(database, clock), ExpireWarnings()) == ()
    clock.advance(hours=1)
    with database.read() as session:
        # Disaster mode follows the expiry time even before the sweep marks it.
        assert disaster_mode_districts(session, clock.now()) == set()
    assert execute(context_of(database, clock), ExpireWarnings()) == (warning_id,)
    with database.read() as session:
        assert session.get(WarningRow, warning_id).status == WarningStatus.EXPIRED
        assert [r.status for r in history(session, warning_id)] == ["active", "expired"]


def test_drafts_are_edited_in_place_and_stale_edits_refused(database, clock, territory):
    warning_id = execute(
        context_of(database, clock, MANAGER), CreateWarning(draft(clock, DistrictsArea(("W",))))
    )
    seen = version(database, warning_id)
    execute(
        context_of(database, clock, MANAGER),
        EditDraft(warning_id, seen, draft(clock, DistrictsArea(("E",)), level="orange")),
    )
    with pytest.raises(Conflict, match="changed by someone else"):
        execute(context_of(database, clock, MANAGER), IssueWarning(warning_id, seen))
    with database.read() as session:
        warning = session.get(WarningRow, warning_id)
        assert (warning.level, warning.area_districts) == ("orange", ["E"])
        assert session.scalar(select(func.count()).select_from(WarningRevision)) == 0
        assert session.scalar(select(func.count()).select_from(Notification)) == 0


def test_issuing_twice_and_updating_a_draft_are_refused(database, clock, territory):
    warning_id = execute(
        context_of(database, clock, MANAGER), CreateWarning(draft(clock, DistrictsArea(("W",))))
    )
    with pytest.raises(Conflict, match="only a warning in force"):
        execute(
            context_of(database, clock, MANAGER),
            UpdateWarning(warning_id, 1, draft(clock, DistrictsArea(("W",)))),
        )
    execute(context_of(database, clock, MANAGER), IssueWarning(warning_id, 1))
    with pytest.raises(Conflict, match="already active"):
        execute(context_of(database, clock, MANAGER), IssueWarning(warning_id, version(database, warning_id)))


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"hazard": "meteor"}, "hazard"),
        ({"level": "purple"}, "level"),
        ({"readiness_level": 7}, "readiness_level"),
        ({"title_zh": "  "}, "title_zh"),
        ({"title_en": "x" * 201}, "title_en"),
    ],
)
def test_bad_fields_are_refused_by_name(database, clock, territory, changes, field):
    with pytest.raises(InvalidInput) as refused:
        execute(
            context_of(database, clock, MANAGER),
            CreateWarning(draft(clock, DistrictsArea(("W",)), **changes)),
        )
    assert refused.value.field == field


def test_expiry_before_effective_is_refused(database, clock, territory):
    with pytest.raises(InvalidInput, match="after the effective time"):
        execute(
            context_of(database, clock, MANAGER),
            CreateWarning(draft(clock, DistrictsArea(("W",)), expires_at=clock.now() - timedelta(hours=1))),
        )


def test_only_managers_and_admins_handle_warnings(database, clock, territory):
    with pytest.raises(PermissionDenied):
        execute(context_of(database, clock, DISPATCHER), CreateWarning(draft(clock, DistrictsArea(("W",)))))
    warning_id = execute(
        context_of(database, clock, Actor("root", "admin")),
        CreateWarning(draft(clock, DistrictsArea(("W",)))),
    )
    with pytest.raises(PermissionDenied):
        execute(context_of(database, clock, DISPATCHER), IssueWarning(warning_id, 1))
    with pytest.raises(PermissionDenied):
        execute(context_of(database, clock, DISPATCHER), CancelWarning(warning_id, 1, "no"))


def test_a_draft_is_discarded_unpublished_and_a_warning_in_force_is_cancelled_not_discarded(
    database, clock, territory
):
    """A draft used to be "cancelled" like a published warning; it is now kept as a discarded
    draft: audited, no CAP message or revision, no notice, and not a warning to cancel."""
    ctx = context_of(database, clock, MANAGER)
    warning_id = execute(ctx, CreateWarning(draft(clock, DistrictsArea(("W",)))))
    with pytest.raises(Conflict, match="never published: discard the draft instead"):
        execute(ctx, CancelWarning(warning_id, 1, "not needed"))
    execute(ctx, DiscardDraft(warning_id, 1))
    with database.read() as session:
        warning = session.get(WarningRow, warning_id)
        assert warning.status == WarningStatus.DISCARDED
        assert session.scalar(select(func.count()).select_from(WarningRevision)) == 0
        assert session.scalar(select(func.count()).select_from(Notification)) == 0
        assert session.execute(
            select(AuditEvent.action, AuditEvent.actor).where(AuditEvent.action.like("warning.%"))
        ).all() == [("warning.create", "meng"), ("warning.discard", "meng")]
    with pytest.raises(Conflict, match="not a draft"):
        execute(ctx, DiscardDraft(warning_id, version(database, warning_id)))
    with pytest.raises(Conflict, match="already discarded"):
        execute(ctx, IssueWarning(warning_id, version(database, warning_id)))

    issued = execute(ctx, CreateWarning(draft(clock, DistrictsArea(("W",)))))
    execute(ctx, IssueWarning(issued, 1))
    with pytest.raises(Conflict, match="is active, not a draft; cancel it instead"):
        execute(ctx, DiscardDraft(issued, version(database, issued)))
