"""The one ranking of active outages that every page and the storm plan use, with its reasons.

The doctrine, key by key (each key decides only when every key before it ties; the README's
"Priority" paragraph says the same, and `Priority.reason` names the keys that placed an outage,
in this order):

1. in a district in disaster mode, an outage cutting off an important user comes strictly first;
2. outside disaster mode, the most urgent running clock: breached, then at risk, then on track,
   then none running (a crew on site); in a disaster-mode district the clocks do not order;
3. the restoration doctrine: public-safety hazards (wires down), then special-grade and grade-1
   users, then grade 2 and life support, then temporary important users, then the rest; within
   a user tier, the user whose backup power runs out sooner first, then the higher grade;
4. the repairs that bring back the most customers per crew-hour;
5. the earlier first report, then the lower id.

A hazard leads its band everywhere, disaster mode included: among the outages that cut off
important users in disaster mode, one with wires down comes before one without.

The core (`rank`) works on plain arrays, one sort for thousands of outages, so the dispatcher's
board can rank a typhoon's 5,000 outages on every refresh. `important_users_out` finds which
important users each outage cuts off, and their backup power left, from the register as cached
per territory revision.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import NamedTuple

import numpy as np
import numpy.typing as npt
from sqlalchemy import String, or_, select, type_coerce
from sqlalchemy.orm import Session

from emergency.core.models import Customer as CustomerRow
from emergency.core.models import CustomerKind, Device, ImportanceGrade
from emergency.core.settings import get_setting
from emergency.core.vocabulary import IMPORTANCE_ORDER
from emergency.dispatch.etr import EtrRules, typical_repair_minutes

# Most critical first. Life support is not a grade, but counts as critical beside grade 2.
GRADES = IMPORTANCE_ORDER
NO_USER = len(GRADES)
# The restoration doctrine's tiers (key 3): a hazard, then the most critical user cut off.
HAZARD, CRITICAL, SERIOUS, TEMPORARY, OTHER = range(5)
GRADE_TIER = np.array([CRITICAL, CRITICAL, SERIOUS, SERIOUS, TEMPORARY, OTHER], dtype=np.int8)
# Clock bands (outside disaster mode the clocks lead).
BREACHED, AT_RISK, ON_TRACK, NO_CLOCK = range(4)
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

GRADE_WORDS = {
    "special": ("special-grade user", "特级重要用户"),
    "grade1": ("grade-1 user", "一级重要用户"),
    "grade2": ("grade-2 user", "二级重要用户"),
    "life_support": ("life-support customer", "生命支持用户"),
    "temporary": ("temporary important user", "临时性重要用户"),
}


class Priority(NamedTuple):
    """Where one outage ranks and the facts that put it there (a named tuple: the board builds
    thousands on every refresh; the reason is worded only when shown)."""

    rank: int  # 1 is first
    outage_id: int
    disaster_mode: bool  # its district is in disaster mode
    clock_band: int  # BREACHED, AT_RISK, ON_TRACK or NO_CLOCK, as ranked
    clock_en: str | None  # the leading clock's name, when it breached or is at risk
    clock_zh: str | None
    hazard: bool
    top_grade: str | None  # the most critical user cut off, None when there is none
    important_users: int
    backup_hours_left: float | None  # that user's; 0 when it has none or it ran out
    customers_out: int
    customers_per_crew_hour: float

    def reason(self, language: str = "en") -> str:
        """A short line the dispatcher can read: why the outage stands where it does, naming the
        doctrine's keys that lifted it in the order they rank (see the module's doctrine)."""
        zh = language == "zh"
        parts: list[str] = []
        if self.disaster_mode and self.top_grade is not None:
            parts.append("灾害模式：重要用户优先" if zh else "disaster mode: important users first")
        elif self.disaster_mode:
            parts.append("灾害模式区域" if zh else "disaster-mode area")
        if self.clock_band == BREACHED:
            parts.append(f"{self.clock_zh}已超时" if zh else f'"{self.clock_en}" clock breached')
        elif self.clock_band == AT_RISK:
            parts.append(f"{self.clock_zh}即将超时" if zh else f'"{self.clock_en}" clock at risk')
        if self.hazard:
            parts.append("公共安全隐患" if zh else "public-safety hazard")
        if self.top_grade is not None:
            parts.append(self._user_words(zh))
        rate = self.customers_per_crew_hour
        parts.append(
            f"停电 {self.customers_out} 户，每工时 {rate:.1f} 户"
            if zh
            else f"{self.customers_out} out, {rate:.1f} per crew-hour"
        )
        return ("；" if zh else "; ").join(parts)

    def _user_words(self, zh: bool) -> str:
        assert self.top_grade is not None
        en, cn = GRADE_WORDS[self.top_grade]
        left = self.backup_hours_left or 0.0
        if zh:
            backup = "备用电源已耗尽或没有" if left <= 0 else f"备用电源剩 {left:.1f} 小时"
            return f"{cn}（共 {self.important_users} 户），{backup}"
        backup = "no backup power left" if left <= 0 else f"backup {left:.1f} h left"
        return f"{en} ({self.important_users} important), {backup}"


@dataclass(frozen=True)
class RankingInput:
    """One entry per active outage, as arrays of equal length."""

    outage_ids: npt.NDArray[np.int64]
    hazard: npt.NDArray[np.bool_]
    disaster: npt.NDArray[np.bool_]
    clock_band: npt.NDArray[np.int8]  # of the most urgent running clock
    clock_en: Sequence[str | None]
    clock_zh: Sequence[str | None]
    top_grade: npt.NDArray[np.int8]  # index into GRADES, NO_USER when none
    important_users: npt.NDArray[np.int64]
    backup_left: npt.NDArray[np.float64]  # hours, of the top user; ignored when there is none
    customers_out: npt.NDArray[np.int64]
    repair_hours: npt.NDArray[np.float64]  # typical crew time to restore it
    first_report_us: npt.NDArray[np.int64]


def rank(data: RankingInput) -> list[Priority]:
    """Every outage, first to last, each with the facts of its rank (the module's doctrine)."""
    count = len(data.outage_ids)
    if count == 0:
        return []
    has_user = data.top_grade < NO_USER
    users_first = data.disaster & has_user
    # In a disaster-mode district the clocks do not order (key 2): every outage there sits in one
    # band, so a grade-1 user whose crew is already on site still ranks above a grade-2 one.
    clock_band = np.where(data.disaster, ON_TRACK, data.clock_band).astype(np.int8)
    # A hazard leads the doctrine (key 3) everywhere, among disaster mode's important users too.
    tier = np.where(data.hazard, HAZARD, GRADE_TIER[data.top_grade])
    backup = np.where(has_user, np.maximum(data.backup_left, 0.0), np.inf)
    rate = data.customers_out / np.maximum(data.repair_hours, 1e-6)
    # np.lexsort sorts by the last key first: these are the doctrine's keys, last to first.
    order = np.lexsort(
        (
            data.outage_ids,
            data.first_report_us,
            -rate,
            data.top_grade,
            backup,
            tier,
            clock_band,
            ~users_first,
        )
    )
    ids = data.outage_ids.tolist()
    disaster = data.disaster.tolist()
    bands = clock_band.tolist()
    hazards = data.hazard.tolist()
    grades = data.top_grade.tolist()
    users = data.important_users.tolist()
    lefts = np.round(np.maximum(data.backup_left, 0.0), 1).tolist()
    outs = data.customers_out.tolist()
    rates = np.round(rate, 1).tolist()
    return [
        Priority(
            rank=position,
            outage_id=ids[i],
            disaster_mode=disaster[i],
            clock_band=bands[i],
            clock_en=data.clock_en[i] if bands[i] <= AT_RISK else None,
            clock_zh=data.clock_zh[i] if bands[i] <= AT_RISK else None,
            hazard=hazards[i],
            top_grade=GRADES[grades[i]] if grades[i] < NO_USER else None,
            important_users=users[i],
            backup_hours_left=lefts[i] if grades[i] < NO_USER else None,
            customers_out=outs[i],
            customers_per_crew_hour=rates[i],
        )
        for position, i in enumerate(order.tolist(), start=1)
    ]


# --- the facts, from the database ---------------------------------------------------------------


@dataclass(frozen=True)
class UsersOut:
    """Per outage: the most critical user cut off, how many, and that user's backup left."""

    top_grade: npt.NDArray[np.int8]
    count: npt.NDArray[np.int64]
    backup_left: npt.NDArray[np.float64]


def user_grade_index(importance: str, kind: str) -> int:
    if importance == ImportanceGrade.NONE:
        return GRADES.index("life_support") if kind == CustomerKind.LIFE_SUPPORT else NO_USER
    return GRADES.index(str(importance))


class RegisteredUser(NamedTuple):
    grade: int  # index into GRADES
    backup_hours: float | None
    chain: tuple[int, ...]  # device ids from its transformer up to the substation


_registers: dict[str, tuple[int, list[RegisteredUser]]] = {}
_registers_lock = threading.Lock()


def registered_users(session: Session) -> list[RegisteredUser]:
    """Every important user with its way up the network, cached per database until the territory
    revision moves (the register and the importers bump it, as for the network model): finding
    life-support customers reads the whole customer table, too slow for every board refresh."""
    revision = int(get_setting(session, "territory.revision"))
    key = session.get_bind().engine.url.render_as_string(hide_password=True)
    with _registers_lock:
        cached = _registers.get(key)
    if cached is not None and cached[0] == revision:
        return cached[1]
    connection = session.connection()
    found = connection.execute(
        select(
            type_coerce(CustomerRow.importance, String),
            type_coerce(CustomerRow.kind, String),
            CustomerRow.backup_hours,
            CustomerRow.transformer_id,
        ).where(
            or_(
                CustomerRow.importance != ImportanceGrade.NONE,
                CustomerRow.kind == CustomerKind.LIFE_SUPPORT,
            )
        )
    ).all()
    users: list[RegisteredUser] = []
    if found:
        parents: dict[int, int | None] = dict(
            connection.execute(select(Device.id, Device.parent_id)).tuples().all()
        )
        for importance, kind, hours, transformer in found:
            grade = user_grade_index(importance, kind)
            if grade == NO_USER:
                continue
            chain: list[int] = []
            device: int | None = transformer
            while device is not None and len(chain) < 64:  # 64: far deeper than any radial network
                chain.append(device)
                device = parents.get(device)
            users.append(RegisteredUser(grade, hours, tuple(chain)))
    with _registers_lock:
        _registers[key] = (revision, users)
    return users


def important_users_out(
    session: Session,
    device_ids: Sequence[int],
    first_report_us: npt.NDArray[np.int64],
    recorded: Sequence[Mapping[str, int] | None],
    now: datetime,
) -> UsersOut:
    """Which important users each outage (at `device_ids`) cuts off, from the register.

    A user is cut off by every active outage on its way up to the substation. Backup left is the
    recorded backup hours less the time since the outage's first report; no recorded backup counts
    as none, the safe assumption for ordering. An outage whose recorded counts name a grade the
    register did not give it (a user moved since) keeps that grade, with no backup known.
    """
    count = len(device_ids)
    top = np.full(count, NO_USER, dtype=np.int8)
    users = np.zeros(count, dtype=np.int64)
    backup = np.full(count, np.inf, dtype=np.float64)
    now_us = (now - EPOCH) // timedelta(microseconds=1)
    outages_at: dict[int, list[int]] = {}
    for i, device in enumerate(device_ids):
        outages_at.setdefault(int(device), []).append(i)
    if outages_at:
        for grade, hours, chain in registered_users(session):
            for device in chain:
                for i in outages_at.get(device, ()):
                    out_hours = max((now_us - int(first_report_us[i])) / 3.6e9, 0.0)
                    left = max((hours or 0.0) - out_hours, 0.0)
                    users[i] += 1
                    if (grade, left) < (top[i], backup[i]):
                        top[i], backup[i] = grade, left
    for i, counts in enumerate(recorded):
        if not counts:
            continue
        named = [GRADES.index(k) for k, n in counts.items() if n and k in GRADES]
        if named and min(named) < top[i]:
            top[i], backup[i] = min(named), 0.0
            users[i] = max(users[i], sum(n for k, n in counts.items() if k in GRADES))
    return UsersOut(top, users, backup)


def repair_hours(
    session: Session,
    device_kinds: Sequence[str],
    area_types: Sequence[str | None],
    disaster: npt.NDArray[np.bool_],
) -> npt.NDArray[np.float64]:
    """Typical crew hours to restore each outage (the `etr.` settings): customers per crew-hour
    divides by this."""
    rules = EtrRules.from_settings(session)
    cache: dict[tuple[str, str, bool], float] = {}
    hours = np.empty(len(device_kinds), dtype=np.float64)
    for i, key in enumerate(zip(device_kinds, area_types, disaster.tolist(), strict=True)):
        kind, area, flag = key
        value = cache.get(key)  # type: ignore[arg-type]
        if value is None:
            value = typical_repair_minutes(kind, area or "urban", flag, rules=rules) / 60
            cache[key] = value  # type: ignore[index]
        hours[i] = value
    return hours
