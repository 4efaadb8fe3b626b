"""`python -m emergency outages ...` and `status --json`, through `emergency.cli.main` on the small
territory (SQLite and PostgreSQL).

The command line acts as a named staff account through the console's own commands: the account's
role is checked as the console checks it, every outcome and refusal names the outage and its device,
a stale version or a wrong state is refused with exit 2 and nothing changes.
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select, update

from emergency.cli import main
from emergency.core.actor import Actor
from emergency.core.clock import SYSTEM_CLOCK, FakeClock
from emergency.core.db import Database
from emergency.core.models import (
    AuditEvent,
    CrewAssignment,
    Customer,
    Device,
    Outage,
    OutageState,
    Report,
    ReportChannel,
    ReportKind,
    ReportStatus,
    RestorationStep,
    Role,
    User,
)
from tests.support.commands import submit_reports
from tests.support.outage_records import add_outage
from tests.support.small_territory import SmallTerritory, build_small_territory
from tests.support.two_feeders import build_two_feeders


@pytest.fixture(autouse=True)
def english_in_shanghai(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OUTAGE_TZ", "Asia/Shanghai")
    monkeypatch.setenv("OUTAGE_LANG", "en")


@pytest.fixture
def territory(database: Database) -> SmallTerritory:
    # The command line reads the wall clock: the records are made around the real now.
    return build_small_territory(database, SYSTEM_CLOCK)


@pytest.fixture
def outage_id(database: Database, territory: SmallTerritory) -> int:
    """A predicted outage on TX-4 (East, 5 customers), first reported 5 minutes ago, 2 reports."""
    with database.write() as session:
        outage = add_outage(
            session,
            territory,
            "TX-4",
            OutageState.PREDICTED,
            customers_affected=5,
            report_count=2,
            first_report_at=SYSTEM_CLOCK.now() - timedelta(minutes=5),
            predicted_at=SYSTEM_CLOCK.now() - timedelta(minutes=5),
        )
        return outage.id


def cli(capsys: pytest.CaptureFixture[str], db: Database, *args: str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = main(["--db", db.url, *args])
    out, err = capsys.readouterr()
    return code, out, err


def cli_json(capsys: pytest.CaptureFixture[str], db: Database, *args: str) -> Any:
    code, out, err = cli(capsys, db, *args, "--json")
    assert code == 0, err
    return json.loads(out)


def outage_row(db: Database, outage_id: int) -> Outage:
    with db.read() as session:
        outage = session.get(Outage, outage_id)
        assert outage is not None
        session.expunge(outage)
        return outage


# --- reading ------------------------------------------------------------------------------------


def test_list_shows_the_active_outages_in_the_boards_order_with_filters(
    database: Database, territory: SmallTerritory, outage_id: int, capsys: pytest.CaptureFixture[str]
) -> None:
    with database.write() as session:
        west = add_outage(
            session,
            territory,
            "FU-1",
            OutageState.CONFIRMED,
            customers_affected=7,
            report_count=4,
            first_report_at=SYSTEM_CLOCK.now() - timedelta(minutes=20),
        ).id

    rows = cli_json(capsys, database, "outages", "list", "--as", "dispatcher")
    assert {r["id"]: (r["device_code"], r["district"], r["customers_out"]) for r in rows} == {
        outage_id: ("TX-4", "E", 5),
        west: ("FU-1", "W", 7),
    }
    # The older one's dispatch clock (10 minutes) has run out: it leads the board.
    assert [r["id"] for r in rows] == [west, outage_id]
    assert rows[0]["urgency"] == "breached"

    east = cli_json(capsys, database, "outages", "list", "--district", "E", "--as", "dispatcher")
    assert [r["id"] for r in east] == [outage_id]
    confirmed = cli_json(capsys, database, "outages", "list", "--state", "confirmed", "--as", "manager")
    assert [r["id"] for r in confirmed] == [west]
    assert cli_json(capsys, database, "outages", "list", "--state", "restored", "--as", "dispatcher") == []

    code, out, _ = cli(capsys, database, "outages", "list", "--as", "dispatcher")
    assert code == 0
    assert f"{outage_id} · TX-4 (transformer) · predicted · E · 5 out · 2 reports" in out
    assert out.strip().endswith("2 outage(s)")

    code, _, err = cli(capsys, database, "outages", "list", "--district", "NOWHERE", "--as", "dispatcher")
    assert code == 2 and "no district 'NOWHERE'" in err


def test_show_gives_stage_clocks_customers_important_users_crews_and_links(
    database: Database, territory: SmallTerritory, capsys: pytest.CaptureFixture[str]
) -> None:
    now = SYSTEM_CLOCK.now()
    with database.write() as session:
        # FU-2 cuts off the hospital on TX-3; one earlier TX-3 prediction was merged into it, and
        # a nested outage opened under it after an earlier restoration.
        outage = add_outage(
            session,
            territory,
            "FU-2",
            OutageState.CONFIRMED,
            customers_affected=1,
            report_count=3,
            first_report_at=now - timedelta(minutes=4),
            confirmed_at=now - timedelta(minutes=2),
        )
        merged = add_outage(
            session, territory, "TX-3", OutageState.MERGED, first_report_at=now - timedelta(minutes=4)
        )
        merged.merged_into_id = outage.id
        nested = add_outage(
            session,
            territory,
            "TX-3",
            OutageState.REPORTED,
            customers_affected=1,
            first_report_at=now - timedelta(minutes=1),
            nested=True,
            nested_in_id=outage.id,
        )
        ids = outage.id, merged.id, nested.id

    card = cli_json(capsys, database, "outages", "show", str(ids[0]), "--as", "dispatcher")
    assert (card["state"], card["device"]["code"], card["district"]) == ("confirmed", "FU-2", "W")
    assert (card["customers_out"], card["customers_restored"], card["reports"]) == (1, 0, 3)
    assert [u["name"] for u in card["important_users"]] == ["West Hospital 西镇医院"]
    dispatch_clock = next(c for c in card["clocks"] if c["code"] == "outage_dispatch")
    assert dispatch_clock["state"] == "on_track" and dispatch_clock["deadline"].endswith("+08:00")
    assert (card["merged_ids"], card["nested_ids"]) == ([ids[1]], [ids[2]])
    assert card["crews"] == [] and card["etr"]["at"] is None

    merged_card = cli_json(capsys, database, "outages", "show", str(ids[1]), "--as", "dispatcher")
    assert merged_card["merged_into_id"] == ids[0] and merged_card["clocks"] == []
    nested_card = cli_json(capsys, database, "outages", "show", str(ids[2]), "--as", "dispatcher")
    assert nested_card["nested_in_id"] == ids[0]

    code, out, _ = cli(capsys, database, "outages", "show", str(ids[0]), "--as", "dispatcher")
    assert code == 0
    assert f"Outage {ids[0]} · FU-2 (fuse, FU-2) in W" in out
    assert "Important user West Hospital 西镇医院: grade 1, backup power 8 h" in out
    assert f"Outages merged into it: {ids[1]}" in out and f"Nested outages opened under it: {ids[2]}" in out

    code, out, _ = cli(capsys, database, "outages", "show", str(ids[0]), "--as", "dispatcher", "--lang", "zh")
    assert code == 0 and f"停电事件 {ids[0]} · FU-2（熔断器" in out

    code, _, err = cli(capsys, database, "outages", "show", "999999", "--as", "dispatcher")
    assert code == 2 and "no outage 999999" in err


# --- acting -------------------------------------------------------------------------------------


def test_confirm_dispatch_and_restore_in_steps_act_as_the_named_dispatcher(
    database: Database, territory: SmallTerritory, outage_id: int, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = cli(capsys, database, "outages", "confirm", str(outage_id), "--as", "dispatcher")
    assert (code, out.strip()) == (0, f"Outage {outage_id} · TX-4 confirmed.")

    code, out, _ = cli(
        capsys, database, "outages", "dispatch", str(outage_id), "--crew", "C1", "--as", "manager"
    )
    assert code == 0 and out.startswith(f"Crew C1 dispatched to outage {outage_id} · TX-4, ETA ")

    step = cli_json(
        capsys, database, "outages", "restore", str(outage_id), "--customers", "2", "--as", "dispatcher"
    )
    assert (step["id"], step["device"], step["restored"], step["still_out"]) == (outage_id, "TX-4", 2, 3)
    code, out, _ = cli(
        capsys, database, "outages", "restore", str(outage_id), "--customers", "9", "--as", "dispatcher"
    )
    assert (code, out.strip()) == (0, f"Restored 3 customers of outage {outage_id} · TX-4; none still out.")

    outage = outage_row(database, outage_id)
    assert (outage.state, outage.confirmed_by, outage.customers_restored) == (
        OutageState.RESTORED,
        "dispatcher",
        5,
    )
    with database.read() as session:
        steps = [
            (s.customers_restored, s.by)
            for s in session.scalars(select(RestorationStep).order_by(RestorationStep.id))
        ]
        crews = session.scalars(
            select(CrewAssignment.assigned_by).where(CrewAssignment.outage_id == outage_id)
        ).all()
        actors = set(session.scalars(select(AuditEvent.actor).where(AuditEvent.entity_id == str(outage_id))))
    assert steps == [(2, "dispatcher"), (3, "dispatcher")]
    assert crews == ["manager"]
    assert {"dispatcher", "manager"} <= actors and "cli" not in actors


def test_a_partial_step_says_how_many_are_still_out(
    database: Database, territory: SmallTerritory, outage_id: int, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = cli(
        capsys, database, "outages", "restore", str(outage_id), "--customers", "4", "--as", "dispatcher"
    )
    assert (code, out.strip()) == (0, f"4 customers of outage {outage_id} · TX-4 restored; 1 still out.")


def test_refusals_name_the_outage_print_the_reason_and_change_nothing(
    database: Database, territory: SmallTerritory, outage_id: int, capsys: pytest.CaptureFixture[str]
) -> None:
    seen = outage_row(database, outage_id).version
    assert cli(capsys, database, "outages", "confirm", str(outage_id), "--as", "manager")[0] == 0

    # A script acting on the version it read before a colleague's change.
    code, _, err = cli(
        capsys,
        database,
        "outages",
        "restore",
        str(outage_id),
        "--expect-version",
        str(seen),
        "--as",
        "dispatcher",
    )
    assert code == 2
    assert err.startswith(f"Refused: outage {outage_id} · TX-4: ") and "changed by someone else" in err

    code, _, err = cli(
        capsys, database, "outages", "dispatch", str(outage_id), "--crew", "C9", "--as", "dispatcher"
    )
    assert code == 2 and f"outage {outage_id} · TX-4" in err and "no crew 'C9'" in err
    code, _, err = cli(
        capsys, database, "outages", "dispatch", str(outage_id), "--crew", "C3", "--as", "dispatcher"
    )
    assert code == 2 and f"outage {outage_id} · TX-4" in err  # C3 is off duty

    assert cli(capsys, database, "outages", "restore", str(outage_id), "--as", "dispatcher")[0] == 0
    code, _, err = cli(capsys, database, "outages", "confirm", str(outage_id), "--as", "dispatcher")
    assert code == 2 and f"Refused: outage {outage_id} · TX-4: " in err  # restored: no longer active

    outage = outage_row(database, outage_id)
    assert (outage.state, outage.customers_restored) == (OutageState.RESTORED, 5)
    with database.read() as session:
        assert session.scalars(select(CrewAssignment)).all() == []


def test_an_account_whose_role_may_not_dispatch_is_refused_as_on_the_console(
    database: Database, territory: SmallTerritory, outage_id: int, capsys: pytest.CaptureFixture[str]
) -> None:
    before = outage_row(database, outage_id).version
    for action in (["confirm"], ["dispatch", "--crew", "C1"], ["restore"]):
        code, _, err = cli(
            capsys, database, "outages", action[0], str(outage_id), *action[1:], "--as", "admin"
        )
        assert code == 2 and "admin (admin) may not do this" in err
    code, _, err = cli(capsys, database, "outages", "list", "--as", "admin")
    assert code == 2 and "may not" in err

    code, _, err = cli(capsys, database, "outages", "confirm", str(outage_id), "--as", "nobody")
    assert code == 2 and "no staff account 'nobody'" in err
    with database.write() as session:
        session.execute(update(User).where(User.username == "dispatcher").values(active=False))
    code, _, err = cli(capsys, database, "outages", "confirm", str(outage_id), "--as", "dispatcher")
    assert code == 2 and "disabled" in err

    assert outage_row(database, outage_id).version == before
    with database.read() as session:
        assert session.scalars(select(CrewAssignment)).all() == []


def test_switching_plans_are_shown_and_carried_out_step_by_step_from_the_command_line(
    database: Database, capsys: pytest.CaptureFixture[str]
) -> None:
    """Two feeders and an open tie (tests/integration/test_switching.py): R1 trips; the plan isolates
    below the fault and closes the tie; `restore --switching restore` does both as the dispatcher."""
    clock = FakeClock(SYSTEM_CLOCK.now() - timedelta(minutes=30))
    ids = build_two_feeders(database, clock)
    with database.write() as session:
        session.add(
            User(
                username="dispatcher",
                display_name="Dispatcher",
                role=Role.DISPATCHER,
                password_hash="!",
                active=True,
                failed_logins=0,
                created_at=clock.now(),
                password_changed_at=clock.now(),
            )
        )
    scada = [{"channel": "scada", "kind": "device_opened", "device_code": "R1"}]
    outage = submit_reports(database, clock, Actor("scada-link", "intake"), scada).analysis.confirmed[0]
    plan = cli_json(capsys, database, "outages", "switching", str(outage), "--as", "dispatcher")
    assert [(s["purpose"], s["switch"], s["to_state"], s["customers_restored"]) for s in plan["steps"]] == [
        ("isolate", "SW1", "open", 0),
        ("restore", "TIE", "closed", 6),
    ]
    code, out, err = cli(
        capsys,
        database,
        "outages",
        "restore",
        str(outage),
        "--switching",
        "restore",
        "--step",
        "3",
        "--as",
        "dispatcher",
    )
    assert code == 2 and "no step 3" in err
    code, out, err = cli(
        capsys, database, "outages", "restore", str(outage), "--switching", "restore", "--as", "dispatcher"
    )
    assert code == 0, err
    assert out.splitlines() == [
        f"1. SW1 opened for outage {outage} · R1; 0 customers restored, 10 still out.",
        f"2. TIE closed for outage {outage} · R1; 6 customers restored, 4 still out.",
    ]
    code, out, err = cli(
        capsys,
        database,
        "outages",
        "switching",
        str(outage),
        "--return",
        "--as",
        "dispatcher",
        "--lang",
        "zh",
    )
    lines = out.splitlines()
    assert code == 0 and lines[0] == "抢修完成后恢复正常运行方式：先断开联络开关，再合上隔离开关。"
    assert lines[1].strip().startswith("1. 断开 TIE · ") and lines[2].strip().startswith("2. 合上 SW1 · ")
    row = outage_row(database, outage)
    assert (row.customers_affected, row.customers_restored) == (10, 6)
    with database.read() as session:
        assert session.get(Device, ids["TIE"]).parent_id == ids["R2"]  # re-traced: T3 fed from feeder B2
    # The same plan again finds nothing left to do but refuses nothing silently.
    again = cli_json(capsys, database, "outages", "switching", str(outage), "--as", "dispatcher")
    assert all(step["switch"] != "TIE" or step["to_state"] != "closed" for step in again["steps"])


# --- status --json ------------------------------------------------------------------------------


def test_status_json_counts_waiting_calls_service_nested_and_merged_outages(
    database: Database, territory: SmallTerritory, outage_id: int, capsys: pytest.CaptureFixture[str]
) -> None:
    now = SYSTEM_CLOCK.now()
    with database.write() as session:
        tx2 = territory.device_ids["TX-2"]
        tx5_customer = session.scalar(
            select(Customer.id).where(Customer.transformer_id == territory.device_ids["TX-5"]).limit(1)
        )
        service = add_outage(
            session,
            territory,
            "TX-5",
            OutageState.REPORTED,
            customers_affected=1,
            first_report_at=now - timedelta(minutes=3),
            customer_id=tx5_customer,
        )
        merged = add_outage(
            session, territory, "TX-4", OutageState.MERGED, first_report_at=now - timedelta(minutes=6)
        )
        merged.merged_into_id = outage_id
        restored = add_outage(
            session,
            territory,
            "FU-1",
            OutageState.RESTORED,
            first_report_at=now - timedelta(hours=2),
            restored_at=now - timedelta(minutes=30),
        )
        nested = add_outage(
            session,
            territory,
            "TX-1",
            OutageState.REPORTED,
            customers_affected=3,
            first_report_at=now - timedelta(minutes=2),
            nested=True,
            nested_in_id=restored.id,
        )
        # Merged into an outage no longer active: history, not today's picture.
        old = add_outage(
            session, territory, "TX-1", OutageState.MERGED, first_report_at=now - timedelta(hours=2)
        )
        old.merged_into_id = restored.id
        calls = []
        for minutes, kind, status in (
            (40, ReportKind.NO_POWER, ReportStatus.RECEIVED),  # a lone call, older than the window
            (8, ReportKind.LAST_GASP, ReportStatus.RECEIVED),
            (7, ReportKind.POWER_RESTORED, ReportStatus.INFORMATIONAL),  # not a supply loss
        ):
            report = Report(
                channel=ReportChannel.HOTLINE,
                kind=kind,
                reported_at=now - timedelta(minutes=minutes),
                received_at=now - timedelta(minutes=minutes),
                transformer_id=tx2,
                status=status,
            )
            session.add(report)
            session.flush()
            calls.append(report.id)
        ids = {"service": service.id, "merged": merged.id, "nested": nested.id, "restored": restored.id}

    status = cli_json(capsys, database, "status")
    assert status["waiting_calls"]["count"] == 2
    assert status["waiting_calls"]["report_ids"] == calls[:2]
    assert status["waiting_calls"]["oldest_at"] is not None
    assert status["service_outages"] == {"count": 1, "ids": [ids["service"]]}
    assert status["nested_outages"] == {"count": 1, "ids": [ids["nested"]]}
    assert status["merged_outages"] == {"count": 1, "ids": [ids["merged"]]}
    by_id = {o["id"]: o for o in status["active_outages"]}
    assert by_id[outage_id]["merged_ids"] == [ids["merged"]]
    assert by_id[ids["service"]]["service"] is True and by_id[outage_id]["service"] is False
    assert by_id[ids["nested"]]["nested_in_id"] == ids["restored"]

    code, out, _ = cli(capsys, database, "status")
    assert code == 0
    assert out.startswith("3 active outages (1 service, 1 nested, 1 merged into them), ")
    assert "; 2 calls waiting for an outage" in out
