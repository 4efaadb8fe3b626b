"""The demo's depots (from the parameters) and crews, shared out by district and placed at their depots or
out in the field."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
import shapely

from emergency.core.models import Crew, CrewKind, CrewStatus
from emergency.demo.columns import apportion, model_columns, phone_column
from emergency.demo.geography import Geography, Projection, settle
from emergency.demo.parameters import DATA_FILE


def depot_frame(params: dict[str, Any], geography: Geography) -> pd.DataFrame:
    codes = [d["code"] for d in params["districts"]]
    rows = []
    for index, depot in enumerate(params["depots"], start=1):
        district = codes.index(depot["district"])
        lon, lat = depot["lonlat"]
        if not shapely.contains_xy(geography.districts[district], lon, lat):
            raise ValueError(f"{DATA_FILE}: depot {depot['code']} is not inside district {depot['district']}")
        rows.append(
            {
                "id": index,
                "code": depot["code"],
                "name_en": depot["name_en"],
                "name_zh": depot["name_zh"],
                "district_id": district + 1,
                "lon": float(lon),
                "lat": float(lat),
                "is_staging": bool(depot.get("staging", False)),
            }
        )
    return pd.DataFrame(rows)


def make_crews(
    params: dict[str, Any],
    geography: Geography,
    projection: Projection,
    customers_per_district: np.ndarray,
    now: datetime,
    rng: np.random.Generator,
) -> pd.DataFrame:
    """About one crew per 2,000 customers, spread over the depots by the customers they serve.

    Mutual-aid crews wait at the staging areas. Most crews work the shift that covers "now"; the
    rest work the other shift and are off duty, so the board looks like a real hour of a real day.
    """
    spec = params["crews"]
    depots = params["depots"]
    codes = [d["code"] for d in params["districts"]]
    total = int(customers_per_district.sum())
    crews = max(spec["minimum"], round(total / spec["customers_per_crew"]))
    staging = [i for i, d in enumerate(depots) if d.get("staging")]
    homes = [i for i, d in enumerate(depots) if not d.get("staging")]
    mutual = max(1, round(crews * spec["mutual_aid_share"])) if staging else 0
    served = np.array(
        [sum(customers_per_district[codes.index(c)] for c in depots[i]["serves"]) for i in homes]
    )
    per_depot = np.zeros(len(depots), dtype=np.int64)
    per_depot[homes] = apportion(crews - mutual, np.maximum(served, 1), minimum=1)
    for n in range(mutual):
        per_depot[staging[n % len(staging)]] += 1

    local_hour = now.astimezone(ZoneInfo(params["city"]["timezone"])).hour
    day, night = tuple(spec["day_shift"]), tuple(spec["night_shift"])
    on_shift, off_shift = (day, night) if int(day[0][:2]) <= local_hour < int(day[1][:2]) else (night, day)
    kind_names = list(spec["kinds"])
    kind_shares = np.array([spec["kinds"][k] for k in kind_names])
    rows = []
    for depot_index, depot in enumerate(depots):
        short_code = depot["code"].split("-", 1)[1]
        numbers: dict[str, int] = {}
        for n in range(int(per_depot[depot_index])):
            if depot.get("staging"):
                kind = CrewKind.MUTUAL_AID.value
            elif n == 0:
                kind = CrewKind.LINE.value  # every depot keeps at least one line crew
            else:
                kind = kind_names[int(rng.choice(len(kind_names), p=kind_shares / kind_shares.sum()))]
            numbers[kind] = numbers.get(kind, 0) + 1
            label_en, label_zh = spec["names"][kind]
            low, high = spec["sizes"][kind]
            off = rng.random() < spec["off_duty_share"]
            shift = off_shift if off else on_shift
            rows.append(
                {
                    "code": f"C-{short_code}-{n + 1:02d}",
                    "name": f"{depot['short_en']} {label_en} {numbers[kind]} "
                    f"{depot['short_zh']}{label_zh}{numbers[kind]}队",
                    "kind": kind,
                    "size": int(rng.integers(low, high + 1)),
                    "home_depot_id": depot_index + 1,
                    "xy": projection.to_km(np.array(depot["lonlat"], dtype=float)) + rng.normal(0.0, 0.03, 2),
                    "depot_lonlat": np.array(depot["lonlat"], dtype=float),
                    "position_at": now - timedelta(minutes=int(rng.integers(5, 90))),
                    "status": CrewStatus.OFF_DUTY.value if off else CrewStatus.AVAILABLE.value,
                    "status_at": now - timedelta(minutes=int(rng.integers(20, 300))),
                    "shift_start": shift[0],
                    "shift_end": shift[1],
                    "phone": str(phone_column(rng, 1)[0]),
                }
            )
    # Parked near the depot, but never in the sea: a spot off land falls back to the depot itself.
    lonlat, _ = settle(
        geography,
        projection,
        np.array([r.pop("xy") for r in rows]),
        np.array([r.pop("depot_lonlat") for r in rows]),
    )
    frame = pd.DataFrame(rows)
    frame.insert(0, "id", np.arange(1, len(frame) + 1))
    frame["lon"] = lonlat[:, 0]
    frame["lat"] = lonlat[:, 1]
    frame["version"] = 1
    # Columns the demo leaves empty (a mutual-aid crew's company, check-in, ...): our own crews.
    for column in model_columns(Crew):
        if column not in frame:
            frame[column] = None
    return frame[model_columns(Crew)]
