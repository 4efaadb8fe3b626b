"""`python -m emergency bench crowd` at a tiny size: the real server, the light page's viewers and
the Streamlit page's sessions, their figures side by side (the full size runs by hand: README)."""

from __future__ import annotations

import json

from bench import main as bench_main


def test_the_crowd_benchmark_runs_both_crowds_at_a_tiny_size(capsys) -> None:
    code = bench_main(
        [
            "crowd",
            "--viewers",
            "40",
            "--arrival-seconds",
            "4",
            "--poll-seconds",
            "3",
            "--streamlit-viewers",
            "5",
            "--json",
        ]
    )

    assert code == 0
    rows = {row["name"]: row for row in map(json.loads, capsys.readouterr().out.splitlines())}
    held = rows["public viewers held (p99 <= 1 s, no errors)"]
    assert held["budget"] == ">= 10,000"
    assert rows["errors (HTTP >= 400, refused, timed out)"]["value"] == 0
    # Each viewer polled at least once after its first load, and the server answered by ETag.
    assert rows["requests answered 304 Not Modified (revalidated by ETag)"]["value"] >= 40 * 3
    assert rows["requests/s over the crowd"]["value"] > 0
    # The Streamlit sessions ran the page: their script runs were timed and their bytes counted.
    assert rows["request latency p50"]["baseline"] > 0
    assert rows["received per viewer, as sent (gzip)"]["baseline"] > 0
    # Every viewer received the page, Leaflet and the feeds gzipped: well under the raw bytes.
    assert 0 < rows["received per viewer, as sent (gzip)"]["value"] < 1.0
    assert rows["server CPU per 1,000 viewers (1.0 = one core)"]["value"] > 0
    assert rows["server memory at the end (RSS)"]["value"] > 0
