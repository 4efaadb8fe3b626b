"""What the public pages read: the shared snapshot, the territory's outline, the forms' limits."""

from __future__ import annotations

from typing import Any

from emergency.app.context import Context
from emergency.core import ratelimit
from emergency.core.models import Role
from emergency.core.settings import get_setting
from emergency.core.unit_of_work import read_as
from emergency.network import territory
from emergency.public import feedback, web_reports
from emergency.public.snapshot import PublicSnapshot, cached_public_snapshot

# Everything here is public: anyone may read it, staff included.
READERS = ("public", Role.DISPATCHER, Role.MANAGER, Role.ADMIN)


def public_snapshot(ctx: Context) -> PublicSnapshot:
    """The process-wide snapshot the JSON routes serve too (built at most once per interval; it holds
    no personal data by construction, so no role is checked)."""
    return cached_public_snapshot(ctx.db, ctx.clock)


def is_demo(ctx: Context) -> bool:
    """Whether the database holds the generated demo territory."""
    with read_as(ctx.db, ctx.actor, READERS) as session:
        return bool(get_setting(session, "territory.is_demo"))


def territory_base(ctx: Context) -> dict[str, Any]:
    """What rarely changes: district shapes (a GeoJSON FeatureCollection) and the map's extent."""
    with read_as(ctx.db, ctx.actor, READERS) as session:
        extent = territory.territory_extent(session)
        return {"districts": territory.district_collection(session), "extent": extent}


def feedback_max_chars(ctx: Context) -> int:
    """The longest feedback text accepted, for the form to stop typing at."""
    with read_as(ctx.db, ctx.actor, READERS) as session:
        return feedback.feedback_limit(session)


def description_max_chars(ctx: Context) -> int:
    """The longest report description intake accepts, for the form to stop typing at."""
    with read_as(ctx.db, ctx.actor, READERS) as session:
        return web_reports.description_limit(session)


def trusted_proxies(ctx: Context) -> frozenset[str]:
    """The reverse proxies whose X-Forwarded-For the rate limit believes."""
    with read_as(ctx.db, ctx.actor, READERS) as session:
        return ratelimit.trusted_proxies(session)
