"""The demo territory: a fictional typhoon-coast city, Lanhai City (澜海市), generated from a seed.

`generate_territory` is pure: from the shipped parameters (data/demo/territory.json), a customer count,
a seed and a "now", it runs the stages in order (geography, grid, customers, crews, incidents) and
returns districts, a radial network, customers with important users, depots, crews and a handful of
active outages as pandas DataFrames whose columns are the model columns. `emergency.demo.load` writes
a territory into a database; `emergency.demo.history` adds years of closed outages.

The map (coastline and district boundaries) comes from the parameters alone, so every seed shows the
same city; the seed varies where people live, the network built to serve them, and the outages.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd

from emergency.core.errors import InvalidInput
from emergency.core.models import (
    ACTIVE_OUTAGE_STATES,
    Base,
    Crew,
    CrewAssignment,
    Customer,
    CustomerKind,
    Depot,
    Device,
    DeviceKind,
    District,
    EtrChange,
    ImportanceGrade,
    Outage,
    Report,
)
from emergency.demo.columns import INSERT_CHUNK, chunked_rows
from emergency.demo.crews import depot_frame, make_crews
from emergency.demo.customers import assign_important_users, make_customers
from emergency.demo.geography import Projection, geojson, label_point, load_geography
from emergency.demo.grid import build_network, place_transformers
from emergency.demo.incidents import IncidentBuilder
from emergency.demo.parameters import MIN_CUSTOMERS, load_parameters

# (username, role, password) of the demo's accounts: public on purpose, like the fictional territory
# they come with; a real deployment creates its own users.
DEMO_ACCOUNTS: tuple[tuple[str, str, str], ...] = (
    ("dispatcher", "dispatcher", "demo-dispatcher"),
    ("manager", "manager", "demo-manager"),
    ("admin", "admin", "demo-admin"),
    # A crew leader (the crew page): linked to an on-duty line crew the demo storm's plan dispatches.
    ("crew", "crew", "demo-crew"),
)


@dataclass(frozen=True)
class DemoSummary:
    """What a generated or loaded territory holds, for a one-line report."""

    districts: int
    substations: int
    feeders: int
    devices: int
    transformers: int
    customers: int
    important_users: int
    crews: int
    active_outages: int

    def __str__(self) -> str:
        return (
            f"{self.districts} districts, {self.substations} substations, {self.feeders} feeders, "
            f"{self.devices:,} devices ({self.transformers:,} transformers), {self.customers:,} customers "
            f"({self.important_users:,} important), {self.crews} crews, {self.active_outages} active outages"
        )


@dataclass
class Territory:
    """A generated territory; every frame's columns are the columns of its model."""

    name_en: str
    name_zh: str
    land: dict[str, Any]  # GeoJSON geometry of all land (the union of the districts)
    districts: pd.DataFrame
    depots: pd.DataFrame
    devices: pd.DataFrame
    customers: pd.DataFrame
    crews: pd.DataFrame
    outages: pd.DataFrame
    reports: pd.DataFrame
    etr_changes: pd.DataFrame
    assignments: pd.DataFrame

    def tables(self) -> list[tuple[type[Base], pd.DataFrame]]:
        """Models and frames in an order that inserts every row after the rows it refers to."""
        return [
            (District, self.districts),
            (Depot, self.depots),
            (Device, self.devices),
            (Customer, self.customers),
            (Crew, self.crews),
            (Outage, self.outages),
            (Report, self.reports),
            (EtrChange, self.etr_changes),
            (CrewAssignment, self.assignments),
        ]

    def rows(self, chunk_size: int = INSERT_CHUNK) -> Iterator[tuple[type[Base], list[dict[str, Any]]]]:
        """Every row as a dict of plain Python values, in insert order and in chunks."""
        for model, frame in self.tables():
            for rows in chunked_rows(frame, chunk_size):
                yield model, rows

    def summary(self) -> DemoSummary:
        kinds = self.devices["kind"]
        important = (self.customers["importance"] != ImportanceGrade.NONE.value) | (
            self.customers["kind"] == CustomerKind.LIFE_SUPPORT.value
        )
        active = self.outages["state"].isin([s.value for s in ACTIVE_OUTAGE_STATES])
        return DemoSummary(
            districts=len(self.districts),
            substations=int((kinds == DeviceKind.SUBSTATION.value).sum()),
            feeders=int((kinds == DeviceKind.BREAKER.value).sum()),
            devices=len(self.devices),
            transformers=int((kinds == DeviceKind.TRANSFORMER.value).sum()),
            customers=len(self.customers),
            important_users=int(important.sum()),
            crews=len(self.crews),
            active_outages=int(active.sum()),
        )


def generate_territory(customers: int, seed: int, now: datetime) -> Territory:
    """Build the demo territory with exactly `customers` customers, without touching a database.

    Deterministic: the same customers, seed and now give identical frames.
    """
    if customers < MIN_CUSTOMERS:
        raise InvalidInput(f"at least {MIN_CUSTOMERS:,} customers", field="customers")
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    params = load_parameters()
    geography = load_geography()
    rng = np.random.default_rng(seed)
    minx, miny, maxx, maxy = geography.land.bounds
    projection = Projection((minx + maxx) / 2, (miny + maxy) / 2)

    transformers = place_transformers(params, geography, projection, customers, rng)
    network = build_network(params, geography, projection, transformers, now, rng)
    people = make_customers(params, geography, projection, network, rng)
    assign_important_users(params, people, rng)
    per_district = np.bincount(people.district, minlength=len(params["districts"]))
    crews = make_crews(params, geography, projection, per_district, now, rng)
    devices = network.devices
    incidents = IncidentBuilder(params, projection, devices, network, people, crews, now, rng).build()

    district_rows = []
    for index, spec in enumerate(params["districts"]):
        geometry = geography.districts[index]
        lon, lat = label_point(geometry)
        district_rows.append(
            {
                "id": index + 1,
                "code": spec["code"],
                "name_en": spec["name_en"],
                "name_zh": spec["name_zh"],
                "area_type": spec["area_type"],
                "geometry": geojson(geometry),
                "centroid_lon": lon,
                "centroid_lat": lat,
            }
        )
    return Territory(
        name_en=params["city"]["name_en"],
        name_zh=params["city"]["name_zh"],
        land=geojson(geography.land),
        districts=pd.DataFrame(district_rows),
        depots=depot_frame(params, geography),
        devices=devices,
        customers=people.frame(network.transformer_ids),
        crews=crews,
        outages=incidents.outages,
        reports=incidents.reports,
        etr_changes=incidents.etr_changes,
        assignments=incidents.assignments,
    )
