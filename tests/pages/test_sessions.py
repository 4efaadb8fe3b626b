"""Staff sessions through the entry script: idle expiry on a fake clock, logout, uniform login refusals."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select
from streamlit.testing.v1 import AppTest

from dashboard import session as staff_session
from emergency.core import auth
from emergency.core.actor import CLI_ADMIN
from emergency.core.clock import SYSTEM_CLOCK, FakeClock
from emergency.core.db import get_database
from emergency.core.models import AuditEvent
from emergency.core.settings import set_setting
from tests.pages.conftest import page
from tests.support.small_territory import PASSWORDS
from tests.support.staff_login import signed_in

NAV_MISSING = "Could not find a navigation page"


@pytest.fixture
def session_clock(territory_db, monkeypatch: pytest.MonkeyPatch) -> FakeClock:
    clock = FakeClock(SYSTEM_CLOCK.now())
    monkeypatch.setattr(staff_session, "CLOCK", clock)
    return clock


def session_events(url: str, username: str) -> list[str]:
    with get_database(url).read() as session:
        return list(
            session.scalars(
                select(AuditEvent.action)
                .where(
                    AuditEvent.actor == username,
                    AuditEvent.action.in_(("user.logout", "user.session_expired")),
                )
                .order_by(AuditEvent.id)
            )
        )


def test_a_session_idle_past_the_limit_is_signed_out_on_the_next_click(territory_db, session_clock) -> None:
    url, _ = territory_db
    at = signed_in("dispatcher", PASSWORDS["dispatcher"])
    at.switch_page(page("dispatcher_map.py")).run()
    assert at.title[0].value == "Dispatcher console"

    session_clock.advance(minutes=31)
    at.run()

    assert not at.exception, at.exception
    assert at.title[0].value == "Power status"
    assert "signed out after 30 minutes without activity" in at.warning[0].value
    assert staff_session.ACTOR_KEY not in at.session_state
    with pytest.raises(ValueError, match=NAV_MISSING):
        at.switch_page(page("dispatcher_map.py"))
    assert session_events(url, "dispatcher") == ["user.session_expired"]
    # The message is said once.
    at.run()
    assert not at.warning


def test_each_click_restarts_the_idle_time(territory_db, session_clock) -> None:
    at = signed_in("dispatcher", PASSWORDS["dispatcher"])
    for _ in range(3):
        session_clock.advance(minutes=25)
        at.switch_page(page("dispatcher_map.py")).run()
        assert at.title[0].value == "Dispatcher console"
    assert not at.warning


def test_the_idle_limit_is_a_setting(territory_db, session_clock) -> None:
    url, _ = territory_db
    with get_database(url).write() as session:
        set_setting(session, "auth.session_idle_minutes", 5, session_clock)
    at = signed_in("manager", PASSWORDS["manager"])

    session_clock.advance(minutes=6)
    at.run()

    assert "signed out after 5 minutes without activity" in at.warning[0].value
    assert session_events(url, "manager") == ["user.session_expired"]


def test_logout_ends_the_session_forgets_its_state_and_is_audited(territory_db, session_clock) -> None:
    url, _ = territory_db
    at = signed_in("manager", PASSWORDS["manager"])
    at.session_state["console-selected"] = 7
    at.switch_page(page("logout.py")).run()

    assert at.title[0].value == "Power status"
    assert at.success[0].value == "You are logged out."
    assert "console-selected" not in at.session_state
    assert "lang" in at.session_state
    with pytest.raises(ValueError, match=NAV_MISSING):
        at.switch_page(page("manager_warnings.py"))
    assert session_events(url, "manager") == ["user.logout"]
    # Coming back later does not count as a second ending.
    session_clock.advance(hours=2)
    at.run()
    assert session_events(url, "manager") == ["user.logout"]


def refusal(username: str, password: str) -> list[str]:
    at = signed_in(username, password)
    assert staff_session.ACTOR_KEY not in at.session_state
    return [e.value for e in at.error]


def test_locked_disabled_unknown_and_wrong_password_read_the_same(territory_db) -> None:
    url, _ = territory_db
    db = get_database(url)
    with db.write() as session:
        auth.disable_user(session, SYSTEM_CLOCK, CLI_ADMIN, "admin")
    for _ in range(5):
        refusal("manager", "wrong-password")

    answers = {
        "wrong password": refusal("dispatcher", "wrong-password"),
        "unknown user": refusal("nobody", "wrong-password"),
        "locked, right password": refusal("manager", PASSWORDS["manager"]),
        "disabled, right password": refusal("admin", PASSWORDS["admin"]),
    }

    assert len({tuple(a) for a in answers.values()}) == 1, answers
    assert "Wrong username or password" in answers["unknown user"][0]


def _idle_check_script() -> None:
    import streamlit as st

    from dashboard.session import idle_too_long

    st.text(f"idle too long: {idle_too_long()}")


def test_idle_too_long_is_what_the_live_map_checks_between_clicks(territory_db, session_clock) -> None:
    """The console's timed refresh asks `idle_too_long` (it is no click) and ends an unattended session."""
    check = AppTest.from_function(_idle_check_script)
    check.session_state[staff_session.ACTOR_KEY] = auth.Actor("dispatcher", "dispatcher")
    check.session_state[staff_session.LAST_ACTIVE_KEY] = session_clock.now()
    check.run()
    assert check.text[0].value == "idle too long: False"
    check.session_state[staff_session.LAST_ACTIVE_KEY] = session_clock.now() - timedelta(minutes=31)
    check.run()
    assert check.text[0].value == "idle too long: True"
