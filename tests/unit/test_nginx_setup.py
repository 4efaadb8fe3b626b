"""The nginx the two-process test runs is deploy/nginx.conf, the documented file: rendering changes
its ports and listen addresses and nothing else, and a missing nginx fails CI instead of skipping."""

from __future__ import annotations

import difflib
import re

import pytest

from tests.support import browser, nginx
from tests.support.nginx import SITE, nginx_binary, render_site


def _changed_lines(before: str, after: str) -> list[str]:
    diff = difflib.unified_diff(before.splitlines(), after.splitlines(), lineterm="", n=0)
    return [line for line in diff if line[:1] in "+-" and not line.startswith(("+++", "---"))]


@pytest.mark.parametrize("ipv6", [True, False])
def test_rendering_changes_only_the_ports_and_listen_addresses(ipv6: bool) -> None:
    documented = SITE.read_text(encoding="utf-8")

    rendered = render_site(documented, [41001, 41002], 41000, ipv6=ipv6)

    expected = [
        "-    server 127.0.0.1:8501 max_fails=3 fail_timeout=10s;",
        "-    server 127.0.0.1:8502 max_fails=3 fail_timeout=10s;",
        "+    server 127.0.0.1:41001 max_fails=3 fail_timeout=10s;",
        "+    server 127.0.0.1:41002 max_fails=3 fail_timeout=10s;",
        "-    listen 80;",
        "-    listen [::]:80;",
        "+    listen 127.0.0.1:41000;",
        *(["+    listen [::1]:41000;"] if ipv6 else []),
    ]
    assert _changed_lines(documented, rendered) == expected


def test_the_upstream_order_is_the_one_asked_for() -> None:
    rendered = render_site(SITE.read_text(encoding="utf-8"), [41002, 41001], 41000, ipv6=False)

    assert rendered.index("127.0.0.1:41002 ") < rendered.index("127.0.0.1:41001 ")


def test_a_documented_file_without_the_expected_lines_is_refused() -> None:
    other_ports = SITE.read_text(encoding="utf-8").replace("127.0.0.1:8502 ", "127.0.0.1:8503 ")
    no_listen = SITE.read_text(encoding="utf-8").replace("    listen 80;\n", "    listen 8080;\n")

    with pytest.raises(AssertionError, match="upstream servers"):
        render_site(other_ports, [41001, 41002], 41000, ipv6=False)
    with pytest.raises(AssertionError, match="listen 80"):
        render_site(no_listen, [41001, 41002], 41000, ipv6=False)


@pytest.fixture
def no_nginx(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(nginx.shutil, "which", lambda name: None)
    monkeypatch.setattr(nginx.os, "access", lambda path, mode: False)


def test_missing_nginx_fails_in_ci(no_nginx: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(browser, "IN_CI", True)

    with pytest.raises(pytest.fail.Exception, match="nginx is missing"):
        nginx_binary()


def test_missing_nginx_skips_on_a_developers_machine(no_nginx: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(browser, "IN_CI", False)

    with pytest.raises(pytest.skip.Exception, match="nginx is missing"):
        nginx_binary()


def test_no_cached_upstream_connections() -> None:
    """A POST written on a cached connection its process has closed (killed, or idle past the app
    server's 5 s) is not passed on: the client got 502 in 2 of 7 runs of the two-process test
    with `keepalive 32`. Without `keepalive` a dead process refuses the new connection and nginx moves on."""
    directives = [line.split("#")[0].strip() for line in SITE.read_text(encoding="utf-8").splitlines()]

    assert [d for d in directives if d.startswith("keepalive")] == []
    assert any(re.fullmatch(r"''\s+close;", d) for d in directives), "plain requests close theirs"
