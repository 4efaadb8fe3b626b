"""Importing a utility's territory: the sample set, re-imports, and one refused file per kind of fault.

Bad files are copies of data/samples/ edited in tmp_path. Every refusal is checked for the exact
file, line, column and reason, and for having written nothing at all.
"""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import pytest
from sqlalchemy import func, select, update

from emergency.core.actor import Actor
from emergency.core.clock import FakeClock
from emergency.core.db import Database
from emergency.core.errors import InvalidInput, PermissionDenied, Problem
from emergency.core.models import (
    AuditEvent,
    Crew,
    CrewStatus,
    Customer,
    Depot,
    Device,
    District,
    ImportanceGrade,
    Role,
)
from emergency.network import import_files, importer
from emergency.network.importer import ImportCounts, ImportRejected, ImportSummary
from tests.support.commands import import_territory

Files = dict[str, Path]
SAMPLES = Path(__file__).resolve().parents[2] / "data" / "samples"
ADMIN = Actor("admin", Role.ADMIN)
TABLES = (District, Device, Customer, Crew, Depot, AuditEvent)


# --- helpers ------------------------------------------------------------------------------------


@pytest.fixture
def files(tmp_path: Path) -> Files:
    """A private copy of the sample set, free to edit."""
    copies = {}
    for name in ("districts.geojson", "network.csv", "customers.csv", "crews.csv"):
        copies[name.split(".")[0]] = Path(shutil.copy(SAMPLES / name, tmp_path / name))
    return copies


def run(db: Database, clock: FakeClock, files: Files, actor: Actor = ADMIN) -> ImportSummary:
    return import_territory(
        db,
        clock,
        actor,
        network=files["network"],
        customers=files["customers"],
        crews=files.get("crews"),
        districts=files.get("districts"),
    )


def table_counts(db: Database) -> dict[str, int]:
    with db.read() as session:
        return {m.__tablename__: session.scalar(select(func.count()).select_from(m)) for m in TABLES}


def refused(db: Database, clock: FakeClock, files: Files) -> list[Problem]:
    """Run an import that must be refused; check nothing changed; return the errors."""
    before = table_counts(db)
    with pytest.raises(ImportRejected) as caught:
        run(db, clock, files)
    assert table_counts(db) == before
    return caught.value.errors


def line_of(path: Path, key: str) -> int:
    """The line (header = 1) of the CSV row whose first value is `key`."""
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if line.split(",", 1)[0] == key:
            return number
    raise AssertionError(f"no row {key} in {path}")


def edit(path: Path, key: str, **values: str) -> int:
    """Set columns of the row whose first value is `key`; return its line."""
    line = line_of(path, key)
    with path.open(encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    fieldnames = list(rows[0])
    for row in rows:
        if row[fieldnames[0]] == key:
            row.update(values)
    write_rows(path, fieldnames, rows)
    return line


def add_row(path: Path, **values: str) -> int:
    """Append a row (unnamed columns empty); return its line."""
    with path.open(encoding="utf-8", newline="") as f:
        reader = csv.DictReader(f)
        rows = list(reader)
        fieldnames = list(reader.fieldnames or [])
    rows.append({name: values.get(name, "") for name in fieldnames})
    write_rows(path, fieldnames, rows)
    return len(rows) + 1


def write_rows(path: Path, fieldnames: list[str], rows: list[dict[str, str]]) -> None:
    with path.open("w", encoding="utf-8", newline="") as f:
        writer = csv.DictWriter(f, fieldnames, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)


def only_network(files: Files, tmp_path: Path, rows: list[dict[str, str]]) -> None:
    """Replace the network file by one holding just these rows (the rest is already stored)."""
    path = tmp_path / "network-part.csv"
    write_rows(path, ["code", "kind", "parent_code", "name", "lon", "lat"], rows)
    files["network"] = path


def sample_import(db: Database, clock: FakeClock, files: Files) -> ImportSummary:
    summary = run(db, clock, files)
    clock.advance(minutes=5)
    return summary


# --- the sample set -----------------------------------------------------------------------------


def test_sample_set_imports_with_the_right_counts(database: Database, clock: FakeClock, files: Files) -> None:
    summary = run(database, clock, files)

    assert summary == ImportSummary(
        districts=ImportCounts(inserted=3),
        devices=ImportCounts(inserted=19),
        customers=ImportCounts(inserted=60),
        crews=ImportCounts(inserted=5),
        depots=ImportCounts(inserted=2),
    )
    assert str(summary) == (
        "imported 3 districts (3 new); 19 devices (19 new); 60 customers (60 new); "
        "5 crews (5 new); 2 depots (2 new)"
    )
    assert table_counts(database) == {
        "districts": 3,
        "devices": 19,
        "customers": 60,
        "crews": 5,
        "depots": 2,
        "audit_events": 1,
    }
    with database.read() as session:
        code = dict(session.execute(select(Device.id, Device.code)).all())
        district = dict(session.execute(select(District.id, District.code)).all())
        devices = {d.code: d for d in session.scalars(select(Device))}
        # Each device hangs from its feeder breaker, found by walking up.
        assert code[devices["T05"].feeder_id] == "F01"
        assert code[devices["T09"].feeder_id] == "F02"
        assert code[devices["F02"].feeder_id] == "F02"
        assert devices["SS-BH"].feeder_id is None
        assert code[devices["T05"].parent_id] == "FU02"
        # Placed by the polygon containing the point, or by the code given (T09 is on the island).
        assert district[devices["T05"].district_id] == "DJ-RUR"
        assert district[devices["T09"].district_id] == "NS-RMT"
        assert devices["R01"].telemetered and not devices["FU01"].telemetered

        hospital = session.scalar(select(Customer).where(Customer.account_no == "0100000001"))
        assert hospital is not None  # the leading zero survived
        assert (hospital.importance, hospital.priority_weight) == (ImportanceGrade.GRADE1, 5.0)
        assert (hospital.contact_name, hospital.phone) == ("陈主任", None)
        life_support = session.scalar(select(Customer).where(Customer.kind == "life_support"))
        assert life_support.priority_weight == 5.0
        temporary = session.scalar(select(Customer).where(Customer.importance == "temporary"))
        assert temporary.priority_weight == 2.5  # the file's own weight wins over the grade's

        crews = {c.code: c for c in session.scalars(select(Crew))}
        depots = {d.id: d for d in session.scalars(select(Depot))}
        assert depots[crews["C02"].home_depot_id].name_zh == "滨海抢修中心"
        assert crews["C05"].home_depot_id is None
        assert (crews["C03"].shift_start, crews["C03"].shift_end) == ("20:00", "08:00")
        assert crews["C05"].status == CrewStatus.OFF_DUTY

        event = session.scalar(select(AuditEvent))
        assert (event.action, event.actor) == ("territory.import", "admin")
        assert event.after["customers"] == {"inserted": 60, "updated": 0, "unchanged": 0}


def test_reimport_updates_matched_rows_and_inserts_new_ones(
    database: Database, clock: FakeClock, files: Files
) -> None:
    sample_import(database, clock, files)

    assert run(database, clock, files) == ImportSummary(
        districts=ImportCounts(unchanged=3),
        devices=ImportCounts(unchanged=19),
        customers=ImportCounts(unchanged=60),
        crews=ImportCounts(unchanged=5),
        depots=ImportCounts(),
    )
    edit(files["customers"], "0100000002", name="孙刚（已更名）")
    add_row(
        files["customers"],
        account_no="0200000061",
        name="新用户",
        phone="13800000061",
        address="滨海市东郊镇东郊村8号",
        lon="110.411",
        lat="20.046",
        transformer_code="T05",
    )
    edit(files["network"], "T05", rating_kva="160")
    edit(files["network"], "T07", parent_code="R03")  # moved: only its parent changes

    summary = run(database, clock, files)

    assert summary.customers == ImportCounts(inserted=1, updated=1, unchanged=59)
    assert summary.devices == ImportCounts(updated=2, unchanged=17)
    assert table_counts(database)["customers"] == 61
    with database.read() as session:
        renamed = session.scalar(select(Customer).where(Customer.account_no == "0100000002"))
        assert (renamed.name, renamed.version) == ("孙刚（已更名）", 2)
        t05 = session.scalar(select(Device).where(Device.code == "T05"))
        assert (t05.rating_kva, t05.version) == (160.0, 2)
        assert session.scalar(select(func.count()).select_from(AuditEvent)) == 3


def test_a_partial_network_file_is_checked_against_the_stored_network(
    sqlite_database: Database, clock: FakeClock, files: Files, tmp_path: Path
) -> None:
    sample_import(sqlite_database, clock, files)
    only_network(
        files,
        tmp_path,
        [
            {
                "code": "T10",
                "kind": "transformer",
                "parent_code": "FU02",
                "name": "new",
                "lon": "110.41",
                "lat": "20.04",
            }
        ],
    )

    summary = run(sqlite_database, clock, files)

    assert summary.devices == ImportCounts(inserted=1)
    with sqlite_database.read() as session:
        t10 = session.scalar(select(Device).where(Device.code == "T10"))
        feeder = session.get(Device, t10.feeder_id)
        assert feeder.code == "F01"


def test_a_crew_out_on_a_job_keeps_its_live_position_and_status(
    sqlite_database: Database, clock: FakeClock, files: Files
) -> None:
    sample_import(sqlite_database, clock, files)
    with sqlite_database.write() as session:
        session.execute(update(Crew).where(Crew.code == "C01").values(status=CrewStatus.EN_ROUTE, lon=110.35))
    edit(files["crews"], "C01", name="滨海线路一班（新）", lon="110.3321")

    assert run(sqlite_database, clock, files).crews == ImportCounts(updated=1, unchanged=4)
    with sqlite_database.read() as session:
        crew = session.scalar(select(Crew).where(Crew.code == "C01"))
        assert (crew.name, crew.lon, crew.status) == ("滨海线路一班（新）", 110.35, CrewStatus.EN_ROUTE)


def test_a_bom_and_crlf_line_ends_are_accepted(
    sqlite_database: Database, clock: FakeClock, files: Files
) -> None:
    path = files["customers"]
    path.write_bytes(b"\xef\xbb\xbf" + path.read_bytes().replace(b"\n", b"\r\n"))

    assert run(sqlite_database, clock, files).customers == ImportCounts(inserted=60)


def test_only_an_admin_may_import(sqlite_database: Database, clock: FakeClock, files: Files) -> None:
    with pytest.raises(PermissionDenied):
        run(sqlite_database, clock, files, actor=Actor("dora", Role.DISPATCHER))
    assert table_counts(sqlite_database)["devices"] == 0


# --- refused files ------------------------------------------------------------------------------


def test_a_cycle_is_refused(sqlite_database: Database, clock: FakeClock, files: Files) -> None:
    r01 = edit(files["network"], "R01", parent_code="R02")
    r02 = line_of(files["network"], "R02")

    errors = refused(sqlite_database, clock, files)

    reason = "is part of a cycle: the network must be radial"
    assert errors == [
        Problem.in_file(str(files["network"]), r01, "parent_code", reason),
        Problem.in_file(str(files["network"]), r02, "parent_code", reason),
    ]


def test_an_orphan_device_is_refused(sqlite_database: Database, clock: FakeClock, files: Files) -> None:
    line = edit(files["network"], "T05", parent_code="FU99")

    errors = refused(sqlite_database, clock, files)

    assert errors == [
        Problem.in_file(
            str(files["network"]),
            line,
            "parent_code",
            "parent 'FU99' is not a device in the network file or the database (orphan)",
        )
    ]


def test_a_device_under_the_wrong_kind_of_parent_is_refused(
    sqlite_database: Database, clock: FakeClock, files: Files
) -> None:
    # A switch may sit anywhere a real feeder has one (a recloser below a fuse is not reported);
    # nothing hangs from a service transformer, and a substation heads the network.
    edit(files["network"], "R03", parent_code="FU04")
    substation = add_row(
        files["network"],
        code="SS-2",
        kind="substation",
        parent_code="R01",
        name="x",
        lon="110.35",
        lat="20.035",
    )
    transformer = edit(files["network"], "T03", parent_code="T02")

    errors = refused(sqlite_database, clock, files)

    network = str(files["network"])
    assert errors == [
        Problem.in_file(
            network, transformer, "parent_code", "a transformer cannot hang from a transformer (T02)"
        ),
        Problem.in_file(network, substation, "parent_code", "a substation cannot hang from a recloser (R01)"),
    ]


def test_a_wrong_parent_in_the_stored_network_is_refused(
    sqlite_database: Database, clock: FakeClock, files: Files, tmp_path: Path
) -> None:
    sample_import(sqlite_database, clock, files)
    only_network(
        files,
        tmp_path,
        [
            {
                "code": "T10",
                "kind": "transformer",
                "parent_code": "T01",
                "name": "new",
                "lon": "110.34",
                "lat": "20.04",
            }
        ],
    )

    errors = refused(sqlite_database, clock, files)

    assert errors == [
        Problem.in_file(
            str(files["network"]), 2, "parent_code", "a transformer cannot hang from a transformer (T01)"
        )
    ]


def test_retyping_a_stored_transformer_that_supplies_customers_is_refused(
    sqlite_database: Database, clock: FakeClock, files: Files, tmp_path: Path
) -> None:
    sample_import(sqlite_database, clock, files)
    only_network(
        files,
        tmp_path,
        [
            {
                "code": "T07",
                "kind": "fuse",
                "parent_code": "FU03",
                "name": "now a fuse",
                "lon": "110.36",
                "lat": "19.975",
            }
        ],
    )
    # The customers file no longer mentions T07's customers, so they would be stranded.
    with files["customers"].open(encoding="utf-8") as f:
        kept = [row for row in csv.DictReader(f) if row["transformer_code"] != "T07"]
    write_rows(files["customers"], list(kept[0]), kept)

    errors = refused(sqlite_database, clock, files)

    assert errors == [
        Problem.in_file(
            str(files["network"]),
            2,
            "kind",
            "4 stored customers are supplied by this transformer; keep kind transformer "
            "or move them to another transformer in the customers file",
        )
    ]


def test_a_customer_on_an_unknown_transformer_or_a_non_transformer_is_refused(
    sqlite_database: Database, clock: FakeClock, files: Files
) -> None:
    unknown = edit(files["customers"], "0100000003", transformer_code="T99")
    fuse = edit(files["customers"], "0100000004", transformer_code="FU01")

    errors = refused(sqlite_database, clock, files)

    customers = str(files["customers"])
    assert errors == [
        Problem.in_file(
            customers, unknown, "transformer_code", "no device 'T99' in the network file or the database"
        ),
        Problem.in_file(customers, fuse, "transformer_code", "'FU01' is a fuse, not a transformer"),
    ]


def test_a_duplicate_account_number_is_refused(
    sqlite_database: Database, clock: FakeClock, files: Files
) -> None:
    line = edit(files["customers"], "0100000005", account_no="0100000002")

    errors = refused(sqlite_database, clock, files)

    assert errors == [
        Problem.in_file(
            str(files["customers"]),
            line,
            "account_no",
            "duplicate account number '0100000002' (first on line 3)",
        )
    ]


def test_bad_numbers_in_every_file_are_all_reported(
    sqlite_database: Database, clock: FakeClock, files: Files
) -> None:
    device = edit(files["network"], "T02", rating_kva="-5")
    customer = edit(files["customers"], "0100000006", lat="20.03x")
    crew = edit(files["crews"], "C02", size="4.5")

    errors = refused(sqlite_database, clock, files)

    assert errors == [
        Problem.in_file(str(files["network"]), device, "rating_kva", "must be greater than 0, not -5"),
        Problem.in_file(str(files["customers"]), customer, "lat", "not a number: '20.03x'"),
        Problem.in_file(str(files["crews"]), crew, "size", "not a whole number: '4.5'"),
    ]


def test_unknown_enum_values_are_refused(sqlite_database: Database, clock: FakeClock, files: Files) -> None:
    device = edit(files["network"], "FU02", kind="cutout")
    customer = edit(files["customers"], "0100000001", importance="grade3")

    errors = refused(sqlite_database, clock, files)

    # The fuse's children and customers are not reported again: the fuse's own row says what to fix.
    assert errors == [
        Problem.in_file(
            str(files["network"]),
            device,
            "kind",
            "unknown value 'cutout' (allowed: substation, breaker, recloser, sectionaliser, switch, "
            "disconnector, fuse, transformer)",
        ),
        Problem.in_file(
            str(files["customers"]),
            customer,
            "importance",
            "unknown value 'grade3' (allowed: special, grade1, grade2, temporary, none)",
        ),
    ]


def test_a_missing_required_column_is_refused_with_the_header(
    sqlite_database: Database, clock: FakeClock, files: Files
) -> None:
    path = files["customers"]
    with path.open(encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    names = [n for n in rows[0] if n != "transformer_code"]
    write_rows(path, names, [{n: row[n] for n in names} for row in rows])

    errors = refused(sqlite_database, clock, files)

    assert errors == [
        Problem.in_file(
            str(path),
            1,
            "transformer_code",
            "required column is missing (the header is: account_no,name,phone,address,lon,lat,district_code,"
            "kind,importance,backup_hours,priority_weight,contact_name,contact_phone)",
        )
    ]


def test_an_unknown_column_is_refused(sqlite_database: Database, clock: FakeClock, files: Files) -> None:
    path = files["crews"]
    path.write_text(path.read_text(encoding="utf-8").replace(",status\n", ",statu\n", 1), encoding="utf-8")

    errors = refused(sqlite_database, clock, files)

    assert [(e.line, e.field) for e in errors] == [(1, "statu")]
    assert errors[0].reason.startswith("unknown column (known columns: code, name, kind,")


def test_coordinates_outside_the_territory_are_refused(
    sqlite_database: Database, clock: FakeClock, files: Files
) -> None:
    customer = edit(files["customers"], "0100000007", lon="111.5", lat="20.04")
    crew = edit(files["crews"], "C04", lat="91")

    errors = refused(sqlite_database, clock, files)

    assert errors == [
        Problem.in_file(
            str(files["customers"]),
            customer,
            "lon/lat",
            "(111.5, 20.04) is outside every district of the territory",
        ),
        Problem.in_file(str(files["crews"]), crew, "lat", "must be at most 90, not 91"),
    ]


def test_an_undefined_district_code_is_refused(
    sqlite_database: Database, clock: FakeClock, files: Files
) -> None:
    line = edit(files["network"], "T04", district_code="XX-NONE")

    errors = refused(sqlite_database, clock, files)

    assert errors == [
        Problem.in_file(
            str(files["network"]),
            line,
            "district_code",
            "district 'XX-NONE' is not defined (not in the districts file or the database)",
        )
    ]


def test_malformed_geojson_is_refused_with_the_line(
    sqlite_database: Database, clock: FakeClock, files: Files
) -> None:
    files["districts"].write_text(
        '{"type": "FeatureCollection",\n "features": [\n  {"type": "Feature" "properties": {}}\n ]\n}\n',
        encoding="utf-8",
    )

    errors = refused(sqlite_database, clock, files)

    assert errors[0] == Problem.in_file(
        str(files["districts"]), 3, "", "not valid JSON: Expecting ',' delimiter (column 22)"
    )
    assert str(errors[0]) == f"{files['districts']}:3: not valid JSON: Expecting ',' delimiter (column 22)"


def test_a_self_intersecting_or_non_polygon_district_is_refused(
    sqlite_database: Database, clock: FakeClock, files: Files
) -> None:
    document = json.loads(files["districts"].read_text(encoding="utf-8"))
    # A bow tie: the ring crosses itself.
    document["features"][1]["geometry"] = {
        "type": "Polygon",
        "coordinates": [[[110.36, 20.0], [110.46, 20.06], [110.46, 20.0], [110.36, 20.06], [110.36, 20.0]]],
    }
    document["features"][2]["geometry"] = {"type": "Point", "coordinates": [110.4, 19.97]}
    document["features"][2]["properties"]["area_type"] = "suburban"
    files["districts"].write_text(json.dumps(document), encoding="utf-8")

    errors = refused(sqlite_database, clock, files)

    districts = str(files["districts"])
    # Points in the district that lost its boundary are not also reported as outside the territory.
    assert errors == [
        Problem.in_file(
            districts, 1, "geometry", "invalid polygon: Self-intersection[110.41 20.03]", "feature"
        ),
        Problem.in_file(
            districts, 2, "area_type", "unknown value 'suburban' (allowed: urban, rural, remote)", "feature"
        ),
        Problem.in_file(districts, 2, "geometry", "must be a Polygon or MultiPolygon, not Point", "feature"),
    ]
    assert str(errors[1]) == (
        f"{districts}: feature 2: area_type: unknown value 'suburban' (allowed: urban, rural, remote)"
    )


def test_a_file_that_is_not_utf8_is_refused(
    sqlite_database: Database, clock: FakeClock, files: Files
) -> None:
    path = files["customers"]
    gbk = path.read_text(encoding="utf-8").encode("gb18030")
    path.write_bytes(gbk)
    first_byte = gbk[gbk.index(b"\n") + 1 :].split(b",")[1][0]

    errors = refused(sqlite_database, clock, files)

    assert errors == [
        Problem.in_file(
            str(path),
            2,
            "",
            f"not valid UTF-8 text (byte 0x{first_byte:02x}); save the file as UTF-8 "
            "(files saved as GBK or GB18030 must be converted)",
        )
    ]


def test_a_spreadsheet_or_empty_file_gets_a_clear_message(
    sqlite_database: Database, clock: FakeClock, files: Files
) -> None:
    files["network"].write_bytes(b"PK\x03\x04\x14\x00\x06\x00binary workbook")
    files["crews"].write_text("", encoding="utf-8")

    errors = refused(sqlite_database, clock, files)

    # Customers refer to devices of the unreadable network file: not reported 60 times over.
    assert errors == [
        Problem.in_file(
            str(files["network"]),
            None,
            "",
            "is a ZIP archive or an Excel workbook, not a text file; save as CSV UTF-8",
        ),
        Problem.in_file(str(files["crews"]), 1, "", "file is empty: the first line must name the columns"),
    ]


def test_an_oversized_file_is_refused(
    sqlite_database: Database, clock: FakeClock, files: Files, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(import_files.MAX_FILE_BYTES, "crews", 100)
    size = files["crews"].stat().st_size

    errors = refused(sqlite_database, clock, files)

    assert errors == [
        Problem.in_file(
            str(files["crews"]),
            None,
            "",
            f"file is {size:,} bytes, above the 100 bytes limit for a crews file; "
            "split it and import the parts one after another",
        )
    ]


def test_a_bad_row_leaves_the_stored_territory_untouched(
    sqlite_database: Database, clock: FakeClock, files: Files
) -> None:
    sample_import(sqlite_database, clock, files)
    edit(files["customers"], "0100000002", name="would be renamed")
    edit(files["customers"], "0100000003", importance="vip")

    refused(sqlite_database, clock, files)

    with sqlite_database.read() as session:
        customer = session.scalar(select(Customer).where(Customer.account_no == "0100000002"))
        assert (customer.name, customer.version) == ("孙刚", 1)


def test_every_problem_is_collected_and_the_message_is_capped(
    sqlite_database: Database, clock: FakeClock, files: Files
) -> None:
    path = files["customers"]
    with path.open(encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    for row in rows:
        row["kind"] = "alien"
    write_rows(path, list(rows[0]), rows)

    with pytest.raises(ImportRejected) as caught:
        run(sqlite_database, clock, files)

    rejected = caught.value
    assert isinstance(rejected, InvalidInput)
    assert [e.line for e in rejected.errors] == list(range(2, 62))
    text = str(rejected).splitlines()
    assert text[0] == "import refused: 60 problems, nothing was written"
    assert text[1] == (
        f"{path}:2: kind: unknown value 'alien' (allowed: residential, commercial, industrial, hospital, "
        "water, gas, telecom, government, transport, school, emergency_services, life_support, other)"
    )
    assert len(text) == 1 + importer.MAX_ERRORS_SHOWN + 1
    assert text[-1] == "... and 10 more"


def test_a_cycle_through_stored_devices_is_reported_on_the_imported_row(
    sqlite_database: Database, clock: FakeClock, files: Files, tmp_path: Path
) -> None:
    sample_import(sqlite_database, clock, files)
    # R01 is stored above R02; hanging R01 from R02 closes a loop.
    only_network(
        files,
        tmp_path,
        [
            {
                "code": "R01",
                "kind": "recloser",
                "parent_code": "R02",
                "name": "x",
                "lon": "110.35",
                "lat": "20.035",
            }
        ],
    )

    errors = refused(sqlite_database, clock, files)

    network = str(files["network"])
    reason = "is part of a cycle: the network must be radial"
    assert errors == [
        Problem.in_file(network, 2, "parent_code", reason),
        Problem.in_file(network, 2, "parent_code", f"stored device R02: {reason}"),
    ]


def test_a_csv_with_semicolons_or_an_open_quote_gets_a_clear_message(
    sqlite_database: Database, clock: FakeClock, files: Files
) -> None:
    files["customers"].write_text("account_no;name;phone\n0100000001;x;1\n", encoding="utf-8")
    files["crews"].write_text(
        'code,name,kind,size,lon,lat\nC9,"open quote,line,3,110.33,20.03\n', encoding="utf-8"
    )

    errors = refused(sqlite_database, clock, files)

    assert errors == [
        Problem.in_file(
            str(files["customers"]),
            1,
            "",
            "values are separated by semicolons, not commas (the header is: account_no;name;phone)",
        ),
        Problem.in_file(
            str(files["crews"]), 2, "", "row has 2 values, the header has 6 (is a quote left open?)"
        ),
    ]
