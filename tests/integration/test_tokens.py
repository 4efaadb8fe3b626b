"""API tokens on SQLite and PostgreSQL: stored hashed, checked by scope, revocable, admin-only."""

from __future__ import annotations

import dataclasses
import hashlib
import json

import pytest
from sqlalchemy import func, select

from emergency import cli
from emergency.app.bus import execute
from emergency.app.commands.admin import CreateToken, RevokeToken
from emergency.app.queries import admin as admin_queries
from emergency.core import tokens
from emergency.core.actor import Actor
from emergency.core.clock import FakeClock
from emergency.core.db import Database
from emergency.core.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from emergency.core.models import ApiToken, AuditEvent, Role, TokenScope
from tests.support.app_context import context_of

ADMIN = Actor("root", Role.ADMIN)


def add(db: Database, clock: FakeClock, name: str = "callcentre", scope: str = "intake") -> str:
    token: str = execute(context_of(db, clock, ADMIN), CreateToken(name, scope))
    return token


def verify(db: Database, clock: FakeClock, presented: str | None, scope: TokenScope = TokenScope.INTAKE):
    with db.write() as session:
        return tokens.verify_token(session, clock, presented, scope)


def row(db: Database, name: str = "callcentre") -> ApiToken:
    with db.read() as session:
        token = session.scalar(select(ApiToken).where(ApiToken.name == name))
        assert token is not None
        return token


def test_only_the_hash_is_stored_and_the_token_is_shown_once(database: Database, clock: FakeClock) -> None:
    token = add(database, clock)

    assert token.startswith("odk_") and len(token) >= 40
    stored = row(database)
    assert stored.token_hash == hashlib.sha256(token.encode()).hexdigest()
    with database.read() as session:
        columns = [c.name for c in ApiToken.__table__.columns]
        values = session.execute(select(*ApiToken.__table__.columns)).one()
        events = session.scalars(select(AuditEvent).where(AuditEvent.entity == "api_token")).all()
    assert all(token not in str(value) for value in values), dict(zip(columns, values, strict=True))
    assert [(e.action, e.actor, e.after) for e in events] == [
        ("token.create", "root", {"name": "callcentre", "scope": "intake"})
    ]
    assert token not in json.dumps([e.after for e in events])
    assert "token_hash" not in {f.name for f in dataclasses.fields(tokens.TokenInfo)}


def test_two_tokens_are_different(database: Database, clock: FakeClock) -> None:
    assert add(database, clock, "a") != add(database, clock, "b")


def test_a_token_verifies_as_an_intake_or_crew_position_actor(database: Database, clock: FakeClock) -> None:
    intake = add(database, clock, "callcentre", "intake")
    crew = add(database, clock, "crew-tablets", "crew_position")

    assert verify(database, clock, intake) == Actor("token:callcentre", "intake")
    assert verify(database, clock, crew, TokenScope.CREW_POSITION) == Actor(
        "token:crew-tablets", "crew_position"
    )


def test_a_token_of_another_scope_is_refused(database: Database, clock: FakeClock) -> None:
    crew = add(database, clock, "crew-tablets", "crew_position")
    intake = add(database, clock, "callcentre", "intake")

    assert verify(database, clock, crew, TokenScope.INTAKE) is None
    assert verify(database, clock, intake, TokenScope.CREW_POSITION) is None


def test_unknown_and_malformed_tokens_are_refused(database: Database, clock: FakeClock) -> None:
    token = add(database, clock)
    for presented in (None, "", "odk_", "odk_not-a-token", "not-even-the-prefix", token + "x", token[:-1]):
        assert verify(database, clock, presented) is None, presented
    assert verify(database, clock, "odk_" + "x" * 500) is None


def test_a_revoked_token_is_refused_and_stays_listed(database: Database, clock: FakeClock) -> None:
    token = add(database, clock)
    execute(context_of(database, clock, ADMIN), RevokeToken("callcentre"))

    assert verify(database, clock, token) is None
    assert tokens.authenticate_token(database, clock, token, TokenScope.INTAKE) is None
    listed = admin_queries.api_tokens(context_of(database, clock, ADMIN))
    with database.read() as session:
        actions = session.scalars(select(AuditEvent.action).where(AuditEvent.entity == "api_token")).all()
    assert [(t.name, t.active, t.revoked_at) for t in listed] == [("callcentre", False, clock.now())]
    assert actions == ["token.create", "token.revoke"]


def test_revoking_twice_or_an_unknown_token_is_refused(database: Database, clock: FakeClock) -> None:
    add(database, clock)
    execute(context_of(database, clock, ADMIN), RevokeToken("callcentre"))
    with pytest.raises(Conflict, match="already revoked"):
        execute(context_of(database, clock, ADMIN), RevokeToken("callcentre"))
    with pytest.raises(NotFound):
        execute(context_of(database, clock, ADMIN), RevokeToken("nobody"))


def test_use_is_noted_at_most_once_a_minute(database: Database, clock: FakeClock) -> None:
    token = add(database, clock)
    assert row(database).last_used_at is None

    first_use = clock.now()
    verify(database, clock, token)
    assert row(database).last_used_at == first_use

    clock.advance(seconds=59)
    verify(database, clock, token)
    tokens.authenticate_token(database, clock, token, TokenScope.INTAKE)
    assert row(database).last_used_at == first_use, "no write within the minute"

    clock.advance(seconds=1)
    assert tokens.authenticate_token(database, clock, token, TokenScope.INTAKE) == Actor(
        "token:callcentre", "intake"
    )
    assert row(database).last_used_at == clock.now()


def test_only_an_admin_may_manage_tokens(database: Database, clock: FakeClock) -> None:
    add(database, clock)
    for role in (Role.DISPATCHER, Role.MANAGER, "intake", "public"):
        someone = Actor("someone", role)
        with pytest.raises(PermissionDenied):
            execute(context_of(database, clock, someone), CreateToken("sneaky", "intake"))
        with pytest.raises(PermissionDenied):
            admin_queries.api_tokens(context_of(database, clock, someone))
        with pytest.raises(PermissionDenied):
            execute(context_of(database, clock, someone), RevokeToken("callcentre"))

    with database.read() as session:
        assert session.scalar(select(func.count()).select_from(ApiToken)) == 1
        assert row(database).revoked_at is None


def test_names_are_unique_and_checked(database: Database, clock: FakeClock) -> None:
    add(database, clock)
    with pytest.raises(Conflict):
        execute(context_of(database, clock, ADMIN), CreateToken("callcentre", "intake"))
    for bad in ("", "has space", "-leading-dash", "x" * 49, "名字"):
        with pytest.raises(InvalidInput) as refused:
            execute(context_of(database, clock, ADMIN), CreateToken(bad, "intake"))
        assert refused.value.field == "name"
    with pytest.raises(InvalidInput) as refused:
        execute(context_of(database, clock, ADMIN), CreateToken("other", "everything"))
    assert refused.value.field == "scope"


def test_the_cli_prints_a_token_once_lists_without_it_and_revokes(
    sqlite_database: Database, capsys: pytest.CaptureFixture[str]
) -> None:
    url = sqlite_database.url

    assert cli.main(["--db", url, "tokens", "add", "meters", "--scope", "intake"]) == 0
    added = capsys.readouterr()
    token = added.out.strip()
    assert token.startswith("odk_") and "\n" not in token
    assert "cannot be shown again" in added.err

    assert cli.main(["--db", url, "tokens", "list", "--json"]) == 0
    listed = capsys.readouterr().out
    assert token not in listed
    assert [(t["name"], t["scope"], t["active"]) for t in json.loads(listed)] == [("meters", "intake", True)]

    assert cli.main(["--db", url, "tokens", "revoke", "meters"]) == 0
    assert cli.main(["--db", url, "tokens", "list"]) == 0
    assert "revoked" in capsys.readouterr().out
    assert cli.main(["--db", url, "tokens", "revoke", "meters"]) == 2
    assert "already revoked" in capsys.readouterr().err
