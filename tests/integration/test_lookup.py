"""Check my outage on SQLite and PostgreSQL: right and wrong pairs, the status words and ETR, the limit."""

from __future__ import annotations

import threading
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from emergency.core import ratelimit
from emergency.core.actor import Actor
from emergency.core.errors import InvalidInput
from emergency.core.models import Crew, Customer, Outage, RateLimitHit
from emergency.core.ratelimit import RateLimited, Requester
from emergency.core.settings import set_setting
from tests.support.app_calls import check_my_outage
from tests.support.commands import submit_reports
from tests.support.dispatch_actions import dispatch_crew, mark_on_site, restore_outage, set_etr
from tests.support.small_territory import build_small_territory

HOTLINE = Actor("hotline-gateway", "intake")
DISPATCHER = Actor("dispatcher", "dispatcher")


@pytest.fixture
def territory(database, clock):
    return build_small_territory(database, clock)


def phone_last4(database, account: str) -> str:
    with database.read() as session:
        phone = session.scalar(select(Customer.phone).where(Customer.account_no == account))
    return phone[-4:]


def calls(territory, transformer: str, count: int) -> list[dict[str, Any]]:
    return [
        {"channel": "hotline", "kind": "no_power", "account_no": account}
        for account in territory.account_by_transformer[transformer][:count]
    ]


def outage_id(database) -> int:
    with database.read() as session:
        return session.scalars(select(Outage.id).order_by(Outage.id.desc())).first()


def ask(database, clock, account: str, last4: str, who: str = "s1", address: str | None = "10.0.0.1"):
    return check_my_outage(database, clock, Requester(who, address), account, last4)


def test_no_outage_for_a_matched_customer(database, clock, territory):
    account = territory.account_by_transformer["TX-4"][0]
    answer = ask(database, clock, account, phone_last4(database, account))
    assert answer.matched
    assert answer.status.status == "no_outage"


def test_wrong_digits_and_unknown_account_get_the_same_neutral_answer(database, clock, territory):
    account = territory.account_by_transformer["TX-1"][0]
    right = phone_last4(database, account)
    wrong = f"{(int(right) + 1) % 10000:04d}"
    assert ask(database, clock, account, wrong) == ask(database, clock, "99999999", right)
    assert not ask(database, clock, account, wrong).matched
    # Another customer's digits do not open this account either.
    other = territory.account_by_transformer["TX-1"][1]
    assert not ask(database, clock, account, phone_last4(database, other)).matched


def test_a_customer_without_a_phone_on_file_never_matches(database, clock, territory):
    account = territory.account_by_transformer["TX-2"][0]
    with database.write() as session:
        session.scalars(select(Customer).where(Customer.account_no == account)).one().phone = None
    assert not ask(database, clock, account, "0000").matched


@pytest.mark.parametrize(
    ("account", "last4", "field"),
    [
        ("", "1234", "account_no"),
        ("12", "1234", "account_no"),
        ("9000000001", "12a4", "phone_last4"),
        ("9000000001", "", "phone_last4"),
        ("<script>", "1234", "account_no"),
    ],
)
def test_malformed_fields_are_refused_before_any_lookup(database, clock, territory, account, last4, field):
    with pytest.raises(InvalidInput) as refused:
        ask(database, clock, account, last4)
    assert refused.value.field == field
    with database.read() as session:
        assert session.scalar(select(RateLimitHit.id)) is None  # nothing was counted


def test_status_follows_the_outage_through_its_life_with_the_etr(database, clock, territory):
    account = territory.account_by_transformer["TX-1"][0]
    last4 = phone_last4(database, account)
    submit_reports(database, clock, HOTLINE, calls(territory, "TX-1", 1))
    status = ask(database, clock, account, last4).status
    # One call on a transformer of three customers predicts nothing yet: the report is waiting.
    assert (status.status, status.since) == ("reported", clock.now())

    clock.advance(minutes=2)
    submit_reports(database, clock, HOTLINE, calls(territory, "TX-1", 2)[1:])
    status = ask(database, clock, account, last4).status
    assert status.status == "reported" and status.etr_at is None and not status.etr_reassessing

    oid = outage_id(database)
    with database.read() as session:
        crew = session.get(Crew, territory.crew_ids["C1"])
    dispatch_crew(database, clock, DISPATCHER, oid, crew.id, crew_version=crew.version)
    etr = clock.now() + timedelta(hours=2)
    set_etr(database, clock, DISPATCHER, oid, etr, "high", "dispatcher")
    status = ask(database, clock, account, last4).status
    assert status.status == "crew_assigned"
    assert (status.etr_at, status.etr_confidence, status.etr_set_at) == (etr, "high", clock.now())

    # Past its ETR the outage is still out: the old time is never shown as valid.
    clock.advance(hours=2, minutes=1)
    status = ask(database, clock, account, last4).status
    assert status.etr_at is None and status.etr_confidence is None and status.etr_reassessing

    restore_outage(database, clock, DISPATCHER, oid)
    status = ask(database, clock, account, last4).status
    assert (status.status, status.restored_at) == ("restored", clock.now())
    # A customer on another transformer was never affected.
    other = territory.account_by_transformer["TX-4"][0]
    assert ask(database, clock, other, phone_last4(database, other)).status.status == "no_outage"

    clock.advance(hours=13)  # past public.lookup_restored_hours
    assert ask(database, clock, account, last4).status.status == "no_outage"


def test_an_outage_above_the_transformer_covers_its_customers(database, clock, territory):
    # Two calls under TX-1 and two under TX-2 predict both, which roll up to fuse FU-1 above them.
    submit_reports(database, clock, HOTLINE, calls(territory, "TX-1", 2) + calls(territory, "TX-2", 2))
    with database.read() as session:
        fuse_outage = session.scalars(
            select(Outage).where(Outage.device_id == territory.device_ids["FU-1"])
        ).one()
    assert fuse_outage.customers_affected == 7
    account = territory.account_by_transformer["TX-2"][3]  # did not call
    assert ask(database, clock, account, phone_last4(database, account)).status.status == "reported"


def test_lookups_are_limited_per_session_and_per_address(database, clock, territory):
    with database.write() as session:
        set_setting(session, "public.lookup_per_hour", 3, clock)
        set_setting(session, "public.address_limit_factor", 2, clock)
    account = territory.account_by_transformer["TX-4"][0]
    right = phone_last4(database, account)
    for _ in range(3):
        ask(database, clock, account, "0000", who="a")
    # Over the session's limit even the right pair is refused: a refusal tells nothing.
    with pytest.raises(RateLimited) as limited:
        ask(database, clock, account, right, who="a")
    assert limited.value.retry_after == timedelta(hours=1)
    # A new session from the same address gets the rest of the address's 6.
    for _ in range(3):
        ask(database, clock, account, "0000", who="b")
    with pytest.raises(RateLimited):
        ask(database, clock, account, right, who="c")
    # From another address a fresh session is served.
    assert ask(database, clock, account, right, who="d", address="10.0.0.2").matched

    clock.advance(minutes=30)
    with pytest.raises(RateLimited) as limited:
        ask(database, clock, account, right, who="a")
    assert limited.value.retry_after == timedelta(minutes=30)
    clock.advance(minutes=30, seconds=1)  # the window slides past the first attempts
    assert ask(database, clock, account, right, who="a").matched
    with database.read() as session:
        keys = list(session.scalars(select(RateLimitHit.key)))
    assert not any("10.0.0" in key for key in keys)  # addresses are stored only as digests


def test_attempts_at_once_from_many_threads_never_pass_the_limit(database, clock, territory):
    with database.write() as session:
        set_setting(session, "public.lookup_per_hour", 5, clock)
    requester = Requester("one-session", "10.9.9.9")
    outcomes: list[str] = []
    lock = threading.Lock()
    start = threading.Barrier(12)

    def one_attempt() -> None:
        start.wait()
        try:
            ratelimit.attempt(database, clock, "lookup", requester)
            result = "allowed"
        except RateLimited:
            result = "refused"
        with lock:
            outcomes.append(result)

    threads = [threading.Thread(target=one_attempt) for _ in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(outcomes) == ["allowed"] * 5 + ["refused"] * 7


def test_crew_on_site_is_since_the_crews_arrival_not_the_outage_start(database, clock, territory):
    """Issue #16, point 3: "Crew on site (since 18:09)" gave the outage's first report."""
    account = territory.account_by_transformer["TX-1"][0]
    last4 = phone_last4(database, account)
    began = clock.now()
    submit_reports(database, clock, HOTLINE, calls(territory, "TX-1", 2))
    oid = outage_id(database)
    clock.advance(minutes=6)
    with database.read() as session:
        crew = session.get(Crew, territory.crew_ids["C1"])
    assignment = dispatch_crew(database, clock, DISPATCHER, oid, crew.id, crew_version=crew.version)
    dispatched = clock.now()
    status = ask(database, clock, account, last4).status
    assert (status.status, status.since, status.out_since) == ("crew_assigned", dispatched, began)

    clock.advance(minutes=19)
    mark_on_site(database, clock, DISPATCHER, assignment.id)
    arrived = clock.now()
    clock.advance(minutes=40)
    status = ask(database, clock, account, last4).status
    assert (status.status, status.since, status.out_since) == ("crew_on_site", arrived, began)
