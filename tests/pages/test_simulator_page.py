"""The storm simulator page (/simulator): admins pause, resume and restart the demo's run; nobody else."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from streamlit.testing.v1 import AppTest

from emergency.app.bus import execute
from emergency.app.commands.admin import PauseDemo, RestartDemo
from emergency.core.actor import Actor
from emergency.core.clock import SYSTEM_CLOCK
from emergency.core.db import Database
from emergency.core.errors import PermissionDenied
from emergency.core.models import AuditEvent, Role
from emergency.core.settings import set_setting
from emergency.simulator.live import demo_run
from tests.pages.conftest import APP, page
from tests.support.app_context import context_of
from tests.support.small_territory import PASSWORDS

TIMEOUT = 30
ADMIN = Actor("admin", Role.ADMIN)


def make_demo(url: str, with_run: bool = True) -> Database:
    db = Database(url)
    with db.write() as session:
        set_setting(session, "territory.is_demo", True, SYSTEM_CLOCK)
    if with_run:
        execute(context_of(db, SYSTEM_CLOCK, ADMIN), RestartDemo("typhoon", 7))
    return db


def logged_in(username: str) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.run()
    at.switch_page(page("login.py")).run()
    at.text_input[0].input(username)
    at.text_input[1].input(PASSWORDS[username])
    at.button[0].click().run()
    assert not at.exception, at.exception
    return at


def state(db: Database) -> tuple[int, str, str, int]:
    with db.read() as session:
        run = demo_run(session)
    assert run is not None
    return run.number, run.state, run.scenario, run.seed


def metrics(at: AppTest) -> dict[str, str]:
    return {m.label: str(m.value) for m in at.metric}


def test_an_admin_pauses_resumes_and_restarts_the_demo_run_and_each_is_audited(territory_db):
    url, _ = territory_db
    db = make_demo(url)
    at = logged_in("admin")
    at.switch_page(page("simulator_admin.py")).run()
    assert at.title[0].value == "Storm simulator"
    assert metrics(at)["State"] == "running" and metrics(at)["Scenario"] == "typhoon"
    assert "DEMO: a simulated typhoon is under way" in at.warning[0].value

    at.button(key="sim-pause").click().run()
    assert state(db)[1] == "paused"
    assert at.success[0].value == "Simulation paused."
    assert metrics(at)["State"] == "paused"

    at.button(key="sim-resume").click().run()
    assert state(db)[1] == "running"

    at.selectbox[0].select("thunderstorm")
    at.number_input[0].set_value(3)
    next(b for b in at.button if b.label == "Restart").click().run()
    assert state(db) == (2, "running", "thunderstorm", 3)
    assert "Run 2 started: thunderstorm squall line, seed 3." in at.success[0].value
    with db.read() as session:
        actions = session.scalars(select(AuditEvent.action).where(AuditEvent.entity == "simulator")).all()
    assert actions == ["simulator.restart", "simulator.pause", "simulator.resume", "simulator.restart"]


def test_a_dispatcher_has_no_simulator_page_and_the_service_refuses_them(territory_db):
    url, _ = territory_db
    db = make_demo(url)
    at = logged_in("dispatcher")
    with pytest.raises(ValueError, match="Could not find a navigation page"):
        at.switch_page(page("simulator_admin.py"))
    direct = AppTest.from_file(page("simulator_admin.py"), default_timeout=TIMEOUT)
    direct.session_state["actor"] = Actor("dispatcher", Role.DISPATCHER)
    direct.run()
    assert "for control-room staff" in direct.error[0].value
    assert not direct.button
    with pytest.raises(PermissionDenied):
        execute(context_of(db, SYSTEM_CLOCK, Actor("dispatcher", Role.DISPATCHER)), PauseDemo())
    assert state(db)[1] == "running"


def test_every_page_says_a_simulated_storm_is_running_in_chinese_too(territory_db):
    url, _ = territory_db
    make_demo(url)
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.session_state["lang"] = "zh"
    at.run()
    assert "演示：正在模拟台风" in at.warning[0].value


def test_a_real_database_simulates_nothing_and_says_so(territory_db):
    at = logged_in("admin")
    at.switch_page(page("simulator_admin.py")).run()
    assert "not the demo database" in at.info[0].value
    assert not at.button and not at.metric
    assert not any("DEMO" in w.value for w in at.warning)
