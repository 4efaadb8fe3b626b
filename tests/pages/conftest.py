"""Page tests run the real entry script with AppTest against a small territory in SQLite."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import streamlit as st

from emergency.app.bootstrap import prepare_schema
from emergency.core.db import Database, forget_database
from tests.support.small_territory import SmallTerritory, build_small_territory

REPO = Path(__file__).resolve().parents[2]
APP = str(REPO / "dashboard" / "app.py")


def page(name: str) -> str:
    """Absolute path of a page script, as AppTest.switch_page wants it."""
    return str(REPO / "pages" / name)


@pytest.fixture
def territory_db(tmp_path, clock, monkeypatch) -> Iterator[tuple[str, SmallTerritory]]:
    url = f"sqlite:///{tmp_path / 'pages.db'}"
    db = Database(url)
    prepare_schema(db, clock)
    built = build_small_territory(db, clock)
    db.dispose()
    monkeypatch.setenv("OUTAGE_DB_URL", url)
    monkeypatch.setenv("OUTAGE_LANG", "en")
    st.cache_data.clear()
    yield url, built
    st.cache_data.clear()
    forget_database(url)
