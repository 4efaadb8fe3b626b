"""Importing GIS data: the sample GeoPackage in EPSG:4527 and the same network as CSV, connectivity
as from/to nodes traced from the sources, coordinate systems, and files refused with their place.
"""

from __future__ import annotations

import shutil
import zipfile
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pyogrio
import pyproj
import pytest
import shapely
from sqlalchemy import select

from bench.generate import export_territory
from emergency import cli
from emergency.app.bus import execute
from emergency.app.commands.network import ImportTerritory
from emergency.core.actor import Actor
from emergency.core.clock import FakeClock
from emergency.core.db import Database
from emergency.core.models import Customer, Device, Role
from emergency.demo.parameters import DEFAULT_SEED
from emergency.demo.territory import generate_territory
from emergency.network.importer import ImportCounts, ImportRejected, ImportSummary
from emergency.network.trace import retrace
from tests.support.app_context import context_of

SAMPLES = Path(__file__).resolve().parents[2] / "data" / "samples"
ADMIN = Actor("admin", Role.ADMIN)
GPKG = SAMPLES / "network-gk39.gpkg"
GK39 = "EPSG:4527 CGCS2000 / 3-degree Gauss-Kruger zone 39"
# Millimetres in the GeoPackage are about 1e-8 degrees; a tenth of a metre is plenty.
DEGREES_TOLERANCE = 1e-6


def run(
    db: Database, clock: FakeClock, network: Path, customers: Path, crs: str | None = None
) -> ImportSummary:
    command = ImportTerritory(
        network=network,
        customers=customers,
        crews=SAMPLES / "crews.csv",
        districts=SAMPLES / "districts.geojson",
        crs=crs,
    )
    return execute(context_of(db, clock, ADMIN), command)


def refused(
    db: Database, clock: FakeClock, network: Path, customers: Path, crs: str | None = None
) -> list[str]:
    with pytest.raises(ImportRejected) as caught:
        run(db, clock, network, customers, crs)
    with db.read() as session:
        assert session.scalar(select(Device.id).limit(1)) is None  # nothing written
    return [str(p) for p in caught.value.errors]


def devices_as_stored(db: Database) -> dict[str, tuple]:
    with db.read() as session:
        devices = list(session.scalars(select(Device)))
        code = {d.id: d.code for d in devices}
        return {
            d.code: (
                d.kind,
                d.from_node,
                d.to_node,
                code.get(d.parent_id),
                code.get(d.feeder_id),
                d.normal_state,
                d.telemetered,
                d.rating_kva,
                d.name,
                d.district_id,
                d.lon,
                d.lat,
            )
            for d in devices
        }


def customers_as_stored(db: Database) -> dict[str, tuple]:
    with db.read() as session:
        code = dict(session.execute(select(Device.id, Device.code)).all())
        return {
            c.account_no: (
                c.name,
                c.phone,
                c.address,
                code[c.transformer_id],
                c.district_id,
                c.kind,
                c.importance,
                c.backup_hours,
                c.priority_weight,
                c.contact_name,
                c.contact_phone,
                c.lon,
                c.lat,
            )
            for c in session.scalars(select(Customer))
        }


def same_within_rounding(a: dict[str, tuple], b: dict[str, tuple]) -> None:
    """Equal in every value, the last two (lon, lat) within DEGREES_TOLERANCE."""
    assert a.keys() == b.keys()
    for key in a:
        assert a[key][:-2] == b[key][:-2], key
        assert a[key][-2:] == pytest.approx(b[key][-2:], abs=DEGREES_TOLERANCE), key


# --- the sample: GeoPackage and CSV -------------------------------------------------------------


def fresh_sqlite(template: Path, path: Path) -> Database:
    shutil.copyfile(template, path)
    return Database(f"sqlite:///{path}")


def test_the_geopackage_and_the_csv_import_to_the_same_devices_and_customers(
    database: Database, clock: FakeClock, sqlite_template: Path, tmp_path: Path
) -> None:
    gis = run(database, clock, GPKG, GPKG)
    csv_db = fresh_sqlite(sqlite_template, tmp_path / "csv.db")
    try:
        csv = run(csv_db, clock, SAMPLES / "network-nodes.csv", SAMPLES / "customers.csv")
        same_within_rounding(devices_as_stored(database), devices_as_stored(csv_db))
        same_within_rounding(customers_as_stored(database), customers_as_stored(csv_db))
    finally:
        csv_db.dispose()

    assert (gis.devices, gis.customers) == (ImportCounts(inserted=23), ImportCounts(inserted=60))
    assert (csv.devices, csv.customers) == (ImportCounts(inserted=23), ImportCounts(inserted=60))
    assert (gis.source_crs, gis.conductors_joined) == (GK39, 23)
    assert (csv.source_crs, csv.conductors_joined) == (None, 0)
    assert str(gis).endswith(f"; 23 conductors joined into nodes; positions reprojected from {GK39} to WGS84")
    assert gis.to_dict()["source_crs"] == GK39


def test_the_sample_network_is_traced_from_its_nodes(database: Database, clock: FakeClock) -> None:
    run(database, clock, GPKG, GPKG)

    devices = devices_as_stored(database)
    # parent and feeder by code, as traced with every switch in its normal state
    assert devices["T05"][3:5] == ("DS01", "F01")  # a disconnector below a fuse
    assert devices["T09"][3:5] == ("SEC01", "F02")  # beyond the sectionaliser, on the other feeder
    assert devices["SW01"][3:5] == ("R02", "F01")
    # The normally open tie joins the two feeders: placed on the side reached first, feeding nothing.
    assert devices["TIE01"][5] == "open"
    assert devices["TIE01"][3] in ("SW01", "SEC01")
    assert not [code for code, d in devices.items() if d[3] == "TIE01"]
    # The conductors are joined back into the nodes the network was drawn from.
    assert devices["FU02"][1:3] == ("SW01-N", "FU02-N")
    assert devices["SS-BH"][1:5] == (None, "BH-10KV", None, None)
    assert devices["T01"][1:3] == ("F01-N", None)


def test_importing_the_geopackage_again_changes_nothing(database: Database, clock: FakeClock) -> None:
    run(database, clock, GPKG, GPKG)
    clock.advance(minutes=5)

    again = run(database, clock, GPKG, GPKG)

    assert again.devices == ImportCounts(unchanged=23)
    assert again.customers == ImportCounts(unchanged=60)


# --- other GIS formats ----------------------------------------------------------------------------


def sample_layers() -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame, gpd.GeoDataFrame]:
    return tuple(pyogrio.read_dataframe(GPKG, layer=name) for name in ("devices", "conductors", "customers"))


@pytest.fixture
def shapefiles(tmp_path: Path) -> Path:
    """The sample as three Shapefiles (field names cut to 10 characters, as the format does)."""
    devices, conductors, customers = sample_layers()
    folder = tmp_path / "shp"
    folder.mkdir()
    with pytest.warns((UserWarning, RuntimeWarning)):
        for name, frame in (("devices", devices), ("conductors", conductors), ("customers", customers)):
            pyogrio.write_dataframe(frame, folder / f"{name}.shp")
    return folder


def test_a_shapefile_and_a_zipped_one_import_like_the_geopackage(
    sqlite_database: Database, sqlite_template: Path, clock: FakeClock, shapefiles: Path, tmp_path: Path
) -> None:
    archive = tmp_path / "network.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as z:
        for part in shapefiles.iterdir():
            z.write(part, part.name)
    run(sqlite_database, clock, GPKG, GPKG)
    expected = devices_as_stored(sqlite_database), customers_as_stored(sqlite_database)

    for network, customers in (
        (shapefiles / "devices.shp", shapefiles / "customers.shp"),
        (archive, archive),
    ):
        db = fresh_sqlite(sqlite_template, tmp_path / f"{network.suffix[1:]}.db")
        try:
            summary = run(db, clock, network, customers)
            assert (summary.source_crs, summary.conductors_joined) == (GK39, 23)
            same_within_rounding(devices_as_stored(db), expected[0])
            same_within_rounding(customers_as_stored(db), expected[1])
        finally:
            db.dispose()


def test_a_geojson_of_devices_and_conductors_in_wgs84_imports(
    sqlite_database: Database, clock: FakeClock, tmp_path: Path
) -> None:
    devices, conductors, _ = sample_layers()
    path = tmp_path / "network.geojson"
    pyogrio.write_dataframe(pd.concat([devices, conductors]).to_crs(4326), path)

    summary = run(sqlite_database, clock, path, SAMPLES / "customers.csv")

    assert (summary.devices, summary.conductors_joined) == (ImportCounts(inserted=23), 23)
    assert str(summary).endswith("; 23 conductors joined into nodes; positions in EPSG:4326 WGS 84")
    assert devices_as_stored(sqlite_database)["T09"][3:5] == ("SEC01", "F02")


def test_a_layer_without_a_coordinate_system_needs_crs(
    sqlite_database: Database, clock: FakeClock, tmp_path: Path
) -> None:
    devices, conductors, customers = sample_layers()
    path = tmp_path / "no-crs.gpkg"
    with pytest.warns(UserWarning):
        for name, frame in (("devices", devices), ("conductors", conductors), ("customers", customers)):
            pyogrio.write_dataframe(frame.set_crs(None, allow_override=True), path, layer=name)

    assert refused(sqlite_database, clock, path, path) == [
        f"{path} (layer {layer}): has no coordinate system (no .prj, or an undefined SRS): "
        "give it with --crs, e.g. --crs EPSG:4527"
        for layer in ("customers", "devices")
    ]
    assert run(sqlite_database, clock, path, path, crs="EPSG:4527").devices == ImportCounts(inserted=23)


def test_a_crs_that_contradicts_the_file_or_is_nonsense_is_refused(
    sqlite_database: Database, clock: FakeClock
) -> None:
    assert refused(sqlite_database, clock, GPKG, GPKG, crs="EPSG:4490") == [
        f"{GPKG} (layer {layer}): the file says its coordinate system is {GK39}, "
        "but --crs says EPSG:4490 China Geodetic Coordinate System 2000"
        for layer in ("customers", "devices")
    ]
    for crs, reason in (
        ("nonsense", "'nonsense' is not a coordinate system code (such as EPSG:4527) or WKT"),
        ("EPSG:999999", "'EPSG:999999' is not a coordinate system pyproj knows"),
        # A PROJ string may name grid files to load: never a way to read a file.
        (
            "+proj=longlat +nadgrids=/etc/passwd",
            "'+proj=longlat +nadgrids=/etc/passwd' is not a coordinate "
            "system code (such as EPSG:4527) or WKT",
        ),
        ("EPSG:5773", "EGM96 height is not a geographic or projected coordinate system"),
    ):
        assert refused(sqlite_database, clock, GPKG, GPKG, crs=crs) == [f"--crs: {reason}"], crs


def test_csv_positions_as_x_y_in_a_projected_crs(
    sqlite_database: Database, sqlite_template: Path, clock: FakeClock, tmp_path: Path
) -> None:
    """The sample network as CSV with x/y in EPSG:4527: with --crs it imports to the same places."""
    frame = pd.read_csv(SAMPLES / "network-nodes.csv", dtype=str, keep_default_na=False)
    x, y = pyproj.Transformer.from_crs(4326, 4527, always_xy=True).transform(
        frame["lon"].astype(float), frame["lat"].astype(float)
    )
    projected = frame.drop(columns=["lon", "lat"]).assign(
        x=[f"{v:.3f}" for v in x], y=[f"{v:.3f}" for v in y]
    )
    path = tmp_path / "network-xy.csv"
    projected.to_csv(path, index=False)
    customers = tmp_path / "customers-xy.csv"
    frame = pd.read_csv(SAMPLES / "customers.csv", dtype=str, keep_default_na=False)
    x, y = pyproj.Transformer.from_crs(4326, 4527, always_xy=True).transform(
        frame["lon"].astype(float), frame["lat"].astype(float)
    )
    frame.drop(columns=["lon", "lat"]).assign(x=x, y=y).to_csv(customers, index=False)
    without = refused(sqlite_database, clock, path, customers)
    assert (
        without[0]
        == f"{path}:1: x: x/y columns need the coordinate system they are in: give --crs, e.g. EPSG:4527"
    )

    # The crews file's lon/lat are degrees: a projected --crs is for the x/y files.
    summary = run(sqlite_database, clock, path, customers, crs="4527")
    assert summary.source_crs == GK39 and summary.crews == ImportCounts(inserted=5)
    csv_db = fresh_sqlite(sqlite_template, tmp_path / "lonlat.db")
    try:
        run(csv_db, clock, SAMPLES / "network-nodes.csv", SAMPLES / "customers.csv")
        same_within_rounding(devices_as_stored(sqlite_database), devices_as_stored(csv_db))
        same_within_rounding(customers_as_stored(sqlite_database), customers_as_stored(csv_db))
    finally:
        csv_db.dispose()


# --- connectivity refused -----------------------------------------------------------------------


def edited_nodes(tmp_path: Path, code: str, **values: str) -> tuple[Path, int]:
    frame = pd.read_csv(SAMPLES / "network-nodes.csv", dtype=str, keep_default_na=False)
    row = int(frame.index[frame["code"] == code][0])
    for column, value in values.items():
        frame.loc[row, column] = value
    path = tmp_path / "network-nodes.csv"
    frame.to_csv(path, index=False)
    return path, row + 2  # the header is line 1


def test_a_closed_loop_is_refused_with_its_path(
    sqlite_database: Database, clock: FakeClock, tmp_path: Path
) -> None:
    path, line = edited_nodes(tmp_path, "TIE01", normal_state="closed")

    assert refused(sqlite_database, clock, path, SAMPLES / "customers.csv") == [
        f"{path}:{line}: normal_state: closes a loop (SS-BH → F02 → R03 → SEC01 → TIE01 → SW01 → R02 → R01 → "
        "F01 → SS-BH): open a switch on it to keep the network radial"
    ]


def test_a_device_no_source_reaches_is_refused(
    sqlite_database: Database, clock: FakeClock, tmp_path: Path
) -> None:
    path, line = edited_nodes(tmp_path, "FU03", from_node="NOWHERE")
    below = [line_of_code(path, code) for code in ("T06", "T07")]

    reason = (
        "is connected to no source: no path of closed switches and conductors reaches it from a substation"
    )
    assert refused(sqlite_database, clock, path, SAMPLES / "customers.csv") == [
        f"{path}:{n}: from_node: {reason}" for n in sorted([line, *below])
    ]


def line_of_code(path: Path, code: str) -> int:
    for number, text in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if text.split(",", 1)[0] == code:
            return number
    raise AssertionError(code)


def test_a_file_giving_both_forms_or_half_of_one_is_refused(
    sqlite_database: Database, clock: FakeClock, tmp_path: Path
) -> None:
    frame = pd.read_csv(SAMPLES / "network-nodes.csv", dtype=str, keep_default_na=False)
    both = tmp_path / "both.csv"
    frame.assign(parent_code="").to_csv(both, index=False)
    half = tmp_path / "half.csv"
    frame.drop(columns=["to_node"]).to_csv(half, index=False)
    customers = SAMPLES / "customers.csv"

    assert refused(sqlite_database, clock, both, customers) == [
        f"{both}:1: from_node: give either parent_code (a tree) or from_node and to_node (nodes), not both"
    ]
    assert refused(sqlite_database, clock, half, customers) == [
        f"{half}:1: to_node: required column is missing (give parent_code, or from_node and to_node)"
    ]


def test_node_rows_need_their_nodes(sqlite_database: Database, clock: FakeClock, tmp_path: Path) -> None:
    path, fuse = edited_nodes(tmp_path, "FU01", from_node="")
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    frame.loc[frame["code"] == "SW01", "to_node"] = "R02-N"
    frame.to_csv(path, index=False)
    switch = line_of_code(path, "SW01")

    errors = refused(sqlite_database, clock, path, SAMPLES / "customers.csv")

    assert errors == [
        f"{path}:{switch}: to_node: the same node as from_node ('R02-N')",
        f"{path}:{fuse}: from_node: required for a fuse (only substations and feeder breakers are sources)",
    ]


def test_a_bad_feature_is_reported_with_its_layer_and_feature_id(
    sqlite_database: Database, clock: FakeClock, tmp_path: Path
) -> None:
    devices, conductors, customers = sample_layers()
    devices.loc[3, "kind"] = "cutout"
    devices.loc[5, "geometry"] = None
    devices.loc[6, "geometry"] = shapely.LineString([(38800000, 2229000), (38800100, 2229100)])
    path = tmp_path / "bad.gpkg"
    for name, frame in (("devices", devices), ("conductors", conductors), ("customers", customers)):
        pyogrio.write_dataframe(frame, path, layer=name, geometry_type="Unknown")

    errors = refused(sqlite_database, clock, path, path)

    # GeoPackage feature ids count from 1.
    assert errors == [
        f"{path} (layer devices): feature 4: kind: unknown value 'cutout' (allowed: substation, breaker, "
        "recloser, sectionaliser, switch, disconnector, fuse, transformer)",
        f"{path} (layer devices): feature 6: geometry: is missing (a point is required)",
        f"{path} (layer devices): feature 7: geometry: must be a Point, not LineString",
    ]


# --- the command line ---------------------------------------------------------------------------


def test_the_import_command_reads_a_geopackage_and_refuses_a_nonsense_crs(
    sqlite_database: Database, capsys: pytest.CaptureFixture[str]
) -> None:
    url = sqlite_database.url
    args = ["--db", url, "import", "--network", str(GPKG), "--customers", str(GPKG)]
    args += ["--districts", str(SAMPLES / "districts.geojson")]

    assert cli.main([*args, "--crs", "EPSG:nonsense"]) == 2
    assert capsys.readouterr().err.splitlines() == [
        "--crs: 'EPSG:nonsense' is not a coordinate system code (such as EPSG:4527) or WKT",
        "refused: 1 problem(s); nothing was imported",
    ]
    assert cli.main(args) == 0
    assert capsys.readouterr().out.strip() == (
        "imported 3 districts (3 new); 23 devices (23 new); 60 customers (60 new); 0 crews; 0 depots; "
        f"23 conductors joined into nodes; positions reprojected from {GK39} to WGS84"
    )


# --- a real-shaped network: the demo exported as the benchmark does ------------------------------


def test_the_demo_exported_as_csv_and_as_a_geopackage_imports_the_same(
    sqlite_template: Path, clock: FakeClock, tmp_path: Path
) -> None:
    territory = generate_territory(3_000, DEFAULT_SEED, clock.now())
    paths = export_territory(territory, tmp_path)
    stored = []
    for name, network, customers in (
        ("csv", paths["network"], paths["customers"]),
        ("gpkg", paths["gpkg"], paths["gpkg"]),
    ):
        db = fresh_sqlite(sqlite_template, tmp_path / f"{name}.db")
        try:
            execute(
                context_of(db, clock, ADMIN),
                ImportTerritory(network=network, customers=customers, districts=paths["districts"]),
            )
            stored.append((devices_as_stored(db), customers_as_stored(db)))
        finally:
            db.dispose()

    (csv_devices, csv_customers), (gis_devices, gis_customers) = stored
    assert len(csv_devices) == len(territory.devices) and len(csv_customers) == len(territory.customers)
    # The tree's derived nodes are the demo's nodes, so even the node names agree.
    same_within_rounding(gis_devices, csv_devices)
    same_within_rounding(gis_customers, csv_customers)
    code = dict(zip(territory.devices["id"], territory.devices["code"], strict=True))
    parents = {
        c: code.get(p) for c, p in zip(territory.devices["code"], territory.devices["parent_id"], strict=True)
    }
    assert {c: d[3] for c, d in gis_devices.items()} == parents


def test_a_reimport_keeps_the_supply_as_switched_now(database: Database, clock: FakeClock) -> None:
    """Switched over to the other feeder through the tie, FU02 stays fed through it across an
    import: the file gives normal states, the switches as operated keep the supply where it is."""
    run(database, clock, GPKG, GPKG)
    with database.write() as session:
        for code, state in (("SW01", "open"), ("TIE01", "closed")):
            session.execute(
                Device.__table__.update()
                .where(Device.code == code)
                .values(switched_state=state, switched_at=clock.now())
            )
        retrace(session, clock)  # as executing a switching step does
    clock.advance(minutes=5)

    # Nothing in the file changed: the switched supply is no change either.
    assert run(database, clock, GPKG, GPKG).devices == ImportCounts(unchanged=23)

    devices = devices_as_stored(database)
    assert devices["FU02"][3:5] == ("TIE01", "F02")
    assert devices["T05"][4] == "F02"
    assert devices["T04"][3:5] == ("R02", "F01")  # above the open switch: unchanged


def test_a_csv_giving_lon_lat_and_x_y_is_refused(
    sqlite_database: Database, clock: FakeClock, tmp_path: Path
) -> None:
    frame = pd.read_csv(SAMPLES / "network-nodes.csv", dtype=str, keep_default_na=False)
    path = tmp_path / "network.csv"
    frame.assign(x="1", y="2").to_csv(path, index=False)

    assert refused(sqlite_database, clock, path, SAMPLES / "customers.csv", crs="EPSG:4527") == [
        f"{path}:1: x: give lon/lat or x/y, not both"
    ]
