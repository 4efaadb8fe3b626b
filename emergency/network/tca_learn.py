"""`python -m emergency tca learn`: evidence-weighted analysis's settings learned from the history.

From the outages of the past (closed or restored, each counted once: merged and cancelled ones are
left out) on the network as it stands:

- `tca.fault_rates`: outages at devices of each kind per device per year (`service`: one customer's
  outages per customer per year), over the span the history covers; a kind the history never saw
  keeps its setting.
- `tca.p_call` and `tca.p_gasp`: the share of an outage's customers who called, and whose meter's
  last gasp arrived, from the report rows of outages not found by SCADA. Where history kept only
  report counts (the demo's generated history does), the share reporting is all calls.

Outages of fewer than `MIN_CUSTOMERS` customers say little about a share and are not used for it.
What was learned, and from what, is kept in `tca.learned`.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import distinct, func, select
from sqlalchemy.orm import Session

from emergency.core import audit
from emergency.core.actor import Actor
from emergency.core.clock import Clock
from emergency.core.models import Customer, Device, Outage, OutageState, Report, ReportKind
from emergency.core.settings import get_setting, set_setting

MIN_CUSTOMERS = 5
DAYS_PER_YEAR = 365.25
_PAST = (OutageState.RESTORED, OutageState.CLOSED)


@dataclass(frozen=True)
class Learned:
    """What `learn` found and stored."""

    outages: int  # past outages used for the fault rates
    years: float  # the span of history they cover
    fault_rates: dict[str, float]
    p_call: float | None  # None: no outage to learn it from, the setting kept
    p_gasp: float | None
    share_outages: int  # outages the shares were learned from

    def summary(self) -> str:
        if not self.outages:
            return "no past outages: the settings are kept"
        rates = ", ".join(f"{kind} {rate:.3f}" for kind, rate in sorted(self.fault_rates.items()))
        share = "kept" if self.p_call is None else f"p_call {self.p_call:.3f}, p_gasp {self.p_gasp:.3f}"
        return (
            f"{self.outages} outages over {self.years:.1f} years; "
            f"faults per device per year: {rates}; {share}"
        )


def learn(session: Session, clock: Clock, actor: Actor) -> Learned:
    """Compute the settings from the history and store them (audited)."""
    span = session.execute(
        select(func.min(Outage.first_report_at), func.max(Outage.first_report_at)).where(
            Outage.state.in_(_PAST)
        )
    ).one()
    if span[0] is None:
        return Learned(0, 0.0, {}, None, None, 0)
    years = max((span[1] - span[0]).total_seconds() / 86_400 / DAYS_PER_YEAR, 1 / DAYS_PER_YEAR)
    rates = _fault_rates(session, years)
    p_call, p_gasp, share_outages = _shares(session)
    outages = int(
        session.scalar(select(func.count()).select_from(Outage).where(Outage.state.in_(_PAST))) or 0
    )
    learned = Learned(outages, years, rates, p_call, p_gasp, share_outages)
    before = {key: get_setting(session, key) for key in ("tca.fault_rates", "tca.p_call", "tca.p_gasp")}
    merged = {**dict(get_setting(session, "tca.fault_rates")), **rates}
    set_setting(session, "tca.fault_rates", merged, clock, by=actor.username)
    if p_call is not None and p_gasp is not None:
        set_setting(session, "tca.p_call", p_call, clock, by=actor.username)
        set_setting(session, "tca.p_gasp", p_gasp, clock, by=actor.username)
    set_setting(
        session, "tca.learned", {"at": clock.now().isoformat(), **asdict(learned)}, clock, by=actor.username
    )
    audit.record(
        session,
        clock,
        actor,
        "settings.tca_learn",
        "setting",
        "tca",
        before=before,
        after={"tca.fault_rates": merged, "tca.p_call": p_call, "tca.p_gasp": p_gasp},
        detail=learned.summary(),
    )
    return learned


def _fault_rates(session: Session, years: float) -> dict[str, float]:
    """Sustained outages per device per year by kind: a reclose that cleared by itself within
    `reliability.momentary_max_minutes` is no fault for a crew to find."""
    devices: dict[str, int] = {
        str(kind): int(n)
        for kind, n in session.execute(select(Device.kind, func.count()).group_by(Device.kind))
    }
    momentary = _momentary(session)
    faults: Counter[str] = Counter()
    for kind, first, restored in session.execute(
        select(Device.kind, Outage.first_report_at, Outage.restored_at)
        .join(Outage, Outage.device_id == Device.id)
        .where(Outage.state.in_(_PAST), Outage.customer_id.is_(None))
    ):
        if restored is None or restored - first > momentary:
            faults[str(kind)] += 1
    rates = {kind: n / (devices[kind] * years) for kind, n in faults.items() if devices.get(kind)}
    services = session.scalar(
        select(func.count())
        .select_from(Outage)
        .where(Outage.state.in_(_PAST), Outage.customer_id.is_not(None))
    )
    customers = session.scalar(select(func.count()).select_from(Customer))
    if services and customers:
        rates["service"] = services / (customers * years)
    return rates


def _shares(session: Session) -> tuple[float | None, float | None, int]:
    """Shares of customers who called and whose last gasp arrived, over sustained outages not found
    by SCADA (a reclose that cleared in a minute or two gives nobody time to call)."""
    momentary = _momentary(session)
    judged = {
        outage_id: (customers, reports)
        for outage_id, customers, reports, first, restored in session.execute(
            select(
                Outage.id,
                Outage.customers_affected,
                Outage.report_count,
                Outage.first_report_at,
                Outage.restored_at,
            ).where(
                Outage.state.in_(_PAST),
                Outage.customer_id.is_(None),
                Outage.customers_affected >= MIN_CUSTOMERS,
                (Outage.confirmed_by.is_(None)) | (Outage.confirmed_by != "scada"),
            )
        )
        if restored is None or restored - first > momentary
    }
    customers = sum(c for c, _ in judged.values())
    if not judged or not customers:
        return None, None, 0
    ids = sorted(judged)
    by_kind: Counter[str] = Counter()
    for start in range(0, len(ids), 900):
        for kind, n in session.execute(
            select(Report.kind, func.count(distinct(Report.customer_id)))
            .where(Report.outage_id.in_(ids[start : start + 900]), Report.customer_id.is_not(None))
            .group_by(Report.kind)
        ):
            by_kind[str(kind)] += int(n)
    gasps = by_kind.pop(ReportKind.LAST_GASP.value, 0)
    calls = sum(n for kind, n in by_kind.items() if kind != ReportKind.POWER_RESTORED.value)
    if not gasps and not calls:
        calls = sum(r for _, r in judged.values())  # report counts only: every report a call
    return min(calls / customers, 1.0), min(gasps / customers, 1.0), len(judged)


def _momentary(session: Session) -> timedelta:
    return timedelta(minutes=float(get_setting(session, "reliability.momentary_max_minutes")))


def as_json(learned: Learned) -> dict[str, Any]:
    return asdict(learned)
