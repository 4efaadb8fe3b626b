"""`python -m emergency notify run`: one round by hand, through the sender the settings name."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import make_url

from emergency import cli
from emergency.core.actor import Actor
from emergency.core.clock import FakeClock
from emergency.core.db import Database
from emergency.core.settings import set_setting
from tests.support.commands import submit_reports
from tests.support.dispatch_actions import confirm_outage
from tests.support.small_territory import build_small_territory
from tests.unit.test_notify_senders import Gateway

DISPATCHER = Actor("dispatcher", "dispatcher")


def test_notify_run_queues_and_sends_through_the_configured_webhook(
    sqlite_database: Database, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = FakeClock(datetime.now(UTC))  # the command runs on the system clock
    territory = build_small_territory(sqlite_database, clock)
    calls = [
        {"channel": "hotline", "kind": "no_power", "account_no": account}
        for account in territory.account_by_transformer["TX-5"]
    ]
    outage_id = submit_reports(sqlite_database, clock, Actor("hotline", "intake"), calls).analysis.predicted[
        0
    ]
    confirm_outage(sqlite_database, clock, DISPATCHER, outage_id)
    monkeypatch.setenv("OUTAGE_NOTIFY_WEBHOOK_TOKEN", "gateway-secret")

    with Gateway([503]) as gateway:
        with sqlite_database.write() as session:
            set_setting(session, "notify.webhook_url", gateway.url, clock)
        assert cli.main(["--db", sqlite_database.url, "notify", "run", "--json"]) == 0
        again = cli.main(["--db", sqlite_database.url, "notify", "run"])

    first, second = capsys.readouterr().out.splitlines()
    result = json.loads(first)
    assert result["queued"]["queued"] == {"acknowledged": 2}
    assert result["delivered"] == {"sent": 2, "failed": 0, "attempts": 3}
    assert len(gateway.requests) == 3
    assert {r["headers"]["Authorization"] for r in gateway.requests} == {"Bearer gateway-secret"}
    assert again == 0 and "queued 0 (nothing new)" in second and "0 sent" in second


def test_without_a_webhook_messages_go_to_the_outbox_file_beside_the_sqlite_database(
    sqlite_database: Database, capsys: pytest.CaptureFixture[str]
) -> None:
    clock = FakeClock(datetime.now(UTC))
    territory = build_small_territory(sqlite_database, clock)
    calls = [
        {"channel": "hotline", "kind": "no_power", "account_no": account}
        for account in territory.account_by_transformer["TX-5"]
    ]
    outage_id = submit_reports(sqlite_database, clock, Actor("hotline", "intake"), calls).analysis.predicted[
        0
    ]
    confirm_outage(sqlite_database, clock, DISPATCHER, outage_id)

    assert cli.main(["--db", sqlite_database.url, "notify", "run"]) == 0

    assert "delivered: 2 sent" in capsys.readouterr().out
    outbox = Path(make_url(sqlite_database.url).database).parent / "outbox" / "outbox.jsonl"
    lines = [json.loads(line) for line in outbox.read_text(encoding="utf-8").splitlines()]
    assert [line["template"] for line in lines] == ["outage_acknowledged"] * 2
