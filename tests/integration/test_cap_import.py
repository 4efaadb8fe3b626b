"""Importing what agencies publish (tests/data/cap/), on SQLite and PostgreSQL: each alert of the set
lands as the rules of emergency.warnings.cap_import say, and the draft says where it came from."""

from __future__ import annotations

import threading
from datetime import timedelta
from pathlib import Path

import pytest
import shapely
from shapely.geometry import shape
from sqlalchemy import select

from emergency.app.bus import execute
from emergency.app.commands.warnings import (
    ChooseDraftLevel,
    EditDraft,
    ImportCapAlert,
    IssueWarning,
    SetCapGeocodeDistricts,
)
from emergency.app.queries.warnings import cap_geocode_table, cap_original, cap_provenance, warning_detail
from emergency.cli import main
from emergency.core.actor import Actor
from emergency.core.clock import SystemClock
from emergency.core.errors import Conflict, InvalidInput
from emergency.core.models import CapMessage, Notification, NotificationChannel
from emergency.core.models import Warning as WarningRow
from emergency.warnings.area import DistrictsArea
from emergency.warnings.cap_import import import_alert, parse_geocode_csv
from emergency.warnings.records import WarningInput
from tests.support.app_context import context_of
from tests.support.small_territory import build_small_territory

MANAGER = Actor("meng", "manager")
CAP_DIR = Path(__file__).resolve().parents[1] / "data" / "cap"


def alert(name: str) -> bytes:
    return (CAP_DIR / name).read_bytes()


@pytest.fixture
def territory(database, clock):
    return build_small_territory(database, clock)


def imported(database, clock, name: str, **options) -> int:
    outcome = execute(context_of(database, clock, MANAGER), ImportCapAlert(alert(name), **options))
    assert outcome.warning_id is not None
    return outcome.warning_id


def row(database, warning_id: int) -> WarningRow:
    with database.read() as session:
        return session.get(WarningRow, warning_id)


def notes_of(database, clock, warning_id: int) -> list[tuple[str, dict[str, str]]]:
    return [n for p in cap_provenance(context_of(database, clock, MANAGER), warning_id) for n in p.notes]


def codes(notes) -> list[str]:
    return [code for code, _values in notes]


def issue(database, clock, warning_id: int):
    return execute(
        context_of(database, clock, MANAGER), IssueWarning(warning_id, row(database, warning_id).version)
    )


def test_the_set_has_at_least_eight_alerts():
    assert len(list(CAP_DIR.glob("*.xml"))) >= 8


def test_a_hurricane_warning_keeps_its_whole_text_and_everything_the_agency_wrote(database, clock, territory):
    warning_id = imported(database, clock, "nws_hurricane_warning.xml")
    warning = row(database, warning_id)
    assert (warning.status, warning.hazard, warning.level) == ("draft", "typhoon", "red")
    assert warning.area_districts == ["W"]
    # The description is far past the 4,000 characters a manager types, and kept whole.
    assert len(warning.text_en) > 5000
    assert warning.text_en.startswith("* LOCATIONS AFFECTED")
    assert warning.text_en.endswith("a sturdy building before the strongest winds arrive.")
    # No Chinese block: the Chinese title is not given, never a copy of the English.
    assert warning.title_zh == ""
    ctx = context_of(database, clock, MANAGER)
    (source,) = cap_provenance(ctx, warning_id)
    assert (source.sender, source.sender_name, source.msg_type, source.status) == (
        "w-nws.webmaster@noaa.gov",
        "NWS Miami FL",
        "Alert",
        "Actual",
    )
    assert source.identifier.startswith("urn:oid:2.49.0.1.840.0.6b1f")
    assert source.sent.isoformat() == "2026-07-01T01:32:00+00:00"
    assert (source.level_from, source.area_from) == ("severity", "polygon")
    (info,) = source.infos
    assert (
        info.language == "en-US" and info.web == "http://www.weather.gov" and info.contact == "NWS Miami FL"
    )
    assert ("VTEC", "/O.CON.KMFL.HU.W.1009.000000T0000Z-000000T0000Z/") in info.parameters
    assert ("SAME", "HUW") in info.event_codes and ("UGC", "FLZ173") in info.geocodes
    assert cap_original(ctx, warning_id, source.identifier) == alert("nws_hurricane_warning.xml").decode()
    assert {"level_severity", "no_chinese"} <= set(codes(source.notes))
    # The manager writes the Chinese title before it can go out.
    assert warning_detail(ctx, warning_id).needs == ("title_zh",)
    with pytest.raises(InvalidInput, match="no Chinese title"):
        issue(database, clock, warning_id)


def test_a_meteoalarm_alert_takes_its_colour_from_awareness_level_and_keeps_the_french(
    database, clock, territory
):
    warning_id = imported(database, clock, "meteoalarm_wind_fr.xml")
    warning = row(database, warning_id)
    assert (warning.level, warning.hazard, warning.title_en) == ("yellow", "gale", "Yellow wind warning")
    assert warning.area_districts == ["E"]
    (source,) = cap_provenance(context_of(database, clock, MANAGER), warning_id)
    assert source.level_from == "awareness_level"
    assert ("level_awareness_level", {"detail": "2; yellow; Moderate"}) in source.notes
    french, english = source.infos
    assert (french.language, french.headline, french.sender_name) == (
        "fr-FR",
        "Vigilance jaune vent violent",
        "Météo-France",
    )
    assert french.instruction.startswith("Limitez vos déplacements.")
    assert english.language == "en-GB"


def test_a_chinese_typhoon_warning_is_orange_from_its_words_with_its_chinese_title(
    database, clock, territory
):
    warning_id = imported(database, clock, "cma_typhoon_orange_zh.xml")
    warning = row(database, warning_id)
    assert (warning.hazard, warning.level) == ("typhoon", "orange")
    assert warning.title_zh == "澜海市气象台发布台风橙色预警信号"
    assert warning.text_zh.startswith("澜海市气象台2026年07月01日09时30分发布台风橙色预警信号")
    assert "停课，停业" in warning.text_zh  # the instruction is part of the text
    assert warning.area_districts == ["E", "W"]
    notes = notes_of(database, clock, warning_id)
    assert ("level_colour_text", {"detail": "澜海市气象台发布台风橙色预警信号"}) in notes
    assert ("no_english", {"language": "zh-CN"}) in notes


def test_a_geocode_only_alert_asks_for_its_area_until_the_table_maps_it(database, clock, territory):
    warning_id = imported(database, clock, "bom_thunderstorm_geocode_only.xml")
    warning = row(database, warning_id)
    assert (warning.status, warning.area_kind, warning.area_districts, warning.level) == (
        "draft",
        "none",
        [],
        "orange",
    )
    assert (
        "geocode_unmapped",
        {"codes": "AMOC-ForecastDistrict:QLD_PW001, AMOC-ForecastDistrict:QLD_PW017"},
    ) in (notes_of(database, clock, warning_id))
    ctx = context_of(database, clock, MANAGER)
    assert "area" in warning_detail(ctx, warning_id).needs
    with pytest.raises(InvalidInput, match="draw or pick the area"):
        issue(database, clock, warning_id)
    # The manager picks the area on the draft: it can go out (the Chinese title written too).
    detail = warning_detail(ctx, warning_id)
    edited = WarningInput(
        hazard=detail.row.hazard,
        level=detail.row.level,
        readiness_level=None,
        title_en=detail.row.title_en,
        title_zh="雷暴大风橙色预警",
        text_en=detail.text_en,
        text_zh="",
        area=DistrictsArea(("W",)),
        effective_at=detail.row.effective_at,
        expires_at=detail.row.expires_at,
    )
    execute(ctx, EditDraft(warning_id, detail.row.version, edited))
    assert warning_detail(ctx, warning_id).needs == ()
    assert issue(database, clock, warning_id).warning_id == warning_id
    assert cap_provenance(ctx, warning_id)[0].area_from == "manager"


def test_the_utilitys_geocode_table_gives_a_geocode_only_alert_its_districts(database, clock, territory):
    ctx = context_of(database, clock, MANAGER)
    rows = parse_geocode_csv("value_name,value,district\nAMOC-ForecastDistrict,QLD_PW001,W\n")
    assert execute(ctx, SetCapGeocodeDistricts(rows)) == 1
    assert cap_geocode_table(ctx) == (("AMOC-ForecastDistrict", "QLD_PW001", "W"),)
    warning_id = imported(database, clock, "bom_thunderstorm_geocode_only.xml")
    warning = row(database, warning_id)
    assert (warning.area_kind, warning.area_districts) == ("districts", ["W"])
    (source,) = cap_provenance(ctx, warning_id)
    assert source.area_from == "geocode"
    assert ("area_geocode", {"districts": "W"}) in source.notes
    assert ("geocode_unmapped", {"codes": "AMOC-ForecastDistrict:QLD_PW017"}) in source.notes


def test_a_geocode_table_naming_an_unknown_district_is_refused_whole(database, clock, territory):
    ctx = context_of(database, clock, MANAGER)
    with pytest.raises(InvalidInput, match="row 2: no district 'NOPE'"):
        execute(ctx, SetCapGeocodeDistricts((("UGC", "FLZ173", "W"), ("UGC", "FLZ174", "NOPE"))))
    assert cap_geocode_table(ctx) == ()
    with pytest.raises(InvalidInput, match="first row must be value_name,value,district"):
        parse_geocode_csv("code,district\nFLZ173,W\n")


def test_one_bad_ring_among_six_is_repaired_and_one_without_area_dropped(database, clock, territory):
    warning_id = imported(database, clock, "metservice_wind_bad_ring.xml")
    warning = row(database, warning_id)
    assert (warning.level, warning.hazard, warning.area_kind) == ("yellow", "gale", "cap")
    assert warning.area_districts == ["E", "W"]
    notes = notes_of(database, clock, warning_id)
    repaired = [values for code, values in notes if code == "ring_repaired"]
    assert [(v["ring"], v["parts"]) for v in repaired] == [("3", "2")]
    assert "Self-intersection" in repaired[0]["why"]
    assert [v["ring"] for code, v in notes if code == "ring_dropped"] == ["5"]
    # Three squares of 0.03 x 0.03 degrees, the bow tie's two triangles and the 0.06 x 0.04 block.
    expected = 3 * 0.03 * 0.03 + 2 * (0.03 * 0.015 / 2) + 0.06 * 0.04
    assert shape(warning.area).area == pytest.approx(expected, rel=1e-6)
    assert shapely.is_valid(shape(warning.area))


def test_an_update_changes_the_draft_made_from_the_earlier_message(database, clock, territory):
    warning_id = imported(database, clock, "nws_hurricane_warning.xml")
    outcome = execute(
        context_of(database, clock, MANAGER), ImportCapAlert(alert("nws_hurricane_warning_update.xml"))
    )
    assert (outcome.kind, outcome.warning_id) == ("updated", warning_id)
    warning = row(database, warning_id)
    assert warning.title_en == "Hurricane Warning issued July 1 at 5:15AM EDT by NWS Miami FL"
    assert warning.area_districts == ["E", "W"]
    assert warning.expires_at.isoformat() == "2026-07-02T09:15:00+00:00"
    assert warning.cap_identifier.startswith("urn:oid:2.49.0.1.840.0.0d4f")
    history = cap_provenance(context_of(database, clock, MANAGER), warning_id)
    assert [(p.msg_type, p.outcome) for p in history] == [("Alert", "created"), ("Update", "updated")]


def test_an_update_to_an_issued_warning_waits_for_a_person_and_tells_the_duty_manager(
    database, clock, territory
):
    warning_id = imported(database, clock, "cma_typhoon_orange_zh.xml")
    issue(database, clock, warning_id)
    before = row(database, warning_id)
    update = (
        alert("cma_typhoon_orange_zh.xml")
        .replace(b"<msgType>Alert</msgType>", b"<msgType>Update</msgType>")
        .replace(b"_20260701093000</identifier>", b"_20260701120000</identifier>")
        .replace(
            b"<scope>Public</scope>",
            b"<scope>Public</scope><references>33030041600000,33030041600000_20260701093000,"
            b"2026-07-01T09:30:00+08:00</references>",
        )
        .replace("橙色预警信号".encode(), "红色预警信号".encode())
    )
    outcome = execute(context_of(database, clock, MANAGER), ImportCapAlert(update))
    assert (outcome.kind, outcome.warning_id) == ("updated", warning_id)
    assert "awaiting_publish" in [n.code for n in outcome.notes]
    after = row(database, warning_id)
    assert (after.level, after.version, after.title_zh) == (before.level, before.version, before.title_zh)
    with database.read() as session:
        (notice,) = session.scalars(
            select(Notification).where(Notification.channel == NotificationChannel.DUTY)
        )
    assert notice.template == "warning.agency_update" and notice.subject_id == warning_id
    assert "请核对后发布更新" in notice.body


def test_a_cancel_discards_the_draft_made_from_the_earlier_message(database, clock, territory):
    warning_id = imported(database, clock, "cma_typhoon_orange_zh.xml")
    outcome = execute(
        context_of(database, clock, MANAGER), ImportCapAlert(alert("cma_typhoon_cancel_zh.xml"))
    )
    assert (outcome.kind, outcome.warning_id) == ("cancelled", warning_id)
    assert row(database, warning_id).status == "discarded"


def test_a_cancel_withdraws_an_issued_warning_through_the_normal_cancel(database, clock, territory):
    warning_id = imported(database, clock, "cma_typhoon_orange_zh.xml")
    issue(database, clock, warning_id)
    clock.advance(hours=2)
    outcome = execute(
        context_of(database, clock, MANAGER), ImportCapAlert(alert("cma_typhoon_cancel_zh.xml"))
    )
    assert (outcome.kind, outcome.warning_id) == ("cancelled", warning_id)
    warning = row(database, warning_id)
    assert (warning.status, warning.cap_msg_type) == ("cancelled", "Cancel")
    detail = warning_detail(context_of(database, clock, MANAGER), warning_id)
    assert detail.revisions[-1].note.startswith(
        "cancelled by 澜海市气象台 (CAP 33030041600000_20260701180000)"
    )
    with database.read() as session:
        (notice,) = session.scalars(
            select(Notification).where(Notification.channel == NotificationChannel.DUTY)
        )
    assert notice.template == "warning.agency_cancel" and "has been withdrawn here" in notice.body


def test_a_cancel_or_update_of_a_message_never_seen(database, clock, territory):
    ctx = context_of(database, clock, MANAGER)
    with pytest.raises(InvalidInput, match="cancels a message that was never imported here"):
        execute(ctx, ImportCapAlert(alert("cma_typhoon_cancel_zh.xml")))
    # An Update carries the whole current warning: it becomes a new draft, flagged.
    outcome = execute(ctx, ImportCapAlert(alert("nws_hurricane_warning_update.xml")))
    assert outcome.kind == "created"
    assert "unknown_reference" in [n.code for n in outcome.notes]


def test_a_test_message_is_refused_unless_asked_and_never_issued(database, clock, territory):
    ctx = context_of(database, clock, MANAGER)
    with pytest.raises(InvalidInput, match="a Test message is imported only when asked"):
        execute(ctx, ImportCapAlert(alert("nws_required_weekly_test.xml")))
    with database.read() as session:
        assert session.scalar(select(CapMessage.id)) is None
    warning_id = imported(database, clock, "nws_required_weekly_test.xml", allow_test=True)
    assert "test" in warning_detail(ctx, warning_id).needs
    with pytest.raises(InvalidInput, match="Test or Exercise message, which is never issued"):
        issue(database, clock, warning_id)


def test_an_expired_alert_is_refused_with_its_expiry(database, clock, territory):
    with pytest.raises(InvalidInput, match="it expired at 2021-09-11T03:00:00"):
        execute(
            context_of(database, clock, MANAGER), ImportCapAlert(alert("pagasa_tropical_storm_expired.xml"))
        )
    with database.read() as session:
        assert session.scalar(select(WarningRow.id)) is None


def test_the_same_message_twice_is_one_draft(database, clock, territory):
    first = imported(database, clock, "meteoalarm_wind_fr.xml")
    with pytest.raises(Conflict, match=f"already imported as warning {first}"):
        imported(database, clock, "meteoalarm_wind_fr.xml")
    # The entry point the feed watcher calls answers without raising.
    with database.write() as session:
        outcome = import_alert(
            session, clock, MANAGER, alert("meteoalarm_wind_fr.xml"), origin="https://feed.example/cap.atom"
        )
    assert (outcome.kind, outcome.warning_id) == ("duplicate", first)


def test_a_level_no_one_gave_is_chosen_by_the_manager_before_issuing(database, clock, territory):
    no_colour = (
        alert("meteoalarm_wind_fr.xml")
        .replace(b"2; yellow; Moderate", b"Unknown")
        .replace(b"Vigilance jaune vent violent", b"Vigilance vent violent")
        .replace(b"Yellow wind warning", b"Wind warning")
    )
    ctx = context_of(database, clock, MANAGER)
    outcome = execute(ctx, ImportCapAlert(no_colour))
    warning_id = outcome.warning_id
    assert "level_needed" in [n.code for n in outcome.notes]
    assert warning_detail(ctx, warning_id).needs == ("level", "title_zh")
    with pytest.raises(InvalidInput, match="gives no colour level"):
        issue(database, clock, warning_id)
    execute(ctx, ChooseDraftLevel(warning_id, row(database, warning_id).version, "orange"))
    assert row(database, warning_id).level == "orange"
    assert warning_detail(ctx, warning_id).needs == ("title_zh",)
    assert cap_provenance(ctx, warning_id)[0].level_from == "manager"


def test_the_cli_imports_a_test_message_only_with_allow_test(database, territory, capsys, tmp_path):
    # The command line runs on the wall clock: the test message is moved to now.
    now = SystemClock().now()
    path = tmp_path / "rwt.xml"
    path.write_bytes(
        alert("nws_required_weekly_test.xml")
        .replace(b"2026-07-01T01:00:00+00:00", (now - timedelta(minutes=5)).isoformat().encode())
        .replace(b"2026-07-01T03:00:00+00:00", (now + timedelta(hours=2)).isoformat().encode())
    )
    assert main(["--db", database.url, "warnings", "import", str(path)]) == 2
    assert "a Test message is imported only when asked" in capsys.readouterr().err
    assert main(["--db", database.url, "warnings", "import", str(path), "--allow-test", "--json"]) == 0
    assert '"needs": [' in capsys.readouterr().out


def test_two_processes_importing_one_message_at_once_make_one_draft(database, clock, territory):
    """The first import is still open when the second starts: on PostgreSQL the second waits on the
    unique key and then finds the first's draft (a duplicate), on SQLite it waits for its turn."""
    data = alert("cma_typhoon_orange_zh.xml")
    second: list[object] = []

    def import_second() -> None:
        with database.write() as session:
            second.append(import_alert(session, clock, MANAGER, data, origin="https://feed.example/b"))

    with database.write() as session:
        first = import_alert(session, clock, MANAGER, data, origin="https://feed.example/a")
        thread = threading.Thread(target=import_second)
        thread.start()
        thread.join(timeout=1)  # still waiting for the first to commit
        assert thread.is_alive()
    thread.join(timeout=30)
    (outcome,) = second
    assert first.kind == "created"
    assert (outcome.kind, outcome.warning_id) == ("duplicate", first.warning_id)
    with database.read() as session:
        assert len(session.scalars(select(CapMessage)).all()) == 1
        assert len(session.scalars(select(WarningRow)).all()) == 1
