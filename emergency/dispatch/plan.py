"""Crew recommendations for one outage, and the storm plan for all of them.

A recommendation ranks the crews that could go, soonest on site first, each with its reason. The
storm plan matches all unassigned outages to available crews at once (`routing.solve_optimal`) on
arrival time minus a priority bonus from the one ranking (`emergency.dispatch.priority`); nothing is
dispatched until a dispatcher approves its rows (the `ApplyStormPlan` command).

A crew's damage assessment (`emergency.dispatch.assessment`) changes two things: the outage's repair
time is the assessed one instead of the typical one for its device kind (its crew-hours in the
reason), and an outage whose assessment asks for more crews gets that many more plan rows, beside
the crew already there, until it has them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from emergency.core.clock import Clock
from emergency.core.errors import InvalidInput
from emergency.core.models import (
    ACTIVE_OUTAGE_STATES,
    AssignmentStatus,
    Crew,
    CrewAssignment,
    CrewKind,
    CrewStatus,
    Outage,
    SlaTarget,
)
from emergency.core.settings import DEFAULT_SLA_TARGETS
from emergency.dispatch import routing
from emergency.dispatch.assessment import latest_assessments
from emergency.dispatch.board import outage_priorities
from emergency.dispatch.crews import OPEN_ASSIGNMENT, get_outage, require_active
from emergency.dispatch.etr import EtrRules, typical_repair_minutes
from emergency.dispatch.priority import Priority
from emergency.dispatch.routing import (
    DispatchRules,
    plan_cost,
    road_km,
    solve_greedy,
    solve_optimal,
    travel_minutes,
)

# Crews that can restore any device on their own.
REPAIR_KINDS = frozenset({CrewKind.LINE, CrewKind.CABLE, CrewKind.MUTUAL_AID})
ON_SITE_TARGET = "outage_on_site"

# --- results ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class CrewOption:
    """A crew recommended for an outage. `travel_minutes` runs from when it can leave (now, or
    `free_at` for a crew finishing a job) to on site, mobilisation included."""

    crew_id: int
    code: str
    name: str
    kind: str
    status: str
    version: int
    distance_km: float
    travel_minutes: float
    eta: datetime
    meets_on_site_clock: bool
    free_at: datetime | None
    reason: str
    reason_zh: str = ""


@dataclass(frozen=True)
class PlanRow:
    """One proposed dispatch. `ApplyStormPlan` dispatches against `crew_version` and `outage_version`,
    so a crew or an outage a person changed since the plan was made is refused (new reports on an
    outage do not change its version), as is an outage that got a crew meanwhile."""

    outage_id: int
    outage_version: int
    crew_id: int
    crew_code: str
    crew_version: int
    eta: datetime
    distance_km: float
    travel_minutes: float
    priority: float
    reason: str
    reason_zh: str = ""
    repair_minutes: float | None = None  # the assessed repair time, or the typical one for its kind
    repair_assessed: bool = False
    # One more crew beside those already there, as the outage's assessment asks: dispatched even
    # though the outage has a crew (see `ApplyStormPlan`).
    extra_crew: bool = False


@dataclass(frozen=True)
class UnassignedOutage:
    outage_id: int
    priority: float
    reason: str


@dataclass(frozen=True)
class StormPlan:
    """A proposal for the dispatcher to approve or edit; nothing is dispatched until `ApplyStormPlan`."""

    method: str  # "optimal" or "greedy"
    generated_at: datetime
    rows: tuple[PlanRow, ...]
    unassigned: tuple[UnassignedOutage, ...]
    crews_available: int
    total_travel_minutes: float
    cost: float  # sum of (arrival minutes - priority): lower is better


def on_site_limit_minutes(session: Session) -> float:
    """The on-site clock's limit from the `sla_targets` table (30 minutes in the service standard)."""
    target = session.get(SlaTarget, ON_SITE_TARGET)
    if target is not None and target.limit_minutes is not None:
        return float(target.limit_minutes)
    default = next(t for t in DEFAULT_SLA_TARGETS if t.code == ON_SITE_TARGET)
    return float(default.limit_minutes or 0)


# --- recommendation --------------------------------------------------------------------------------


def recommend_crews(session: Session, clock: Clock, outage_id: int, limit: int = 5) -> list[CrewOption]:
    """The best crews for an outage, soonest on site first; helpers (tree crews) after repair crews.

    Available crews leave now. A crew on site at another job whose ETR is close (setting
    `dispatch.busy_offer_minutes`) is offered too, leaving at that ETR. Crews that are off duty or
    already on their way somewhere are not offered. Assessment crews are offered only for an outage
    not yet confirmed: finding the fault is what they do.
    """
    if limit < 1:
        raise InvalidInput("must be at least 1", field="limit")
    outage = get_outage(session, outage_id)
    require_active(outage)
    now = clock.now()
    rules = DispatchRules.from_settings(session)
    site = routing.sites(session, [outage])[0]
    limit_minutes = on_site_limit_minutes(session)
    deadline = outage.first_report_at + timedelta(minutes=limit_minutes)
    unconfirmed = outage.confirmed_at is None

    crews = list(
        session.scalars(
            select(Crew).where(Crew.status.in_([CrewStatus.AVAILABLE, CrewStatus.ON_SITE])).order_by(Crew.id)
        )
    )
    jobs = _jobs_on_site(session, [c.id for c in crews if c.status == CrewStatus.ON_SITE])
    candidates: list[tuple[Crew, datetime | None]] = []
    for crew in crews:
        if CrewKind(crew.kind) == CrewKind.ASSESSMENT and not unconfirmed:
            continue
        free_at: datetime | None = None
        if crew.status == CrewStatus.ON_SITE:
            job = jobs.get(crew.id)
            job_etr = job[1] if job is not None else None
            # An expired ETR says nothing about when the crew will be free, so it is not offered.
            if job_etr is None or not now < job_etr <= now + timedelta(minutes=rules.busy_offer_minutes):
                continue
            free_at = job_etr
        candidates.append((crew, free_at))

    site_xy = np.array([[site.lon, site.lat]])
    crew_xy = np.array([[c.lon, c.lat] for c, _ in candidates], dtype=np.float64).reshape(-1, 2)
    distances = road_km(site_xy, crew_xy, rules.road_factor)[0]
    travel = travel_minutes(
        site_xy,
        crew_xy,
        rules.speed_kmh[site.area_type.value],
        road_factor=rules.road_factor,
        mobilisation_minutes=rules.mobilisation_minutes,
    )[0]
    ranked: list[tuple[int, CrewOption]] = []
    for (crew, free_at), distance, minutes in zip(
        candidates, distances.tolist(), travel.tolist(), strict=True
    ):
        kind = CrewKind(crew.kind)
        eta = (free_at or now) + timedelta(minutes=minutes)
        meets = eta <= deadline
        seen = (kind, crew, distance, minutes, eta, deadline, limit_minutes, meets, now, free_at, jobs)
        reason, reason_zh = _option_reason(*seen), _option_reason(*seen, zh=True)
        option = CrewOption(
            crew_id=crew.id,
            code=crew.code,
            name=crew.name,
            kind=kind.value,
            status=str(crew.status),
            version=crew.version,
            distance_km=round(distance, 2),
            travel_minutes=round(minutes, 1),
            eta=eta,
            meets_on_site_clock=meets,
            free_at=free_at,
            reason=reason,
            reason_zh=reason_zh,
        )
        ranked.append((1 if kind == CrewKind.TREE else 0, option))
    ranked.sort(key=lambda t: (t[0], t[1].eta, t[1].distance_km, t[1].code))
    return [option for _, option in ranked[:limit]]


def _jobs_on_site(session: Session, crew_ids: list[int]) -> dict[int, tuple[int, datetime | None]]:
    """For crews on site: the outage they are working on and its current ETR."""
    if not crew_ids:
        return {}
    jobs: dict[int, tuple[int, datetime | None]] = {}
    for start in range(0, len(crew_ids), 900):
        for crew_id, outage_id, etr_at in session.execute(
            select(CrewAssignment.crew_id, Outage.id, Outage.etr_at)
            .join(Outage, Outage.id == CrewAssignment.outage_id)
            .where(
                CrewAssignment.crew_id.in_(crew_ids[start : start + 900]),
                CrewAssignment.status == AssignmentStatus.ON_SITE,
            )
        ):
            jobs[crew_id] = (outage_id, etr_at)
    return jobs


# The crew kinds in Chinese for the reasons below (the pages' own words are in data/i18n).
KIND_ZH = {
    CrewKind.LINE: "线路",
    CrewKind.CABLE: "电缆",
    CrewKind.TREE: "树障清理",
    CrewKind.ASSESSMENT: "勘察",
    CrewKind.MUTUAL_AID: "外援",
}


def _option_reason(
    kind: CrewKind,
    crew: Crew,
    distance: float,
    minutes: float,
    eta: datetime,
    deadline: datetime,
    limit_minutes: float,
    meets: bool,
    now: datetime,
    free_at: datetime | None,
    jobs: Mapping[int, tuple[int, datetime | None]],
    zh: bool = False,
) -> str:
    """Why this crew, in English or (zh) Chinese: the same facts in the same order."""
    parts = [f"{KIND_ZH[kind]}班组" if zh else f"{kind.value.replace('_', ' ')} crew"]
    if free_at is not None:
        free, busy_at = _minutes(free_at - now), jobs[crew.id][0]
        parts.append(
            f"正在停电 {busy_at} 现场，按其预计复电时间 {free} 分钟后空闲，再行 {minutes:.0f} 分钟"
            f"（{distance:.1f} 公里）"
            if zh
            else f"on site at outage {busy_at}, free at its ETR in {free} min, "
            f"then {minutes:.0f} min away ({distance:.1f} km)"
        )
    else:
        parts.append(
            f"空闲，行车 {minutes:.0f} 分钟（道路 {distance:.1f} 公里）"
            if zh
            else f"available, {minutes:.0f} min away ({distance:.1f} km by road)"
        )
    margin = _minutes(deadline - eta) if meets else _minutes(eta - deadline)
    if zh:
        when = "之前" if meets else "之后"
        parts.append(f"在 {limit_minutes:g} 分钟到场时限到期{when} {margin} 分钟到场")
    else:
        when = "before" if meets else "after"
        parts.append(f"on site {margin} min {when} the {limit_minutes:g}-min on-site clock runs out")
    if kind == CrewKind.TREE:
        parts.append(
            "辅助班组：清理树障，需抢修班组复电"
            if zh
            else "a helper: clears trees, a repair crew must restore"
        )
    elif kind == CrewKind.ASSESSMENT:
        parts.append(
            "可确认预测停电并查找故障" if zh else "can confirm the predicted outage and find the fault"
        )
    return ("；" if zh else "; ").join(parts)


def _minutes(delta: timedelta) -> int:
    return max(round(delta.total_seconds() / 60), 0)


# --- the storm plan ---------------------------------------------------------------------------


def storm_plan(
    session: Session,
    clock: Clock,
    tz: ZoneInfo,
    *,
    outage_ids: Sequence[int] | None = None,
    max_crews: int | None = None,
) -> StormPlan:
    """The optimal match of unassigned active outages to available crews, for a dispatcher to review.

    With `outage_ids`, only those outages (still active and without a crew) are planned; with
    `max_crews`, at most that many crews are used, keeping the rest in reserve.
    """
    return _plan(session, clock, tz, outage_ids, max_crews, "optimal")


def greedy_plan(
    session: Session,
    clock: Clock,
    tz: ZoneInfo,
    *,
    outage_ids: Sequence[int] | None = None,
    max_crews: int | None = None,
) -> StormPlan:
    """The nearest-crew baseline: outages in priority order each take the nearest free crew."""
    return _plan(session, clock, tz, outage_ids, max_crews, "greedy")


def _unassigned_outages(session: Session, outage_ids: Sequence[int] | None) -> list[tuple[Outage, bool]]:
    """The crews the plan should find: one for each active outage without a crew, and one for each
    more crew an outage's newest assessment asks for beyond those it has (flagged as extra)."""
    crews_on = dict(
        session.execute(
            select(CrewAssignment.outage_id, func.count())
            .where(CrewAssignment.status.in_(OPEN_ASSIGNMENT))
            .group_by(CrewAssignment.outage_id)
        )
        .tuples()
        .all()
    )
    query = (
        select(Outage)
        .where(Outage.state.in_(ACTIVE_OUTAGE_STATES))
        .order_by(Outage.first_report_at, Outage.id)
    )
    found: list[Outage] = []
    if outage_ids is None:
        found = list(session.scalars(query))
    else:
        wanted = sorted({int(i) for i in outage_ids})
        for start in range(0, len(wanted), 900):
            found.extend(session.scalars(query.where(Outage.id.in_(wanted[start : start + 900]))))
        found.sort(key=lambda o: (o.first_report_at, o.id))
    asks = {
        outage_id: a.crews_needed
        for outage_id, a in latest_assessments(session, [o.id for o in found if o.id in crews_on]).items()
    }
    slots: list[tuple[Outage, bool]] = []
    for outage in found:
        have = crews_on.get(outage.id, 0)
        if have == 0:
            slots.append((outage, False))
        else:
            slots.extend((outage, True) for _ in range(1 + asks.get(outage.id, 0) - have))
    return slots


def _plan(
    session: Session,
    clock: Clock,
    tz: ZoneInfo,
    outage_ids: Sequence[int] | None,
    max_crews: int | None,
    method: str,
) -> StormPlan:
    now = clock.now()
    rules = DispatchRules.from_settings(session)
    slots = _unassigned_outages(session, outage_ids)
    outages = [outage for outage, _ in slots]
    crews = list(session.scalars(select(Crew).where(Crew.status == CrewStatus.AVAILABLE).order_by(Crew.id)))
    sites = routing.sites(session, outages)
    site_xy = np.array([[s.lon, s.lat] for s in sites], dtype=np.float64).reshape(-1, 2)
    crew_xy = np.array([[c.lon, c.lat] for c in crews], dtype=np.float64).reshape(-1, 2)
    speed = np.array([rules.speed_kmh[s.area_type.value] for s in sites], dtype=np.float64)
    travel = travel_minutes(
        site_xy,
        crew_xy,
        speed,
        road_factor=rules.road_factor,
        mobilisation_minutes=rules.mobilisation_minutes,
    )
    distance = road_km(site_xy, crew_xy, rules.road_factor)
    # The one ranking (`emergency.dispatch.priority`) decides who is most urgent and why; its facts (the
    # most critical user cut off, disaster mode) set each outage's bonus in minutes of travel.
    ranked = outage_priorities(session, clock, tz)
    facts = [ranked[o.id] for o in outages]
    repair, assessed = _repair_minutes(session, outages, sites, facts)
    facts = [
        # Customers per crew-hour by the assessed repair time, in the reason the dispatcher reads.
        p._replace(customers_per_crew_hour=p.customers_out / max(repair[r] / 60, 1e-6)) if assessed[r] else p
        for r, p in enumerate(facts)
    ]
    priority = np.array(
        [
            rules.priority.score(
                o.hazard,
                {p.top_grade: p.important_users} if p.top_grade else {},
                p.customers_out,
                disaster=p.disaster_mode,
            )
            for o, p in zip(outages, facts, strict=True)
        ],
        dtype=np.float64,
    )
    allowed = _allowed(outages, crews)
    solve = solve_optimal if method == "optimal" else solve_greedy
    pairs = solve(travel, priority, allowed, max_crews)

    rows = []
    for r, c in pairs:
        outage, crew = outages[r], crews[c]
        minutes = float(travel[r, c])
        extra = slots[r][1]
        repair_en, repair_zh = _repair_words(repair[r], assessed[r], extra)
        rows.append(
            PlanRow(
                outage_id=outage.id,
                outage_version=outage.version,
                crew_id=crew.id,
                crew_code=crew.code,
                crew_version=crew.version,
                eta=now + timedelta(minutes=minutes),
                distance_km=round(float(distance[r, c]), 2),
                travel_minutes=round(minutes, 1),
                priority=round(float(priority[r]), 1),
                reason=(
                    f"{str(crew.kind).replace('_', ' ')} crew {crew.code}, {minutes:.0f} min away "
                    f"({float(distance[r, c]):.1f} km); rank {facts[r].rank}: {facts[r].reason()}; "
                    + repair_en
                ),
                reason_zh=(
                    f"{KIND_ZH[CrewKind(crew.kind)]}班组 {crew.code}，行车 {minutes:.0f} 分钟"
                    f"（{float(distance[r, c]):.1f} 公里）；第 {facts[r].rank} 位：{facts[r].reason('zh')}；"
                    + repair_zh
                ),
                repair_minutes=round(float(repair[r]), 1),
                repair_assessed=bool(assessed[r]),
                extra_crew=extra,
            )
        )
    planned = {r for r, _ in pairs}
    unassigned = []
    listed: set[int] = set()
    for r, outage in enumerate(outages):
        # An outage is listed once, even when several of its extra crews could not be planned.
        if r in planned or outage.id in listed:
            continue
        listed.add(outage.id)
        if not allowed[r].any():
            why = "no suitable crew is available (a confirmed outage needs a line, cable or mutual-aid crew)"
        elif max_crews is not None and len(pairs) >= max_crews:
            why = f"the plan uses at most {max_crews} crews; others ranked higher"
        else:
            why = "crews are short; outages with higher priority or nearer crews come first"
        unassigned.append(UnassignedOutage(outage.id, round(float(priority[r]), 1), why))
    rank_of = {o.id: p.rank for o, p in zip(outages, facts, strict=True)}
    unassigned.sort(key=lambda u: rank_of[u.outage_id])
    return StormPlan(
        method=method,
        generated_at=now,
        rows=tuple(sorted(rows, key=lambda row: rank_of[row.outage_id])),
        unassigned=tuple(unassigned),
        crews_available=len(crews),
        total_travel_minutes=round(float(sum(travel[r, c] for r, c in pairs)), 1),
        cost=round(plan_cost(travel, priority, pairs), 1),
    )


def _repair_minutes(
    session: Session, outages: Sequence[Outage], sites: Sequence[routing.Site], facts: Sequence[Priority]
) -> tuple[list[float], list[bool]]:
    """Each outage's repair time: its newest assessment's, or the typical one for its device kind."""
    rules = EtrRules.from_settings(session)
    found = latest_assessments(session, [o.id for o in outages])
    minutes: list[float] = []
    assessed: list[bool] = []
    for outage, site, fact in zip(outages, sites, facts, strict=True):
        a = found.get(outage.id)
        if a is not None:
            minutes.append(float(a.repair_minutes))
        else:
            kind, area = site.device_kind, site.area_type
            minutes.append(typical_repair_minutes(kind, area, fact.disaster_mode, rules=rules))
        assessed.append(a is not None)
    return minutes, assessed


def _repair_words(minutes: float, assessed: bool, extra: bool) -> tuple[str, str]:
    """The repair time in the row's reason, in English and Chinese, and whether the crew is an extra one."""
    en = f"repair {minutes:.0f} min ({'assessed' if assessed else 'typical for its kind'})"
    zh = f"抢修 {minutes:.0f} 分钟（{'现场勘察' if assessed else '同类设备平均'}）"
    if extra:
        en += "; one more crew, as its assessment asks"
        zh += "；按现场勘察增派队伍"
    return en, zh


def _allowed(outages: Sequence[Outage], crews: Sequence[Crew]) -> np.ndarray:
    """Which crew may take which outage on its own: repair crews anything, assessment crews only
    outages still unconfirmed. Tree crews are helpers, sent beside a repair crew, never planned alone."""
    repair = np.array([CrewKind(c.kind) in REPAIR_KINDS for c in crews], dtype=bool)
    assess = np.array([CrewKind(c.kind) == CrewKind.ASSESSMENT for c in crews], dtype=bool)
    unconfirmed = np.array([o.confirmed_at is None for o in outages], dtype=bool)
    return repair[None, :] | (assess[None, :] & unconfirmed[:, None])
