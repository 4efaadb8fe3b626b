"""How staff pages name a service outage (one customer's lone call), in both languages: its
transformer and the end of the customer's account, never the whole account or a name."""

from __future__ import annotations

import pytest

from dashboard import i18n
from dashboard.outage_names import outage_name
from emergency.network.service_outages import account_tail, important_of


@pytest.mark.parametrize(
    ("language", "expected"),
    [("en", "TX000123 · service: account ending 4821"), ("zh", "TX000123 · 单户停电：户号尾号 4821")],
)
def test_a_service_outage_is_named_by_its_transformer_and_the_end_of_the_account(
    monkeypatch: pytest.MonkeyPatch, language: str, expected: str
) -> None:
    monkeypatch.setattr(i18n, "current_language", lambda: language)
    assert outage_name("TX000123", "3301004821") == expected
    assert "3301004821" not in outage_name("TX000123", "3301004821")


def test_an_outage_of_a_device_is_named_by_its_code_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(i18n, "current_language", lambda: "en")
    assert outage_name("FU-0042", None) == "FU-0042"
    assert account_tail(None) is None and account_tail("") is None


def test_a_service_outage_records_its_own_customer_importance() -> None:
    assert important_of("none", "residential") == {}
    assert important_of("grade1", "hospital") == {"grade1": 1}
    assert important_of("none", "life_support") == {"life_support": 1}
