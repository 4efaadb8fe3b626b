"""Importing GIS data: the sample GeoPackage in EPSG:4527 and the same network as CSV, connectivity
as from/to nodes traced from the sources, coordinate systems, and files refused with their place.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from sqlalchemy import select

from emergency.app.bus import execute
from emergency.app.commands.network import ImportTerritory
from emergency.core.actor import Actor
from emergency.core.clock import FakeClock
from emergency.core.db import Database
from emergency.core.models import Customer, Device, Role
from emergency.network.importer import ImportCounts, ImportRejected, ImportSummary
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
