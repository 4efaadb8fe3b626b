"""Benchmark `generate`: the demo territory generated and loaded into SQLite, and the same
territory exported as a utility would give it (CSV, and a GeoPackage in a Gauss-Kruger zone with
its conductors) and imported through `import`, the two imports timed side by side."""

from __future__ import annotations

import json
import tempfile
from collections.abc import Sequence
from functools import partial
from pathlib import Path
from zoneinfo import ZoneInfo

import pandas as pd

from bench.common import (
    BASELINE_SIZE,
    BENCH_NOW,
    GENERATE_SIZES,
    BenchRow,
    fresh_sqlite,
    timed,
)
from emergency.app.bus import execute
from emergency.app.commands.network import ImportTerritory
from emergency.app.context import Context
from emergency.core.actor import CLI_ADMIN
from emergency.core.clock import FakeClock
from emergency.core.db import Database
from emergency.demo.load import insert_territory, load_territory
from emergency.demo.parameters import DEFAULT_SEED
from emergency.demo.territory import Territory, generate_territory
from emergency.network.gis_export import write_geopackage

# The demo lies near 121.5°E: CGCS2000 / 3-degree Gauss-Kruger zone 41 (central meridian 123°E).
DEMO_GIS_CRS = "EPSG:4529"


def _insert_bulk(db: Database, territory: Territory) -> None:
    """The rows only, the way `load_territory` writes them."""
    with db.write() as session:
        insert_territory(session, territory)


def _insert_one_object_per_row(db: Database, territory: Territory) -> None:
    """The naive way: one ORM object and one session.add per row, flushed table by table."""
    with db.write() as session:
        for model, rows in territory.rows():
            for row in rows:
                session.add(model(**row))
            session.flush()


def bench_generate(
    sizes: Sequence[int] = GENERATE_SIZES, baseline_size: int = BASELINE_SIZE, seed: int = DEFAULT_SEED
) -> list[BenchRow]:
    """Time generating the demo territory and loading it into a fresh SQLite file, per size.

    At `baseline_size` the rows alone are also inserted both ways (Core bulk, and one ORM object per
    row) into fresh files, so the insert method is compared on the same work.
    """
    clock = FakeClock(BENCH_NOW)
    results: list[BenchRow] = []
    for size in sizes:
        territory, generate_s = timed(partial(generate_territory, size, seed, clock.now()))
        results.append(BenchRow(f"generate {size:,} customers", generate_s, "s"))
        with tempfile.TemporaryDirectory() as directory:
            db = fresh_sqlite(directory, clock)
            _, load_s = timed(partial(load_territory, db, clock, territory))
            db.dispose()
        rows = sum(len(frame) for _, frame in territory.tables())
        results.append(BenchRow(f"load_territory {size:,} customers into SQLite", load_s, "s"))
        results.extend(bench_import(territory, clock))
        if size != baseline_size:
            continue
        with tempfile.TemporaryDirectory() as directory:
            db = fresh_sqlite(directory, clock)
            _, bulk_s = timed(partial(_insert_bulk, db, territory))
            db.dispose()
        with tempfile.TemporaryDirectory() as directory:
            db = fresh_sqlite(directory, clock)
            _, naive_s = timed(partial(_insert_one_object_per_row, db, territory))
            db.dispose()
        results.append(
            BenchRow(
                f"insert the {rows:,} rows of {size:,} customers",
                rows / bulk_s,
                "rows/s",
                baseline=rows / naive_s,
                baseline_description=f"the same {rows:,} rows, one ORM object and session.add per row",
                higher_is_better=True,
            )
        )
    return results


def export_territory(territory: Territory, directory: Path) -> dict[str, Path]:
    """The territory as import files: districts GeoJSON, the network as a parent-tree CSV and as
    a GeoPackage of devices between nodes with conductors (in DEMO_GIS_CRS), customers as CSV
    and as the GeoPackage's customers layer."""
    district_code = dict(zip(territory.districts["id"], territory.districts["code"], strict=True))
    districts = {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "properties": {
                    "code": d.code,
                    "name_en": d.name_en,
                    "name_zh": d.name_zh,
                    "area_type": d.area_type,
                },
                "geometry": d.geometry,
            }
            for d in territory.districts.itertuples()
        ],
    }
    paths = {
        "districts": directory / "districts.geojson",
        "network": directory / "network.csv",
        "customers": directory / "customers.csv",
        "gpkg": directory / "network.gpkg",
    }
    paths["districts"].write_text(json.dumps(districts, ensure_ascii=False), encoding="utf-8")
    devices = territory.devices
    code = dict(zip(devices["id"], devices["code"], strict=True))
    network = pd.DataFrame(
        {
            "code": devices["code"],
            "kind": devices["kind"],
            "parent_code": devices["parent_id"].map(code),
            "name": devices["name"],
            "lon": devices["lon"],
            "lat": devices["lat"],
            "telemetered": devices["telemetered"].map({True: "true", False: "false"}),
            "normal_state": devices["normal_state"],
            "rating_kva": devices["rating_kva"],
            "district_code": devices["district_id"].map(district_code),
        }
    )
    network.to_csv(paths["network"], index=False)
    customers = territory.customers.drop(columns=["id", "version", "transformer_id", "district_id"]).assign(
        transformer_code=territory.customers["transformer_id"].map(code),
        district_code=territory.customers["district_id"].map(district_code),
    )
    customers.to_csv(paths["customers"], index=False)
    nodes = network.drop(columns=["parent_code"]).assign(
        from_node=devices["from_node"], to_node=devices["to_node"]
    )
    write_geopackage(paths["gpkg"], nodes, customers, DEMO_GIS_CRS)
    return paths


def _import(db: Database, clock: FakeClock, network: Path, customers: Path, districts: Path) -> None:
    context = Context(db, clock, CLI_ADMIN, ZoneInfo("Asia/Shanghai"))
    execute(context, ImportTerritory(network=network, customers=customers, districts=districts))


def bench_import(territory: Territory, clock: FakeClock) -> list[BenchRow]:
    """Time `import` of the territory from CSV and from the GeoPackage, each into a fresh file."""
    size = len(territory.customers)
    with tempfile.TemporaryDirectory() as directory:
        paths = export_territory(territory, Path(directory))
        seconds: dict[str, float] = {}
        for name, network, customers in (
            ("csv", paths["network"], paths["customers"]),
            ("gpkg", paths["gpkg"], paths["gpkg"]),
        ):
            with tempfile.TemporaryDirectory() as target:
                db = fresh_sqlite(target, clock)
                _, seconds[name] = timed(partial(_import, db, clock, network, customers, paths["districts"]))
                db.dispose()
    return [
        BenchRow(f"import {size:,} customers from CSV (parent tree)", seconds["csv"], "s"),
        BenchRow(
            f"import {size:,} customers from a GeoPackage ({DEMO_GIS_CRS}, nodes and conductors)",
            seconds["gpkg"],
            "s",
            baseline=seconds["csv"],
            baseline_description="the same territory imported from CSV in the same run",
        ),
    ]
