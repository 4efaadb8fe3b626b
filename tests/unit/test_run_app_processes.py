"""deploy/run-app-processes.sh refuses what cannot work before starting anything: no ports, or a
database several processes cannot share (SQLite), each with its reason."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "deploy" / "run-app-processes.sh"


def _run(*ports: str, db_url: str | None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "OUTAGE_DB_URL"}
    if db_url is not None:
        env["OUTAGE_DB_URL"] = db_url
    # A python that cannot exist: were anything started, the run would fail differently.
    env["OUTAGE_PYTHON"] = "/nonexistent/python"
    return subprocess.run(["bash", str(SCRIPT), *ports], env=env, capture_output=True, text=True, timeout=30)


def test_without_ports_it_says_how_to_call_it() -> None:
    result = _run(db_url="postgresql://outage@127.0.0.1/outage")

    assert result.returncode == 2
    assert "usage:" in result.stderr and "PORT" in result.stderr


@pytest.mark.parametrize("db_url", [None, "sqlite:///data/runtime/outage-desk.db"])
def test_a_database_that_is_not_postgresql_is_refused_with_the_reason(db_url: str | None) -> None:
    result = _run("8501", "8502", db_url=db_url)

    assert result.returncode == 2
    assert "must name a PostgreSQL database" in result.stderr
    assert "SQLite serves one process" in result.stderr
