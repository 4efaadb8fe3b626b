"""Leases (emergency.core.leases): one holder at a time, take-over once expired, no race between processes."""

from __future__ import annotations

import threading
from datetime import timedelta

from sqlalchemy import select

from emergency.core.clock import FakeClock
from emergency.core.db import Database
from emergency.core.leases import (
    Lease,
    LoopTiming,
    acquire_or_renew,
    lease_states,
    loop_timing,
    release,
    run_if_held,
)
from emergency.core.settings import set_setting

TTL = timedelta(seconds=90)


def _row(db: Database, name: str) -> Lease:
    with db.read() as session:
        return session.scalars(select(Lease).where(Lease.name == name)).one()


def test_one_holder_at_a_time_renewal_keeps_the_tenure_and_an_expired_lease_moves(
    database: Database, clock: FakeClock
) -> None:
    assert acquire_or_renew(database, clock, "sla-monitor", "host-a:1:aa", TTL)
    taken_at = clock.now()
    assert not acquire_or_renew(database, clock, "sla-monitor", "host-b:2:bb", TTL), "held by a"

    clock.advance(seconds=30)
    assert acquire_or_renew(database, clock, "sla-monitor", "host-a:1:aa", TTL), "a renews its own"
    row = _row(database, "sla-monitor")
    assert (row.holder, row.acquired_at, row.renewed_at) == ("host-a:1:aa", taken_at, clock.now())
    assert (row.expires_at, row.version) == (clock.now() + TTL, 2)

    clock.advance(seconds=89)
    assert not acquire_or_renew(database, clock, "sla-monitor", "host-b:2:bb", TTL), "a second left"
    clock.advance(seconds=1)  # exactly at expiry: a's renewal is now late
    assert acquire_or_renew(database, clock, "sla-monitor", "host-b:2:bb", TTL)
    row = _row(database, "sla-monitor")
    assert (row.holder, row.acquired_at, row.version) == ("host-b:2:bb", clock.now(), 3)
    assert not acquire_or_renew(database, clock, "sla-monitor", "host-a:1:aa", TTL), "a lost it"

    # Leases are independent of one another.
    assert acquire_or_renew(database, clock, "notifications", "host-a:1:aa", TTL)
    states = {s.name: (s.holder, s.held) for s in lease_states(database, clock)}
    assert states == {"notifications": ("host-a:1:aa", True), "sla-monitor": ("host-b:2:bb", True)}


def test_release_lets_another_take_over_at_once_and_only_the_holder_releases(
    database: Database, clock: FakeClock
) -> None:
    assert acquire_or_renew(database, clock, "cap-feeds", "a", TTL)
    assert not release(database, clock, "cap-feeds", "b"), "b does not hold it"
    assert not acquire_or_renew(database, clock, "cap-feeds", "b", TTL)
    assert release(database, clock, "cap-feeds", "a")
    assert [(s.holder, s.held) for s in lease_states(database, clock)] == [("a", False)]
    assert acquire_or_renew(database, clock, "cap-feeds", "b", TTL)
    assert not release(database, clock, "cap-feeds", "a")


def test_the_loop_runs_in_one_process_and_moves_within_one_ttl_when_its_holder_dies(
    database: Database, clock: FakeClock
) -> None:
    """Two processes' loops, each running a round every 30 s; process a dies after its third round."""
    rounds: list[tuple[str, int]] = []

    def round_of(process: str) -> None:
        rounds.append((process, int((clock.now() - start).total_seconds())))

    start = clock.now()
    for _ in range(3):
        for process in ("a", "b"):
            run_if_held(database, clock, "warning-expiry", process, TTL, lambda p=process: round_of(p))
        clock.advance(seconds=30)
    assert rounds == [("a", 0), ("a", 30), ("a", 60)], "b never ran a round while a held the lease"

    died_at = 60  # a's last renewal; from now only b's loop goes on
    while clock.now() - start <= timedelta(seconds=died_at) + TTL + timedelta(seconds=30):
        run_if_held(database, clock, "warning-expiry", "b", TTL, lambda: round_of("b"))
        clock.advance(seconds=30)
    taken = next(at for process, at in rounds if process == "b")
    assert taken == died_at + 90, "b took over as soon as a's lease (90 s) expired, not before"
    assert [p for p, _ in rounds].count("b") >= 2, "and kept it"


def _race(databases: list[Database], holders: list[str], clock: FakeClock, name: str) -> list[str]:
    """Every holder asks for `name` at the same moment, on its own connection; who won."""
    barrier = threading.Barrier(len(holders))
    won: list[str] = []
    lock = threading.Lock()

    def ask(db: Database, holder: str) -> None:
        barrier.wait()
        if acquire_or_renew(db, clock, name, holder, TTL):
            with lock:
                won.append(holder)

    threads = [threading.Thread(target=ask, args=pair) for pair in zip(databases, holders, strict=True)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return won


def test_two_processes_asking_at_once_never_both_win(postgres_url: str, clock: FakeClock) -> None:
    """On PostgreSQL, with a connection per thread, 8 holders race for new and for expired leases.

    Each race is started together (a barrier); exactly one holder may win each."""
    setup = Database(postgres_url)
    setup.migrate()
    setup.dispose()
    holders = [f"holder-{n}" for n in range(8)]
    databases = [Database(postgres_url) for _ in holders]
    try:
        for race in range(20):
            name = f"race-{race % 5}"  # rounds 5+ race for a lease that exists and has expired
            clock.advance(seconds=120)
            won = _race(databases, holders, clock, name)
            assert len(won) == 1, f"race {race}: {won} all think they hold {name}"
            assert _row(databases[0], name).holder == won[0]
    finally:
        for db in databases:
            db.dispose()


def test_loop_timing_comes_from_the_settings_and_a_lease_outlives_two_rounds(
    sqlite_database: Database, clock: FakeClock
) -> None:
    assert loop_timing(sqlite_database) == LoopTiming(30.0, timedelta(seconds=90))
    with sqlite_database.write() as session:
        set_setting(session, "server.loop_seconds", 20, clock)
        set_setting(session, "server.lease_seconds", 25, clock)
    # 25 s would lapse between two renewals 20 s apart if one round ran long: two rounds instead.
    assert loop_timing(sqlite_database) == LoopTiming(20.0, timedelta(seconds=40))
