"""The accuracy of fault location: where analysis predicted each outage against the device where
the crew found the fault.

A dispatcher records the crew's finding on the outage (`record_fault_device`, the console's
"Fault found at" or the crew's radio call). Each outage with a finding and a prediction is then
one of: exact (the device predicted is the one found), too high (the fault is below the device
predicted: the crew searched a larger section than needed), too low (the fault is above it: the
outage was larger than predicted) or elsewhere (on another branch). Both the device first
predicted (`predicted_device_id`) and the device the outage finally stood at are judged, with the
confidence analysis gave the prediction, beside the SLA compliance figures of the same outages.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
from sqlalchemy import select
from sqlalchemy.orm import Session, aliased

from emergency.core import audit
from emergency.core.actor import Actor
from emergency.core.clock import Clock
from emergency.core.errors import Conflict, InvalidInput, NotFound
from emergency.core.models import Device, Outage
from emergency.core.vocabulary import Role
from emergency.network.model import load_network

RECORD_ROLES = (Role.DISPATCHER, Role.MANAGER)
VERDICTS = ("exact", "too_high", "too_low", "elsewhere")
OUTCOME_COLUMNS = (
    "outage_id",
    "predicted",
    "final",
    "found",
    "confidence",
    "first_verdict",
    "final_verdict",
)


def record_fault_device(
    session: Session, clock: Clock, actor: Actor, outage_id: int, device_code: str, expected_version: int
) -> Outage:
    """Record the device where the crew found the fault of an outage, as seen at `expected_version`."""
    outage = session.get(Outage, outage_id)
    if outage is None:
        raise NotFound(f"no outage {outage_id}")
    if outage.version != expected_version:
        raise Conflict(f"outage {outage_id} was changed by someone else since you saw it: reload and check")
    code = (device_code or "").strip()
    device_id = session.scalar(select(Device.id).where(Device.code == code)) if code else None
    if device_id is None:
        raise InvalidInput(f"no device with the code {code!r}", field="device_code")
    before = {"fault_device_id": outage.fault_device_id}
    outage.fault_device_id = device_id
    outage.fault_device_at = clock.now()
    outage.fault_device_by = actor.username
    session.flush()
    audit.record(
        session,
        clock,
        actor,
        "outage.fault_device",
        "outage",
        outage.id,
        before=before,
        after={"fault_device_id": device_id},
        detail=f"fault found at {code}",
    )
    return outage


def location_outcomes(session: Session, outage_ids: list[int]) -> pd.DataFrame:
    """One row per outage among `outage_ids` whose fault the crew found and analysis predicted."""
    predicted, final, found = aliased(Device), aliased(Device), aliased(Device)
    rows: list[Any] = []
    for start in range(0, len(outage_ids), 900):
        rows.extend(
            session.execute(
                select(
                    Outage.id,
                    predicted.id,
                    predicted.code,
                    final.id,
                    final.code,
                    found.id,
                    found.code,
                    Outage.prediction_confidence,
                )
                .join(predicted, predicted.id == Outage.predicted_device_id)
                .join(final, final.id == Outage.device_id)
                .join(found, found.id == Outage.fault_device_id)
                .where(Outage.id.in_(outage_ids[start : start + 900]))
            ).all()
        )
    if not rows:
        return pd.DataFrame(columns=list(OUTCOME_COLUMNS))
    net = load_network(session)
    records = []
    for (
        outage_id,
        predicted_id,
        predicted_code,
        final_id,
        final_code,
        found_id,
        found_code,
        confidence,
    ) in rows:
        found_path = net.path_to_root(found_id)
        records.append(
            {
                "outage_id": outage_id,
                "predicted": predicted_code,
                "final": final_code,
                "found": found_code,
                "confidence": confidence,
                "first_verdict": judge(found_path, net.path_to_root(predicted_id)),
                "final_verdict": judge(found_path, net.path_to_root(final_id)),
            }
        )
    return pd.DataFrame(records, columns=list(OUTCOME_COLUMNS)).sort_values("outage_id", ignore_index=True)


def judge(found_path: list[int], predicted_path: list[int]) -> str:
    """A prediction against the device found, each given as its path of ids up to the source."""
    found, predicted = found_path[0], predicted_path[0]
    if found == predicted:
        return "exact"
    if predicted in found_path:
        return "too_high"
    if found in predicted_path:
        return "too_low"
    return "elsewhere"


def location_accuracy(outcomes: pd.DataFrame) -> dict[str, Any]:
    """The shares of predictions exact, too high, too low, elsewhere, first and final."""
    total = len(outcomes)
    figures: dict[str, Any] = {"outages": total}
    for which in ("first", "final"):
        counts = outcomes[f"{which}_verdict"].value_counts() if total else pd.Series(dtype=int)
        for verdict in VERDICTS:
            figures[f"{which}_{verdict}"] = int(counts.get(verdict, 0))
        figures[f"{which}_exact_share"] = figures[f"{which}_exact"] / total if total else None
    confident = outcomes["confidence"].dropna() if total else pd.Series(dtype=float)
    figures["mean_confidence"] = float(confident.mean()) if len(confident) else None
    return figures
