"""Process and connection settings that intake relies on at storm rates, as the server gets them."""

from __future__ import annotations

import gc
import time

from sqlalchemy import text

from emergency.core.db import SQLITE_CACHE_KIB, SQLITE_WAL_CHECKPOINT_PAGES, Database, checkpointer_of
from emergency.network.model import network_model
from tests.support.small_territory import build_small_territory


def test_sqlite_connections_get_the_larger_page_cache_and_wal(sqlite_database: Database) -> None:
    with sqlite_database.engine.connect() as connection:
        cache_size = connection.exec_driver_sql("PRAGMA cache_size").scalar()
        checkpoint_pages = connection.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar()

    assert cache_size == -SQLITE_CACHE_KIB  # negative: KiB, not pages
    assert checkpoint_pages == SQLITE_WAL_CHECKPOINT_PAGES


def test_building_the_network_model_moves_what_lives_on_out_of_the_collectors_sight(
    sqlite_database: Database, clock
) -> None:
    build_small_territory(sqlite_database, clock)
    gc.unfreeze()  # earlier tests may have built models in this process
    with sqlite_database.read() as session:
        model = network_model(session, sqlite_database.url)

    assert gc.get_freeze_count() > 0
    assert not any(tracked is model for tracked in gc.get_objects())  # frozen objects are not listed


def test_sqlite_writes_are_checkpointed_by_a_thread_of_their_own(sqlite_database: Database) -> None:
    checkpointer = checkpointer_of(sqlite_database.engine)
    assert checkpointer is not None
    with sqlite_database.write() as session:
        session.execute(text("UPDATE settings SET description = description || ''"))

    deadline = time.monotonic() + 10
    while checkpointer.checkpoints == 0 and time.monotonic() < deadline:
        time.sleep(0.05)
    with sqlite_database.engine.connect() as connection:
        # A PASSIVE checkpoint now finds every frame of the WAL already in the database file.
        busy, wal_frames, checkpointed = connection.exec_driver_sql("PRAGMA wal_checkpoint(PASSIVE)").one()

    assert checkpointer.checkpoints >= 1
    assert (busy, checkpointed) == (0, wal_frames)
    sqlite_database.dispose()
    assert not checkpointer.running


def test_postgresql_and_memory_engines_have_no_checkpointer(database: Database) -> None:
    memory = Database("sqlite://")
    try:
        assert checkpointer_of(memory.engine) is None
    finally:
        memory.dispose()
    if database.dialect == "postgresql":
        assert checkpointer_of(database.engine) is None
