"""The intake API's rate limit per token, on SQLite and PostgreSQL: 429 with Retry-After past
`intake.rate_per_minute`, nothing of a refused request stored, no accepted report lost."""

from __future__ import annotations

import threading
import uuid
from typing import Any

import pytest
from sqlalchemy import func, select

from emergency.core import ratelimit
from emergency.core.models import Report
from emergency.core.settings import set_setting
from tests.support.intake_api import IntakeApi, intake_api
from tests.support.small_territory import build_small_territory

LIMIT = 3


@pytest.fixture
def api(database, clock, monkeypatch):
    territory = build_small_territory(database, clock)
    with database.write() as session:
        set_setting(session, "intake.rate_per_minute", LIMIT, clock)
    with intake_api(database, clock, monkeypatch, ("gateway", "meters")) as api:
        api.accounts = [a for accounts in territory.account_by_transformer.values() for a in accounts]
        yield api


def batch(api: IntakeApi, size: int = 2) -> list[dict[str, Any]]:
    return [
        {
            "channel": "hotline",
            "kind": "no_power",
            "external_id": f"RL-{uuid.uuid4().hex[:12]}",
            "account_no": api.accounts[n % len(api.accounts)],
        }
        for n in range(size)
    ]


def stored_ids(api: IntakeApi, external_ids: list[str]) -> list[tuple[str, int]]:
    with api.db.read() as session:
        rows = session.execute(
            select(Report.external_id, Report.id).where(Report.external_id.in_(external_ids))
        ).all()
    return sorted((str(e), int(i)) for e, i in rows)


def test_past_the_limit_is_429_storing_nothing_and_every_accepted_report_is_kept_once(api, clock):
    batches = [batch(api) for _ in range(LIMIT + 2)]
    answers = []
    for reports in batches:
        answers.append(api.post(reports))
        clock.advance(seconds=5)

    assert [a.status_code for a in answers] == [201] * LIMIT + [429, 429]
    # The first request was counted at 0 s and the last refused at 20 s: room again at 60 s.
    assert answers[-1].headers["retry-after"] == "40"
    assert "nothing was stored" in answers[-1].json()["error"]
    answered = sorted(
        (report["external_id"], accepted["id"])
        for reports, answer in zip(batches[:LIMIT], answers, strict=False)
        for report, accepted in zip(reports, answer.json()["accepted"], strict=True)
    )
    refused = [r["external_id"] for reports in batches[LIMIT:] for r in reports]
    assert stored_ids(api, [e for e, _ in answered] + refused) == answered
    assert api.report_count() == 2 * LIMIT

    clock.advance(seconds=40)
    retried = [api.post(reports) for reports in batches[LIMIT:]]

    assert [r.status_code for r in retried] == [201, 201]
    assert len(stored_ids(api, refused)) == len(refused)
    assert api.report_count() == 2 * (LIMIT + 2)


def test_forwarded_for_headers_do_not_reset_the_count_but_another_token_has_its_own(api):
    for n in range(LIMIT):
        assert api.post(batch(api, 1), headers={"X-Forwarded-For": f"198.51.100.{n}"}).status_code == 201

    spoofed = api.post(batch(api, 1), headers={"X-Forwarded-For": "192.0.2.99", "X-Real-IP": "192.0.2.98"})
    other_token = api.post(batch(api, 1), token="meters")

    assert spoofed.status_code == 429
    assert other_token.status_code == 201


def test_a_bad_token_is_401_and_never_counted_against_the_real_one(api):
    api.tokens["forged"] = "odk_" + "x" * 43
    for _ in range(LIMIT + 2):
        assert api.post(batch(api, 1), token="forged").status_code == 401
    assert api.post(batch(api, 1)).status_code == 201


def test_concurrent_requests_get_exactly_the_limit(database, clock):
    with database.write() as session:
        set_setting(session, "intake.rate_per_minute", LIMIT, clock)
    outcomes: list[str] = []
    start = threading.Barrier(8)

    def one() -> None:
        start.wait()
        try:
            ratelimit.intake_attempt(database, clock, "token:gateway")
            outcomes.append("allowed")
        except ratelimit.RateLimited:
            outcomes.append("limited")

    threads = [threading.Thread(target=one) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(outcomes) == ["allowed"] * LIMIT + ["limited"] * (8 - LIMIT)


def test_intake_counts_age_out_by_the_minute_without_clearing_the_public_forms_hour(database, clock):
    with database.write() as session:
        set_setting(session, "public.lookup_per_hour", 1, clock)
    someone = ratelimit.Requester("session-1", "10.9.9.9")
    ratelimit.attempt(database, clock, "lookup", someone)
    clock.advance(minutes=2)

    ratelimit.intake_attempt(database, clock, "token:gateway")  # deletes intake hits older than a minute

    with pytest.raises(ratelimit.RateLimited):
        ratelimit.attempt(database, clock, "lookup", someone)
    with database.read() as session:
        assert session.scalar(select(func.count()).select_from(ratelimit.RateLimitHit)) == 3
