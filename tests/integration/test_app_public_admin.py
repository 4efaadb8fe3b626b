"""The public forms' and the administrators' commands and queries on SQLite and PostgreSQL: who may
run each, that a refused one stores nothing, and that queries hand out frozen data, never ORM rows."""

from __future__ import annotations

import ast
import dataclasses
from pathlib import Path

import pytest
from sqlalchemy import func, select

from emergency.app.bus import execute, registered
from emergency.app.commands import admin as admin_commands
from emergency.app.commands import public as public_commands
from emergency.app.queries import admin as admin_queries
from emergency.app.queries import public as public_queries
from emergency.core import models
from emergency.core.actor import PUBLIC, Actor
from emergency.core.errors import AuthenticationFailed, PermissionDenied
from emergency.core.models import ApiToken, AuditEvent, Base, Role
from emergency.core.ratelimit import Requester
from emergency.core.settings import set_setting
from tests.support.app_context import context_of
from tests.support.small_territory import PASSWORDS, build_small_territory

ADMIN = Actor("admin", Role.ADMIN)
MANAGER = Actor("manager", Role.MANAGER)
NOT_ADMINS = [
    Actor("dispatcher", Role.DISPATCHER),
    MANAGER,
    PUBLIC,
    Actor("token:gw", "intake"),
    Actor("system", "system"),
]
ADMIN_COMMANDS = [
    admin_commands.CreateUser("newuser", "a-long-password-1", "dispatcher"),
    admin_commands.DisableUser("dispatcher"),
    admin_commands.ResetPassword("dispatcher", "a-long-password-2"),
    admin_commands.CreateToken("gateway", "intake"),
    admin_commands.RevokeToken("gateway"),
    admin_commands.PauseDemo(),
    admin_commands.ResumeDemo(),
    admin_commands.RestartDemo("typhoon", 7),
]
ROOT = Path(__file__).resolve().parents[2]
# The pages and dashboard modules that reach the domain only through commands and queries.
THIN = [
    "pages/public_check.py",
    "pages/public_feedback.py",
    "pages/public_report.py",
    "pages/public_status.py",
    "pages/login.py",
    "pages/logout.py",
    "pages/users.py",
    "pages/simulator_admin.py",
    "dashboard/session.py",
    "dashboard/simulator_view.py",
    "dashboard/public_api.py",
    "dashboard/public_forms.py",
    "dashboard/public_map.py",
]


@pytest.fixture
def territory(database, clock):
    return build_small_territory(database, clock)


def row_counts(db) -> dict[str, int]:
    tables = Base.metadata.sorted_tables
    counts = select(*(select(func.count()).select_from(t).scalar_subquery().label(t.name) for t in tables))
    with db.read() as session:
        return dict(session.execute(counts).one()._mapping)


def test_every_command_here_is_a_frozen_dataclass_with_a_handler() -> None:
    handlers = registered()
    for module in (admin_commands, public_commands):
        commands = [
            v
            for v in vars(module).values()
            if dataclasses.is_dataclass(v) and v.__module__ == module.__name__
        ]
        assert commands, module.__name__
        for command in commands:
            assert command.__dataclass_params__.frozen, command.__name__  # type: ignore[attr-defined]
            assert command in handlers, command.__name__


@pytest.mark.parametrize("actor", NOT_ADMINS, ids=lambda a: a.role)
def test_only_an_admin_runs_the_admin_commands_and_a_refusal_stores_nothing(
    database, clock, territory, actor
):
    before = row_counts(database)
    for command in ADMIN_COMMANDS:
        with pytest.raises(PermissionDenied):
            execute(context_of(database, clock, actor), command)
    for query in (admin_queries.users, admin_queries.api_tokens, admin_queries.simulator_state):
        with pytest.raises(PermissionDenied):
            query(context_of(database, clock, actor))
    assert row_counts(database) == before


def test_the_users_query_lists_frozen_rows_without_the_hash(database, clock, territory):
    execute(context_of(database, clock, ADMIN), admin_commands.DisableUser("dispatcher"))
    rows = admin_queries.users(context_of(database, clock, ADMIN))
    assert isinstance(rows, tuple)
    assert [(r.username, r.role, r.active) for r in rows] == [
        ("admin", "admin", True),
        ("dispatcher", "dispatcher", False),
        ("manager", "manager", True),
    ]
    with pytest.raises(dataclasses.FrozenInstanceError):
        rows[0].active = False  # type: ignore[misc]
    assert not any("hash" in f.name for f in dataclasses.fields(rows[0]))


def test_a_token_is_created_listed_and_revoked_through_commands(database, clock, territory):
    ctx = context_of(database, clock, ADMIN)
    token = execute(ctx, admin_commands.CreateToken("gateway", "intake"))
    assert token.startswith("odk_")
    execute(ctx, admin_commands.RevokeToken("gateway"))
    (listed,) = admin_queries.api_tokens(ctx)
    assert (listed.name, listed.active, listed.revoked_at) == ("gateway", False, clock.now())
    with database.read() as session:
        assert session.scalar(select(func.count()).select_from(ApiToken)) == 1


def test_log_in_acts_as_the_public_and_ending_a_session_is_staff_only(database, clock, territory):
    public = context_of(database, clock, PUBLIC)
    actor = execute(public, admin_commands.LogIn("manager", PASSWORDS["manager"]))
    assert actor == MANAGER
    with pytest.raises(AuthenticationFailed):
        execute(public, admin_commands.LogIn("manager", "wrong-password"))
    with pytest.raises(PermissionDenied):
        execute(public, admin_commands.EndSession("logout"))

    execute(context_of(database, clock, actor), admin_commands.EndSession("idle"))
    with database.read() as session:
        actions = session.scalars(
            select(AuditEvent.action).where(AuditEvent.entity == "user").order_by(AuditEvent.id)
        ).all()
    assert actions[-2:] == ["user.login", "user.session_expired"]


def test_the_session_idle_limit_is_read_by_staff(database, clock, territory):
    with database.write() as session:
        set_setting(session, "auth.session_idle_minutes", 5, clock)
    assert admin_queries.session_idle_minutes(context_of(database, clock, MANAGER)) == 5.0
    with pytest.raises(PermissionDenied):
        admin_queries.session_idle_minutes(context_of(database, clock, PUBLIC))


def test_the_simulator_state_of_a_database_that_is_no_demo(database, clock, territory):
    state = admin_queries.simulator_state(context_of(database, clock, ADMIN))
    assert (state.run, state.is_demo, state.demo_enabled) == (None, False, True)
    assert admin_queries.demo_run(context_of(database, clock, PUBLIC)) is None


def test_the_public_queries_are_open_to_the_public_but_not_to_machines(database, clock, territory):
    ctx = context_of(database, clock, PUBLIC)
    assert public_queries.is_demo(ctx) is False
    base = public_queries.territory_base(ctx)
    assert base["extent"] is not None and base["districts"]["type"] == "FeatureCollection"
    assert public_queries.feedback_max_chars(ctx) > 0
    assert public_queries.description_max_chars(ctx) > 0
    assert public_queries.trusted_proxies(ctx) == frozenset()
    gateway = context_of(database, clock, Actor("token:gw", "intake"))
    with pytest.raises(PermissionDenied):
        public_queries.is_demo(gateway)


def test_the_public_forms_refuse_machines_and_store_nothing(database, clock, territory):
    before = row_counts(database)
    gateway = context_of(database, clock, Actor("token:gw", "intake"))
    someone = Requester("s1", "10.0.0.1")
    account = territory.account_by_transformer["TX-1"][0]
    for command in (
        public_commands.ReportOutage(someone, kind="no_power", account_no=account),
        public_commands.SubmitFeedback("praise", "Thanks!", requester=someone),
        public_commands.CheckMyOutage(someone, account, "1234"),
    ):
        with pytest.raises(PermissionDenied):
            execute(gateway, command)
    assert row_counts(database) == before


@pytest.mark.parametrize("path", THIN)
def test_the_public_and_admin_pages_hold_no_session_and_no_orm(path: str) -> None:
    tree = ast.parse((ROOT / path).read_text(encoding="utf-8"))
    imported = {node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)} | {
        alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names
    }
    assert not any(name.startswith("sqlalchemy") for name in imported), path
    calls = {
        node.func.attr
        for node in ast.walk(tree)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
    }
    assert not calls & {"read", "write"}, path
    model_names = {
        alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and node.module == "emergency.core.models"
        for alias in node.names
    }
    # Enums only (Role, FeedbackKind): never a mapped class.
    mapped = {
        name
        for name in model_names
        if isinstance(getattr(models, name), type) and issubclass(getattr(models, name), Base)
    }
    assert not mapped, path
