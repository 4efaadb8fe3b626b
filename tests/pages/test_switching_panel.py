"""The console's switching section through the real page (AppTest): the proposed steps, each asked
first and executed on Yes, in English and Chinese.

The small territory (tests/support/small_territory.py) gets a normally open tie between FU-2's
node and FU-3's: with REC-1 out, FU-2's section (TX-3, 1 customer) can be fed from feeder BRK-2.
"""

from __future__ import annotations

from sqlalchemy import select

from emergency.core.actor import Actor
from emergency.core.clock import SYSTEM_CLOCK
from emergency.core.db import get_database
from emergency.core.models import Device, DeviceKind, RestorationStep, SwitchState
from emergency.network.trace import retrace
from tests.pages.test_console import button, console, outage_row
from tests.support.commands import submit_reports


def add_tie_and_trip_rec1(url: str) -> int:
    db = get_database(url)
    with db.write() as session:
        session.add(
            Device(
                code="TIE-1",
                kind=DeviceKind.SWITCH,
                name="TIE-1",
                lon=121.1,
                lat=28.04,
                from_node="FU-2",
                to_node="FU-3",
                normal_state=SwitchState.OPEN,
            )
        )
        session.flush()
        assert retrace(session, SYSTEM_CLOCK).trace.problems() == []
    scada = [{"channel": "scada", "kind": "device_opened", "device_code": "REC-1"}]
    return submit_reports(db, SYSTEM_CLOCK, Actor("scada-link", "intake"), scada).analysis.confirmed[0]


def test_the_switching_steps_ask_first_then_isolate_and_back_feed(territory_db):
    url, _ = territory_db
    outage_id = add_tie_and_trip_rec1(url)
    at = console(url, outage_id)
    steps = next(frame.value for frame in at.dataframe if "Customers restored" in frame.value.columns)
    assert list(steps["Action"]) == ["Open FU-2", "Close TIE-1"]
    assert list(steps["Customers restored"]) == [0, 1]
    assert list(steps["Feeder load after"])[1] == "BRK-2: 8 of 4,000 customers"
    assert any("FU-1" in c.value for c in at.caption), "the section no tie reaches is named"

    button(at, "Approve and execute step 1: Open FU-2").click().run()
    assert any(f"Open FU-2 for outage {outage_id} · REC-1?" in w.value for w in at.warning), "asks first"
    with get_database(url).read() as session:
        assert session.scalars(select(Device).where(Device.code == "FU-2")).one().switched_state is None
    button(at, "Yes, do it").click().run()
    assert not at.exception, at.exception
    assert any(f"FU-2 opened for outage {outage_id}" in s.value for s in at.success)

    button(at, "Approve and execute step 1: Close TIE-1").click().run()
    assert any("1 customers come back on feeder BRK-2" in w.value for w in at.warning)
    button(at, "Yes, do it").click().run()
    assert not at.exception, at.exception
    assert any(
        f"TIE-1 closed for outage {outage_id} · REC-1; 1 customers restored" in s.value for s in at.success
    )
    assert outage_row(url, outage_id).customers_restored == 1
    with get_database(url).read() as session:
        (step,) = session.scalars(select(RestorationStep)).all()
    assert step.customers_restored == 1 and "close TIE-1" in (step.note or "")


def test_a_refused_step_says_why_in_chinese(territory_db, monkeypatch):
    url, _ = territory_db
    monkeypatch.setenv("OUTAGE_LANG", "zh")
    db = get_database(url)
    outage_id = add_tie_and_trip_rec1(url)
    from emergency.core.settings import set_setting

    with db.write() as session:
        set_setting(session, "switching.feeder_customer_limit", 5, SYSTEM_CLOCK)
    at = console(url, outage_id)
    steps = next(frame.value for frame in at.dataframe if "恢复用户数" in frame.value.columns)
    assert list(steps["校核"])[1] == "不允许：馈线 BRK-2 将带 8 户，超过限额 5 户（超出 3 户）"
    refused = next(b for b in at.button if b.label == "批准并执行第2步：合上 TIE-1")
    assert refused.disabled
