"""`python -m emergency ...`: set up a database, load data, manage users, read the status.

Each command prints a one-line summary, or machine-readable JSON with `--json`. Exit codes:
0 done, 2 refused (bad input, conflict, missing database), 1 unexpected failure.
"""

from __future__ import annotations

import argparse
import dataclasses
import getpass
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from emergency.app.bootstrap import init_database
from emergency.app.bus import execute
from emergency.app.context import Context
from emergency.core.actor import CLI_ADMIN
from emergency.core.clock import SYSTEM_CLOCK
from emergency.core.config import load_settings
from emergency.core.db import Database, get_database
from emergency.core.errors import EmergencyError, InvalidInput
from emergency.core.models import Role, TokenScope
from emergency.demo.parameters import DEFAULT_CUSTOMERS, DEFAULT_SEED


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m emergency", description="Outage Desk command line")
    parser.add_argument(
        "--db", help="database URL (default: OUTAGE_DB_URL, or the SQLite file in data/runtime/)"
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    init = commands.add_parser("init", help="create or upgrade the schema; --demo adds the demo territory")
    init.add_argument("--demo", action="store_true", help="generate the demo territory")
    init.add_argument("--customers", type=_positive_int, default=DEFAULT_CUSTOMERS)
    init.add_argument("--seed", type=int, default=DEFAULT_SEED)
    init.add_argument(
        "--history-years",
        type=int,
        default=None,
        help="with --demo: years of closed outages before today for the reliability report (default 3)",
    )
    init.add_argument("--json", action="store_true")

    load = commands.add_parser(
        "import", help="load a utility's own territory from CSV, GeoPackage, Shapefile or GeoJSON"
    )
    load.add_argument(
        "--network",
        type=Path,
        required=True,
        help="devices: CSV, or a GeoPackage / Shapefile (.shp or .zip) / GeoJSON with its conductors",
    )
    load.add_argument(
        "--customers", type=Path, required=True, help="customers: CSV, or a GIS file (may be the network's)"
    )
    load.add_argument("--crews", type=Path, help="crews CSV")
    load.add_argument("--districts", type=Path, help="districts GeoJSON (WGS84)")
    load.add_argument(
        "--crs",
        help="coordinate system of files that state none (CSV x/y, a Shapefile without .prj), "
        "e.g. EPSG:4527; positions are reprojected to WGS84",
    )
    load.add_argument("--json", action="store_true")

    users = commands.add_parser("users", help="staff accounts")
    user_commands = users.add_subparsers(dest="users_command", required=True, metavar="ACTION")
    add = user_commands.add_parser("add", help="add a user; the password is read from a prompt or stdin")
    add.add_argument("username")
    add.add_argument("--role", required=True, choices=[r.value for r in Role])
    add.add_argument("--name", help="display name")
    listing = user_commands.add_parser("list", help="list users")
    listing.add_argument("--json", action="store_true")
    disable = user_commands.add_parser("disable", help="disable a user")
    disable.add_argument("username")
    reset = user_commands.add_parser("reset-password", help="set a new password (prompt or stdin)")
    reset.add_argument("username")

    status = commands.add_parser("status", help="active outages and crews")
    status.add_argument("--json", action="store_true")

    from emergency.reporting.command import add_parser as add_report_parser

    add_report_parser(commands)

    commands.add_parser("bench", help="performance benchmarks beside naive baselines (bench --help)")

    tca = commands.add_parser("tca", help="trouble-call analysis: learn its settings from the history")
    tca.add_argument("tca_command", choices=["learn"], metavar="learn")
    tca.add_argument("--json", action="store_true")

    notify = commands.add_parser("notify", help="customer notifications (SMS, app push, e-mail)")
    notify_commands = notify.add_subparsers(dest="notify_command", required=True, metavar="ACTION")
    notify_run = notify_commands.add_parser(
        "run", help="queue the messages outage changes call for, then send what is queued"
    )
    notify_run.add_argument("--json", action="store_true")

    publish = commands.add_parser("publish", help="write the public snapshot as static files to serve")
    publish.add_argument("--out", type=Path, required=True, help="folder to write (created if missing)")
    publish.add_argument("--json", action="store_true")

    ingest = commands.add_parser("ingest", help="store and analyse reports from a CSV or JSON Lines file")
    ingest.add_argument("file", type=Path, help="a .csv file with a header row, or .jsonl / .ndjson")
    ingest.add_argument(
        "--batch", type=_positive_int, default=1_000, help="reports per transaction (max 5000)"
    )
    ingest.add_argument("--json", action="store_true")

    tokens = commands.add_parser("tokens", help="API tokens for machine intake and crew positions")
    token_commands = tokens.add_subparsers(dest="tokens_command", required=True, metavar="ACTION")
    token_add = token_commands.add_parser("add", help="create a token; it is printed once, never again")
    token_add.add_argument("name")
    token_add.add_argument("--scope", default=TokenScope.INTAKE.value, choices=[s.value for s in TokenScope])
    token_list = token_commands.add_parser("list", help="list tokens (never the tokens themselves)")
    token_list.add_argument("--json", action="store_true")
    token_revoke = token_commands.add_parser("revoke", help="stop a token working")
    token_revoke.add_argument("name")

    backup = commands.add_parser("backup", help="copy the whole database to a file while it runs")
    backup.add_argument("file", type=Path, help="the backup file to write (replaced only when complete)")
    backup.add_argument("--json", action="store_true")
    restore = commands.add_parser("restore", help="replace the database's content with a backup's")
    restore.add_argument("file", type=Path, help="a file written by `backup`")
    restore.add_argument("--force", action="store_true", help="replace a database that already has tables")
    restore.add_argument("--json", action="store_true")

    from emergency.simulator.command import add_parser as add_simulate_parser

    add_simulate_parser(commands)

    warnings = commands.add_parser("warnings", help="disaster warnings: import an official CAP 1.2 alert")
    warning_commands = warnings.add_subparsers(dest="warnings_command", required=True, metavar="ACTION")
    warning_import = warning_commands.add_parser(
        "import", help="read a CAP 1.2 XML file: an Alert into a draft, an Update or Cancel onto its warning"
    )
    warning_import.add_argument("file", type=Path, help="a CAP 1.2 alert (.xml)")
    warning_import.add_argument(
        "--allow-test",
        action="store_true",
        help="take a Test or Exercise message as a draft (for drills; it can never be issued)",
    )
    warning_import.add_argument("--json", action="store_true")
    from emergency.operations_cli import add_parser as add_outages_parser

    add_outages_parser(commands)
    return parser


def _positive_int(text: str) -> int:
    value = int(text)
    if value <= 0:
        raise argparse.ArgumentTypeError("must be a positive number")
    return value


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["bench"]:
        # Everything after `bench` belongs to the benchmark runner (names, --sizes, --json, --help).
        import bench

        return bench.main(argv[1:])
    args = build_parser().parse_args(argv)
    url = args.db or load_settings().db_url
    try:
        return _run(args, get_database(url))
    except EmergencyError as error:
        print(f"refused: {error}", file=sys.stderr)
        return 2


def _run(args: argparse.Namespace, db: Database) -> int:
    clock = SYSTEM_CLOCK
    if args.command == "init":
        demo = init_database(
            db,
            clock,
            demo=args.demo,
            customers=args.customers,
            seed=args.seed,
            history_years=args.history_years,
        )
        return _say(
            args,
            f"database ready at {_safe_url(db)}" + (f"; demo: {demo}" if demo else ""),
            {"database": _safe_url(db), "demo": _as_json(demo)},
        )
    if args.command == "restore":
        # Before the schema check: restoring into a new, empty database is the usual case.
        return _backup_or_restore(args, db)
    if not db.has_schema():
        print(
            f"refused: no Outage Desk schema at {_safe_url(db)}; run `python -m emergency init` first",
            file=sys.stderr,
        )
        return 2
    if args.command == "import":
        from emergency.app.commands.network import ImportTerritory
        from emergency.network.importer import ImportRejected

        try:
            summary = execute(
                _admin_context(db),
                ImportTerritory(
                    network=args.network,
                    customers=args.customers,
                    crews=args.crews,
                    districts=args.districts,
                    crs=args.crs,
                ),
            )
        except ImportRejected as rejected:
            for error in rejected.errors:
                print(error, file=sys.stderr)
            total = len(rejected.errors) + rejected.omitted
            more = f" (the first {len(rejected.errors)} are listed)" if rejected.omitted else ""
            print(f"refused: {total} problem(s){more}; nothing was imported", file=sys.stderr)
            return 2
        return _say(args, str(summary), summary.to_dict())
    if args.command == "users":
        return _users(args, db)
    if args.command == "status":
        from emergency.app.queries.status import operational_status

        status = operational_status(_admin_context(db))
        return _say(args, status.summary(), status.to_json())
    if args.command == "tca":
        from emergency.app.commands.locate import LearnTcaSettings
        from emergency.network.tca_learn import as_json

        learned = execute(_admin_context(db), LearnTcaSettings())
        return _say(args, learned.summary(), as_json(learned))
    if args.command == "report":
        from emergency.reporting.command import run as report

        return report(args, _admin_context(db))
    if args.command == "ingest":
        return _ingest(args, db)
    if args.command == "tokens":
        return _tokens(args, db)
    if args.command == "warnings":
        return _warnings(args, db)
    if args.command == "outages":
        from emergency.operations_cli import run as outages

        return outages(args, _admin_context(db), load_settings().language)
    if args.command == "notify":
        return _notify(args, db)
    if args.command == "publish":
        return _publish(args, db)
    if args.command == "simulate":
        from emergency.simulator.command import run as simulate

        return simulate(args, db, load_settings().timezone)
    if args.command == "backup":
        return _backup_or_restore(args, db)
    raise AssertionError(f"unhandled command {args.command}")


def _users(args: argparse.Namespace, db: Database) -> int:
    from emergency.app.commands.admin import CreateUser, DisableUser, ResetPassword
    from emergency.app.queries.admin import users

    ctx = _admin_context(db)
    action = args.users_command
    if action == "list":
        rows = [
            {
                "username": u.username,
                "name": u.display_name,
                "role": u.role,
                "active": u.active,
                "locked_until": u.locked_until.isoformat() if u.locked_until else None,
            }
            for u in users(ctx)
        ]
        if args.json:
            print(json.dumps(rows, ensure_ascii=False))
        else:
            for row in rows:
                state = "active" if row["active"] else "disabled"
                print(f"{row['username']:<20} {row['role']:<11} {state:<9} {row['name']}")
            print(f"{len(rows)} user(s)")
        return 0
    if action == "disable":
        execute(ctx, DisableUser(args.username))
        print(f"disabled {args.username}")
        return 0
    password = _read_password()
    if action == "add":
        username = execute(ctx, CreateUser(args.username, password, args.role, args.name))
        role = next(u.role for u in users(ctx) if u.username == username)
        print(f"added {username} ({role})")
    else:
        execute(ctx, ResetPassword(args.username, password))
        print(f"password reset for {args.username}")
    return 0


def _admin_context(db: Database) -> Context:
    """The CLI acts as its fixed administrator, in the configured time zone."""
    return Context(db, SYSTEM_CLOCK, CLI_ADMIN, load_settings().timezone)


def _read_password() -> str:
    """From an interactive prompt (asked twice), or the first line of stdin: never an argument,
    which would end up in shell history and the process list."""
    if sys.stdin.isatty():
        first = getpass.getpass("Password: ")
        if getpass.getpass("Repeat password: ") != first:
            raise InvalidInput("the two passwords differ", field="password")
        return first
    return sys.stdin.readline().rstrip("\r\n")


def _say(args: argparse.Namespace, line: str, data: Any) -> int:
    print(json.dumps(data, ensure_ascii=False, default=str) if getattr(args, "json", False) else line)
    return 0


def _as_json(summary: object | None) -> Any:
    if summary is None:
        return None
    if dataclasses.is_dataclass(summary) and not isinstance(summary, type):
        return dataclasses.asdict(summary)
    return str(summary)


def _safe_url(db: Database) -> str:
    return db.engine.url.render_as_string(hide_password=True)


def _ingest(args: argparse.Namespace, db: Database) -> int:
    from emergency.app.commands.intake import IngestFile
    from emergency.intake.ingest_file import CLI_INTAKE

    ctx = Context(db, SYSTEM_CLOCK, CLI_INTAKE, load_settings().timezone)
    summary = execute(ctx, IngestFile(args.file, batch_size=args.batch))
    for problem in summary.problems:
        print(problem, file=sys.stderr)
    if summary.without_external_id:
        print(
            f"warning: {summary.without_external_id} report(s) without an external_id; "
            "running this file again would store them again",
            file=sys.stderr,
        )
    _say(args, summary.summary(), summary.to_json())
    return 2 if summary.problems else 0


def _backup_or_restore(args: argparse.Namespace, db: Database) -> int:
    from emergency.core.backup import backup_database, restore_database

    if args.command == "backup":
        summary = backup_database(db, args.file, env=os.environ)
    else:
        summary = restore_database(db, args.file, env=os.environ, force=args.force)
    return _say(args, summary.summary(), dataclasses.asdict(summary))


def _publish(args: argparse.Namespace, db: Database) -> int:
    from emergency.network.model import build_network_model
    from emergency.public.snapshot import build_public_snapshot
    from emergency.public.static_site import write_static_site

    with db.read() as session:
        snapshot = build_public_snapshot(session, SYSTEM_CLOCK, build_network_model(session))
    files = write_static_site(snapshot, args.out, load_settings().timezone.key)
    line = (
        f"wrote {len(files)} files to {args.out}: {snapshot.customers_out:,} customers out "
        f"in {snapshot.outages:,} outages, {len(snapshot.areas['features'])} areas drawn"
    )
    return _say(args, line, {"out": str(args.out), "files": len(files), **snapshot.summary_json()})


def _notify(args: argparse.Namespace, db: Database) -> int:
    from emergency.public.notify import run_notifications

    settings = load_settings()
    swept, delivered = run_notifications(
        db, SYSTEM_CLOCK, settings.timezone, webhook_token=settings.notify_webhook_token
    )
    return _say(
        args,
        f"{swept.summary()}; {delivered.summary()}",
        {"queued": swept.to_json(), "delivered": delivered.to_json()},
    )


def _tokens(args: argparse.Namespace, db: Database) -> int:
    from emergency.app.commands.admin import CreateToken, RevokeToken
    from emergency.app.queries.admin import api_tokens

    ctx = _admin_context(db)
    action = args.tokens_command
    if action == "add":
        token = execute(ctx, CreateToken(args.name, args.scope))
        # The token alone on stdout, so `TOKEN=$(python -m emergency tokens add ...)` works.
        print(token)
        print(
            f"token {args.name.strip()} ({args.scope}) created; copy it now: only its hash is stored, "
            "it cannot be shown again",
            file=sys.stderr,
        )
        return 0
    if action == "revoke":
        execute(ctx, RevokeToken(args.name))
        print(f"revoked token {args.name.strip()}")
        return 0
    listed = api_tokens(ctx)
    if args.json:
        print(json.dumps([t.to_json() for t in listed], ensure_ascii=False))
        return 0
    for t in listed:
        state = "active" if t.active else "revoked"
        used = t.last_used_at.isoformat(timespec="minutes") if t.last_used_at else "never used"
        print(
            f"{t.name:<24} {t.scope:<14} {state:<8} created {t.created_at:%Y-%m-%d} by {t.created_by}; {used}"
        )
    print(f"{len(listed)} token(s)")
    return 0


def _warnings(args: argparse.Namespace, db: Database) -> int:
    from emergency.app.commands.warnings import ImportCapAlert
    from emergency.app.queries.warnings import warning_detail

    try:
        data = args.file.read_bytes()
    except OSError as error:
        raise InvalidInput(f"cannot read {args.file}: {error.strerror}", field="file") from None
    ctx = _admin_context(db)
    outcome = execute(ctx, ImportCapAlert(data, allow_test=args.allow_test, origin=f"cli:{args.file.name}"))
    assert outcome.warning_id is not None  # refusals and duplicates are raised
    draft = warning_detail(ctx, outcome.warning_id)
    summary: dict[str, Any] = {
        "id": outcome.warning_id,
        "outcome": outcome.kind,
        "status": draft.row.status,
        "hazard": draft.row.hazard,
        "level": None if "level" in draft.needs else draft.row.level,
        "districts": list(draft.row.districts),
        "cap_identifier": draft.cap_identifier,
        "needs": list(draft.needs),
        "notes": [note.as_json() for note in outcome.notes],
    }
    level = summary["level"] or "level to choose"
    where = ", ".join(summary["districts"]) or "an area still to draw or pick"
    verb = {"created": "imported", "updated": "updated", "cancelled": "cancelled"}[outcome.kind]
    line = (
        f"{verb} {args.file.name}: warning {outcome.warning_id} ({draft.row.status}), {level} "
        f"{summary['hazard']} over {where}"
    )
    if draft.needs:
        line += f"; before issuing it needs: {', '.join(draft.needs)}"
    return _say(args, line, summary)
