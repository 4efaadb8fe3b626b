"""The pages' way into the domain: one shared Database per process and cached read models.

Pages call these functions and never touch SQLAlchemy; caches are shared by every viewer of
the process, so a thousand people on the public page cost one snapshot build per interval.
"""

from __future__ import annotations

from typing import Any

import streamlit as st

from emergency.app.bus import execute
from emergency.app.commands.admin import CreateUser, DisableUser, LogIn, ResetPassword
from emergency.app.context import Context
from emergency.app.queries import admin as admin_queries
from emergency.app.queries import dispatch as dispatch_queries
from emergency.app.queries import public as public_queries
from emergency.core.actor import PUBLIC, Actor
from emergency.core.clock import SYSTEM_CLOCK
from emergency.core.config import load_settings
from emergency.core.db import Database, get_database
from emergency.public.snapshot import PublicSnapshot

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


def _public_context(db_url: str) -> Context:
    """What the public's queries on one database run with (for caches keyed by the database URL)."""
    return Context(get_database(db_url), SYSTEM_CLOCK, PUBLIC, load_settings().timezone)


@st.cache_data(ttl=30, show_spinner=False)
def is_demo(db_url: str) -> bool:
    return public_queries.is_demo(_public_context(db_url))


def public_snapshot() -> PublicSnapshot:
    """The process-wide snapshot the JSON routes serve too (built at most once per interval)."""
    return public_queries.public_snapshot(context(PUBLIC))


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
    return public_queries.territory_base(_public_context(db_url))


def log_in(username: str, password: str) -> Actor:
    actor: Actor = execute(context(PUBLIC), LogIn(username, password))
    return actor


def list_users(actor: Actor) -> tuple[admin_queries.UserRow, ...]:
    return admin_queries.users(context(actor))


def add_user(
    actor: Actor, username: str, password: str, role: str, name: str | None, crew_id: int | None = None
) -> None:
    execute(context(actor), CreateUser(username, password, role, name, crew_id))


def reset_password(actor: Actor, username: str, password: str) -> None:
    execute(context(actor), ResetPassword(username, password))


def disable_user(actor: Actor, username: str) -> None:
    execute(context(actor), DisableUser(username))
