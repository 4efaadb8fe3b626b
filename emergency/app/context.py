"""What every command and query runs with: the database, the clock, who acts, and the local time zone.

Entry points (pages, the console, HTTP routes, the CLI, the simulator) build one `Context` from the
configuration they read once at start-up; nothing below them reads the environment.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from zoneinfo import ZoneInfo

from emergency.core.actor import Actor
from emergency.core.clock import Clock
from emergency.core.db import Database


@dataclass(frozen=True)
class Context:
    db: Database
    clock: Clock
    actor: Actor
    tz: ZoneInfo

    def acting_as(self, actor: Actor) -> Context:
        return replace(self, actor=actor)
