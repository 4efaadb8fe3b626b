"""The console's meter pings for the chosen outage (#21 point 3): which smart meters fault location
asked, when, what they said, and which candidate device each tests; a dispatcher may ask again.

Plain data in (`meters.outage_pings`), Streamlit out. Asking goes through the console's Pending
pattern, handed in as `propose` (as the switching section does), so it is asked first by name.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from zoneinfo import ZoneInfo

import streamlit as st

from dashboard import services
from dashboard.i18n import local_time, t
from dashboard.markdown_text import plain
from emergency.app.commands.meters import PingOutageMeters
from emergency.app.queries import meters as meter_queries
from emergency.app.queries.meters import PingRow
from emergency.core.actor import Actor
from emergency.core.meter_models import PingAnswer
from emergency.dispatch.outage_detail import OutageDetail
from emergency.network.meter_ping import PingOutcome

Propose = Callable[[object, str, Callable[[Any], str]], None]
# Predictions location may still move: only these are tested with meters.
TESTABLE_STATES = ("reported", "predicted")


def pings_table(rows: list[PingRow], tz: ZoneInfo) -> list[dict[str, Any]]:
    return [
        {
            t("meters.col.asked"): local_time(r.asked_at, tz, "%H:%M:%S"),
            t("meters.col.meter"): r.meter_id,
            t("meters.col.account"): r.account_no,
            t("meters.col.tests"): r.candidate_code or "—",
            t("meters.col.answer"): t(f"meters.answer.{r.answer.value}"),
            t("meters.col.answered"): local_time(r.answered_at, tz, "%H:%M:%S"),
            t("meters.col.by"): r.asked_by,
            t("meters.col.outage"): r.outage_id,
        }
        for r in rows
    ]


def outcome_words(outage_id: int, device: str) -> Callable[[Any], str]:
    def words(result: PingOutcome) -> str:
        answers = [a for by_meter in result.asked.values() for a in by_meter.values()]
        counts = {a.value: answers.count(a) for a in PingAnswer}
        moved = result.moved.get(outage_id)
        text = t("meters.done", id=outage_id, device=device, **counts)
        return text + (" " + t("meters.moved", id=outage_id, to=moved) if moved is not None else "")

    return words


def meter_section(actor: Actor, detail: OutageDetail, tz: ZoneInfo, propose: Propose) -> None:
    """The pings of the chosen outage (and of the outages it took over), and "Ask the meters"."""
    o = detail.outage
    rows = meter_queries.outage_pings(services.context(actor), o.id)
    with st.expander(t("meters.title", n=len(rows)), expanded=bool(rows)):
        st.caption(t("meters.intro"))
        if rows:
            st.dataframe(pings_table(rows, tz), hide_index=True, width="stretch")
        else:
            st.caption(t("meters.none"))
        if str(o.state) in TESTABLE_STATES and st.button(t("meters.ask"), key=f"meters-ask-{o.id}"):
            device = plain(detail.device_code)
            propose(
                PingOutageMeters(o.id),
                t("meters.ask_question", id=o.id, device=device),
                outcome_words(o.id, device),
            )
