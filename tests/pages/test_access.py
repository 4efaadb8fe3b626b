"""Who reaches which page: the public sees only public pages, even by URL; staff log in; lockout."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from streamlit.testing.v1 import AppTest

from emergency.core.db import get_database
from emergency.core.models import AuditEvent
from tests.pages.conftest import APP, page
from tests.support.small_territory import PASSWORDS

TIMEOUT = 30


def run_app() -> AppTest:
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.run()
    assert not at.exception, at.exception
    return at


def log_in(at: AppTest, username: str, password: str) -> AppTest:
    at.switch_page(page("login.py")).run()
    at.text_input[0].input(username)
    at.text_input[1].input(password)
    at.button[0].click().run()
    assert not at.exception, at.exception
    return at


def texts(at: AppTest) -> str:
    parts = [m.value for m in at.markdown] + [e.value for e in at.error] + [t.value for t in at.title]
    parts += [w.value for w in at.warning] + [i.value for i in at.info] + [c.value for c in at.caption]
    return "\n".join(str(p) for p in parts)


def test_public_page_is_the_default_and_shows_real_totals(territory_db):
    at = run_app()
    assert at.title[0].value == "Power status"
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Customers without power"] == "0"
    assert metrics["Customers with power"] == "100.00%"
    districts = at.dataframe[0].value
    assert set(districts["District"]) == {"West Town", "East Village"}
    assert districts["Customers served"].sum() == 15


def test_anonymous_session_has_no_staff_page_to_switch_to(territory_db):
    at = run_app()
    for staff_page in ("dispatcher_map.py", "users.py", "logout.py"):
        with pytest.raises(ValueError, match="Could not find a navigation page"):
            at.switch_page(page(staff_page))


def test_dispatcher_page_refuses_a_session_without_a_user(territory_db):
    at = AppTest.from_file(page("dispatcher_map.py"), default_timeout=TIMEOUT)
    at.run()
    assert "for control-room staff" in texts(at)
    assert not at.metric


def test_dispatcher_logs_in_and_sees_the_map_page(territory_db):
    at = run_app()
    log_in(at, "dispatcher", PASSWORDS["dispatcher"])
    at.switch_page(page("dispatcher_map.py")).run()
    assert not at.exception, at.exception
    assert at.title[0].value == "Dispatcher console"
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Crews available"] == "2"
    assert "Signed in as dispatcher" in "\n".join(c.value for c in at.sidebar.caption)


def test_wrong_password_gives_the_same_message_as_unknown_user(territory_db):
    at = run_app()
    log_in(at, "dispatcher", "not-the-password")
    wrong_password = [e.value for e in at.error]
    log_in(at, "nobody", "not-the-password")
    unknown_user = [e.value for e in at.error]
    assert wrong_password == unknown_user
    assert "Wrong username or password" in wrong_password[0]


def test_five_failed_logins_lock_the_account(territory_db):
    at = run_app()
    for _ in range(5):
        log_in(at, "manager", "wrong-password")
    log_in(at, "manager", PASSWORDS["manager"])
    assert any("Wrong username or password" in e.value for e in at.error)
    with pytest.raises(ValueError, match="Could not find a navigation page"):
        at.switch_page(page("dispatcher_map.py"))


def test_logout_returns_to_public_pages(territory_db):
    at = run_app()
    log_in(at, "manager", PASSWORDS["manager"])
    at.switch_page(page("logout.py")).run()
    assert at.title[0].value == "Power status"
    with pytest.raises(ValueError, match="Could not find a navigation page"):
        at.switch_page(page("dispatcher_map.py"))


def test_admin_manages_users_but_not_the_control_room(territory_db):
    at = run_app()
    log_in(at, "admin", PASSWORDS["admin"])
    with pytest.raises(ValueError, match="Could not find a navigation page"):
        at.switch_page(page("dispatcher_map.py"))
    at.switch_page(page("users.py")).run()
    assert at.title[0].value == "Staff accounts"
    assert set(at.dataframe[0].value["Username"]) == {"admin", "dispatcher", "manager"}


def test_language_switch_changes_the_page_to_chinese(territory_db):
    at = run_app()
    at.sidebar.button_group(key="lang").set_value("zh").run()
    assert at.title[0].value == "供电状态"
    assert "停电用户" in [m.label for m in at.metric]


def manage_user(at: AppTest, username: str, action: str) -> AppTest:
    """Pick an account in the users page's manage form, tick "I am sure" and press `action`."""
    at.selectbox(key="manage-user-target").set_value(username)
    at.checkbox[0].check()
    next(b for b in at.button if b.label == action).click().run()
    assert not at.exception, at.exception
    return at


def test_admin_enables_a_disabled_account_again(territory_db):
    url, _ = territory_db
    at = run_app()
    log_in(at, "admin", PASSWORDS["admin"])
    at.switch_page(page("users.py")).run()
    manage_user(at, "dispatcher", "Disable")
    assert at.success[0].value == "Disabled dispatcher."
    assert refused_login("dispatcher")

    at.switch_page(page("users.py")).run()
    manage_user(at, "dispatcher", "Enable")
    assert at.success[0].value == "Enabled dispatcher again."
    at.run()
    rows = at.dataframe[0].value.set_index("Username")
    assert bool(rows.loc["dispatcher", "Active"]) is True
    assert rows.loc["admin", "Open sessions"] == 1  # the administrator's own
    assert not refused_login("dispatcher")
    with get_database(url).read() as session:
        actions = session.scalars(
            select(AuditEvent.action).where(AuditEvent.action.in_(("user.disable", "user.enable")))
        ).all()
    assert actions == ["user.disable", "user.enable"]

    # Enabling an account that is already enabled says so, in words.
    at.switch_page(page("users.py")).run()
    manage_user(at, "dispatcher", "Enable")
    assert "already enabled" in at.error[0].value


def refused_login(username: str) -> bool:
    at = run_app()
    log_in(at, username, PASSWORDS[username])
    return any("Wrong username or password" in e.value for e in at.error)
