"""A Context for tests that run commands and queries: the test's database, clock and actor, and the
default local time zone (Asia/Shanghai, what the app uses when OUTAGE_TZ is not set)."""

from __future__ import annotations

from zoneinfo import ZoneInfo

from emergency.app.context import Context
from emergency.core.actor import SYSTEM, Actor
from emergency.core.clock import Clock
from emergency.core.db import Database

SHANGHAI = ZoneInfo("Asia/Shanghai")


def context_of(db: Database, clock: Clock, actor: Actor = SYSTEM) -> Context:
    return Context(db, clock, actor, SHANGHAI)
