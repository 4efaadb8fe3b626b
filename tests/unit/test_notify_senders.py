"""Senders: the file sender's JSON lines, and the webhook sender against a local HTTP server.

The server runs in a thread on a free port and answers from a script of status codes; the
webhook sender's backoff sleeps go to a list instead of the clock, so the tests stay fast.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from emergency.public.senders import FileSender, OutgoingMessage, WebhookSender

MESSAGE = OutgoingMessage(
    id=42,
    channel="sms",
    recipient="13900000001",
    language="zh",
    template="outage_restored",
    title="已恢复供电",
    body="【供电服务】您所在区域已恢复供电（事件7）。如您仍停电，请回复本短信或拨打95598报修。",
)


class Gateway:
    """A stand-in SMS gateway: answers each POST with the next scripted status (then 200)."""

    def __init__(self, statuses: list[int], delay_s: float = 0.0) -> None:
        self.statuses = list(statuses)
        self.delay_s = delay_s
        self.requests: list[dict[str, Any]] = []
        gateway = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                gateway.requests.append({"headers": dict(self.headers), "json": json.loads(body)})
                status = gateway.statuses.pop(0) if gateway.statuses else 200
                if gateway.delay_s and len(gateway.requests) == 1:
                    time.sleep(gateway.delay_s)
                answer = b'{"error": "unknown number"}' if status == 400 else b"{}"
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(answer)))
                    self.end_headers()
                    self.wfile.write(answer)
                except (BrokenPipeError, ConnectionResetError):  # the client gave up waiting
                    pass

            def log_message(self, *_args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/sms"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> Gateway:
        self.thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def naps() -> list[float]:
    return []


def sender(url: str, naps: list[float], **options: Any) -> WebhookSender:
    return WebhookSender(url, backoff_s=0.5, sleep=naps.append, **options)


def test_the_webhook_sender_retries_server_errors_with_backoff_until_the_gateway_takes_it(
    naps: list[float],
) -> None:
    with Gateway([503, 500]) as gateway:
        delivery = sender(gateway.url, naps, max_attempts=3, token="s3cret").send(MESSAGE)

    assert delivery.ok and delivery.attempts == 3 and delivery.error is None
    assert naps == [0.5, 1.0]
    assert len(gateway.requests) == 3
    first = gateway.requests[0]
    assert first["json"]["recipient"] == "13900000001" and first["json"]["body"] == MESSAGE.body
    assert first["json"]["segments"] == 1 and first["json"]["encoding"] == "ucs2"
    assert first["headers"]["Authorization"] == "Bearer s3cret"
    keys = {r["headers"]["Idempotency-Key"] for r in gateway.requests}
    assert keys == {"outage-desk-notification-42"}, "every retry names the same message"


def test_the_webhook_sender_gives_up_after_its_attempts_and_says_why(naps: list[float]) -> None:
    with Gateway([502, 502, 502, 502]) as gateway:
        delivery = sender(gateway.url, naps, max_attempts=3).send(MESSAGE)

    assert not delivery.ok and delivery.attempts == 3
    assert delivery.error is not None and delivery.error.startswith("HTTP 502")
    assert len(gateway.requests) == 3


def test_a_refused_message_is_failed_at_once_without_retrying(naps: list[float]) -> None:
    with Gateway([400]) as gateway:
        delivery = sender(gateway.url, naps, max_attempts=3).send(MESSAGE)

    assert not delivery.ok and delivery.attempts == 1
    assert delivery.error == 'HTTP 400: {"error": "unknown number"}'
    assert len(gateway.requests) == 1 and naps == []


def test_rate_limiting_is_retried(naps: list[float]) -> None:
    with Gateway([429]) as gateway:
        delivery = sender(gateway.url, naps).send(MESSAGE)

    assert delivery.ok and delivery.attempts == 2 and len(gateway.requests) == 2


def test_a_gateway_that_does_not_answer_in_time_is_retried(naps: list[float]) -> None:
    with Gateway([], delay_s=0.5) as gateway:
        delivery = sender(gateway.url, naps, timeout_s=0.1).send(MESSAGE)

    assert delivery.ok and delivery.attempts == 2


def test_a_gateway_that_is_down_counts_every_attempt(naps: list[float]) -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]

    delivery = sender(f"http://127.0.0.1:{port}/sms", naps, max_attempts=2, timeout_s=1).send(MESSAGE)

    assert not delivery.ok and delivery.attempts == 2
    assert delivery.error is not None and delivery.error.startswith("connection failed")
    assert naps == [0.5]


def test_a_webhook_url_must_be_http() -> None:
    with pytest.raises(ValueError, match="http"):
        WebhookSender("file:///etc/passwd")


def test_the_file_sender_appends_one_json_line_per_message(tmp_path: Path) -> None:
    outbox = FileSender(tmp_path / "outbox")
    english = OutgoingMessage(
        id=43,
        channel="email",
        recipient="someone@example.org",
        language="en",
        template="outage_restored",
        title="Power restored",
        body="Power service: Power is back in your area (ref 7).",
    )

    assert outbox.send(MESSAGE).ok and outbox.send(english).ok

    lines = (tmp_path / "outbox" / "outbox.jsonl").read_text(encoding="utf-8").splitlines()
    first, second = (json.loads(line) for line in lines)
    assert first["body"] == MESSAGE.body and first["segments"] == 1
    assert "【供电服务】" in lines[0], "Chinese is written as text, not escapes"
    assert second["title"] == "Power restored" and "segments" not in second


def test_the_file_sender_reports_a_file_it_cannot_write(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("")

    delivery = FileSender(blocker).send(MESSAGE)

    assert not delivery.ok and delivery.error is not None and "cannot write" in delivery.error


@pytest.fixture(autouse=True)
def _no_stray_threads() -> Iterator[None]:
    before = threading.active_count()
    yield
    deadline = time.monotonic() + 2
    while threading.active_count() > before and time.monotonic() < deadline:
        time.sleep(0.01)
