"""The reads trouble-call analysis makes every batch: active outages, switch states, waiting calls.

On SQLite they go straight through the driver, the ids bound as one JSON array (one statement
text whatever their number): a storm's batch makes each of them, and SQLAlchemy's statement
building and per-row result processing cost more than SQLite's work. On PostgreSQL they use
SQLAlchemy; both forms give the same values (tests/integration/test_analysis_reads.py).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, or_, select
from sqlalchemy.orm import Session

from emergency.core.bulk import driver_rows, on_sqlite, sqlite_utc_text, sqlite_utc_time
from emergency.core.models import (
    ACTIVE_OUTAGE_STATES,
    Device,
    EtrConfidence,
    EtrSource,
    Outage,
    OutageState,
    Report,
    ReportStatus,
    SwitchState,
)
from emergency.core.vocabulary import SUPPLY_LOSS_KINDS
from emergency.network.trace import current_state

ACTIVE_COLUMNS = (
    "id",
    "state",
    "device_id",
    "version",
    "report_count",
    "first_report_at",
    "last_report_at",
    "hazard",
    "confirmed_at",
    "confirmed_by",
    "dispatched_at",
    "en_route_at",
    "on_site_at",
    "etr_at",
    "etr_source",
    "etr_confidence",
    "etr_set_at",
    "customers_affected",
    "customers_restored",
    # Set for a service outage (one customer's lone call on this transformer): analysis keeps
    # those apart from the transformer's own outage (several may share one transformer).
    "customer_id",
    "prediction_confidence",  # evidence-weighted analysis moves it as calls arrive
)


def _optional(convert: Any) -> Any:
    return lambda value: None if value is None else convert(value)


_ACTIVE_STATES_SQL = ", ".join(f"'{state.value}'" for state in ACTIVE_OUTAGE_STATES)
_SQLITE_ACTIVE_AT = (
    f"SELECT {', '.join(ACTIVE_COLUMNS)} FROM outages WHERE state IN ({_ACTIVE_STATES_SQL})"
    " AND device_id IN (SELECT value FROM json_each(?))"
)
_SQLITE_ACTIVE_CONVERT = tuple(
    {
        "state": OutageState,
        "hazard": bool,
        "etr_source": _optional(EtrSource),
        "etr_confidence": _optional(EtrConfidence),
    }.get(name, sqlite_utc_time if name.endswith("_at") else None)
    for name in ACTIVE_COLUMNS
)


def active_outages_at(session: Session, device_ids: list[int]) -> list[Sequence[Any]]:
    """Rows of `ACTIVE_COLUMNS` for the active outages at these devices."""
    if not device_ids:
        return []
    if not on_sqlite(session):
        columns = [Outage.__table__.c[name] for name in ACTIVE_COLUMNS]
        return [
            row
            for start in range(0, len(device_ids), 900)
            for row in session.execute(
                select(*columns).where(
                    Outage.state.in_(ACTIVE_OUTAGE_STATES),
                    Outage.device_id.in_(device_ids[start : start + 900]),
                )
            )
        ]
    return [
        tuple(
            value if convert is None else convert(value)
            for convert, value in zip(_SQLITE_ACTIVE_CONVERT, row, strict=True)
        )
        for row in driver_rows(session, _SQLITE_ACTIVE_AT, (json.dumps(device_ids),))
    ]


def active_devices(session: Session) -> list[int]:
    """Ids of the devices with an active outage."""
    if not on_sqlite(session):
        return list(session.scalars(select(Outage.device_id).where(Outage.state.in_(ACTIVE_OUTAGE_STATES))))
    return [device_id for (device_id,) in driver_rows(session, _SQLITE_ACTIVE_DEVICES, ())]


_SQLITE_ACTIVE_DEVICES = f"SELECT device_id FROM outages WHERE state IN ({_ACTIVE_STATES_SQL})"
_SQLITE_RESTORED_AT = (
    "SELECT DISTINCT device_id FROM outages WHERE device_id IN (SELECT value FROM json_each(?))"
    f" AND state IN ('{OutageState.RESTORED.value}', '{OutageState.CLOSED.value}')"
    " AND restored_at >= ? AND restored_at <= ?"
)
_SQLITE_SWITCHES = "SELECT id, scada_state FROM devices WHERE id IN (SELECT value FROM json_each(?))"


def switch_states(session: Session, device_ids: list[int]) -> list[tuple[int, SwitchState | None]]:
    """(device id, telemetered state or None) of these devices."""
    if not device_ids:
        return []
    if not on_sqlite(session):
        return [
            (device_id, state)
            for start in range(0, len(device_ids), 900)
            for device_id, state in session.execute(
                select(Device.id, Device.scada_state).where(Device.id.in_(device_ids[start : start + 900]))
            )
        ]
    return [
        (device_id, None if state is None else SwitchState(state))
        for device_id, state in driver_rows(session, _SQLITE_SWITCHES, (json.dumps(device_ids),))
    ]


_WAITING_CALLS = select(Report.id, Report.transformer_id, Report.customer_id, Report.reported_at).where(
    Report.outage_id.is_(None),
    Report.status == ReportStatus.RECEIVED,
    Report.kind.in_(sorted(SUPPLY_LOSS_KINDS)),
    Report.reported_at >= bindparam("since"),
)
_SQLITE_WAITING_CALLS = (
    "SELECT id, transformer_id, customer_id, reported_at FROM reports WHERE outage_id IS NULL"
    f" AND status = '{ReportStatus.RECEIVED.value}'"
    f" AND kind IN ({', '.join(repr(kind.value) for kind in sorted(SUPPLY_LOSS_KINDS))})"
    " AND reported_at >= ?"
)


def _reported_at(text: str) -> datetime:
    at = sqlite_utc_time(text)
    assert at is not None  # reports.reported_at is NOT NULL
    return at


def waiting_calls(
    session: Session, since: datetime
) -> Iterable[tuple[int, int | None, int | None, datetime]]:
    """(id, transformer id, customer id, time) of supply-loss calls in no outage since `since`.

    Both forms use ix_reports_waiting. On SQLite the rows come straight from the driver: a storm's
    batch reads several hundred, and SQLAlchemy's result processing of their times cost more
    than the query.
    """
    if not on_sqlite(session):
        return session.execute(_WAITING_CALLS, {"since": since}).tuples()
    return [
        (report_id, transformer_id, customer_id, _reported_at(at))
        for report_id, transformer_id, customer_id, at in driver_rows(
            session, _SQLITE_WAITING_CALLS, (sqlite_utc_text(since),)
        )
    ]


def restored_devices_among(
    session: Session, device_ids: list[int], since: datetime, latest: datetime
) -> list[int]:
    """Of these devices, those that may have an outage restored between `since` and `latest`.

    Nearly always none: on SQLite the driver looks first, so analysis maps only what is there;
    elsewhere every id is returned and analysis's own query filters.
    """
    if not device_ids or not on_sqlite(session):
        return device_ids
    return [
        device_id
        for (device_id,) in driver_rows(
            session,
            _SQLITE_RESTORED_AT,
            (json.dumps(device_ids), sqlite_utc_text(since), sqlite_utc_text(latest)),
        )
    ]


_ANY_OPEN_SQL = " OR ".join(
    f"{column} = '{SwitchState.OPEN.value}'" for column in ("normal_state", "scada_state", "switched_state")
)
_SQLITE_MAYBE_OPEN = (
    f"SELECT id FROM devices WHERE id IN (SELECT value FROM json_each(?)) AND ({_ANY_OPEN_SQL})"
)


def open_switches(session: Session, device_ids: list[int]) -> set[int]:
    """Of these switches, the ids open now (SCADA's reading or the last switching step, whichever
    is newer, else the normal state: `trace.current_state`). Trouble-call analysis never rolls a
    prediction past one: what hangs below an open switch is out because it was opened.

    Nearly every switch on a storm's paths is closed in every column: the database finds the few
    with an open anywhere (on SQLite straight through the driver), and only those are weighed.
    """
    if not device_ids:
        return set()
    if on_sqlite(session):
        maybe = [i for (i,) in driver_rows(session, _SQLITE_MAYBE_OPEN, (json.dumps(device_ids),))]
    else:
        maybe = device_ids
    found: set[int] = set()
    for start in range(0, len(maybe), 900):
        for device_id, normal, scada, scada_at, switched, switched_at in session.execute(
            select(
                Device.id,
                Device.normal_state,
                Device.scada_state,
                Device.scada_state_at,
                Device.switched_state,
                Device.switched_at,
            ).where(
                Device.id.in_(maybe[start : start + 900]),
                or_(
                    Device.normal_state == SwitchState.OPEN,
                    Device.scada_state == SwitchState.OPEN,
                    Device.switched_state == SwitchState.OPEN,
                ),
            )
        ):
            if current_state(normal, scada, scada_at, switched, switched_at) == SwitchState.OPEN:
                found.add(int(device_id))
    return found
