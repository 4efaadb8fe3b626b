"""Every command and every query checks the acting user's role before it does anything.

The application layer is the one way in for pages, routes, the CLI and the simulator, so this is where
access is enforced. The commands are not listed by hand: every command the bus knows and every public
function in `emergency.app.queries` is found by introspection and run as every role, with placeholder
arguments. A guarded one raises PermissionDenied before it looks at them; for the roles it serves it
must get past the check (and then trip over the placeholders). Nothing may be stored by a refused
call. A new command or query must be given its roles below, or the tables test names it.
"""

from __future__ import annotations

import dataclasses
import importlib
import inspect
import pkgutil
from collections.abc import Callable, Iterator
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

import emergency.app.queries as queries_package
from emergency.app.bus import execute, registered
from emergency.app.context import Context
from emergency.core.actor import Actor
from emergency.core.clock import FakeClock
from emergency.core.db import Database
from emergency.core.errors import PermissionDenied
from emergency.core.models import Base

STAFF = frozenset({"dispatcher", "manager", "admin"})
# "crew": a crew leader (#19) is refused everything not given to them below.
EVERY_ROLE = STAFF | {"public", "system", "intake", "crew_position", "nobody", "crew"}
# Partners read their feeds with a token of scope partner or partner_named (issue #20, point 4).
PARTNERS = frozenset({"partner", "partner_named"})
EVERY_ROLE = EVERY_ROLE | PARTNERS
OPERATORS = frozenset({"dispatcher", "manager"})
MANAGERS = frozenset({"manager", "admin"})
ADMIN = frozenset({"admin"})
# The public forms: anyone on the public pages, and staff using them.
PUBLIC_FORMS = STAFF | {"public"}
# Who may report outages through intake: machines (API tokens), the server itself, the public
# (the web form goes through intake) and staff.
REPORTERS = STAFF | {"public", "intake", "system"}

COMMANDS: dict[str, frozenset[str]] = {
    # dispatch
    "ApplyStormPlan": OPERATORS,
    "CancelAssignment": OPERATORS,
    "CancelOutage": OPERATORS,
    "CloseOutage": OPERATORS,
    "ConfirmOutage": OPERATORS,
    "DispatchCrew": OPERATORS,
    "MarkEnRoute": OPERATORS,
    "MarkOnSite": OPERATORS,
    "RestoreOutage": OPERATORS,
    "SetCrewAvailable": OPERATORS,
    "SetCrewOffDuty": OPERATORS,
    "SetEtr": OPERATORS,
    # fault location: where the crew found the fault (emergency.app.commands.locate)
    "RecordFaultDevice": OPERATORS,
    # ask the meters (emergency.app.commands.meters): dispatchers on demand, the server's follow-up
    "PingOutageMeters": OPERATORS,
    "AskMeters": frozenset({"system"}),
    "LearnTcaSettings": MANAGERS,
    # switching for an outage (emergency.app.commands.switching)
    "OperateSwitch": OPERATORS,
    # A crew's own device posts its position with a crew_position token.
    "UpdateCrewPosition": OPERATORS | {"crew_position"},
    # Positions in batches: vehicle trackers and the simulator (token), a crew leader's phone (gps).
    "RecordCrewPositions": frozenset({"crew_position", "crew"}),
    # Only the server's SLA monitor records breaches.
    "RecordBreaches": frozenset({"system"}),
    # warnings
    "AcceptPrepositioning": MANAGERS,
    "AcknowledgeOutreach": MANAGERS,
    "CancelWarning": MANAGERS,
    "ChooseDraftLevel": MANAGERS,
    "CompleteOutreach": MANAGERS,
    "CreateWarning": MANAGERS,
    "DiscardDraft": MANAGERS,
    "EditDraft": MANAGERS,
    "EscalateOutreach": MANAGERS,
    # Only the server's periodic loop expires warnings.
    "ExpireWarnings": frozenset({"system"}),
    "ImportCapAlert": MANAGERS,
    "SetCapGeocodeDistricts": MANAGERS,
    "IssueWarning": MANAGERS,
    "OutreachStepForMany": MANAGERS,
    "UpdateWarning": MANAGERS,
    # the agencies' CAP feeds: managers configure them, only the server's watcher polls them
    "AddCapFeed": MANAGERS,
    "ChangeCapFeed": MANAGERS,
    "PollCapFeeds": frozenset({"system"}),
    # reporting
    "ExportAuditTrail": MANAGERS,
    "RecordFeedbackStep": MANAGERS,
    "VerifyRestoration": MANAGERS,
    # intake and the network
    "SubmitReports": REPORTERS,
    # `ingest FILE` feeds reports to intake and accepts whoever intake accepts.
    "IngestFile": REPORTERS,
    "ImportTerritory": ADMIN,
    "RegisterImportantUser": MANAGERS,
    "EditImportantUser": MANAGERS,
    "ImportImportantUsers": MANAGERS,
    # public
    "CheckMyOutage": PUBLIC_FORMS,
    "ReportOutage": PUBLIC_FORMS,
    "SubmitFeedback": PUBLIC_FORMS,
    # staff accounts, tokens, the demo
    "LogIn": PUBLIC_FORMS,  # the login form is a public page; staff may sign in again
    "SignIn": PUBLIC_FORMS,  # LogIn plus the staff session (emergency.core.staff_sessions)
    # The cookie route redeems a login's ticket for the browser, which is the public until then.
    "RedeemTicket": frozenset({"public"}),
    "TouchSession": STAFF,
    "EndSession": STAFF,
    "EnableUser": ADMIN,
    "CreateToken": ADMIN,
    "CreateUser": ADMIN,
    "DisableUser": ADMIN,
    "PauseDemo": ADMIN,
    "ResetPassword": ADMIN,
    "RestartDemo": ADMIN,
    "ResumeDemo": ADMIN,
    "RevokeToken": ADMIN,
    # damage assessments (#19.3): a crew leader (their own crew's outage, checked in the handler) or
    # the control room files one; only the control room reads them (photos' EXIF is staff-only).
    "FileAssessment": OPERATORS | {"crew"},
    # mutual-aid crews (#19 point 4): the control room onboards them; a leader's phone opens a link
    "ImportRoster": OPERATORS,
    "CheckInCrews": OPERATORS,
    "ReleaseCrews": OPERATORS,
    "CreateCrewLink": OPERATORS,
    "UseCrewLink": frozenset({"public"}),
}

QUERIES: dict[str, frozenset[str]] = {
    "admin.users": ADMIN,
    "admin.api_tokens": ADMIN,
    "admin.session_idle_minutes": STAFF,
    # The entry script checks a browser's staff session before it knows who is there.
    "admin.staff_session": PUBLIC_FORMS,
    # The cookie's signing key: only the server's own code reads it.
    "admin.cookie_signing_key": frozenset({"system"}),
    # The public status page says when a drill (the demo storm) is running.
    "admin.demo_run": PUBLIC_FORMS,
    "admin.simulator_state": ADMIN,
    "dispatch.staff_layers": OPERATORS,
    "dispatch.sla_board": OPERATORS,
    "dispatch.outage_detail": OPERATORS,
    "meters.outage_pings": OPERATORS,
    "dispatch.recommend_crews": OPERATORS,
    "dispatch.storm_plan": OPERATORS,
    "switching.switching_plan": OPERATORS,
    # The public snapshot is built for everyone (its JSON feeds are open) and holds no personal data.
    # Dispatchers read the register too (the console shows who is out).
    "network.important_users": STAFF,
    # `outages ...` on the command line: the console's reads, and the account it acts as (admin only).
    "operations.outage_list": OPERATORS,
    "operations.outage_card": OPERATORS,
    "operations.crew_by_code": OPERATORS,
    "operations.staff_actor": ADMIN,
    "public.public_snapshot": EVERY_ROLE,
    "public.is_demo": PUBLIC_FORMS,
    "public.territory_base": PUBLIC_FORMS,
    "public.feedback_max_chars": PUBLIC_FORMS,
    "public.description_max_chars": PUBLIC_FORMS,
    "public.trusted_proxies": PUBLIC_FORMS,
    "reporting.compliance_choices": MANAGERS,
    "reporting.compliance_report": MANAGERS,
    "reporting.reliability_report": MANAGERS,
    "reporting.suggested_event_start": MANAGERS,
    "reporting.situation_report": MANAGERS,
    "reporting.complaints_desk": MANAGERS,
    "reporting.audit_trail": MANAGERS,
    "cap_feeds.feed_rows": MANAGERS,
    "cap_feeds.recent_items": MANAGERS,
    "cap_feeds.new_feed_drafts": MANAGERS,
    "status.operational_status": STAFF,
    "warnings.warning_rows": MANAGERS,
    "warnings.warning_detail": MANAGERS,
    "warnings.cap_provenance": MANAGERS,
    "warnings.cap_original": MANAGERS,
    "warnings.cap_geocode_table": MANAGERS,
    "warnings.warning_preview": MANAGERS,
    "warnings.outreach_overview": MANAGERS,
    "warnings.outreach_lines": MANAGERS,
    "warnings.suggest_prepositioning": MANAGERS,
    # Published CAP warnings are public (partners and the public page read them); the server asks as
    # the system.
    "warnings.cap_feed": PUBLIC_FORMS | {"system"},
    "warnings.cap_document": PUBLIC_FORMS | {"system"},
    # damage assessments (#19.3)
    "assessment.form_limits": OPERATORS | {"crew"},
    "assessment.outage_assessments": OPERATORS,
    # Feeds for partners: only a partner token's actor reads them.
    "partner.partner_outages": PARTNERS,
    "partner.partner_districts": PARTNERS,
    # mutual-aid crews (#19 point 4)
    "mutual_aid.mutual_aid_crews": OPERATORS,
    "mutual_aid.staging_depots": OPERATORS,
    "mutual_aid.crew_link_state": frozenset({"public"}),
}

# --- the crew page (issue 19): a crew leader signs in like staff and acts on their own crew's jobs
# (checked against the account's crew in the handlers); the control room keeps its powers over them.
CREW_LEADERS = OPERATORS | {"crew"}
EVERY_ROLE = EVERY_ROLE | {"crew"}
COMMANDS.update(
    {
        "AcceptJob": CREW_LEADERS,
        "CrewEnRoute": CREW_LEADERS,
        "CrewOnSite": CREW_LEADERS,
        "CrewSetEtr": CREW_LEADERS,
        "CrewRestore": CREW_LEADERS,
        "HandOver": CREW_LEADERS,
        "RequestSupport": CREW_LEADERS,
        "AnswerFieldRequest": OPERATORS,
        "TouchSession": STAFF | {"crew"},
        "EndSession": STAFF | {"crew"},
    }
)
QUERIES.update(
    {
        "crew_field.crew_work": CREW_LEADERS,
        "crew_field.outage_field_view": OPERATORS,
        "crew_field.crew_choices": ADMIN,
        "admin.session_idle_minutes": STAFF | {"crew"},
        "public.public_snapshot": EVERY_ROLE,
    }
)

SHANGHAI = ZoneInfo("Asia/Shanghai")
Call = Callable[[Context], Any]


def commands() -> dict[str, Call]:
    """Each registered command, built with a placeholder for every field without a default."""
    found: dict[str, Call] = {}
    for command_type in registered():
        placeholders = {
            field.name: None
            for field in dataclasses.fields(command_type)
            if field.default is dataclasses.MISSING and field.default_factory is dataclasses.MISSING
        }
        command = command_type(**placeholders)
        found[command_type.__name__] = lambda ctx, command=command: execute(ctx, command)
    return found


def queries() -> dict[str, Call]:
    """Each public query function, with a placeholder for every argument after the context."""
    found: dict[str, Call] = {}
    for module_info in pkgutil.iter_modules(queries_package.__path__):
        module = importlib.import_module(f"{queries_package.__name__}.{module_info.name}")
        for name, value in list(vars(module).items()):
            if name.startswith("_") or not inspect.isfunction(value) or value.__module__ != module.__name__:
                continue
            parameters = list(inspect.signature(value).parameters.values())
            if not parameters or parameters[0].name != "ctx":
                continue
            placeholders = [None] * sum(
                1 for p in parameters[1:] if p.default is p.empty and p.kind is p.POSITIONAL_OR_KEYWORD
            )
            found[f"{module_info.name}.{name}"] = lambda ctx, fn=value, args=placeholders: fn(ctx, *args)
    return found


def row_counts(db: Database) -> dict[str, int]:
    tables = Base.metadata.sorted_tables
    counts = select(*(select(func.count()).select_from(t).scalar_subquery().label(t.name) for t in tables))
    with db.read() as session:
        return dict(session.execute(counts).one()._mapping)


def outcome(call: Call, ctx: Context) -> str:
    """'refused' when the role check stopped the call; 'past the check' otherwise."""
    try:
        call(ctx)
    except PermissionDenied:
        return "refused"
    except Exception:  # the placeholders stop it after the role check: expected
        return "past the check"
    return "past the check"


def role_problems(
    database: Database, clock: FakeClock, calls: dict[str, Call], table: dict[str, frozenset[str]]
) -> Iterator[str]:
    for name, call in sorted(calls.items()):
        for role in sorted(EVERY_ROLE):
            ctx = Context(database, clock, Actor(f"someone-{role}", role), SHANGHAI)
            before = row_counts(database)
            got = outcome(call, ctx)
            wanted = "past the check" if role in table[name] else "refused"
            if got != wanted:
                yield f"{name} as {role}: {got}, should be {wanted}"
            if wanted == "refused" and row_counts(database) != before:
                yield f"{name} as {role}: a refused call stored something"


def test_every_command_and_query_has_its_roles_written_down() -> None:
    assert set(commands()) == set(COMMANDS), "give each command its roles in COMMANDS (and drop gone ones)"
    assert set(queries()) == set(QUERIES), "give each query its roles in QUERIES (and drop gone ones)"


@pytest.mark.filterwarnings("ignore:fully NULL primary key")
def test_every_command_serves_exactly_its_roles(database: Database, clock: FakeClock) -> None:
    problems = list(role_problems(database, clock, commands(), COMMANDS))
    assert not problems, "\n".join(problems)


@pytest.mark.filterwarnings("ignore:fully NULL primary key")
def test_every_query_serves_exactly_its_roles(database: Database, clock: FakeClock) -> None:
    problems = list(role_problems(database, clock, queries(), QUERIES))
    assert not problems, "\n".join(problems)


def test_a_command_without_a_role_check_would_be_caught(database: Database, clock: FakeClock) -> None:
    """The detector itself: a call that does not check the role is named."""
    problems = list(role_problems(database, clock, {"Unguarded": lambda ctx: None}, {"Unguarded": OPERATORS}))
    assert any("Unguarded as public: past the check" in p for p in problems)
