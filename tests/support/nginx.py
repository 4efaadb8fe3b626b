"""Debian's nginx in front of app processes, run by a test as the documented deploy/nginx.conf.

The test's nginx includes deploy/nginx.conf itself, rendered with only its ports and listen
addresses changed (`render_site`): the app processes' ports in place of 8501 and 8502, and a free
loopback port in place of 80. Everything else the file says (sticky `ip_hash`, the websocket
upgrade, /healthz for this machine only, body size, which requests go to the next process) is
what the test exercises. The main configuration around it stands in for Debian's
/etc/nginx/nginx.conf with paths under a temporary prefix: pid, logs and temp files, so nginx
runs as a plain foreground child (no system service, no root-only path); as root its workers
drop to www-data as Debian's own configuration has them.

The access log records which app process (`$upstream_addr`) served each request, so a test can
see stickiness and failover from nginx's side.

Without nginx these tests skip on a developer's machine and fail in CI (CI=true).
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.browser import missing

ROOT = Path(__file__).resolve().parents[2]
SITE = ROOT / "deploy" / "nginx.conf"
DOCUMENTED_PORTS = (8501, 8502)  # the app processes' ports deploy/nginx.conf names
START_SECONDS = 15
# One access log line: client, upstream(s) tried in order, status, request line.
LOG_FORMAT = "$remote_addr|$upstream_addr|$status|$request"
# nginx's temp directories (Debian's defaults are under /var/lib/nginx, root's).
TEMP_PATHS = ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")

MAIN_CONF = """\
# Stands in for Debian's /etc/nginx/nginx.conf, every path under this test's prefix.
{user}worker_processes 1;
pid {prefix}/nginx.pid;
error_log {prefix}/error.log notice;
events {{
    worker_connections 512;
}}
http {{
    log_format upstreams '{log_format}';
    access_log {prefix}/access.log upstreams;
    client_body_temp_path {prefix}/temp/client_body;
    proxy_temp_path {prefix}/temp/proxy;
    fastcgi_temp_path {prefix}/temp/fastcgi;
    uwsgi_temp_path {prefix}/temp/uwsgi;
    scgi_temp_path {prefix}/temp/scgi;
    include {prefix}/outage-desk.conf;
}}
"""


def nginx_binary() -> str:
    """Debian's nginx (in /usr/sbin, which a non-root PATH may lack); skips or fails without it."""
    found = shutil.which("nginx") or ("/usr/sbin/nginx" if os.access("/usr/sbin/nginx", os.X_OK) else None)
    if found is None:
        missing("nginx is missing: apt-get install nginx")
    return str(found)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6) as probe:
            probe.bind(("::1", 0))
        return True
    except OSError:
        return False


def render_site(text: str, app_ports: Sequence[int], listen_port: int, ipv6: bool) -> str:
    """deploy/nginx.conf with the test's ports: the upstream's documented ports become
    `app_ports` (in that order) and nginx listens on `listen_port` on loopback only. Nothing else
    changes; a documented file that no longer has these lines fails here, loudly."""
    servers = re.findall(r"^\s*server 127\.0\.0\.1:(\d+) ", text, flags=re.MULTILINE)
    assert tuple(int(p) for p in servers) == DOCUMENTED_PORTS, f"upstream servers in {SITE}: {servers}"
    assert len(app_ports) == len(DOCUMENTED_PORTS), app_ports
    for documented, port in zip(DOCUMENTED_PORTS, app_ports, strict=True):
        text = text.replace(f"server 127.0.0.1:{documented} ", f"server 127.0.0.1:{port} ")
    for line, rendered in (
        ("    listen 80;\n", f"    listen 127.0.0.1:{listen_port};\n"),
        ("    listen [::]:80;\n", f"    listen [::1]:{listen_port};\n" if ipv6 else ""),
    ):
        assert text.count(line) == 1, f"{SITE} no longer has the line {line.strip()!r}"
        text = text.replace(line, rendered)
    return text


@dataclass
class Nginx:
    """A running nginx: its base URL, prefix and process."""

    base_url: str
    prefix: Path
    process: subprocess.Popen[bytes]
    binary: str
    checked: str  # what `nginx -t` said about the configuration (its warnings)

    def access_log(self) -> list[tuple[str, list[str], int, str]]:
        """(client, upstreams tried, status, request line) for each logged request, in order.
        nginx logs a websocket when it closes."""
        entries = []
        path = self.prefix / "access.log"
        for line in path.read_text(encoding="utf-8").splitlines() if path.exists() else []:
            client, upstreams, status, request = line.split("|", 3)
            tried = [] if upstreams == "-" else [u.strip() for u in upstreams.split(",")]
            entries.append((client, tried, int(status), request))
        return entries

    def error_log(self) -> str:
        path = self.prefix / "error.log"
        return path.read_text(encoding="utf-8", errors="replace")[-10_000:] if path.exists() else ""

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()  # SIGTERM: nginx's fast shutdown
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        shutil.rmtree(self.prefix, ignore_errors=True)


DEBIAN_CONF = Path("/etc/nginx")
# The README's install steps on Debian's layout (tests/integration/test_nginx_install.py checks
# that the README says them): our site in conf.d, and Debian's welcome site out of the way.
INSTALL_COPY = "cp deploy/nginx.conf /etc/nginx/conf.d/outage-desk.conf"
INSTALL_REMOVE_DEFAULT = "rm -f /etc/nginx/sites-enabled/default"


def debian_prefix(app_ports: Sequence[int], listen_port: int, *, remove_default: bool = True) -> Path:
    """A copy of Debian's /etc/nginx with the README's install steps done on it (`remove_default`
    False leaves out the second), paths moved under a temporary prefix, and port 80 of every site
    (ours and any Debian site left enabled) moved to `listen_port` on loopback; returns the prefix."""
    if not (DEBIAN_CONF / "nginx.conf").exists():
        missing(f"{DEBIAN_CONF}/nginx.conf is missing: apt-get install nginx")
    prefix = Path(tempfile.mkdtemp(prefix="outage-nginx-debian-"))
    prefix.chmod(0o755)
    etc = prefix / "etc"
    shutil.copytree(DEBIAN_CONF, etc)
    ipv6 = ipv6_loopback()
    shutil.copyfile(SITE, etc / "conf.d" / "outage-desk.conf")  # INSTALL_COPY
    site = etc / "conf.d" / "outage-desk.conf"
    site.write_text(
        render_site(site.read_text(encoding="utf-8"), app_ports, listen_port, ipv6), encoding="utf-8"
    )
    if remove_default:
        (etc / "sites-enabled" / "default").unlink(missing_ok=True)  # INSTALL_REMOVE_DEFAULT
    for enabled in (etc / "sites-enabled").iterdir():
        text = re.sub(r"listen 80\b", f"listen 127.0.0.1:{listen_port}", enabled.read_text(encoding="utf-8"))
        v6 = f"listen [::1]:{listen_port}" if ipv6 else "# (no IPv6 here) listen [::1]"
        enabled.write_text(re.sub(r"listen \[::\]:80\b", v6, text), encoding="utf-8")
    main = etc / "nginx.conf"
    text = main.read_text(encoding="utf-8").replace(f"{DEBIAN_CONF}/", f"{etc}/")
    text = re.sub(r"^pid .*$", f"pid {prefix}/nginx.pid;", text, flags=re.MULTILINE)
    text = text.replace("/var/log/nginx/", f"{prefix}/")
    temp = "".join(f"\t{kind}_temp_path {prefix}/temp/{kind};\n" for kind in TEMP_PATHS)
    text = re.sub(r"^http \{\n", lambda m: m.group(0) + temp, text, count=1, flags=re.MULTILINE)
    main.write_text(text, encoding="utf-8")
    (prefix / "temp").mkdir(mode=0o755)
    return prefix


def run_nginx(prefix: Path, conf: Path, listen_port: int) -> Nginx:
    """nginx in the foreground with `conf`, pid and logs under `prefix`; returns once it listens."""
    binary = nginx_binary()
    # -e: the error log before the configuration is read (Debian's default is stderr).
    command = [binary, "-p", f"{prefix}/", "-c", str(conf), "-e", f"{prefix}/error.log"]
    checked = subprocess.run([*command, "-t"], capture_output=True, text=True, timeout=30, check=False)
    if checked.returncode != 0:
        shutil.rmtree(prefix, ignore_errors=True)
        pytest.fail(f"nginx -t refused {conf}:\n{checked.stderr}")
    process = subprocess.Popen([*command, "-g", "daemon off;"], stdout=subprocess.DEVNULL)
    nginx = Nginx(f"http://127.0.0.1:{listen_port}", prefix, process, binary, checked.stderr)
    _wait_listening(nginx, listen_port)
    return nginx


def start_nginx(app_ports: Sequence[int], listen_port: int) -> Nginx:
    """nginx in the foreground with deploy/nginx.conf rendered for `app_ports`; returns once it
    accepts connections on `listen_port`."""
    nginx_binary()
    # Not pytest's tmp_path: as root nginx's workers run as www-data, which must reach the temp
    # directories (nginx creates and hands them over), and pytest's base directory is 0700.
    prefix = Path(tempfile.mkdtemp(prefix="outage-nginx-"))
    prefix.chmod(0o755)
    (prefix / "temp").mkdir(mode=0o755)
    site = render_site(SITE.read_text(encoding="utf-8"), app_ports, listen_port, ipv6_loopback())
    (prefix / "outage-desk.conf").write_text(site, encoding="utf-8")
    user = "user www-data;\n" if os.geteuid() == 0 else ""
    main = MAIN_CONF.format(user=user, prefix=prefix, log_format=LOG_FORMAT)
    (prefix / "nginx.conf").write_text(main, encoding="utf-8")
    return run_nginx(prefix, prefix / "nginx.conf", listen_port)


def _wait_listening(nginx: Nginx, port: int) -> None:
    deadline = time.monotonic() + START_SECONDS
    while time.monotonic() < deadline:
        if nginx.process.poll() is not None:
            log = nginx.error_log()
            nginx.stop()
            pytest.fail(f"nginx exited with {nginx.process.returncode} while starting:\n{log}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.1)
    log = nginx.error_log()
    nginx.stop()
    pytest.fail(f"nginx did not listen on {port} within {START_SECONDS} s:\n{log}")
