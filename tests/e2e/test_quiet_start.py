"""The app on an isolated network: started as the README says, it never tries to leave the machine.

The real server runs under tests/support/outbound_guard.py, which records (and refuses) every name
look-up, connect or datagram aimed at another machine. Streamlit on its own asks
checkip.amazonaws.com for the external IP at start ("Did not auto detect external IP" offline) and
again whenever a page of another origin opens the app's WebSocket; neither may happen.
"""

from __future__ import annotations

import base64
import os
import socket
import subprocess
import sys
import time
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.e2e.conftest import free_port, read_log, stop, wait_until_healthy

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
GUARD = ROOT / "tests" / "support" / "outbound_guard.py"
SCRIPT_CONFIG = ROOT / "dashboard" / ".streamlit" / "config.toml"
# Long enough for the background loops (SLA monitor, notifications, warning expiry) to run a round.
SETTLE_SECONDS = 5


@dataclass(frozen=True)
class GuardedServer:
    base_url: str
    port: int
    log: Path
    outbound: Path


def start_guarded(workdir: Path, cwd: Path, script: str) -> Iterator[GuardedServer]:
    """`streamlit run <script>` from `cwd` with no flag but the port, as an operator starts it."""
    port = free_port()
    log, outbound = workdir / "server.log", workdir / "outbound.txt"
    outbound.touch()
    env = {
        **os.environ,
        "OUTAGE_DB_URL": f"sqlite:///{workdir / 'quiet.db'}",
        "PYTHONUNBUFFERED": "1",
    }
    command = [sys.executable, str(GUARD), str(outbound), "-m", "streamlit", "run", script]
    command += ["--server.port", str(port)]
    with log.open("wb") as log_file:
        server = subprocess.Popen(command, cwd=cwd, env=env, stdout=log_file, stderr=subprocess.STDOUT)
    base_url = f"http://127.0.0.1:{port}"
    try:
        wait_until_healthy(base_url, server, log)
        yield GuardedServer(base_url, port, log, outbound)
    finally:
        stop(server)


@pytest.fixture(params=["readme", "elsewhere"])
def guarded_server(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[GuardedServer]:
    """Started from the checkout as the README does, and from another folder by the script's path
    (Streamlit reads a project's .streamlit/ from the working directory, ours sits beside the script)."""
    if request.param == "readme":
        yield from start_guarded(tmp_path, ROOT, "dashboard/server.py")
    else:
        yield from start_guarded(tmp_path, tmp_path, str(ROOT / "dashboard" / "server.py"))


def websocket_handshake(port: int, origin: str) -> str:
    """Open the app's WebSocket as a browser on a page at `origin` would; the status line answered."""
    key = base64.b64encode(os.urandom(16)).decode()
    request = (
        "GET /_stcore/stream HTTP/1.1\r\n"
        f"Host: 127.0.0.1:{port}\r\n"
        "Upgrade: websocket\r\nConnection: Upgrade\r\n"
        f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
        f"Origin: {origin}\r\n\r\n"
    )
    with socket.create_connection(("127.0.0.1", port), timeout=15) as connection:
        connection.sendall(request.encode())
        answer = connection.recv(4096).decode("latin-1")
    return answer.split("\r\n", 1)[0]


def test_the_server_never_reaches_beyond_the_machine(guarded_server: GuardedServer) -> None:
    # A page of another origin opening our WebSocket (any site a dispatcher visits could).
    foreign = websocket_handshake(guarded_server.port, "http://attacker.example")
    # The app's own page still connects: what we switched off concerns foreign origins only.
    own = websocket_handshake(guarded_server.port, guarded_server.base_url)
    time.sleep(SETTLE_SECONDS)

    outbound = guarded_server.outbound.read_text(encoding="utf-8")
    log = read_log(guarded_server.log)
    assert outbound == "", f"the app tried to leave the machine:\n{outbound}\nserver log:\n{log}"
    assert "external ip" not in log.lower(), log
    assert "You can now view your Streamlit app" in log, log  # the start banner itself still shows
    # The foreign origin is still refused: quiet does not mean open.
    assert " 101 " not in foreign, foreign
    assert " 101 " in own, own


def test_the_script_level_config_keeps_usage_stats_and_ip_lookups_off() -> None:
    """The settings behind the quiet start, in the config file read wherever the app starts from."""
    config = tomllib.loads(SCRIPT_CONFIG.read_text(encoding="utf-8"))

    assert config["browser"]["gatherUsageStats"] is False
    # Set by hand, so the start banner prints it instead of looking the machine's IPs up.
    assert config["browser"]["serverAddress"]
