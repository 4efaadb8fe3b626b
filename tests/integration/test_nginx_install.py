"""The README's nginx install steps on Debian's own configuration: deploy/nginx.conf copied into
/etc/nginx/conf.d and Debian's welcome site removed (a copy of /etc/nginx under a temporary prefix,
tests/support/nginx.py). Without removing it, Debian's default site, which also answers port 80
for the name `_` as its default server, takes every request and our site is ignored.

Needs Debian's nginx; without it the test skips on a developer's machine and fails in CI.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest

from tests.support.nginx import INSTALL_COPY, INSTALL_REMOVE_DEFAULT, debian_prefix, free_port, run_nginx

ROOT = Path(__file__).resolve().parents[2]
ANSWER = b"an app process answered"


class _App(BaseHTTPRequestHandler):
    """Stands in for an app process: any GET is answered with ANSWER."""

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Length", str(len(ANSWER)))
        self.end_headers()
        self.wfile.write(ANSWER)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def app_port() -> Iterator[int]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _App)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


def test_the_readme_installs_the_site_the_way_this_test_does() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = re.search(r"^## Several app processes$(.*?)^## ", readme, re.MULTILINE | re.DOTALL)
    assert section is not None
    commands = " && ".join(re.findall(r"^```sh\n(.*?)^```", section.group(1), re.MULTILINE | re.DOTALL))

    assert INSTALL_COPY in commands and INSTALL_REMOVE_DEFAULT in commands, commands


def test_on_debians_configuration_requests_reach_the_app_processes(app_port: int) -> None:
    listen = free_port()
    prefix = debian_prefix([app_port, app_port], listen)
    nginx = run_nginx(prefix, prefix / "etc" / "nginx.conf", listen)
    try:
        answer = httpx.get(f"{nginx.base_url}/status", timeout=10)

        assert (answer.status_code, answer.content) == (200, ANSWER), answer.text[:300]
        assert "conflicting server name" not in nginx.checked, nginx.checked
    finally:
        nginx.stop()


def test_with_debians_welcome_site_left_enabled_it_answers_instead(app_port: int) -> None:
    """Why the README removes it: both sites are `server_name _` on port 80, nginx keeps the first
    (Debian's default server) and says so only as a warning."""
    listen = free_port()
    prefix = debian_prefix([app_port, app_port], listen, remove_default=False)
    nginx = run_nginx(prefix, prefix / "etc" / "nginx.conf", listen)
    try:
        answer = httpx.get(f"{nginx.base_url}/", timeout=10)

        assert answer.content != ANSWER and "Welcome to nginx" in answer.text
        assert "conflicting server name" in nginx.checked, nginx.checked
    finally:
        nginx.stop()
