"""`python -m emergency outages list|show|confirm|dispatch|restore`: the dispatcher's work from the
command line, for scripts and training.

Every action goes through the application layer (`emergency.app.bus.execute`) with the console's own
commands, as the staff account named by `--as`: the command checks that account's role exactly as it
checks a console user's, so an administrator's account may not dispatch here either. No password is
asked (this is a local administrator's tool, like `users add`); a disabled account is refused.

Like the console, each action carries the outage version it acts on: the one a script read with
`outages show --json` (`--expect-version`), else the one read just before, so a colleague's change in
between is refused, never overwritten. Outcomes name the outage and its device; refusals (a stale
version, the wrong state, an unknown crew, a role that may not) print the reason and exit 2.
Words are the console's (data/i18n), in `--lang` or the configured language.

`outages switching ID [--return]` shows the outage's switching plan (isolate the faulted section,
back-feed each healthy section through a normally open tie; or the way back to normal), and
`outages restore ID --switching restore|return [--step N]` carries it out step by step with the
console's own `OperateSwitch`, each step against the outage and switch versions the plan was read
with; the first refused step stops the run (exit 2) and says why.
"""

from __future__ import annotations

import argparse
import functools
import json
import sys
import tomllib
from collections.abc import Callable
from dataclasses import asdict
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from emergency.app.bus import execute
from emergency.app.commands.dispatch import ConfirmOutage, DispatchCrew, RestoreOutage
from emergency.app.commands.switching import OperateSwitch
from emergency.app.context import Context
from emergency.app.queries import operations as queries
from emergency.app.queries.switching import switching_plan
from emergency.core.config import LANGUAGES, REPO_ROOT
from emergency.core.errors import Conflict, EmergencyError, InvalidInput
from emergency.core.models import OutageState, SwitchState
from emergency.dispatch.operations_view import OutageCard, OutageLine
from emergency.network.switching import SwitchingStep

CATALOGUE_DIR = REPO_ROOT / "data" / "i18n"
ACTIONS = ("list", "show", "confirm", "dispatch", "restore", "switching")
PLANS = ("restore", "return")
REFUSED = 2


def add_parser(commands: Any) -> None:
    outages = commands.add_parser("outages", help="list, show and act on outages as a named dispatcher")
    actions = outages.add_subparsers(dest="outages_command", required=True, metavar="ACTION")
    listing = actions.add_parser("list", help="active outages in the board's order, or those in --state")
    listing.add_argument("--state", choices=[s.value for s in OutageState])
    listing.add_argument("--district", help="a district code")
    show = actions.add_parser("show", help="one outage: stage, clocks, customers, crews, ETR, links")
    confirm = actions.add_parser("confirm", help="confirm a reported or predicted outage")
    dispatch = actions.add_parser("dispatch", help="send an available crew")
    dispatch.add_argument("--crew", required=True, help="the crew's code")
    restore = actions.add_parser("restore", help="restore everyone still out, or a step of --customers")
    restore.add_argument(
        "--customers", type=_positive, help="customers restored in this step (all still out if omitted)"
    )
    restore.add_argument(
        "--switching",
        choices=PLANS,
        help="restore through the outage's switching plan (restore: isolate and back-feed; "
        "return: back to normal)",
    )
    restore.add_argument("--step", type=_positive, help="with --switching: only this step of the plan")
    plan = actions.add_parser(
        "switching", help="the outage's switching plan, with customers each step restores"
    )
    plan.add_argument("--return", dest="returning", action="store_true", help="the plan back to normal")
    for acting in (show, confirm, dispatch, restore, plan):
        acting.add_argument("outage_id", type=_positive, metavar="ID")
    for acting in (confirm, dispatch, restore):
        acting.add_argument(
            "--expect-version",
            type=_positive,
            help="the outage version you read (outages show --json); refused if it changed since",
        )
    for action in (listing, show, confirm, dispatch, restore, plan):
        action.add_argument("--as", dest="username", required=True, help="the staff account acting")
        action.add_argument("--lang", choices=LANGUAGES, help="language of the output (default OUTAGE_LANG)")
        action.add_argument("--json", action="store_true")


def _positive(text: str) -> int:
    value = int(text)
    if value <= 0:
        raise argparse.ArgumentTypeError("must be a positive number")
    return value


# --- words ------------------------------------------------------------------------------------


@functools.cache
def _catalogue(language: str) -> dict[str, str]:
    return tomllib.loads((CATALOGUE_DIR / f"{language}.toml").read_text("utf-8"))


class Words:
    """The console's words in one language, and times in the utility's zone."""

    def __init__(self, language: str, tz: ZoneInfo) -> None:
        self.language = language
        self.strings = _catalogue(language)
        self.tz = tz

    def __call__(self, key: str, **values: object) -> str:
        text = self.strings.get(key, key)
        return text.format(**values) if values else text

    def of(self, prefix: str, value: str | None) -> str:
        """A vocabulary word (`state.dispatched`), or the value itself where there is none."""
        if value is None:
            return "—"
        return self.strings.get(f"{prefix}.{value}", value)

    def time(self, at: datetime | None) -> str:
        return at.astimezone(self.tz).strftime("%Y-%m-%d %H:%M") if at else "—"


# --- running ----------------------------------------------------------------------------------


def run(args: argparse.Namespace, admin: Context, language: str) -> int:
    """Carry out `outages ACTION` for `args`; `admin` is the CLI's own context, which only names
    the acting account; everything else runs as that account."""
    words = Words(args.lang or language, admin.tz)
    ctx = admin.acting_as(queries.staff_actor(admin, args.username))
    action: Callable[[argparse.Namespace, Context, Words], int] = {
        "list": _list,
        "show": _show,
        "confirm": _act,
        "dispatch": _act,
        "restore": _act,
        "switching": _switching,
    }[args.outages_command]
    return action(args, ctx, words)


def _list(args: argparse.Namespace, ctx: Context, words: Words) -> int:
    lines = queries.outage_list(ctx, args.state, args.district)
    if args.json:
        print(json.dumps([_line_json(line) for line in lines], ensure_ascii=False, default=str))
        return 0
    for line in lines:
        print(_line_text(line, words))
    print(words("ops.list.total", n=len(lines)))
    return 0


def _line_json(line: OutageLine) -> dict[str, Any]:
    data = asdict(line)
    data["crews"] = list(line.crews)
    for name in ("first_report_at", "etr_at"):
        data[name] = data[name].isoformat() if data[name] else None
    return data


def _line_text(line: OutageLine, words: Words) -> str:
    marks = [words("ops.mark.service")] if line.service else []
    marks += [words("ops.mark.nested")] if line.nested else []
    return words(
        "ops.list.line",
        id=line.id,
        device=line.device_code,
        kind=words.of("kind", line.device_kind),
        state=words.of("state", line.state),
        marks="".join(f" [{m}]" for m in marks),
        district=line.district or "—",
        out=f"{line.customers_out:,}",
        reports=line.reports,
        since=words.time(line.first_report_at),
        etr=words.time(line.etr_at),
        crews=", ".join(line.crews) or "—",
        urgency=words.of("urgency", line.urgency),
    )


def _show(args: argparse.Namespace, ctx: Context, words: Words) -> int:
    card = queries.outage_card(ctx, args.outage_id)
    if args.json:
        print(json.dumps(card_json(card, ctx.tz), ensure_ascii=False, default=str))
    else:
        print("\n".join(card_text(card, words)))
    return 0


def card_json(card: OutageCard, tz: ZoneInfo) -> dict[str, Any]:
    """One outage for a script: ids, counts and local times with their offset."""
    d, o = card.detail, card.detail.outage

    def at(moment: datetime | None) -> str | None:
        return moment.astimezone(tz).isoformat() if moment else None

    return {
        "id": o.id,
        "version": o.version,
        "state": o.state,
        "device": {"code": d.device_code, "kind": d.device_kind, "name": d.device_name},
        "district": card.district,
        "service_account": card.service_account,
        "first_report_at": at(o.first_report_at),
        "confirmed_at": at(o.confirmed_at),
        "dispatched_at": at(card.dispatched_at),
        "on_site_at": at(card.on_site_at),
        "restored_at": at(card.restored_at),
        "customers_affected": o.customers_affected,
        "customers_restored": o.customers_restored,
        "customers_out": o.customers_affected - o.customers_restored,
        "reports": d.report_total,
        "hazard": o.hazard_live,
        "etr": {"at": at(o.etr_at), "source": card.etr_source, "confidence": card.etr_confidence},
        "clocks": [
            {
                "code": c.code,
                "name": c.name_en,
                "state": str(c.state),
                "started_at": at(c.started_at),
                "deadline": at(c.deadline),
                "stopped_at": at(c.stopped_at),
                "remaining_minutes": round(c.remaining.total_seconds() / 60, 1),
            }
            for c in card.clocks
        ],
        "important_users": [
            {
                "account_no": u.account_no,
                "name": u.name,
                "grade": u.grade,
                "kind": u.kind,
                "backup_hours": u.backup_hours,
            }
            for u in d.important_users
        ],
        "crews": [
            {
                "code": a.crew_code,
                "status": a.status,
                "assigned_at": at(a.assigned_at),
                "eta_at": at(a.eta_at),
            }
            for a in d.assignments
        ],
        "steps": [{"at": at(s.at), "customers_restored": s.customers_restored, "by": s.by} for s in d.steps],
        "nested_in_id": o.nested_in_id if o.nested else None,
        "nested_ids": list(card.nested_ids),
        "merged_into_id": card.merged_into_id,
        "merged_ids": list(card.merged_ids),
    }


def card_text(card: OutageCard, words: Words) -> list[str]:
    """One outage for a person, one fact a line."""
    d, o = card.detail, card.detail.outage
    lines = [
        words(
            "ops.show.title",
            id=o.id,
            device=d.device_code,
            kind=words.of("kind", d.device_kind),
            name=d.device_name,
            district=card.district or "—",
        ),
        words("ops.show.stage", state=words.of("state", o.state), version=o.version),
        words(
            "ops.show.times",
            first=words.time(o.first_report_at),
            confirmed=words.time(o.confirmed_at),
            dispatched=words.time(card.dispatched_at),
            on_site=words.time(card.on_site_at),
            restored=words.time(card.restored_at),
        ),
        words(
            "ops.show.customers",
            out=f"{o.customers_affected - o.customers_restored:,}",
            restored=f"{o.customers_restored:,}",
            affected=f"{o.customers_affected:,}",
            reports=d.report_total,
        ),
    ]
    if card.service_account:
        lines.append(words("ops.show.service", account=card.service_account))
    lines.append(
        words(
            "ops.show.etr",
            etr=words.time(o.etr_at),
            confidence=words.of("confidence", card.etr_confidence),
            source=card.etr_source or "—",
        )
    )
    for c in card.clocks:
        name = c.name_zh if words.language == "zh" else c.name_en
        lines.append(
            words(
                "ops.show.clock",
                name=name,
                state=words.of("clock", str(c.state)),
                deadline=words.time(c.deadline),
            )
        )
    for u in d.important_users:
        backup = "—" if u.backup_hours is None else f"{u.backup_hours:g}"
        lines.append(words("ops.show.important", name=u.name, grade=words.of("grade", u.grade), hours=backup))
    for a in d.assignments:
        lines.append(
            words(
                "ops.show.crew", crew=a.crew_code, status=words.of("crew", a.status), eta=words.time(a.eta_at)
            )
        )
    lines += _links(card, words)
    return lines


def _links(card: OutageCard, words: Words) -> list[str]:
    o = card.detail.outage
    links = []
    if o.nested and o.nested_in_id is not None:
        links.append(words("detail.nested", parent=o.nested_in_id))
    if card.nested_ids:
        links.append(words("ops.show.nested_ids", ids=", ".join(map(str, card.nested_ids))))
    if card.merged_into_id is not None:
        links.append(words("ops.show.merged_into", id=card.merged_into_id))
    if card.merged_ids:
        links.append(words("ops.show.merged_ids", ids=", ".join(map(str, card.merged_ids))))
    return links


# --- acting -----------------------------------------------------------------------------------


def _act(args: argparse.Namespace, ctx: Context, words: Words) -> int:
    """Confirm, dispatch or restore, naming the outage and its device in the outcome and in a
    refusal (exit 2)."""
    card = queries.outage_card(ctx, args.outage_id)
    named = {"id": card.detail.outage.id, "device": card.detail.device_code}
    # The version the script saw, else the one just read: a change in between is refused.
    version = args.expect_version or card.detail.outage.version
    try:
        line, data = {"confirm": _confirm, "dispatch": _dispatch, "restore": _restore}[args.outages_command](
            args, ctx, words, card, version
        )
    except EmergencyError as refused:
        print(words("ops.refused", reason=refused, **named), file=sys.stderr)
        return REFUSED
    print(json.dumps({**named, **data}, ensure_ascii=False, default=str) if args.json else line)
    return 0


Outcome = tuple[str, dict[str, Any]]


def _confirm(args: argparse.Namespace, ctx: Context, words: Words, card: OutageCard, version: int) -> Outcome:
    done = execute(ctx, ConfirmOutage(card.detail.outage.id, expected_version=version))
    line = words("done.confirm", id=done.id, device=card.detail.device_code)
    return line, {"action": "confirm", "version": done.version, "state": done.state}


def _dispatch(
    args: argparse.Namespace, ctx: Context, words: Words, card: OutageCard, version: int
) -> Outcome:
    crew = queries.crew_by_code(ctx, args.crew)
    done = execute(
        ctx, DispatchCrew(card.detail.outage.id, crew.id, crew_version=crew.version, outage_version=version)
    )
    line = words(
        "done.dispatch",
        crew=crew.code,
        eta=words.time(done.eta_at),
        id=done.outage_id,
        device=card.detail.device_code,
    )
    eta = done.eta_at.astimezone(ctx.tz).isoformat() if done.eta_at else None
    return line, {"action": "dispatch", "crew": crew.code, "assignment_id": done.id, "eta_at": eta}


def _restore(args: argparse.Namespace, ctx: Context, words: Words, card: OutageCard, version: int) -> Outcome:
    if args.switching:
        return _restore_by_switching(args, ctx, words, card, version)
    o = card.detail.outage
    still_out = o.customers_affected - o.customers_restored
    # A step of fewer than are still out; as many or more is the whole outage, as on the console.
    step = args.customers if args.customers is not None and args.customers < still_out else None
    done = execute(ctx, RestoreOutage(o.id, expected_version=version, customers=step))
    named = {"id": done.id, "device": card.detail.device_code}
    restored_now = done.customers_restored - o.customers_restored
    if done.state == OutageState.RESTORED:
        line = words("ops.done.restore", n=f"{restored_now:,}", **named)
    else:
        line = words("done.restore_step", n=f"{restored_now:,}", left=f"{done.still_out:,}", **named)
    data = {"action": "restore", "state": done.state, "restored": restored_now, "still_out": done.still_out}
    return line, {**data, "version": done.version}


# --- switching plans ------------------------------------------------------------------------------


def _step_json(step: SwitchingStep) -> dict[str, Any]:
    effect = step.effect
    return {
        "step": step.order,
        "purpose": str(step.purpose),
        "switch": step.device_code,
        "to_state": str(step.to_state),
        "customers_restored": effect.restored,
        "customers_interrupted": effect.interrupted,
        "feeder": effect.feeder_code,
        "feeder_customers": effect.feeder_customers,
        "refused": effect.refusal(),
    }


def _step_text(step: SwitchingStep, words: Words) -> str:
    """One step as the console's Switching tab words it (switch.* in data/i18n)."""
    effect = step.effect
    action = words(
        "switch.open" if step.to_state == SwitchState.OPEN else "switch.close", switch=step.device_code
    )
    capacity = words(
        "switch.capacity",
        feeder=effect.feeder_code or "-",
        n=f"{effect.feeder_customers:,}",
        limit=f"{effect.customer_limit:,}",
    )
    check = effect.refusal() or words("switch.ok")
    return (
        f"{step.order}. {action} · {words(f'switch.purpose.{step.purpose}')} · "
        f"{words('switch.col.restored')} {effect.restored:,} · {words('switch.col.interrupted')} "
        f"{effect.interrupted:,} · {capacity} · {check}"
    )


def _switching(args: argparse.Namespace, ctx: Context, words: Words) -> int:
    found = switching_plan(ctx, args.outage_id, returning=args.returning)
    plan = found.plan
    if args.json:
        data = {
            "outage_id": found.outage_id,
            "outage_version": found.outage_version,
            "returning": plan.returning,
            "steps": [_step_json(step) for step in plan.steps],
            "unreachable": list(plan.unreachable),
            "customers_restored": plan.customers_restored,
        }
        print(json.dumps(data, ensure_ascii=False))
        return 0
    print(
        words("switch.return_intro" if plan.returning else "switch.intro", n=f"{plan.customers_restored:,}")
    )
    if not plan.steps:
        print(words("switch.normal" if plan.returning else "switch.none"))
    for step in plan.steps:
        print("  " + _step_text(step, words))
    if plan.unreachable:
        print(words("switch.unreachable", sections=", ".join(plan.unreachable)))
    return 0


def _restore_by_switching(
    args: argparse.Namespace, ctx: Context, words: Words, card: OutageCard, version: int
) -> Outcome:
    """Carry out the plan's steps (or one), each as the console does; the first refusal stops it."""
    found = switching_plan(ctx, card.detail.outage.id, returning=args.switching == "return")
    steps = [s for s in found.plan.steps if args.step is None or s.order == args.step]
    if not steps:
        raise InvalidInput(
            f"the plan has no step {args.step}" if args.step else "the plan has no steps", field="step"
        )
    # The plan was read at the outage version now; a script's --expect-version must still hold.
    if version != found.outage_version:
        raise Conflict(f"outage {found.outage_id} changed since version {version}: read it again")
    expected = found.outage_version
    lines, done_steps = [], []
    for step in steps:
        refusal = step.effect.refusal()
        if refusal:
            raise InvalidInput(f"step {step.order} ({step.device_code}) {refusal}", field="switching")
        done = execute(
            ctx,
            OperateSwitch(
                found.outage_id,
                expected,
                step.device_id,
                found.device_versions.get(step.device_id),
                step.to_state,
                step.purpose,
            ),
        )
        expected = done.outage.version
        done_key = "switch.done.opened" if done.state == SwitchState.OPEN else "switch.done.closed"
        lines.append(
            f"{step.order}. "
            + words(
                done_key,
                switch=done.device_code,
                id=found.outage_id,
                device=card.detail.device_code,
                n=f"{done.customers_restored:,}",
                left=f"{done.outage.still_out:,}",
            )
        )
        done_steps.append(
            {
                "step": step.order,
                "switch": done.device_code,
                "state": done.state,
                "customers_restored": done.customers_restored,
            }
        )
    return "\n".join(lines), {
        "action": "switching",
        "plan": args.switching,
        "steps": done_steps,
        "version": expected,
    }
