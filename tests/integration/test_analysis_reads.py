"""Analysis's per-batch reads give the same values through SQLite's driver as through SQLAlchemy.

On SQLite, trouble-call analysis reads the active outages, switch states and waiting calls straight
through the driver and converts the values itself; on PostgreSQL it uses SQLAlchemy. Here both
forms run on the same database (the driver's form only where it exists) and must agree value for
value and type for type.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import update

import emergency.network.reads as network
from emergency.core.actor import Actor
from emergency.core.models import Device, EtrConfidence, EtrSource, OutageState, SwitchState
from tests.support.commands import submit_reports
from tests.support.outage_records import add_outage
from tests.support.small_territory import build_small_territory

HOTLINE = Actor("hotline-gateway", "intake")


def _both(monkeypatch: pytest.MonkeyPatch, read) -> tuple[object, object]:
    """What `read()` gives as the database's own form, then through SQLAlchemy's form."""
    own = read()
    with monkeypatch.context() as patch:
        patch.setattr(network, "on_sqlite", lambda session: False)
        through_sqlalchemy = read()
    return own, through_sqlalchemy


def _typed(rows) -> list[list[tuple[type, object]]]:
    return [[(type(value), value) for value in row] for row in rows]


def test_active_outages_switches_and_waiting_calls_read_alike(database, clock, monkeypatch) -> None:
    territory = build_small_territory(database, clock)
    now = clock.now()
    with database.write() as session:
        add_outage(
            session,
            territory,
            "FU-1",
            OutageState.DISPATCHED,
            first_report_at=now - timedelta(minutes=40),
            last_report_at=now - timedelta(minutes=5),
            confirmed_at=now - timedelta(minutes=30),
            confirmed_by="dispatcher",
            dispatched_at=now - timedelta(minutes=20),
            etr_at=now + timedelta(hours=2),
            etr_source=EtrSource.CREW,
            etr_confidence=EtrConfidence.MEDIUM,
            etr_set_at=now - timedelta(minutes=10, microseconds=1),
            hazard=True,
            report_count=4,
        )
        add_outage(session, territory, "TX-4", OutageState.PREDICTED, first_report_at=now, report_count=1)
        add_outage(session, territory, "TX-5", OutageState.CLOSED, first_report_at=now)  # not active
        session.execute(
            update(Device)
            .where(Device.id == territory.device_ids["REC-1"])
            .values(scada_state=SwitchState.CLOSED)
        )
    # One call on TX-5 (two customers, nothing active above it) from a location, with no account:
    # no customer to open a service outage for, so it waits for a second.
    submit_reports(
        database,
        clock,
        HOTLINE,
        [{"channel": "hotline", "kind": "no_power", "lon": 121.15, "lat": 28.04}],
    )
    ids = list(territory.device_ids.values())

    with database.read() as session:
        outages = _both(monkeypatch, lambda: network.active_outages_at(session, ids))
        switches = _both(monkeypatch, lambda: network.switch_states(session, ids))
        devices = _both(monkeypatch, lambda: network.active_devices(session))
        waiting = _both(monkeypatch, lambda: list(network.waiting_calls(session, now - timedelta(hours=1))))

    assert len(outages[0]) == 2 and len(switches[0]) == len(ids) and len(waiting[0]) == 1
    for own, through_sqlalchemy in (outages, switches, waiting, [[(d,) for d in ds] for ds in devices]):
        assert sorted(_typed(own), key=str) == sorted(_typed(through_sqlalchemy), key=str)
    assert {row[1] for row in outages[0]} == {OutageState.DISPATCHED, OutageState.PREDICTED}
    assert sorted(devices[0]) == sorted(territory.device_ids[code] for code in ("FU-1", "TX-4"))
