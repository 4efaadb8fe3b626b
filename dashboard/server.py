"""The Outage Desk process: the Streamlit pages plus plain HTTP routes, in one ASGI app.

Run with `streamlit run dashboard/server.py`. On start the database schema is created or upgraded;
on a fresh install with the default database, the demo territory is generated first.
"""

from __future__ import annotations

import asyncio
import logging
import sys
from collections.abc import AsyncIterator
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
from dashboard.public_api import public_routes
from dashboard.quiet_network import keep_streamlit_offline
from dashboard.status_site import status_routes
from dashboard.warnings_api import warning_routes
from emergency.app.bootstrap import ensure_app_database
from emergency.app.bus import execute
from emergency.app.commands.cap_feeds import PollCapFeeds
from emergency.app.commands.dispatch import RecordBreaches
from emergency.app.commands.warnings import ExpireWarnings
from emergency.app.context import Context
from emergency.core.actor import SYSTEM
from emergency.core.clock import SYSTEM_CLOCK
from emergency.core.config import load_settings
from emergency.core.db import Database, get_database
from emergency.public.notify import notifications_enabled, run_notifications
from emergency.simulator.live import start_live_demo


async def healthz(_request: Request) -> JSONResponse:
    try:
        await asyncio.to_thread(get_database(load_settings().db_url).ping)
    except Exception as error:  # any failure to reach the database makes us unhealthy
        return JSONResponse({"status": "error", "database": type(error).__name__}, status_code=503)
    return JSONResponse({"status": "ok", "database": "ok"})


SLA_MONITOR_SECONDS = 30
log = logging.getLogger("outage_desk.server")


async def watch_sla_clocks(context: Context, language: str) -> None:
    """Record breached clocks and tell the duty manager, whoever has a page open or not.

    Every app process runs this; the breach table's unique key makes them agree on one record.
    """
    while True:
        try:
            await asyncio.to_thread(execute, context, RecordBreaches(language))
        except Exception:  # keep watching: one failed round must not stop the monitor
            log.exception("SLA monitor round failed")
        await asyncio.sleep(SLA_MONITOR_SECONDS)


async def watch_cap_feeds(context: Context, language: str) -> None:
    """Poll the agencies' CAP feeds that are due; new alerts become drafts and the duty manager hears.

    Every app process runs this; a feed is claimed for each poll and each alert recorded once.
    """
    while True:
        try:
            await asyncio.to_thread(execute, context, PollCapFeeds(language))
        except Exception:  # keep watching: one failed round must not stop the feeds
            log.exception("CAP feed round failed")
        await asyncio.sleep(SLA_MONITOR_SECONDS)


async def notify_customers(database: Database, tz: ZoneInfo, webhook_token: str | None) -> None:
    """Queue the messages outage changes call for and hand queued ones to the sender.

    See emergency.public.notify.

    Every app process runs this; dedupe keys and claimed rows keep each message queued and sent once.
    """
    while True:
        try:
            await asyncio.to_thread(_notify_round, database, tz, webhook_token)
        except Exception:  # keep going: one failed round must not stop customer messages
            log.exception("notification round failed")
        await asyncio.sleep(SLA_MONITOR_SECONDS)


def _notify_round(database: Database, tz: ZoneInfo, webhook_token: str | None) -> None:
    if notifications_enabled(database):
        run_notifications(database, SYSTEM_CLOCK, tz, webhook_token=webhook_token)


async def expire_warnings(context: Context) -> None:
    """Expire warnings whose time has passed, whoever has a page open or not.

    Every app process runs this; a warning another process is expiring at that moment is skipped
    (its row is locked), so each is expired, and audited by the system, once.
    """
    while True:
        try:
            await asyncio.to_thread(expire_due_warnings, context)
        except Exception:  # keep going: one failed round must not stop warnings expiring
            log.exception("warning expiry round failed")
        await asyncio.sleep(SLA_MONITOR_SECONDS)


def expire_due_warnings(context: Context) -> tuple[int, ...]:
    """One round of the expiry loop, as the system: the ids of the warnings it expired."""
    return execute(context.acting_as(SYSTEM), ExpireWarnings())


@asynccontextmanager
async def lifespan(_app: object) -> AsyncIterator[None]:
    settings = load_settings()
    database = get_database(settings.db_url)
    await asyncio.to_thread(
        ensure_app_database, database, SYSTEM_CLOCK, create_demo=settings.db_url_is_default
    )
    system = Context(database, SYSTEM_CLOCK, SYSTEM, settings.timezone)
    monitor = asyncio.create_task(watch_sla_clocks(system, settings.language))
    notifier = asyncio.create_task(
        notify_customers(database, settings.timezone, settings.notify_webhook_token)
    )
    expiry = asyncio.create_task(expire_warnings(system))
    feeds = asyncio.create_task(watch_cap_feeds(system, settings.language))
    # On a demo database a storm runs in the background (emergency/simulator/live.py).
    demo = start_live_demo(database, settings.demo_simulator, settings.timezone)
    try:
        yield
    finally:
        monitor.cancel()
        notifier.cancel()
        expiry.cancel()
        feeds.cancel()
        if demo is not None:
            await asyncio.to_thread(demo.stop)


routes = [
    Route("/healthz", healthz),
    reports_route,
    *public_routes(),
    *status_routes(),  # the light public status page at /status/
    *warning_routes,
    *auth_routes,
    Mount("/vendor/leaflet", StaticFiles(directory=xstatic.pkg.leaflet.BASE_DIR), name="leaflet"),
]

# Before Streamlit starts serving: no look-up of this machine's IPs on the internet (see the module).
keep_streamlit_offline()
app = st.App("app.py", routes=routes, lifespan=lifespan)
