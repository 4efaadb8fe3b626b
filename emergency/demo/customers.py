"""The demo's customers, numbered along the network transformer by transformer, and its important users
(hospitals, water works, life-support homes...) drawn from the parameters' templates."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from emergency.core.models import CustomerKind, ImportanceGrade
from emergency.demo.columns import TEXT, number_column, object_column, phone_column, text_column, zh_number
from emergency.demo.geography import Geography, Projection
from emergency.demo.grid import Network

_ORDINARY_KINDS = (CustomerKind.RESIDENTIAL, CustomerKind.COMMERCIAL, CustomerKind.INDUSTRIAL)


@dataclass
class Customers:
    """Customer columns as arrays while important users are picked; text in numpy StringDType."""

    account_no: np.ndarray
    name: np.ndarray
    phone: np.ndarray
    address: np.ndarray
    lonlat: np.ndarray
    transformer: np.ndarray  # index into the network's transformers
    district: np.ndarray
    kind: np.ndarray  # object array of CustomerKind values
    importance: np.ndarray
    backup_hours: np.ndarray
    priority_weight: np.ndarray
    contact_name: np.ndarray
    contact_phone: np.ndarray

    def frame(self, transformer_ids: np.ndarray) -> pd.DataFrame:
        count = len(self.account_no)
        return pd.DataFrame(
            {
                "id": np.arange(1, count + 1, dtype=np.int64),
                "account_no": object_column(self.account_no),
                "name": object_column(self.name),
                "phone": object_column(self.phone),
                "address": object_column(self.address),
                "lon": self.lonlat[:, 0],
                "lat": self.lonlat[:, 1],
                "transformer_id": transformer_ids[self.transformer],
                "district_id": self.district + 1,
                "kind": pd.Series(self.kind, dtype=object),
                "importance": pd.Series(self.importance, dtype=object),
                "backup_hours": self.backup_hours,
                "priority_weight": self.priority_weight,
                "contact_name": pd.Series(self.contact_name, dtype=object),
                "contact_phone": pd.Series(self.contact_phone, dtype=object),
                "version": np.ones(count, dtype=np.int64),
                "meter_id": smart_meters(self.account_no),
            },
            copy=False,
        )


# Share of the demo's customers with a smart meter the head-end can ping (#21 point 3); the
# simulator's scenarios assume the same share where a territory has no meter ids.
DEMO_METER_SHARE = 0.5


def smart_meters(accounts: np.ndarray) -> pd.Series:
    """Meter ids ("M" and the account's digits) for a share of the customers, None for the rest.

    Drawn from a generator of its own, so the rest of the territory is the same as before meters."""
    count = len(accounts)
    metered = np.random.default_rng([count, 10]).random(count) < DEMO_METER_SHARE
    ids = pd.Series(["M" + str(a)[1:] for a in accounts], dtype=object)
    return ids.where(metered, None)


def _people(names: dict[str, Any], count: int, rng: np.random.Generator) -> np.ndarray:
    surnames = names["surnames"]
    weights = np.array([w for _, w in surnames], dtype=float)
    family = text_column([s for s, _ in surnames])[
        rng.choice(len(surnames), count, p=weights / weights.sum())
    ]
    return family + text_column(names["given"])[rng.integers(0, len(names["given"]), count)]


def make_customers(
    params: dict[str, Any],
    geography: Geography,
    projection: Projection,
    network: Network,
    rng: np.random.Generator,
) -> Customers:
    names = params["names"]
    area_names = ("urban", "rural", "remote")
    district_area = np.array([area_names.index(d["area_type"]) for d in params["districts"]])
    sizes = network.size
    count = int(sizes.sum())
    transformer = np.repeat(np.arange(len(sizes)), sizes)
    rank = np.arange(count) - np.repeat(np.cumsum(sizes) - sizes, sizes)
    district = network.district[transformer]
    area = district_area[district]

    # Scattered around the transformer, tighter in town; a customer who lands outside the
    # transformer's district (across a boundary or at sea) is pulled back towards the transformer.
    spread = np.array([params["area_types"][a]["customer_spread_km"] for a in area_names])[area]
    home = network.lonlat[transformer]
    lonlat = home + rng.normal(0.0, 1.0, (count, 2)) * spread[:, None] / projection.km_per_deg
    outside = np.flatnonzero(~geography.inside_own(lonlat, district))
    for _ in range(6):
        if len(outside) == 0:
            break
        lonlat[outside] = home[outside] + (lonlat[outside] - home[outside]) * 0.5
        still = ~geography.inside_own(lonlat[outside], district[outside])
        outside = outside[still]
    lonlat[outside] = home[outside]

    kind = np.empty(count, dtype=object)
    draw = rng.random(count)
    for index, area_name in enumerate(area_names):
        rows = np.flatnonzero(area == index)
        shares = params["area_types"][area_name]["kinds"]
        bounds = np.cumsum([shares[k.value] for k in _ORDINARY_KINDS])
        chosen = np.minimum(np.searchsorted(bounds / bounds[-1], draw[rows], side="right"), 2)
        kind[rows] = np.array([k.value for k in _ORDINARY_KINDS], dtype=object)[chosen]

    # Shops and firms are named like the signs on their doors; only their rows pay for the text work.
    name = _people(names, count, rng)
    shops = np.flatnonzero(kind == CustomerKind.COMMERCIAL.value)
    family = text_column([s for s, _ in names["surnames"]])[
        rng.integers(0, len(names["surnames"]), len(shops))
    ]
    name[shops] = (
        family + "记" + text_column(names["shops"])[rng.integers(0, len(names["shops"]), len(shops))]
    )
    firms = np.flatnonzero(kind == CustomerKind.INDUSTRIAL.value)
    name[firms] = (
        params["city"]["short_zh"]
        + text_column(names["firm_words"])[rng.integers(0, len(names["firm_words"]), len(firms))]
        + text_column(names["industries"])[rng.integers(0, len(names["industries"]), len(firms))]
        + "有限公司"
    )

    # Addresses follow the transformer's road or village; neighbours under one transformer share a
    # block of flats in town (3 units, 6 floors, 2 flats a floor; shops and firms give the building
    # only) or have neighbouring house numbers.
    district_zh = text_column([d["name_zh"] for d in params["districts"]])
    stem = (params["city"]["name_zh"] + district_zh[network.district] + network.place_zh)[transformer]
    number = network.place_number[transformer]
    address = np.empty(count, dtype=TEXT)
    town = np.flatnonzero(area == 0)
    r = rank[town]
    building = stem[town] + number_column(3 * (number[town] - 1) + 1 + r // 36) + "号"
    flat = number_column((r % 36) // 12 + 1) + "单元" + number_column(((r % 12) // 2 + 1) * 100 + r % 2 + 1)
    address[town] = np.where(kind[town] == CustomerKind.RESIDENTIAL.value, building + flat, building)
    village = np.flatnonzero(area != 0)
    address[village] = stem[village] + number_column((number[village] - 1) * 80 + rank[village] + 1) + "号"

    # Sparse but rising along the network, as utilities number accounts area by area; rising keys
    # also keep the unique index append-only when a million rows are loaded.
    account = "6" + number_column(np.sort(rng.choice(10**9, size=count, replace=False)), 9)
    weights = params["priority_weights"]
    return Customers(
        account_no=account,
        name=name,
        phone=phone_column(rng, count),
        address=address,
        lonlat=lonlat,
        transformer=transformer,
        district=district,
        kind=kind,
        importance=np.full(count, ImportanceGrade.NONE.value, dtype=object),
        backup_hours=np.full(count, np.nan),
        priority_weight=np.full(count, float(weights["ordinary"])),
        contact_name=np.full(count, None, dtype=object),
        contact_phone=np.full(count, None, dtype=object),
    )


def assign_important_users(params: dict[str, Any], customers: Customers, rng: np.random.Generator) -> None:
    """Turn about 1 % of customers into important users, every grade and every kind present.

    Templates come from the parameters (kind, grade, name pattern, areas, caps, backup hours); the
    first template of each kind and of each grade is placed before the weighted draw, so even a
    small territory has them all.
    """
    spec = params["important_users"]
    weights = params["priority_weights"]
    templates = spec["templates"]
    districts = params["districts"]
    count = len(customers.account_no)
    graded_target = round(count * spec["graded_share"])
    life_target = max(1, round(count * spec["life_support_share"]))

    required: list[int] = []
    for key in [k.value for k in CustomerKind] + [g.value for g in ImportanceGrade]:
        match = next((i for i, t in enumerate(templates) if key in (t["kind"], t["grade"])), None)
        if match is not None and match not in required:
            required.append(match)

    # Candidates per district in a random order; each important user takes the next one.
    queue = {d: list(rng.permutation(np.flatnonzero(customers.district == d))) for d in range(len(districts))}
    used_total = [0] * len(templates)
    used_in = [[0] * len(districts) for _ in templates]
    numbered: dict[tuple[int, int], int] = {}
    district_size = np.bincount(customers.district, minlength=len(districts)).astype(float)
    template_weight = np.array([t["weight"] for t in templates], dtype=float)
    # Staff contacts drawn in one go: enough for every template placed plus the weighted draw.
    contact_names = _people(params["names"], graded_target + len(templates), rng).tolist()
    contact_phones = phone_column(rng, graded_target + len(templates)).tolist()

    def open_districts(t: int) -> np.ndarray:
        template = templates[t]
        if used_total[t] >= template.get("max", math.inf):
            return np.empty(0, dtype=np.int64)
        cap = template.get("max_per_district", math.inf)
        return np.array(
            [
                d
                for d, spec_d in enumerate(districts)
                if spec_d["area_type"] in template["areas"] and used_in[t][d] < cap and queue[d]
            ],
            dtype=np.int64,
        )

    def place(t: int) -> bool:
        candidates = open_districts(t)
        if len(candidates) == 0:
            return False
        share = district_size[candidates]
        d = int(candidates[rng.choice(len(candidates), p=share / share.sum())])
        row = int(queue[d].pop())
        template = templates[t]
        per_district = "{d_" in template["name_en"] or "{d_" in template["name_zh"]
        key = (t, d if per_district else -1)
        numbered[key] = numbered.get(key, 0) + 1
        fields = {
            "n": numbered[key],
            "n_zh": zh_number(numbered[key]),
            "d_en": districts[d]["name_en"],
            "d_zh": districts[d]["name_zh"],
        }
        label_en = template["name_en"].format(**fields)
        label_zh = template["name_zh"].format(**fields)
        low, high = template["backup_hours"]
        none_share = template.get("backup_zero_share", 0.0)
        backup = 0.0 if rng.random() < none_share else round(float(rng.uniform(low, high)) * 2) / 2
        customers.name[row] = f"{label_en} {label_zh}"
        customers.address[row] = str(customers.address[row]).split("号", 1)[0] + "号"  # no flat number
        customers.kind[row] = template["kind"]
        customers.importance[row] = template["grade"]
        customers.backup_hours[row] = backup
        customers.priority_weight[row] = float(weights[template["grade"]])
        customers.contact_name[row] = contact_names.pop()
        customers.contact_phone[row] = contact_phones.pop()
        used_total[t] += 1
        used_in[t][d] += 1
        return True

    placed = sum(place(t) for t in required)
    # Availability changes only for the template just used, or when a district runs out of customers.
    available = np.array([len(open_districts(t)) > 0 for t in range(len(templates))])
    while placed < graded_target and available.any():
        weight = np.where(available, template_weight, 0.0)
        t = int(rng.choice(len(templates), p=weight / weight.sum()))
        placed += place(t)
        if any(not q for q in queue.values()):
            available = np.array([len(open_districts(u)) > 0 for u in range(len(templates))])
        else:
            available[t] = len(open_districts(t)) > 0

    # Life-support homes: ordinary households, critical for what their equipment needs.
    households = np.flatnonzero(
        (customers.kind == CustomerKind.RESIDENTIAL.value)
        & (customers.importance == ImportanceGrade.NONE.value)
    )
    homes = np.sort(rng.choice(households, size=min(life_target, len(households)), replace=False))
    low, high = spec["life_support_backup_hours"]
    customers.kind[homes] = CustomerKind.LIFE_SUPPORT.value
    customers.backup_hours[homes] = np.round(rng.uniform(low, high, len(homes)) * 2) / 2
    customers.priority_weight[homes] = float(weights["life_support"])
    customers.contact_name[homes] = _people(params["names"], len(homes), rng).tolist()
    customers.contact_phone[homes] = phone_column(rng, len(homes)).tolist()
