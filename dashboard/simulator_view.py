"""The pages' way to the live demo's storm simulator: the banner every page shows, and the admin's
actions (pause, resume, restart) for pages/simulator_admin.py."""

from __future__ import annotations

import streamlit as st

from dashboard import services
from dashboard.i18n import t
from emergency.core.actor import Actor
from emergency.core.clock import SYSTEM_CLOCK
from emergency.core.db import get_database
from emergency.core.settings import get_setting
from emergency.simulator.live import (
    DemoRun,
    demo_run,
    enabled_by_environment,
    pause_demo,
    restart_demo,
    resume_demo,
)

BANNER_ICON = ":material/cyclone:"


@st.cache_data(ttl=10, show_spinner=False)
def _run(db_url: str) -> DemoRun | None:
    with get_database(db_url).read() as session:
        return demo_run(session)


def current_run() -> DemoRun | None:
    return _run(services.database().url)


def simulation_switched_on() -> bool:
    with services.database().read() as session:
        return enabled_by_environment() and bool(get_setting(session, "simulator.demo_enabled"))


def is_demo() -> bool:
    return services.is_demo(services.database().url)


def grace_minutes() -> float:
    with services.database().read() as session:
        return float(get_setting(session, "simulator.grace_minutes"))


def live_minute(run: DemoRun) -> int:
    """How far the storm has got: time since the start, less the time it was paused."""
    if run.state != "running":
        return int(run.minute)
    elapsed = (SYSTEM_CLOCK.now() - run.origin).total_seconds() / 60 - run.paused_minutes
    return max(int(elapsed), 0)


def scenario_name(scenario: str) -> str:
    return t(f"sim.scenario.{scenario}")


def draw_demo_banner() -> None:
    """Says on every page, while a simulated storm runs on this demo, that what is shown is invented."""
    run = current_run()
    if run is None:
        return
    st.warning(
        t(f"sim.banner.{run.state}", scenario=scenario_name(run.scenario), minute=live_minute(run)),
        icon=BANNER_ICON,
    )


def pause(actor: Actor) -> DemoRun:
    run = pause_demo(services.database(), SYSTEM_CLOCK, actor)
    _run.clear()
    return run


def resume(actor: Actor) -> DemoRun:
    run = resume_demo(services.database(), SYSTEM_CLOCK, actor)
    _run.clear()
    return run


def restart(actor: Actor, scenario: str, seed: int) -> DemoRun:
    run = restart_demo(services.database(), SYSTEM_CLOCK, actor, scenario, seed)
    _run.clear()
    return run
