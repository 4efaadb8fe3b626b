"""The live demo's storm simulator (administrators): its state, pause, resume, restart."""

from __future__ import annotations

from collections.abc import Callable

import streamlit as st

from dashboard import simulator_view as view
from dashboard.choices import choice_key
from dashboard.i18n import local_time, t
from dashboard.markdown_text import plain
from dashboard.session import require_role
from emergency.core.errors import EmergencyError
from emergency.core.models import Role
from emergency.simulator.live import DemoRun
from emergency.simulator.scenarios import SCENARIOS

FLASH_KEY = "sim-flash"

admin = require_role(Role.ADMIN)
state = view.simulator_state(admin)
st.title(t("sim.title"))
st.caption(t("sim.intro", grace=f"{state.grace_minutes:g}"))


def act(action: Callable[[], DemoRun], done: Callable[[DemoRun], str]) -> None:
    """Run an admin action; on success redraw the page with the new state and say what happened."""
    try:
        run = action()
    except EmergencyError as error:
        st.error(plain(error))
        return
    st.session_state[FLASH_KEY] = done(run)
    st.rerun()


if FLASH_KEY in st.session_state:
    st.success(st.session_state.pop(FLASH_KEY))
if not view.simulation_switched_on(state):
    st.info(t("sim.disabled"))
run = state.run
if run is None:
    st.info(t("sim.not_started") if state.is_demo else t("sim.not_demo"))
else:
    columns = st.columns(5)
    columns[0].metric(t("sim.run"), run.number)
    columns[1].metric(t("sim.scenario"), view.scenario_name(run.scenario))
    columns[2].metric(t("sim.seed"), run.seed)
    columns[3].metric(t("sim.state"), t(f"sim.state.{run.state}"))
    columns[4].metric(t("sim.minute"), view.live_minute(run))
    st.caption(f"{t('sim.started')}: {local_time(run.origin)}")
    if run.summary or run.counts:
        st.caption(f"{t('sim.progress')}: {view.progress_line(run)}")
    if run.state == "running" and st.button(t("sim.pause"), key="sim-pause"):
        act(lambda: view.pause(admin), lambda _: t("sim.paused"))
    if run.state == "paused" and st.button(t("sim.resume"), key="sim-resume", type="primary"):
        act(lambda: view.resume(admin), lambda _: t("sim.resumed"))

if state.is_demo:
    with st.form("sim-restart"):
        names = sorted(SCENARIOS)
        scenario = st.selectbox(
            t("sim.scenario"),
            names,
            index=names.index(run.scenario if run is not None else "typhoon"),
            format_func=view.scenario_name,
            key=choice_key("sim-restart-scenario"),
        )
        seed = st.number_input(
            t("sim.seed"), min_value=0, max_value=2**31 - 1, value=7, step=1, key="sim-restart-seed"
        )
        if st.form_submit_button(t("sim.restart"), help=t("sim.restart.help")):
            act(
                lambda: view.restart(admin, scenario, int(seed)),
                lambda started: t(
                    "sim.restarted",
                    number=started.number,
                    scenario=view.scenario_name(started.scenario),
                    seed=started.seed,
                ),
            )
