"""Run a Python program with every attempt to reach another machine recorded and refused.

    python tests/support/outbound_guard.py RECORD_FILE -m streamlit run dashboard/server.py ...

A control room runs on an isolated network, so the app must not even try to leave the machine. An
audit hook (PEP 578) sees each name lookup, connect and datagram the interpreter makes (the
standard library, `requests` and `httpx` all go through `socket`); one aimed anywhere but this
machine is written to RECORD_FILE, one line each, and refused with an OSError as a firewall would,
so the program carries on as it would on the isolated network. C libraries with their own sockets
(libpq) are not seen; the tests that use this run on SQLite.
"""

from __future__ import annotations

import ipaddress
import runpy
import sys
from typing import Any

# Events whose arguments name where a socket is going (see the audit events table in Python's docs).
HOST_EVENTS = {"socket.getaddrinfo": 0, "socket.gethostbyname": 0, "socket.gethostbyaddr": 0}
ADDRESS_EVENTS = {"socket.connect": 1, "socket.sendto": 1}
LOCAL_NAMES = frozenset({"", "localhost", "localhost.localdomain", "ip6-localhost"})


def is_local_host(host: object) -> bool:
    """True for this machine: loopback, the wildcard a server binds to, or no host at all."""
    if host is None:
        return True
    if isinstance(host, bytes):
        host = host.decode("ascii", "replace")
    if not isinstance(host, str):
        return False
    name = host.strip("[]").lower()
    if name in LOCAL_NAMES:
        return True
    try:
        address = ipaddress.ip_address(name.split("%")[0])
    except ValueError:
        return False  # a name to look up: another machine, or a resolver asked about one
    return address.is_loopback or address.is_unspecified


def destination(event: str, args: tuple[Any, ...]) -> object | None:
    """The host an event reaches for, or None when the event names no remote place."""
    if event in HOST_EVENTS:
        return args[HOST_EVENTS[event]]
    if event in ADDRESS_EVENTS:
        address = args[ADDRESS_EVENTS[event]]
        if isinstance(address, tuple) and address:
            return address[0]
        return None  # a Unix socket path stays on this machine
    return None


def install(record_path: str) -> None:
    record = open(record_path, "a", encoding="utf-8", buffering=1)  # noqa: SIM115 (open for the process's life)

    def hook(event: str, args: tuple[Any, ...]) -> None:
        host = destination(event, args)
        if host is None or is_local_host(host):
            return
        record.write(f"{event} {host!r}\n")
        raise OSError(f"outbound_guard: {event} to {host!r} refused (isolated network)")

    sys.addaudithook(hook)


def main(argv: list[str]) -> None:
    if len(argv) < 3 or argv[1] != "-m":
        raise SystemExit("usage: outbound_guard.py RECORD_FILE -m MODULE [ARGS ...]")
    record_path, module = argv[0], argv[2]
    install(record_path)
    sys.argv = [module, *argv[3:]]
    runpy.run_module(module, run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main(sys.argv[1:])
