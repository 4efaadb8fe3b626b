"""Benchmark `public`: the public snapshot and the public page with a typhoon's 5,000 active outages.

The snapshot is built once per interval and shared; every viewer is drawn from it. The baselines
are what a live-querying public map does per viewer: ask the database for each outage's customers,
and build the page from the database on every view.
"""

from __future__ import annotations

import gzip
import sys
import tempfile
from collections import Counter
from datetime import timedelta
from typing import Any
from zoneinfo import ZoneInfo

import shapely
from sqlalchemy import func, select, update

from bench.common import BENCH_NOW, BenchRow, fresh_sqlite, timed
from bench.dispatch import (
    DISPATCH_CREWS,
    DISPATCH_CUSTOMERS,
    DISPATCH_OUTAGES,
    storm_on_territory,
    without_incidents,
)
from emergency.core.clock import FakeClock
from emergency.core.db import Database
from emergency.core.models import (
    ACTIVE_OUTAGE_STATES,
    Customer,
    EtrConfidence,
    EtrSource,
    Outage,
    OutageState,
)
from emergency.demo.load import load_territory
from emergency.demo.parameters import DEFAULT_SEED
from emergency.demo.territory import generate_territory
from emergency.network.model import NetworkModel, build_network_model
from emergency.public.snapshot import PublicSnapshot, build_public_snapshot, cached_public_snapshot

PUBLIC_CUSTOMERS = DISPATCH_CUSTOMERS
PUBLIC_OUTAGES = DISPATCH_OUTAGES
REPEATS = 3
BENCH_TZ = ZoneInfo("Asia/Shanghai")
EXPIRED_ETR_SHARE_OF_CREWED = 0.1  # some crewed outages' ETRs have passed: shown as reassessed


def _english(key: str, **values: object) -> str:
    """A stand-in for the page's translations: the key and its values (no Streamlit session here)."""
    return f"{key} {values}" if values else key


def render_page(snapshot: PublicSnapshot) -> int:
    """Everything the public page draws from one snapshot; returns the map's rendered bytes."""
    from dashboard import public_map  # the dashboard only when this benchmark runs

    map_html, _, _, _ = public_map.page_parts(snapshot, "en", _english, BENCH_TZ)
    return len(map_html.encode("utf-8"))


def _gzipped_size(text: str) -> int:
    """The feed's bytes as the server sends them to a client that accepts gzip."""
    from dashboard.public_api import GZIP_LEVEL  # the dashboard only when this benchmark runs

    return len(gzip.compress(text.encode("utf-8"), GZIP_LEVEL, mtime=0))


def naive_snapshot(db: Database, model: NetworkModel) -> dict[str, Any]:
    """The live-querying map: per outage, read its customers from the database, count them per
    district and draw the hull of their own locations (what a map built per viewer tends to do)."""
    out: Counter[int] = Counter()
    areas: list[dict[str, Any]] = []
    with db.read() as session:
        outages = session.execute(
            select(Outage.id, Outage.device_id).where(Outage.state.in_(ACTIVE_OUTAGE_STATES))
        ).all()
        for _, device_id in outages:
            below = [int(model.net.ids[t]) for t in model.net.transformers_at_or_below(device_id)]
            customers = session.execute(
                select(Customer.district_id, Customer.lon, Customer.lat).where(
                    Customer.transformer_id.in_(below)
                )
            ).all()
            out.update(c.district_id for c in customers)
            if customers:
                hull = shapely.convex_hull(shapely.multipoints([(c.lon, c.lat) for c in customers])).buffer(
                    0.002
                )
                areas.append({"type": "Feature", "geometry": shapely.geometry.mapping(hull)})
        served = {
            district: count
            for district, count in session.execute(
                select(Customer.district_id, func.count()).group_by(Customer.district_id)
            )
        }
    return {"out": out, "served": served, "areas": areas}


def _set_etrs(db: Database, clock: FakeClock) -> None:
    """Crewed outages get a crew ETR two hours ahead; a tenth of them one that has already passed."""
    now = clock.now()
    crewed = [OutageState.DISPATCHED, OutageState.ON_SITE]
    with db.write() as session:
        session.execute(
            update(Outage)
            .where(Outage.state.in_(crewed))
            .values(
                etr_at=now + timedelta(hours=2),
                etr_source=EtrSource.CREW,
                etr_confidence=EtrConfidence.MEDIUM,
                etr_set_at=now - timedelta(minutes=10),
            )
        )
        step = round(1 / EXPIRED_ETR_SHARE_OF_CREWED)
        session.execute(
            update(Outage)
            .where(Outage.state.in_(crewed), Outage.id % step == 0)
            .values(etr_at=now - timedelta(minutes=5))
        )


def bench_public(
    customers: int = PUBLIC_CUSTOMERS,
    outages: int = PUBLIC_OUTAGES,
    crews: int = DISPATCH_CREWS,
    seed: int = DEFAULT_SEED,
) -> list[BenchRow]:
    """The first snapshot build after a start, then the rebuild each interval brings in a running
    app (best of `REPEATS`: network model, outage layouts and area shapes kept) beside the
    per-outage database queries of a live map; the page from the cached snapshot beside a page
    that queries the database for its viewer."""
    clock = FakeClock(BENCH_NOW)
    say = sys.stderr
    print(f"public: generating {customers:,} customers, {outages:,} outages and {crews:,} crews", file=say)
    territory = without_incidents(generate_territory(customers, seed, clock.now()))
    with tempfile.TemporaryDirectory() as directory:
        db = fresh_sqlite(directory, clock)
        load_territory(db, clock, territory)
        storm_on_territory(db, clock, outages, crews, seed + 2)
        _set_etrs(db, clock)
        with db.read() as session:
            model, model_s = timed(lambda: build_network_model(session))

        print("public: building the snapshot", file=say)

        def build() -> PublicSnapshot:
            with db.read() as session:
                return build_public_snapshot(session, clock, model)

        snapshot, first_s = timed(build)  # nothing cached yet: every outage's layout and area is new
        build_s = min(timed(build)[1] for _ in range(REPEATS))
        print("public: naive baseline, each outage's customers read from the database", file=say)
        _, naive_build_s = timed(lambda: naive_snapshot(db, model))

        print("public: the page from the cached snapshot", file=say)
        cached_public_snapshot(db, clock)  # fills the shared cache, as the first viewer does
        payload, _ = timed(lambda: render_page(cached_public_snapshot(db, clock)))
        render_s = min(
            timed(lambda: render_page(cached_public_snapshot(db, clock)))[1] for _ in range(REPEATS)
        )
        print("public: naive baseline, the page built from the database for one viewer", file=say)
        _, per_viewer_s = timed(lambda: render_page(build()))
        db.dispose()
    size = f"{snapshot.outages:,} outages, {customers:,} customers"
    return [
        BenchRow("network model (built once per territory revision, shared)", model_s, "s"),
        BenchRow(
            f"first snapshot build after a start (every layout and area shape new; {size})", first_s, "s"
        ),
        BenchRow(
            f"public snapshot build ({size}; {len(snapshot.areas['features']):,} areas drawn)",
            build_s,
            "s",
            budget="<= 0.5 s",
            baseline=naive_build_s,
            baseline_description=(
                "a live map's query per outage: each outage's customers read from the database, counted "
                "per district, hull of their locations"
            ),
        ),
        BenchRow(
            "public page render from the cached snapshot (map HTML, table, chart data, banners)",
            render_s,
            "s",
            budget="<= 0.1 s",
            baseline=per_viewer_s,
            baseline_description="the page built for one viewer from the database (snapshot build + render)",
        ),
        BenchRow(
            "public page's map, rendered (districts; the areas are fetched from the feed)",
            payload / 1e6,
            "MB",
        ),
        BenchRow(
            "outage areas feed, encoded once per snapshot (browsers revalidate it by ETag)",
            len(snapshot.areas_json.encode("utf-8")) / 1e6,
            "MB",
        ),
        BenchRow(
            "outage areas feed as a phone receives it (gzip, compressed once per snapshot)",
            _gzipped_size(snapshot.areas_json) / 1e6,
            "MB",
            budget="< 1 MB",
            baseline=len(snapshot.areas_json.encode("utf-8")) / 1e6,
            baseline_description="the same feed uncompressed",
        ),
    ]
