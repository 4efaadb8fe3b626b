"""The crew leader's position sharing, for the crew page, and crew positions' age on the console map.

`render_position_sharing(ctx, crew_id)` draws a switch: off by default, nothing is shared until the
leader turns it on (the browser then asks its own permission). While on, the page's script
(dashboard/components/geolocation/share.js) watches the phone's position and posts a fix every
`SHARE_EVERY_SECONDS` to `POST /api/crews/positions` with the leader's session cookie; the route
takes them for the leader's own crew only. Fixes taken without coverage wait on the phone and go
when the connection is back, each with the time it was taken. The status line says what happened
(sent, refused and why, waiting, permission denied), in the page's language.
"""

from __future__ import annotations

import json
from dataclasses import replace
from functools import lru_cache
from pathlib import Path
from typing import Any

import streamlit as st

from dashboard.crew_positions_api import MAX_POSITIONS, PATH
from dashboard.i18n import current_language, local_time, t
from emergency.app.commands.dispatch import MarkOnSite
from emergency.app.context import Context
from emergency.core.models import Role
from emergency.dispatch.crews import MAX_REASON_CHARS
from emergency.dispatch.positions import ReasonNeeded, far

SCRIPT = Path(__file__).resolve().parent / "components" / "geolocation" / "share.js"
SHARE_EVERY_SECONDS = 15
RETRY_SECONDS = 15
MAX_QUEUED = 5000  # about 20 hours of fixes every 15 s without coverage
# The script's words, by the name it uses (keys spelled out so the catalogue's check finds them).
WORDS = {
    "off": "gps.share.off",
    "waiting_fix": "gps.share.waiting_fix",
    "sent": "gps.share.sent",
    "refused": "gps.share.refused",
    "waiting": "gps.share.waiting",
    "queue_full": "gps.share.queue_full",
    "denied": "gps.share.denied",
    "no_fix": "gps.share.no_fix",
    "offline": "gps.share.offline",
    "retry": "gps.share.retry",
    "signed_out": "gps.share.signed_out",
    "arrived": "gps.share.arrived",
    "unsupported": "gps.share.unsupported",
}


def share_key(crew_id: int) -> str:
    return f"crew-gps-share-{crew_id}"


@lru_cache(maxsize=1)
def _script() -> str:
    return SCRIPT.read_text(encoding="utf-8")


def sharing_config(ctx: Context, crew_id: int, share: bool) -> dict[str, Any]:
    """What the page's script is told: whether to share, where to post, and its words."""
    return {
        "share": share,
        "crew": crew_id,
        "endpoint": PATH,
        "everySeconds": SHARE_EVERY_SECONDS,
        "retrySeconds": RETRY_SECONDS,
        "batch": MAX_POSITIONS,
        "maxQueued": MAX_QUEUED,
        "tz": str(ctx.tz),
        "locale": "zh-CN" if current_language() == "zh" else "en-GB",
        "words": {word: t(key) for word, key in WORDS.items()},
    }


def sharing_html(config: dict[str, Any]) -> str:
    """The status line and the script, with `config` as JSON safe inside a <script> element."""
    data = json.dumps(config, ensure_ascii=False).replace("<", "\\u003c").replace(">", "\\u003e")
    data = data.replace("&", "\\u0026")
    return (
        '<p id="crew-gps-status" role="status" aria-live="polite"></p>'
        f"<script>{_script().replace('__CONFIG__', data)}</script>"
    )


def render_position_sharing(ctx: Context, crew_id: int) -> None:
    """The leader's switch to share the phone's position for `crew_id`, and the sharing status."""
    if ctx.actor.role != Role.CREW.value:
        # Only a crew leader's phone speaks for a crew; the route refuses anyone else anyway.
        st.info(t("gps.share.leaders_only"))
        return
    share = st.toggle(t("gps.share.toggle"), value=False, key=share_key(crew_id), help=t("gps.share.help"))
    st.caption(t("gps.share.consent"))
    st.html(sharing_html(sharing_config(ctx, crew_id, share)), unsafe_allow_javascript=True)


# --- a dispatcher's manual "on site" that GPS contradicts ---------------------------------------

REASON_KEY = "confirm-on-site-reason"


def reason_question(needed: ReasonNeeded, pending: Any) -> str:
    """The console's question again, saying where GPS puts the crew and asking why it is on site."""
    distance = far(needed.distance_m)
    when = local_time(needed.at, None, "%H:%M")
    return t("gps.reason.asked", crew=needed.crew, distance=distance, time=when) + " " + pending.question


def reason_input() -> str:
    """The reason a dispatcher gives, stored with the arrival (at most 500 characters)."""
    text: str = st.text_input(t("gps.reason.label"), max_chars=MAX_REASON_CHARS, key=REASON_KEY)
    return text.strip()


def with_reason(command: object, reason: str) -> MarkOnSite:
    assert isinstance(command, MarkOnSite), "only a manual on site asks for a reason"
    return replace(command, reason=reason)


def with_position_age(crews: dict[str, Any]) -> dict[str, Any]:
    """The crews' map collection with a `position` text for the tooltip: the position's age, and
    "stale" past `crew.position_stale_minutes` (emergency.network.territory.crew_collection)."""
    features = []
    for feature in crews["features"]:
        p = feature["properties"]
        if p.get("age") is None:
            text = t("gps.map.age_unknown")
        elif p.get("stale"):
            text = t("gps.map.age_stale", minutes=p["age"])
        else:
            text = t("gps.map.age", minutes=p["age"])
        features.append({**feature, "properties": {**p, "position": text}})
    return {**crews, "features": features}
