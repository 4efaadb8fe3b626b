"""Browser test harness: the real server on a demo database, and Debian's Chromium driven by Playwright.

The server runs as `streamlit run dashboard/server.py` in a subprocess, as an operator would start
it, on a free port and a temporary SQLite database. The browser fixtures (`browser`, `page`,
`external_requests`) live in tests/support/browser.py and are registered once in tests/conftest.py,
so every folder shares one Chromium: Playwright's sync API cannot start a second one while the
first is open.

Without Chromium or Playwright these tests skip on a developer's machine and fail in CI (CI=true).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest

if TYPE_CHECKING:
    pass

ROOT = Path(__file__).resolve().parents[2]
STARTUP_SECONDS = 120
INIT_SECONDS = 300
LOG_TAIL_CHARS = 20_000
SERVER_LOG = pytest.StashKey[Path]()
STORM_SERVER_LOG = pytest.StashKey[Path]()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def read_log(path: Path) -> str:
    text = path.read_text(encoding="utf-8", errors="replace") if path.exists() else ""
    return text[-LOG_TAIL_CHARS:]


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    """Attach the server's log to the report of a failed test that used the server."""
    report = yield
    for fixture, key in (("app_server", SERVER_LOG), ("storm_server", STORM_SERVER_LOG)):
        log = item.config.stash.get(key, None)
        if report.failed and log is not None and fixture in getattr(item, "fixturenames", ()):
            report.sections.append((f"outage desk server log of {fixture} (tail)", read_log(log)))
    return report


def wait_until_healthy(base_url: str, server: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + STARTUP_SECONDS
    last_problem = "no answer yet"
    while time.monotonic() < deadline:
        if server.poll() is not None:
            pytest.fail(f"the server exited with {server.returncode} while starting:\n{read_log(log)}")
        try:
            answer = httpx.get(f"{base_url}/healthz", timeout=2)
            if answer.status_code == 200:
                return
            last_problem = f"/healthz answered {answer.status_code}: {answer.text[:200]}"
        except httpx.TransportError as error:
            last_problem = f"{type(error).__name__}: {error}"
        time.sleep(0.25)
    pytest.fail(f"the server was not healthy within {STARTUP_SECONDS}s ({last_problem}):\n{read_log(log)}")


def stop(server: subprocess.Popen[bytes]) -> None:
    if server.poll() is not None:
        return
    server.terminate()
    try:
        server.wait(timeout=15)
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait(timeout=15)


def serve_demo(
    workdir: Path,
    extra_env: dict[str, str],
    pytestconfig: pytest.Config,
    log_key: pytest.StashKey[Path],
    prepare: Callable[[str], None] | None = None,
) -> Iterator[str]:
    """A fresh demo territory (3,000 customers, seed 7) in `workdir`, served by the real server;
    yields its base URL. `prepare` gets the database URL between `init` and the server's start."""
    db_url = f"sqlite:///{workdir / 'outage-desk.db'}"
    env = {**os.environ, "OUTAGE_DB_URL": db_url, "PYTHONUNBUFFERED": "1", **extra_env}
    init = subprocess.run(
        [sys.executable, "-m", "emergency", "init", "--demo", "--customers", "3000", "--seed", "7"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=INIT_SECONDS,
        check=False,
    )
    if init.returncode != 0:
        pytest.fail(
            f"`python -m emergency init --demo` failed ({init.returncode}):\n{init.stdout}{init.stderr}"
        )
    if prepare is not None:
        prepare(db_url)

    port = free_port()
    log = workdir / "server.log"
    pytestconfig.stash[log_key] = log
    command = [
        sys.executable,
        "-m",
        "streamlit",
        "run",
        "dashboard/server.py",
        "--server.port",
        str(port),
        "--server.headless",
        "true",
        # Bound to this machine only; with an explicit address Streamlit also skips its start-up
        # lookup of the machine's external IP, a request to the internet.
        "--server.address",
        "127.0.0.1",
    ]
    # A file, not a pipe: nobody reads a pipe while the tests run, and a full pipe blocks the server.
    with log.open("wb") as log_file:
        server = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log_file, stderr=subprocess.STDOUT)
    base_url = f"http://127.0.0.1:{port}"
    try:
        wait_until_healthy(base_url, server, log)
        yield base_url
    finally:
        stop(server)


@pytest.fixture(scope="session")
def app_server(tmp_path_factory: pytest.TempPathFactory, pytestconfig: pytest.Config) -> Iterator[str]:
    """The base URL of a running Outage Desk on a fresh demo territory (3,000 customers, seed 7)."""
    # These journeys check a demo that holds still; the storm simulator would change it under them.
    yield from serve_demo(
        tmp_path_factory.mktemp("app-server"), {"OUTAGE_DEMO_SIMULATOR": "off"}, pytestconfig, SERVER_LOG
    )


@pytest.fixture(scope="session")
def storm_server(tmp_path_factory: pytest.TempPathFactory, pytestconfig: pytest.Config) -> Iterator[str]:
    """A second server, on its own demo database, for the journeys a storm drives
    (tests/e2e/journeys_support.py): the tests run the storm beside it, so the app's own
    background demo is off."""
    from tests.e2e.journeys_support import prepare_drill_database

    yield from serve_demo(
        tmp_path_factory.mktemp("storm-server"),
        {"OUTAGE_DEMO_SIMULATOR": "off"},
        pytestconfig,
        STORM_SERVER_LOG,
        prepare_drill_database,
    )
