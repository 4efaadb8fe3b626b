"""`POST /api/reports` in this process: the real route and services on a test database and clock.

Quicker than starting the server (tests/integration/test_api_reports.py does that once per
database), and the clock is the test's own, so a rate window can pass without waiting for it.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select
from starlette.applications import Starlette
from starlette.testclient import TestClient

from dashboard.api import reports_route_on
from emergency.core.actor import CLI_ADMIN
from emergency.core.clock import Clock
from emergency.core.db import Database, forget_database
from emergency.core.models import Report
from emergency.core.tokens import create_token


@dataclass
class IntakeApi:
    client: TestClient
    db: Database
    tokens: dict[str, str]

    def post(
        self,
        body: Any = None,
        *,
        token: str = "gateway",
        headers: dict[str, str] | None = None,
        **kwargs: Any,
    ) -> httpx.Response:
        sent = {"Authorization": f"Bearer {self.tokens[token]}", **(headers or {})}
        if body is not None:
            kwargs["json"] = body
        return self.client.post("/api/reports", headers=sent, **kwargs)

    def report_count(self) -> int:
        with self.db.read() as session:
            return session.scalar(select(func.count()).select_from(Report)) or 0


@contextmanager
def intake_api(
    db: Database, clock: Clock, monkeypatch: pytest.MonkeyPatch, token_names: tuple[str, ...] = ("gateway",)
) -> Iterator[IntakeApi]:
    """The route on `db` and `clock`, with an intake token per name (the first is the default)."""
    monkeypatch.setenv("OUTAGE_DB_URL", db.url)
    with db.write() as session:
        tokens = {name: create_token(session, clock, CLI_ADMIN, name, "intake") for name in token_names}
    app = Starlette(routes=[reports_route_on(clock)])
    try:
        with TestClient(app, client=("203.0.113.7", 50000)) as client:
            yield IntakeApi(client, db, tokens)
    finally:
        forget_database(db.url)  # the route's own engine on this database
