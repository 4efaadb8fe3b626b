"""What partners read with a token (GET /api/partner/*): outages and customers out by district.

The token's scope is the actor's role: `partner` sees critical facilities by kind, `partner_named`
by name too. Nobody else may read these (staff have their own pages, the public its snapshot).
"""

from __future__ import annotations

from emergency.app.context import Context
from emergency.core.errors import InvalidInput
from emergency.core.models import TokenScope
from emergency.core.unit_of_work import read_as
from emergency.public import partner_feed
from emergency.public.partner_feed import PartnerDistricts, PartnerOutages
from emergency.public.snapshot import cached_public_snapshot

PARTNERS = (TokenScope.PARTNER.value, TokenScope.PARTNER_NAMED.value)


def partner_outages(ctx: Context) -> PartnerOutages:
    """The active outages at the public snapshot's moment; names only for `partner_named`."""
    ctx.actor.require(*PARTNERS)
    snapshot = cached_public_snapshot(ctx.db, ctx.clock)
    return partner_feed.partner_outages(ctx.db, snapshot, names=ctx.actor.role == TokenScope.PARTNER_NAMED)


def partner_districts(ctx: Context, hours: int) -> PartnerDistricts:
    """Customers out by district now and, for `hours` > 0, at every interval of the last `hours`;
    a window longer than `partner.series_max_hours` (or negative) is refused with the limit."""
    with read_as(ctx.db, ctx.actor, PARTNERS) as session:
        _, longest = partner_feed.series_limits(session)
    if not isinstance(hours, int) or isinstance(hours, bool) or not 0 <= hours <= longest:
        raise InvalidInput(f"a whole number of hours from 0 to {longest}", field="hours")
    snapshot = cached_public_snapshot(ctx.db, ctx.clock)
    return partner_feed.partner_districts(ctx.db, snapshot, hours)
