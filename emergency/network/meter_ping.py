"""Ask the meters (issue #21 point 3): ping smart meters that separate a doubtful prediction's candidates.

A prediction of evidence-weighted analysis (`fault_location`) less confident than
`meter_ping.confidence_below` is tested at the head-end. The candidates are the predicted device
and the predictable devices above it (`meter_ping.levels` of them): a fault at the device above
would put out every customer below it, the prediction only those below itself. So the meters that
tell them apart are below the upper candidate and not below the lower one; up to
`meter_ping.per_candidate` of them are asked, spread over different transformers (one silent
transformer of its own says little), never a customer who already reported, one already asked for
this outage, or one below another active outage (out for a reason already known). A service outage
(one customer's call) is tested the same way, its transformer being the first candidate above it.

The answers are evidence for `fault_location`: a meter that answered is powered (a fault above it
is near impossible), a silent one is out or its answer was lost (`tca.ping_loss`), so silence
weighs less than an answer. The region around the outage is then scored again exactly as analysis
scores it (`analysis_locate`), and the prediction moves up, takes over what is below it, or keeps
its place with a new confidence, through the same analysis paths (`absorb_into_new`).

The head-end is asked outside any database transaction (it may take `meter_ping.timeout_seconds`),
never in intake's request path: by the server's follow-up round (`AskMeters` as the system), by a
dispatcher on demand, by the simulator after each batch of reports, and by `bench tca`.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from emergency.core import audit
from emergency.core.actor import Actor
from emergency.core.clock import Clock
from emergency.core.errors import InvalidInput, NotFound
from emergency.core.meter_models import MeterPing, PingAnswer
from emergency.core.models import Customer, DeviceKind, Outage, OutageState, Report
from emergency.core.settings import get_setting
from emergency.core.vocabulary import PROTECTIVE_KINDS
from emergency.network.analysis import _Analysis
from emergency.network.analysis_locate import add_path, in_region, join_region, predict_at, region_evidence
from emergency.network.analysis_rows import TcaRules
from emergency.network.fault_location import Evidence, Region, explain
from emergency.network.head_end import HeadEnd, HeadEndError
from emergency.network.model import NetworkModel
from emergency.network.reads import active_devices

PREDICTABLE = PROTECTIVE_KINDS | {DeviceKind.TRANSFORMER}
# Predictions people or SCADA have not confirmed: the ones location may still move.
DOUBTFUL_STATES = (OutageState.REPORTED, OutageState.PREDICTED)


@dataclass(frozen=True)
class PingRules:
    """The `meter_ping.*` settings, read once per round."""

    enabled: bool
    confidence_below: float
    per_candidate: int
    levels: int
    timeout_seconds: float
    repeat: timedelta
    max_rounds: int
    max_outages: int
    head_end_url: str

    @classmethod
    def from_settings(cls, session: Session) -> PingRules:
        def value(name: str) -> Any:
            return get_setting(session, f"meter_ping.{name}")

        return cls(
            enabled=bool(value("enabled")),
            confidence_below=float(value("confidence_below")),
            per_candidate=int(value("per_candidate")),
            levels=int(value("levels")),
            timeout_seconds=float(value("timeout_seconds")),
            repeat=timedelta(minutes=float(value("repeat_minutes"))),
            max_rounds=int(value("max_rounds")),
            max_outages=int(value("max_outages")),
            head_end_url=str(value("head_end_url") or ""),
        )


@dataclass(frozen=True)
class MeterChoice:
    """A meter to ask: its customer, and the candidate device (index) it hangs below."""

    customer_id: int
    meter_id: str
    candidate: int


@dataclass(frozen=True)
class PingPlan:
    """The meters to ask for one outage."""

    outage_id: int
    device: int  # the outage's device index
    choices: tuple[MeterChoice, ...]


@dataclass
class PingOutcome:
    """What one round asked and what became of the predictions."""

    asked: dict[int, dict[str, PingAnswer]] = field(default_factory=dict)  # outage id -> meter -> answer
    moved: dict[int, int] = field(default_factory=dict)  # outage id -> the outage that took it over
    refused: dict[int, str] = field(default_factory=dict)  # outage id -> why its meters were not asked


# --- choosing meters ---------------------------------------------------------------------------


def candidates_above(model: NetworkModel, device: int, levels: int) -> list[int]:
    """The first `levels` devices above `device` where a fault could be predicted."""
    kinds = model.net.kinds
    return [up for up in model.path(device)[1:] if kinds[up] in PREDICTABLE][:levels]


def choose_meters(
    model: NetworkModel,
    device: int,
    service_customer: int | None,
    meters_at: Mapping[int, Sequence[tuple[int, str]]],
    *,
    levels: int,
    per_candidate: int,
    skip_customers: set[int],
    skip_devices: set[int],
) -> list[MeterChoice]:
    """The meters that separate the prediction at `device` (or one customer's service there) from
    each candidate above it: below the candidate, not below the candidate before it.

    `meters_at[transformer index]` are (customer id, meter id) of the metered customers there;
    `skip_devices` are devices of other active outages (their customers are out for a known reason).
    """
    children = model.net._children_of()
    lower: int | None
    if service_customer is not None:
        # One customer's own supply against their transformer, then the devices above it.
        chain, lower = [device, *candidates_above(model, device, levels - 1)], None
    else:
        chain, lower = candidates_above(model, device, levels), device
    chosen: list[MeterChoice] = []
    for candidate in chain:
        transformers = _transformers_between(children, candidate, lower, skip_devices, model)
        chosen += _spread(transformers, meters_at, candidate, per_candidate, skip_customers)
        lower = candidate
    return chosen


def _transformers_between(
    children: Mapping[int, list[int]],
    upper: int,
    lower: int | None,
    skip: set[int],
    model: NetworkModel,
) -> list[int]:
    """Transformers at or below `upper`, not at or below `lower` nor a skipped device, depth first
    from the top (so the branches nearest the prediction come in the tree's order)."""
    found: list[int] = []
    stack = [upper]
    while stack:
        node = stack.pop()
        if node == lower or (node in skip and node != upper):
            continue
        if model.net.kinds[node] == DeviceKind.TRANSFORMER:
            found.append(node)
        stack.extend(reversed(children.get(node, [])))
    return found


def _spread(
    transformers: list[int],
    meters_at: Mapping[int, Sequence[tuple[int, str]]],
    candidate: int,
    count: int,
    skip_customers: set[int],
) -> list[MeterChoice]:
    """Up to `count` meters, one transformer after another (round robin), skipping known customers."""
    queues = [[m for m in meters_at.get(t, ()) if m[0] not in skip_customers] for t in transformers]
    queues = [q for q in queues if q]
    chosen: list[MeterChoice] = []
    while queues and len(chosen) < count:
        for queue in list(queues):
            if len(chosen) >= count:
                break
            customer_id, meter_id = queue.pop(0)
            chosen.append(MeterChoice(customer_id, meter_id, candidate))
            if not queue:
                queues.remove(queue)
    return chosen


# --- which outages, which meters ---------------------------------------------------------------


def doubtful_outages(session: Session, clock: Clock, rules: PingRules) -> list[int]:
    """Active predictions less confident than the threshold (or a lone caller's service outage,
    which analysis does not weigh), not asked about within `repeat`, nor `max_rounds` times yet."""
    asked = (
        select(
            MeterPing.outage_id,
            func.count(func.distinct(MeterPing.request_id)).label("rounds"),
            func.max(MeterPing.asked_at).label("last"),
        )
        .group_by(MeterPing.outage_id)
        .subquery()
    )
    doubtful = (Outage.prediction_confidence < rules.confidence_below) | (
        Outage.customer_id.is_not(None) & Outage.prediction_confidence.is_(None)
    )
    rows = session.execute(
        select(Outage.id)
        .outerjoin(asked, asked.c.outage_id == Outage.id)
        .where(
            Outage.state.in_(DOUBTFUL_STATES),
            doubtful,
            (asked.c.rounds.is_(None)) | (asked.c.rounds < rules.max_rounds),
            (asked.c.last.is_(None)) | (asked.c.last <= clock.now() - rules.repeat),
        )
        .order_by(Outage.prediction_confidence.asc().nulls_last(), Outage.id)
        .limit(rules.max_outages)
    )
    return [int(r[0]) for r in rows]


def plan_pings(
    session: Session, model: NetworkModel, outage_ids: Iterable[int], rules: PingRules
) -> list[PingPlan]:
    """The meters to ask for each of these active outages (an outage with none to ask is left out)."""
    ids = list(outage_ids)
    if not ids:
        return []
    index_of = model.net.index_of
    outages = session.execute(
        select(Outage.id, Outage.device_id, Outage.customer_id).where(
            Outage.id.in_(ids), Outage.state.in_(DOUBTFUL_STATES)
        )
    ).all()
    active = {index_of[d] for d in active_devices(session) if d in index_of}
    plans: list[PingPlan] = []
    for outage_id, device_id, customer_id in outages:
        device = index_of[device_id]
        region_top = [device, *candidates_above(model, device, rules.levels)][-1]
        meters_at = _meters_below(session, model, region_top)
        if not meters_at:
            continue
        skip_customers = _reporters(session, outage_id) | _already_asked(session, outage_id)
        if customer_id is not None:
            skip_customers.add(int(customer_id))
        choices = choose_meters(
            model,
            device,
            customer_id,
            meters_at,
            levels=rules.levels,
            per_candidate=rules.per_candidate,
            skip_customers=skip_customers,
            skip_devices=active - {device},
        )
        if choices:
            plans.append(PingPlan(int(outage_id), device, tuple(choices)))
    return plans


def _meters_below(session: Session, model: NetworkModel, top: int) -> dict[int, list[tuple[int, str]]]:
    transformers = [
        int(model.net.ids[t])
        for t in _transformers_between(model.net._children_of(), top, None, set(), model)
    ]
    found: dict[int, list[tuple[int, str]]] = {}
    for start in range(0, len(transformers), 900):
        for customer_id, meter_id, transformer_id in session.execute(
            select(Customer.id, Customer.meter_id, Customer.transformer_id)
            .where(
                Customer.transformer_id.in_(transformers[start : start + 900]), Customer.meter_id.is_not(None)
            )
            .order_by(Customer.id)
        ):
            found.setdefault(model.net.index_of[transformer_id], []).append((int(customer_id), str(meter_id)))
    return found


def _reporters(session: Session, outage_id: int) -> set[int]:
    rows = session.scalars(
        select(Report.customer_id).where(Report.outage_id == outage_id, Report.customer_id.is_not(None))
    )
    return {int(c) for c in rows if c is not None}


def _already_asked(session: Session, outage_id: int) -> set[int]:
    return {
        int(c) for c in session.scalars(select(MeterPing.customer_id).where(MeterPing.outage_id == outage_id))
    }


# --- asking ------------------------------------------------------------------------------------


def ask(head_end: HeadEnd, plan: PingPlan, timeout: float) -> tuple[str, dict[str, PingAnswer]]:
    """Ask the head-end about one plan's meters: (request id, answers); `lost` when it failed."""
    request_id = uuid.uuid4().hex
    meters = [c.meter_id for c in plan.choices]
    try:
        replied = head_end.ping(meters, timeout, request_id)
    except HeadEndError:
        return request_id, {m: PingAnswer.LOST for m in meters}
    # A meter the head-end left out did not answer in time.
    return request_id, {m: replied.get(m, PingAnswer.SILENT) for m in meters}


def record(
    session: Session,
    clock: Clock,
    actor: Actor,
    model: NetworkModel,
    plan: PingPlan,
    request_id: str,
    answers: Mapping[str, PingAnswer],
    asked_at: datetime,
) -> None:
    """Store each meter's ping and audit the request on its outage."""
    now = clock.now()
    for choice in plan.choices:
        answer = answers[choice.meter_id]
        session.add(
            MeterPing(
                request_id=request_id,
                outage_id=plan.outage_id,
                customer_id=choice.customer_id,
                meter_id=choice.meter_id,
                device_id=int(model.net.ids[choice.candidate]),
                asked_at=asked_at,
                asked_by=actor.username,
                answered_at=now if answer == PingAnswer.POWERED else None,
                answer=answer,
            )
        )
    counts = {a.value: sum(1 for x in answers.values() if x == a) for a in PingAnswer}
    audit.record(
        session,
        clock,
        actor,
        "outage.meter_ping",
        "outage",
        plan.outage_id,
        after={"request_id": request_id, "answers": {m: a.value for m, a in answers.items()}},
        detail=f"meters asked: {counts['powered']} powered, {counts['silent']} silent, {counts['lost']} lost",
    )


# --- re-scoring --------------------------------------------------------------------------------


def rescore(session: Session, clock: Clock, model: NetworkModel, outage_ids: Iterable[int]) -> dict[int, int]:
    """Score the regions of these outages again with the meters' answers, as analysis scores them,
    and move each prediction where the evidence puts it. Returns {outage id: the outage that took
    it over} for those taken over. Does nothing under `tca.method` rules (no scores to weigh)."""
    rules = TcaRules.from_settings(session)
    params = rules.location
    if params is None:
        return {}
    analysis = _Analysis(session, clock, model, rules)
    index_of = model.net.index_of
    with session.no_autoflush:
        analysis.active_devices = {index_of[d] for d in active_devices(session) if d in index_of}
        analysis._load_pending(clock.now())
        horizon = clock.now() - rules.window
        pings = _recent_pings(session, model, horizon)
        for (device_id,) in session.execute(
            select(Outage.device_id).where(Outage.id.in_(list(outage_ids)), Outage.state.in_(DOUBTFUL_STATES))
        ).all():
            device = index_of[device_id]
            if analysis.covering(device) is not None and device not in analysis.outage_at:
                continue  # taken over earlier in this round
            analysis._load_switches(set(model.path(device)))
            parent: dict[int, int | None] = {}
            add_path(analysis, device, parent)
            evidence = region_evidence(analysis, parent, horizon)
            _add_pings(analysis, parent, evidence, pings)
            region = Region(
                parent=parent,
                kind={n: str(model.net.kinds[n]) for n in parent},
                customers={n: int(model.customers_below[n]) for n in parent},
                predictable={
                    n
                    for n in parent
                    if model.net.kinds[n] in PREDICTABLE and not analysis._telemetry_closed(n)
                },
                evidence=evidence,
            )
            for located in explain(region, params):
                predict_at(analysis, located.node, located.confidence)
    analysis._write()
    return {old.id: new.id for old, new in analysis.merges}


def _recent_pings(session: Session, model: NetworkModel, since: datetime) -> list[tuple[int, PingAnswer]]:
    """(transformer index, answer) of every ping since `since` that said something."""
    rows = session.execute(
        select(Customer.transformer_id, MeterPing.answer)
        .join(Customer, Customer.id == MeterPing.customer_id)
        .where(MeterPing.asked_at >= since, MeterPing.answer != PingAnswer.LOST)
    ).all()
    return [(model.net.index_of[t], PingAnswer(a)) for t, a in rows if t in model.net.index_of]


def _add_pings(
    analysis: _Analysis,
    parent: dict[int, int | None],
    evidence: dict[int, Evidence],
    pings: list[tuple[int, PingAnswer]],
) -> None:
    for transformer, answer in pings:
        if not in_region(analysis, transformer, parent):
            continue
        join_region(analysis, transformer, parent)
        here = evidence.setdefault(transformer, Evidence())
        if answer == PingAnswer.POWERED:
            here.answered += 1
        else:
            here.silent += 1


# --- one round ---------------------------------------------------------------------------------


ModelOf = Callable[[Session], NetworkModel]


def ping_round(
    db: Any,
    clock: Clock,
    actor: Actor,
    head_end: HeadEnd,
    model_of: ModelOf,
    outage_ids: Sequence[int] | None = None,
    write: Callable[[], Any] | None = None,
) -> PingOutcome:
    """Choose (a read), ask the head-end (no transaction open), then record and re-score (a write).

    `outage_ids` None: the doubtful predictions (the follow-up round); given: exactly those (a
    dispatcher asking), refused by name when there is nothing to ask. `write` opens the write
    session (the caller's unit of work); by default `db.write()`.
    """
    outcome = PingOutcome()
    with db.read() as session:
        rules = PingRules.from_settings(session)
        # The follow-up weighs answers only under evidence analysis (the rules keep no confidence
        # to test); a dispatcher may still ask, and the answers are shown.
        if outage_ids is None and (not rules.enabled or get_setting(session, "tca.method") != "evidence"):
            return outcome
        model = model_of(session)
        ids = list(outage_ids) if outage_ids is not None else doubtful_outages(session, clock, rules)
        plans = plan_pings(session, model, ids, rules)
    planned = {p.outage_id for p in plans}
    for outage_id in ids:
        if outage_id not in planned:
            outcome.refused[outage_id] = "no smart meter below it that would tell its candidates apart"
    if not plans:
        return outcome
    asked_at = clock.now()
    results = [(plan, *ask(head_end, plan, rules.timeout_seconds)) for plan in plans]
    with write() if write is not None else db.write() as session:
        model = model_of(session)
        for plan, request_id, answers in results:
            record(session, clock, actor, model, plan, request_id, answers, asked_at)
            outcome.asked[plan.outage_id] = dict(answers)
        session.flush()
        outcome.moved = rescore(session, clock, model, [p.outage_id for p in plans])
    return outcome


def require_outage(session: Session, outage_id: int) -> Outage:
    """The outage a dispatcher asks about, refused by name when it is not a prediction to test."""
    outage = session.get(Outage, outage_id)
    if outage is None:
        raise NotFound(f"outage {outage_id} not found")
    if outage.state not in DOUBTFUL_STATES:
        raise InvalidInput(
            f"outage {outage_id} is {outage.state}: only a prediction not yet confirmed is tested with meters"
        )
    return outage
