"""Import a utility's own territory: districts (GeoJSON), network, customers and crews (CSV).

The import is all or nothing. Every file is read and checked first (`import_files`, `import_check`)
and each problem is collected as a `Problem` naming the file, line and column; only when there are
none is anything written, in one transaction (`import_write`). The application layer's
`ImportTerritory` command runs the two steps: `read_territory` outside the transaction, then
`store_territory` inside it.

The file formats are documented column by column in docs/import-format.md; keep the two in step.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.orm import Session

from emergency.core import audit
from emergency.core.actor import Actor
from emergency.core.clock import Clock
from emergency.core.errors import Conflict, InvalidInput, Problem
from emergency.core.models import Role
from emergency.core.settings import bump_territory_revision, get_setting
from emergency.network.gis_read import parse_crs
from emergency.network.import_check import (
    ImportFiles,
    parse_crews,
    parse_customers,
    parse_districts,
    parse_network,
)
from emergency.network.import_files import ParsedFile, ProblemLog
from emergency.network.import_write import (
    ImportCounts,
    ImportSummary,
    StoredTerritory,
    reconcile,
    write_plan,
)
from emergency.network.trace import retrace

__all__ = [
    "IMPORT_ROLES",
    "ImportCounts",
    "ImportRejected",
    "ImportSummary",
    "TerritoryRead",
    "read_territory",
    "store_territory",
]

IMPORT_ROLES = (Role.ADMIN,)
# Where a problem with the --crs option is reported (it is no file).
CRS_OPTION = "--crs"
# Problems listed by str(ImportRejected); the exception's `errors` holds all that were kept.
MAX_ERRORS_SHOWN = 50


class ImportRejected(InvalidInput):
    """The files were refused; nothing was written. `errors` lists the problems in file order."""

    def __init__(self, errors: Sequence[Problem], omitted: int = 0) -> None:
        self.errors = list(errors)
        # Problems found beyond MAX_ERRORS_KEPT: counted, not kept.
        self.omitted = omitted
        total = len(self.errors) + omitted
        super().__init__(f"import refused: {total} problem{'s' if total != 1 else ''}, nothing was written")

    def __str__(self) -> str:
        lines = [self.reason]
        lines.extend(str(error) for error in self.errors[:MAX_ERRORS_SHOWN])
        hidden = len(self.errors) - MAX_ERRORS_SHOWN
        if hidden > 0 or self.omitted:
            lines.append(f"... and {max(hidden, 0) + self.omitted} more")
        return "\n".join(lines)


@dataclass
class TerritoryRead:
    """The files as read and parsed, with every problem found so far; nothing stored yet."""

    files: ImportFiles
    problems: ProblemLog
    paths: list[Path]
    # False when the files were not read at all (a wrong --crs): nothing to check them against.
    read: bool = True


def read_territory(
    *,
    network: Path,
    customers: Path,
    crews: Path | None = None,
    districts: Path | None = None,
    crs: str | None = None,
) -> TerritoryRead:
    """Read and check every file on its own; needs no database (and so holds no lock).

    `crs` names the coordinate system of files that state none (CSV, a Shapefile without .prj);
    positions are reprojected to WGS84. A name pyproj does not know refuses the import.
    """
    paths = [Path(p) for p in (districts, network, customers, crews) if p is not None]
    problems = ProblemLog()
    source = None
    if crs is not None:
        try:
            source = parse_crs(crs)
        except ValueError as exc:
            problems.add(CRS_OPTION, None, "", str(exc))
            return TerritoryRead(
                _unread(network, customers), problems, [*paths, Path(CRS_OPTION)], read=False
            )
    files = ImportFiles(
        districts=parse_districts(Path(districts), problems) if districts is not None else None,
        network=parse_network(Path(network), problems, source),
        customers=parse_customers(Path(customers), problems, source),
        crews=parse_crews(Path(crews), problems, source) if crews is not None else None,
    )
    return TerritoryRead(files, problems, paths)


def _unread(network: Path, customers: Path) -> ImportFiles:
    """No file read: the --crs option they would be read with is wrong."""
    return ImportFiles(
        districts=None,
        network=ParsedFile(str(network), [], readable=False),
        customers=ParsedFile(str(customers), [], readable=False),
        crews=None,
    )


def store_territory(session: Session, clock: Clock, actor: Actor, read: TerritoryRead) -> ImportSummary:
    """Check the files against each other and the database, then write them, in the caller's
    writing transaction (so the state checked is the state written on).

    Raises ImportRejected listing every problem found (nothing written), Conflict on the demo.
    """
    if get_setting(session, "territory.is_demo"):
        # A utility's customers mixed into invented ones would be neither demo nor real.
        raise Conflict("this database holds the demo territory; import into a new database")
    problems = read.problems
    if not read.read:
        raise ImportRejected(problems.sorted([str(p) for p in read.paths]), problems.omitted)
    stored = StoredTerritory.load(session)
    plan = reconcile(read.files, stored, problems)
    if problems or plan is None:
        raise ImportRejected(problems.sorted([str(p) for p in read.paths]), problems.omitted)
    summary = write_plan(session, clock, plan, stored)
    bump_territory_revision(session, clock, actor.username)
    # The plan placed devices by the normal states; a switch operated now (SCADA, switching)
    # keeps the supply where it is until it is switched back.
    retrace(session, clock, actor.username)
    audit.record(
        session,
        clock,
        actor,
        "territory.import",
        "territory",
        after=summary.to_dict(),
        detail="files: " + ", ".join(p.name for p in read.paths),
    )
    return summary
