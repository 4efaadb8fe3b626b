"""A crew leader's one-time link over HTTP: a look does not use it up; the button signs the leader in
as a `crew` user of that crew with the staff session cookie and goes to /crew; a used, expired or unknown
link says so in both languages and sets nothing."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import select
from starlette.applications import Starlette
from starlette.testclient import TestClient

from dashboard import auth_routes, crew_link_route
from emergency.app.bus import execute
from emergency.app.commands.mutual_aid import CreateCrewLink
from emergency.app.queries.admin import staff_session
from emergency.core.actor import Actor
from emergency.core.clock import SYSTEM_CLOCK
from emergency.core.db import Database
from emergency.core.field_models import CrewLink
from emergency.core.models import Crew, CrewKind, CrewStatus, User
from emergency.dispatch.crew_links import LinkCheck, LinkState
from tests.support.app_context import context_of
from tests.support.small_territory import build_small_territory

ALICE = Actor("alice", "dispatcher")


@pytest.fixture
def client(database: Database, monkeypatch: pytest.MonkeyPatch) -> Iterator[TestClient]:
    monkeypatch.setenv("OUTAGE_DB_URL", database.url)
    monkeypatch.delenv("OUTAGE_SECRET_KEY", raising=False)
    auth_routes._database_key.cache_clear()
    app = Starlette(routes=crew_link_route.crew_link_routes)
    with TestClient(app, base_url="http://desk.test") as test_client:
        yield test_client
    auth_routes._database_key.cache_clear()


@pytest.fixture
def crew_id(database: Database) -> int:
    build_small_territory(database, SYSTEM_CLOCK)
    with database.write() as session:
        crew = Crew(
            code="QY-07",
            name="青屿供电公司 · 王海涛",
            kind=CrewKind.LINE,
            size=5,
            lon=121.03,
            lat=28.05,
            status=CrewStatus.AVAILABLE,
            company="青屿供电公司",
            leader_name="王海涛<b>",
            staging_site="D1",
        )
        session.add(crew)
        session.flush()
        return crew.id


def new_link(database: Database, crew_id: int) -> str:
    link = execute(context_of(database, SYSTEM_CLOCK, ALICE), CreateCrewLink(crew_id))
    assert link.path.startswith("/crew/link/")
    return str(link.path)


def test_looking_at_a_link_does_not_use_it_and_the_button_signs_the_leader_in(
    client: TestClient, database: Database, crew_id: int
) -> None:
    path = new_link(database, crew_id)

    look = client.get(path)
    assert look.status_code == 200 and look.headers["cache-control"] == "no-store"
    assert look.headers["referrer-policy"] == "no-referrer"
    assert "QY-07" in look.text and "王海涛&lt;b&gt;" in look.text, "named, and escaped"
    assert "works once" in look.text and "只能使用一次" in look.text
    assert client.get(path).status_code == 200, "a preview fetch uses nothing"

    answer = client.post(path, follow_redirects=False)

    assert answer.status_code == 303 and answer.headers["location"] == "/crew"
    (header,) = answer.headers.get_list("set-cookie")
    assert header.startswith(f"{auth_routes.COOKIE_NAME}=") and "HttpOnly" in header
    token = auth_routes.unsign(client.cookies[auth_routes.COOKIE_NAME], auth_routes.signing_key())
    assert token is not None
    view = staff_session(context_of(database, SYSTEM_CLOCK, Actor("browser", "public")), token=token)
    assert view is not None and view.actor.role == "crew" and view.ended_at is None
    with database.read() as session:
        user = session.scalar(select(User).where(User.username == view.actor.username))
        assert user is not None and user.crew_id == crew_id
        link = session.scalar(select(CrewLink).where(CrewLink.crew_id == crew_id))
        assert link is not None and link.used_at is not None and link.user_id == user.id


def test_a_used_or_unknown_link_says_so_in_both_languages_and_sets_nothing(
    client: TestClient, database: Database, crew_id: int
) -> None:
    path = new_link(database, crew_id)
    assert client.post(path, follow_redirects=False).status_code == 303
    client.cookies.clear()

    for answer in (client.get(path), client.post(path, follow_redirects=False)):
        assert answer.status_code == 410
        assert "already been used" in answer.text and "此链接已使用过" in answer.text
        assert not answer.headers.get_list("set-cookie")
    unknown = client.get("/crew/link/not-a-link")
    assert unknown.status_code == 404 and "not valid" in unknown.text and "此链接无效" in unknown.text


def test_an_expired_link_is_refused(client: TestClient, database: Database, crew_id: int) -> None:
    path = new_link(database, crew_id)
    with database.write() as session:
        link = session.scalar(select(CrewLink).where(CrewLink.crew_id == crew_id))
        assert link is not None
        link.expires_at = SYSTEM_CLOCK.now()
    answer = client.post(path, follow_redirects=False)
    assert answer.status_code == 410 and "expired" in answer.text and "已过期" in answer.text
    assert not answer.headers.get_list("set-cookie")


def test_a_crew_without_a_leaders_name_is_named_by_its_code() -> None:
    page = crew_link_route.invitation_page(LinkCheck(LinkState.VALID, "C-PORT-01", None)).body.decode()
    assert "crew <b>C-PORT-01</b> to see" in page and "()" not in page and "（）" not in page
