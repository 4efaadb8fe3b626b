"""The manager's pages through the real entry script (AppTest): warnings console and outreach."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select, update
from streamlit.testing.v1 import AppTest

from emergency.app.bus import execute
from emergency.app.commands.warnings import CreateWarning, IssueWarning
from emergency.core.actor import Actor
from emergency.core.clock import SYSTEM_CLOCK
from emergency.core.db import get_database
from emergency.core.models import (
    AuditEvent,
    Crew,
    Customer,
    Depot,
    ImportanceGrade,
    Notification,
    OutreachTask,
    WarningRevision,
)
from emergency.core.models import Warning as WarningRow
from emergency.warnings.area import DistrictsArea
from emergency.warnings.lifecycle import WarningInput
from tests.pages.conftest import APP, page
from tests.pages.test_access import log_in, texts
from tests.support.app_context import context_of
from tests.support.small_territory import PASSWORDS

TIMEOUT = 30
MANAGER = Actor("manager", "manager")


def make_warning(url: str, title: str = "Typhoon **Haikui** <b>red</b>", issue: bool = False) -> int:
    db = get_database(url)
    now = SYSTEM_CLOCK.now()
    warning_id = execute(
        context_of(db, SYSTEM_CLOCK, MANAGER),
        CreateWarning(
            WarningInput(
                "typhoon",
                "red",
                1,
                title,
                "台风海葵红色预警",
                "",
                "",
                DistrictsArea(("W",)),
                now,
                now + timedelta(hours=12),
            )
        ),
    )
    if issue:
        execute(context_of(db, SYSTEM_CLOCK, MANAGER), IssueWarning(warning_id, 1))
    return warning_id


def open_page(name: str, username: str = "manager") -> AppTest:
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.run()
    log_in(at, username, PASSWORDS[username])
    at.switch_page(page(name)).run()
    assert not at.exception, at.exception
    return at


def metric(at: AppTest, label: str) -> str:
    return next(m.value for m in at.metric if m.label == label)


def test_dispatchers_are_not_offered_the_manager_pages(territory_db):
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.run()
    log_in(at, "dispatcher", PASSWORDS["dispatcher"])
    for name in ("manager_warnings.py", "manager_outreach.py"):
        with pytest.raises(ValueError, match="Could not find a navigation page"):
            at.switch_page(page(name))


def test_the_preview_shows_who_is_in_the_area_and_issuing_publishes(territory_db):
    url, _territory = territory_db
    warning_id = make_warning(url)
    at = open_page("manager_warnings.py")
    assert metric(at, "Customers") == "8"
    assert metric(at, "Important users") == "1"
    assert metric(at, "Crews inside") == "3"
    # The user-written title is shown as typed, its markdown and HTML escaped.
    assert "### Typhoon \\*\\*Haikui\\*\\* \\<b\\>red\\</b\\>" in [m.value for m in at.markdown]
    frames = [f.value for f in at.dataframe]
    assert any("West Hospital 西镇医院" in frame.to_string() for frame in frames)

    issue = next(b for b in at.button if b.label == "Issue")
    assert issue.disabled  # it asks first
    next(c for c in at.checkbox if c.label == "Send to 8 customers").check().run()
    next(b for b in at.button if b.label == "Issue").click().run()
    assert not at.exception, at.exception
    assert any("8 notices queued" in s.value for s in at.success)
    with get_database(url).read() as session:
        assert session.get(WarningRow, warning_id).status == "active"
        assert session.scalar(select(func.count()).select_from(Notification)) == 8
    assert any(f"/api/warnings/{warning_id}.cap.xml" in m.value for m in at.markdown)


def test_a_bad_cancel_is_refused_with_the_reason(territory_db):
    url, _territory = territory_db
    make_warning(url, issue=True)
    at = open_page("manager_warnings.py")
    next(b for b in at.button if b.label == "Cancel the warning").click().run()
    assert any("say why the warning is cancelled" in e.value for e in at.error)


def test_opening_the_warnings_page_writes_nothing_not_even_an_overdue_expiry(territory_db):
    """Expiry is the server loop's work (dashboard/server.py); a page view only reads."""
    url, _territory = territory_db
    warning_id = make_warning(url, issue=True)
    db = get_database(url)
    with db.write() as session:  # its time ran out while no expiry round ran
        session.execute(
            update(WarningRow)
            .where(WarningRow.id == warning_id)
            .values(expires_at=SYSTEM_CLOCK.now() - timedelta(minutes=5))
        )

    def warning_writes() -> tuple[int, int, int]:
        with db.read() as session:
            return (
                session.scalar(select(func.count()).select_from(WarningRevision)),
                session.scalar(
                    select(func.count()).select_from(AuditEvent).where(AuditEvent.entity == "warning")
                ),
                session.scalar(select(WarningRow.version).where(WarningRow.id == warning_id)),
            )

    before = warning_writes()
    at = open_page("manager_warnings.py")
    at.run()
    assert not at.exception, at.exception
    assert warning_writes() == before
    with db.read() as session:
        assert session.get(WarningRow, warning_id).status == "active"


def test_the_outreach_page_moves_a_task_up_the_ladder(territory_db):
    url, _territory = territory_db
    make_warning(url, issue=True)
    at = open_page("manager_outreach.py")
    assert metric(at, "Pending") == "1"
    # Disaster mode is on in West Town (readiness 1), so the queue is shown (empty: no outage yet).
    assert "No district is in disaster mode." not in texts(at)
    next(b for b in at.button if b.label == "Escalate (message → call → visit)").click().run()
    assert not at.exception, at.exception
    assert any("next step phone call" in s.value for s in at.success)
    with get_database(url).read() as session:
        assert session.scalars(select(OutreachTask.step)).one() == "call"


def test_the_manager_accepts_a_pre_positioning_suggestion(territory_db):
    url, territory = territory_db
    with get_database(url).write() as session:
        session.add(
            Depot(
                code="SA-W",
                name_en="West staging",
                name_zh="西镇前置点",
                district_id=territory.district_ids["W"],
                lon=121.05,
                lat=28.05,
                is_staging=True,
            )
        )
    make_warning(url, issue=True)
    at = open_page("manager_outreach.py")
    next(b for b in at.button if b.label == "Suggest").click().run()
    accept = next(b for b in at.button if b.label == "Accept: base 2 crews at these depots")
    accept.click().run()
    assert not at.exception, at.exception
    assert any("2 crews now based at staging depots" in s.value for s in at.success)
    with get_database(url).read() as session:
        staging = session.scalar(select(Depot.id).where(Depot.code == "SA-W"))
        assert set(session.scalars(select(Crew.home_depot_id).where(Crew.code.in_(["C1", "C2"])))) == {
            staging
        }


def test_the_outreach_page_takes_one_step_for_all_the_users_shown(territory_db):
    """Outreach to hundreds of users was one at a time; a filter and "choose all" take them at once."""
    url, territory = territory_db
    db = get_database(url)
    with db.write() as session:  # a second important user in West Town, so there are two to choose
        other = session.scalars(
            select(Customer).where(
                Customer.district_id == territory.district_ids["W"],
                Customer.importance == ImportanceGrade.NONE,
            )
        ).first()
        other.importance, other.backup_hours = ImportanceGrade.GRADE2, 4
    make_warning(url, issue=True)
    at = open_page("manager_outreach.py")
    assert metric(at, "Pending") == "2"
    at.multiselect(key="outreach-bulk-step").select("message").run()
    next(b for b in at.button if b.label == "Choose all 2 shown").click().run()
    assert len(at.multiselect(key="outreach-bulk-tasks").value) == 2
    at.text_input(key="outreach-bulk-who").input("Duty officer Wu")
    next(b for b in at.button if b.label == "Acknowledged: the chosen").click().run()
    assert not at.exception, at.exception
    assert any("Acknowledged: 2 of 2 users." in s.value for s in at.success)
    assert metric(at, "Acknowledged") == "2"
    with db.read() as session:
        assert set(session.scalars(select(OutreachTask.acknowledged_by))) == {"Duty officer Wu"}
        audited = session.scalar(
            select(func.count()).select_from(AuditEvent).where(AuditEvent.action == "outreach.acknowledge")
        )
    assert audited == 2


def test_a_draft_offers_discard_draft_not_cancel_the_warning(territory_db):
    url, _territory = territory_db
    warning_id = make_warning(url)
    at = open_page("manager_warnings.py")
    labels = [b.label for b in at.button]
    assert "Discard draft" in labels and "Cancel the warning" not in labels
    next(b for b in at.button if b.label == "Discard draft").click().run()
    assert not at.exception, at.exception
    assert any(f"Draft {warning_id} discarded." in s.value for s in at.success)
    with get_database(url).read() as session:
        assert session.get(WarningRow, warning_id).status == "discarded"
