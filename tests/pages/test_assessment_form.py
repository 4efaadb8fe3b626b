"""The damage-assessment form (for the crew page, phone first) and the control room's view, each
run standalone in AppTest: filing names the outage and its new ETR, a refusal keeps what was typed,
words in both languages, and the view shows the newest assessment first."""

from __future__ import annotations

from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select
from streamlit.testing.v1 import AppTest

from emergency.app.bus import execute
from emergency.app.commands import dispatch as dispatch_commands
from emergency.app.commands.assessment import FileAssessment
from emergency.app.context import Context
from emergency.core.actor import Actor
from emergency.core.clock import SYSTEM_CLOCK
from emergency.core.db import Database
from emergency.core.field_models import DamageAssessment
from emergency.core.models import Outage, User
from tests.support.commands import submit_reports


def _form_script(url: str, outage_id: int, crew_id: int | None, username: str, role: str, lang: str) -> None:
    from zoneinfo import ZoneInfo

    import streamlit as st

    from dashboard.assessment_form import render_assessment_form
    from dashboard.services import get_database
    from emergency.app.context import Context
    from emergency.core.actor import Actor
    from emergency.core.clock import SYSTEM_CLOCK

    st.session_state.setdefault("lang", lang)
    ctx = Context(get_database(url), SYSTEM_CLOCK, Actor(username, role), ZoneInfo("Asia/Shanghai"))
    render_assessment_form(ctx, outage_id, crew_id)


def _view_script(url: str, outage_id: int) -> None:
    from zoneinfo import ZoneInfo

    from dashboard.assessment_view import render_assessments
    from dashboard.services import get_database
    from emergency.app.context import Context
    from emergency.core.actor import Actor
    from emergency.core.clock import SYSTEM_CLOCK

    ctx = Context(
        get_database(url), SYSTEM_CLOCK, Actor("dispatcher", "dispatcher"), ZoneInfo("Asia/Shanghai")
    )
    render_assessments(ctx, outage_id)


@pytest.fixture
def job(territory_db, clock):
    """An outage at TX-1 with crew C1 sent, and C1's leader."""
    url, territory = territory_db
    db = Database(url)
    with db.write() as session:
        session.add(
            User(
                username="leader-c1",
                display_name="Leader C1",
                role="crew",
                password_hash="x",
                active=True,
                failed_logins=0,
                created_at=clock.now(),
                password_changed_at=clock.now(),
                crew_id=territory.crew_ids["C1"],
            )
        )
    calls = [
        {"channel": "hotline", "kind": "no_power", "account_no": a, "reported_at": clock.now().isoformat()}
        for a in territory.account_by_transformer["TX-1"][:2]
    ]
    submit_reports(db, clock, Actor("hotline", "intake"), calls)
    with db.read() as session:
        outage_id = session.scalars(select(Outage.id)).one()
    ctx = Context(db, clock, Actor("dispatcher", "dispatcher"), ZoneInfo("Asia/Shanghai"))
    execute(ctx, dispatch_commands.DispatchCrew(outage_id, territory.crew_ids["C1"], 1))
    return url, outage_id, territory.crew_ids["C1"], db


def form(url: str, outage_id: int, crew_id: int | None, lang: str = "en") -> AppTest:
    app = AppTest.from_function(
        _form_script, args=(url, outage_id, crew_id, "leader-c1", "crew", lang), default_timeout=30
    )
    return app.run()


def test_a_crew_leader_files_an_assessment_and_is_told_the_new_etr(job) -> None:
    url, outage_id, crew_id, db = job
    app = form(url, outage_id, crew_id)
    assert not app.exception
    assert app.subheader[0].value == f"Damage assessment · outage {outage_id}"
    app.selectbox[0].set_value("tree")
    app.multiselect[0].set_value(["pole", "conductor"])
    app.number_input[0].set_value(2)  # poles
    app.number_input[1].set_value(3)  # spans
    app.number_input[2].set_value(2)  # hours
    app.number_input[3].set_value(30)  # minutes
    app.text_area[2].set_value("Pine across the road; line on the ground.")
    assert app.text_area[2].max_chars == 4000 and app.text_area[0].max_chars == 1000
    app.button[0].click().run()
    assert not app.exception
    assert [s.value for s in app.success] == [f"Assessment filed for outage {outage_id} with 0 photo(s)."]
    assert app.info[0].value.startswith(f"ETR of outage {outage_id} is now ")
    assert "(high confidence)" in app.info[0].value
    with db.read() as session:
        stored = session.scalars(select(DamageAssessment)).one()
        assert (str(stored.cause), stored.equipment, stored.poles_down, stored.spans_down) == (
            "tree",
            ["pole", "conductor"],
            2,
            3,
        )
        assert stored.repair_minutes == 150 and stored.crew_id == crew_id and stored.by == "leader-c1"
        assert stored.notes == "Pine across the road; line on the ground."
        assert str(db_outage(session, outage_id).etr_source) == "assessment"
    # The next form is empty: a second tap does not file the same assessment again.
    assert app.text_area[2].value == "" and app.number_input[0].value == 0


def db_outage(session, outage_id: int) -> Outage:
    outage = session.get(Outage, outage_id)
    assert outage is not None
    return outage


def test_a_refusal_says_why_and_keeps_what_was_typed(job) -> None:
    url, outage_id, crew_id, db = job
    app = form(url, outage_id, crew_id)
    app.text_area[2].set_value("Two poles leaning, need a digger.")
    app.button[0].click().run()  # no repair time
    assert [e.value for e in app.error] == ["Enter the repair time (hours and minutes)."]
    assert app.text_area[2].value == "Two poles leaning, need a digger."
    # Another crew's leader form for an outage that is not theirs: refused with the reason.
    other = AppTest.from_function(
        _form_script, args=(url, outage_id, None, "nobody", "crew", "en"), default_timeout=30
    ).run()
    other.number_input[2].set_value(1)
    other.button[0].click().run()
    assert "not the leader of any crew" in other.error[0].value
    with db.read() as session:
        assert session.scalars(select(DamageAssessment)).first() is None


def test_the_form_speaks_chinese(job) -> None:
    url, outage_id, crew_id, _ = job
    app = form(url, outage_id, crew_id, lang="zh")
    assert app.subheader[0].value == f"现场勘察 · 停电事件 {outage_id}"
    assert app.selectbox[0].label == "原因"
    assert app.button[0].label == f"提交停电事件 {outage_id} 的勘察"


def test_the_control_room_sees_the_newest_assessment_first(job) -> None:
    url, outage_id, _, db = job
    ctx = Context(db, SYSTEM_CLOCK, Actor("leader-c1", "crew"), ZoneInfo("Asia/Shanghai"))
    execute(ctx, FileAssessment(outage_id, "wind", 60, notes="first look"))
    execute(ctx, FileAssessment(outage_id, "tree", 125, poles_down=3, notes="<b>closer</b> look"))
    app = AppTest.from_function(_view_script, args=(url, outage_id), default_timeout=30).run()
    assert not app.exception
    labels = [e.label for e in app.expander]
    assert len(labels) == 2
    assert "Trees · repair 2 h 5 min · by leader-c1, crew C1 (the one that counts)" in labels[0]
    assert "Wind" in labels[1] and "counts" not in labels[1]
    assert any(t.value == "Notes: <b>closer</b> look" for t in app.text)


def test_the_photo_uploader_takes_phone_formats_within_the_size_limit(job) -> None:
    url, outage_id, crew_id, _ = job
    app = form(url, outage_id, crew_id)
    (uploader,) = app.get("file_uploader")
    assert set(uploader.proto.type) == {".jpg", ".jpeg", ".png", ".heic", ".heif"}
    assert uploader.proto.multiple_files is True
    assert uploader.proto.max_upload_size_mb == 15
    assert any("At most 6 photos of up to 15 MB each" in c.value for c in app.caption)
