"""The rows trouble-call analysis reads and writes: an active outage as plain attributes, and the
batched, versioned UPDATE statements that write a batch's changes in a handful of statements.

With the rules' settings (`TcaRules`) and what a batch found (`AnalysisResult`); kept apart from
the rules (`emergency.network.analysis`) so each module stays readable.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, update
from sqlalchemy.orm import Session
from sqlalchemy.sql import Executable

from emergency.core.models import (
    AssignmentStatus,
    Base,
    CrewAssignment,
    EtrConfidence,
    EtrSource,
    Outage,
    OutageState,
    Report,
    ReportStatus,
)
from emergency.core.settings import get_setting
from emergency.network.fault_location import LocationParams
from emergency.network.reads import ACTIVE_COLUMNS

TCA_METHODS = ("evidence", "rules")
_LOCATION_KEYS = (
    "tca.p_call",
    "tca.p_gasp",
    "tca.share_concentration",
    "tca.false_report_rate",
    "tca.fault_rates",
    "tca.ping_loss",
    "tca.confidence_to_move_up",
)


@dataclass(frozen=True)
class TcaRules:
    calls_to_predict: int
    children_to_roll_up: int
    share_to_roll_up: float
    window: timedelta
    nested_window: timedelta
    method: str = "rules"  # `evidence` or `rules` (`tca.method`)
    location: LocationParams | None = None  # set for `evidence`

    @classmethod
    def from_settings(cls, session: Session) -> TcaRules:
        window_minutes = float(get_setting(session, "tca.window_minutes"))
        method = str(get_setting(session, "tca.method"))
        if method not in TCA_METHODS:
            raise ValueError(f"setting tca.method is {method!r}; it must be one of {', '.join(TCA_METHODS)}")
        location = None
        if method == "evidence":
            values = {key: get_setting(session, key) for key in _LOCATION_KEYS}
            location = LocationParams.from_settings(values, window_minutes)
        return cls(
            calls_to_predict=int(get_setting(session, "tca.calls_to_predict_transformer")),
            children_to_roll_up=int(get_setting(session, "tca.children_to_roll_up")),
            share_to_roll_up=float(get_setting(session, "tca.share_to_roll_up")),
            window=timedelta(minutes=window_minutes),
            nested_window=timedelta(minutes=float(get_setting(session, "tca.nested_window_minutes"))),
            method=method,
            location=location,
        )


@dataclass
class AnalysisResult:
    predicted: list[int] = field(default_factory=list)
    confirmed: list[int] = field(default_factory=list)
    merged: list[int] = field(default_factory=list)
    nested: list[int] = field(default_factory=list)
    restored: list[int] = field(default_factory=list)
    grouped_reports: int = 0
    # Where each report of the batch belongs: report id -> (outage id or None, status). Reports
    # not named here stay received and unlinked. The caller stores the batch with these values.
    report_links: dict[int, tuple[int | None, ReportStatus]] = field(default_factory=dict, repr=False)

    def summary(self) -> str:
        return (
            f"outages: {len(self.predicted)} predicted, {len(self.confirmed)} confirmed by telemetry, "
            f"{len(self.merged)} merged, {len(self.nested)} nested, "
            f"{len(self.restored)} restored by telemetry"
        )

    def to_json(self) -> dict[str, list[int]]:
        return {
            "predicted": self.predicted,
            "confirmed": self.confirmed,
            "merged": self.merged,
            "nested": self.nested,
            "restored": self.restored,
        }


# What analysis reads of an active outage it finds in the database.
class ActiveOutage:
    """An active outage already in the database, as analysis reads it: plain attributes.

    A storm's batch adds calls to a hundred or so of these and changes nothing else about them;
    loading each as a mapped object, and taking it out of the session again after writing its
    counts, cost a fifth of the intake's time. One is written with a versioned UPDATE of its own
    (calls attached, or taken over by a larger outage); an outage a SCADA event confirms or
    restores is loaded as a mapped object first (`_Analysis._mapped`).
    """

    __slots__ = (*ACTIVE_COLUMNS, "loaded")

    id: int
    state: OutageState
    device_id: int
    version: int
    report_count: int
    first_report_at: datetime
    last_report_at: datetime | None
    hazard: bool
    confirmed_at: datetime | None
    confirmed_by: str | None
    dispatched_at: datetime | None
    en_route_at: datetime | None
    on_site_at: datetime | None
    etr_at: datetime | None
    etr_source: EtrSource | None
    etr_confidence: EtrConfidence | None
    etr_set_at: datetime | None
    customers_affected: int
    customers_restored: int
    customer_id: int | None  # set for a service outage
    prediction_confidence: float | None

    def __init__(self, row: Sequence[Any]) -> None:
        for name, value in zip(ACTIVE_COLUMNS, row, strict=True):
            setattr(self, name, value)
        self.loaded = self.attached()

    def attached(self) -> tuple[Any, ...]:
        """The values of the columns attaching calls changes (`ATTACH_COLUMNS`)."""
        return tuple(getattr(self, name) for name in ATTACH_COLUMNS)


AnyOutage = Outage | ActiveOutage


@dataclass
class Gathered:
    """Reports of a batch that joined one outage: how many, their time span, any hazard."""

    outage: AnyOutage
    count: int
    first: datetime
    last: datetime
    hazard: bool


ATTACH_COLUMNS = ("report_count", "first_report_at", "last_report_at", "hazard", "prediction_confidence")
OUTAGES = Base.metadata.tables[Outage.__tablename__]
# Report rows are never loaded as objects during analysis: their updates skip the ORM's
# bookkeeping for objects in the session.
REPORTS = Base.metadata.tables[Report.__tablename__]


def versioned_outage_update(columns: Iterable[str]) -> Executable:
    """UPDATE an outage row still at the version it was read at (`b_version`), moving the version
    on (`b_new_version`); each column's value is bound as `b_<column>`."""
    return (
        update(OUTAGES)
        .where(OUTAGES.c.id == bindparam("b_id"), OUTAGES.c.version == bindparam("b_version"))
        .values(version=bindparam("b_new_version"), **{name: bindparam(f"b_{name}") for name in columns})
    )


UPDATE_ATTACHED = versioned_outage_update(ATTACH_COLUMNS)
UPDATE_MERGED_INTO = versioned_outage_update(["merged_into_id"])
UPDATE_MERGED_FOUND = versioned_outage_update(["state", "merged_into_id", *ATTACH_COLUMNS])
MOVE_REPORTS = (
    update(REPORTS).where(REPORTS.c.outage_id == bindparam("b_from")).values(outage_id=bindparam("b_to"))
)
ASSIGNMENTS = Base.metadata.tables[CrewAssignment.__tablename__]
MOVE_ASSIGNMENTS = (
    update(ASSIGNMENTS)
    .where(
        ASSIGNMENTS.c.outage_id == bindparam("b_from"),
        ASSIGNMENTS.c.status != AssignmentStatus.COMPLETE,
        ASSIGNMENTS.c.status != AssignmentStatus.CANCELLED,
    )
    .values(outage_id=bindparam("b_to"), version=ASSIGNMENTS.c.version + 1)
)
