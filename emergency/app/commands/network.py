"""Commands on the territory: importing a utility's files, and the register of important users."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.orm.exc import StaleDataError

from emergency.app.bus import handles
from emergency.app.context import Context
from emergency.core.errors import Conflict
from emergency.core.unit_of_work import unit_of_work
from emergency.network import important_users, importer
from emergency.network.important_users import ImportantUserInput, ImportResult
from emergency.network.importer import ImportSummary


@dataclass(frozen=True)
class ImportTerritory:
    """Load a utility's districts, network, customers and crews; all or nothing."""

    network: Path
    customers: Path
    crews: Path | None = None
    districts: Path | None = None
    crs: str | None = None  # the coordinate system of files that state none (--crs)


@handles(ImportTerritory)
def import_territory(ctx: Context, cmd: ImportTerritory) -> ImportSummary:
    """Raises ImportRejected listing every problem (nothing written), Conflict on the demo."""
    # The files are read and checked before the writing transaction opens: parsing a million
    # customers needs no lock. The role is checked before anything is read.
    ctx.actor.require(*importer.IMPORT_ROLES)
    read = importer.read_territory(
        network=cmd.network, customers=cmd.customers, crews=cmd.crews, districts=cmd.districts, crs=cmd.crs
    )
    with unit_of_work(ctx.db, ctx.actor, importer.IMPORT_ROLES) as session:
        return importer.store_territory(session, ctx.clock, ctx.actor, read)


@dataclass(frozen=True)
class RegisterImportantUser:
    """Put a customer account on the register; the handler returns the customer id."""

    account_no: str
    details: ImportantUserInput


@handles(RegisterImportantUser)
def register_important_user(ctx: Context, cmd: RegisterImportantUser) -> int:
    with unit_of_work(ctx.db, ctx.actor, important_users.EDIT_ROLES) as session:
        return important_users.register_important_user(
            session, ctx.clock, ctx.actor, cmd.account_no, cmd.details
        )


@dataclass(frozen=True)
class EditImportantUser:
    """Change a registered user as last seen at `expected_version`; grade "none" (and a kind
    other than life support) takes the user off the register."""

    customer_id: int
    expected_version: int
    details: ImportantUserInput


@handles(EditImportantUser)
def edit_important_user(ctx: Context, cmd: EditImportantUser) -> None:
    try:
        with unit_of_work(ctx.db, ctx.actor, important_users.EDIT_ROLES) as session:
            important_users.update_important_user(
                session,
                ctx.clock,
                ctx.actor,
                cmd.customer_id,
                cmd.details,
                expected_version=cmd.expected_version,
            )
    except StaleDataError as error:
        raise Conflict(important_users.CHANGED_FIRST) from error


@dataclass(frozen=True)
class ImportImportantUsers:
    """Register or update important users from a CSV file's bytes; all or nothing."""

    content: bytes


@handles(ImportImportantUsers)
def import_important_users(ctx: Context, cmd: ImportImportantUsers) -> ImportResult:
    # Read and checked row by row before the writing transaction; the role is checked first.
    ctx.actor.require(*important_users.EDIT_ROLES)
    read = important_users.read_register_csv(cmd.content)
    with unit_of_work(ctx.db, ctx.actor, important_users.EDIT_ROLES) as session:
        return important_users.import_register(session, ctx.clock, ctx.actor, read)
