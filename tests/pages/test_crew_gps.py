"""The crew leader's position sharing (dashboard/crew_gps.py) in a tiny script (AppTest): off until
the leader turns it on, then the page's script is told to share for that crew and post to our route;
words in the page's language; anyone but a crew leader is told it is not for them."""

from __future__ import annotations

import json
import re
from typing import Any

from streamlit.testing.v1 import AppTest

from dashboard.crew_gps import sharing_html, with_position_age
from dashboard.crew_positions_api import PATH


def sharing_script(role: str, language: str) -> None:
    from zoneinfo import ZoneInfo

    import streamlit as st

    from dashboard.crew_gps import render_position_sharing
    from emergency.app.context import Context
    from emergency.core.actor import Actor

    st.session_state.setdefault("lang", language)
    ctx = Context(None, None, Actor("lead1", role), ZoneInfo("Asia/Shanghai"))  # type: ignore[arg-type]
    render_position_sharing(ctx, 7)


def run(role: str = "crew", language: str = "en") -> AppTest:
    at = AppTest.from_function(sharing_script, args=(role, language), default_timeout=30)
    at.run()
    assert not at.exception, at.exception
    return at


def config_of(at: AppTest) -> dict[str, Any]:
    (element,) = at.get("html")
    body = element.proto.body
    match = re.search(r"\}\)\((\{.*\})\);\s*</script>", body, re.S)
    assert match is not None, body[:300]
    return json.loads(match.group(1))


def test_sharing_is_off_until_the_leader_turns_it_on() -> None:
    at = run()
    (switch,) = at.toggle
    assert switch.label == "Share my position" and switch.value is False
    assert config_of(at)["share"] is False
    switch.set_value(True).run()
    config = config_of(at)
    assert config["share"] is True and config["crew"] == 7 and config["endpoint"] == PATH
    assert config["words"]["denied"].startswith("Location permission denied")
    assert config["tz"] == "Asia/Shanghai"


def test_the_words_follow_the_page_language() -> None:
    at = run(language="zh")
    assert at.toggle[0].label == "共享我的位置"
    assert config_of(at)["words"]["off"] == "未共享位置。"


def test_only_a_crew_leader_is_offered_sharing() -> None:
    at = run(role="dispatcher")
    assert not at.toggle and not at.get("html")
    assert "Only a crew leader" in at.info[0].value


def test_the_script_cannot_be_broken_out_of_by_its_words() -> None:
    html = sharing_html({"share": True, "words": {"off": "</script><script>alert(1)</script>"}})
    assert html.count("</script>") == 1 and "\\u003c/script\\u003e" in html


def test_a_crews_position_age_is_said_and_stale_ones_are_marked() -> None:
    def feature(age: int | None, stale: bool) -> dict[str, Any]:
        return {"type": "Feature", "geometry": {}, "properties": {"code": "C", "age": age, "stale": stale}}

    crews = {
        "type": "FeatureCollection",
        "features": [feature(3, False), feature(25, True), feature(None, False)],
    }
    texts = [f["properties"]["position"] for f in with_position_age(crews)["features"]]
    assert texts == ["position 3 min ago", "STALE: position 25 min ago", "position time unknown"]
