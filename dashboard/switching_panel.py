"""The console's switching section for the chosen outage: the proposed steps with the customers
each restores and the receiving feeder's load against its limit, each executed only after the
console's usual question ("Open SW1 for outage 2378 · R1?").

Plain data in (the switching_plan query), Streamlit out. The question goes through the console's
Pending pattern, handed in as `propose`, so this module needs nothing of the console's.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from zoneinfo import ZoneInfo

import streamlit as st

from dashboard import services
from dashboard.i18n import t
from dashboard.markdown_text import plain
from emergency.app.commands.switching import OperateSwitch, SwitchOperated
from emergency.app.queries import switching as switching_queries
from emergency.app.queries.switching import OutageSwitching
from emergency.core.actor import Actor
from emergency.core.vocabulary import SwitchState
from emergency.dispatch.outage_detail import OutageDetail
from emergency.network.switching import StepEffect, StepPurpose, SwitchingStep

# propose(command, question, outcome words from the command's result): asks, then reruns.
Propose = Callable[[object, str, Callable[[Any], str]], None]

PURPOSE_WORDS = {
    StepPurpose.ISOLATE: "switch.purpose.isolate",
    StepPurpose.RESTORE: "switch.purpose.restore",
    StepPurpose.RETURN_OPEN: "switch.purpose.return_open",
    StepPurpose.RETURN_CLOSE: "switch.purpose.return_close",
    StepPurpose.OPERATE: "switch.purpose.operate",
}


def action_words(step: SwitchingStep) -> str:
    key = "switch.close" if step.to_state == SwitchState.CLOSED else "switch.open"
    return t(key, switch=plain(step.device_code))


def refusal_words(effect: StepEffect) -> str:
    """Why a step is refused, in the reader's language (the same checks the command makes)."""
    if effect.loop:
        return t("switch.refused.loop", path=plain(" → ".join(effect.loop)))
    if effect.onto_fault:
        return t("switch.refused.fault", devices=plain(", ".join(effect.onto_fault)))
    if effect.overload_customers > 0:
        return t(
            "switch.refused.customers",
            feeder=plain(effect.feeder_code or "—"),
            n=f"{effect.feeder_customers:,}",
            limit=f"{effect.customer_limit:,}",
            over=f"{effect.overload_customers:,}",
        )
    if effect.overload_kva > 0:
        return t(
            "switch.refused.kva",
            feeder=plain(effect.feeder_code or "—"),
            kva=f"{effect.feeder_kva:,.0f}",
            limit=f"{effect.kva_limit:,.0f}",
            over=f"{effect.overload_kva:,.0f}",
        )
    return t("switch.ok")


def capacity_words(step: SwitchingStep) -> str:
    effect = step.effect
    if step.to_state != SwitchState.CLOSED or effect.feeder_code is None:
        return "—"
    return t(
        "switch.capacity",
        feeder=plain(effect.feeder_code),
        n=f"{effect.feeder_customers:,}",
        limit=f"{effect.customer_limit:,}",
    )


def steps_table(plan: OutageSwitching) -> list[dict[str, Any]]:
    return [
        {
            t("switch.col.step"): step.order,
            t("switch.col.action"): action_words(step),
            t("switch.col.purpose"): t(PURPOSE_WORDS[step.purpose]),
            t("switch.col.restored"): step.effect.restored,
            t("switch.col.interrupted"): step.effect.interrupted,
            t("switch.col.capacity"): capacity_words(step),
            t("switch.col.check"): refusal_words(step.effect),
        }
        for step in plan.plan.steps
    ]


def question(step: SwitchingStep, outage_id: int, device: str) -> str:
    named = {"switch": plain(step.device_code), "id": outage_id, "device": device}
    if step.to_state == SwitchState.OPEN:
        return t("switch.ask.open", **named)
    return t(
        "switch.ask.close", n=step.effect.restored, feeder=plain(step.effect.feeder_code or "—"), **named
    )


def outcome_words(outage_id: int, device: str) -> Callable[[Any], str]:
    def words(result: SwitchOperated) -> str:
        key = "switch.done.closed" if result.state == SwitchState.CLOSED else "switch.done.opened"
        return t(
            key,
            switch=plain(result.device_code),
            id=outage_id,
            device=device,
            n=result.customers_restored,
            left=result.outage.still_out,
        )

    return words


def switching_section(actor: Actor, detail: OutageDetail, tz: ZoneInfo, propose: Propose) -> None:
    """The plan for the chosen outage, and a button per step that can be done."""
    del tz  # the steps carry no times; kept in the signature of the console's sections
    o = detail.outage
    device = plain(detail.device_code)
    active = o.state not in ("restored", "closed", "cancelled")
    returning = not active or st.toggle(t("switch.return_toggle"), key=f"switch-return-{o.id}")
    plan = switching_queries.switching_plan(services.context(actor), o.id, returning)
    if plan.plan.unreachable:
        st.caption(t("switch.unreachable", sections=plain(", ".join(plan.plan.unreachable))))
    if not plan.plan.steps:
        st.caption(t("switch.normal") if returning else t("switch.none"))
        return
    st.caption(t("switch.return_intro") if returning else t("switch.intro", n=plan.plan.customers_restored))
    st.dataframe(steps_table(plan), hide_index=True, width="stretch")
    for step in plan.plan.steps:
        label = t("switch.execute", n=step.order, action=action_words(step))
        clicked = st.button(
            label, key=f"switch-{o.id}-{step.order}-{step.device_id}", disabled=step.effect.refused
        )
        if clicked:
            command = OperateSwitch(
                o.id,
                plan.outage_version,
                step.device_id,
                plan.device_versions.get(step.device_id),
                step.to_state,
                step.purpose,
            )
            propose(command, question(step, o.id, device), outcome_words(o.id, device))
