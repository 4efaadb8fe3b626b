"""The demo territory generator: deterministic, radial, believable, and consistent with itself."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import numpy as np
import pandas as pd
import pytest
import shapely
from shapely.geometry import shape

from emergency.core.errors import InvalidInput
from emergency.core.models import ACTIVE_OUTAGE_STATES, CustomerKind, ImportanceGrade
from emergency.core.vocabulary import IMPORTANCE_ORDER
from emergency.demo.territory import Territory, generate_territory, load_parameters
from emergency.network.model import RadialNetwork

NOW = datetime(2026, 7, 1, 2, 0, tzinfo=UTC)
SIZE = 3_000
IMPORTANT_GRADES = {"special", "grade1", "grade2", "temporary"}
IMPORTANT_KINDS = {
    "hospital",
    "water",
    "gas",
    "telecom",
    "government",
    "transport",
    "school",
    "emergency_services",
    "life_support",
    "other",
}
CJK = re.compile(r"[\u4e00-\u9fff]")


@pytest.fixture(scope="module")
def territory() -> Territory:
    return generate_territory(SIZE, 7, NOW)


@pytest.fixture(scope="module")
def polygons(territory: Territory) -> dict[int, shapely.Geometry]:
    found = {int(row.id): shape(row.geometry) for row in territory.districts.itertuples()}
    for geometry in found.values():
        shapely.prepare(geometry)
    return found


def _inside_own_district(polygons: dict[int, shapely.Geometry], frame: pd.DataFrame) -> bool:
    return all(
        shapely.contains_xy(polygons[district], rows["lon"].to_numpy(), rows["lat"].to_numpy()).all()
        for district, rows in frame.groupby("district_id")
    )


def _radial(territory: Territory) -> RadialNetwork:
    devices = territory.devices
    return RadialNetwork.from_rows(
        (int(i), None if pd.isna(p) else int(p), k, c)
        for i, p, k, c in devices[["id", "parent_id", "kind", "code"]].itertuples(index=False)
    )


def test_the_same_seed_and_now_give_an_identical_territory(territory: Territory) -> None:
    again = generate_territory(SIZE, 7, NOW)
    for (model, first), (_, second) in zip(territory.tables(), again.tables(), strict=True):
        pd.testing.assert_frame_equal(first, second, obj=model.__tablename__)


def test_another_seed_gives_other_people_and_network_on_the_same_map(territory: Territory) -> None:
    other = generate_territory(SIZE, 8, NOW)
    assert other.customers["name"].tolist() != territory.customers["name"].tolist()
    assert not np.allclose(other.devices["lon"].head(20), territory.devices["lon"].head(20))
    assert other.districts["geometry"].tolist() == territory.districts["geometry"].tolist()


def test_refuses_a_territory_too_small_to_be_believable() -> None:
    with pytest.raises(InvalidInput):
        generate_territory(100, 7, NOW)


def test_every_frame_has_exactly_its_models_columns(territory: Territory) -> None:
    for model, frame in territory.tables():
        assert list(frame.columns) == [column.name for column in model.__table__.columns]
        assert frame["id"].is_unique


def test_districts_partition_the_land_and_are_bilingual(territory: Territory, polygons: dict) -> None:
    districts = territory.districts
    land = shape(territory.land)
    union = shapely.union_all(list(polygons.values()))
    assert 10 <= len(districts) <= 14
    assert set(districts["area_type"]) == {"urban", "rural", "remote"}
    assert union.symmetric_difference(land).area < land.area * 1e-9  # no gaps
    assert sum(p.area for p in polygons.values()) == pytest.approx(land.area, rel=1e-9)  # no overlaps
    for row in districts.itertuples():
        assert row.name_en.strip() and CJK.search(row.name_zh)
        assert polygons[row.id].contains(shapely.Point(row.centroid_lon, row.centroid_lat))
    assert land.bounds[0] >= 120.9 and land.bounds[2] <= 122.0
    assert land.bounds[1] >= 27.9 and land.bounds[3] <= 28.8


def test_urban_districts_are_small_and_dense(territory: Territory, polygons: dict) -> None:
    per_district = territory.customers.groupby("district_id").size()
    density: dict[str, list[float]] = {"urban": [], "rural": [], "remote": []}  # customers per area
    size: dict[str, list[float]] = {"urban": [], "rural": [], "remote": []}
    for row in territory.districts.itertuples():
        density[row.area_type].append(per_district[row.id] / polygons[row.id].area)
        size[row.area_type].append(polygons[row.id].area)
    assert min(density["urban"]) > max(density["rural"]) > min(density["rural"]) > max(density["remote"])
    assert max(size["urban"]) < min(size["rural"] + size["remote"])


def test_the_network_is_radial_and_every_device_reaches_a_substation(territory: Territory) -> None:
    devices = territory.devices.set_index("id")
    network = _radial(territory)
    assert network.problems() == []
    for device_id in devices.index:
        path = network.path_to_root(int(device_id))
        kinds = devices.loc[path, "kind"].tolist()
        assert kinds[-1] == "substation"
        feeder = devices.at[device_id, "feeder_id"]
        if devices.at[device_id, "kind"] == "substation":
            assert pd.isna(feeder)
        else:
            assert feeder == path[kinds.index("breaker")]


def test_feeders_are_telemetered_with_one_to_three_reclosers_in_series(territory: Territory) -> None:
    devices = territory.devices
    telemetered = devices[devices["kind"].isin(["breaker", "recloser"])]
    assert telemetered["telemetered"].all()
    assert set(telemetered["scada_state"]) <= {"closed", "open"}
    assert not devices[~devices["kind"].isin(["breaker", "recloser"])]["telemetered"].any()
    reclosers = devices[devices["kind"] == "recloser"]
    for _, series in reclosers.groupby("feeder_id"):
        assert 1 <= len(series) <= 3
        # In series: at most one recloser hangs from each device.
        assert series["parent_id"].is_unique
    assert set(reclosers["feeder_id"]) == set(devices.loc[devices["kind"] == "breaker", "id"])
    assert devices["code"].is_unique


def test_transformers_serve_thirty_to_seventy_customers(territory: Territory) -> None:
    sizes = territory.customers.groupby("transformer_id").size()
    transformers = territory.devices.loc[territory.devices["kind"] == "transformer", "id"]
    assert set(sizes.index) == set(transformers)
    assert sizes.between(30, 70).all()
    assert sizes.std() > 5  # spread out, not all the same


def test_devices_lie_inside_the_district_they_name(territory: Territory, polygons: dict) -> None:
    assert _inside_own_district(polygons, territory.devices)


def test_customers_lie_inside_their_transformers_district(territory: Territory, polygons: dict) -> None:
    customers = territory.customers
    transformer_district = territory.devices.set_index("id")["district_id"]
    assert (
        customers["district_id"].to_numpy() == transformer_district[customers["transformer_id"]].to_numpy()
    ).all()
    assert _inside_own_district(polygons, customers)


def test_customers_look_like_a_chinese_utilitys_records(territory: Territory) -> None:
    customers = territory.customers
    district_zh = territory.districts.set_index("id")["name_zh"]
    assert customers["account_no"].str.fullmatch(r"\d{10}").all() and customers["account_no"].is_unique
    assert customers["phone"].str.fullmatch(r"1\d{10}").all()
    assert customers["name"].map(lambda name: bool(CJK.search(name))).all()
    expected_prefix = "澜海市" + district_zh[customers["district_id"]].to_numpy()
    assert all(a.startswith(p) for a, p in zip(customers["address"], expected_prefix, strict=True))
    ordinary = customers[customers["importance"] == ImportanceGrade.NONE.value]
    assert set(ordinary["kind"]) == {"residential", "commercial", "industrial", "life_support"}


def test_about_one_percent_are_important_users_of_every_grade_and_kind(territory: Territory) -> None:
    customers = territory.customers
    weights = load_parameters()["priority_weights"]
    graded = customers[customers["importance"] != ImportanceGrade.NONE.value]
    life = customers[customers["kind"] == CustomerKind.LIFE_SUPPORT.value]
    assert 0.007 <= (len(graded) + len(life)) / len(customers) <= 0.015
    assert set(graded["importance"]) == IMPORTANT_GRADES
    assert set(graded["kind"]) | {"life_support"} == IMPORTANT_KINDS
    assert (life["importance"] == ImportanceGrade.NONE.value).all()
    assert (graded["priority_weight"] == graded["importance"].map(weights)).all()
    assert (life["priority_weight"] == weights["life_support"]).all()
    important = pd.concat([graded, life])
    assert important["contact_name"].notna().all() and important["contact_phone"].notna().all()
    assert important["backup_hours"].notna().all()
    assert customers.loc[~customers.index.isin(important.index), "contact_name"].isna().all()
    assert graded["name"].map(lambda name: bool(re.search(r"[A-Za-z]", name) and CJK.search(name))).all()
    assert graded["name"].is_unique


def test_backup_power_fits_the_kind_of_user(territory: Territory) -> None:
    customers = territory.customers
    hours = customers.groupby("kind")["backup_hours"]
    assert hours.min()["hospital"] >= 8 and hours.max()["hospital"] <= 24
    assert hours.min()["life_support"] >= 2 and hours.max()["life_support"] <= 6
    assert hours.min()["telecom"] >= 2 and hours.max()["telecom"] <= 8
    assert hours.min()["water"] >= 0 and hours.max()["water"] <= 12
    assert (customers.loc[customers["kind"] == "school", "backup_hours"] == 0).mean() >= 0.5
    assert (
        customers.loc[customers["importance"] == "none", "kind"]
        .isin(["residential", "commercial", "industrial", "life_support"])
        .all()
    )
    assert customers.loc[customers["kind"] == "residential", "backup_hours"].isna().all()


def test_depots_and_crews(territory: Territory, polygons: dict) -> None:
    depots, crews = territory.depots, territory.crews
    assert _inside_own_district(polygons, depots)
    assert depots["is_staging"].any() and (~depots["is_staging"]).any()
    assert len(crews) >= 12
    assert set(crews["kind"]) <= {"line", "cable", "tree", "assessment", "mutual_aid"}
    assert (crews["kind"] == "line").mean() > 0.4
    assert crews["size"].between(2, 6).all()
    assert (crews["status"] == "available").mean() > 0.6
    land = shape(territory.land)
    assert shapely.contains_xy(land, crews["lon"].to_numpy(), crews["lat"].to_numpy()).all()
    assert crews["phone"].str.fullmatch(r"1\d{10}").all() and crews["code"].is_unique


def test_outages_count_everyone_downstream(territory: Territory) -> None:
    customers, devices, outages = territory.customers, territory.devices, territory.outages
    below: dict[int, pd.DataFrame] = {}
    for outage in outages.itertuples():
        kind = devices.set_index("id").at[outage.device_id, "kind"]
        transformers = devices[devices["kind"] == "transformer"]
        if kind == "breaker":
            feeding = transformers.loc[transformers["feeder_id"] == outage.device_id, "id"]
        elif kind == "fuse":
            feeding = transformers.loc[transformers["parent_id"] == outage.device_id, "id"]
        else:
            feeding = pd.Series([outage.device_id])
        out = customers[customers["transformer_id"].isin(feeding)]
        below[outage.id] = out
        assert outage.customers_affected == len(out)
        assert outage.weighted_customers == pytest.approx(out["priority_weight"].sum())
        expected = {
            key: int(((out["kind"] == key) if key == "life_support" else (out["importance"] == key)).sum())
            for key in IMPORTANCE_ORDER
        }
        assert outage.important_affected == {key: n for key, n in expected.items() if n}
        assert outage.district_id == devices.set_index("id").at[outage.device_id, "district_id"]
    reports = territory.reports
    for outage in outages.itertuples():
        mine = reports[reports["outage_id"] == outage.id]
        assert outage.report_count == len(mine)
        assert outage.first_report_at == mine["reported_at"].min()
        from_customers = mine["customer_id"].dropna().astype(int)
        assert from_customers.isin(below[outage.id]["id"]).all()
        assert (mine["reported_at"] < NOW).all() and (mine["received_at"] <= NOW).all()


def test_active_outages_tell_the_demo_stories(territory: Territory) -> None:
    outages = territory.outages.set_index("id")
    devices = territory.devices.set_index("id")
    kind = outages["device_id"].map(devices["kind"])
    assert outages["state"].isin([s.value for s in ACTIVE_OUTAGE_STATES]).all()
    assert 6 <= len(outages) <= 10

    tripped = outages[kind == "breaker"].iloc[0]
    assert tripped.state == "on_site" and tripped.confirmed_by == "scada"
    assert tripped.confirmed_at == tripped.first_report_at
    assert devices.at[tripped.device_id, "scada_state"] == "open"
    scada = territory.reports[
        (territory.reports["outage_id"] == tripped.name) & (territory.reports["channel"] == "scada")
    ]
    assert scada["kind"].tolist() == ["device_opened"]
    fuses = outages[kind == "fuse"]
    assert set(fuses["state"]) == {"predicted", "dispatched"}
    assert set(outages.loc[kind == "transformer", "state"]) == {"predicted"}
    assert outages.loc[outages["hazard"], "device_id"].map(devices["kind"]).tolist() == ["transformer"]
    hazard_reports = territory.reports[territory.reports["kind"] == "hazard"]
    assert hazard_reports["outage_id"].tolist() == outages.index[outages["hazard"]].tolist()
    channels = set(territory.reports["channel"])
    assert {"scada", "meter", "hotline", "app"} <= channels


def test_crews_on_outages_match_their_assignments(territory: Territory) -> None:
    assignments = territory.assignments
    crews = territory.crews.set_index("id")
    outages = territory.outages.set_index("id")
    assert set(outages.loc[assignments["outage_id"], "state"]) == {"on_site", "dispatched"}
    for assignment in assignments.itertuples():
        assert crews.at[assignment.crew_id, "status"] == assignment.status
        assert outages.at[assignment.outage_id, "dispatched_at"] == assignment.assigned_at
        assert assignment.eta_at > assignment.assigned_at
    assert assignments["crew_id"].is_unique


def test_etrs_have_a_source_confidence_and_history(territory: Territory) -> None:
    outages = territory.outages.set_index("id")
    history = territory.etr_changes
    with_etr = outages[outages["etr_at"].notna()]
    assert len(with_etr) >= 3
    assert outages["etr_at"].isna().any()  # some outages are still waiting for an estimate
    for outage_id, outage in with_etr.iterrows():
        changes = history[history["outage_id"] == outage_id].sort_values("set_at")
        latest = changes.iloc[-1]
        assert (latest.etr_at, latest.source, latest.confidence) == (
            outage.etr_at,
            outage.etr_source,
            outage.etr_confidence,
        )
        assert outage.etr_at > NOW
    assert {"system", "crew", "dispatcher"} <= set(history["source"])


def test_fifty_thousand_customers_have_the_designed_scale() -> None:
    summary = generate_territory(50_000, 7, NOW).summary()
    assert 50_000 / 3_000 <= summary.feeders <= 50_000 / 1_500
    assert 6 <= summary.active_outages <= 10
    assert summary.crews == 25
    assert 900 <= summary.transformers <= 1_300
    assert str(summary).startswith("12 districts")


def test_neighbouring_feeders_meet_at_normally_open_ties_that_move_nothing() -> None:
    from emergency.core.vocabulary import DeviceKind, SwitchState
    from emergency.network.trace import TraceDevice, trace

    devices = generate_territory(50_000, 7, NOW).devices
    ties = devices[devices["kind"] == "switch"]
    substations_with_feeders = devices[devices["kind"] == "breaker"].groupby("parent_id").size()
    # One tie between each pair of neighbouring feeders of a substation.
    assert len(ties) == int((substations_with_feeders - 1).sum()) > 0
    assert set(ties["normal_state"]) == {"open"}
    feeder_of = dict(zip(devices["code"], devices["feeder_id"], strict=True))
    assert all(feeder_of[a] != feeder_of[b] for a, b in zip(ties["from_node"], ties["to_node"], strict=True))
    traced = trace(
        [
            TraceDevice(
                int(r.id),
                r.code,
                DeviceKind(r.kind),
                r.from_node,
                r.to_node,
                SwitchState(r.normal_state),
                SwitchState(r.normal_state),
            )
            for r in devices.itertuples()
        ]
    )
    assert traced.problems() == []
    # The trace of the nodes is the tree as generated: every parent and feeder where it is.
    stored_parent = {
        int(i): (None if pd.isna(p) else int(p))
        for i, p in zip(devices["id"], devices["parent_id"], strict=True)
    }
    stored_feeder = {
        int(i): (None if pd.isna(f) else int(f))
        for i, f in zip(devices["id"], devices["feeder_id"], strict=True)
    }
    assert traced.parent == stored_parent
    assert {i: f for i, f in traced.feeder.items() if stored_feeder[i] is not None} == {
        i: f for i, f in stored_feeder.items() if f is not None
    }
