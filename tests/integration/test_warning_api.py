"""The CAP routes and the `warnings import` command, on SQLite and PostgreSQL.

The routes run in a Starlette app of their own (the real server mounts the same list), against a
database whose warnings are issued at the real time, since the routes read the system clock.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from datetime import timedelta

import pytest
from starlette.applications import Starlette
from starlette.testclient import TestClient

from dashboard.warnings_api import warning_routes
from emergency.app.bus import execute
from emergency.app.commands.warnings import CancelWarning, CreateWarning, IssueWarning
from emergency.cli import main
from emergency.core.actor import Actor
from emergency.core.clock import FakeClock, SystemClock
from emergency.core.db import forget_database
from emergency.core.models import Warning as WarningRow
from emergency.warnings.area import DistrictsArea
from emergency.warnings.cap import NS
from emergency.warnings.lifecycle import WarningInput
from tests.integration.test_warning_cap import OFFICIAL
from tests.support.app_context import context_of
from tests.support.small_territory import build_small_territory

MANAGER = Actor("meng", "manager")
ATOM = "{http://www.w3.org/2005/Atom}"
Q = f"{{{NS}}}"


@pytest.fixture
def now_clock() -> FakeClock:
    return FakeClock(SystemClock().now() - timedelta(minutes=5))


@pytest.fixture
def client(database, now_clock, monkeypatch):
    build_small_territory(database, now_clock)
    monkeypatch.setenv("OUTAGE_DB_URL", database.url)
    with TestClient(Starlette(routes=warning_routes)) as test_client:
        yield test_client
    forget_database(database.url)


def warning(database, clock, title: str, issue: bool = True) -> int:
    data = WarningInput(
        "typhoon",
        "red",
        1,
        title,
        "台风",
        "",
        "",
        DistrictsArea(("W",)),
        clock.now(),
        clock.now() + timedelta(hours=6),
    )
    warning_id = execute(context_of(database, clock, MANAGER), CreateWarning(data))
    if issue:
        execute(context_of(database, clock, MANAGER), IssueWarning(warning_id, 1))
    return warning_id


def test_the_feed_lists_warnings_in_force_only(database, now_clock, client):
    active = warning(database, now_clock, "Active one")
    warning(database, now_clock, "Only a draft", issue=False)
    gone = warning(database, now_clock, "Cancelled one")
    with database.read() as session:
        seen = session.get(WarningRow, gone).version
    execute(context_of(database, now_clock, MANAGER), CancelWarning(gone, seen, "passed"))

    response = client.get("/api/warnings.cap.xml")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/atom+xml")
    entries = ET.fromstring(response.content).findall(f"{ATOM}entry")
    assert [e.findtext(f"{ATOM}content/{Q}alert/{Q}info/{Q}headline") for e in entries] == ["Active one"]
    assert entries[0].find(f"{ATOM}link").get("href") == f"/api/warnings/{active}.cap.xml"


def test_one_warning_is_its_current_cap_message(database, now_clock, client):
    active = warning(database, now_clock, "Active one")
    draft = warning(database, now_clock, "Only a draft", issue=False)

    response = client.get(f"/api/warnings/{active}.cap.xml")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/cap+xml")
    alert = ET.fromstring(response.content)
    assert alert.tag == f"{Q}alert" and alert.findtext(f"{Q}msgType") == "Alert"
    # A draft is not public: it answers like an unknown id.
    assert client.get(f"/api/warnings/{draft}.cap.xml").status_code == 404
    assert client.get("/api/warnings/99999.cap.xml").status_code == 404
    # An id no database integer can hold is simply not there, not a server error.
    assert client.get(f"/api/warnings/{2**64}.cap.xml").status_code == 404


def test_cli_imports_an_official_warning_into_a_draft(database, now_clock, client, tmp_path, capsys):
    path = tmp_path / "typhoon.xml"
    # The command line runs on the wall clock, and an expired alert is refused: the warning is moved to now.
    now = now_clock.now()
    path.write_bytes(
        OFFICIAL.replace(b"2026-07-01T10:00:00+08:00", now.isoformat().encode()).replace(
            b"2026-07-02T10:00:00+08:00", (now + timedelta(days=1)).isoformat().encode()
        )
    )
    assert main(["--db", database.url, "warnings", "import", str(path), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert (summary["status"], summary["hazard"], summary["level"], summary["districts"]) == (
        "draft",
        "typhoon",
        "red",
        ["E"],
    )
    # Importing it again is refused, with the reason, and exit code 2.
    assert main(["--db", database.url, "warnings", "import", str(path)]) == 2
    assert "already imported as warning" in capsys.readouterr().err


def test_cli_refuses_a_missing_file(database, client, tmp_path, capsys):
    assert main(["--db", database.url, "warnings", "import", str(tmp_path / "nope.xml")]) == 2
    assert "cannot read" in capsys.readouterr().err
