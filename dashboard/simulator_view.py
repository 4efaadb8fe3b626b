"""The pages' way to the live demo's storm simulator: the banner every page shows, and the admin's
actions (pause, resume, restart) for pages/simulator_admin.py."""

from __future__ import annotations

import streamlit as st

from dashboard import services
from dashboard.i18n import t
from emergency.app.bus import execute
from emergency.app.commands.admin import PauseDemo, RestartDemo, ResumeDemo
from emergency.app.context import Context
from emergency.app.queries import admin as admin_queries
from emergency.core.actor import PUBLIC, Actor
from emergency.core.clock import SYSTEM_CLOCK
from emergency.core.config import load_settings
from emergency.simulator.live import DemoRun

BANNER_ICON = ":material/cyclone:"


@st.cache_data(ttl=10, show_spinner=False)
def _run(db_url: str, _ctx: Context) -> DemoRun | None:
    # Keyed by the database alone: every viewer sees the same run.
    return admin_queries.demo_run(_ctx)


def current_run() -> DemoRun | None:
    ctx = services.context(PUBLIC)
    return _run(ctx.db.url, ctx)


def simulator_state(admin: Actor) -> admin_queries.SimulatorState:
    """The run and the switches, for the admin's page (read fresh: the page is about them)."""
    return admin_queries.simulator_state(services.context(admin))


def simulation_switched_on(state: admin_queries.SimulatorState) -> bool:
    """Both switches: `OUTAGE_DEMO_SIMULATOR` in this process's environment and the setting."""
    return load_settings().demo_simulator and state.demo_enabled


def live_minute(run: DemoRun) -> int:
    """How far the storm has got: time since the start, less the time it was paused."""
    if run.state != "running":
        return int(run.minute)
    elapsed = (SYSTEM_CLOCK.now() - run.origin).total_seconds() / 60 - run.paused_minutes
    return max(int(elapsed), 0)


def scenario_name(scenario: str) -> str:
    return t(f"sim.scenario.{scenario}")


def progress_line(run: DemoRun) -> str:
    """What the run has done so far, in the reader's language; a run saved before the counts were
    kept has only its English line, shown as it is."""
    if not run.figures:
        return run.summary
    try:
        return t("sim.progress_line", **run.figures)
    except KeyError:  # a run saved by another version of the app, with other figures
        return run.summary


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
    run: DemoRun = execute(services.context(actor), PauseDemo())
    _run.clear()
    return run


def resume(actor: Actor) -> DemoRun:
    run: DemoRun = execute(services.context(actor), ResumeDemo())
    _run.clear()
    return run


def restart(actor: Actor, scenario: str, seed: int) -> DemoRun:
    run: DemoRun = execute(services.context(actor), RestartDemo(scenario, seed))
    _run.clear()
    return run
