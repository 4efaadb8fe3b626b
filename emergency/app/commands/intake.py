"""Commands of intake: reports from the call centre, the app, meters, SCADA, staff and the web form."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from emergency.app.bus import handles
from emergency.app.context import Context
from emergency.core.unit_of_work import unit_of_work
from emergency.intake import ingest_file, reports
from emergency.intake.ingest_file import DEFAULT_BATCH, IngestSummary
from emergency.intake.reports import IntakeResult


@dataclass(frozen=True)
class SubmitReports:
    """A batch of reports as received (JSON-like objects), each validated on its own: the good
    ones are stored and analysed even when others are refused."""

    items: tuple[Any, ...]


@handles(SubmitReports)
def submit_reports(ctx: Context, cmd: SubmitReports) -> IntakeResult:
    """Validate, store and analyse the batch in one transaction, analysis locked out meanwhile."""
    ctx.actor.require(*reports.INTAKE_ROLES)
    refused = reports.too_many(cmd.items)
    if refused is not None:
        return refused
    with unit_of_work(ctx.db, ctx.actor, reports.INTAKE_ROLES, against_analysis=True) as session:
        return reports.receive_reports(
            session, ctx.clock, ctx.actor, cmd.items, tz=ctx.tz, model_key=ctx.db.url
        )


@dataclass(frozen=True)
class IngestFile:
    """`python -m emergency ingest FILE`: the reports of a CSV or JSON Lines file, in batches."""

    path: Path
    batch_size: int = DEFAULT_BATCH


@handles(IngestFile)
def ingest(ctx: Context, cmd: IngestFile) -> IngestSummary:
    """Each batch is submitted as `SubmitReports`; problems are collected in the summary."""
    # Intake checks the role again for each batch; checking here first keeps a refused caller
    # from learning whether a path exists or what it holds.
    ctx.actor.require(*reports.INTAKE_ROLES)
    return ingest_file.ingest_file(
        cmd.path, lambda items: submit_reports(ctx, SubmitReports(tuple(items))), cmd.batch_size
    )
