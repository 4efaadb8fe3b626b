"""A small hand-made territory with known answers, for tests that must count exactly.

Two districts side by side (urban west, rural east), one substation, two feeders:

    SS-1 ─ BRK-1 ─ REC-1 ─ FU-1 ─ TX-1 (3 customers), TX-2 (4 customers)
                         └ FU-2 ─ TX-3 (1 customer: a hospital)
           BRK-2 ─ REC-2 ─ FU-3 ─ TX-4 (5 customers), TX-5 (2 customers)

REC-1 and REC-2 are telemetered reclosers, BRK-1 and BRK-2 telemetered breakers.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field

from emergency.core.auth import hash_password
from emergency.core.clock import Clock
from emergency.core.db import Database
from emergency.core.models import (
    AreaType,
    Crew,
    CrewKind,
    CrewStatus,
    Customer,
    CustomerKind,
    Depot,
    Device,
    DeviceKind,
    District,
    ImportanceGrade,
    SwitchState,
    User,
)
from emergency.core.settings import set_setting

WEST = {
    "type": "Polygon",
    "coordinates": [[[121.0, 28.0], [121.1, 28.0], [121.1, 28.1], [121.0, 28.1], [121.0, 28.0]]],
}
EAST = {
    "type": "Polygon",
    "coordinates": [[[121.1, 28.0], [121.2, 28.0], [121.2, 28.1], [121.1, 28.1], [121.1, 28.0]]],
}
PASSWORDS = {"dispatcher": "dispatcher-pass", "manager": "manager-pass", "admin": "admin-pass-1"}

# (code, kind, parent code, lon, lat)
DEVICES = [
    ("SS-1", DeviceKind.SUBSTATION, None, 121.10, 28.05),
    ("BRK-1", DeviceKind.BREAKER, "SS-1", 121.099, 28.05),
    ("REC-1", DeviceKind.RECLOSER, "BRK-1", 121.08, 28.05),
    ("FU-1", DeviceKind.FUSE, "REC-1", 121.06, 28.06),
    ("TX-1", DeviceKind.TRANSFORMER, "FU-1", 121.05, 28.06),
    ("TX-2", DeviceKind.TRANSFORMER, "FU-1", 121.05, 28.07),
    ("FU-2", DeviceKind.FUSE, "REC-1", 121.06, 28.04),
    ("TX-3", DeviceKind.TRANSFORMER, "FU-2", 121.05, 28.03),
    ("BRK-2", DeviceKind.BREAKER, "SS-1", 121.101, 28.05),
    ("REC-2", DeviceKind.RECLOSER, "BRK-2", 121.12, 28.05),
    ("FU-3", DeviceKind.FUSE, "REC-2", 121.14, 28.05),
    ("TX-4", DeviceKind.TRANSFORMER, "FU-3", 121.15, 28.06),
    ("TX-5", DeviceKind.TRANSFORMER, "FU-3", 121.15, 28.04),
]
CUSTOMERS_PER_TRANSFORMER = {"TX-1": 3, "TX-2": 4, "TX-3": 1, "TX-4": 5, "TX-5": 2}


@dataclass
class SmallTerritory:
    device_ids: dict[str, int] = field(default_factory=dict)
    account_by_transformer: dict[str, list[str]] = field(default_factory=dict)
    crew_ids: dict[str, int] = field(default_factory=dict)
    district_ids: dict[str, int] = field(default_factory=dict)


def build_small_territory(db: Database, clock: Clock, tca_method: str = "rules") -> SmallTerritory:
    """The territory; `tca_method` chooses trouble-call analysis's method. The rules by default:
    the tests written against this territory count the rules' answers (2 calls on a transformer,
    2 children or 30 % to roll up); evidence-weighted analysis has its own tests on it."""
    built = SmallTerritory()
    with db.write() as session:
        set_setting(session, "tca.method", tca_method, clock)
        west = District(
            code="W",
            name_en="West Town",
            name_zh="西镇",
            area_type=AreaType.URBAN,
            geometry=WEST,
            centroid_lon=121.05,
            centroid_lat=28.05,
        )
        east = District(
            code="E",
            name_en="East Village",
            name_zh="东村",
            area_type=AreaType.RURAL,
            geometry=EAST,
            centroid_lon=121.15,
            centroid_lat=28.05,
        )
        session.add_all([west, east])
        session.flush()
        built.district_ids = {"W": west.id, "E": east.id}
        for code, kind, parent, lon, lat in DEVICES:
            telemetered = kind in (DeviceKind.BREAKER, DeviceKind.RECLOSER)
            device = Device(
                code=code,
                kind=kind,
                name=code,
                parent_id=built.device_ids.get(parent) if parent else None,
                district_id=west.id if lon < 121.1 or code == "SS-1" else east.id,
                lon=lon,
                lat=lat,
                telemetered=telemetered,
                scada_state=SwitchState.CLOSED if telemetered else None,
            )
            session.add(device)
            session.flush()
            built.device_ids[code] = device.id
        for code in built.device_ids:
            if code.startswith("BRK"):
                session.get(Device, built.device_ids[code]).feeder_id = built.device_ids[code]
            if code.startswith(("REC", "FU", "TX")):
                feeder = "BRK-1" if code in ("REC-1", "FU-1", "FU-2", "TX-1", "TX-2", "TX-3") else "BRK-2"
                session.get(Device, built.device_ids[code]).feeder_id = built.device_ids[feeder]
        n = 0
        for tx, count in CUSTOMERS_PER_TRANSFORMER.items():
            lon, lat = next((d[3], d[4]) for d in DEVICES if d[0] == tx)
            accounts = []
            for i in range(count):
                n += 1
                account = f"90000000{n:02d}"
                hospital = tx == "TX-3"
                session.add(
                    Customer(
                        account_no=account,
                        name="West Hospital 西镇医院" if hospital else f"Customer {n}",
                        phone=f"1390000{n:04d}",
                        address=f"{n} Test Road",
                        lon=lon + 0.001 * i,
                        lat=lat,
                        transformer_id=built.device_ids[tx],
                        district_id=west.id if lon < 121.1 else east.id,
                        kind=CustomerKind.HOSPITAL if hospital else CustomerKind.RESIDENTIAL,
                        importance=ImportanceGrade.GRADE1 if hospital else ImportanceGrade.NONE,
                        backup_hours=8 if hospital else None,
                        priority_weight=50 if hospital else 1,
                    )
                )
                accounts.append(account)
            built.account_by_transformer[tx] = accounts
        depot = Depot(
            code="D1", name_en="West Depot", name_zh="西镇抢修站", district_id=west.id, lon=121.03, lat=28.05
        )
        session.add(depot)
        session.flush()
        for code, kind, status in (
            ("C1", CrewKind.LINE, CrewStatus.AVAILABLE),
            ("C2", CrewKind.LINE, CrewStatus.AVAILABLE),
            ("C3", CrewKind.TREE, CrewStatus.OFF_DUTY),
        ):
            crew = Crew(
                code=code,
                name=f"Crew {code}",
                kind=kind,
                size=3,
                home_depot_id=depot.id,
                lon=121.03,
                lat=28.05,
                status=status,
            )
            session.add(crew)
            session.flush()
            built.crew_ids[code] = crew.id
        now = clock.now()
        for role, password_hash in _password_hashes().items():
            # Hashed once per test run: argon2 is deliberately slow, and tests build many territories.
            session.add(
                User(
                    username=role,
                    display_name=role,
                    role=role,
                    password_hash=password_hash,
                    active=True,
                    failed_logins=0,
                    created_at=now,
                    password_changed_at=now,
                )
            )
    return built


@functools.cache
def _password_hashes() -> dict[str, str]:
    return {role: hash_password(password) for role, password in PASSWORDS.items()}
