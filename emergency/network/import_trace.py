"""The imported network traced: nodes for every device, and the supply tree from the sources.

A network file gives devices between nodes (`from_node`/`to_node`) or, as before, a parent tree
(`parent_code`), whose nodes are derived the way migration 0010 derived them: a device stands on
its parent's node and heads a node of its own code. Either way the union of what is stored and
what the file brings is traced with every switch in its normal state
(`emergency.network.trace.normal_trace`): a closed loop is refused with its path, a device no
source reaches is refused, and a normally open tie between two feeders is simply where the two
traces stop. The tree found is what `parent_id`/`feeder_id` store.
"""

from __future__ import annotations

from typing import Any

from emergency.core.vocabulary import DEVICE_CHILDREN, DeviceKind, SwitchState
from emergency.network.import_check import DeviceIn
from emergency.network.import_files import ParsedFile, ProblemLog
from emergency.network.trace import TraceDevice, current_state, normal_trace, trace

# code -> (from_node, to_node)
Nodes = dict[str, tuple[str | None, str | None]]
# code -> (parent code, feeder code)
Links = dict[str, tuple[str | None, str | None]]


def stored_nodes(stored_devices: dict[str, Any], device_code: dict[int, str]) -> Nodes:
    """The stored devices' nodes; one stored without them takes them from the stored tree (as
    `trace.load_trace_devices` does), so old and new rows trace alike."""
    own: dict[str, str | None] = {}
    for code, row in stored_devices.items():
        own[code] = row.to_node if row.to_node is not None or row.kind == DeviceKind.TRANSFORMER else code
    nodes: Nodes = {}
    for code, row in stored_devices.items():
        from_node = row.from_node
        if from_node is None and row.parent_id is not None:
            parent = device_code.get(row.parent_id)
            from_node = own.get(parent) if parent is not None else None
        nodes[code] = (from_node, own[code])
    return nodes


def tree_nodes(parsed: ParsedFile, stored: Nodes) -> Nodes:
    """Nodes for a file given as a parent tree: the parent's own node, and the device's code."""
    rows: list[DeviceIn] = [d for d in parsed.rows if d.code is not None]
    own: dict[str, str | None] = {code: to for code, (_, to) in stored.items()}
    for d in rows:
        own[d.code] = None if d.kind == DeviceKind.TRANSFORMER else d.code  # type: ignore[index]
    result: Nodes = {}
    for d in rows:
        assert d.code is not None
        from_node = None
        if d.parent_code is not None:
            # A stored parent imported as nodes heads its own node, not its code.
            from_node = own.get(d.parent_code) or d.parent_code
        result[d.code] = (from_node, own[d.code])
        d.from_node, d.to_node = result[d.code]
    return result


def trace_import(
    parsed: ParsedFile,
    stored_devices: dict[str, Any],
    stored: Nodes,
    problems: ProblemLog,
) -> Links | None:
    """Trace the union of stored and imported devices in their normal states; report loops, devices
    no source reaches and wrong kinds on the file's rows; return parent and feeder by code."""
    file_rows = {d.code: d for d in parsed.rows if d.code is not None}
    devices: list[TraceDevice] = []
    codes: list[str] = []
    for code, row in stored_devices.items():
        if code in file_rows:
            continue
        from_node, to_node = stored[code]
        normal = SwitchState(row.normal_state)
        now = _state_now(row, normal)
        devices.append(TraceDevice(len(codes), code, DeviceKind(row.kind), from_node, to_node, now, normal))
        codes.append(code)
    for code, d in file_rows.items():
        assert d.kind is not None
        old = stored_devices.get(code)
        now = _state_now(old, d.normal_state) if old is not None else d.normal_state
        devices.append(TraceDevice(len(codes), code, d.kind, d.from_node, d.to_node, now, d.normal_state))
        codes.append(code)
    result = normal_trace(devices)
    found = _report_loops(result.loops, parsed, file_rows, problems)
    for code in result.unfed:
        found = True
        _report(parsed, file_rows, code, "from_node", _unfed_reason(parsed), problems, codes=[code])
    kinds = {d.id: d.kind for d in devices}
    for device in devices:
        parent = result.parent.get(device.id)
        if parent is not None and device.kind not in DEVICE_CHILDREN[kinds[parent]]:
            found = True
            reason = f"a {device.kind} cannot be fed through a {kinds[parent]} ({codes[parent]})"
            _report(parsed, file_rows, device.code, "from_node", reason, problems, codes=[device.code])
    if found:
        return None
    # Checked as drawn; stored as the switches stand now (SCADA, switching), so an import does
    # not move the supply of a section switched over to another feeder.
    supply = trace(devices)
    return {
        codes[i]: (
            codes[p] if (p := supply.parent.get(i)) is not None else None,
            codes[f] if (f := supply.feeder.get(i)) is not None else None,
        )
        for i in range(len(codes))
    }


def _state_now(row: Any, normal: SwitchState) -> SwitchState:
    """A stored switch's state now, its normal state being `normal` (the file's, when it gives one)."""
    return current_state(normal, row.scada_state, row.scada_state_at, row.switched_state, row.switched_at)


def _unfed_reason(parsed: ParsedFile) -> str:
    if parsed.form == "tree":
        return "no source reaches it with every switch in its normal state (a normally open switch above it?)"
    return "is connected to no source: no path of closed switches and conductors reaches it from a substation"


def _report_loops(
    loops: list[list[str]], parsed: ParsedFile, file_rows: dict[str, DeviceIn], problems: ProblemLog
) -> bool:
    for loop in loops:
        reason = "closes a loop (" + " → ".join(loop) + "): open a switch on it to keep the network radial"
        closer = _likely_open(loop, file_rows)
        _report(parsed, file_rows, closer, "normal_state", reason, problems, codes=[closer, *loop])
    return bool(loops)


# Which switch on a loop was most likely meant to be open: a tie is a load-break switch, rarely a
# breaker. The problem is reported on its row.
_OPEN_LIKELIHOOD = (
    DeviceKind.SWITCH,
    DeviceKind.DISCONNECTOR,
    DeviceKind.SECTIONALISER,
    DeviceKind.RECLOSER,
    DeviceKind.FUSE,
    DeviceKind.BREAKER,
)


def _likely_open(loop: list[str], file_rows: dict[str, DeviceIn]) -> str:
    in_file = [code for code in loop if code in file_rows]
    for kind in _OPEN_LIKELIHOOD:
        for code in in_file:
            if file_rows[code].kind == kind:
                return code
    return in_file[0] if in_file else loop[len(loop) // 2]


def _report(
    parsed: ParsedFile,
    file_rows: dict[str, DeviceIn],
    subject: str,
    column: str,
    reason: str,
    problems: ProblemLog,
    *,
    codes: list[str],
) -> None:
    """On the subject's row; for a stored device, on the first row of the file among `codes`."""
    if parsed.form == "tree":
        column = "parent_code"
    row = file_rows.get(subject)
    if row is not None:
        problems.add(parsed.label, row.line, column, reason, parsed.unit)
        return
    culprit = next((file_rows[c] for c in codes if c in file_rows), None)
    line = culprit.line if culprit is not None else None
    problems.add_once(
        parsed.label, line, column if culprit else "", f"stored device {subject}: {reason}", parsed.unit
    )
