"""Hostile GIS files against the territory import: zip bombs and path traversal, files that are
not what their name says (an XML entity bomb named .gpkg), oversized files and layers, broken
GeoPackages and coordinate systems that are nonsense. Each is refused with a reason, whole, and
nothing is written; none reaches an unhandled error.
"""

from __future__ import annotations

import sqlite3
import zipfile
from pathlib import Path

import pyogrio
import pytest
from sqlalchemy import func, select

from emergency.core.actor import CLI_ADMIN
from emergency.core.models import Customer, Device
from emergency.network import gis_read
from emergency.network.importer import ImportRejected
from tests.support.commands import import_territory

SAMPLES = Path(__file__).resolve().parents[2] / "data" / "samples"
GPKG = SAMPLES / "network-gk39.gpkg"
BILLION_LAUGHS = (
    '<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
    '<!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">'
    '<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>'
    "<gpkg>&lol3;</gpkg>"
)


def refused(database, clock, network: Path, customers: Path | None = None) -> list[str]:
    with pytest.raises(ImportRejected) as caught:
        import_territory(
            database,
            clock,
            CLI_ADMIN,
            network=network,
            customers=customers or network,
            districts=SAMPLES / "districts.geojson",
        )
    with database.read() as session:
        assert session.scalar(select(func.count()).select_from(Device)) == 0
        assert session.scalar(select(func.count()).select_from(Customer)) == 0
    return [str(p) for p in caught.value.errors]


def sample_shapefile(folder: Path) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    frame = pyogrio.read_dataframe(GPKG, layer="devices")
    with pytest.warns((UserWarning, RuntimeWarning)):
        pyogrio.write_dataframe(frame, folder / "devices.shp")
    return sorted(folder.iterdir())


def test_a_zip_entry_pointing_outside_the_archive_is_refused(sqlite_database, clock, tmp_path):
    archive = tmp_path / "network.zip"
    with zipfile.ZipFile(archive, "w") as z:
        for part in sample_shapefile(tmp_path / "shp"):
            z.write(part, part.name)
        z.writestr("../../etc/cron.d/evil.shp", b"\x00\x00\x27\x0a")

    assert (
        refused(sqlite_database, clock, archive)
        == [f"{archive}: entry '../../etc/cron.d/evil.shp' points outside the archive; refused"] * 2
    )  # once as the network, once as the customers
    assert not (tmp_path.parent / "etc").exists()


def test_a_zip_bomb_is_refused_before_it_is_unpacked(sqlite_database, clock, tmp_path):
    archive = tmp_path / "network.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("devices.shp", b"\x00\x00\x27\x0a" + bytes(20 * 1024 * 1024))

    errors = refused(sqlite_database, clock, archive)

    assert errors[0].startswith(f"{archive}: entry 'devices.shp' unpacks ")
    assert errors[0].endswith(" times its size: refused as a zip bomb")


def test_a_zip_with_other_files_or_too_much_inside_is_refused(sqlite_database, clock, tmp_path, monkeypatch):
    parts = sample_shapefile(tmp_path / "shp")
    foreign = tmp_path / "other.zip"
    with zipfile.ZipFile(foreign, "w") as z:
        for part in parts:
            z.write(part, part.name)
        z.writestr("devices.kml", BILLION_LAUGHS)
    big = tmp_path / "big.zip"
    with zipfile.ZipFile(big, "w", zipfile.ZIP_DEFLATED) as z:
        for part in parts:
            z.write(part, part.name)
    unpacked = sum(p.stat().st_size for p in parts)

    assert refused(sqlite_database, clock, foreign, GPKG)[0] == (
        f"{foreign}: entry 'devices.kml' is not part of a Shapefile (.shp, .shx, .dbf, .prj, .cpg)"
    )
    # The zip itself is smaller than the limit; what it unpacks to is not.
    monkeypatch.setattr(gis_read, "MAX_GIS_BYTES", unpacked - 1)
    assert big.stat().st_size < unpacked - 1
    assert refused(sqlite_database, clock, big, GPKG)[0] == (
        f"{big}: unpacks to {unpacked:,} bytes, above the {unpacked - 1:,} bytes limit"
    )


def test_an_entity_bomb_named_gpkg_is_never_parsed(sqlite_database, clock, tmp_path):
    fake = tmp_path / "network.gpkg"
    fake.write_text(BILLION_LAUGHS, encoding="utf-8")

    assert (
        refused(sqlite_database, clock, fake)
        == [f"{fake}: is not a GeoPackage (an SQLite database), whatever its name says"] * 2
    )


def test_entity_text_in_attributes_is_kept_as_written(sqlite_database, clock, tmp_path):
    path = tmp_path / "network.gpkg"
    for layer in ("devices", "conductors", "customers"):
        frame = pyogrio.read_dataframe(GPKG, layer=layer)
        if layer == "devices":
            frame.loc[0, "name"] = '<!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]>&e;'
        pyogrio.write_dataframe(frame, path, layer=layer)

    import_territory(
        sqlite_database,
        clock,
        CLI_ADMIN,
        network=path,
        customers=path,
        districts=SAMPLES / "districts.geojson",
    )

    with sqlite_database.read() as session:
        name = session.scalar(select(Device.name).where(Device.code == "SS-BH"))
    assert name == '<!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]>&e;'


def test_a_huge_geopackage_or_layer_is_refused(sqlite_database, clock, monkeypatch):
    monkeypatch.setattr(gis_read, "MAX_GIS_BYTES", 1024)
    size = GPKG.stat().st_size
    assert refused(sqlite_database, clock, GPKG, SAMPLES / "customers.csv") == [
        f"{GPKG}: file is {size:,} bytes, above the 1,024 bytes limit for a GIS file"
    ]
    monkeypatch.setattr(gis_read, "MAX_GIS_BYTES", 512 * 1024 * 1024)
    monkeypatch.setattr(gis_read, "MAX_FEATURES", 10)
    assert refused(sqlite_database, clock, GPKG)[0] == (
        f"{GPKG} (layer customers): holds 60 features, above the 10 accepted"
    )


def test_a_broken_or_foreign_sqlite_file_is_refused(sqlite_database, clock, tmp_path):
    truncated = tmp_path / "truncated.gpkg"
    truncated.write_bytes(GPKG.read_bytes()[:4096])
    plain = tmp_path / "plain.gpkg"
    with sqlite3.connect(plain) as connection:
        connection.execute("CREATE TABLE devices (code TEXT)")

    for path in (truncated, plain):
        errors = refused(sqlite_database, clock, path, SAMPLES / "customers.csv")
        assert len(errors) == 1 and errors[0].startswith(f"{path}: "), errors


def test_a_geojson_naming_a_nonsense_crs_is_refused(sqlite_database, clock, tmp_path):
    path = tmp_path / "network.geojson"
    path.write_text(
        '{"type": "FeatureCollection",'
        ' "crs": {"type": "name", "properties": {"name": "urn:ogc:def:crs:XYZ::0"}},'
        ' "features": [{"type": "Feature", "properties": {"code": "S", "kind": "substation", "name": "s",'
        ' "to_node": "N"}, "geometry": {"type": "Point", "coordinates": [110.33, 20.03]}}]}',
        encoding="utf-8",
    )

    errors = refused(sqlite_database, clock, path, SAMPLES / "customers.csv")

    assert errors and all(e.startswith(str(path)) for e in errors), errors


@pytest.mark.parametrize(
    "crs",
    [
        "x" * 30_000,
        'PROJCRS["nonsense", BASEGEOGCRS["?"]]',
        "file:///etc/passwd",
        "EPSG:4527; DROP TABLE devices",
        "",
    ],
)
def test_a_nonsense_crs_option_is_refused(sqlite_database, clock, crs):
    from emergency.app.bus import execute
    from emergency.app.commands.network import ImportTerritory
    from tests.support.app_context import context_of

    with pytest.raises(ImportRejected) as caught:
        execute(
            context_of(sqlite_database, clock, CLI_ADMIN),
            ImportTerritory(GPKG, GPKG, None, SAMPLES / "districts.geojson", crs=crs),
        )
    [problem] = caught.value.errors
    assert str(problem).startswith("--crs: ")
