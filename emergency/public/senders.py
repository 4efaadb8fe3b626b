"""Senders hand one outbox message to the outside world: a small protocol and two implementations.

`FileSender` (the default) appends each message as a JSON line to a file, so a demo or an isolated
control room sees exactly what customers would get. `WebhookSender` POSTs each message as JSON to an
SMS gateway (or any relay for app push and e-mail): it retries with backoff on 5xx, 429 and
connection errors, never on other 4xx (the gateway refused the message itself; sending it again
would fail the same way), and reports how many attempts it took.
"""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path
from typing import Protocol

from emergency.public.sms import encoding_for, sms_segments

MAX_ERROR_CHARS = 500


@dataclass(frozen=True)
class OutgoingMessage:
    """One message as a sender sees it.

    `recipient` is what the channel addresses: a phone number (sms), a device token (push) or an
    e-mail address (email).
    """

    id: int
    channel: str
    recipient: str
    language: str
    template: str
    title: str  # the e-mail subject or push title; an SMS carries only the body
    body: str

    def payload(self) -> dict[str, object]:
        data: dict[str, object] = asdict(self)
        if self.channel == "sms":
            data["encoding"] = encoding_for(self.body).name
            data["segments"] = len(sms_segments(self.body))
        return data


@dataclass(frozen=True)
class Delivery:
    """What became of one message: handed over or not, after how many attempts, and why not."""

    ok: bool
    attempts: int
    error: str | None = None


class Sender(Protocol):
    def send(self, message: OutgoingMessage) -> Delivery: ...


class FileSender:
    """Appends messages as JSON lines to `directory/outbox.jsonl`."""

    def __init__(self, directory: Path, now: Callable[[], datetime] | None = None) -> None:
        self.path = Path(directory) / "outbox.jsonl"
        self._now = now
        self._lock = threading.Lock()

    def send(self, message: OutgoingMessage) -> Delivery:
        record = message.payload()
        if self._now is not None:
            record["written_at"] = self._now().isoformat()
        line = json.dumps(record, ensure_ascii=False) + "\n"
        try:
            with self._lock:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                with self.path.open("a", encoding="utf-8") as out:
                    out.write(line)
        except OSError as error:
            return Delivery(
                ok=False, attempts=1, error=f"cannot write {self.path}: {error}"[:MAX_ERROR_CHARS]
            )
        return Delivery(ok=True, attempts=1)


class WebhookSender:
    """POSTs each message as JSON to `url`; the gateway answers 2xx when it has taken the message.

    Each request carries an `Idempotency-Key` naming the outbox row, so a gateway can drop the
    second copy when an answer was lost on the way back and the message is sent again.
    """

    def __init__(
        self,
        url: str,
        *,
        token: str | None = None,
        timeout_s: float = 5.0,
        max_attempts: int = 3,
        backoff_s: float = 0.5,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if not url.startswith(("http://", "https://")):
            raise ValueError(f"a webhook URL must start with http:// or https://, not {url!r}")
        self.url = url
        self.token = token
        self.timeout_s = timeout_s
        self.max_attempts = max(1, max_attempts)
        self.backoff_s = backoff_s
        self.sleep = sleep

    def send(self, message: OutgoingMessage) -> Delivery:
        body = json.dumps(message.payload(), ensure_ascii=False).encode("utf-8")
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            "Idempotency-Key": f"outage-desk-notification-{message.id}",
        }
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        error = ""
        for attempt in range(1, self.max_attempts + 1):
            request = urllib.request.Request(self.url, data=body, headers=headers, method="POST")
            try:
                with urllib.request.urlopen(request, timeout=self.timeout_s) as response:
                    response.read()
                return Delivery(ok=True, attempts=attempt)
            except urllib.error.HTTPError as refused:
                detail = refused.read(200).decode("utf-8", "replace").strip()
                error = f"HTTP {refused.code}" + (f": {detail}" if detail else "")
                if not _worth_retrying(refused.code):
                    return Delivery(ok=False, attempts=attempt, error=error[:MAX_ERROR_CHARS])
            except (urllib.error.URLError, OSError) as failed:  # refused connection, DNS, timeout
                reason = getattr(failed, "reason", failed)
                error = f"connection failed: {reason}"
            if attempt < self.max_attempts:
                self.sleep(self.backoff_s * 2 ** (attempt - 1))
        return Delivery(ok=False, attempts=self.max_attempts, error=error[:MAX_ERROR_CHARS])


def _worth_retrying(status: int) -> bool:
    """Server trouble and rate limiting pass; any other 4xx means this message itself was refused."""
    return status >= 500 or status in (408, 429)
