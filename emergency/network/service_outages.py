"""Service outages: one customer's lone supply-loss call, an outage of its own from the first call.

A call that no outage covers and that does not meet the transformer's threshold opens an outage
for that customer alone (`Outage.customer_id`), at their service transformer, so the dispatch and
on-site clocks start when the report is received (the service standard's 10 and 30 minutes) and a
crew can be sent to a single customer. More calls then roll it up into the transformer's outage
(`emergency.network.analysis`). It counts one customer, in the district the customer lives in,
with that customer's importance. Staff see whose supply it is by the account; the public never do.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from emergency.core.bulk import driver_rows, on_sqlite
from emergency.core.models import Customer, CustomerKind, ImportanceGrade

# How much of an account number a label shows: enough for a dispatcher to match the caller.
ACCOUNT_TAIL = 4


@dataclass(frozen=True)
class CustomerFacts:
    """What a service outage records of its customer."""

    district_id: int | None
    weight: float
    important: dict[str, int]  # the `important_affected` of a one-customer outage


def important_of(importance: str, kind: str) -> dict[str, int]:
    """One customer's entry in `Outage.important_affected` (keys of `IMPORTANCE_ORDER`)."""
    found: dict[str, int] = {}
    if str(importance) != ImportanceGrade.NONE:
        found[str(importance)] = 1
    if str(kind) == CustomerKind.LIFE_SUPPORT:
        found[CustomerKind.LIFE_SUPPORT.value] = 1
    return found


_SQLITE_FACTS = (
    "SELECT id, district_id, importance, kind, priority_weight FROM customers"
    " WHERE id IN (SELECT value FROM json_each(?))"
)


def customer_facts(session: Session, customer_ids: list[int]) -> dict[int, CustomerFacts]:
    """The facts of the customers opening service outages in one batch: one query (on SQLite
    straight through the driver, as analysis's other reads; elsewhere per 900 ids)."""
    ids = sorted(set(customer_ids))
    if not ids:
        return {}
    if on_sqlite(session):
        rows: list[Any] = driver_rows(session, _SQLITE_FACTS, (json.dumps(ids),))
    else:
        facts = select(Customer.id, Customer.district_id, Customer.importance, Customer.kind)
        facts = facts.add_columns(Customer.priority_weight)
        rows = [
            row
            for start in range(0, len(ids), 900)
            for row in session.execute(facts.where(Customer.id.in_(ids[start : start + 900])))
        ]
    return {
        int(customer_id): CustomerFacts(
            district_id, float(weight if weight is not None else 1.0), important_of(importance, kind)
        )
        for customer_id, district_id, importance, kind, weight in rows
    }


def account_tail(account_no: str | None) -> str | None:
    """The end of an account number, as a service outage is named where a full one must not show."""
    if not account_no:
        return None
    return account_no[-ACCOUNT_TAIL:]
