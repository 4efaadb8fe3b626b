"""Roles are checked in the application layer, and nothing reaches the domain's steps around it.

Every command's handler and every query checks the acting user's role before it does anything
(tests/integration/test_command_access.py runs each as every role). The domain's state-changing
steps take an `actor` only to write it down in the audit trail; they trust the handler that called
them. So the checks hold only if no entry point calls such a step directly: this file finds every
domain function that takes an actor (by introspection, not by hand), requires each to be listed
below as a step of a command, and scans the pages and the dashboard for any use of one.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import pkgutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import emergency

ROOT = Path(__file__).resolve().parents[2]
# Not the domain: the application layer (which checks roles), the unit of work it checks them with,
# the CLI (an entry point acting as its fixed CLI administrator) and the migrations.
NOT_DOMAIN = (
    "emergency.app",
    "emergency.cli",
    "emergency.core.unit_of_work",
    "emergency.migrations",
    "emergency.__main__",
)

# Each runs inside the unit of work its command's handler opened after checking the role
# (emergency.app.commands.<area>), or is the audit trail itself.
STEPS = {
    "emergency.core.audit.record",
    "emergency.core.audit.values",
    # admin: CreateUser, DisableUser, EnableUser, ResetPassword, CreateToken, RevokeToken, the demo
    "emergency.core.auth.create_user",
    "emergency.core.auth.disable_user",
    "emergency.core.auth.enable_user",
    "emergency.core.auth.reset_password",
    # staff sessions: SignIn, TouchSession, EndSession, DisableUser
    "emergency.core.staff_sessions.open_session",
    "emergency.core.staff_sessions.touch",
    "emergency.core.staff_sessions.end_session",
    "emergency.core.staff_sessions.end_user_sessions",
    "emergency.core.tokens.create_token",
    "emergency.core.tokens.revoke_token",
    "emergency.simulator.live.pause_demo",
    "emergency.simulator.live.restart_demo",
    "emergency.simulator.live.resume_demo",
    # dispatch
    "emergency.dispatch.crews.cancel_assignment",
    # the step shared by CancelAssignment and the crew's HandOver
    "emergency.dispatch.crews.release_assignment",
    "emergency.dispatch.crews.dispatch_crew",
    "emergency.dispatch.crews.mark_en_route",
    "emergency.dispatch.crews.mark_on_site",
    "emergency.dispatch.crews.set_crew_available",
    "emergency.dispatch.crews.set_crew_off_duty",
    "emergency.dispatch.etr.apply_etr",
    "emergency.dispatch.etr.set_etr",
    "emergency.dispatch.outages.cancel_outage",
    "emergency.dispatch.outages.close_outage",
    "emergency.dispatch.outages.confirm_outage",
    "emergency.dispatch.outages.restore_outage",
    # intake and the network: SubmitReports, ImportTerritory, the important-users register
    "emergency.intake.reports.receive_reports",
    "emergency.network.important_users.import_register",
    "emergency.network.important_users.register_important_user",
    "emergency.network.important_users.update_important_user",
    "emergency.network.importer.store_territory",
    # public: SubmitFeedback, ReportOutage
    "emergency.public.feedback.submit_feedback",
    "emergency.public.web_reports.report_outage",
    # reporting: RecordFeedbackStep, VerifyRestoration, ExportAuditTrail
    "emergency.reporting.audit_log.record_export",
    "emergency.reporting.complaints.record_step",
    "emergency.reporting.complaints.verify_restoration",
    # warnings
    # CAP: ImportCapAlert and PollCapFeeds (the importer), SetCapGeocodeDistricts, AddCapFeed, ChangeCapFeed
    "emergency.warnings.cap_import.import_alert",
    "emergency.warnings.cap_import.set_geocode_districts",
    "emergency.warnings.feeds.add_feed",
    "emergency.warnings.feeds.change_feed",
    # ChooseDraftLevel
    "emergency.warnings.lifecycle.choose_draft_level",
    "emergency.warnings.lifecycle.cancel_warning",
    "emergency.warnings.lifecycle.create_warning",
    "emergency.warnings.lifecycle.discard_draft",
    "emergency.warnings.lifecycle.edit_draft",
    "emergency.warnings.lifecycle.issue_warning",
    "emergency.warnings.lifecycle.update_warning",
    "emergency.warnings.outreach.acknowledge",
    "emergency.warnings.outreach.complete",
    "emergency.warnings.outreach.escalate",
    "emergency.warnings.prepositioning.accept_prepositioning",
    # field crews (#19): the crew page's steps under idempotency keys (AcceptJob, CrewEnRoute,
    # CrewOnSite, CrewSetEtr, CrewRestore, HandOver, RequestSupport, AnswerFieldRequest); positions
    # and the geofence (RecordCrewPositions, UpdateCrewPosition); damage assessments
    # (FileAssessment); mutual aid (ImportRoster, CheckInCrews, ReleaseCrews, CreateCrewLink)
    "emergency.core.command_keys.claim",
    "emergency.core.command_keys.stored_outcome",
    "emergency.dispatch.crew_field.acknowledge",
    "emergency.dispatch.crew_field.answer_request",
    "emergency.dispatch.crew_field.crew_of",
    "emergency.dispatch.crew_field.hand_over",
    "emergency.dispatch.crew_field.own_assignment",
    "emergency.dispatch.crew_field.request_support",
    "emergency.dispatch.crew_field.restore",
    "emergency.dispatch.positions.is_token",
    "emergency.dispatch.positions.leader_crew",
    "emergency.dispatch.positions.move_crew",
    "emergency.dispatch.positions.record_positions",
    "emergency.dispatch.assessment.file_assessment",
    "emergency.dispatch.crew_links.create_link",
    "emergency.dispatch.mutual_aid.check_in",
    "emergency.dispatch.mutual_aid.import_roster",
    "emergency.dispatch.mutual_aid.release",
    # fault location (#21): LearnTcaSettings, RecordFaultDevice, AskMeters and PingOutageMeters
    "emergency.network.tca_learn.learn",
    "emergency.reporting.location_accuracy.record_fault_device",
    "emergency.network.meter_ping.ping_round",
    "emergency.network.meter_ping.record",
}


def domain_functions_taking_an_actor() -> dict[str, Callable[..., Any]]:
    found: dict[str, Callable[..., Any]] = {}
    for module_info in pkgutil.walk_packages(emergency.__path__, "emergency."):
        if module_info.name.startswith(NOT_DOMAIN):
            continue
        module = importlib.import_module(module_info.name)
        for name, value in vars(module).items():
            if name.startswith("_") or not inspect.isfunction(value) or value.__module__ != module.__name__:
                continue
            if "actor" in inspect.signature(value).parameters:
                found[f"{module.__name__}.{name}"] = value
    return found


def direct_calls(source: str, steps: set[str]) -> Iterator[str]:
    """Each use of a step in `source`: imported by name, or reached as an attribute of its module."""
    modules: dict[str, str] = {}  # local name -> module path
    tree = ast.parse(source)
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("emergency"):
            for alias in node.names:
                qualified = f"{node.module}.{alias.name}"
                if qualified in steps:
                    yield qualified
                modules[alias.asname or alias.name] = qualified
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("emergency") and alias.asname:
                    modules[alias.asname] = alias.name
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in modules:
            qualified = f"{modules[node.value.id]}.{node.attr}"
            if qualified in steps:
                yield qualified


def test_every_domain_function_taking_an_actor_is_a_listed_step() -> None:
    found = set(domain_functions_taking_an_actor())
    assert found - STEPS == set(), "a new domain function takes an actor: reach it through a command"
    assert STEPS - found == set(), "a listed step is gone: drop it from STEPS"


def test_no_page_or_dashboard_module_calls_a_step_directly() -> None:
    uses = [
        f"{path.relative_to(ROOT)}: {step}"
        for folder in ("pages", "dashboard")
        for path in sorted((ROOT / folder).rglob("*.py"))
        for step in direct_calls(path.read_text(encoding="utf-8"), STEPS)
    ]
    assert not uses, "\n".join(uses)


def test_a_direct_call_would_be_caught() -> None:
    """The detector itself, on both ways of reaching a step."""
    by_name = "from emergency.dispatch.crews import dispatch_crew\n"
    by_module = "from emergency.dispatch import crews as dispatch\ndispatch.dispatch_crew(db)\n"
    assert list(direct_calls(by_name, STEPS)) == ["emergency.dispatch.crews.dispatch_crew"]
    assert "emergency.dispatch.crews.dispatch_crew" in list(direct_calls(by_module, STEPS))
