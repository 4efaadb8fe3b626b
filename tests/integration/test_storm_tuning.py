"""Process and connection settings that intake relies on at storm rates, as the server gets them."""

from __future__ import annotations

import gc

from emergency.db import SQLITE_CACHE_KIB, SQLITE_WAL_CHECKPOINT_PAGES, Database
from emergency.network import network_model
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
