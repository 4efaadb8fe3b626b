"""CAP 1.2 export and import on SQLite and PostgreSQL: required elements, lat,lon order, round trip."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from datetime import timedelta

import pytest
import shapely
from shapely.geometry import shape

from emergency.app.bus import execute
from emergency.app.commands.warnings import (
    CancelWarning,
    CreateWarning,
    ImportCapAlert,
    IssueWarning,
    UpdateWarning,
)
from emergency.core.actor import Actor
from emergency.core.errors import Conflict, InvalidInput
from emergency.core.models import Warning as WarningRow
from emergency.warnings.area import CircleArea, DistrictsArea, PolygonArea
from emergency.warnings.cap import NS, alert_xml, feed_xml
from emergency.warnings.cap_import import alert_area
from emergency.warnings.cap_parse import parse_alert
from emergency.warnings.lifecycle import (
    WarningInput,
    warnings_in_force,
)
from tests.support.app_context import context_of
from tests.support.small_territory import build_small_territory

MANAGER = Actor("meng", "manager")
Q = f"{{{NS}}}"
# A hand-made official warning, as a provincial meteorological service would send it (CAP 1.2,
# GB/T 35965.1 style): Chinese only, level in the headline, a polygon over the east of the territory.
OFFICIAL = """<?xml version="1.0" encoding="UTF-8"?>
<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2">
  <identifier>33000041600000_20260701100000</identifier>
  <sender>zj-meteo@example.cn</sender>
  <sent>2026-07-01T10:00:00+08:00</sent>
  <status>Actual</status>
  <msgType>Alert</msgType>
  <scope>Public</scope>
  <info>
    <language>zh-CN</language>
    <category>Met</category>
    <event>台风</event>
    <urgency>Immediate</urgency>
    <severity>Extreme</severity>
    <certainty>Likely</certainty>
    <effective>2026-07-01T10:00:00+08:00</effective>
    <expires>2026-07-02T10:00:00+08:00</expires>
    <senderName>澜海市气象台</senderName>
    <headline>澜海市气象台发布台风红色预警信号</headline>
    <description>受台风影响，预计未来24小时内将出现12级以上大风。</description>
    <area>
      <areaDesc>东村</areaDesc>
      <polygon>28.0,121.12 28.0,121.19 28.09,121.19 28.09,121.12 28.0,121.12</polygon>
    </area>
  </info>
</alert>
""".encode()


@pytest.fixture
def territory(database, clock):
    return build_small_territory(database, clock)


def make(database, clock, area, **changes) -> int:
    fields = {
        "hazard": "rainstorm",
        "level": "orange",
        "readiness_level": 2,
        "title_en": "Rainstorm: orange warning",
        "title_zh": "暴雨橙色预警",
        "text_en": "Flooding of low roads & basements <likely>.",
        "text_zh": "低洼道路和地下室可能积水。",
        "area": area,
        "effective_at": clock.now(),
        "onset_at": clock.now() + timedelta(hours=2),
        "expires_at": clock.now() + timedelta(hours=12),
    }
    return execute(context_of(database, clock, MANAGER), CreateWarning(WarningInput(**(fields | changes))))


def version(database, warning_id: int) -> int:
    with database.read() as session:
        return session.get(WarningRow, warning_id).version


def issued(database, clock, area, **changes) -> int:
    warning_id = make(database, clock, area, **changes)
    execute(context_of(database, clock, MANAGER), IssueWarning(warning_id, 1))
    return warning_id


def exported(database, warning_id: int) -> bytes:
    with database.read() as session:
        return alert_xml(session, session.get(WarningRow, warning_id))


def test_export_has_every_required_cap_element(database, clock, territory):
    warning_id = issued(database, clock, DistrictsArea(("W",)))
    root = ET.fromstring(exported(database, warning_id))
    assert root.tag == f"{Q}alert"
    for name in ("identifier", "sender", "sent", "status", "msgType", "scope"):
        assert root.find(f"{Q}{name}") is not None, name
    assert root.findtext(f"{Q}sent") == "2026-07-01T02:00:00+00:00"
    assert (root.findtext(f"{Q}status"), root.findtext(f"{Q}msgType")) == ("Actual", "Alert")
    infos = root.findall(f"{Q}info")
    assert [i.findtext(f"{Q}language") for i in infos] == ["en-US", "zh-CN"]
    for info in infos:
        for name in ("category", "event", "urgency", "severity", "certainty", "expires", "headline"):
            assert info.find(f"{Q}{name}") is not None, name
        assert info.findtext(f"{Q}severity") == "Severe"  # orange
        assert info.find(f"{Q}area/{Q}areaDesc") is not None
    # Children of alert come in the schema's order.
    order = [child.tag.removeprefix(Q) for child in root]
    assert order == ["identifier", "sender", "sent", "status", "msgType", "scope", "info", "info"]
    # User text is escaped by the XML writer, not interpreted.
    assert infos[0].findtext(f"{Q}description") == "Flooding of low roads & basements <likely>."


def test_polygons_are_written_lat_lon_and_closed(database, clock, territory):
    corner = {
        "type": "Polygon",
        "coordinates": [[[121.0, 28.0], [121.08, 28.0], [121.08, 28.045], [121.0, 28.0]]],
    }
    warning_id = issued(database, clock, PolygonArea(corner))
    polygon = ET.fromstring(exported(database, warning_id)).findtext(f"{Q}info/{Q}area/{Q}polygon")
    pairs = polygon.split(" ")
    assert pairs[0] == pairs[-1]
    assert set(pairs) == {"28.0,121.0", "28.0,121.08", "28.045,121.08"}


def test_update_and_cancel_reference_the_earlier_messages(database, clock, territory):
    warning_id = issued(database, clock, DistrictsArea(("W",)))
    first = ET.fromstring(exported(database, warning_id))
    clock.advance(minutes=20)
    with database.read() as session:
        current = session.get(WarningRow, warning_id)
        data = WarningInput(
            "rainstorm",
            "red",
            1,
            current.title_en,
            current.title_zh,
            "",
            "",
            DistrictsArea(("W",)),
            current.effective_at,
            current.expires_at,
        )
    execute(
        context_of(database, clock, MANAGER), UpdateWarning(warning_id, version(database, warning_id), data)
    )
    update = ET.fromstring(exported(database, warning_id))
    assert update.findtext(f"{Q}msgType") == "Update"
    reference = (
        f"{first.findtext(f'{Q}sender')},{first.findtext(f'{Q}identifier')},{first.findtext(f'{Q}sent')}"
    )
    assert update.findtext(f"{Q}references") == reference
    execute(
        context_of(database, clock, MANAGER),
        CancelWarning(warning_id, version(database, warning_id), "eased"),
    )
    cancel = ET.fromstring(exported(database, warning_id))
    assert cancel.findtext(f"{Q}msgType") == "Cancel"
    assert cancel.findtext(f"{Q}references").split(" ")[0] == reference
    assert len(cancel.findtext(f"{Q}references").split(" ")) == 2


@pytest.mark.parametrize(
    "area",
    [
        DistrictsArea(("E", "W")),
        CircleArea(121.152, 28.06, 1.5),
        PolygonArea(
            {
                "type": "Polygon",
                "coordinates": [[[121.0, 28.0], [121.08, 28.0], [121.08, 28.045], [121.0, 28.0]]],
            }
        ),
    ],
    ids=["districts", "circle", "polygon"],
)
def test_round_trip_keeps_the_area_and_fields(database, clock, territory, area):
    warning_id = issued(database, clock, area)
    parsed = parse_alert(exported(database, warning_id), 1_048_576)
    with database.read() as session:
        original = session.get(WarningRow, warning_id)
        back = alert_area(session, parsed).resolved
        assert (parsed.identifier, parsed.sender) == (original.cap_identifier, original.cap_sender)
        assert (parsed.hazard, parsed.level.value, parsed.readiness_level) == ("rainstorm", "orange", 2)
        assert (parsed.title_en, parsed.title_zh, parsed.text_en, parsed.text_zh) == (
            original.title_en,
            original.title_zh,
            original.text_en,
            original.text_zh,
        )
        assert (parsed.effective_at, parsed.onset_at, parsed.expires_at) == (
            original.effective_at,
            original.onset_at,
            original.expires_at,
        )
        # A polygon comes back as an official warning's area; districts and circles keep their kind.
        assert back.kind == {"polygon": "cap"}.get(original.area_kind, original.area_kind)
        assert back.district_codes == tuple(original.area_districts)
        before, after = shape(original.area), shape(back.geometry)
        assert shapely.symmetric_difference(before, after).area < 1e-9


def test_importing_our_own_message_again_is_a_conflict(database, clock, territory):
    warning_id = issued(database, clock, DistrictsArea(("W",)))
    with pytest.raises(Conflict, match="already imported"):
        execute(context_of(database, clock, MANAGER), ImportCapAlert(exported(database, warning_id)))


def test_an_official_warning_imports_as_a_draft(database, clock, territory):
    warning_id = execute(context_of(database, clock, MANAGER), ImportCapAlert(OFFICIAL)).warning_id
    with database.read() as session:
        warning = session.get(WarningRow, warning_id)
        assert (warning.status, warning.source, warning.area_kind) == ("draft", "cap_import", "cap")
        assert (warning.hazard, warning.level) == ("typhoon", "red")
        assert warning.title_zh == "澜海市气象台发布台风红色预警信号"
        assert warning.area_districts == ["E"]
        assert warning.cap_identifier == "33000041600000_20260701100000"
        assert warning.effective_at.isoformat() == "2026-07-01T02:00:00+00:00"
        assert shape(warning.area).bounds == pytest.approx((121.12, 28.0, 121.19, 28.09))
    # Issued by us, it becomes our own message.
    execute(context_of(database, clock, MANAGER), IssueWarning(warning_id, 1))
    with database.read() as session:
        warning = session.get(WarningRow, warning_id)
        assert warning.cap_sender == "outage-desk@utility.invalid"
        assert warning.cap_identifier.startswith("outage-desk-")


def test_feed_carries_each_warning_in_force_as_a_full_alert(database, clock, territory):
    first = issued(database, clock, DistrictsArea(("W",)))
    issued(database, clock, DistrictsArea(("E",)), title_en="Second", title_zh="第二")
    make(database, clock, DistrictsArea(("E",)), title_en="Still a draft")
    with database.read() as session:
        feed = ET.fromstring(
            feed_xml(session, warnings_in_force(session, clock.now()), clock.now(), "/api/warnings.cap.xml")
        )
    atom = "{http://www.w3.org/2005/Atom}"
    entries = feed.findall(f"{atom}entry")
    assert len(entries) == 2
    alerts = [e.find(f"{atom}content/{Q}alert") for e in entries]
    assert [a.findtext(f"{Q}info/{Q}headline") for a in alerts] == ["Rainstorm: orange warning", "Second"]
    assert entries[0].find(f"{atom}link").get("href") == f"/api/warnings/{first}.cap.xml"


@pytest.mark.parametrize(
    ("document", "message"),
    [
        (
            b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;">]>'
            b'<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2"><identifier>&lol2;</identifier></alert>',
            "DTDs and entity declarations are not accepted",
        ),
        (b"<alert><identifier>x", "not well-formed XML"),
        (b'<feed xmlns="http://www.w3.org/2005/Atom"/>', "not a CAP 1.2 alert"),
        (OFFICIAL.replace(b"<sender>zj-meteo@example.cn</sender>", b""), "the alert has no sender"),
        (OFFICIAL.replace(b"<msgType>Alert</msgType>", b"<msgType>Cancel</msgType>"), "never imported here"),
        (OFFICIAL.replace(b"+08:00</sent>", b"</sent>"), "need an offset"),
        (OFFICIAL + b" " * 1_048_576, "larger than 1024 KiB"),
    ],
    ids=["entity-bomb", "broken", "not-cap", "no-sender", "cancel", "no-offset", "too-big"],
)
def test_bad_cap_files_are_refused(database, clock, territory, document, message):
    with pytest.raises(InvalidInput, match=message):
        execute(context_of(database, clock, MANAGER), ImportCapAlert(document))


def test_an_official_area_outside_the_territory_is_refused(database, clock, territory):
    far = OFFICIAL.replace(
        b"28.0,121.12 28.0,121.19 28.09,121.19 28.09,121.12 28.0,121.12",
        b"30.0,100.0 30.0,100.5 30.5,100.5 30.0,100.0",
    )
    with pytest.raises(InvalidInput, match="outside the territory"):
        execute(context_of(database, clock, MANAGER), ImportCapAlert(far))


def test_geojson_feature_round_trip_is_json_safe(database, clock, territory):
    # The stored area is plain JSON (lists, not tuples), the same after a database round trip.
    warning_id = issued(database, clock, CircleArea(121.05, 28.05, 2.0))
    with database.read() as session:
        area = session.get(WarningRow, warning_id).area
    assert json.loads(json.dumps(area)) == area
    assert area["circle"] == {"lon": 121.05, "lat": 28.05, "radius_km": 2.0}
