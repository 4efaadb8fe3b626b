"""Damage assessments through the bus: who may file one, what it checks and refuses, the ETR it sets
(source `assessment`, and how it ranks against system, crew and dispatcher ETRs), its photos with
EXIF for staff only, and the damage counts of the situation report (page and JSON agree)."""

from __future__ import annotations

import io
import json
from datetime import timedelta

import pytest
from PIL import Image
from sqlalchemy import func, select

from emergency.app.bus import execute
from emergency.app.commands import dispatch as dispatch_commands
from emergency.app.commands.assessment import FileAssessment
from emergency.app.queries import assessment as assessment_queries
from emergency.app.queries import dispatch as dispatch_queries
from emergency.app.queries import public as public_queries
from emergency.cli import main
from emergency.core.actor import Actor
from emergency.core.clock import FakeClock
from emergency.core.errors import Conflict, InvalidInput, PermissionDenied
from emergency.core.field_models import AssessmentPhoto, DamageAssessment
from emergency.core.models import AuditEvent, EtrChange, Outage, User
from emergency.core.settings import set_setting
from emergency.dispatch.etr import round_up
from emergency.reporting import sitrep_export
from tests.integration.test_sitrep import EVENT_START, event, local  # noqa: F401 (its fixture)
from tests.support.app_context import SHANGHAI, context_of
from tests.support.commands import submit_reports
from tests.support.small_territory import build_small_territory

DISPATCHER = Actor("dispatcher", "dispatcher")
MANAGER = Actor("manager", "manager")
HOTLINE = Actor("hotline-gateway", "intake")
LEADER_C1 = Actor("leader-c1", "crew")
LEADER_C2 = Actor("leader-c2", "crew")


def add_leaders(database, clock, crew_ids: dict[str, int]) -> None:
    with database.write() as session:
        for code in ("C1", "C2"):
            session.add(
                User(
                    username=f"leader-{code.lower()}",
                    display_name=f"Leader {code}",
                    role="crew",
                    password_hash="x",
                    active=True,
                    failed_logins=0,
                    created_at=clock.now(),
                    password_changed_at=clock.now(),
                    crew_id=crew_ids[code],
                )
            )


@pytest.fixture
def sent(database, clock):
    """An outage at TX-1 with crew C1 dispatched; crew leaders for C1 and C2."""
    territory = build_small_territory(database, clock)
    add_leaders(database, clock, territory.crew_ids)
    calls = [
        {
            "channel": "hotline",
            "kind": "no_power",
            "account_no": territory.account_by_transformer["TX-1"][i],
            "reported_at": clock.now().isoformat(),
        }
        for i in range(2)
    ]
    submit_reports(database, clock, HOTLINE, calls)
    clock.advance(minutes=2)
    (row,) = dispatch_queries.sla_board(context_of(database, clock, DISPATCHER))
    execute(
        context_of(database, clock, DISPATCHER),
        dispatch_commands.DispatchCrew(row.outage_id, territory.crew_ids["C1"], 1),
    )
    clock.advance(minutes=20)
    return {"outage": row.outage_id, **territory.crew_ids}


def outage_of(database, outage_id: int) -> Outage:
    with database.read() as session:
        outage = session.get(Outage, outage_id)
        assert outage is not None
        return outage


def counts(database) -> tuple[int, int]:
    with database.read() as session:
        return (
            session.scalar(select(func.count()).select_from(DamageAssessment)) or 0,
            session.scalar(select(func.count()).select_from(AssessmentPhoto)) or 0,
        )


def photo(make: str = "FieldCam") -> bytes:
    exif = Image.Exif()
    exif[0x010F] = make
    gps = exif.get_ifd(0x8825)
    gps[1], gps[2], gps[3], gps[4] = "N", (28.0, 3.0, 36.0), "E", (121.0, 3.0, 0.0)
    out = io.BytesIO()
    Image.new("RGB", (2400, 1800), (90, 60, 30)).save(out, format="JPEG", exif=exif)
    return out.getvalue()


def test_the_crews_leader_files_with_a_photo_and_the_etr_follows_with_source_assessment(
    database, clock, sent
) -> None:
    system_etr = outage_of(database, sent["outage"]).etr_at
    filed = execute(
        context_of(database, clock, LEADER_C1),
        FileAssessment(
            sent["outage"],
            "tree",
            150,
            equipment=("pole", "conductor", "pole"),
            poles_down=1,
            spans_down=2,
            photos=(("IMG_1.jpg", photo()),),
        ),
    )
    now = clock.now()
    assert filed.crew_id == sent["C1"] and filed.photos == 1 and filed.done_at == now
    expected = round_up(now + timedelta(minutes=150), 15)
    assert (filed.etr.set, filed.etr.etr_at, filed.etr.confidence) == (True, expected, "high")
    outage = outage_of(database, sent["outage"])
    assert (outage.etr_at, str(outage.etr_source), str(outage.etr_confidence)) == (
        expected,
        "assessment",
        "high",
    )
    assert expected != system_etr
    with database.read() as session:
        last = session.scalars(select(EtrChange).order_by(EtrChange.id.desc())).first()
        assert last is not None and (str(last.source), last.set_by) == ("assessment", "leader-c1")
        stored = session.scalars(select(DamageAssessment)).one()
        assert stored.equipment == ["pole", "conductor"]  # a kind chosen twice is kept once
        event = session.scalars(select(AuditEvent).where(AuditEvent.action == "outage.assessment")).one()
        assert event.actor == "leader-c1" and event.after["photos"] == 1

    # The control room sees it with the photo and its EXIF; the stored image has none.
    (view,) = assessment_queries.outage_assessments(context_of(database, clock, DISPATCHER), sent["outage"])
    (shown,) = view.photos
    assert view.crew_code == "C1" and (shown.width, shown.height) == (1600, 1200)
    assert shown.exif["Make"] == "FieldCam" and shown.exif["gps_lat"] == pytest.approx(28.06)
    assert b"FieldCam" not in shown.data
    with pytest.raises(PermissionDenied):
        assessment_queries.outage_assessments(context_of(database, clock, Actor("public", "public")), 1)


def test_no_public_output_or_export_carries_a_photos_exif(database, clock, sent) -> None:
    execute(
        context_of(database, clock, LEADER_C1),
        FileAssessment(sent["outage"], "wind", 60, photos=(("p.jpg", photo("SecretCam-77")),)),
    )
    snapshot = public_queries.public_snapshot(context_of(database, clock, Actor("public", "public")))
    public_text = json.dumps(snapshot, default=str)
    report = execute_report(database, clock)
    exports = sitrep_export.to_markdown(report, "en", SHANGHAI).encode() + sitrep_export.to_xlsx(
        report, "zh", SHANGHAI
    )
    for text in (public_text.encode(), exports):
        assert b"SecretCam-77" not in text and b"28.06" not in text and b"gps" not in text.lower()
    # The report does count the damage.
    assert report.damage is not None and report.damage.outages_assessed == 1


def execute_report(database, clock):
    from emergency.app.queries import reporting

    return reporting.situation_report(
        context_of(database, clock, MANAGER), "quick", clock.now() - timedelta(hours=2)
    )


def test_a_leader_of_another_crew_and_a_leader_without_a_crew_are_refused(database, clock, sent) -> None:
    with pytest.raises(PermissionDenied, match="is not your crew's work"):
        execute(context_of(database, clock, LEADER_C2), FileAssessment(sent["outage"], "tree", 60))
    with pytest.raises(PermissionDenied, match="only for their own crew"):
        execute(
            context_of(database, clock, LEADER_C1),
            FileAssessment(sent["outage"], "tree", 60, crew_id=sent["C2"]),
        )
    with pytest.raises(PermissionDenied, match="not the leader of any crew"):
        execute(
            context_of(database, clock, Actor("nobody-crew", "crew")),
            FileAssessment(sent["outage"], "tree", 60),
        )
    for role in ("public", "admin", "intake", "crew_position"):
        with pytest.raises(PermissionDenied):
            execute(
                context_of(database, clock, Actor(f"x-{role}", role)),
                FileAssessment(sent["outage"], "tree", 60),
            )
    assert counts(database) == (0, 0)


@pytest.mark.parametrize(
    ("changes", "field", "reason"),
    [
        ({"cause": "aliens"}, "cause", "unknown cause 'aliens'"),
        ({"equipment": ("pole", "spaceship")}, "equipment", "unknown equipment 'spaceship'"),
        ({"poles_down": -1}, "poles_down", "between 0 and 1000"),
        ({"spans_down": 1001}, "spans_down", "between 0 and 1000"),
        ({"repair_minutes": 0}, "repair_minutes", "between 1 and 20160 minutes"),
        ({"notes": "x" * 4001}, "notes", "4001 characters; at most 4000"),
        ({"access": "y" * 1001}, "access", "1001 characters; at most 1000"),
        ({"materials": "z" * 1001}, "materials", "at most 1000"),
        ({"photos": (("a.jpg", b"not an image"),)}, "photos", "a.jpg is not an image"),
        (
            {"photos": tuple((f"{i}.jpg", b"") for i in range(7))},
            "photos",
            "7 photos; an assessment holds at most 6",
        ),
    ],
)
def test_what_cannot_be_stored_is_refused_with_its_reason_and_nothing_is_kept(
    database, clock, sent, changes, field, reason
) -> None:
    values = {"outage_id": sent["outage"], "cause": "tree", "repair_minutes": 60, **changes}
    with pytest.raises(InvalidInput) as refused:
        execute(context_of(database, clock, DISPATCHER), FileAssessment(**values))
    assert refused.value.field == field and reason in refused.value.reason
    assert counts(database) == (0, 0)


def test_an_assessment_done_offline_counts_from_when_it_was_done_and_is_audited_with_both_times(
    database, clock, sent
) -> None:
    done = clock.now() - timedelta(minutes=15)
    filed = execute(
        context_of(database, clock, LEADER_C1),
        FileAssessment(sent["outage"], "lightning", 120, done_at=done, access="road flooded"),
    )
    assert filed.done_at == done and filed.at == clock.now()
    assert (filed.etr.etr_at, filed.etr.confidence) == (round_up(done + timedelta(minutes=120), 15), "medium")
    with database.read() as session:
        event = session.scalars(select(AuditEvent).where(AuditEvent.action == "outage.assessment")).one()
        assert event.after["done_at"] == done.isoformat() and event.after["at"] == clock.now().isoformat()
        assert done.isoformat() in (event.detail or "") and clock.now().isoformat() in (event.detail or "")

    # Entered so late that its repair time has run out: kept, but no past ETR is published.
    late = execute(
        context_of(database, clock, LEADER_C1),
        FileAssessment(sent["outage"], "lightning", 10, done_at=clock.now() - timedelta(minutes=21)),
    )
    assert (late.etr.set, late.etr.reason) == (False, "passed")
    assert outage_of(database, sent["outage"]).etr_at == filed.etr.etr_at

    for when, reason in (
        (clock.now() + timedelta(minutes=10), "ahead of now"),
        (clock.now() - timedelta(hours=25), "before outage"),
    ):
        with pytest.raises(InvalidInput, match=reason):
            execute(
                context_of(database, clock, LEADER_C1),
                FileAssessment(sent["outage"], "tree", 60, done_at=when),
            )
    with database.write() as session:
        set_setting(session, "assessment.max_offline_hours", 0.25, clock)
    with pytest.raises(InvalidInput, match=r"more than 0\.25 hours ago"):
        execute(
            context_of(database, clock, LEADER_C1),
            FileAssessment(sent["outage"], "tree", 60, done_at=clock.now() - timedelta(minutes=16)),
        )
    assert counts(database)[0] == 2


def test_a_system_estimate_yields_to_an_assessment_and_a_later_dispatcher_etr_wins(
    database, clock, sent
) -> None:
    ctx = context_of(database, clock, LEADER_C1)
    filed = execute(ctx, FileAssessment(sent["outage"], "wind", 180))
    # A second crew dispatched: its system estimate does not replace the assessment's ETR.
    execute(
        context_of(database, clock, DISPATCHER), dispatch_commands.DispatchCrew(sent["outage"], sent["C2"], 1)
    )
    assert outage_of(database, sent["outage"]).etr_at == filed.etr.etr_at
    assert str(outage_of(database, sent["outage"]).etr_source) == "assessment"
    # A dispatcher's ETR after it wins...
    clock.advance(minutes=5)
    dispatcher_etr = clock.now() + timedelta(hours=5)
    execute(
        context_of(database, clock, DISPATCHER),
        dispatch_commands.SetEtr(sent["outage"], dispatcher_etr, "medium", "dispatcher", None),
    )
    # ...and an assessment done before it (entered late, from offline) does not undo it.
    clock.advance(minutes=5)
    earlier = execute(
        ctx, FileAssessment(sent["outage"], "wind", 240, done_at=clock.now() - timedelta(minutes=8))
    )
    assert (earlier.etr.set, earlier.etr.reason) == (False, "dispatcher_later")
    assert outage_of(database, sent["outage"]).etr_at == dispatcher_etr
    # A new assessment done after the dispatcher's ETR is newer knowledge and sets it again.
    newer = execute(ctx, FileAssessment(sent["outage"], "wind", 60))
    assert newer.etr.set and outage_of(database, sent["outage"]).etr_at == newer.etr.etr_at


def test_a_cancelled_outage_cannot_be_assessed(database, clock, sent) -> None:
    version = outage_of(database, sent["outage"]).version
    execute(
        context_of(database, clock, DISPATCHER),
        dispatch_commands.CancelOutage(sent["outage"], "duplicate", version),
    )
    with pytest.raises(Conflict, match="cannot be assessed"):
        execute(context_of(database, clock, DISPATCHER), FileAssessment(sent["outage"], "tree", 60))


# --- the situation report -----------------------------------------------------------------------


def file_at(database, when, actor: Actor, outage_id: int, cause: str, poles: int, spans: int, **more):
    return execute(
        context_of(database, FakeClock(when), actor),
        FileAssessment(outage_id, cause, 90, poles_down=poles, spans_down=spans, **more),
    )


def test_the_report_counts_damage_by_cause_and_device_district_and_the_json_agrees(
    database, request, capsys, monkeypatch
) -> None:
    ids = request.getfixturevalue("event")  # test_sitrep's event, by its outages' letters
    a, b, c = ids["A"], ids["B"], ids["C"]
    file_at(database, local(1, 30), DISPATCHER, a, "tree", 2, 3)
    file_at(database, local(6), MANAGER, c, "wind", 1, 0)
    file_at(database, local(6, 30), DISPATCHER, c, "equipment_failure", 0, 2)  # the newest counts
    # B's assessment is recorded at 09:00 (done at 07:50, offline): not in a report made as of 08:20.
    file_at(database, local(9), DISPATCHER, b, "flood", 4, 4, done_at=local(7, 50))

    ctx = context_of(database, FakeClock(local(8, 20)), MANAGER)
    from emergency.app.queries import reporting

    page = reporting.situation_report(ctx, "quick", EVENT_START)
    damage = page.damage
    assert damage is not None
    assert (damage.outages_assessed, damage.outages_not_assessed) == (2, 1)
    assert (damage.poles_down, damage.spans_down) == (2, 5)
    assert damage.by_cause == {"tree": 1, "equipment_failure": 1}
    lines = {d.code: (d.assessed, d.not_assessed, d.poles_down, d.spans_down) for d in damage.districts}
    assert lines == {"W": (1, 1, 2, 3), "E": (1, 0, 0, 2)}

    monkeypatch.setenv("OUTAGE_TZ", "Asia/Shanghai")
    capsys.readouterr()
    assert (
        main(
            [
                "--db",
                database.url,
                "report",
                "sitrep",
                "--from",
                "2026-07-01",
                "--to",
                "2026-07-01T08:20",
                "--json",
            ]
        )
        == 0
    )
    data = json.loads(capsys.readouterr().out)["damage"]
    assert data["outages_assessed"] == damage.outages_assessed
    assert data["outages_not_assessed"] == damage.outages_not_assessed
    assert (data["poles_down"], data["spans_down"]) == (damage.poles_down, damage.spans_down)
    assert data["by_cause"] == damage.by_cause
    assert {
        d["code"]: (d["assessed"], d["not_assessed"], d["poles_down"], d["spans_down"])
        for d in data["districts"]
    } == lines

    markdown = sitrep_export.to_markdown(page, "en", SHANGHAI)
    assert "| Total | — | 2 | 1 | 2 | 5 |" in markdown
    assert "| equipment failure | 1 |" in markdown and "| trees | 1 |" in markdown
    chinese = sitrep_export.to_markdown(page, "zh", SHANGHAI)
    assert "倒杆（基）" in chinese and "| 合计 | — | 2 | 1 | 2 | 5 |" in chinese

    # Later, B's assessment is in.
    later = reporting.situation_report(
        context_of(database, FakeClock(local(9, 30)), MANAGER), "quick", EVENT_START
    )
    assert later.damage is not None and later.damage.outages_not_assessed == 0
    assert later.damage.poles_down == 6
