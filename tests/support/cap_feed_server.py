"""A local agency for CAP feed tests: an HTTP server in a thread serving feeds and alerts from a dict,
with ETag/304 as agencies' servers answer, and a log of what was asked for."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

CAP_NS = "urn:oasis:names:tc:emergency:cap:1.2"
# A square over the east of the small territory (CAP's "lat,lon" order), and one far outside it.
INSIDE = "28.0,121.12 28.0,121.19 28.09,121.19 28.09,121.12 28.0,121.12"
OUTSIDE = "40.0,100.0 40.0,100.1 40.1,100.1 40.1,100.0 40.0,100.0"


@dataclass
class Document:
    body: bytes
    content_type: str = "application/xml"
    etag: str | None = None
    status: int = 200


@dataclass
class Agency:
    """The documents served, by path, and each request's path and conditional headers."""

    port: int = 0
    documents: dict[str, Document] = field(default_factory=dict)
    requests: list[tuple[str, str | None]] = field(default_factory=list)  # (path, If-None-Match)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def fetched(self, path: str) -> int:
        return sum(1 for p, _ in self.requests if p == path)


@contextmanager
def serve(agency: Agency) -> Iterator[Agency]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            condition = self.headers.get("If-None-Match")
            agency.requests.append((self.path, condition))
            document = agency.documents.get(self.path)
            if document is None:
                self.send_error(404)
                return
            if document.etag is not None and condition == document.etag:
                self.send_response(304)
                self.send_header("ETag", document.etag)
                self.end_headers()
                return
            self.send_response(document.status)
            self.send_header("Content-Type", document.content_type)
            self.send_header("Content-Length", str(len(document.body)))
            if document.etag is not None:
                self.send_header("ETag", document.etag)
            self.end_headers()
            self.wfile.write(document.body)

        def log_message(self, *_args: object) -> None:  # quiet test output
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    agency.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield agency
    finally:
        server.shutdown()
        server.server_close()


def cap_alert(
    identifier: str,
    *,
    sent: str = "2026-07-01T10:00:00+08:00",
    msg_type: str = "Alert",
    status: str = "Actual",
    references: str | None = None,
    polygon: str = INSIDE,
    headline: str = "Typhoon red warning for Lanhai",
    sender: str = "meteo@lanhai.example",
    expires: str | None = None,
) -> bytes:
    """A CAP 1.2 alert shaped like a provincial service's: English block, severity, a polygon.
    It expires a day after it was sent unless `expires` says otherwise."""
    if expires is None:
        expires = (datetime.fromisoformat(sent) + timedelta(days=1)).isoformat()
    refs = f"<references>{references}</references>" if references else ""
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<alert xmlns="{CAP_NS}">
  <identifier>{identifier}</identifier>
  <sender>{sender}</sender>
  <sent>{sent}</sent>
  <status>{status}</status>
  <msgType>{msg_type}</msgType>
  <scope>Public</scope>
  {refs}
  <info>
    <language>en-US</language>
    <category>Met</category>
    <event>Typhoon</event>
    <urgency>Immediate</urgency>
    <severity>Extreme</severity>
    <certainty>Likely</certainty>
    <effective>{sent}</effective>
    <expires>{expires}</expires>
    <headline>{headline}</headline>
    <description>Gusts of force 12 are expected within 24 hours.</description>
    <area>
      <areaDesc>Lanhai east</areaDesc>
      <polygon>{polygon}</polygon>
    </area>
  </info>
</alert>
""".encode()


def atom_feed(entries: list[tuple[str, str, str]], inline: dict[str, bytes] | None = None) -> bytes:
    """An Atom feed like NWS's or MeteoAlarm's: (id, updated, link to the CAP document) per entry;
    an entry whose id is in `inline` carries its alert in <content> instead."""
    parts = []
    for ident, updated, href in entries:
        alert = (inline or {}).get(ident)
        content = (
            f'<content type="application/cap+xml">{_without_declaration(alert)}</content>'
            if alert
            else f'<link rel="alternate" type="application/cap+xml" href="{href}"/>'
        )
        parts.append(
            f"<entry><id>{ident}</id><updated>{updated}</updated><title>alert</title>{content}</entry>"
        )
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n<feed xmlns="http://www.w3.org/2005/Atom">'
        "<id>urn:test:feed</id><title>Test agency</title><updated>2026-07-01T02:00:00Z</updated>"
        + "".join(parts)
        + "</feed>"
    ).encode()


def rss_feed(links: list[str]) -> bytes:
    """An RSS 2.0 feed like WMO's alert hub's: each item links to a CAP file."""
    items = "".join(
        f"<item><title>alert</title><link>{link}</link><guid>{link}</guid></item>" for link in links
    )
    return (
        f'<?xml version="1.0" encoding="UTF-8"?><rss version="2.0"><channel><title>Hub</title>{items}'
        "</channel></rss>"
    ).encode()


def _without_declaration(alert: bytes) -> str:
    text = alert.decode()
    return text.split("?>", 1)[1] if text.startswith("<?xml") else text
