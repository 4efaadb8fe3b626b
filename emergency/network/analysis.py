"""Trouble-call analysis: group a batch of reports into outages up the radial network.

Supply-loss calls on one transformer predict an outage there; enough outages or calls below a
device roll up into one outage at that device; SCADA events confirm and restore; a call under a
device restored moments ago opens a nested outage. Runs inside the intake transaction.
"""

from __future__ import annotations

import heapq
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import select, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.orm.exc import StaleDataError
from sqlalchemy.sql import Executable

from emergency.core import audit
from emergency.core.actor import Actor
from emergency.core.clock import Clock
from emergency.core.ids import IdBlock
from emergency.core.models import (
    Device,
    DeviceKind,
    Outage,
    OutageState,
    ReportKind,
    ReportStatus,
    SlaBreach,
    SwitchState,
)
from emergency.core.vocabulary import PROTECTIVE_KINDS, SWITCH_KINDS
from emergency.dispatch.outages import furthest, record_restoration
from emergency.network.analysis_locate import locate_faults
from emergency.network.analysis_rows import ATTACH_COLUMNS as _ATTACH_COLUMNS
from emergency.network.analysis_rows import MOVE_ASSIGNMENTS as _MOVE_ASSIGNMENTS
from emergency.network.analysis_rows import MOVE_REPORTS as _MOVE_REPORTS
from emergency.network.analysis_rows import OUTAGES as _OUTAGES
from emergency.network.analysis_rows import REPORTS as _REPORTS
from emergency.network.analysis_rows import UPDATE_ATTACHED as _UPDATE_ATTACHED
from emergency.network.analysis_rows import UPDATE_MERGED_FOUND as _UPDATE_MERGED_FOUND
from emergency.network.analysis_rows import UPDATE_MERGED_INTO as _UPDATE_MERGED_INTO
from emergency.network.analysis_rows import ActiveOutage as _Active
from emergency.network.analysis_rows import AnalysisResult, AnyOutage, TcaRules
from emergency.network.analysis_rows import Gathered as _Gathered
from emergency.network.model import NetworkModel
from emergency.network.reads import (
    SUPPLY_LOSS_KINDS,
    active_devices,
    active_outages_at,
    open_switches,
    restored_devices_among,
    switch_states,
    waiting_calls,
)
from emergency.network.service_outages import CustomerFacts, customer_facts

TCA_ACTOR = "trouble-call analysis"
# Where roll-up stops to weigh a prediction: a protective device, or a source (never predicted).
_PREDICTED_OR_SOURCE = PROTECTIVE_KINDS | {DeviceKind.SUBSTATION}


class IncomingReport(NamedTuple):
    """A stored report as analysis sees it: indices into the model, not database ids.

    A tuple, not a frozen dataclass: a storm builds a thousand per batch, at half the cost.
    """

    id: int
    kind: ReportKind
    reported_at: datetime
    customer_id: int | None
    transformer: int | None
    device: int | None


class _Analysis:
    """One batch of analysis: the active outages it touches, held in memory until it ends."""

    def __init__(self, session: Session, clock: Clock, model: NetworkModel, rules: TcaRules) -> None:
        self.session = session
        self.clock = clock
        self.model = model
        self.net = model.net
        self.rules = rules
        self.result = AnalysisResult()
        self.outage_at: dict[int, AnyOutage] = {}  # device index -> active outage there
        # Service outages (one customer's lone call), per transformer index, by customer id: they
        # sit at the transformer beside its own outage, so they are kept apart from `outage_at`.
        self.services: dict[int, dict[int, AnyOutage]] = {}
        self.open_now: set[int] = set()  # switches on the batch's paths open now: roll-up stops there
        self.switch_state: dict[int, SwitchState | None] = {}
        # Supply-loss reports not yet part of an outage, per transformer index: (report id, customer, time).
        self.pending: dict[int, list[tuple[int, int | None, datetime]]] = {}
        self.children: dict[int, list[int]] = self.net._children_of()
        self.hazard_reports: set[int] = set()  # pending reports of wires down or other danger
        self.batch_ids: set[int] = set()
        # Device indices with an active outage when the batch began (one cheap index-only query),
        # so looking for outages below a device asks the database only where one exists.
        self.active_devices: set[int] = set()
        self.outages_checked: set[int] = set()  # devices already looked up during this batch
        # Outages restored recently on the batch's paths, per device index (for nested outages).
        self.restored_at_device: dict[int, list[Outage]] = {}
        # Where each report of this batch ends up; the caller stores the batch with these links.
        self.report_links: dict[int, tuple[int | None, ReportStatus]] = {}
        # New outages take their ids up front and are written together when the batch ends. Until
        # then nothing may point at them in the database: statements that do wait in `after_flush`,
        # and absorbed outages learn the id of the outage that took them over in `merges`.
        self.outage_ids = IdBlock(session, _OUTAGES)
        self.created_ids: set[int] = set()
        self.carried_breaches: dict[int, list[SlaBreach]] = {}  # added this batch, by outage id
        self.after_flush: list[Executable] = []
        self.merges: list[tuple[AnyOutage, Outage]] = []
        # Reports of this batch joining an active outage, per outage id, until `_count_gathered`.
        self.gathered: dict[int, _Gathered] = {}
        self.audit_rows: list[dict[str, Any]] = []  # written together when the batch ends

    # loading ---------------------------------------------------------------------------------

    def load_around(self, reports: list[IncomingReport]) -> None:
        """Active outages and switch states on the paths of these reports, and pending calls."""
        devices: set[int] = set()
        for report in reports:
            start = (
                report.device
                if report.kind in (ReportKind.DEVICE_OPENED, ReportKind.DEVICE_CLOSED)
                else report.transformer
            )
            if start is None:
                continue
            devices.update(self._path(start))
            if report.device is not None and report.kind == ReportKind.DEVICE_OPENED:
                devices.update(self._below(report.device))
        index_of = self.net.index_of
        self.active_devices = {index_of[device_id] for device_id in active_devices(self.session)}
        self._load_outages(devices)
        self._load_switches(devices)
        # The batch's own reports join `pending` one by one as the rules see them.
        self.batch_ids = {r.id for r in reports}
        earliest = min((r.reported_at for r in reports), default=self.clock.now())
        # Roll-up looks at pending calls anywhere below a device, up to a window before now.
        self._load_pending(min(earliest, self.clock.now() - self.rules.window))
        self._load_recently_restored(
            self._uncovered(reports, devices),
            earliest,
            max((r.reported_at for r in reports), default=earliest),
        )

    def _uncovered(self, reports: list[IncomingReport], devices: set[int]) -> set[int]:
        """Devices on the paths of supply-loss reports no active outage covers.

        Only those reports can open a nested outage, and in a storm most reports are covered.
        Coverage shrinks during a batch only when a device closes, so a batch with a device
        closed looks at every path.
        """
        if any(r.kind == ReportKind.DEVICE_CLOSED for r in reports):
            return devices
        uncovered: set[int] = set()
        transformers = {
            r.transformer for r in reports if r.kind in SUPPLY_LOSS_KINDS and r.transformer is not None
        }
        for transformer in transformers:
            if self.covering(transformer) is None:
                uncovered.update(self._path(transformer))
        return uncovered

    def _load_recently_restored(self, devices: set[int], earliest: datetime, latest: datetime) -> None:
        ids = [int(self.net.ids[d]) for d in devices]
        since = earliest - self.rules.nested_window
        ids = restored_devices_among(self.session, ids, since, latest)
        for start in range(0, len(ids), 900):
            for outage in self.session.scalars(
                select(Outage).where(
                    Outage.device_id.in_(ids[start : start + 900]),
                    Outage.state.in_([OutageState.RESTORED, OutageState.CLOSED]),
                    # One customer's supply back says nothing about their neighbours': a call after
                    # it opens a service outage again, not a nested outage of the transformer.
                    Outage.customer_id.is_(None),
                    Outage.restored_at <= latest,
                    Outage.restored_at >= since,
                )
            ):
                self.restored_at_device.setdefault(self.net.index_of[outage.device_id], []).append(outage)

    def _load_outages(self, devices: set[int]) -> None:
        fresh = devices - self.outages_checked
        self.outages_checked |= fresh
        ids = [int(self.net.ids[d]) for d in fresh if d in self.active_devices and d not in self.outage_at]
        for row in active_outages_at(self.session, ids):
            outage = _Active(row)
            index = self.net.index_of[outage.device_id]
            if outage.customer_id is None:
                self.outage_at[index] = outage
            else:
                self.services.setdefault(index, {})[outage.customer_id] = outage

    def _mapped(self, index: int) -> Outage:
        """The active outage at device `index` as a mapped object, for a change beyond calls."""
        outage = self.outage_at[index]
        if isinstance(outage, Outage):
            return outage
        mapped = self.session.get(Outage, outage.id)
        if mapped is None or mapped.version != outage.version:
            raise StaleDataError(f"outage {outage.id} changed by someone else while analysis ran")
        for name in _ATTACH_COLUMNS:  # calls this batch attached before the event
            if getattr(mapped, name) != getattr(outage, name):
                setattr(mapped, name, getattr(outage, name))
        self.outage_at[index] = mapped
        return mapped

    def _load_switches(self, devices: set[int]) -> None:
        ids = [
            int(self.net.ids[d]) for d in devices if self.model.telemetered[d] and d not in self.switch_state
        ]
        for device_id, state in switch_states(self.session, ids):
            self.switch_state[self.net.index_of[device_id]] = state
        kinds = self.net.kinds
        switches = [int(self.net.ids[d]) for d in devices if kinds[d] in SWITCH_KINDS]
        self.open_now |= {self.net.index_of[i] for i in open_switches(self.session, switches)}

    def _load_pending(self, earliest: datetime) -> None:
        """Every supply-loss call not yet in an outage, from a window before `earliest` on.

        One query for the whole batch: calls waiting for an outage are few (most join one within a
        batch or two), and they are found through the index on the report's outage.
        """
        since = earliest - self.rules.window
        for report_id, transformer_id, customer_id, reported_at in waiting_calls(self.session, since):
            transformer = self.net.index_of.get(transformer_id) if transformer_id is not None else None
            if transformer is not None:
                self.pending.setdefault(transformer, []).append((report_id, customer_id, reported_at))

    # walking ---------------------------------------------------------------------------------

    def _path(self, index: int) -> tuple[int, ...]:
        return self.model.path(index)

    def _below(self, index: int) -> list[int]:
        found: list[int] = []
        stack = list(self.children.get(index, []))
        while stack:
            node = stack.pop()
            found.append(node)
            stack.extend(self.children.get(node, []))
        return found

    def covering(self, index: int) -> AnyOutage | None:
        for node in self._path(index):
            outage = self.outage_at.get(node)
            if outage is not None:
                return outage
        return None

    # the rules -------------------------------------------------------------------------------

    def run(self, reports: list[IncomingReport]) -> AnalysisResult:
        # Outage rows change in memory all through the batch; flushing them before every query
        # would cost more than the analysis itself.
        with self.session.no_autoflush:
            self._run(reports)
        self._write()
        return self.result

    def _run(self, reports: list[IncomingReport]) -> None:
        self.load_around(reports)
        touched: set[int] = set()
        for report in sorted(reports, key=lambda r: r.reported_at):
            if report.kind == ReportKind.DEVICE_OPENED and report.device is not None:
                self._count_gathered()  # a SCADA event may merge or restore outages: counts first
                self.device_opened(report)
            elif report.kind == ReportKind.DEVICE_CLOSED and report.device is not None:
                self._count_gathered()
                self.device_closed(report)
            elif report.kind in SUPPLY_LOSS_KINDS and report.transformer is not None:
                if self.supply_loss(report):
                    touched.add(report.transformer)
            else:
                self._set_report(
                    report.id,
                    None,
                    ReportStatus.INFORMATIONAL
                    if report.kind == ReportKind.POWER_RESTORED
                    else ReportStatus.RECEIVED,
                )
        self._count_gathered()
        if self.rules.method == "evidence":
            locate_faults(self, touched)
        else:
            for transformer in touched:
                self.predict(transformer)
            self.roll_up(touched)
        # What no threshold predicted is still somebody without power: each caller's own outage.
        self.open_service_outages(touched)

    def _write(self) -> None:
        """New and changed outages in one flush, then what refers to the new ones."""
        self._write_attached_only()
        self.session.flush()
        audit.record_many(self.session, self.audit_rows)
        self._write_merged_into()
        for statement in self.after_flush:
            self.session.execute(statement)
        if self.merges:
            # Reports stored earlier and crews at work follow each merged outage to the one that
            # took it over, in the order of the merges (one may be taken over again, later in
            # the batch); after the statements above, which only ever name outages still active.
            moves = [{"b_from": old.id, "b_to": outage.id} for old, outage in self.merges]
            connection = self.session.connection()
            connection.execute(_MOVE_REPORTS, moves)
            connection.execute(_MOVE_ASSIGNMENTS, moves)
        self.result.report_links = self.report_links

    def _write_attached_only(self) -> None:
        """Outages found in the database whose only change is calls attached, in one UPDATE.

        The version is checked as the unit of work would, but not moved on: it guards people's
        decisions (confirm, dispatch, ETR, restore), and in a storm calls arrive on an outage
        every few seconds, so a version moved by every call would refuse nearly every dispatcher
        action as "changed by someone else".
        """
        rows = [
            {
                "b_id": outage.id,
                "b_version": outage.version,
                "b_new_version": outage.version,
                **{f"b_{name}": getattr(outage, name) for name in _ATTACH_COLUMNS},
            }
            for outage in self._all_active()
            if isinstance(outage, _Active) and outage.attached() != outage.loaded
        ]
        if rows:
            self._update_versioned(_UPDATE_ATTACHED, rows)

    def _all_active(self) -> list[AnyOutage]:
        """Every active outage the batch holds: devices' and service outages."""
        return [*self.outage_at.values(), *(s for at in self.services.values() for s in at.values())]

    def _write_merged_into(self) -> None:
        """Point every outage merged in this batch at the one that took it over, in one UPDATE.

        They are written after the flush before (the outage that took them over may be new, and
        nothing may point at a row not yet there). An outage found in the database is marked
        merged here too, with any calls it gathered first; one opened in this batch was written
        merged by the flush, and a second flush would update each on its own.
        """
        found = [(old, outage) for old, outage in self.merges if isinstance(old, _Active)]
        opened = [(old, outage) for old, outage in self.merges if isinstance(old, Outage)]
        if found:
            self._update_versioned(
                _UPDATE_MERGED_FOUND,
                [
                    {
                        "b_id": old.id,
                        "b_version": old.version,
                        "b_new_version": old.version + 1,
                        "b_state": OutageState.MERGED,
                        "b_merged_into_id": outage.id,
                        **{f"b_{name}": getattr(old, name) for name in _ATTACH_COLUMNS},
                    }
                    for old, outage in found
                ],
            )
        if not opened:
            return
        self._update_versioned(
            _UPDATE_MERGED_INTO,
            [
                {
                    "b_id": old.id,
                    "b_version": old.version,
                    "b_new_version": old.version + 1,
                    "b_merged_into_id": outage.id,
                }
                for old, outage in opened
            ],
        )
        for old, outage in opened:
            # What the row now holds, without marking the object changed.
            set_committed_value(old, "merged_into_id", outage.id)
            set_committed_value(old, "version", old.version + 1)

    def _update_versioned(self, statement: Executable, rows: list[dict[str, Any]]) -> None:
        """Run a versioned UPDATE for many outages; fail as the unit of work would if any moved on."""
        connection = self.session.connection()
        result = connection.execute(statement, rows)
        if connection.dialect.supports_sane_multi_rowcount and result.rowcount != len(rows):
            raise StaleDataError(
                f"outages changed by someone else while analysis ran: {len(rows) - result.rowcount} "
                f"of {len(rows)} were not updated"
            )

    def supply_loss(self, report: IncomingReport) -> bool:
        """Attach to the outage covering this customer, open a nested one, or hold as pending."""
        assert report.transformer is not None
        outage = self.covering(report.transformer)
        if outage is not None:
            self._gather(outage, report)
            return False
        restored = self._recently_restored_above(report.transformer, report.reported_at)
        if restored is not None:
            # Power came back upstream but not here: a second fault the first repair uncovered.
            outage = self.create(report.transformer, report.reported_at, OutageState.PREDICTED)
            outage.nested = True
            outage.nested_in_id = restored.id
            self.result.nested.append(outage.id)
            self.attach(outage, [report.id], report.reported_at, hazard=report.kind == ReportKind.HAZARD)
            return False
        service = self._service_of(report.transformer, report.customer_id)
        if service is not None:
            # The same customer calling again: their outage, whatever the time since.
            self._gather(service, report)
            return True  # the transformer's calls are weighed again (threshold and share)
        self.pending.setdefault(report.transformer, []).append(
            (report.id, report.customer_id, report.reported_at)
        )
        if report.kind == ReportKind.HAZARD:
            self.hazard_reports.add(report.id)
        return True

    def _recently_restored_above(self, index: int, at: datetime) -> Outage | None:
        if not self.restored_at_device:
            return None  # nothing restored lately near this batch: no walk per uncovered call
        candidates = [
            (outage.restored_at, outage)
            for node in self._path(index)
            for outage in self.restored_at_device.get(node, [])
            if outage.restored_at is not None and at - self.rules.nested_window <= outage.restored_at <= at
        ]
        latest = max(candidates, key=lambda candidate: candidate[0], default=None)
        return None if latest is None else latest[1]

    def _recent_pending(self, transformer: int) -> list[tuple[int, int | None, datetime]]:
        """Pending calls on a transformer close enough in time to the newest to be one event."""
        calls = self.pending.get(transformer, [])
        if not calls:
            return []
        newest = max(c[2] for c in calls)
        return [c for c in calls if c[2] >= newest - self.rules.window]

    def predict(self, transformer: int) -> None:
        """Predict the transformer out when enough of its customers called at about one time.

        Its service outages count their customers as callers; once the threshold is met they are
        rolled up into the transformer's outage like the pending calls (`absorb_into_new`).
        """
        calls = self._recent_pending(transformer)
        services = self._recent_services(transformer, calls)
        if (calls or services) and self.covering(transformer) is None:
            callers = {c[1] if c[1] is not None else -c[0] for c in calls}
            callers |= {s.customer_id for s in services if s.customer_id is not None}
            needed = 1 if self.model.customers_below[transformer] <= 1 else self.rules.calls_to_predict
            hazard = any(c[0] in self.hazard_reports for c in calls) or any(s.hazard for s in services)
            if len(callers) >= needed or hazard:
                self.absorb_into_new(transformer, [])

    def _service_of(self, transformer: int, customer_id: int | None) -> AnyOutage | None:
        if customer_id is None:
            return None
        return self.services.get(transformer, {}).get(customer_id)

    def _recent_services(
        self, transformer: int, calls: list[tuple[int, int | None, datetime]]
    ) -> list[AnyOutage]:
        """Service outages on a transformer close enough in time to its newest call to be one event."""
        services = list(self.services.get(transformer, {}).values())
        if not services:
            return []
        newest = max([s.last_report_at or s.first_report_at for s in services] + [c[2] for c in calls])
        return [s for s in services if (s.last_report_at or s.first_report_at) >= newest - self.rules.window]

    def open_service_outages(self, transformers: set[int]) -> None:
        """Each customer whose call no outage took opens (or joins) their own service outage.

        A call with no customer (a location only) stays waiting on its transformer: an outage
        without a customer could not be told from the transformer's own, nor say who is out.
        """
        calls: dict[tuple[int, int], list[tuple[int, int | None, datetime]]] = {}
        for transformer in sorted(transformers):
            if self.covering(transformer) is not None:
                continue
            left = [c for c in self.pending.get(transformer, []) if c[1] is None]
            for call in self.pending.get(transformer, []):
                if call[1] is not None:
                    calls.setdefault((transformer, call[1]), []).append(call)
            if left:
                self.pending[transformer] = left
            else:
                self.pending.pop(transformer, None)
        new = [key for key in calls if self._service_of(*key) is None]
        facts = customer_facts(self.session, [customer for _, customer in new])
        for key, own in calls.items():
            outage = self._service_of(*key)
            if outage is None:
                outage = self.create_service(key[0], key[1], min(c[2] for c in own), facts.get(key[1]))
            hazard = any(c[0] in self.hazard_reports for c in own)
            self.attach(outage, [c[0] for c in own], max(c[2] for c in own), hazard=hazard)

    def roll_up(self, starts: set[int]) -> None:
        """Move predictions up the network, each device considered once, deepest first.

        Only a protective device (breaker, recloser, sectionaliser, fuse) is predicted out: a
        load-break switch or disconnector clears no fault, so roll-up passes through it to the
        device above. An open switch stops it: what hangs below was switched out, not faulted.
        """
        depth = {i: len(self._path(i)) for i in starts}
        queue = [(-depth[i], int(self.net.parent[i])) for i in starts if self.net.parent[i] >= 0]
        heapq.heapify(queue)
        seen: set[int] = set()
        while queue:
            negative_depth, parent = heapq.heappop(queue)
            if parent in seen:
                continue
            seen.add(parent)
            if parent in self.open_now or self._telemetry_closed(parent):
                continue  # switched out, or telemetry says the fault is below it
            passes = self.net.kinds[parent] not in _PREDICTED_OR_SOURCE
            if (passes or self.roll_up_to(parent)) and self.net.parent[parent] >= 0:
                heapq.heappush(queue, (negative_depth + 1, int(self.net.parent[parent])))

    def roll_up_to(self, parent: int) -> bool:
        """Predict `parent` out when enough below it is out at about the same time."""
        if self.net.kinds[parent] == DeviceKind.SUBSTATION:
            return False
        if self._telemetry_closed(parent):
            return False  # telemetry says this switch is closed: the fault is below it
        if self.covering(parent) is not None:
            return False
        below = self._below(parent)
        self._load_outages(set(below))
        # Only what happened close together in time is one event: outages below that were
        # last reported long before the newest activity are a different story.
        recent_below = self._within_window(self._outages_below(below) + self._services_below(below))
        # A service outage is one customer, not a child device out: its calls count in the share.
        children = set(self._protected_children(parent))
        recent_children = [
            o for o in recent_below if o.customer_id is None and self.net.index_of[o.device_id] in children
        ]
        reporters = sum(o.report_count for o in recent_below) + sum(
            len(self._recent_pending(b)) for b in below if b in self.pending
        )
        share = reporters / max(int(self.model.customers_below[parent]), 1)
        if len(recent_children) < self.rules.children_to_roll_up and share < self.rules.share_to_roll_up:
            return False
        self.absorb_into_new(parent, below)
        return True

    def _telemetry_closed(self, index: int) -> bool:
        return bool(self.model.telemetered[index]) and self.switch_state.get(index) == SwitchState.CLOSED

    def _within_window(self, outages: list[AnyOutage]) -> list[AnyOutage]:
        if not outages:
            return []
        newest = max(o.last_report_at or o.first_report_at for o in outages)
        return [o for o in outages if (o.last_report_at or o.first_report_at) >= newest - self.rules.window]

    def _outages_below(self, below: list[int]) -> list[AnyOutage]:
        return [self.outage_at[b] for b in below if b in self.outage_at]

    def _services_below(self, below: list[int]) -> list[AnyOutage]:
        return [s for b in below if b in self.services for s in self.services[b].values()]

    def _protected_children(self, parent: int) -> list[int]:
        """The devices right below `parent` that an outage can stand at, looking through the
        switches roll-up passes (a load-break switch or disconnector between them), not open ones."""
        found: list[int] = []
        stack = list(self.children.get(parent, []))
        while stack:
            child = stack.pop()
            if self.net.kinds[child] in PROTECTIVE_KINDS or self.net.kinds[child] == DeviceKind.TRANSFORMER:
                found.append(child)
            elif child not in self.open_now:
                stack.extend(self.children.get(child, []))
        return found

    def absorb_into_new(
        self,
        index: int,
        below: list[int],
        state: OutageState = OutageState.PREDICTED,
        at: datetime | None = None,
    ) -> Outage:
        """One outage at `index` takes over every active outage and pending call below it, and the
        service outages at it and below it (a transformer's own customers' lone calls)."""
        under = [index, *below]
        absorbed = self._outages_below(below) + self._services_below(under)
        pending = [c for b in under for c in self._recent_pending(b)]
        times = [o.first_report_at for o in absorbed] + [c[2] for c in pending] + ([at] if at else [])
        outage = self.create(index, min(times), furthest([state, *(o.state for o in absorbed)]))
        for stamp in ("confirmed_at", "dispatched_at", "en_route_at", "on_site_at"):
            values = [getattr(o, stamp) for o in absorbed if getattr(o, stamp) is not None]
            if values:
                setattr(outage, stamp, min(values))
        confirmers = [o.confirmed_by for o in absorbed if o.confirmed_by]
        if confirmers and outage.confirmed_by is None:
            outage.confirmed_by = confirmers[0]
        outage.hazard = any(o.hazard for o in absorbed) or any(c[0] in self.hazard_reports for c in pending)
        outage.report_count = sum(o.report_count for o in absorbed)
        outage.last_report_at = max([o.last_report_at or o.first_report_at for o in absorbed] + times)
        etrs = [(o.etr_at, o) for o in absorbed if o.etr_at is not None]
        if etrs:
            _, latest = max(etrs, key=lambda etr: etr[0])  # the most conservative estimate stands
            outage.etr_at, outage.etr_source = latest.etr_at, latest.etr_source
            outage.etr_confidence, outage.etr_set_at = latest.etr_confidence, latest.etr_set_at
        absorbed_ids = [o.id for o in absorbed]
        absorbed_set = set(absorbed_ids)
        if absorbed_set:  # most transformer predictions take over pending calls only
            self._carry_breaches(absorbed_ids, outage)
            for report_id, (linked, status) in self.report_links.items():
                if linked in absorbed_set:
                    self.report_links[report_id] = (outage.id, status)
        for old in absorbed:
            before = {"state": str(old.state)}
            old.state = OutageState.MERGED
            self.merges.append((old, outage))
            at_index = self.net.index_of[old.device_id]
            if old.customer_id is None:
                del self.outage_at[at_index]
            else:
                del self.services[at_index][old.customer_id]
            self.result.merged.append(old.id)
            self._audit("outage.merge", old, before, detail=f"merged into outage {outage.id}")
        if outage.id not in self.result.predicted and state == OutageState.PREDICTED:
            self.result.predicted.append(outage.id)
        self.attach(outage, [c[0] for c in pending], outage.last_report_at, hazard=False)
        for b in under:
            self.pending.pop(b, None)
        return outage

    def _carry_breaches(self, absorbed_ids: list[int], outage: Outage) -> None:
        """A clock that already breached stays breached in the outage that took it over, so the
        duty manager is not told twice about one lateness."""
        # Outages opened in this batch have no stored breaches, only those carried into them
        # earlier in the batch (not flushed yet): most absorbed outages of a storm need no query.
        stored = [i for i in absorbed_ids if i not in self.created_ids]
        found = [breach for i in absorbed_ids for breach in self.carried_breaches.get(i, [])]
        if stored:
            found.extend(
                self.session.scalars(
                    select(SlaBreach).where(
                        SlaBreach.subject_kind == "outage", SlaBreach.subject_id.in_(stored)
                    )
                )
            )
        earliest: dict[str, SlaBreach] = {}
        for breach in found:
            if breach.code not in earliest or breach.breached_at < earliest[breach.code].breached_at:
                earliest[breach.code] = breach
        for code, breach in earliest.items():
            carried = SlaBreach(
                subject_kind="outage",
                subject_id=outage.id,
                code=code,
                deadline=breach.deadline,
                breached_at=breach.breached_at,
                notified_at=breach.notified_at,
            )
            self.session.add(carried)
            self.carried_breaches.setdefault(outage.id, []).append(carried)

    def device_opened(self, report: IncomingReport) -> None:
        assert report.device is not None
        self._set_switch(report.device, SwitchState.OPEN, report.reported_at)
        outage = self.outage_at.get(report.device)
        if outage is not None:
            if outage.confirmed_at is None:
                outage = self._mapped(report.device)
                before = {"state": str(outage.state)}
                outage.confirmed_at = report.reported_at
                outage.confirmed_by = "scada"
                if outage.state in (OutageState.REPORTED, OutageState.PREDICTED):
                    outage.state = OutageState.CONFIRMED
                self.result.confirmed.append(outage.id)
                self._audit("outage.confirm", outage, before, detail="SCADA: device opened")
            self.attach(outage, [report.id], report.reported_at, hazard=False)
            return
        outage = self.absorb_into_new(
            report.device, self._below(report.device), OutageState.CONFIRMED, at=report.reported_at
        )
        outage.confirmed_at = min(report.reported_at, outage.confirmed_at or report.reported_at)
        outage.confirmed_by = "scada"
        if outage.id in self.result.predicted:
            self.result.predicted.remove(outage.id)
        self.result.confirmed.append(outage.id)
        self.attach(outage, [report.id], report.reported_at, hazard=False)

    def device_closed(self, report: IncomingReport) -> None:
        assert report.device is not None
        self._set_switch(report.device, SwitchState.CLOSED, report.reported_at)
        outage = self.outage_at.get(report.device)
        self._set_report(report.id, outage, ReportStatus.INFORMATIONAL)
        if outage is None:
            return
        outage = self._mapped(report.device)
        before = {"state": str(outage.state)}
        still_out = outage.customers_affected - outage.customers_restored
        if still_out > 0:
            record_restoration(
                self.session,
                outage,
                report.reported_at,
                still_out,
                "scada",
                note="SCADA: device closed",
                device_id=int(self.net.ids[report.device]),
            )
        del self.outage_at[report.device]
        self.result.restored.append(outage.id)
        self._audit("outage.restore", outage, before, detail="SCADA: device closed")

    # writing ---------------------------------------------------------------------------------

    def create(self, index: int, first_report_at: datetime, state: OutageState) -> Outage:
        now = self.clock.now()
        outage = Outage(
            id=self.outage_ids.take()[0],
            state=state,
            device_id=int(self.net.ids[index]),
            district_id=int(self.model.district[index]) if self.model.district[index] >= 0 else None,
            first_report_at=first_report_at,
            last_report_at=first_report_at,
            predicted_at=now,
            customers_affected=int(self.model.customers_below[index]),
            customers_restored=0,
            predicted_device_id=int(self.net.ids[index]),
            weighted_customers=float(self.model.weight_below[index]),
            important_affected=self.model.important_at(index),
            report_count=0,
            hazard=False,
            nested=False,
        )
        self.session.add(outage)
        self.created_ids.add(outage.id)
        self.outage_at[index] = outage
        self._audit("outage.predict" if state == OutageState.PREDICTED else "outage.open", outage, None)
        return outage

    def create_service(
        self, transformer: int, customer_id: int, first_report_at: datetime, facts: CustomerFacts | None
    ) -> Outage:
        """A service outage: one customer out at their transformer, with the clocks of any outage."""
        district = int(self.model.district[transformer])
        outage = Outage(
            id=self.outage_ids.take()[0],
            state=OutageState.PREDICTED,
            device_id=int(self.net.ids[transformer]),
            customer_id=customer_id,
            # Counted where the customer lives (`reporting.outage_figures`), not where the device is.
            district_id=facts.district_id if facts else (district if district >= 0 else None),
            first_report_at=first_report_at,
            last_report_at=first_report_at,
            predicted_at=self.clock.now(),
            customers_affected=1,
            customers_restored=0,
            predicted_device_id=int(self.net.ids[transformer]),
            weighted_customers=facts.weight if facts else 1.0,
            important_affected=facts.important if facts else {},
            report_count=0,
            hazard=False,
            nested=False,
        )
        self.session.add(outage)
        self.created_ids.add(outage.id)
        self.services.setdefault(transformer, {})[customer_id] = outage
        self.result.predicted.append(outage.id)
        self._audit("outage.predict", outage, None, detail="service outage: one customer's call")
        return outage

    def _gather(self, outage: AnyOutage, report: IncomingReport) -> None:
        """Attach a report of this batch to the active outage that covers it, counted later.

        Most of a storm's batch joins outages already there; the counts and times go onto each
        outage once per batch (`_count_gathered`) instead of as ORM attribute writes per report.
        """
        self.report_links[report.id] = (outage.id, ReportStatus.GROUPED)
        at, hazard = report.reported_at, report.kind == ReportKind.HAZARD
        gathered = self.gathered.get(outage.id)
        if gathered is None:
            self.gathered[outage.id] = _Gathered(outage, 1, at, at, hazard)
            return
        # Analysis takes a batch's reports in time order: the first gathered is the earliest.
        gathered.count += 1
        gathered.last = at
        gathered.hazard = gathered.hazard or hazard

    def _count_gathered(self) -> None:
        for gathered in self.gathered.values():
            self._count(gathered.outage, gathered.count, gathered.first, gathered.last, gathered.hazard)
        self.gathered.clear()

    def attach(self, outage: AnyOutage, report_ids: list[int], at: datetime, *, hazard: bool) -> None:
        if report_ids:
            link = (outage.id, ReportStatus.GROUPED)
            stored_earlier = []
            for report_id in report_ids:
                if report_id in self.batch_ids:
                    self.report_links[report_id] = link
                else:
                    stored_earlier.append(report_id)
            if stored_earlier:
                self.after_flush.append(
                    update(_REPORTS)
                    .where(_REPORTS.c.id.in_(stored_earlier))
                    .values(outage_id=outage.id, status=ReportStatus.GROUPED)
                )
        self._count(outage, len(report_ids), at, at, hazard)

    def _count(self, outage: AnyOutage, reports: int, first: datetime, last: datetime, hazard: bool) -> None:
        """Add attached reports to an outage's count, times and hazard flag."""
        if reports:
            outage.report_count += reports
            self.result.grouped_reports += reports
        # Attribute writes on a mapped object are not free: each is made only when it changes.
        newest = outage.last_report_at
        if newest is None or last > newest:
            outage.last_report_at = last
        if first < outage.first_report_at:
            outage.first_report_at = first
        if hazard and not outage.hazard:
            outage.hazard = True

    def _set_report(self, report_id: int, outage: AnyOutage | None, status: ReportStatus) -> None:
        self.report_links[report_id] = (outage.id if outage is not None else None, status)

    def _set_switch(self, index: int, state: SwitchState, at: datetime) -> None:
        self.switch_state[index] = state
        self.session.execute(
            update(Device)
            .where(Device.id == int(self.net.ids[index]))
            .values(scada_state=state, scada_state_at=at, version=Device.version + 1)
        )

    def _audit(
        self, action: str, outage: AnyOutage, before: dict[str, Any] | None, detail: str | None = None
    ) -> None:
        """Audit a change to an outage; the batch's rows are written together in `_write`."""
        self.audit_rows.append(
            audit.values(
                self.clock,
                Actor(TCA_ACTOR, "system"),
                action,
                "outage",
                outage.id,
                before=before,
                after={
                    "state": str(outage.state),
                    "device_id": outage.device_id,
                    "customers_affected": outage.customers_affected,
                },
                detail=detail,
            )
        )


def analyse_reports(
    session: Session, clock: Clock, model: NetworkModel, reports: list[IncomingReport]
) -> AnalysisResult:
    """Group a batch of new reports into outages on the network, inside the intake transaction.

    The reports have their ids but are not stored yet: the caller stores them afterwards with the
    outage and status in `report_links`, so each report row is written once.
    """
    if not reports:
        return AnalysisResult()
    return _Analysis(session, clock, model, TcaRules.from_settings(session)).run(reports)
