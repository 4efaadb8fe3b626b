"""The session cookie's routes and signature: a ticket buys one signed, HttpOnly, SameSite cookie and
a redirect to one of our pages; a forged, altered or foreign-key cookie names nobody; logout clears it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from starlette.applications import Starlette
from starlette.testclient import TestClient

from dashboard import auth_routes
from emergency.app.bus import execute
from emergency.app.commands.admin import CreateUser, SignIn
from emergency.app.queries.admin import staff_session
from emergency.core.actor import PUBLIC, Actor
from emergency.core.clock import SYSTEM_CLOCK
from emergency.core.db import Database
from emergency.core.models import Role
from emergency.core.staff_sessions import SignedIn
from tests.support.app_context import context_of

ADMIN = Actor("root", Role.ADMIN)
PASSWORD = "correct horse battery"


@pytest.fixture
def client(database: Database, monkeypatch: pytest.MonkeyPatch) -> Iterator[TestClient]:
    """The two routes as the server mounts them, on this test's database (at the wall clock the
    routes use)."""
    monkeypatch.setenv("OUTAGE_DB_URL", database.url)
    monkeypatch.delenv("OUTAGE_SECRET_KEY", raising=False)
    auth_routes._database_key.cache_clear()
    execute(context_of(database, SYSTEM_CLOCK, ADMIN), CreateUser("disp", PASSWORD, Role.DISPATCHER))
    with TestClient(Starlette(routes=auth_routes.auth_routes), base_url="http://desk.test") as test_client:
        yield test_client
    auth_routes._database_key.cache_clear()


def signed_in(database: Database) -> SignedIn:
    signed: SignedIn = execute(context_of(database, SYSTEM_CLOCK, PUBLIC), SignIn("disp", PASSWORD))
    return signed


def cookie_header(response: object) -> str:
    (header,) = response.headers.get_list("set-cookie")  # type: ignore[attr-defined]
    return str(header)


def test_a_ticket_sets_a_signed_http_only_cookie_once_and_goes_to_the_page(client, database) -> None:
    signed = signed_in(database)
    answer = client.get(auth_routes.login_redirect(signed.ticket, "dispatch"), follow_redirects=False)

    assert answer.status_code == 303
    assert answer.headers["location"] == "/dispatch?lang=en"
    assert answer.headers["cache-control"] == "no-store"
    header = cookie_header(answer)
    assert header.startswith(f"{auth_routes.COOKIE_NAME}=")
    for attribute in ("HttpOnly", "Path=/", "SameSite=lax"):
        assert attribute in header
    assert "Secure" not in header  # plain http here: a Secure cookie would never come back
    value = answer.cookies[auth_routes.COOKIE_NAME]
    token = auth_routes.token_from_cookie(value)
    assert token is not None
    found = staff_session(context_of(database, SYSTEM_CLOCK, PUBLIC), token=token)
    assert found is not None and found.session_id == signed.session_id

    again = client.get(auth_routes.login_redirect(signed.ticket, "dispatch"), follow_redirects=False)
    assert (again.status_code, again.headers["location"]) == (303, "/login")
    assert "set-cookie" not in again.headers


def test_over_https_the_cookie_is_secure(client, database) -> None:
    signed = signed_in(database)
    answer = client.get(
        auth_routes.login_redirect(signed.ticket, "users"),
        headers={"X-Forwarded-Proto": "https"},
        follow_redirects=False,
    )
    assert "Secure" in cookie_header(answer)


@pytest.mark.parametrize("target", ["//evil.example", "https:evil.example", "DISPATCH", "a/b", ""])
def test_the_route_sends_the_browser_only_to_our_own_pages(client, database, target) -> None:
    answer = client.get(
        f"{auth_routes.SESSION_PATH}?ticket={signed_in(database).ticket}&next={target}",
        follow_redirects=False,
    )
    assert answer.headers["location"] == "/"


def test_the_chosen_language_comes_along_and_nothing_else_does(client, database) -> None:
    ticket = signed_in(database).ticket
    answer = client.get(auth_routes.login_redirect(ticket, "users", "zh"), follow_redirects=False)
    assert answer.headers["location"] == "/users?lang=zh"
    ticket = signed_in(database).ticket
    answer = client.get(
        f"{auth_routes.SESSION_PATH}?ticket={ticket}&next=users&lang=%22%3E%3Cscript%3E",
        follow_redirects=False,
    )
    assert answer.headers["location"] == "/users"
    answer = client.get(auth_routes.logout_redirect("zh"), follow_redirects=False)
    assert answer.headers["location"] == f"/?{auth_routes.SIGNED_OUT_PARAM}=logout&lang=zh"


def test_logout_clears_the_cookie_and_lands_on_the_public_page(client) -> None:
    answer = client.get(auth_routes.LOGOUT_PATH, follow_redirects=False)
    assert answer.status_code == 303
    assert answer.headers["location"] == f"/?{auth_routes.SIGNED_OUT_PARAM}=logout"
    header = cookie_header(answer)
    assert header.startswith(f'{auth_routes.COOKIE_NAME}=""') and "Max-Age=0" in header


def test_a_forged_altered_or_foreign_cookie_names_nobody(client, database, monkeypatch) -> None:
    signed = signed_in(database)
    value = client.get(auth_routes.login_redirect(signed.ticket, "dispatch"), follow_redirects=False).cookies[
        auth_routes.COOKIE_NAME
    ]
    token, _, signature = value.rpartition(".")
    assert auth_routes.token_from_cookie(value) == token

    assert auth_routes.token_from_cookie(token) is None  # unsigned
    altered = f"{token[:-1]}{'A' if token[-1] != 'A' else 'B'}"
    assert auth_routes.token_from_cookie(f"{altered}.{signature}") is None
    assert auth_routes.token_from_cookie(auth_routes.sign(token, "some-other-key")) is None
    assert auth_routes.token_from_cookie("x" * 10_000) is None
    assert auth_routes.token_from_cookie(None) is None
    # OUTAGE_SECRET_KEY, when set, is the key: cookies signed with the database's no longer pass.
    operator_key = "operator-chosen-secret-0123456789"
    monkeypatch.setenv("OUTAGE_SECRET_KEY", operator_key)
    assert auth_routes.token_from_cookie(value) is None
    assert auth_routes.token_from_cookie(auth_routes.sign(token, operator_key)) == token


def test_the_apps_own_fetch_gets_the_cookie_with_no_redirect_and_drops_it_the_same_way(
    client, database
) -> None:
    """What the login and logout scripts fetch: 204 with the cookie set or cleared, the page left alone."""
    signed = signed_in(database)
    answer = client.get(auth_routes.cookie_fetch(signed.ticket), follow_redirects=False)
    assert answer.status_code == 204
    assert "location" not in answer.headers
    assert "HttpOnly" in cookie_header(answer)
    assert auth_routes.token_from_cookie(answer.cookies[auth_routes.COOKIE_NAME]) is not None

    again = client.get(auth_routes.cookie_fetch(signed.ticket), follow_redirects=False)
    assert again.status_code == 403 and "set-cookie" not in again.headers  # a ticket works once

    dropped = client.get(auth_routes.cookie_drop(), follow_redirects=False)
    assert dropped.status_code == 204
    assert 'outage_desk_session=""' in cookie_header(dropped) or "Max-Age=0" in cookie_header(dropped)
