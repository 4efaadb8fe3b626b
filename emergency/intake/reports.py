"""Outage intake: one service for every channel (hotline, app, web, SMS, meters, SCADA, field).

Each report is validated on its own; a bad one is refused with the field and the reason and nothing
of it is stored, while the good ones of the same batch go in. A report without an account resolves
to the nearest service transformer; the same (channel, external id) twice is stored once and the
retry is answered with the first id. Accepted reports then go to trouble-call analysis in the same
transaction, so an outage is never predicted from a report that was not stored, or the reverse.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, NamedTuple
from zoneinfo import ZoneInfo

import numpy as np
from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from emergency.core import audit
from emergency.core.actor import Actor
from emergency.core.bulk import insert_columns, on_sqlite
from emergency.core.clock import Clock
from emergency.core.errors import Problem
from emergency.core.ids import IdBlock
from emergency.core.models import Base, Device, Report, ReportChannel, ReportKind, ReportStatus, Role, Setting
from emergency.core.settings import get_setting
from emergency.network.analysis import AnalysisResult, IncomingReport, analyse_reports
from emergency.network.model import NetworkModel, network_model
from emergency.network.trace import retrace

# Who may submit: machine intake tokens, staff taking calls, and the public web form.
INTAKE_ROLES = ("intake", "system", "public", Role.DISPATCHER, Role.MANAGER, Role.ADMIN)
FIELDS = frozenset(
    {
        "channel",
        "external_id",
        "kind",
        "reported_at",
        "account_no",
        "lon",
        "lat",
        "device_code",
        "description",
        "contact_name",
        "contact_phone",
    }
)
SCADA_KINDS = frozenset({ReportKind.DEVICE_OPENED, ReportKind.DEVICE_CLOSED})
CLOCK_SKEW = timedelta(minutes=5)  # a caller's clock a little ahead of ours is not "the future"
MAX_BATCH = 5_000
CONTROL_IN_LINE = re.compile(r"[\x00-\x1f\x7f]")
CONTROL_IN_TEXT = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")  # newlines and tabs allowed
ENUM_MEMBERS: dict[Any, dict[str, Any]] = {
    enum: {member.value: member for member in enum} for enum in (ReportChannel, ReportKind)
}
PHONE = re.compile(r"^\+?[0-9][0-9 ()-]{3,30}$")


class Accepted(NamedTuple):
    """A report stored (or a retry of one), by its place in the request. A tuple: one per report."""

    # typeshed reads a field named `index` as overriding tuple.index; callers read the field.
    index: int  # type: ignore[assignment]
    id: int
    duplicate: bool


@dataclass
class IntakeResult:
    accepted: list[Accepted] = field(default_factory=list)
    errors: list[Problem] = field(default_factory=list)  # by item index; -1: the batch
    analysis: AnalysisResult = field(default_factory=AnalysisResult)

    @property
    def stored(self) -> int:
        return sum(1 for a in self.accepted if not a.duplicate)

    def summary(self) -> str:
        duplicates = len(self.accepted) - self.stored
        refused_items = len({e.index for e in self.errors})
        return (
            f"{self.stored} reports stored, {duplicates} duplicates, {refused_items} refused; "
            f"{self.analysis.summary()}"
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "accepted": [{"index": a.index, "id": a.id, "duplicate": a.duplicate} for a in self.accepted],
            "errors": [e.to_json() for e in self.errors],
            "outages": self.analysis.to_json(),
        }


@dataclass(slots=True)
class _Candidate:
    index: int
    channel: ReportChannel
    kind: ReportKind
    external_id: str | None
    reported_at: datetime
    account_no: str | None
    lon: float | None
    lat: float | None
    device_code: str | None
    description: str | None
    contact_name: str | None
    contact_phone: str | None
    customer_id: int | None = None
    transformer_id: int | None = None
    device_id: int | None = None


def too_many(items: Sequence[Any]) -> IntakeResult | None:
    """The refusal of a batch over MAX_BATCH reports (nothing of it is stored), or None."""
    if len(items) > MAX_BATCH:
        return IntakeResult(errors=[Problem.in_item(-1, "reports", f"at most {MAX_BATCH} reports per batch")])
    return None


def _scada_states(session: Session, stored: Sequence[tuple[_Candidate, int]]) -> dict[int, str | None]:
    """The stored SCADA state of every switch the batch's SCADA reports name (empty: none)."""
    ids = sorted({c.device_id for c, _ in stored if c.kind in SCADA_KINDS and c.device_id is not None})
    if not ids:
        return {}
    rows = session.execute(select(Device.id, Device.scada_state).where(Device.id.in_(ids))).tuples()
    return {device_id: None if state is None else str(state) for device_id, state in rows}


def receive_reports(
    session: Session, clock: Clock, actor: Actor, items: Sequence[Any], *, tz: ZoneInfo, model_key: str
) -> IntakeResult:
    """Validate, store and analyse a batch of reports, in the caller's writing transaction with
    analysis locked out (`unit_of_work(..., against_analysis=True)`).

    `tz` reads a report's local wall-clock time; `model_key` names the database whose cached
    network model analysis walks.
    """
    # Every setting in one query, held until the batch ends: the session's identity map keeps
    # only objects referenced elsewhere, and answers each `get_setting` from memory.
    settings = session.scalars(select(Setting)).all()
    model = network_model(session, model_key)
    result = IntakeResult()
    candidates = _validate_all(session, clock, model, items, result.errors, tz)
    fresh, repeats = _drop_duplicates(session, candidates, result.accepted)
    if fresh:
        stored = list(zip(fresh, IdBlock(session, _REPORTS).take(len(fresh)), strict=True))
        result.accepted.extend(Accepted(c.index, report_id, False) for c, report_id in stored)
        id_of = {c.index: report_id for c, report_id in stored}
        result.accepted.extend(Accepted(c.index, id_of[first.index], True) for c, first in repeats)
        scada_before = _scada_states(session, stored)
        result.analysis = analyse_reports(session, clock, model, _incoming(model, stored))
        _store(session, clock, stored, result.analysis.report_links)
        if scada_before and _scada_states(session, stored) != scada_before:
            # A switch SCADA saw operate may change what feeds what (a back-feed in the field).
            # Telemetry repeating a state already stored changes nothing: no re-trace for it.
            retrace(session, clock, actor.username)
        if actor.role == "public":
            # A web report by hand is audited on its own.
            for _, report_id in stored:
                audit.record(session, clock, actor, "report.create", "report", report_id)
        else:
            # Machine intake comes at storm rates: one row per batch, naming the token and the
            # reports it stored, keeps the trail complete without a row per call.
            ids = [report_id for _, report_id in stored]
            audit.record(
                session,
                clock,
                actor,
                "report.batch",
                "report",
                f"{ids[0]}-{ids[-1]}" if len(ids) > 1 else ids[0],
                after={"report_ids": ids, "count": len(ids)},
            )
    del settings
    result.accepted.sort(key=lambda a: a.index)
    result.errors.sort(key=lambda e: (e.index, e.field))
    return result


def _incoming(model: NetworkModel, stored: list[tuple[_Candidate, int]]) -> list[IncomingReport]:
    index_of = model.net.index_of
    return [
        IncomingReport(
            report_id,
            c.kind,
            c.reported_at,
            c.customer_id,
            None if c.transformer_id is None else index_of[c.transformer_id],
            None if c.device_id is None else index_of[c.device_id],
        )
        for c, report_id in stored
    ]


# --- validation -------------------------------------------------------------------------------


def _validate_all(
    session: Session,
    clock: Clock,
    model: NetworkModel,
    items: Sequence[Any],
    errors: list[Problem],
    tz: ZoneInfo,
) -> list[_Candidate]:
    now = clock.now()
    max_age = timedelta(hours=float(get_setting(session, "intake.max_age_hours")))
    max_description = int(get_setting(session, "intake.max_description_chars"))
    match_distance = float(get_setting(session, "intake.match_distance_m"))
    candidates: list[_Candidate] = []
    for index, item in enumerate(items):
        problems: list[tuple[str, str]] = []
        candidate = _parse(index, item, now, tz, max_age, max_description, problems)
        if candidate is not None and not problems:
            candidates.append(candidate)
        elif problems:
            errors.extend(Problem.in_item(index, f, r) for f, r in problems)
    good = _resolve(session, model, candidates, match_distance, errors)
    return good


def _parse(
    index: int,
    item: Any,
    now: datetime,
    tz: ZoneInfo,
    max_age: timedelta,
    max_description: int,
    problems: list[tuple[str, str]],
) -> _Candidate | None:
    if not isinstance(item, dict | Mapping):  # a dict is answered without the ABC machinery
        problems.append(("report", "must be an object of fields"))
        return None
    get = item.get
    if not FIELDS.issuperset(item):  # without building a set of the unknown ones, nearly always empty
        for name in sorted(item.keys() - FIELDS):
            problems.append((str(name)[:64], "unknown field"))
    channel = _enum(get("channel"), "channel", ReportChannel, problems)
    kind = _enum(get("kind"), "kind", ReportKind, problems)
    reported_at = _time(get("reported_at"), now, tz, max_age, problems)
    # Optional fields are mostly absent: their checks run only for a value.
    lon = lat = None
    if (value := get("lon")) is not None:
        lon = _number(value, "lon", -180, 180, problems)
    if (value := get("lat")) is not None:
        lat = _number(value, "lat", -90, 90, problems)
    if (lon is None) != (lat is None) and not any(f in ("lon", "lat") for f, _ in problems):
        problems.append(("lon" if lon is None else "lat", "give both lon and lat, or neither"))
    account_no = device_code = contact_phone = external_id = description = contact_name = None
    if (value := get("account_no")) is not None:
        account_no = _text(value, "account_no", 32, problems)
    if (value := get("device_code")) is not None:
        device_code = _text(value, "device_code", 48, problems)
    if kind in SCADA_KINDS and device_code is None:
        problems.append(("device_code", f"required for a {kind} report"))
    elif (
        kind is not None
        and kind not in SCADA_KINDS
        and account_no is None
        and lon is None
        and not any(f in ("account_no", "lon", "lat") for f, _ in problems)
    ):
        problems.append(("account_no", "give an account number or a location (lon and lat)"))
    if (value := get("contact_phone")) is not None:
        contact_phone = _text(value, "contact_phone", 32, problems)
        if contact_phone is not None and not PHONE.match(contact_phone):
            problems.append(("contact_phone", "not a phone number"))
    if (value := get("external_id")) is not None:
        external_id = _text(value, "external_id", 64, problems)
    if (value := get("description")) is not None:
        description = _text(value, "description", max_description, problems, multiline=True)
    if (value := get("contact_name")) is not None:
        contact_name = _text(value, "contact_name", 120, problems)
    if problems or channel is None or kind is None or reported_at is None:
        return None
    return _Candidate(
        index=index,
        channel=channel,
        kind=kind,
        reported_at=reported_at,
        account_no=account_no,
        lon=lon,
        lat=lat,
        device_code=device_code,
        contact_phone=contact_phone,
        external_id=external_id,
        description=description,
        contact_name=contact_name,
    )


def _enum(value: Any, name: str, enum: Any, problems: list[tuple[str, str]]) -> Any:
    exact = ENUM_MEMBERS[enum].get(value) if isinstance(value, str) else None
    if exact is not None:
        return exact  # the usual case, without the cost of an enum lookup
    if value is None or value == "":
        problems.append((name, "required"))
        return None
    try:
        return enum(str(value).strip().lower())
    except ValueError:
        allowed = ", ".join(m.value for m in enum)
        problems.append((name, f"unknown {name} {str(value)[:40]!r} (allowed: {allowed})"))
        return None


def _text(
    value: Any, name: str, limit: int, problems: list[tuple[str, str]], multiline: bool = False
) -> str | None:
    if (
        value.__class__ is str
        and 0 < len(value) <= limit
        and value.isascii()
        and value.isprintable()
        and value[0] != " "
        and value[-1] != " "
    ):
        # Account numbers and external ids, nearly every field of a storm's reports: printable
        # ASCII has no control characters, and without edge spaces nothing to strip.
        return value
    if not isinstance(value, str | int):
        problems.append((name, "must be text"))
        return None
    value = str(value).strip()
    if not value:
        return None
    if len(value) > limit:
        problems.append((name, f"longer than {limit} characters ({len(value)})"))
        return None
    # Control characters have no business in a report and break logs and SMS; newlines are
    # allowed in a description only.
    try:
        # A lone surrogate (from a JSON "\ud800" escape) is not text any database can store.
        if not value.isascii():
            value.encode("utf-8")
    except UnicodeEncodeError:
        problems.append((name, "is not valid Unicode text"))
        return None
    if (CONTROL_IN_TEXT if multiline else CONTROL_IN_LINE).search(value):
        problems.append((name, "contains control characters"))
        return None
    return value


def _number(value: Any, name: str, low: float, high: float, problems: list[tuple[str, str]]) -> float | None:
    if value == "":
        return None
    try:
        number = float(value)
    except (TypeError, ValueError, OverflowError):  # OverflowError: an integer past a float
        problems.append((name, f"not a number: {str(value)[:40]!r}"))
        return None
    if isinstance(value, bool) or not math.isfinite(number) or not low <= number <= high:
        problems.append((name, f"must be a number from {low} to {high}"))
        return None
    return number


def _time(
    value: Any, now: datetime, tz: ZoneInfo, max_age: timedelta, problems: list[tuple[str, str]]
) -> datetime | None:
    if value is None or value == "":
        return now
    if not isinstance(value, str):
        problems.append(("reported_at", "must be an ISO 8601 time, e.g. 2026-07-01T10:15:00+08:00"))
        return None
    try:
        when = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        problems.append(("reported_at", f"not an ISO 8601 time: {value[:40]!r}"))
        return None
    if when.tzinfo is None:
        # Call-centre systems send local wall-clock time; read it in the utility's time zone.
        when = when.replace(tzinfo=tz)
    if when > now + CLOCK_SKEW:
        problems.append(("reported_at", "is in the future"))
        return None
    if when < now - max_age:
        problems.append(("reported_at", f"is more than {max_age.total_seconds() / 3600:g} hours old"))
        return None
    return when


def _resolve(
    session: Session,
    model: NetworkModel,
    candidates: list[_Candidate],
    match_distance: float,
    errors: list[Problem],
) -> list[_Candidate]:
    """Accounts to customers and transformers, locations to the nearest transformer, codes to devices."""
    customers = model.customers_by_account([c.account_no for c in candidates if c.account_no])
    codes = sorted({c.device_code for c in candidates if c.device_code})
    devices = (
        dict(session.execute(select(Device.code, Device.id).where(Device.code.in_(codes))).tuples().all())
        if codes
        else {}
    )

    good: list[_Candidate] = []
    located = [c for c in candidates if c.lon is not None and c.lat is not None]
    lons = [c.lon for c in located if c.lon is not None]
    lats = [c.lat for c in located if c.lat is not None]
    inside: np.ndarray | list[bool] = model.inside(lons, lats) if located else []
    outside = {c.index for c, ok in zip(located, inside, strict=True) if not ok}
    for c in candidates:
        problem: tuple[str, str] | None = None
        if c.index in outside:
            problem = ("lon", f"({c.lon}, {c.lat}) is outside the territory")
        elif c.kind in SCADA_KINDS:
            c.device_id = devices.get(c.device_code or "")
            if c.device_id is None:
                problem = ("device_code", f"unknown device {c.device_code!r}")
        elif c.account_no:
            found = customers.get(c.account_no)
            if found is None:
                problem = ("account_no", "unknown account number")
            else:
                c.customer_id, c.transformer_id = found
        else:
            assert c.lon is not None and c.lat is not None
            nearest = model.nearest_transformer(c.lon, c.lat, match_distance)
            if nearest is None:
                problem = ("lon", f"no service transformer within {match_distance:g} m of this location")
            else:
                c.transformer_id = int(model.net.ids[nearest])
        if c.device_code and c.kind not in SCADA_KINDS and problem is None:
            c.device_id = devices.get(c.device_code)
            if c.device_id is None:
                problem = ("device_code", f"unknown device {c.device_code!r}")
        if problem is None:
            good.append(c)
        else:
            errors.append(Problem.in_item(c.index, *problem))
    return good


# --- idempotency and storage ------------------------------------------------------------------


_REPORTS = Base.metadata.tables[Report.__tablename__]

# Both use the (channel, external_id) unique index.
_EXISTING_REPORTS = select(Report.external_id, Report.id).where(
    Report.channel == bindparam("channel"), Report.external_id.in_(bindparam("external_ids", expanding=True))
)
_SQLITE_EXISTING_REPORTS = (
    "SELECT external_id, id FROM reports"
    " WHERE channel = ? AND external_id IN (SELECT value FROM json_each(?))"
)


def _stored_reports(
    session: Session, channel: str, external_ids: list[str]
) -> Iterator[tuple[str | None, int]]:
    """(external id, report id) of the reports already stored on this channel under these ids."""
    if on_sqlite(session):
        # One statement text for every batch, the ids bound as one JSON array: an IN list of
        # another length is another statement for SQLite to prepare, and SQLAlchemy to render.
        yield from (
            session.connection()
            .exec_driver_sql(_SQLITE_EXISTING_REPORTS, (str(channel), json.dumps(external_ids)))
            .tuples()
        )
        return
    for start in range(0, len(external_ids), 900):
        # One compiled statement, its list bound at execution: building an expression per key
        # would cost more than the lookup itself.
        yield from session.execute(
            _EXISTING_REPORTS, {"channel": channel, "external_ids": external_ids[start : start + 900]}
        ).tuples()


def _drop_duplicates(
    session: Session, candidates: list[_Candidate], accepted: list[Accepted]
) -> tuple[list[_Candidate], list[tuple[_Candidate, _Candidate]]]:
    """Retries of reports already stored get the first report's id; repeats within this batch are
    returned paired with their first occurrence, to be answered once it has an id."""
    # Keyed by the channel member itself: a str enum hashes and compares as its value.
    by_channel: dict[str, set[str]] = {}
    for c in candidates:
        if c.external_id:
            by_channel.setdefault(c.channel, set()).add(c.external_id)
    existing: dict[tuple[str, str], int] = {}
    for channel, wanted in by_channel.items():
        for external_id, report_id in _stored_reports(session, channel, sorted(wanted)):
            if external_id is not None:  # it is: the lookup was by external id
                existing[(channel, external_id)] = report_id
    fresh: list[_Candidate] = []
    first_in_batch: dict[tuple[str, str], _Candidate] = {}
    repeats: list[tuple[_Candidate, _Candidate]] = []
    for c in candidates:
        if not c.external_id:
            fresh.append(c)
            continue
        key = (c.channel, c.external_id)
        if key in existing:
            accepted.append(Accepted(c.index, existing[key], True))
        elif key in first_in_batch:
            repeats.append((c, first_in_batch[key]))
        else:
            first_in_batch[key] = c
            fresh.append(c)
    return fresh, repeats


def _store(
    session: Session,
    clock: Clock,
    stored: list[tuple[_Candidate, int]],
    links: Mapping[int, tuple[int | None, ReportStatus]],
) -> None:
    """Write the batch in one statement, each report with the outage analysis gave it."""
    unlinked = (None, ReportStatus.RECEIVED)
    candidates = [c for c, _ in stored]
    ids = [report_id for _, report_id in stored]
    outages, statuses = zip(*(links.get(report_id, unlinked) for report_id in ids), strict=True)
    # Column by column, as the statement takes them: no tuple per report to take apart again.
    insert_columns(
        session,
        _REPORTS,
        {
            "id": ids,
            "channel": [c.channel for c in candidates],
            "external_id": [c.external_id for c in candidates],
            "kind": [c.kind for c in candidates],
            "reported_at": [c.reported_at for c in candidates],
            "received_at": [clock.now()] * len(ids),
            "account_no": [c.account_no for c in candidates],
            "customer_id": [c.customer_id for c in candidates],
            "lon": [c.lon for c in candidates],
            "lat": [c.lat for c in candidates],
            "transformer_id": [c.transformer_id for c in candidates],
            "device_id": [c.device_id for c in candidates],
            "description": [c.description for c in candidates],
            "contact_name": [c.contact_name for c in candidates],
            "contact_phone": [c.contact_phone for c in candidates],
            "status": statuses,
            "outage_id": outages,
        },
    )
