"""Warning commands: draft, edit, discard, issue, update, cancel and import a CAP alert; expire those past
their time (the server's periodic loop, as the system); the outreach ladder; crew pre-positioning.

Each handler checks the role, opens the one transaction and calls the warnings domain with its
session; the domain writes the audit events. Each command that changes something a user saw
carries the version they saw, and a stale one is refused with a Conflict.
"""

from __future__ import annotations

from dataclasses import dataclass

from emergency.app.bus import handles
from emergency.app.context import Context
from emergency.core.errors import Conflict, InvalidInput, NotFound
from emergency.core.unit_of_work import unit_of_work
from emergency.warnings import cap_import, lifecycle, outreach, prepositioning
from emergency.warnings.cap_import import ImportOutcome
from emergency.warnings.lifecycle import WARNING_ROLES, PublishResult
from emergency.warnings.outreach import OUTREACH_ROLES, OutreachOutcome
from emergency.warnings.prepositioning import PREPOSITION_ROLES, Move
from emergency.warnings.records import WarningInput

# Expiry is the server's own periodic work, never a user's.
EXPIRY_ROLES = ("system",)


# --- the warning's lifecycle -------------------------------------------------------------------


@dataclass(frozen=True)
class CreateWarning:
    """A new draft; nothing is sent until it is issued."""

    data: WarningInput


@handles(CreateWarning)
def create_warning(ctx: Context, cmd: CreateWarning) -> int:
    with unit_of_work(ctx.db, ctx.actor, WARNING_ROLES) as session:
        return lifecycle.create_warning(session, ctx.clock, ctx.actor, cmd.data)


@dataclass(frozen=True)
class EditDraft:
    warning_id: int
    expected_version: int
    data: WarningInput


@handles(EditDraft)
def edit_draft(ctx: Context, cmd: EditDraft) -> None:
    with unit_of_work(ctx.db, ctx.actor, WARNING_ROLES) as session:
        lifecycle.edit_draft(
            session, ctx.clock, ctx.actor, cmd.warning_id, cmd.data, expected_version=cmd.expected_version
        )


@dataclass(frozen=True)
class IssueWarning:
    """Publish a draft: CAP Alert, notices, outreach list and, if declared, disaster mode."""

    warning_id: int
    expected_version: int


@handles(IssueWarning)
def issue_warning(ctx: Context, cmd: IssueWarning) -> PublishResult:
    with unit_of_work(ctx.db, ctx.actor, WARNING_ROLES) as session:
        return lifecycle.issue_warning(
            session, ctx.clock, ctx.actor, cmd.warning_id, expected_version=cmd.expected_version, tz=ctx.tz
        )


@dataclass(frozen=True)
class UpdateWarning:
    """Publish a change to a warning in force (CAP Update)."""

    warning_id: int
    expected_version: int
    data: WarningInput


@handles(UpdateWarning)
def update_warning(ctx: Context, cmd: UpdateWarning) -> PublishResult:
    with unit_of_work(ctx.db, ctx.actor, WARNING_ROLES) as session:
        return lifecycle.update_warning(
            session,
            ctx.clock,
            ctx.actor,
            cmd.warning_id,
            cmd.data,
            expected_version=cmd.expected_version,
            tz=ctx.tz,
        )


@dataclass(frozen=True)
class CancelWarning:
    warning_id: int
    expected_version: int
    reason: str


@handles(CancelWarning)
def cancel_warning(ctx: Context, cmd: CancelWarning) -> None:
    with unit_of_work(ctx.db, ctx.actor, WARNING_ROLES) as session:
        lifecycle.cancel_warning(
            session, ctx.clock, ctx.actor, cmd.warning_id, cmd.reason, expected_version=cmd.expected_version
        )


@dataclass(frozen=True)
class DiscardDraft:
    """Throw an unpublished draft away (a warning in force is cancelled, with a reason, instead)."""

    warning_id: int
    expected_version: int


@handles(DiscardDraft)
def discard_draft(ctx: Context, cmd: DiscardDraft) -> None:
    with unit_of_work(ctx.db, ctx.actor, WARNING_ROLES) as session:
        lifecycle.discard_draft(
            session, ctx.clock, ctx.actor, cmd.warning_id, expected_version=cmd.expected_version
        )


@dataclass(frozen=True)
class ImportCapAlert:
    """An official CAP 1.2 message (the file's bytes, untrusted): an Alert becomes a draft to check
    and issue, an Update or Cancel changes the draft or warning made from the message it references
    (the rules: emergency.warnings.cap_import). `allow_test` takes a Test or Exercise message as a
    draft that is never issued; `origin` says where the file came from (kept with it)."""

    data: bytes
    allow_test: bool = False
    origin: str = "upload"


@handles(ImportCapAlert)
def import_cap_alert(ctx: Context, cmd: ImportCapAlert) -> ImportOutcome:
    """The outcome of a message taken; a refusal is raised (InvalidInput, with its reason) and the
    same message imported before is a Conflict, so a person importing by hand hears why."""
    # The role is checked before the file is read: a caller who may not create warnings learns
    # nothing about it either.
    with unit_of_work(ctx.db, ctx.actor, WARNING_ROLES) as session:
        outcome = cap_import.import_alert(
            session, ctx.clock, ctx.actor, cmd.data, origin=cmd.origin, allow_test=cmd.allow_test
        )
    if outcome.kind == "refused":
        raise InvalidInput(outcome.reason, field=outcome.field or outcome.reason_code)
    if outcome.kind == "duplicate":
        raise Conflict(
            f"CAP message {outcome.identifier} was already imported as warning {outcome.warning_id}"
        )
    return outcome


@dataclass(frozen=True)
class ChooseDraftLevel:
    """The manager's colour level for a draft (an imported alert may give none)."""

    warning_id: int
    expected_version: int
    level: str


@handles(ChooseDraftLevel)
def choose_draft_level(ctx: Context, cmd: ChooseDraftLevel) -> None:
    with unit_of_work(ctx.db, ctx.actor, WARNING_ROLES) as session:
        lifecycle.choose_draft_level(
            session, ctx.clock, ctx.actor, cmd.warning_id, cmd.level, expected_version=cmd.expected_version
        )


@dataclass(frozen=True)
class SetCapGeocodeDistricts:
    """Replace the utility's table of an alert's geocodes -> our districts, as
    (valueName, value, district code) rows; all or none."""

    rows: tuple[tuple[str, str, str], ...]


@handles(SetCapGeocodeDistricts)
def set_cap_geocode_districts(ctx: Context, cmd: SetCapGeocodeDistricts) -> int:
    with unit_of_work(ctx.db, ctx.actor, WARNING_ROLES) as session:
        return cap_import.set_geocode_districts(session, ctx.clock, ctx.actor, tuple(cmd.rows))


@dataclass(frozen=True)
class ExpireWarnings:
    """Mark warnings in force whose expiry time has passed as expired (the server's loop, as the system)."""


@handles(ExpireWarnings)
def expire_warnings(ctx: Context, _cmd: ExpireWarnings) -> tuple[int, ...]:
    with unit_of_work(ctx.db, ctx.actor, EXPIRY_ROLES) as session:
        return tuple(lifecycle.expire_warnings(session, ctx.clock))


# --- outreach to important users ---------------------------------------------------------------


@dataclass(frozen=True)
class EscalateOutreach:
    """Move a task up the ladder: message -> call -> visit."""

    task_id: int
    expected_version: int
    note: str = ""


@handles(EscalateOutreach)
def escalate_outreach(ctx: Context, cmd: EscalateOutreach) -> str:
    with unit_of_work(ctx.db, ctx.actor, OUTREACH_ROLES) as session:
        return outreach.escalate(
            session, ctx.clock, ctx.actor, cmd.task_id, expected_version=cmd.expected_version, note=cmd.note
        )


@dataclass(frozen=True)
class AcknowledgeOutreach:
    """Someone at the user's end (named in `by_whom`) has received the warning."""

    task_id: int
    expected_version: int
    by_whom: str
    note: str = ""


@handles(AcknowledgeOutreach)
def acknowledge_outreach(ctx: Context, cmd: AcknowledgeOutreach) -> None:
    with unit_of_work(ctx.db, ctx.actor, OUTREACH_ROLES) as session:
        outreach.acknowledge(
            session,
            ctx.clock,
            ctx.actor,
            cmd.task_id,
            cmd.by_whom,
            expected_version=cmd.expected_version,
            note=cmd.note,
        )


@dataclass(frozen=True)
class CompleteOutreach:
    """Close an acknowledged task: the user is reached and ready."""

    task_id: int
    expected_version: int
    note: str = ""


@handles(CompleteOutreach)
def complete_outreach(ctx: Context, cmd: CompleteOutreach) -> None:
    with unit_of_work(ctx.db, ctx.actor, OUTREACH_ROLES) as session:
        outreach.complete(
            session, ctx.clock, ctx.actor, cmd.task_id, expected_version=cmd.expected_version, note=cmd.note
        )


@dataclass(frozen=True)
class OutreachStepForMany:
    """One step (`escalate`, `acknowledge` or `complete`) for several users' tasks at once, each
    given as (task id, the version the manager saw)."""

    step: str
    tasks: tuple[tuple[int, int], ...]
    by_whom: str = ""
    note: str = ""


@handles(OutreachStepForMany)
def outreach_step_for_many(ctx: Context, cmd: OutreachStepForMany) -> tuple[OutreachOutcome, ...]:
    """Each task in its own transaction with its own audit event, like one done by hand: a task
    someone changed first (or already past this step) is reported with its reason and the others
    still move. Raises InvalidInput before anything moves for a step, name or note no task could take."""
    ctx.actor.require(*OUTREACH_ROLES)
    outreach.check_many(cmd.step, cmd.tasks, cmd.by_whom, cmd.note)
    take_step = outreach.step_for_many(cmd.step)
    outcomes: list[OutreachOutcome] = []
    for task_id, version in dict.fromkeys(cmd.tasks):  # a task chosen twice moves once
        try:
            with unit_of_work(ctx.db, ctx.actor, OUTREACH_ROLES) as session:
                take_step(session, ctx.clock, ctx.actor, task_id, version, cmd.by_whom, cmd.note)
        except (Conflict, NotFound) as refused:
            outcomes.append(OutreachOutcome(task_id, str(refused)))
        else:
            outcomes.append(OutreachOutcome(task_id))
    return tuple(outcomes)


# --- crew pre-positioning ----------------------------------------------------------------------


@dataclass(frozen=True)
class AcceptPrepositioning:
    """Base each crew at its staging depot; each move carries the crew's version at the suggestion."""

    moves: tuple[Move, ...]


@handles(AcceptPrepositioning)
def accept_prepositioning(ctx: Context, cmd: AcceptPrepositioning) -> int:
    with unit_of_work(ctx.db, ctx.actor, PREPOSITION_ROLES) as session:
        return prepositioning.accept_prepositioning(session, ctx.clock, ctx.actor, cmd.moves)
