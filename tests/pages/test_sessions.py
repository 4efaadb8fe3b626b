"""Staff sessions through the entry script: idle expiry on a fake clock, logout, uniform login refusals,
and the session in the database: a reload or a second tab (the cookie) keeps the user, a logout or
an administrator's disabling ends it everywhere, a cookie not signed by us names nobody."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select
from streamlit.testing.v1 import AppTest

from dashboard import session as staff_session
from dashboard.auth_routes import LOGOUT_PATH
from emergency.core import auth
from emergency.core.actor import CLI_ADMIN
from emergency.core.clock import SYSTEM_CLOCK, FakeClock
from emergency.core.db import get_database
from emergency.core.models import AuditEvent
from emergency.core.settings import set_setting
from tests.pages.conftest import APP, page
from tests.support.small_territory import PASSWORDS
from tests.support.staff_login import browser_cookie, reopened, signed_in

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
    # Signed out where they were: the console's address now holds the login form, not the console.
    assert at.title[0].value == "Staff login"
    assert "signed out after 30 minutes without activity" in at.warning[0].value
    assert staff_session.ACTOR_KEY not in at.session_state
    with pytest.raises(ValueError, match=NAV_MISSING):
        at.switch_page(page("dispatcher_map.py"))
    assert session_events(url, "dispatcher") == ["user.session_expired"]
    # The message is said once.
    at.run()
    assert not at.warning


def test_signing_in_again_after_the_session_ended_opens_the_page_they_were_on(
    territory_db, session_clock
) -> None:
    at = signed_in("dispatcher", PASSWORDS["dispatcher"])
    at.switch_page(page("mutual_aid.py")).run()  # not the dispatcher's own page, the console
    title = at.title[0].value
    session_clock.advance(minutes=31)
    at.run()
    assert at.title[0].value == "Staff login"
    assert at.info[0].value == "This page is for staff: log in to open it."

    at.text_input[0].input("dispatcher")
    at.text_input[1].input(PASSWORDS["dispatcher"])
    at.button[0].click().run()
    assert not at.exception, at.exception
    assert at.title[0].value == title != "Dispatcher console"


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


# --- the session in the database: reloads, other tabs, other people's changes --------------------


class CookieJar:
    """The browser's cookie as `dashboard.session.browser_cookie` reads it (AppTest has no browser)."""

    def __init__(self) -> None:
        self.value: str | None = None

    def read(self) -> str | None:
        return self.value


@pytest.fixture
def jar(territory_db, monkeypatch: pytest.MonkeyPatch) -> CookieJar:
    cookies = CookieJar()
    monkeypatch.setattr(staff_session, "browser_cookie", cookies.read)
    return cookies


def nav_has(at: AppTest, name: str) -> bool:
    try:
        at.switch_page(page(name))
    except ValueError:
        return False
    return True


def test_a_login_opens_the_console_fetches_its_cookie_and_a_reload_keeps_the_user(jar, session_clock) -> None:
    at = signed_in("dispatcher", PASSWORDS["dispatcher"])
    # The login opens the user's own page at once, and has the browser fetch its cookie there.
    assert at.title[0].value == "Dispatcher console"
    assert "Signed in as dispatcher" in "\n".join(c.value for c in at.sidebar.caption)
    assert any("fetch(" in h.value and "mode=fetch" in h.value for h in at.html)
    jar.value = browser_cookie(at)

    reload = reopened()  # F5: a new browser session, only the cookie to go on
    assert "Signed in as dispatcher" in "\n".join(c.value for c in reload.sidebar.caption)
    reload.switch_page(page("dispatcher_map.py")).run()
    assert reload.title[0].value == "Dispatcher console"
    assert not reload.warning


def test_a_second_tab_with_the_cookie_is_signed_in_and_a_logout_in_one_ends_both(
    territory_db, jar, session_clock
) -> None:
    url, _ = territory_db
    first = signed_in("manager", PASSWORDS["manager"])
    jar.value = browser_cookie(first)
    second = reopened()
    assert nav_has(second, "manager_warnings.py")

    first.switch_page(page("logout.py")).run()
    assert any(LOGOUT_PATH in h.value for h in first.html)  # the browser goes to drop its cookie

    session_clock.advance(seconds=5)
    second.run()
    assert second.title[0].value == "Staff login"  # at the page it was on
    assert second.success[0].value == "You are logged out."
    assert not nav_has(second, "manager_warnings.py")
    assert not nav_has(reopened(), "manager_warnings.py")  # a reload with the old cookie: nobody
    assert session_events(url, "manager") == ["user.logout"]


def test_disabling_the_account_signs_the_user_out_on_their_next_click(jar, session_clock) -> None:
    at = signed_in("dispatcher", PASSWORDS["dispatcher"])
    cookie = browser_cookie(at)
    at.switch_page(page("dispatcher_map.py")).run()
    admin = signed_in("admin", PASSWORDS["admin"])  # another browser: no cookie
    admin.switch_page(page("users.py")).run()
    admin.selectbox(key="manage-user-target").set_value("dispatcher")
    admin.checkbox[0].check()
    next(b for b in admin.button if b.label == "Disable").click().run()
    assert admin.success[0].value == "Disabled dispatcher."

    at.run()
    assert at.title[0].value == "Staff login"  # at the page they were on
    assert "an administrator disabled your account" in at.warning[0].value
    assert staff_session.ACTOR_KEY not in at.session_state
    jar.value = cookie
    assert not nav_has(reopened(), "dispatcher_map.py")


def test_a_password_reset_signs_the_user_out_on_their_next_click_and_says_why(jar, session_clock) -> None:
    at = signed_in("dispatcher", PASSWORDS["dispatcher"])
    cookie = browser_cookie(at)
    at.switch_page(page("dispatcher_map.py")).run()
    admin = signed_in("admin", PASSWORDS["admin"])  # another browser: no cookie
    admin.switch_page(page("users.py")).run()
    admin.selectbox(key="manage-user-target").set_value("dispatcher")
    next(t for t in admin.text_input if t.label == "New password").input("another long passphrase")
    admin.checkbox[0].check()
    next(b for b in admin.button if b.label == "Reset password").click().run()
    assert not admin.error, [e.value for e in admin.error]

    at.run()
    assert at.title[0].value == "Staff login"  # at the page they were on
    assert "an administrator reset your password" in at.warning[0].value
    jar.value = cookie
    assert not nav_has(reopened(), "dispatcher_map.py")


def test_a_cookie_that_is_not_ours_signs_nobody_in(jar, session_clock) -> None:
    at = signed_in("dispatcher", PASSWORDS["dispatcher"])
    token, _, _ = browser_cookie(at).rpartition(".")
    for forged in (token, f"{token}.AAAAAAAAAAAAAAAAAAAAAAAAAAA", "garbage"):
        jar.value = forged
        assert not nav_has(reopened(), "dispatcher_map.py"), forged


def test_a_reload_after_the_idle_limit_signs_out_and_says_why(territory_db, jar, session_clock) -> None:
    url, _ = territory_db
    at = signed_in("dispatcher", PASSWORDS["dispatcher"])
    jar.value = browser_cookie(at)

    session_clock.advance(minutes=31)
    reload = reopened()

    assert reload.title[0].value == "Power status"
    assert "signed out after 30 minutes without activity" in reload.warning[0].value
    assert not nav_has(reload, "dispatcher_map.py")
    assert session_events(url, "dispatcher") == ["user.session_expired"]


def test_the_live_maps_idle_check_is_no_click_but_sees_clicks_in_other_tabs(
    territory_db, jar, session_clock
) -> None:
    """Tab A only watches the map; tab B is clicked. A's timed check must neither end a session B
    keeps alive nor keep it alive itself once B stops."""
    url, _ = territory_db
    watching = signed_in("dispatcher", PASSWORDS["dispatcher"])
    jar.value = browser_cookie(watching)
    clicking = reopened()

    session_clock.advance(minutes=20)
    clicking.switch_page(page("dispatcher_map.py")).run()  # a click in B at minute 20

    session_clock.advance(minutes=11)  # minute 31: A has had no click for 31 minutes
    watching.session_state[staff_session.RECHECK_KEY] = True  # what idle_too_long sets
    watching.run()
    assert nav_has(watching, "dispatcher_map.py")  # B's click counts
    assert session_events(url, "dispatcher") == []

    session_clock.advance(minutes=21)  # minute 52: 32 minutes after B's last click
    watching.session_state[staff_session.RECHECK_KEY] = True
    watching.run()
    assert not nav_has(watching, "dispatcher_map.py")
    assert session_events(url, "dispatcher") == ["user.session_expired"]


def test_the_language_chosen_survives_logging_out_and_a_redirect(jar, session_clock) -> None:
    at = signed_in("dispatcher", PASSWORDS["dispatcher"])
    at.sidebar.button_group(key="lang").set_value("zh").run()
    at.switch_page(page("logout.py")).run()
    # The logout drops the cookie by a fetch and stays on this browser session: still Chinese.
    assert any("fetch(" in h.value and LOGOUT_PATH in h.value for h in at.html)
    assert at.title[0].value == "供电状态"

    chinese = AppTest.from_file(APP, default_timeout=30)
    chinese.query_params["lang"] = "zh"  # where the login and logout redirects land
    chinese.run()
    assert chinese.title[0].value == "供电状态"
    assert "lang" not in chinese.query_params  # taken, not left in the address


def test_a_reload_keeps_the_language_the_user_chose(jar, session_clock) -> None:
    at = signed_in("dispatcher", PASSWORDS["dispatcher"])
    jar.value = browser_cookie(at)
    at.switch_page(page("dispatcher_map.py")).run()
    at.sidebar.button_group(key="lang").set_value("zh").run()
    assert at.title[0].value == "调度指挥台"

    reload = reopened()  # the language lived only in the old browser session
    reload.switch_page(page("dispatcher_map.py")).run()
    assert reload.title[0].value == "调度指挥台"
    assert "已登录" in "\n".join(c.value for c in reload.sidebar.caption)
