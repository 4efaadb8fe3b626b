"""Commands on mutual-aid crews: import a lender's roster, check crews in, release them, and the
one-time links that sign their leaders in (emergency.dispatch.mutual_aid, emergency.dispatch.crew_links)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.exc import IntegrityError

from emergency.app.bus import handles
from emergency.app.context import Context
from emergency.core.errors import Conflict
from emergency.core.unit_of_work import unit_of_work
from emergency.dispatch import crew_links, mutual_aid
from emergency.dispatch.crew_links import LinkSignIn, LinkState, NewLink
from emergency.dispatch.mutual_aid import MUTUAL_AID_ROLES, CheckIn, ReleaseResult, RosterResult

# A phone opening a link is the public until the link signs its leader in.
LINK_ROLES = ("public",)


@dataclass(frozen=True)
class ImportRoster:
    """A lending utility's roster (CSV or XLSX bytes); all crews or none."""

    content: bytes
    filename: str = ""


@handles(ImportRoster)
def import_roster(ctx: Context, cmd: ImportRoster) -> RosterResult:
    # The role first, then the file is read and checked before the writing transaction opens.
    ctx.actor.require(*MUTUAL_AID_ROLES)
    roster = mutual_aid.read_roster(cmd.content, cmd.filename)
    try:
        with unit_of_work(ctx.db, ctx.actor, MUTUAL_AID_ROLES, against_analysis=True) as session:
            return mutual_aid.import_roster(session, ctx.clock, ctx.actor, roster)
    except IntegrityError as error:
        # Someone stored one of these crew codes between the check and the write (the same roster
        # imported twice at once): the whole roster was rolled back.
        raise Conflict(
            "a crew code in this roster was stored by someone else at the same moment; nothing was "
            "imported: reload the page and import it again"
        ) from error


@dataclass(frozen=True)
class CheckInCrews:
    """Crews seen at their staging depot (each with the version the user saw and its head count),
    at `arrived_at` (UTC; now when None). All of them or none."""

    arrivals: tuple[CheckIn, ...]
    arrived_at: datetime | None = None


@handles(CheckInCrews)
def check_in_crews(ctx: Context, cmd: CheckInCrews) -> tuple[str, ...]:
    """The codes of the crews checked in."""
    with unit_of_work(ctx.db, ctx.actor, MUTUAL_AID_ROLES, against_analysis=True) as session:
        crews = mutual_aid.check_in(session, ctx.clock, ctx.actor, cmd.arrivals, cmd.arrived_at)
        return tuple(c.code for c in crews)


@dataclass(frozen=True)
class ReleaseCrews:
    """Release these (crew id, version seen) crews; those with open work stay, each with why."""

    crews: tuple[tuple[int, int], ...]


@handles(ReleaseCrews)
def release_crews(ctx: Context, cmd: ReleaseCrews) -> ReleaseResult:
    with unit_of_work(ctx.db, ctx.actor, MUTUAL_AID_ROLES, against_analysis=True) as session:
        return mutual_aid.release(session, ctx.clock, ctx.actor, cmd.crews)


@dataclass(frozen=True)
class CreateCrewLink:
    """A one-time sign-in link for the crew's leader (the token is in the answer only)."""

    crew_id: int


@handles(CreateCrewLink)
def create_crew_link(ctx: Context, cmd: CreateCrewLink) -> NewLink:
    with unit_of_work(ctx.db, ctx.actor, MUTUAL_AID_ROLES) as session:
        return crew_links.create_link(session, ctx.clock, ctx.actor, cmd.crew_id)


@dataclass(frozen=True)
class UseCrewLink:
    """A phone presents a link's token: its leader is signed in, or told why not."""

    token: str
    user_agent: str | None = None


@handles(UseCrewLink)
def use_crew_link(ctx: Context, cmd: UseCrewLink) -> LinkSignIn | LinkState:
    with unit_of_work(ctx.db, ctx.actor, LINK_ROLES) as session:
        return crew_links.use_link(session, ctx.clock, cmd.token, cmd.user_agent)
