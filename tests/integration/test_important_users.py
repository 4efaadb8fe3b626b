"""The important users register on the small territory, on SQLite and PostgreSQL: roles, audit,
the territory revision, stale edits, and CSV imports that store all rows or none."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from emergency.core.actor import Actor
from emergency.core.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from emergency.core.models import AuditEvent, Customer, Outage, OutageState
from emergency.core.settings import get_setting
from emergency.dispatch.board import sla_board
from emergency.network.important_users import MAX_CSV_BYTES, ImportantUserInput
from tests.support.app_context import SHANGHAI
from tests.support.commands import (
    import_csv,
    list_important_users,
    register_important_user,
    update_important_user,
)
from tests.support.small_territory import build_small_territory

MANAGER = Actor("meng", "manager")
DISPATCHER = Actor("dai", "dispatcher")
INTAKE = Actor("hotline-gateway", "intake")
WATER = ImportantUserInput("grade2", "water", 4.0, "Plant duty officer", "0571-8888 1234")
HEADER = "account_no,grade,kind,backup_hours,contact_name,contact_phone\n"


@pytest.fixture
def territory(database, clock):
    return build_small_territory(database, clock)


def revision(database) -> int:
    with database.read() as session:
        return int(get_setting(session, "territory.revision"))


def register(database, clock, territory, actor=MANAGER, data=WATER) -> int:
    return register_important_user(database, clock, actor, territory.account_by_transformer["TX-1"][0], data)


def test_the_register_lists_the_hospital_to_staff_only(database, clock, territory) -> None:
    (hospital,) = list_important_users(database, DISPATCHER)
    assert (hospital.name, hospital.grade, hospital.backup_hours) == (
        "West Hospital 西镇医院",
        "grade1",
        8,
    )
    with pytest.raises(PermissionDenied):
        list_important_users(database, INTAKE)


def test_a_manager_registers_an_account_audited_and_the_territory_revision_moves(
    database, clock, territory
) -> None:
    before = revision(database)
    customer_id = register(database, clock, territory)
    assert revision(database) == before + 1, "the network model caches important users"
    with database.read() as session:
        water = [u for u in list_important_users(database, MANAGER, grades=["grade2"])]
        assert [(u.customer_id, u.kind, u.backup_hours, u.contact_phone) for u in water] == [
            (customer_id, "water", 4.0, "0571-8888 1234")
        ]
        assert [u.name for u in list_important_users(database, MANAGER, search="hospital")] == [
            "West Hospital 西镇医院"
        ]
        assert list_important_users(database, MANAGER, district_codes=["E"]) == []
        event = session.scalars(
            select(AuditEvent).where(AuditEvent.action == "important_user.register")
        ).one()
        assert (event.actor, event.entity_id) == ("meng", str(customer_id))
        assert event.after["grade"] == "grade2" and event.after["contact_phone"] == "…1234"
        assert event.before["grade"] == "none"


def test_the_service_refuses_the_wrong_role_and_bad_input(database, clock, territory) -> None:
    with pytest.raises(PermissionDenied):
        register(database, clock, territory, actor=DISPATCHER)
    with pytest.raises(InvalidInput, match="backup_hours"):
        register(database, clock, territory, data=ImportantUserInput("grade1", "water", -1.0, None, None))
    with pytest.raises(InvalidInput, match="contact_phone"):
        register(
            database, clock, territory, data=ImportantUserInput("grade1", "water", None, None, "call me")
        )
    with pytest.raises(InvalidInput, match="grade"):
        register(database, clock, territory, data=ImportantUserInput("none", "residential", None, None, None))
    with pytest.raises(NotFound):
        register_important_user(database, clock, MANAGER, "no-such-account", WATER)
    hospital = territory.account_by_transformer["TX-3"][0]
    with pytest.raises(Conflict, match="already on the register"):
        register_important_user(database, clock, MANAGER, hospital, WATER)


def test_an_edit_against_an_old_version_is_refused_and_grade_none_takes_a_user_off(
    database, clock, territory
) -> None:
    customer_id = register(database, clock, territory)
    with database.read() as session:
        version = session.get(Customer, customer_id).version
    changed = ImportantUserInput("grade1", "water", 12.0, "Night officer", None)
    update_important_user(database, clock, MANAGER, customer_id, changed, expected_version=version)
    with pytest.raises(Conflict):
        update_important_user(database, clock, MANAGER, customer_id, changed, expected_version=version)
    with pytest.raises(PermissionDenied):
        update_important_user(database, clock, DISPATCHER, customer_id, changed, expected_version=version + 1)
    off = ImportantUserInput("none", "residential", None, None, None)
    update_important_user(database, clock, MANAGER, customer_id, off, expected_version=version + 1)
    with database.read() as session:
        assert customer_id not in {u.customer_id for u in list_important_users(database, MANAGER)}
        actions = session.scalars(
            select(AuditEvent.action).where(AuditEvent.entity_id == str(customer_id))
        ).all()
        assert sorted(actions) == [
            "important_user.register",
            "important_user.update",
            "important_user.update",
        ]


def test_a_good_csv_stores_every_row(database, clock, territory) -> None:
    a, b = territory.account_by_transformer["TX-4"][:2]
    content = (
        HEADER + f"{a},special,government,24,Duty office,+86 571 1234 5678\n{b},none,life_support,,,\n"
    ).encode()
    before = revision(database)
    result = import_csv(database, clock, MANAGER, content)
    assert (result.stored, result.problems) == (2, ())
    assert revision(database) == before + 1
    users = {u.account_no: u for u in list_important_users(database, MANAGER)}
    assert (users[a].grade, users[a].backup_hours, users[a].contact_name) == ("special", 24.0, "Duty office")
    assert (users[b].grade, users[b].kind) == ("none", "life_support")


def test_a_csv_with_any_bad_row_stores_nothing_and_says_which_rows(database, clock, territory) -> None:
    a, b, c, d = territory.account_by_transformer["TX-4"][:4]
    content = (
        HEADER
        + f"{a},grade1,hospital,6,,\n"  # good
        + f"{b},grade9,hospital,6,,\n"  # line 3: unknown grade
        + f"{c},grade2,water,lots,,\n"  # line 4: not a number
        + "9999999999,grade2,water,1,,\n"  # line 5: no such account
        + f"{a},grade2,water,1,,\n"  # line 6: repeated
        + f"{d},grade2,water,1,,not a phone\n"  # line 7: bad phone
    ).encode()
    before = revision(database)
    result = import_csv(database, clock, MANAGER, content)
    assert result.stored == 0
    assert [(p.line, p.message.split(":")[0]) for p in result.problems] == [
        (3, "grade"),
        (4, "backup_hours"),
        (5, "account_no"),
        (6, "account_no"),
        (7, "contact_phone"),
    ]
    assert revision(database) == before
    assert [u.account_no for u in list_important_users(database, MANAGER)] == [
        territory.account_by_transformer["TX-3"][0]
    ], "the good row was not stored either"


def test_a_csv_must_be_small_utf8_with_the_columns(database, clock, territory) -> None:
    with pytest.raises(InvalidInput, match="larger"):
        import_csv(database, clock, MANAGER, b"x" * (MAX_CSV_BYTES + 1))
    with pytest.raises(InvalidInput, match="missing column"):
        import_csv(database, clock, MANAGER, b"account_no,grade\n1,grade1\n")
    with pytest.raises(InvalidInput, match="UTF-8"):
        import_csv(database, clock, MANAGER, HEADER.encode() + "甲,grade1".encode("gbk"))
    with pytest.raises(PermissionDenied):
        import_csv(database, clock, DISPATCHER, HEADER.encode())


def test_the_board_ranks_by_the_register_as_it_changes(database, clock, territory) -> None:
    """The ranking caches the register per territory revision: a change made here shows at once."""
    with database.write() as session:
        session.add(
            Outage(
                state=OutageState.CONFIRMED,
                device_id=territory.device_ids["TX-1"],
                district_id=territory.district_ids["W"],
                first_report_at=clock.now(),
                customers_affected=3,
                important_affected={},
            )
        )
    with database.read() as session:
        (before,) = sla_board(session, clock, SHANGHAI)
    assert before.priority.top_grade is None
    register(database, clock, territory)  # a customer on TX-1 becomes a grade-2 water works
    with database.read() as session:
        (after,) = sla_board(session, clock, SHANGHAI)
    assert (after.priority.top_grade, after.priority.backup_hours_left) == ("grade2", 4.0)
