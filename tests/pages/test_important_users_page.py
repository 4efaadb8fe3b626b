"""The important users register page through the real entry script (AppTest): list, filter, add,
edit, and the refusal shown for a bad edit. (AppTest cannot upload a file: the CSV import is
tested on the service in tests/integration/test_important_users.py.)"""

from __future__ import annotations

import pytest
from sqlalchemy import select
from streamlit.testing.v1 import AppTest

from emergency.core.db import get_database
from emergency.core.models import AuditEvent, Customer
from tests.pages.conftest import APP, page
from tests.pages.test_access import log_in
from tests.support.small_territory import PASSWORDS

TIMEOUT = 30
PAGE = "important_users.py"


def open_register() -> AppTest:
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.run()
    log_in(at, "manager", PASSWORDS["manager"])
    at.switch_page(page(PAGE)).run()
    assert not at.exception, at.exception
    return at


def listed(at: AppTest):
    return at.dataframe[0].value


def widget(items, key: str):
    return next(w for w in items if w.key == key)


def test_dispatchers_are_not_offered_the_register(territory_db):
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.run()
    log_in(at, "dispatcher", PASSWORDS["dispatcher"])
    with pytest.raises(ValueError, match="Could not find a navigation page"):
        at.switch_page(page(PAGE))


def test_the_register_lists_the_hospital_with_its_contact_and_filters(territory_db):
    at = open_register()
    assert at.title[0].value == "Important users register"
    frame = listed(at)
    assert list(frame["Name"]) == ["West Hospital 西镇医院"]
    assert (frame["Grade"].iloc[0], frame["Backup power (h)"].iloc[0]) == ("grade 1", 8)
    widget(at.multiselect, "iu-f-district").set_value(["E"]).run()
    assert any("No important user matches" in i.value for i in at.info)


def test_a_manager_adds_an_account_and_edits_it(territory_db):
    url, territory = territory_db
    account = territory.account_by_transformer["TX-4"][0]
    at = open_register()
    widget(at.text_input, "iu-add-account").input(account)
    widget(at.selectbox, "iu-add-grade").set_value("grade2")
    widget(at.selectbox, "iu-add-kind").set_value("water")
    widget(at.number_input, "iu-add-hours").set_value(5.5)
    widget(at.text_input, "iu-add-name").input("Plant duty <b>officer</b>")
    widget(at.text_input, "iu-add-phone").input("0571-8888 1234")
    next(b for b in at.button if b.label == "Save" and "iu-add" in b.id).click().run()
    assert not at.exception, at.exception
    assert any(f"Saved: account {account}" in s.value for s in at.success)
    frame = listed(at)
    row = frame[frame["Account"] == account].iloc[0]
    assert (row["Backup power (h)"], row["Contact"], row["Contact phone"]) == (
        5.5,
        "Plant duty <b>officer</b>",
        "0571-8888 1234",
    )

    with get_database(url).read() as session:
        customer_id = session.scalar(select(Customer.id).where(Customer.account_no == account))
    widget(at.selectbox, "iu-edit-pick").set_value(customer_id).run()
    prefix = f"iu-edit-{customer_id}-2"
    assert widget(at.number_input, f"{prefix}-hours").value == 5.5
    widget(at.text_input, f"{prefix}-phone").input("not a phone")
    next(b for b in at.button if b.label == "Save" and prefix in b.id).click().run()
    assert any("contact\\_phone\\: is not a phone number" in e.value for e in at.error)  # escaped Markdown

    widget(at.selectbox, "iu-edit-pick").set_value(customer_id).run()
    widget(at.selectbox, f"{prefix}-grade").set_value("grade1")
    widget(at.text_input, f"{prefix}-phone").input("13900001111")
    next(b for b in at.button if b.label == "Save" and prefix in b.id).click().run()
    assert not at.exception, at.exception
    assert any("Saved" in s.value for s in at.success)
    with get_database(url).read() as session:
        customer = session.get(Customer, customer_id)
        assert (customer.importance, customer.contact_phone, customer.version) == ("grade1", "13900001111", 3)
        actions = session.scalars(
            select(AuditEvent.action).where(AuditEvent.entity_id == str(customer_id))
        ).all()
        assert sorted(actions) == ["important_user.register", "important_user.update"]
