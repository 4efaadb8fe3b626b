"""The stored network traces to the tree it was written as; a re-trace moves only what switching moves."""

from __future__ import annotations

from sqlalchemy import select

from emergency.core.models import Device
from emergency.core.settings import get_setting
from emergency.network.trace import retrace
from tests.support.small_territory import build_small_territory


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
