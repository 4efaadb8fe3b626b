"""The pages' way into the domain: one shared Database per process and cached read models.

Pages call these functions and never touch SQLAlchemy; caches are shared by every viewer of
the process, so a thousand people on the public page cost one snapshot build per interval.
"""

from __future__ import annotations

from typing import Any

import streamlit as st

from emergency.app.context import Context
from emergency.app.queries import dispatch as dispatch_queries
from emergency.core import auth
from emergency.core.actor import Actor
from emergency.core.clock import SYSTEM_CLOCK
from emergency.core.config import load_settings
from emergency.core.db import Database, get_database
from emergency.core.settings import get_setting
from emergency.network import territory
from emergency.public import snapshot as publish

# Staff layers refresh often; the public snapshot follows its configured interval.
STAFF_CACHE_SECONDS = 5


def database() -> Database:
    return get_database(load_settings().db_url)


def context(actor: Actor) -> Context:
    """What a command or query from this page runs with: the process's database, the system clock,
    the signed-in user (or the public) and the configured time zone."""
    settings = load_settings()
    return Context(get_database(settings.db_url), SYSTEM_CLOCK, actor, settings.timezone)


def database_ready() -> bool:
    try:
        return database().has_schema()
    except Exception:  # any connection failure means "not ready" to the page
        return False


@st.cache_data(ttl=30, show_spinner=False)
def is_demo(db_url: str) -> bool:
    with get_database(db_url).read() as session:
        return bool(get_setting(session, "territory.is_demo"))


def public_snapshot() -> publish.PublicSnapshot:
    """The process-wide snapshot the JSON routes serve too (built at most once per interval)."""
    return publish.cached_public_snapshot(database(), SYSTEM_CLOCK)


# A resource, not data: st.cache_data would pickle 5,000 board rows on every read (longer than
# building them); the rows are immutable named tuples and the pages only read the collections.
# `_ctx` is not part of the key (Streamlit skips arguments starting with "_"): every viewer of the
# process shares the layers, and `staff_layers` checks each viewer's role before handing them out.
@st.cache_resource(ttl=STAFF_CACHE_SECONDS, max_entries=8, show_spinner=False)
def _shared_staff_layers(
    db_url: str, with_network: bool, with_transformers: bool, _ctx: Context
) -> dict[str, Any]:
    return dispatch_queries.staff_layers(_ctx, with_network, with_transformers)


def staff_layers(actor: Actor, with_network: bool, with_transformers: bool) -> dict[str, Any]:
    """The live console's data (`queries.dispatch.staff_layers`), shared by every viewer for a few
    seconds; `forget_staff_layers` drops it after an action so the dispatcher sees what they did."""
    actor.require(*dispatch_queries.CONTROL_ROOM)
    ctx = context(actor)
    return _shared_staff_layers(ctx.db.url, with_network, with_transformers, ctx)


def forget_staff_layers() -> None:
    _shared_staff_layers.clear()


@st.cache_data(ttl=300, show_spinner=False)
def territory_base(db_url: str) -> dict[str, Any]:
    """What rarely changes: district shapes and the map's extent."""
    with get_database(db_url).read() as session:
        extent = territory.territory_extent(session)
        return {"districts": territory.district_collection(session), "extent": extent}


def log_in(username: str, password: str) -> auth.Actor:
    return auth.authenticate(database(), SYSTEM_CLOCK, username, password)


def list_users(actor: auth.Actor) -> list[Any]:
    with database().read() as session:
        return auth.list_users(session, actor)


def add_user(actor: auth.Actor, username: str, password: str, role: str, name: str | None) -> None:
    with database().write() as session:
        auth.create_user(session, SYSTEM_CLOCK, actor, username, password, role, name)


def reset_password(actor: auth.Actor, username: str, password: str) -> None:
    with database().write() as session:
        auth.reset_password(session, SYSTEM_CLOCK, actor, username, password)


def disable_user(actor: auth.Actor, username: str) -> None:
    with database().write() as session:
        auth.disable_user(session, SYSTEM_CLOCK, actor, username)
