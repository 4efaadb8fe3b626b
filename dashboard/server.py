"""The Outage Desk process: the Streamlit pages plus plain HTTP routes, in one ASGI app.

Run with `streamlit run dashboard/server.py`. On start the database schema is created or upgraded;
on a fresh install with the default database, the demo territory is generated first.
"""

from __future__ import annotations

import asyncio
import logging
import sys
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from zoneinfo import ZoneInfo

# `streamlit run` puts only this folder on the path; the domain package lives beside it.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import streamlit as st
import xstatic.pkg.leaflet
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from dashboard.api import reports_route
from dashboard.auth_routes import auth_routes
from dashboard.crew_link_route import crew_link_routes
from dashboard.crew_positions_api import crew_positions_route
from dashboard.partner_api import partner_routes
from dashboard.public_api import public_routes
from dashboard.quiet_network import keep_streamlit_offline
from dashboard.status_site import status_routes
from dashboard.warnings_api import warning_routes
from emergency.app.bootstrap import ensure_app_database
from emergency.app.bus import execute
from emergency.app.commands.cap_feeds import PollCapFeeds
from emergency.app.commands.dispatch import RecordBreaches
from emergency.app.commands.meters import AskMeters
from emergency.app.commands.warnings import ExpireWarnings
from emergency.app.context import Context
from emergency.core.actor import SYSTEM
from emergency.core.clock import SYSTEM_CLOCK
from emergency.core.config import Settings, load_settings
from emergency.core.db import Database, get_database
from emergency.core.leases import LoopTiming, lease_states, loop_timing, process_holder, release, run_if_held
from emergency.network.head_end import use_head_end_token
from emergency.public.notify import notifications_enabled, run_notifications
from emergency.simulator.live import start_live_demo


async def healthz(_request: Request) -> JSONResponse:
    """The database's health, for nginx and monitoring, and which app process holds each loop's lease.

    deploy/nginx.conf answers /healthz only to the machine itself: holders name hosts and pids."""
    database = get_database(load_settings().db_url)
    try:
        await asyncio.to_thread(database.ping)
        leases = await asyncio.to_thread(lease_states, database, SYSTEM_CLOCK)
    except Exception as error:  # any failure to reach the database makes us unhealthy
        return JSONResponse({"status": "error", "database": type(error).__name__}, status_code=503)
    return JSONResponse(
        {
            "status": "ok",
            "database": "ok",
            "process": process_holder(),
            "leases": [
                {
                    "name": lease.name,
                    "holder": lease.holder,
                    "held": lease.held,
                    "acquired_at": lease.acquired_at.isoformat(),
                    "expires_at": lease.expires_at.isoformat(),
                }
                for lease in leases
            ],
        }
    )


log = logging.getLogger("outage_desk.server")

# The background loops, each run by one app process at a time (the lease of that name).
SLA_MONITOR, NOTIFICATIONS, WARNING_EXPIRY, CAP_FEEDS, METER_PINGS = (
    "sla-monitor",
    "notifications",
    "warning-expiry",
    "cap-feeds",
    "meter-pings",
)


async def leased_loop(database: Database, name: str, timing: LoopTiming, work: Callable[[], object]) -> None:
    """Run `work` every `timing.interval` seconds while this process holds the lease `name`.

    Every app process runs this loop; only the holder does rounds, and when it dies another takes
    the lease once it expires. The work's own guards (the breach table's unique key, claimed
    notification rows, locked warnings, claimed feeds) still hold should two rounds ever overlap.
    """
    holder = process_holder()
    while True:
        try:
            await asyncio.to_thread(run_if_held, database, SYSTEM_CLOCK, name, holder, timing.lease, work)
        except Exception:  # keep going: one failed round must not stop the loop
            log.exception("%s round failed", name)
        await asyncio.sleep(timing.interval)


def _notify_round(database: Database, tz: ZoneInfo, webhook_token: str | None) -> None:
    """Queue the messages outage changes call for and hand queued ones to the sender.

    See emergency.public.notify."""
    if notifications_enabled(database):
        run_notifications(database, SYSTEM_CLOCK, tz, webhook_token=webhook_token)


def expire_due_warnings(context: Context) -> tuple[int, ...]:
    """One round of the expiry loop, as the system: the ids of the warnings it expired."""
    return execute(context.acting_as(SYSTEM), ExpireWarnings())


def background_work(
    settings: Settings, database: Database, system: Context
) -> dict[str, Callable[[], object]]:
    """Each loop's round, by lease name."""
    language = settings.language
    return {
        # Breached clocks recorded and the duty manager told, whoever has a page open or not.
        SLA_MONITOR: lambda: execute(system, RecordBreaches(language)),
        NOTIFICATIONS: lambda: _notify_round(database, settings.timezone, settings.notify_webhook_token),
        WARNING_EXPIRY: lambda: expire_due_warnings(system),
        # Due agency feeds polled; new alerts become drafts and the duty manager hears.
        CAP_FEEDS: lambda: execute(system, PollCapFeeds(language)),
        # Smart meters below doubtful fault-location predictions asked and the predictions re-scored
        # (#21 point 3): analysis's follow-up, never in intake's request path.
        METER_PINGS: lambda: execute(system, AskMeters()),
    }


async def _release_all(database: Database, names: list[str]) -> None:
    """On a clean stop, give the leases up so another process takes over at its next round."""
    for name in names:
        try:
            await asyncio.to_thread(release, database, SYSTEM_CLOCK, name, process_holder())
        except Exception:  # stopping anyway: the lease then simply expires
            log.exception("releasing the %s lease failed", name)


@asynccontextmanager
async def lifespan(_app: object) -> AsyncIterator[None]:
    settings = load_settings()
    use_head_end_token(settings.head_end_token)
    database = get_database(settings.db_url)
    await asyncio.to_thread(
        ensure_app_database, database, SYSTEM_CLOCK, create_demo=settings.db_url_is_default
    )
    system = Context(database, SYSTEM_CLOCK, SYSTEM, settings.timezone)
    timing = await asyncio.to_thread(loop_timing, database)
    work = background_work(settings, database, system)
    loops = [
        asyncio.create_task(leased_loop(database, name, timing, round_)) for name, round_ in work.items()
    ]
    # On a demo database a storm runs in the background, in one process (emergency/simulator/live.py).
    demo = start_live_demo(database, settings.demo_simulator, settings.timezone)
    try:
        yield
    finally:
        for loop in loops:
            loop.cancel()
        if demo is not None:
            await asyncio.to_thread(demo.stop)
        await _release_all(database, list(work))


routes = [
    Route("/healthz", healthz),
    reports_route,
    crew_positions_route,
    *public_routes(),
    *partner_routes(),
    *status_routes(),  # the light public status page at /status/
    *warning_routes,
    *auth_routes,
    *crew_link_routes,
    Mount("/vendor/leaflet", StaticFiles(directory=xstatic.pkg.leaflet.BASE_DIR), name="leaflet"),
]

# Before Streamlit starts serving: no look-up of this machine's IPs on the internet (see the module).
keep_streamlit_offline()
app = st.App("app.py", routes=routes, lifespan=lifespan)
