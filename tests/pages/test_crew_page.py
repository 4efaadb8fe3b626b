"""The crew page with AppTest: a crew leader signs in and lands on their crew's job, in English and
Chinese (no English word on the Chinese page); steps ask first, name the outage, and are recorded
once; a step done offline is entered with its time."""

from __future__ import annotations

from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select
from streamlit.testing.v1 import AppTest

from dashboard import crew_page
from emergency.core.clock import SYSTEM_CLOCK, FakeClock
from emergency.core.db import Database
from emergency.core.field_models import CommandKey
from emergency.core.models import AuditEvent, CrewAssignment, User
from tests.pages.conftest import APP, page
from tests.pages.test_chinese_complete import english_on
from tests.support.crew_field import LEADER_PASSWORD, CrewJobSetup, crew_job_on
from tests.support.small_territory import PASSWORDS

TIMEOUT = 60
SHANGHAI = ZoneInfo("Asia/Shanghai")  # the app's default OUTAGE_TZ


@pytest.fixture
def crew_db(territory_db) -> tuple[str, CrewJobSetup]:
    url, built = territory_db
    db = Database(url)
    try:
        # Dispatched 20 minutes ago, so a step done 10 minutes ago comes after it.
        job = crew_job_on(db, FakeClock(SYSTEM_CLOCK.now() - timedelta(minutes=20)), built)
    finally:
        db.dispose()
    return url, job


def leader_session(language: str = "en") -> AppTest:
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.session_state["lang"] = language
    at.run()
    at.switch_page(page("login.py")).run()
    at.text_input[0].input("leader1")
    at.text_input[1].input(LEADER_PASSWORD)
    at.button[0].click().run()
    assert not at.exception, at.exception
    at.switch_page(page("crew.py")).run()
    assert not at.exception, at.exception
    return at


def yes_button(at: AppTest):
    (yes,) = [b for b in at.button if str(b.key).startswith("crewpage-yes-")]
    return yes


@pytest.mark.parametrize(
    ("language", "title", "job", "assess"),
    [
        ("en", "My crew's work", "Outage {id} · TX-4", "Damage assessment · outage {id}"),
        ("zh", "本队任务", "停电事件 {id} · TX-4", "现场勘察 · 停电事件 {id}"),
    ],
)
def test_the_crew_leader_sees_their_job_in_both_languages(crew_db, language, title, job, assess):
    _, setup = crew_db
    at = leader_session(language)
    assert at.title[0].value == title
    # The job's card, then the damage assessment form inside it (for the same outage).
    assert at.subheader[0].value == job.format(id=setup.outage_id)
    assert [s.value for s in at.subheader[1:]] == [assess.format(id=setup.outage_id)]
    assert any(b.key == f"crewpage-accept-{setup.assignment_id}" for b in at.button)
    if language == "zh":
        # Data, shown as the utility typed it: the account's name (leader1) and the test crew's name;
        # and the photo formats' own names.
        english = {
            w: seen for w, seen in english_on(at).items() if w not in {"leader", "Crew", "JPEG", "HEIC"}
        }
        assert not english, english


def test_a_crew_leader_sees_only_the_crew_page_and_logout(crew_db):
    at = leader_session()
    # The navigation registers no other page for a crew leader: the console is not there to open.
    # (The first, a page without a script, is the root that opens the crew page at /crew.)
    known = r"""Known pages: \["My crew's work", '[^']*/pages/crew\.py', '[^']*/pages/logout\.py'\]"""
    with pytest.raises(ValueError, match=known):
        at.switch_page(page("dispatcher_map.py"))


def test_accept_asks_naming_the_outage_and_is_recorded_once(crew_db):
    url, setup = crew_db
    at = leader_session()
    at.button(key=f"crewpage-accept-{setup.assignment_id}").click().run()
    question = at.warning[0].value
    assert question == f"Accept the job at outage {setup.outage_id} · TX-4?"
    sent_key = at.session_state[crew_page.PENDING].command.key
    yes_button(at).click().run()
    assert not at.exception, at.exception
    assert at.success[0].value == f"Job accepted: outage {setup.outage_id} · TX-4."
    # The step is done: its key is dropped, so a next step of the kind gets a new one.
    assert (setup.assignment_id, "accept") not in at.session_state[crew_page.KEYS]
    db = Database(url)
    try:
        with db.read() as session:
            assert session.get(CrewAssignment, setup.assignment_id).acknowledged_at is not None
            accepted = session.scalar(
                select(func.count()).select_from(AuditEvent).where(AuditEvent.action == "crew.acknowledge")
            )
            assert accepted == 1
        with db.read() as session:
            assert session.get(CommandKey, sent_key).outcome["step"] == "accept"
    finally:
        db.dispose()


def test_a_step_done_offline_is_entered_with_its_time(crew_db):
    url, setup = crew_db
    at = leader_session()
    at.toggle(key="crewpage-late").set_value(True).run()
    done = (SYSTEM_CLOCK.now() - timedelta(minutes=10)).astimezone(SHANGHAI).replace(second=0, microsecond=0)
    at.date_input(key="crewpage-late-day").set_value(done.date()).run()
    at.time_input(key="crewpage-late-time").set_value(done.time()).run()
    at.button(key=f"crewpage-enroute-{setup.assignment_id}").click().run()
    assert at.warning[0].value.startswith(f"Set off for outage {setup.outage_id} · TX-4? (done at ")
    yes_button(at).click().run()
    assert not at.exception, at.exception
    assert "Done at" in at.success[0].value
    db = Database(url)
    try:
        with db.read() as session:
            en_route_at = session.get(CrewAssignment, setup.assignment_id).en_route_at
        assert en_route_at == done
    finally:
        db.dispose()


def test_the_admin_creates_a_crew_leader_linked_to_a_crew(crew_db):
    url, setup = crew_db
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.run()
    at.switch_page(page("login.py")).run()
    at.text_input[0].input("admin")
    at.text_input[1].input(PASSWORDS["admin"])
    at.button[0].click().run()
    at.switch_page(page("users.py")).run()
    at.text_input[0].input("leader9")
    at.selectbox[0].set_value("crew")
    at.selectbox[1].set_value(setup.territory.crew_ids["C2"])
    at.text_input[2].input("leader-pass-9")
    next(b for b in at.button if b.label == "Add user").click().run()
    assert not at.exception, at.exception
    assert at.success[0].value == "Added leader9."
    db = Database(url)
    try:
        with db.read() as session:
            user = session.scalar(select(User).where(User.username == "leader9"))
            assert (user.role, user.crew_id) == ("crew", setup.territory.crew_ids["C2"])
    finally:
        db.dispose()
