"""`python -m emergency simulate`: the command line around the simulator, paced and stopped early."""

from __future__ import annotations

import json

from emergency.cli import main
from emergency.demo.load import load_demo


def test_a_paced_feeder_trip_from_the_command_line_ends_with_everything_restored(
    sqlite_database, clock, capsys
):
    load_demo(sqlite_database, clock, customers=2_000, seed=7)
    url = sqlite_database.url
    # Paced at 200,000x: ten simulated hours pass in well under a second of waiting.
    code = main(
        [
            "--db",
            url,
            "simulate",
            "--scenario",
            "feeder-trip",
            "--auto-dispatch",
            "--speed",
            "200000",
            "--json",
        ]
    )
    assert code == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["scenario"] == "feeder-trip" and summary["damages"] >= 1
    assert summary["outages"] and summary["dispatched"] >= 1
    assert summary["still_active"] == 0


def test_duration_stops_the_run_early_and_bad_figures_are_refused(sqlite_database, clock, capsys):
    load_demo(sqlite_database, clock, customers=2_000, seed=7)
    url = sqlite_database.url
    assert main(["--db", url, "simulate", "--scenario", "typhoon", "--duration", "30", "--events"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert "warning" in lines[0] and lines[-1].startswith("typhoon (seed 7): 30 simulated minutes")
    assert main(["--db", url, "simulate", "--speed", "-1"]) == 2
    assert "speed: must be 0" in capsys.readouterr().err
