"""The meter head-end's ping: ask smart meters whether they have power (issue #21 point 3).

`HeadEnd` is the protocol fault location talks to: `ping(meter_ids, timeout)` returns, for each
meter asked, `powered` (it answered) or `silent` (no answer within the timeout: out of power, or its
answer was lost in a storm's communications). A meter missing from the answer is silent. A head-end
that cannot take the request raises `HeadEndError`; nothing is learnt then (the pings are `lost`).

Implementations:
- `FakeHeadEnd`: answers from a function that knows who has power, losing a share of answers (tests,
  and the simulator, which knows the simulated grid's true state).
- `HttpHeadEnd`: the utility's head-end over HTTP, one JSON request per ping:

      POST <meter_ping.head_end_url>
      {"request_id": "3f2c...", "meters": ["M00001234", ...], "timeout_seconds": 20}
      -> 200 {"request_id": "3f2c...", "answers": {"M00001234": "powered", "M00005678": "silent"}}

  with `Authorization: Bearer <token>` when the process was given one (`OUTAGE_HEAD_END_TOKEN`,
  registered at start-up by `use_head_end_token`: a secret stays out of the settings table).

  Answers other than `powered` and `silent`, or a body that is not that shape, refuse the whole
  reply (`HeadEndError`, the pings are recorded `lost`): nothing the head-end sent is guessed at.

The process uses the head-end `use_head_end` registered (the live demo's simulator does), else the
HTTP one when `meter_ping.head_end_url` is set, else none (no pings).
"""

from __future__ import annotations

import json
import random
import threading
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from emergency.core.meter_models import PingAnswer

MAX_REPLY_BYTES = 1_000_000  # a reply for a few hundred meters is a few kilobytes


class HeadEndError(Exception):
    """The head-end did not take the ping request (unreachable, refused, or an answer out of shape)."""


class HeadEnd(Protocol):
    def ping(
        self, meter_ids: Sequence[str], timeout: float, request_id: str = ""
    ) -> Mapping[str, PingAnswer]:
        """Ask `meter_ids`; each answers `powered` or stays `silent` within `timeout` seconds."""
        ...


@dataclass
class FakeHeadEnd:
    """Answers from `powered(meter_id)`; a powered meter's answer is lost with chance `loss`."""

    powered: Callable[[str], bool]
    loss: float = 0.0
    seed: int = 0
    requests: list[tuple[str, ...]] = field(default_factory=list)  # what was asked, for tests

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)

    def ping(
        self, meter_ids: Sequence[str], timeout: float, request_id: str = ""
    ) -> Mapping[str, PingAnswer]:
        self.requests.append(tuple(meter_ids))
        answers: dict[str, PingAnswer] = {}
        for meter in meter_ids:
            answered = self.powered(meter) and self._rng.random() >= self.loss
            answers[meter] = PingAnswer.POWERED if answered else PingAnswer.SILENT
        return answers


@dataclass(frozen=True)
class HttpHeadEnd:
    """The utility's head-end over HTTP (the JSON shape in the module docstring)."""

    url: str
    token: str | None = None

    def ping(
        self, meter_ids: Sequence[str], timeout: float, request_id: str = ""
    ) -> Mapping[str, PingAnswer]:
        body = json.dumps({"request_id": request_id, "meters": list(meter_ids), "timeout_seconds": timeout})
        headers = {"Content-Type": "application/json"}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        request = urllib.request.Request(self.url, data=body.encode(), headers=headers, method="POST")
        try:
            # The head-end waits `timeout` for the meters; the connection gets a little longer.
            with urllib.request.urlopen(request, timeout=timeout + 10) as reply:
                raw = reply.read(MAX_REPLY_BYTES + 1)
        except (urllib.error.URLError, OSError, ValueError) as error:
            raise HeadEndError(f"head-end unreachable: {error}") from error
        if len(raw) > MAX_REPLY_BYTES:
            raise HeadEndError("head-end reply larger than 1 MB")
        return parse_reply(raw, meter_ids)


def parse_reply(raw: bytes, meter_ids: Sequence[str]) -> dict[str, PingAnswer]:
    """The answers of a head-end reply, refused whole when it is not the documented shape."""
    try:
        answers = json.loads(raw)["answers"]
    except (ValueError, KeyError, TypeError) as error:
        raise HeadEndError(f"head-end reply is not {{'answers': {{meter: answer}}}}: {error}") from error
    if not isinstance(answers, dict):
        raise HeadEndError("head-end reply's answers is not an object")
    asked = set(meter_ids)
    found: dict[str, PingAnswer] = {}
    for meter, answer in answers.items():
        if meter not in asked:
            raise HeadEndError(f"head-end answered for meter {meter!r}, which was not asked")
        if answer not in (PingAnswer.POWERED.value, PingAnswer.SILENT.value):
            raise HeadEndError(f"head-end answer {answer!r} for meter {meter!r} is not powered or silent")
        found[str(meter)] = PingAnswer(answer)
    # A meter the head-end did not mention did not answer in time: silent.
    return {meter: found.get(meter, PingAnswer.SILENT) for meter in meter_ids}


_registered: HeadEnd | None = None
_token: str | None = None
_lock = threading.Lock()


def use_head_end_token(token: str | None) -> None:
    """The bearer token this process sends the HTTP head-end (read once at start-up)."""
    global _token
    with _lock:
        _token = token


def use_head_end(head_end: HeadEnd | None) -> None:
    """Make `head_end` the one this process pings (the live demo's simulator); None forgets it."""
    global _registered
    with _lock:
        _registered = head_end


def current_head_end(url: str) -> HeadEnd | None:
    """The head-end to ping: the registered one, else the HTTP head-end at `url`, else none."""
    with _lock:
        registered, token = _registered, _token
    if registered is not None:
        return registered
    return HttpHeadEnd(url, token) if url else None
