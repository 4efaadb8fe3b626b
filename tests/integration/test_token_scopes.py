"""API tokens keep to their scope, stop at a revoke, and are stored only as hashes: through the services
and through `POST /api/reports` itself (in-process, on SQLite and PostgreSQL)."""

from __future__ import annotations

import hashlib

import pytest
from sqlalchemy import select, text

from emergency.core.actor import CLI_ADMIN
from emergency.core.clock import FakeClock
from emergency.core.db import Database
from emergency.core.errors import PermissionDenied
from emergency.core.models import ApiToken, Crew, TokenScope
from emergency.core.tokens import authenticate_token, create_token, revoke_token
from tests.support.commands import submit_reports
from tests.support.dispatch_actions import update_crew_position
from tests.support.intake_api import intake_api
from tests.support.small_territory import SmallTerritory, build_small_territory


@pytest.fixture
def territory(database: Database, clock: FakeClock) -> SmallTerritory:
    return build_small_territory(database, clock)


def new_token(db: Database, clock: FakeClock, name: str, scope: str) -> str:
    with db.write() as session:
        return create_token(session, clock, CLI_ADMIN, name, scope)


def report(territory: SmallTerritory, n: int) -> dict[str, str]:
    return {
        "channel": "app",
        "kind": "no_power",
        "external_id": f"scope-{n}",
        "account_no": territory.account_by_transformer["TX-4"][n],
    }


def test_each_scope_acts_only_within_it(
    database: Database, clock: FakeClock, territory: SmallTerritory
) -> None:
    intake = new_token(database, clock, "gateway", "intake")
    crew = new_token(database, clock, "crew-tablets", "crew_position")
    crew_id = territory.crew_ids["C1"]

    assert authenticate_token(database, clock, intake, TokenScope.CREW_POSITION) is None
    assert authenticate_token(database, clock, crew, TokenScope.INTAKE) is None
    intake_actor = authenticate_token(database, clock, intake, TokenScope.INTAKE)
    crew_actor = authenticate_token(database, clock, crew, TokenScope.CREW_POSITION)
    assert intake_actor is not None and crew_actor is not None

    update_crew_position(database, clock, crew_actor, crew_id, 121.04, 28.05)
    with pytest.raises(PermissionDenied):
        submit_reports(database, clock, crew_actor, [report(territory, 0)])
    with pytest.raises(PermissionDenied):
        update_crew_position(database, clock, intake_actor, crew_id, 121.2, 28.2)
    with database.read() as session:
        assert session.get(Crew, crew_id).lon == pytest.approx(121.04)
    assert len(submit_reports(database, clock, intake_actor, [report(territory, 0)]).accepted) == 1


def test_the_route_takes_only_a_live_intake_token(
    database: Database, clock: FakeClock, territory: SmallTerritory, monkeypatch: pytest.MonkeyPatch
) -> None:
    with intake_api(database, clock, monkeypatch, ("gateway", "spare")) as api:
        api.tokens["crew"] = new_token(database, clock, "crew-tablets", "crew_position")

        assert api.post(report(territory, 0)).status_code == 201
        assert api.post(report(territory, 1), token="spare").status_code == 201
        assert api.post(report(territory, 2), token="crew").status_code == 401

        with database.write() as session:
            revoke_token(session, clock, CLI_ADMIN, "spare")
        refused = api.post(report(territory, 3), token="spare")
        assert refused.status_code == 401
        assert api.report_count() == 2
        # The other token goes on working.
        assert api.post(report(territory, 4)).status_code == 201


def test_only_the_hash_of_a_token_is_anywhere_in_the_database(database: Database, clock: FakeClock) -> None:
    secret = new_token(database, clock, "gateway", "intake")
    with database.write() as session:
        revoke_token(session, clock, CLI_ADMIN, "gateway")

    with database.read() as session:
        stored = session.scalars(select(ApiToken)).one()
        assert stored.token_hash == hashlib.sha256(secret.encode()).hexdigest()
        every_text = [
            str(row)
            for table in ("api_tokens", "audit_events", "settings")
            for row in session.execute(text(f"SELECT * FROM {table}"))
        ]
    assert every_text and not any(secret in row or secret[4:] in row for row in every_text)
