"""Two feeders joined by a normally open tie, written as a GIS gives it (nodes, no tree).

S ─ B1 ─ f1 ─ R1 ─ f2 ─ SW1 ─ f3          T1 (5 customers) on f1, T2 (4) on f2, T3 (6) on f3
  └ B2 ─ g1 ─ R2 ─ g2                     T4 (3) and T5 (7) on g2
TIE (normally open) joins f3 and g2.      25 customers served.
"""

from __future__ import annotations

from emergency.core.clock import FakeClock
from emergency.core.db import Database
from emergency.core.models import AreaType, Customer, Device, DeviceKind, District, SwitchState
from emergency.network.trace import retrace

K = DeviceKind
OPEN, CLOSED = SwitchState.OPEN, SwitchState.CLOSED
# code, kind, from node, to node, normal state, customers (transformers)
NETWORK = [
    ("S", K.SUBSTATION, None, "bus", CLOSED, 0),
    ("B1", K.BREAKER, "bus", "f1", CLOSED, 0),
    ("R1", K.RECLOSER, "f1", "f2", CLOSED, 0),
    ("SW1", K.SWITCH, "f2", "f3", CLOSED, 0),
    ("T1", K.TRANSFORMER, "f1", None, CLOSED, 5),
    ("T2", K.TRANSFORMER, "f2", None, CLOSED, 4),
    ("T3", K.TRANSFORMER, "f3", None, CLOSED, 6),
    ("B2", K.BREAKER, "bus", "g1", CLOSED, 0),
    ("R2", K.RECLOSER, "g1", "g2", CLOSED, 0),
    ("T4", K.TRANSFORMER, "g2", None, CLOSED, 3),
    ("T5", K.TRANSFORMER, "g2", None, CLOSED, 7),
    ("TIE", K.SWITCH, "f3", "g2", OPEN, 0),
]
AREA = {
    "type": "Polygon",
    "coordinates": [[[121.0, 28.0], [121.2, 28.0], [121.2, 28.1], [121.0, 28.1], [121.0, 28.0]]],
}


def build_two_feeders(database: Database, clock: FakeClock) -> dict[str, int]:
    """The network above, written as a GIS gives it (nodes, no tree), then traced."""
    ids: dict[str, int] = {}
    with database.write() as session:
        district = District(
            code="D",
            name_en="Tie Town",
            name_zh="联络镇",
            area_type=AreaType.URBAN,
            geometry=AREA,
            centroid_lon=121.1,
            centroid_lat=28.05,
        )
        session.add(district)
        session.flush()
        for n, (code, kind, a, b, normal, _) in enumerate(NETWORK):
            telemetered = kind in (K.BREAKER, K.RECLOSER) or code == "SW1"
            device = Device(
                code=code,
                kind=kind,
                name=code,
                district_id=district.id,
                lon=121.05 + 0.005 * n,
                lat=28.05,
                telemetered=telemetered,
                from_node=a,
                to_node=b,
                normal_state=normal,
            )
            session.add(device)
            session.flush()
            ids[code] = device.id
        account = 0
        for code, *_, customers in NETWORK:
            for _ in range(customers):
                account += 1
                session.add(
                    Customer(
                        account_no=f"77{account:06d}",
                        name=f"Customer {account}",
                        lon=121.05,
                        lat=28.05,
                        transformer_id=ids[code],
                        district_id=district.id,
                    )
                )
        assert retrace(session, clock).trace.problems() == []
    return ids
