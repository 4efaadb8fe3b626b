"""`python -m emergency simulate`: run a scenario against a database from the command line."""

from __future__ import annotations

import argparse
import json
from typing import Any
from zoneinfo import ZoneInfo

from emergency.core.db import Database
from emergency.core.errors import InvalidInput
from emergency.simulator.scenarios import SCENARIOS


def add_parser(commands: Any) -> None:
    simulate = commands.add_parser(
        "simulate", help="replay a storm (typhoon, thunderstorm, feeder-trip, ice-storm) through the services"
    )
    simulate.add_argument("--scenario", choices=sorted(SCENARIOS), default="typhoon")
    simulate.add_argument(
        "--speed",
        type=float,
        default=0.0,
        help="simulated time runs this many times faster than wall time; 0 (default): as fast as possible",
    )
    simulate.add_argument("--seed", type=int, default=7, help="the same seed gives the same storm and events")
    simulate.add_argument(
        "--auto-dispatch",
        action="store_true",
        help="dispatch by the storm plan outages nobody dispatched or acted on within --grace minutes",
    )
    simulate.add_argument("--grace", type=float, default=3.0, help="minutes left to a dispatcher (default 3)")
    simulate.add_argument(
        "--duration",
        type=float,
        help="stop after this many simulated minutes (default: the scenario's limit)",
    )
    simulate.add_argument("--events", action="store_true", help="print every event of the run")
    simulate.add_argument(
        "--no-meter-pings",
        action="store_true",
        help="do not ask smart meters below doubtful predictions (to compare location accuracy)",
    )
    simulate.add_argument("--json", action="store_true")


def run(args: argparse.Namespace, db: Database, tz: ZoneInfo) -> int:
    from emergency.simulator.runner import Simulation

    if args.speed < 0:
        raise InvalidInput("must be 0 (as fast as possible) or more", field="speed")
    if args.duration is not None and args.duration <= 0:
        raise InvalidInput("must be a positive number of minutes", field="duration")
    simulation = Simulation(
        db,
        SCENARIOS[args.scenario],
        seed=args.seed,
        auto_dispatch=args.auto_dispatch,
        grace_minutes=args.grace,
        show_movement=args.speed > 0,
        tz=tz,
        meter_pings=not args.no_meter_pings,
    )
    if args.speed > 0:
        summary = simulation.run_paced(args.speed, args.duration)
    else:
        summary = simulation.run_fast(args.duration)
    if args.events and not args.json:
        for event in simulation.events:
            print(event.line())
    if args.json:
        data = {
            **{k: v for k, v in vars(summary).items() if k != "outages"},
            "outages": sorted(summary.outages),
            "location": summary.location(),
            "events": [vars(e) for e in simulation.events] if args.events else None,
        }
        print(json.dumps(data, ensure_ascii=False, default=str))
    else:
        print(summary.line())
    return 0
