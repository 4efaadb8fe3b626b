"""`POST /api/crews/positions` in this process: the real route on a test database and clock.

Trackers with a `crew_position` token (good and bad items, a wrong token, a token of another
scope), a crew leader's phone with the staff session cookie (their own crew only; other staff and
forms from other sites are refused), and the rate limit.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import select
from starlette.applications import Starlette
from starlette.testclient import TestClient

from dashboard.auth_routes import COOKIE_NAME, sign, signing_key
from dashboard.crew_positions_api import PATH, crew_positions_route_on
from emergency.core.actor import CLI_ADMIN, Actor
from emergency.core.db import forget_database
from emergency.core.field_models import CrewPosition
from emergency.core.models import Crew, User
from emergency.core.settings import set_setting
from emergency.core.staff_sessions import open_session, redeem_ticket
from emergency.core.tokens import create_token
from tests.support.small_territory import build_small_territory


@pytest.fixture
def api(database, clock, monkeypatch) -> Iterator[tuple[TestClient, dict[str, Any]]]:
    monkeypatch.setenv("OUTAGE_DB_URL", database.url)
    monkeypatch.setenv("OUTAGE_SECRET_KEY", "test-secret-key-for-crew-positions")
    territory = build_small_territory(database, clock)
    with database.write() as session:
        now = clock.now()
        for username, role, crew in (
            ("lead1", "crew", territory.crew_ids["C1"]),
            ("disp", "dispatcher", None),
        ):
            session.add(
                User(
                    username=username,
                    display_name=username,
                    role=role,
                    password_hash="-",
                    created_at=now,
                    password_changed_at=now,
                    crew_id=crew,
                )
            )
        session.flush()
        known = {
            "tracker": create_token(session, clock, CLI_ADMIN, "vehicle-trackers", "crew_position"),
            "intake": create_token(session, clock, CLI_ADMIN, "call-centre", "intake"),
            "codes": {code: session.get(Crew, cid).code for code, cid in territory.crew_ids.items()},  # type: ignore[union-attr]
            "crew_ids": territory.crew_ids,
        }
        for username, role in (("lead1", "crew"), ("disp", "dispatcher")):
            ticket = open_session(session, clock, Actor(username, role)).ticket
            token = redeem_ticket(session, clock, ticket)
            assert token is not None
            known[f"cookie:{username}"] = sign(token, signing_key())
    app = Starlette(routes=[crew_positions_route_on(clock)])
    try:
        with TestClient(app, client=("203.0.113.7", 50000)) as client:
            yield client, known
    finally:
        forget_database(database.url)


def fix(clock, crew: str | None = None, **changes: Any) -> dict[str, Any]:
    item: dict[str, Any] = {"lon": 121.05, "lat": 28.05, "at": clock.now().isoformat(), "accuracy_m": 12}
    if crew is not None:
        item["crew"] = crew
    return {**item, **changes}


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_a_trackers_positions_are_accepted(api, clock, database):
    client, known = api
    c1, c2 = known["codes"]["C1"], known["codes"]["C2"]
    answer = client.post(
        PATH, json=[fix(clock, c1), fix(clock, c2, lon=121.07)], headers=bearer(known["tracker"])
    )
    assert answer.status_code == 201, answer.text
    assert [a["index"] for a in answer.json()["accepted"]] == [0, 1]
    with database.read() as session:
        rows = session.scalars(select(CrewPosition).order_by(CrewPosition.id)).all()
        assert [(r.crew_id, r.lon, r.source) for r in rows] == [
            (known["crew_ids"]["C1"], 121.05, "tracker"),
            (known["crew_ids"]["C2"], 121.07, "tracker"),
        ]


def test_bad_items_are_refused_one_by_one_and_the_good_ones_stored(api, clock, database):
    client, known = api
    c1 = known["codes"]["C1"]
    body = [
        fix(clock, c1),
        fix(clock, c1, lat=95),
        fix(clock, "NOPE"),
        fix(clock, c1, at="2020-01-01T00:00:00Z"),
    ]
    answer = client.post(PATH, json=body, headers=bearer(known["tracker"]))
    assert answer.status_code == 422
    data = answer.json()
    assert [a["index"] for a in data["accepted"]] == [0]
    assert [(e["index"], e["field"]) for e in data["errors"]] == [(1, "lat"), (2, "crew"), (3, "at")]
    with database.read() as session:
        assert len(session.scalars(select(CrewPosition)).all()) == 1


@pytest.mark.parametrize(
    "headers",
    [{}, bearer("not-a-token"), {"Authorization": "Basic abc"}],
    ids=["none", "unknown token", "not bearer"],
)
def test_without_a_valid_token_nothing_is_stored(api, clock, database, headers):
    client, known = api
    answer = client.post(PATH, json=[fix(clock, known["codes"]["C1"])], headers=headers)
    assert answer.status_code == 401 and answer.headers["WWW-Authenticate"] == "Bearer"
    with database.read() as session:
        assert session.scalars(select(CrewPosition)).all() == []


def test_a_token_of_another_scope_is_refused(api, clock):
    client, known = api
    answer = client.post(PATH, json=[fix(clock, known["codes"]["C1"])], headers=bearer(known["intake"]))
    assert answer.status_code == 401


def test_a_crew_leaders_phone_posts_for_their_own_crew_with_the_session_cookie(api, clock, database):
    client, known = api
    client.cookies.set(COOKIE_NAME, known["cookie:lead1"])
    answer = client.post(PATH, json=[fix(clock), fix(clock, known["codes"]["C2"])])
    assert answer.status_code == 422
    assert [a["crew_id"] for a in answer.json()["accepted"]] == [known["crew_ids"]["C1"]]
    assert "own crew" in answer.json()["errors"][0]["reason"]
    with database.read() as session:
        assert [r.source for r in session.scalars(select(CrewPosition))] == ["phone"]
    # A form from another site cannot send JSON without the browser asking first.
    form = client.post(PATH, data={"lon": "121.05", "lat": "28.05"})
    assert form.status_code == 422 and form.json()["errors"][0]["field"] == "content-type"


def test_another_staff_members_cookie_or_a_forged_one_is_refused(api, clock):
    client, known = api
    client.cookies.set(COOKIE_NAME, known["cookie:disp"])
    assert client.post(PATH, json=[fix(clock, known["codes"]["C1"])]).status_code == 401
    client.cookies.set(COOKIE_NAME, known["cookie:lead1"] + "x")
    assert client.post(PATH, json=[fix(clock)]).status_code == 401


def test_a_token_past_its_rate_is_told_to_wait_and_nothing_is_stored(api, clock, database):
    client, known = api
    with database.write() as session:
        set_setting(session, "intake.rate_per_minute", 2, clock)
    for step in range(2):  # two different fixes (the same one twice would be stored once)
        moved = fix(clock, known["codes"]["C1"], lon=121.05 + step / 1000)
        assert client.post(PATH, json=[moved], headers=bearer(known["tracker"])).status_code == 201
    answer = client.post(PATH, json=[fix(clock, known["codes"]["C1"])], headers=bearer(known["tracker"]))
    assert answer.status_code == 429 and int(answer.headers["Retry-After"]) >= 1
    with database.read() as session:
        assert len(session.scalars(select(CrewPosition)).all()) == 2


def test_a_body_that_is_not_positions_is_refused(api):
    client, known = api
    for body in (b"", b"[]", b"{", b"42"):
        answer = client.post(
            PATH, content=body, headers={**bearer(known["tracker"]), "Content-Type": "application/json"}
        )
        assert answer.status_code == 422 and answer.json()["errors"][0]["index"] == -1
    assert client.get(PATH, headers=bearer(known["tracker"])).status_code == 405
