"""The stored network traces to the tree it was written as; a re-trace moves only what switching moves."""

from __future__ import annotations

from sqlalchemy import select

from emergency.core.actor import Actor
from emergency.core.models import Device
from emergency.core.settings import get_setting
from emergency.intake import reports as intake_reports
from emergency.network.trace import retrace
from tests.support.commands import submit_reports
from tests.support.small_territory import build_small_territory
from tests.support.two_feeders import build_two_feeders


def links(database) -> dict[str, tuple[str | None, str | None]]:
    with database.read() as session:
        code = dict(session.execute(select(Device.id, Device.code)).tuples().all())
        return {
            code[i]: (code.get(p), code.get(f))
            for i, p, f in session.execute(select(Device.id, Device.parent_id, Device.feeder_id))
        }


def test_a_network_written_as_a_tree_traces_to_the_same_tree(database, clock) -> None:
    build_small_territory(database, clock)
    before = links(database)
    with database.write() as session:
        first = retrace(session, clock)
    assert first.trace.problems() == []
    assert links(database) == before
    with database.write() as session:
        again = retrace(session, clock)
        revision = get_setting(session, "territory.revision")
    # The first trace wrote the nodes the tree implied; after that nothing moves and no model is rebuilt.
    assert again.moved == [] and again.revision is None
    assert revision == first.revision
    with database.read() as session:
        nodes = dict(session.execute(select(Device.code, Device.from_node)).tuples().all())
    assert nodes["TX-3"] == "FU-2" and nodes["SS-1"] is None


def test_telemetry_repeating_a_stored_state_does_not_re_trace(database, clock, monkeypatch) -> None:
    """SCADA re-sends states on its integrity polls; only a state that changed re-traces (a full
    pass over the devices inside intake's writing transaction)."""
    build_two_feeders(database, clock)
    scada = Actor("scada-link", "intake")
    traced: list[int] = []
    monkeypatch.setattr(intake_reports, "retrace", lambda *args: traced.append(1) or retrace(*args))

    def revision_after(kind: str, device: str) -> int:
        submit_reports(database, clock, scada, [{"channel": "scada", "kind": kind, "device_code": device}])
        with database.read() as session:
            return int(get_setting(session, "territory.revision"))

    with database.read() as session:
        start = int(get_setting(session, "territory.revision"))
    assert revision_after("device_opened", "SW1") == start  # its section still hangs from it
    closed_tie = revision_after("device_closed", "TIE")  # the field back-feeds it from feeder B2
    assert closed_tie == start + 1
    assert len(traced) == 2
    assert revision_after("device_closed", "TIE") == closed_tie  # the same state again: nothing to do
    assert len(traced) == 2
    assert revision_after("device_opened", "TIE") == closed_tie + 1
