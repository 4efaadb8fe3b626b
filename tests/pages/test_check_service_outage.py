"""Check my outage for a lone caller (issue #17, point 1): their own service outage, with its
reference and stage, in both languages; the neighbour on the same transformer sees no outage."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from emergency.core.actor import Actor
from emergency.core.clock import SYSTEM_CLOCK
from emergency.core.db import Database
from emergency.core.models import Customer, Outage
from tests.pages.test_public_forms import open_page, submit, texts
from tests.support.commands import submit_reports

WORDS = {
    "en": ("Outage reference: {reference}.", "Reported, being assessed", "We know of no outage affecting"),
    "zh": ("停电事件编号：{reference}。", "已报告，正在评估", "目前未发现影响您供电的停电"),
}


@pytest.mark.parametrize("language", ["en", "zh"])
def test_a_lone_caller_sees_their_service_outage_and_its_reference(territory_db, monkeypatch, language):
    url, built = territory_db
    monkeypatch.setenv("OUTAGE_LANG", language)
    caller, neighbour = built.account_by_transformer["TX-4"][:2]
    db = Database(url)
    try:
        submit_reports(
            db,
            SYSTEM_CLOCK,
            Actor("hotline-gateway", "intake"),
            [{"channel": "hotline", "kind": "no_power", "account_no": caller}],
        )
        with db.read() as session:
            (reference,) = session.scalars(select(Outage.id)).all()
            phones = dict(session.execute(select(Customer.account_no, Customer.phone)).tuples().all())
    finally:
        db.dispose()
    reference_words, stage, no_outage = WORDS[language]

    at = open_page("public_check.py")
    at.text_input(key="check_account").input(caller)
    at.text_input(key="check_last4").input(phones[caller][-4:])
    shown = texts(submit(at))
    assert reference_words.format(reference=reference) in shown
    assert stage in shown
    assert caller not in shown, "the page repeats no account"

    at = open_page("public_check.py")
    at.text_input(key="check_account").input(neighbour)
    at.text_input(key="check_last4").input(phones[neighbour][-4:])
    shown = texts(submit(at))
    assert no_outage in shown
    assert reference_words.format(reference=reference) not in shown, "a neighbour's call is not theirs"
