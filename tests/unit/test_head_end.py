"""The head-end's ping protocol (emergency/network/head_end.py): the fake's losses, and the HTTP
adapter's documented JSON shape, with anything else refused whole."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

from emergency.core.config import load_settings
from emergency.core.meter_models import PingAnswer
from emergency.network.head_end import (
    FakeHeadEnd,
    HeadEndError,
    HttpHeadEnd,
    current_head_end,
    parse_reply,
    use_head_end_token,
)


def test_the_fake_loses_a_share_of_the_powered_meters_answers_never_a_dark_ones_silence():
    head_end = FakeHeadEnd(lambda meter: meter.startswith("on"), loss=0.3, seed=5)
    meters = [f"on-{n}" for n in range(1000)] + [f"off-{n}" for n in range(100)]
    answers = head_end.ping(meters, 20)
    powered = [m for m in meters if answers[m] == PingAnswer.POWERED]
    assert all(m.startswith("on") for m in powered)
    assert 650 < len(powered) < 750  # about 70 % of the 1,000 powered meters answered
    assert head_end.requests == [tuple(meters)]


def test_a_reply_in_the_documented_shape_and_a_meter_left_out_is_silent():
    reply = json.dumps({"request_id": "r1", "answers": {"M1": "powered", "M2": "silent"}}).encode()
    assert parse_reply(reply, ["M1", "M2", "M3"]) == {
        "M1": PingAnswer.POWERED,
        "M2": PingAnswer.SILENT,
        "M3": PingAnswer.SILENT,
    }


@pytest.mark.parametrize(
    ("reply", "why"),
    [
        (b"not json", "not"),
        (json.dumps({"answers": ["M1"]}).encode(), "not an object"),
        (json.dumps({"answers": {"M1": "maybe"}}).encode(), "'maybe'"),
        (json.dumps({"answers": {"M9": "powered"}}).encode(), "not asked"),
    ],
)
def test_anything_else_is_refused_whole(reply: bytes, why: str):
    with pytest.raises(HeadEndError, match=why):
        parse_reply(reply, ["M1"])


class _HeadEnd(BaseHTTPRequestHandler):
    asked: list[dict] = []
    authorizations: list[str | None] = []

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        _HeadEnd.asked.append(body)
        _HeadEnd.authorizations.append(self.headers.get("Authorization"))
        reply = json.dumps({"request_id": body["request_id"], "answers": {body["meters"][0]: "powered"}})
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(reply.encode())

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def server() -> Iterator[str]:
    httpd = HTTPServer(("127.0.0.1", 0), _HeadEnd)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/ping"
    httpd.shutdown()
    httpd.server_close()


def test_the_http_head_end_posts_the_request_and_reads_the_answers(server: str):
    answers = HttpHeadEnd(server).ping(["M1", "M2"], 5, "req-1")
    assert answers == {"M1": PingAnswer.POWERED, "M2": PingAnswer.SILENT}
    assert _HeadEnd.asked[-1] == {"request_id": "req-1", "meters": ["M1", "M2"], "timeout_seconds": 5}
    assert _HeadEnd.authorizations[-1] is None


def test_the_process_token_goes_with_each_ping_as_a_bearer(server: str):
    use_head_end_token("s3cret-token")
    try:
        head_end = current_head_end(server)
        assert head_end is not None
        head_end.ping(["M1"], 5, "req-3")
    finally:
        use_head_end_token(None)
    assert _HeadEnd.authorizations[-1] == "Bearer s3cret-token"
    assert load_settings({"OUTAGE_HEAD_END_TOKEN": " s3cret-token "}).head_end_token == "s3cret-token"


def test_an_unreachable_head_end_is_an_error_not_an_answer():
    with pytest.raises(HeadEndError, match="unreachable"):
        HttpHeadEnd("http://127.0.0.1:9/ping").ping(["M1"], 1, "req-2")
