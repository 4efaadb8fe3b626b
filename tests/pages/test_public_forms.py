"""The public forms as an anonymous visitor (AppTest): check my outage, report an outage, feedback."""

from __future__ import annotations

from sqlalchemy import select
from streamlit.testing.v1 import AppTest

from emergency.core.clock import SYSTEM_CLOCK
from emergency.core.db import Database
from emergency.core.models import Customer, Feedback, Report
from emergency.core.settings import set_setting
from tests.pages.conftest import APP, page

TIMEOUT = 30


def open_page(name: str) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.run()
    assert not at.exception, at.exception
    at.switch_page(page(name)).run()
    assert not at.exception, at.exception
    return at


def texts(at: AppTest) -> str:
    parts = [e.value for e in at.error] + [w.value for w in at.warning] + [i.value for i in at.info]
    parts += [s.value for s in at.success] + [c.value for c in at.caption]
    return "\n".join(str(p) for p in parts)


def submit(at: AppTest) -> AppTest:
    at.button[0].click().run()
    assert not at.exception, at.exception
    return at


def last4(url: str, account: str) -> str:
    db = Database(url)
    try:
        with db.read() as session:
            return session.scalar(select(Customer.phone).where(Customer.account_no == account))[-4:]
    finally:
        db.dispose()


def test_the_public_pages_are_in_the_anonymous_navigation(territory_db):
    for name, title in (
        ("public_check.py", "Check my outage"),
        ("public_report.py", "Report an outage"),
        ("public_feedback.py", "Feedback and complaints"),
    ):
        assert open_page(name).title[0].value == title


def test_check_my_outage_right_and_wrong_pairs(territory_db):
    url, built = territory_db
    account = built.account_by_transformer["TX-4"][0]
    at = open_page("public_check.py")
    at.text_input(key="check_account").input(account)
    at.text_input(key="check_last4").input(last4(url, account))
    assert "We know of no outage affecting your supply" in texts(submit(at))

    at.text_input(key="check_last4").input("0000" if last4(url, account) != "0000" else "1111")
    wrong = texts(submit(at))
    at.text_input(key="check_account").input("90000000999")
    unknown = texts(submit(at))
    assert "could not match" in wrong and wrong == unknown
    at.text_input(key="check_last4").input("12a4")
    assert "Last 4 digits of the phone on file: exactly 4 digits" in texts(submit(at))


def test_check_my_outage_is_rate_limited(territory_db):
    url, built = territory_db
    db = Database(url)
    with db.write() as session:
        set_setting(session, "public.lookup_per_hour", 2, SYSTEM_CLOCK)
    db.dispose()
    at = open_page("public_check.py")
    at.text_input(key="check_account").input(built.account_by_transformer["TX-4"][0])
    at.text_input(key="check_last4").input("0000")
    submit(at)
    submit(at)
    assert "Too many attempts from here. Please try again in 60 min" in texts(submit(at))


def test_report_form_refuses_bad_input_per_field_and_stores_nothing(territory_db):
    url, _ = territory_db
    at = open_page("public_report.py")
    assert "Description" in [a.label for a in at.text_area]
    submit(at)  # no account
    assert "Account number: give an account number or a location" in texts(at)
    at.text_input(key="report_account").input("12345678")
    assert "Account number: we could not find this account number" in texts(submit(at))
    at.radio(key="report_where").set_value("location").run()
    at.number_input(key="report_lat").set_value(30.0)
    at.number_input(key="report_lon").set_value(100.0)
    assert "Location: this location is outside our service area" in texts(submit(at))
    db = Database(url)
    with db.read() as session:
        assert session.scalar(select(Report.id)) is None
    db.dispose()


def test_a_wire_down_report_shows_the_safety_message_and_a_reference(territory_db):
    url, built = territory_db
    at = open_page("public_report.py")
    at.radio(key="report_kind").set_value("hazard").run()
    assert "Stay at least 10 m away" in texts(at)  # before anything is sent
    at.text_input(key="report_account").input(built.account_by_transformer["TX-5"][0])
    at.text_area(key="report_description").input("<script>alert(1)</script> wire on the road")
    submit(at)
    db = Database(url)
    with db.read() as session:
        report = session.scalars(select(Report)).one()
    db.dispose()
    assert f"Your reference number is R-{report.id}" in texts(at)
    assert report.description == "<script>alert(1)</script> wire on the road"
    assert f"We already have your report, reference R-{report.id}" in texts(submit(at))


def test_feedback_gets_a_reference_and_the_deadlines(territory_db):
    url, _ = territory_db
    at = open_page("public_feedback.py")
    at.radio(key="feedback_kind").set_value("complaint")
    at.text_area(key="feedback_text").input("The crew left a mess.")
    at.text_input(key="feedback_contact").input("not a contact")
    assert "Phone or e-mail for our answer (optional): a phone number or an e-mail address" in texts(
        submit(at)
    )
    at.text_input(key="feedback_contact").input("me@example.org")
    shown = texts(submit(at))
    db = Database(url)
    with db.read() as session:
        item = session.scalars(select(Feedback)).one()
    db.dispose()
    assert f"Your reference number is {item.reference}" in shown
    assert "Complaint: response — by" in shown and "Complaint: preliminary solution — by" in shown
    # A second click on the same message answers with the same reference and stores nothing more.
    assert f"Your reference number is {item.reference}" in texts(submit(at))
    db = Database(url)
    with db.read() as session:
        assert len(session.scalars(select(Feedback.id)).all()) == 1
    db.dispose()


def test_the_forms_speak_chinese(territory_db):
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.run()
    at.sidebar.button_group(key="lang").set_value("zh").run()
    at.switch_page(page("public_report.py")).run()
    assert not at.exception, at.exception
    assert at.title[0].value == "停电报修"
    submit(at)
    assert "户号：请填写户号或位置" in texts(at)


def test_an_over_long_description_is_refused_with_both_lengths_and_kept_in_the_form(territory_db):
    """20,000 characters pasted in: Streamlit's max_chars cut them to the limit on the server and
    the report went in truncated (in a browser the paste was dropped whole). Now nothing is
    stored, the reader is told how long it is and the limit, and the text is still in the box."""
    url, built = territory_db
    at = open_page("public_report.py")
    long_text = "The whole street is dark." * 800  # 20,000 characters
    at.text_input(key="report_account").input(built.account_by_transformer["TX-5"][0])
    at.text_area(key="report_description").input(long_text)
    shown = texts(submit(at))
    assert "Description: 20,000 characters, at most 2,000; your text is still in the box" in shown
    assert "At most 2,000 characters" in shown  # the limit shows under the field before sending
    assert at.text_area(key="report_description").value == long_text
    db = Database(url)
    with db.read() as session:
        assert session.scalar(select(Report.id)) is None
    db.dispose()


def test_over_long_feedback_is_refused_with_both_lengths_and_kept_in_the_form(territory_db):
    url, _ = territory_db
    at = open_page("public_feedback.py")
    long_text = "停电三天了，" * 3400  # 20,400 characters
    at.text_area(key="feedback_text").input(long_text)
    at.text_input(key="feedback_name").input("N" * 121)
    shown = texts(submit(at))
    assert "Your message: 20,400 characters, at most 2,000; your text is still in the box" in shown
    assert at.text_area(key="feedback_text").value == long_text
    at.text_area(key="feedback_text").input(long_text[:1999])
    assert "Your name (optional): 121 characters, at most 120" in texts(submit(at))
    assert at.text_input(key="feedback_name").value == "N" * 121
    db = Database(url)
    with db.read() as session:
        assert session.scalar(select(Feedback.id)) is None
    db.dispose()


def test_a_repeat_report_with_new_words_says_they_were_not_added(territory_db):
    """A second report of the same account within the hour is answered with the first reference;
    what the person wrote the second time went nowhere without a word."""
    url, built = territory_db
    at = open_page("public_report.py")
    at.text_input(key="report_account").input(built.account_by_transformer["TX-4"][0])
    at.text_area(key="report_description").input("Dark since 9 pm")
    assert "Your reference number is R-" in texts(submit(at))
    at.text_area(key="report_description").input("Now sparks at the pole on the corner")
    shown = texts(submit(at))
    assert "We already have your report" in shown
    assert "What you wrote this time was not added to that report" in shown
    db = Database(url)
    with db.read() as session:
        assert session.scalars(select(Report.description)).all() == ["Dark since 9 pm"]
    db.dispose()
