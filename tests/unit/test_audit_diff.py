"""The audit page's readable diff of an event's before and after."""

from __future__ import annotations

from emergency.reporting.audit_log import Change, describe_changes, diff


def test_only_changed_fields_are_listed_in_order() -> None:
    before = {"state": "predicted", "version": 1, "customers": 12}
    after = {"state": "confirmed", "version": 2, "customers": 12}

    assert diff(before, after) == [Change("state", "predicted", "confirmed"), Change("version", 1, 2)]


def test_nested_values_become_dotted_paths() -> None:
    before = {"crew": {"status": "available", "version": 3}}
    after = {"crew": {"status": "dispatched", "version": 4}, "assignment": {"id": 9, "status": "dispatched"}}

    assert diff(before, after) == [
        Change("crew.status", "available", "dispatched"),
        Change("crew.version", 3, 4),
        Change("assignment.id", None, 9),
        Change("assignment.status", None, "dispatched"),
    ]


def test_a_creation_lists_every_field_and_a_field_set_to_none_counts() -> None:
    assert diff(None, {"name": "gateway"}) == [Change("name", None, "gateway")]
    assert diff({"revoked_at": None}, {}) == [Change("revoked_at", None, None)]
    assert diff({"a": 1}, {"a": 1}) == []


def test_changes_read_as_field_old_arrow_new() -> None:
    text = describe_changes([Change("state", "predicted", "confirmed"), Change("etr_at", None, "2026-07-01")])

    assert text == "state: predicted → confirmed; etr_at: — → 2026-07-01"
