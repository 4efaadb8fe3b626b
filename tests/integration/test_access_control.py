"""Every service that takes an actor checks its role, in the service, before doing anything.

The list of services is not written by hand: every public function in `emergency` with an `actor`
parameter is found by introspection and called as each role it must refuse, with placeholder
arguments. A guarded service raises PermissionDenied before it looks at them; an unguarded one
trips over them (or, worse, succeeds) and the test names it. Nothing may be stored by a refused
call. A service missing from ALLOWED below must still refuse the public and machine tokens; the
ones open to them are listed there, each with the reason.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
from collections.abc import Callable, Iterator
from types import GeneratorType
from typing import Any

import pytest
from sqlalchemy import func, select

import emergency
from emergency.core.actor import Actor
from emergency.core.clock import FakeClock
from emergency.core.db import Database
from emergency.core.errors import PermissionDenied
from emergency.core.models import Base

STAFF = frozenset({"dispatcher", "manager", "admin"})
EVERY_ROLE = STAFF | {"public", "system", "intake", "crew_position", "nobody"}
OPERATORS = frozenset({"dispatcher", "manager"})
MANAGERS = frozenset({"manager", "admin"})
ADMIN = frozenset({"admin"})
# Who may report an outage: the public (web form), machine intake, the server itself and staff.
REPORTERS = frozenset({"public", "intake", "system"}) | STAFF

ALLOWED: dict[str, frozenset[str]] = {
    "emergency.core.auth.create_user": ADMIN,
    "emergency.core.auth.disable_user": ADMIN,
    "emergency.core.auth.end_session": STAFF,
    "emergency.core.auth.list_users": ADMIN,
    "emergency.core.auth.reset_password": ADMIN,
    # Open to the public: anyone may give feedback or complain (the web form's actor is "public").
    "emergency.public.feedback.submit_feedback": STAFF | {"public"},
    "emergency.network.important_users.import_csv": MANAGERS,
    "emergency.network.important_users.list_important_users": STAFF,
    "emergency.network.important_users.register_important_user": MANAGERS,
    "emergency.network.important_users.update_important_user": MANAGERS,
    "emergency.network.importer.import_territory": ADMIN,
    # Open to the public: `ingest` feeds reports to intake and accepts whoever intake accepts.
    "emergency.intake.ingest_file.ingest_file": REPORTERS,
    # Open to the public: the web report form goes through intake as the public.
    "emergency.intake.reports.submit_reports": REPORTERS,
    "emergency.simulator.live.pause_demo": ADMIN,
    "emergency.simulator.live.restart_demo": ADMIN,
    "emergency.simulator.live.resume_demo": ADMIN,
    "emergency.core.tokens.create_token": ADMIN,
    "emergency.core.tokens.list_tokens": ADMIN,
    "emergency.core.tokens.revoke_token": ADMIN,
}
# Steps that run inside a service's transaction after that service checked the role: they take
# the actor only to write it down, and are never called from a page or a route on their own.
INNER_STEPS = {
    "emergency.core.audit.record",
    "emergency.core.audit.values",
    "emergency.dispatch.etr.apply_etr",
    # The dispatch actions act in the session their command's handler opened after checking the
    # role (emergency.app.commands.dispatch; tests/integration/test_dispatch_commands.py).
    "emergency.dispatch.crews.cancel_assignment",
    "emergency.dispatch.crews.dispatch_crew",
    "emergency.dispatch.crews.mark_en_route",
    "emergency.dispatch.crews.mark_on_site",
    "emergency.dispatch.crews.set_crew_available",
    "emergency.dispatch.crews.set_crew_off_duty",
    "emergency.dispatch.crews.update_crew_position",
    "emergency.dispatch.etr.set_etr",
    "emergency.dispatch.outages.cancel_outage",
    "emergency.dispatch.outages.close_outage",
    "emergency.dispatch.outages.confirm_outage",
    "emergency.dispatch.outages.restore_outage",
    # The warnings domain: its commands' handlers (emergency.app.commands.warnings) check the role.
    "emergency.warnings.lifecycle.cancel_warning",
    "emergency.warnings.lifecycle.create_warning",
    "emergency.warnings.lifecycle.edit_draft",
    "emergency.warnings.lifecycle.issue_warning",
    "emergency.warnings.lifecycle.update_warning",
    "emergency.warnings.outreach.acknowledge",
    "emergency.warnings.outreach.complete",
    "emergency.warnings.outreach.escalate",
    "emergency.warnings.prepositioning.accept_prepositioning",
    # Their commands' handlers (emergency.app.commands.reporting) check the role.
    "emergency.reporting.audit_log.record_export",
    "emergency.reporting.complaints.record_step",
    "emergency.reporting.complaints.verify_restoration",
    # Their commands (emergency.app.commands.intake and .network) check the role.
    "emergency.intake.reports.receive_reports",
    "emergency.network.important_users.import_register",
    "emergency.network.important_users.register_important_user",
    "emergency.network.important_users.update_important_user",
    "emergency.network.importer.store_territory",
}
# Packages that are not services: the CLI and benchmarks act as a fixed CLI actor they build.
NOT_SERVICES = ("emergency.migrations", "bench", "emergency.__main__")


def services_taking_an_actor() -> dict[str, Callable[..., Any]]:
    found: dict[str, Callable[..., Any]] = {}
    for module_info in pkgutil.walk_packages(emergency.__path__, "emergency."):
        if module_info.name.startswith(NOT_SERVICES):
            continue
        module = importlib.import_module(module_info.name)
        for name, value in vars(module).items():
            if name.startswith("_") or not inspect.isfunction(value) or value.__module__ != module.__name__:
                continue
            if "actor" in inspect.signature(value).parameters:
                found[f"{module.__name__}.{name}"] = value
    return found


def row_counts(db: Database) -> dict[str, int]:
    """The number of rows in every table, in one query."""
    tables = Base.metadata.sorted_tables
    counts = select(*(select(func.count()).select_from(t).scalar_subquery().label(t.name) for t in tables))
    with db.read() as session:
        return dict(session.execute(counts).one()._mapping)


def call_as(service: Callable[..., Any], db: Database, clock: FakeClock, actor: Actor) -> None:
    """Call with the infrastructure it needs and None for everything else; never commits a session."""
    with db.read() as session:
        arguments: dict[str, Any] = {}
        for name, parameter in inspect.signature(service).parameters.items():
            if name == "db":
                arguments[name] = db
            elif name == "session":
                arguments[name] = session
            elif name == "clock":
                arguments[name] = clock
            elif name == "actor":
                arguments[name] = actor
            elif parameter.default is inspect.Parameter.empty:
                arguments[name] = None
        result = service(**arguments)
        if isinstance(result, GeneratorType | Iterator):
            for _ in result:
                pass
        session.rollback()


def refusals(db: Database, clock: FakeClock) -> Iterator[str]:
    """A line for each way a service fails its role check."""
    for qualified, service in sorted(services_taking_an_actor().items()):
        if qualified in INNER_STEPS:
            continue
        allowed = ALLOWED.get(qualified, STAFF)
        before = row_counts(db)
        for role in sorted(EVERY_ROLE - allowed):
            if qualified not in ALLOWED and role in STAFF:
                continue  # a service not listed yet: at least the public and tokens must be refused
            try:
                call_as(service, db, clock, Actor(f"someone-{role}", role))
            except PermissionDenied:
                continue
            except Exception as error:  # anything but a refusal means the role was not checked first
                yield f"{qualified} as {role}: {type(error).__name__}: {error}"[:300]
            else:
                yield f"{qualified} as {role}: accepted"
        if row_counts(db) != before:
            yield f"{qualified}: a refused call stored something"


def test_every_service_refuses_the_roles_it_does_not_serve(database: Database, clock: FakeClock) -> None:
    failures = list(refusals(database, clock))
    assert not failures, "\n".join(failures)


# The placeholder ids make session.get warn that it cannot load anything, which is the point.
@pytest.mark.filterwarnings("ignore:fully NULL primary key")
def test_the_allowed_roles_get_past_the_check(database: Database, clock: FakeClock) -> None:
    """The other half: ALLOWED is exact, so a service that wrongly refuses a role shows up too."""
    wrongly_refused = []
    services = services_taking_an_actor()
    for qualified, roles in sorted(ALLOWED.items()):
        for role in sorted(roles):
            try:
                call_as(services[qualified], database, clock, Actor(f"someone-{role}", role))
            except PermissionDenied as refused:
                wrongly_refused.append(f"{qualified} as {role}: {refused}")
            except Exception:  # the placeholder arguments stop it after the role check: expected
                pass
    assert not wrongly_refused, "\n".join(wrongly_refused)


def test_every_listed_service_still_exists() -> None:
    assert set(ALLOWED) | INNER_STEPS <= set(services_taking_an_actor())


def test_an_unguarded_service_would_be_caught(database: Database, clock: FakeClock, monkeypatch) -> None:
    """The detector itself: a service that forgets its check is named."""
    import emergency.dispatch.outages as outages

    def reopen_outage(db: Database, clock: FakeClock, actor: Actor, outage_id: int) -> None:
        with db.read() as session:
            session.execute(select(func.count()).select_from(Base.metadata.tables["outages"]))

    monkeypatch.setattr(outages, "reopen_outage", reopen_outage, raising=False)
    reopen_outage.__module__ = outages.__name__

    found = list(refusals(database, clock))

    assert "emergency.dispatch.outages.reopen_outage as public: accepted" in found
    assert all(line.startswith("emergency.dispatch.outages.reopen_outage") for line in found)
