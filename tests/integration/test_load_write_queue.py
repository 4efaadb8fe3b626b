"""SQLite writers of one process take turns in arrival order (`emergency.core.db.SqliteWriteQueue`), so a
storm's intake threads cannot starve a dispatcher's write past SQLite's busy timeout."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from sqlalchemy.exc import OperationalError

from emergency.core.db import SqliteWriteQueue


def wait_until(condition: Callable[[], bool], timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.001)


def queued(queue: SqliteWriteQueue) -> int:
    """Tickets handed out so far (a waiting writer has one)."""
    return queue._next_ticket


def test_writers_get_their_turn_in_the_order_they_came() -> None:
    queue = SqliteWriteQueue()
    order: list[int] = []

    def writer(n: int) -> None:
        with queue.turn():
            order.append(n)

    with queue.turn():
        threads = []
        for n in range(8):
            threads.append(threading.Thread(target=writer, args=(n,)))
            threads[-1].start()
            wait_until(lambda n=n: queued(queue) == n + 2)  # each waits before the next comes
        assert order == [], "nobody writes while another holds the turn"
    for thread in threads:
        thread.join(timeout=10)

    assert order == list(range(8))


def test_a_nested_write_in_the_same_thread_does_not_wait_for_itself() -> None:
    queue = SqliteWriteQueue(timeout_s=1)

    with queue.turn(), queue.turn():
        pass
    with queue.turn():  # the outer turn was given back
        pass


def test_a_writer_that_gives_up_is_skipped_and_reports_the_database_as_locked() -> None:
    queue = SqliteWriteQueue(timeout_s=0.2)
    errors: list[Exception] = []
    later: list[str] = []

    def impatient() -> None:
        try:
            with queue.turn():
                pass
        except OperationalError as error:
            errors.append(error)

    def patient() -> None:
        with queue.turn():
            later.append("wrote")

    with queue.turn():
        giving_up = threading.Thread(target=impatient)
        giving_up.start()
        giving_up.join(timeout=10)
        queue._timeout_s = 10
        waiting = threading.Thread(target=patient)
        waiting.start()
        wait_until(lambda: queued(queue) == 3)
    waiting.join(timeout=10)

    assert [str(e.orig) for e in errors] == ["database is locked"]
    assert later == ["wrote"], "the next writer's turn came although the one before it left the queue"
