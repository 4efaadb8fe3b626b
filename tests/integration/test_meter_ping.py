"""Ask the meters (#21 point 3) on the small hand-made network (tests/support/small_territory.py):

    SS-1 ─ BRK-1 ─ REC-1 ─ FU-1 ─ TX-1 (3 customers), TX-2 (4)
                         └ FU-2 ─ TX-3 (1)
           BRK-2 ─ REC-2 ─ FU-3 ─ TX-4 (5), TX-5 (2)

Every customer has a smart meter (`M-<account>`). Two calls on TX-2 predict TX-2 with a doubtful
confidence; the meters of TX-1 (below FU-1, not below TX-2) and TX-3 (below REC-1, not below FU-1)
tell the candidates apart. Runs on SQLite and PostgreSQL (the `database` fixture).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select, update

from emergency.app.bus import execute
from emergency.app.commands.meters import AskMeters, PingOutageMeters
from emergency.app.context import Context
from emergency.app.queries.meters import outage_pings
from emergency.core.actor import SYSTEM, Actor
from emergency.core.errors import InvalidInput
from emergency.core.meter_models import MeterPing, PingAnswer
from emergency.core.models import AuditEvent, Customer, Device, Outage, OutageState
from emergency.core.settings import set_setting
from emergency.network.head_end import FakeHeadEnd, HeadEndError, use_head_end
from emergency.network.meter_ping import PingRules, choose_meters
from emergency.network.model import network_model
from tests.support.commands import submit_reports
from tests.support.small_territory import build_small_territory

HOTLINE = Actor("hotline-gateway", "intake")
DISPATCHER = Actor("dispatcher", "dispatcher")
ACTIVE = [s for s in OutageState if s not in ("restored", "closed", "cancelled", "merged")]
TZ = ZoneInfo("Asia/Shanghai")


@pytest.fixture
def territory(database, clock):
    built = build_small_territory(database, clock, tca_method="evidence")
    with database.write() as session:
        session.execute(update(Customer).values(meter_id="M-" + Customer.account_no))
    return built


@pytest.fixture(autouse=True)
def no_head_end() -> Iterator[None]:
    use_head_end(None)
    yield
    use_head_end(None)


def out_below(database, territory, *devices: str):
    """A head-end whose meters answer unless their customer hangs below one of `devices`."""
    with database.read() as session:
        model = network_model(session, database.url)
        rows = session.execute(select(Customer.meter_id, Customer.transformer_id)).all()
    dark = set()
    for code in devices:
        index = model.net.index_of[territory.device_ids[code]]
        for meter, transformer in rows:
            if index in model.path(model.net.index_of[transformer]):
                dark.add(meter)
    return FakeHeadEnd(lambda meter: meter not in dark)


def two_calls_on_tx2(database, clock, territory) -> Outage:
    items = [
        {
            "channel": "hotline",
            "kind": "no_power",
            "account_no": territory.account_by_transformer["TX-2"][n],
            "reported_at": clock.now().isoformat(),
        }
        for n in range(2)
    ]
    submit_reports(database, clock, HOTLINE, items)
    (outage,) = outages(database).values()
    return outage


def outages(database) -> dict[str, Outage]:
    with database.read() as session:
        rows = session.execute(
            select(Outage, Device.code)
            .join(Device, Device.id == Outage.device_id)
            .where(Outage.state.in_(ACTIVE), Outage.customer_id.is_(None))
        ).all()
    return {code: outage for outage, code in rows}


def system(database, clock) -> Context:
    return Context(database, clock, SYSTEM, TZ)


def test_the_meters_chosen_separate_the_prediction_from_each_candidate_above(database, clock, territory):
    with database.read() as session:
        model = network_model(session, database.url)
        meters = {
            model.net.index_of[t]: [(c, m) for c, m, tt in rows if tt == t]
            for rows in [
                session.execute(select(Customer.id, Customer.meter_id, Customer.transformer_id)).all()
            ]
            for _, _, t in rows
        }
    index = model.net.index_of
    tx2 = index[territory.device_ids["TX-2"]]
    chosen = choose_meters(
        model, tx2, None, meters, levels=2, per_candidate=2, skip_customers=set(), skip_devices=set()
    )
    tx1 = {f"M-{a}" for a in territory.account_by_transformer["TX-1"]}
    tx3 = {f"M-{a}" for a in territory.account_by_transformer["TX-3"]}
    by_candidate = {}
    for c in chosen:
        by_candidate.setdefault(int(model.net.ids[c.candidate]), []).append(c.meter_id)
    # FU-1 against TX-2: TX-1's meters (two of them); REC-1 against FU-1: TX-3's only meter.
    assert set(by_candidate) == {territory.device_ids["FU-1"], territory.device_ids["REC-1"]}
    assert len(by_candidate[territory.device_ids["FU-1"]]) == 2
    assert set(by_candidate[territory.device_ids["FU-1"]]) <= tx1
    assert set(by_candidate[territory.device_ids["REC-1"]]) == tx3
    # Never a meter below the prediction itself, nor one below another active outage.
    skipped = choose_meters(
        model,
        tx2,
        None,
        meters,
        levels=2,
        per_candidate=3,
        skip_customers=set(),
        skip_devices={index[territory.device_ids["TX-1"]]},
    )
    assert {c.meter_id for c in skipped} == tx3


def test_a_doubtful_prediction_pings_and_moves_to_the_faulted_fuse(database, clock, territory):
    outage = two_calls_on_tx2(database, clock, territory)
    with database.read() as session:
        threshold = PingRules.from_settings(session).confidence_below
    assert outage.prediction_confidence < threshold  # doubtful: two calls of seven customers under FU-1
    head_end = out_below(database, territory, "FU-1")
    use_head_end(head_end)
    clock.advance(minutes=1)
    result = execute(system(database, clock), AskMeters())
    assert set(result.asked) == {outage.id}
    answers = result.asked[outage.id]
    tx1 = {f"M-{a}" for a in territory.account_by_transformer["TX-1"]}
    assert {m for m, a in answers.items() if a == PingAnswer.SILENT} == tx1
    assert [m for m, a in answers.items() if a == PingAnswer.POWERED] == [
        f"M-{territory.account_by_transformer['TX-3'][0]}"
    ]
    found = outages(database)
    assert set(found) == {"FU-1"}
    assert result.moved == {outage.id: found["FU-1"].id}
    with database.read() as session:
        assert session.get(Outage, outage.id).state == OutageState.MERGED
        pings = session.scalars(select(MeterPing).where(MeterPing.outage_id == outage.id)).all()
        audited = session.scalars(select(AuditEvent).where(AuditEvent.action == "outage.meter_ping")).all()
    assert len(pings) == 4 and {p.asked_by for p in pings} == {"system"}
    assert len(audited) == 1 and audited[0].entity_id == str(outage.id)
    # The console reads them on the outage that took the prediction over.
    shown = outage_pings(Context(database, clock, DISPATCHER, TZ), found["FU-1"].id)
    assert {r.meter_id for r in shown} == set(answers)
    assert {r.candidate_code for r in shown} == {"FU-1", "REC-1"}
    # Asked once: the next round within meter_ping.repeat_minutes leaves it alone.
    assert execute(system(database, clock), AskMeters()).asked == {}


def test_meters_that_answer_keep_the_prediction_and_raise_its_confidence(database, clock, territory):
    outage = two_calls_on_tx2(database, clock, territory)
    use_head_end(out_below(database, territory, "TX-2"))
    result = execute(system(database, clock), AskMeters())
    assert outage.id in result.asked and result.moved == {}
    found = outages(database)
    assert set(found) == {"TX-2"}
    assert found["TX-2"].prediction_confidence > outage.prediction_confidence


class LosingHeadEnd:
    """Answers from the truth, but the answers of `lost` meters never arrive (silent)."""

    def __init__(self, truth: FakeHeadEnd, lost: set[str]) -> None:
        self.truth, self.lost = truth, lost

    def ping(
        self, meter_ids: Sequence[str], timeout: float, request_id: str = ""
    ) -> Mapping[str, PingAnswer]:
        answers = dict(self.truth.ping(meter_ids, timeout, request_id))
        return {m: PingAnswer.SILENT if m in self.lost else a for m, a in answers.items()}


def test_a_lost_answer_is_weaker_than_the_answers_beside_it(database, clock, territory):
    outage = two_calls_on_tx2(database, clock, territory)
    lost = {f"M-{territory.account_by_transformer['TX-1'][0]}"}
    use_head_end(LosingHeadEnd(out_below(database, territory, "TX-2"), lost))
    result = execute(system(database, clock), AskMeters())
    assert {m for m, a in result.asked[outage.id].items() if a == PingAnswer.SILENT} == lost
    # One silent meter beside two that answered under FU-1: the fault stays at TX-2.
    assert set(outages(database)) == {"TX-2"}


class DownHeadEnd:
    def ping(
        self, meter_ids: Sequence[str], timeout: float, request_id: str = ""
    ) -> Mapping[str, PingAnswer]:
        raise HeadEndError("head-end unreachable")


def test_a_head_end_that_fails_records_lost_pings_and_moves_nothing(database, clock, territory):
    outage = two_calls_on_tx2(database, clock, territory)
    use_head_end(DownHeadEnd())
    result = execute(system(database, clock), AskMeters())
    assert set(result.asked[outage.id].values()) == {PingAnswer.LOST}
    found = outages(database)
    assert set(found) == {"TX-2"}
    assert found["TX-2"].prediction_confidence == pytest.approx(outage.prediction_confidence)


def test_a_dispatcher_asks_on_demand_and_is_refused_by_name(database, clock, territory):
    outage = two_calls_on_tx2(database, clock, territory)
    ctx = Context(database, clock, DISPATCHER, TZ)
    with pytest.raises(InvalidInput, match="head-end"):
        execute(ctx, PingOutageMeters(outage.id))
    use_head_end(out_below(database, territory, "FU-1"))
    result = execute(ctx, PingOutageMeters(outage.id))
    assert set(outages(database)) == {"FU-1"}
    with database.read() as session:
        assert {p.asked_by for p in session.scalars(select(MeterPing))} == {"dispatcher"}
    # The outage it asked about was taken over: it is no longer a prediction to test.
    with pytest.raises(InvalidInput, match=f"outage {outage.id} is merged"):
        execute(ctx, PingOutageMeters(outage.id))
    assert result.moved == {outage.id: outages(database)["FU-1"].id}


def test_a_network_without_smart_meters_asks_nothing(database, clock, territory):
    with database.write() as session:
        session.execute(update(Customer).values(meter_id=None))
    outage = two_calls_on_tx2(database, clock, territory)
    head_end = out_below(database, territory, "FU-1")
    use_head_end(head_end)
    assert execute(system(database, clock), AskMeters()).asked == {}
    assert head_end.requests == []
    with pytest.raises(InvalidInput, match="no smart meter"):
        execute(Context(database, clock, DISPATCHER, TZ), PingOutageMeters(outage.id))


def test_a_lone_callers_silent_neighbours_put_the_outage_at_their_transformer(database, clock, territory):
    caller = territory.account_by_transformer["TX-4"][0]
    item = {
        "channel": "hotline",
        "kind": "no_power",
        "account_no": caller,
        "reported_at": clock.now().isoformat(),
    }
    submit_reports(database, clock, HOTLINE, [item])
    assert outages(database) == {}, "one call: the caller's service outage only"
    use_head_end(out_below(database, territory, "TX-4"))
    result = execute(system(database, clock), AskMeters())
    (service_id,) = result.asked
    asked = set(result.asked[service_id])
    neighbours = {f"M-{a}" for a in territory.account_by_transformer["TX-4"]} - {f"M-{caller}"}
    assert asked & neighbours and f"M-{caller}" not in asked
    assert set(outages(database)) == {"TX-4"}
    with database.read() as session:
        assert session.get(Outage, service_id).state == OutageState.MERGED


def test_a_lone_callers_answering_neighbours_leave_their_own_service_outage(database, clock, territory):
    caller = territory.account_by_transformer["TX-4"][0]
    item = {
        "channel": "hotline",
        "kind": "no_power",
        "account_no": caller,
        "reported_at": clock.now().isoformat(),
    }
    submit_reports(database, clock, HOTLINE, [item])
    use_head_end(FakeHeadEnd(lambda meter: meter != f"M-{caller}"))
    result = execute(system(database, clock), AskMeters())
    assert result.asked and result.moved == {}
    assert outages(database) == {}


def test_the_follow_up_rests_under_the_rules_and_when_switched_off(database, clock, territory):
    caller = territory.account_by_transformer["TX-4"][0]
    item = {
        "channel": "hotline",
        "kind": "no_power",
        "account_no": caller,
        "reported_at": clock.now().isoformat(),
    }
    submit_reports(database, clock, HOTLINE, [item])
    head_end = FakeHeadEnd(lambda meter: True)
    use_head_end(head_end)
    with database.write() as session:
        set_setting(session, "meter_ping.enabled", False, clock)
    assert execute(system(database, clock), AskMeters()).asked == {}
    with database.write() as session:
        set_setting(session, "meter_ping.enabled", True, clock)
        set_setting(session, "tca.method", "rules", clock)
    assert execute(system(database, clock), AskMeters()).asked == {}
    assert head_end.requests == []
    with database.write() as session:
        set_setting(session, "tca.method", "evidence", clock)
    assert execute(system(database, clock), AskMeters()).asked != {}
