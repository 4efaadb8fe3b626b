"""Trace the supply: which device feeds which, from the sources through closed switches.

The network is devices between nodes (`Device.from_node`/`to_node`): a source has only a
`to_node`, a service transformer only a `from_node`, and every switch conducts between its two
nodes while closed. A utility's feeders meet at normally open ties, so the network as drawn is a
mesh; what feeds what at a moment is a tree, traced here from the switch states:

1. From every source, breadth first, through closed switches. Each device met is placed under the
   device the supply came through. An open switch is placed on the side the supply reached first
   and feeds nothing (a normally open tie between two live feeders feeds neither). A closed
   switch joining two nodes already fed closes a loop: reported with its path, never traced twice.
2. What is not fed now (below a tripped breaker, a blown fuse, a section isolated for repair)
   keeps the place it has in the trace of the normal states, so a dead section still hangs from
   the device whose opening took it out; outages roll up along the way power normally comes.

`parent_id` and `feeder_id` of every device are this tree (`retrace`): trouble-call analysis,
customer counts and the maps all read it, and it moves only when a switch operation moves it.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import bindparam, update
from sqlalchemy.orm import Session

from emergency.core.clock import Clock
from emergency.core.errors import Problem
from emergency.core.models import Base, Device
from emergency.core.settings import bump_territory_revision
from emergency.core.vocabulary import SWITCH_KINDS, DeviceKind, SwitchState


class TraceDevice(NamedTuple):
    """A device as tracing sees it: its nodes, and its state now and normally."""

    id: int
    code: str
    kind: DeviceKind
    from_node: str | None
    to_node: str | None
    state: SwitchState
    normal_state: SwitchState

    @property
    def is_source(self) -> bool:
        return self.kind == DeviceKind.SUBSTATION or (
            self.from_node is None and self.kind != DeviceKind.TRANSFORMER
        )


def current_state(
    normal: SwitchState,
    scada: SwitchState | None,
    scada_at: datetime | None,
    switched: SwitchState | None,
    switched_at: datetime | None,
) -> SwitchState:
    """A switch's state now: the newer of SCADA's reading and the last switching step, else normal.

    An unknown SCADA reading says nothing; the switch is then taken as last operated or normal.
    """
    known_scada = scada if scada not in (None, SwitchState.UNKNOWN) else None
    if known_scada is not None and switched is not None:
        if switched_at is not None and (scada_at is None or switched_at >= scada_at):
            return switched
        return known_scada
    return known_scada or switched or normal


@dataclass
class Trace:
    """The supply tree: each device's parent and feeder breaker (ids; None at a source)."""

    parent: dict[int, int | None] = field(default_factory=dict)
    feeder: dict[int, int | None] = field(default_factory=dict)
    # Devices whose supply side is live now (placed in the first pass).
    energized: set[int] = field(default_factory=set)
    # Each closed loop as the codes along it, starting and ending where the two ways meet.
    loops: list[list[str]] = field(default_factory=list)
    # Devices no source reaches, even with every switch in its normal state.
    unfed: list[str] = field(default_factory=list)

    def problems(self) -> list[Problem]:
        found = [
            Problem.at_device(
                loop[len(loop) // 2],
                "closes a loop (" + " → ".join(loop) + "): open a switch on it to keep the network radial",
            )
            for loop in self.loops
        ]
        found += [Problem.at_device(code, "is connected to no source") for code in self.unfed]
        return found


def conducts(device: TraceDevice, state: SwitchState) -> bool:
    """Whether supply passes through the device to its other node."""
    if device.kind == DeviceKind.TRANSFORMER:
        return False  # the end of the medium-voltage network
    return device.kind not in SWITCH_KINDS or state == SwitchState.CLOSED


def trace(devices: Sequence[TraceDevice]) -> Trace:
    """The supply tree for the devices' current states (see the module's two passes)."""
    result, _ = _first_pass(devices, normal=False)
    unplaced = [d for d in devices if d.id not in result.parent]
    if unplaced:
        normal, _ = _first_pass(devices, normal=True)
        for d in unplaced:
            if d.id in normal.parent:
                result.parent[d.id] = normal.parent[d.id]
            else:
                result.parent[d.id] = None
                result.unfed.append(d.code)
    result.feeder = _feeders(devices, result.parent)
    return result


def normal_trace(devices: Sequence[TraceDevice]) -> Trace:
    """The supply tree with every switch in its normal state (what an import is checked against)."""
    return trace([d._replace(state=d.normal_state) for d in devices])


def _first_pass(devices: Sequence[TraceDevice], *, normal: bool) -> tuple[Trace, dict[str, int]]:
    result = Trace()
    by_id = {d.id: d for d in devices}
    at_node: dict[str, list[TraceDevice]] = {}
    for d in devices:
        for node in (d.from_node, d.to_node if d.kind != DeviceKind.TRANSFORMER else None):
            if node is not None:
                at_node.setdefault(node, []).append(d)
    reached_via: dict[str, int] = {}  # node -> the device the supply came through
    closers: set[int] = set()
    queue: deque[str] = deque()

    def state(d: TraceDevice) -> SwitchState:
        return d.normal_state if normal else d.state

    def chain(node: str) -> list[int]:
        """Device ids from the one feeding `node` up to its source."""
        ids: list[int] = []
        device: int | None = reached_via[node]
        while device is not None:
            ids.append(device)
            device = result.parent.get(device)
        return ids

    def loop(closer: TraceDevice, a: str, b: str) -> None:
        if closer.id in closers:
            return
        closers.add(closer.id)
        up_a, up_b = chain(a), chain(b)
        common = next((x for x in up_a if x in set(up_b)), None)
        side_a = up_a[: up_a.index(common) + 1] if common is not None else up_a
        side_b = up_b[: up_b.index(common)] if common is not None else up_b
        codes = [by_id[i].code for i in reversed(side_a)] + [closer.code] + [by_id[i].code for i in side_b]
        if common is not None:
            codes.append(by_id[common].code)
        result.loops.append(codes)

    for source in sorted((d for d in devices if d.is_source), key=lambda d: d.code):
        result.parent[source.id] = None
        result.energized.add(source.id)
        node = source.to_node
        if node is None or not conducts(source, state(source)):
            continue
        if node in reached_via:
            loop(source, node, node)  # two sources on one node
            continue
        reached_via[node] = source.id
        queue.append(node)
    while queue:
        node = queue.popleft()
        via = reached_via[node]
        for d in at_node.get(node, ()):
            if d.id == via:
                continue
            other = d.to_node if node == d.from_node else d.from_node
            if d.id in result.parent:
                # Met again from its other node: a closed switch fed from both sides is a loop.
                if conducts(d, state(d)) and other is not None and reached_via.get(other) != d.id:
                    loop(d, node, other)
                continue
            result.parent[d.id] = via
            result.energized.add(d.id)
            if not conducts(d, state(d)) or other is None or other == node:
                continue
            if other in reached_via:
                loop(d, node, other)
                continue
            reached_via[other] = d.id
            queue.append(other)
    return result, reached_via


def _feeders(devices: Sequence[TraceDevice], parent: dict[int, int | None]) -> dict[int, int | None]:
    """The feeder breaker on each device's way to its source (a breaker's own id for a breaker)."""
    kind = {d.id: d.kind for d in devices}
    feeder: dict[int, int | None] = {}
    for start in parent:
        walk: list[int] = []
        node: int | None = start
        while node is not None and node not in feeder and kind.get(node) != DeviceKind.BREAKER:
            walk.append(node)
            node = parent.get(node)
            if len(walk) > len(parent):
                node = None  # a cycle cannot come out of tracing; never loop forever on bad input
        if node is None:
            found = None
        elif node in feeder:
            found = feeder[node]
        else:
            found = feeder[node] = node  # a breaker is its own feeder
        for n in walk:
            feeder[n] = found
    return feeder


# --- the database ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Retrace:
    """What a re-trace changed: devices whose parent or feeder moved, and what it found wrong."""

    moved: list[int]
    trace: Trace
    revision: int | None  # the new territory revision when something moved


_KINDS = {kind.value: kind for kind in DeviceKind}
_STATES = {state.value: state for state in SwitchState}
# One pass over the devices table straight through the driver: a re-trace runs inside intake's
# writing transaction whenever SCADA reports a switch, and converting every row through the ORM
# types cost more than the trace itself (24,490 devices at 1,000,000 customers).
_DEVICE_ROWS = (
    "SELECT id, code, kind, parent_id, feeder_id, from_node, to_node, normal_state, scada_state, "
    "scada_state_at, switched_state, switched_at FROM devices ORDER BY id"
)


def _stamp(value: datetime | str | None) -> datetime | None:
    """A raw timestamp from the driver (SQLite hands back text) as a datetime."""
    return datetime.fromisoformat(value) if isinstance(value, str) else value


def _stored_devices(session: Session) -> tuple[list[TraceDevice], dict[int, tuple[Any, ...]]]:
    """Every device with its current state, and its stored (parent, feeder, from, to) links.

    A device stored without nodes (written before nodes existed, or by hand) takes them from the
    stored tree: its parent's node and its own code."""
    rows = session.connection().exec_driver_sql(_DEVICE_ROWS).all()
    own_node = {r[0]: r[6] or r[1] for r in rows}
    devices: list[TraceDevice] = []
    stored: dict[int, tuple[Any, ...]] = {}
    transformer = DeviceKind.TRANSFORMER.value
    for id_, code, kind, parent, feeder, a, b, normal, scada, scada_at, switched, switched_at in rows:
        normal_state = _STATES[normal]
        state = normal_state
        if scada is not None or switched is not None:
            state = current_state(
                normal_state,
                _STATES[scada] if scada is not None else None,
                _stamp(scada_at),
                _STATES[switched] if switched is not None else None,
                _stamp(switched_at),
            )
        devices.append(
            TraceDevice(
                id=id_,
                code=code,
                kind=_KINDS[kind],
                from_node=a if a is not None or parent is None else own_node.get(parent),
                to_node=b if b is not None or kind == transformer else code,
                state=state,
                normal_state=normal_state,
            )
        )
        stored[id_] = (parent, feeder, a, b)
    return devices, stored


def load_trace_devices(session: Session) -> list[TraceDevice]:
    """Every device with its current state (see `_stored_devices`)."""
    return _stored_devices(session)[0]


_DEVICES = Base.metadata.tables[Device.__tablename__]
_SET_LINKS = (
    update(_DEVICES)
    .where(_DEVICES.c.id == bindparam("b_id"))
    .values(
        parent_id=bindparam("b_parent"),
        feeder_id=bindparam("b_feeder"),
        from_node=bindparam("b_from"),
        to_node=bindparam("b_to"),
        version=_DEVICES.c.version + 1,
    )
)


def retrace(session: Session, clock: Clock, by: str = "system") -> Retrace:
    """Trace the supply from the switch states stored now and store the tree where it moved.

    Moves the territory revision when anything moved, so every process rebuilds its network
    model (customers below each device) before the next analysis.
    """
    devices, stored = _stored_devices(session)
    result = trace(devices)
    # Nodes filled in from the tree are written too, so the next trace reads the same ones.
    rows: list[dict[str, Any]] = [
        {
            "b_id": d.id,
            "b_parent": result.parent.get(d.id),
            "b_feeder": result.feeder.get(d.id),
            "b_from": d.from_node,
            "b_to": d.to_node,
        }
        for d in devices
        if stored.get(d.id) != (result.parent.get(d.id), result.feeder.get(d.id), d.from_node, d.to_node)
    ]
    revision = None
    if rows:
        session.execute(_SET_LINKS, rows)
        revision = bump_territory_revision(session, clock, by)
    return Retrace(moved=[row["b_id"] for row in rows], trace=result, revision=revision)
