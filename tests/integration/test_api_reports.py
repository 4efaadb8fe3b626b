"""`POST /api/reports` through the real server, on SQLite and on PostgreSQL.

The server runs as an operator starts it (`streamlit run dashboard/server.py`) in a subprocess, on a
database prepared with the small territory of tests/support/small_territory.py and a few tokens.
One server per database for the whole module; each test uses its own accounts and external ids so
the tests do not depend on each other's reports.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.engine import make_url

from emergency.app.bootstrap import prepare_schema
from emergency.core.actor import CLI_ADMIN
from emergency.core.clock import SYSTEM_CLOCK
from emergency.core.db import Database
from emergency.core.models import ApiToken, Report
from emergency.core.tokens import create_token, revoke_token
from tests.conftest import need_postgres
from tests.support.small_territory import SmallTerritory, build_small_territory

ROOT = Path(__file__).resolve().parents[2]
STARTUP_SECONDS = 60
MIB = 1024 * 1024


@dataclass
class Server:
    base_url: str
    db: Database
    territory: SmallTerritory
    tokens: dict[str, str]

    def post(self, body: Any = None, *, token: str | None = "intake", **kwargs: Any) -> httpx.Response:
        headers = dict(kwargs.pop("headers", {}))
        if token is not None:
            headers["Authorization"] = f"Bearer {self.tokens.get(token, token)}"
        if body is not None:
            kwargs["json"] = body
        return httpx.post(f"{self.base_url}/api/reports", headers=headers, timeout=30, **kwargs)

    def account(self, transformer: str, n: int = 0) -> str:
        return self.territory.account_by_transformer[transformer][n]

    def report_count(self) -> int:
        with self.db.read() as session:
            return session.scalar(select(func.count()).select_from(Report)) or 0


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _log_tail(log: Path) -> str:
    return log.read_text(encoding="utf-8", errors="replace")[-5000:] if log.exists() else ""


def _wait_until_healthy(base_url: str, server: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        if server.poll() is not None:
            pytest.fail(f"the server exited with {server.returncode}:\n{_log_tail(log)}")
        try:
            if httpx.get(f"{base_url}/healthz", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    pytest.fail(f"the server was not healthy within {STARTUP_SECONDS}s:\n{_log_tail(log)}")


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def database_for_server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path_factory.mktemp('api') / 'api.db'}"
        return
    admin_url = need_postgres()
    name = f"outage_api_{uuid.uuid4().hex[:12]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(scope="module")
def server(database_for_server: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    db = Database(database_for_server)
    prepare_schema(db, SYSTEM_CLOCK)
    territory = build_small_territory(db, SYSTEM_CLOCK)
    with db.write() as session:
        tokens = {
            "intake": create_token(session, SYSTEM_CLOCK, CLI_ADMIN, "gateway", "intake"),
            "crew": create_token(session, SYSTEM_CLOCK, CLI_ADMIN, "crew-tablets", "crew_position"),
            "revoked": create_token(session, SYSTEM_CLOCK, CLI_ADMIN, "old-gateway", "intake"),
        }
        revoke_token(session, SYSTEM_CLOCK, CLI_ADMIN, "old-gateway")

    port = _free_port()
    log = tmp_path_factory.mktemp("api-server") / "server.log"
    env = {**os.environ, "OUTAGE_DB_URL": database_for_server, "PYTHONUNBUFFERED": "1"}
    command = [sys.executable, "-m", "streamlit", "run", "dashboard/server.py"]
    command += ["--server.port", str(port), "--server.headless", "true", "--server.address", "127.0.0.1"]
    with log.open("wb") as log_file:
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log_file, stderr=subprocess.STDOUT)
    base_url = f"http://127.0.0.1:{port}"
    try:
        _wait_until_healthy(base_url, process, log)
        yield Server(base_url, db, territory, tokens)
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=15)
        db.dispose()


def call(server: Server, transformer: str, n: int = 0, **fields: Any) -> dict[str, Any]:
    return {
        "channel": "hotline",
        "external_id": f"T-{uuid.uuid4().hex[:12]}",
        "kind": "no_power",
        "account_no": server.account(transformer, n),
        **fields,
    }


def test_one_report_is_stored_and_answered_201_with_its_id(server: Server) -> None:
    report = call(server, "TX-4", 0, description="停电了 no power since the storm")

    response = server.post(report)

    assert response.status_code == 201, response.text
    body = response.json()
    assert set(body) == {"accepted", "outages"}
    [accepted] = body["accepted"]
    assert accepted["index"] == 0 and accepted["duplicate"] is False
    with server.db.read() as session:
        stored = session.get(Report, accepted["id"])
        assert stored is not None
        assert (stored.external_id, stored.description) == (report["external_id"], report["description"])


def test_a_list_is_stored_and_analysed_in_one_request(server: Server) -> None:
    reports = [call(server, "TX-1", 0), call(server, "TX-1", 1, channel="app")]

    response = server.post(reports)

    assert response.status_code == 201, response.text
    body = response.json()
    assert [a["index"] for a in body["accepted"]] == [0, 1]
    assert len({a["id"] for a in body["accepted"]}) == 2
    assert len(body["outages"]["predicted"]) == 1, "two customers of TX-1 calling predict it out"


def test_a_retry_is_answered_with_the_first_id(server: Server) -> None:
    report = call(server, "TX-4", 1)
    first = server.post(report)
    count = server.report_count()

    again = server.post(report)

    assert (first.status_code, again.status_code) == (201, 201)
    assert again.json()["accepted"] == [
        {"index": 0, "id": first.json()["accepted"][0]["id"], "duplicate": True}
    ]
    assert server.report_count() == count


@pytest.mark.parametrize(
    "authorization",
    [None, "Basic Z2F0ZXdheTpwYXNz", "Bearer", "Bearer odk_not-a-real-token", "revoked", "crew"],
)
def test_no_valid_intake_token_is_401_and_says_nothing_more(
    server: Server, authorization: str | None
) -> None:
    count = server.report_count()
    report = call(server, "TX-4", 2)
    if authorization in ("revoked", "crew"):
        response = server.post(report, token=authorization)
    else:
        headers = {"Authorization": authorization} if authorization else {}
        response = server.post(report, token=None, headers=headers)

    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert response.json() == {"error": "a valid bearer token is required"}
    assert server.report_count() == count


def test_a_bad_item_is_422_with_its_index_and_field_and_the_good_one_is_stored(server: Server) -> None:
    good = call(server, "TX-5", 0)
    bad = call(server, "TX-5", 1, account_no="0000000000", kind="no_light")

    response = server.post([good, bad])

    assert response.status_code == 422, response.text
    body = response.json()
    assert [(e["index"], e["field"]) for e in body["errors"]] == [(1, "kind")]
    assert "unknown kind 'no_light'" in body["errors"][0]["reason"]
    assert [(a["index"], a["duplicate"]) for a in body["accepted"]] == [(0, False)]
    with server.db.read() as session:
        stored = session.scalars(
            select(Report.external_id).where(
                Report.external_id.in_([good["external_id"], bad["external_id"]])
            )
        ).all()
    assert stored == [good["external_id"]]


def test_text_no_database_can_store_is_refused_item_by_item(server: Server) -> None:
    good = call(server, "TX-5", 0)
    broken = json.dumps(call(server, "TX-5", 1, description="@")).replace("@", "\\ud800")

    response = server.post(content=f"[{broken}, {json.dumps(good)}]".encode())

    assert response.status_code == 422, response.text
    body = response.json()
    assert [(e["index"], e["field"]) for e in body["errors"]] == [(0, "report")]
    assert "surrogate" in body["errors"][0]["reason"]
    assert [a["index"] for a in body["accepted"]] == [1]


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b'{"channel": "hotline", "kind": ', "not valid JSON"),
        (b"", "the body is empty"),
        (b"[]", "the list is empty"),
        (b'"no power"', "not a str"),
        (b"42", "not a int"),
        (b'{"lon": NaN}', "NaN is not a JSON number"),
        (b"[" * 100_000 + b"]" * 100_000, "nested too deeply"),
        (b'{"description": "caf\xe9"}', "not UTF-8"),
    ],
)
def test_a_body_that_is_not_reports_is_422_with_a_clear_message(
    server: Server, content: bytes, reason: str
) -> None:
    count = server.report_count()

    response = server.post(content=content, headers={"Content-Type": "application/json"})

    assert response.status_code == 422, response.text
    [error] = response.json()["errors"]
    assert (error["index"], error["field"]) == (-1, "body")
    assert reason in error["reason"]
    assert server.report_count() == count


def test_more_than_5000_reports_in_one_request_are_refused(server: Server) -> None:
    response = server.post([{"channel": "hotline", "kind": "no_power"}] * 5001)

    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "reports"


def test_an_oversized_body_is_413_whether_or_not_its_length_is_declared(server: Server) -> None:
    count = server.report_count()
    padding = b" " * (5 * MIB)

    declared = server.post(content=b"[" + padding + b"]")

    def chunks() -> Iterator[bytes]:
        yield b"["
        for _ in range(6):
            yield b" " * MIB
        yield b"]"

    streamed = server.post(content=chunks())

    assert declared.status_code == 413
    assert streamed.status_code == 413
    assert "5 MiB" in streamed.json()["error"]
    assert server.report_count() == count


def test_other_methods_are_405_not_the_pages(server: Server) -> None:
    response = httpx.get(f"{server.base_url}/api/reports", timeout=10)

    assert response.status_code == 405
    assert response.headers["allow"] == "POST"


def test_the_token_notes_when_it_was_last_used(server: Server) -> None:
    server.post(call(server, "TX-5", 1))

    with server.db.read() as session:
        used = session.scalar(select(ApiToken.last_used_at).where(ApiToken.name == "gateway"))
        unused = session.scalar(select(ApiToken.last_used_at).where(ApiToken.name == "crew-tablets"))
    assert used is not None and unused is None
