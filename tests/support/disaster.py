"""A red typhoon warning issued over some districts, as the tests of disaster mode need one."""

from __future__ import annotations

from datetime import timedelta

from emergency.app.bus import execute
from emergency.app.commands.warnings import CreateWarning, IssueWarning
from emergency.core.actor import Actor
from emergency.core.clock import Clock
from emergency.core.db import Database
from emergency.warnings.area import DistrictsArea
from emergency.warnings.records import WarningInput
from tests.support.app_context import context_of

MANAGER = Actor("meng", "manager")


def issue_typhoon_warning(
    db: Database, clock: Clock, codes: tuple[str, ...], *, readiness: int = 1, hours: float = 24
) -> int:
    """Create and issue a red typhoon warning over `codes`, from now for `hours`; its id."""
    ctx = context_of(db, clock, MANAGER)
    warning = WarningInput(
        "typhoon",
        "red",
        readiness,
        "Typhoon",
        "台风",
        "",
        "",
        DistrictsArea(codes),
        clock.now(),
        clock.now() + timedelta(hours=hours),
    )
    warning_id: int = execute(ctx, CreateWarning(warning))
    execute(ctx, IssueWarning(warning_id, 1))
    return warning_id
