"""`python -m emergency ingest`: CSV and JSON Lines files of reports, on SQLite and PostgreSQL.

The small territory of tests/support/small_territory.py: TX-1 (3 customers) and TX-2 (4) under FU-1.
"""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from bench import bench_intake
from emergency import cli
from emergency.core.actor import CLI_ADMIN
from emergency.core.clock import FakeClock
from emergency.core.config import REPO_ROOT
from emergency.core.db import Database
from emergency.core.errors import InvalidInput, Problem
from emergency.core.models import Device, Outage, OutageState, Report
from emergency.intake.ingest_file import CLI_INTAKE, IngestSummary
from tests.support.commands import import_territory, ingest_file
from tests.support.small_territory import SmallTerritory, build_small_territory

COLUMNS = (
    "channel",
    "external_id",
    "kind",
    "reported_at",
    "account_no",
    "lon",
    "lat",
    "device_code",
    "description",
    "contact_name",
    "contact_phone",
)
HEADER = ",".join(COLUMNS)
SAMPLES = REPO_ROOT / "data" / "samples"


@pytest.fixture
def territory(database: Database, clock: FakeClock) -> SmallTerritory:
    return build_small_territory(database, clock)


def account(territory: SmallTerritory, transformer: str, n: int = 0) -> str:
    return territory.account_by_transformer[transformer][n]


def write(tmp_path: Path, name: str, lines: list[str]) -> Path:
    path = tmp_path / name
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def reports_stored(db: Database) -> int:
    with db.read() as session:
        return session.scalar(select(func.count()).select_from(Report)) or 0


def problems(summary: IngestSummary) -> list[tuple[int, str]]:
    return [(p.line, p.field) for p in summary.problems]


def test_a_csv_is_ingested_with_each_refused_row_on_its_file_line(
    database: Database, clock: FakeClock, territory: SmallTerritory, tmp_path: Path
) -> None:
    at = (clock.now() - timedelta(minutes=2)).isoformat()
    path = write(
        tmp_path,
        "calls.csv",
        [
            HEADER,
            f"hotline,C-1,no_power,{at},{account(territory, 'TX-1', 0)},,,,,,",
            f'app,C-2,no_power,,{account(territory, "TX-1", 1)},,,,"two lines\nof description",,',
            "hotline,C-3,no_power,,0000000000,,,,,,",
            "",
            "hotline,C-4,no_power",
            "web,C-5,no_power,,,121.0501,28.0601,,,,",
            "web,C-6,no_power,,,abc,28.06,,,,",
            "sms,C-7,hazard,,,,,,,,",
        ],
    )

    summary = ingest_file(database, clock, CLI_INTAKE, path, batch_size=2)

    # Line 3 holds a two-line description, so the unknown account is on line 5, not 4.
    assert problems(summary) == [(5, "account_no"), (7, "report"), (9, "lon"), (10, "account_no")]
    assert "row has 3 values, the header has 11" in summary.problems[1].reason
    assert str(summary.problems[0]) == f"{path}:5: account_no: unknown account number"
    assert (summary.stored, summary.duplicates, summary.refused) == (3, 0, 4)
    assert reports_stored(database) == 3
    assert len(summary.analysis.predicted) >= 1, "two calls and a located report on TX-1 predict it"
    with database.read() as session:
        description = session.scalar(select(Report.description).where(Report.external_id == "C-2"))
        lon = session.scalar(select(Report.lon).where(Report.external_id == "C-5"))
    assert description == "two lines\nof description"
    assert lon == pytest.approx(121.0501)


def test_running_the_same_file_again_stores_nothing_new(
    database: Database, clock: FakeClock, territory: SmallTerritory, tmp_path: Path
) -> None:
    path = write(
        tmp_path,
        "calls.csv",
        [HEADER] + [f"hotline,R-{n},no_power,,{account(territory, 'TX-4', n)},,,,,," for n in range(4)],
    )
    first = ingest_file(database, clock, CLI_INTAKE, path)
    with database.read() as session:
        ids = session.scalars(select(Report.id).order_by(Report.id)).all()
        outages = session.scalar(select(func.count()).select_from(Outage))

    clock.advance(minutes=5)
    again = ingest_file(database, clock, CLI_INTAKE, path)

    assert (first.stored, first.duplicates) == (4, 0)
    assert (again.stored, again.duplicates, again.refused) == (0, 4, 0)
    assert again.analysis.predicted == []
    with database.read() as session:
        assert session.scalars(select(Report.id).order_by(Report.id)).all() == ids
        assert session.scalar(select(func.count()).select_from(Outage)) == outages


def test_json_lines_with_bad_lines_reported_by_line(
    database: Database, clock: FakeClock, territory: SmallTerritory, tmp_path: Path
) -> None:
    good = {"channel": "meter", "kind": "last_gasp", "account_no": account(territory, "TX-2", 0)}
    path = tmp_path / "meters.jsonl"
    path.write_bytes(
        b"\n".join(
            [
                json.dumps({**good, "external_id": "LG-1"}).encode(),
                b"",
                b'{"channel": "meter", "kind": "last_gasp",',
                json.dumps(["not", "an", "object"]).encode(),
                json.dumps({**good, "external_id": "LG-2", "account_no": "\u6ee8"}).encode(),
                b'{"channel": "meter", "description": "caf\xe9"}',
                json.dumps({**good, "external_id": "LG-3", "lon": float("nan")}).encode(),
                json.dumps({**good, "external_id": "LG-5", "description": "@"})
                .replace("@", "\\udc80")
                .encode(),
                json.dumps(
                    {**good, "external_id": "LG-4", "account_no": account(territory, "TX-2", 1)}
                ).encode(),
            ]
        )
        + b"\n"
    )

    summary = ingest_file(database, clock, CLI_INTAKE, path)

    assert problems(summary) == [
        (3, "report"),
        (4, "report"),
        (5, "account_no"),
        (6, "report"),
        (7, "report"),
        (8, "report"),
    ]
    reasons = [p.reason for p in summary.problems]
    assert reasons[0].startswith("not valid JSON")
    assert reasons[1] == "must be an object of fields"
    assert "not UTF-8" in reasons[3]
    assert "NaN" in reasons[4]
    assert "surrogate" in reasons[5]
    assert (summary.stored, summary.refused) == (2, 6)
    assert reports_stored(database) == 2


def test_a_header_that_does_not_fit_stops_before_anything_is_stored(
    database: Database, clock: FakeClock, territory: SmallTerritory, tmp_path: Path
) -> None:
    row = f"hotline,H-1,no_power,{account(territory, 'TX-1')}"
    cases = {
        "unknown.csv": ["channel,external_id,kind,account_no,customer_name", row + ",Zhang"],
        "missing.csv": ["channel,external_id,account_no", f"hotline,H-1,{account(territory, 'TX-1')}"],
        "twice.csv": ["channel,external_id,kind,kind", row],
        "semicolons.csv": ["channel;external_id;kind;account_no", row.replace(",", ";")],
        "empty.csv": [""],
    }
    for name, lines in cases.items():
        summary = ingest_file(database, clock, CLI_INTAKE, write(tmp_path, name, lines))
        assert summary.problems and {p.line for p in summary.problems} == {1}, name
        assert {p.field for p in summary.problems} == {"header"}, name
    assert reports_stored(database) == 0


def test_files_that_are_not_report_files_are_refused_whole(
    database: Database, clock: FakeClock, tmp_path: Path
) -> None:
    (tmp_path / "calls.xlsx").write_bytes(b"PK\x03\x04rest")
    (tmp_path / "calls.csv").write_bytes(b"PK\x03\x04rest")
    (tmp_path / "utf16.csv").write_bytes(HEADER.encode("utf-16"))
    for name, message in (
        ("calls.xlsx", "unknown kind of file"),
        ("calls.csv", "Excel workbook"),
        ("utf16.csv", "UTF-16"),
        ("missing.jsonl", "cannot read"),
    ):
        with pytest.raises(InvalidInput, match=message):
            ingest_file(database, clock, CLI_INTAKE, tmp_path / name)
    with pytest.raises(InvalidInput, match="from 1 to 5000"):
        ingest_file(database, clock, CLI_INTAKE, tmp_path / "calls.csv", batch_size=5001)


def test_the_cli_prints_problems_as_file_line_field_and_exits_2(
    sqlite_database: Database, clock: FakeClock, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    territory = build_small_territory(sqlite_database, clock)
    # The CLI runs on the system clock, so the reports leave their time out: "now".
    good = write(tmp_path, "good.csv", [HEADER, f"hotline,G-1,no_power,,{account(territory, 'TX-5')},,,,,,"])
    bad = write(tmp_path, "bad.csv", [HEADER, "hotline,B-1,no_power,,0000000000,,,,,,"])
    no_ids = write(
        tmp_path,
        "no-ids.jsonl",
        [
            json.dumps(
                {"channel": "web", "kind": "partial_power", "account_no": account(territory, "TX-5", 1)}
            )
        ],
    )
    url = sqlite_database.url

    assert cli.main(["--db", url, "ingest", str(good)]) == 0
    out, err = capsys.readouterr()
    assert out.startswith(f"{good}: 1 reports stored, 0 duplicates, 0 refused; outages:") and err == ""

    assert cli.main(["--db", url, "ingest", str(bad), "--json"]) == 2
    out, err = capsys.readouterr()
    assert err.strip() == f"{bad}:2: account_no: unknown account number"
    assert json.loads(out)["problems"] == [
        Problem.in_file(str(bad), 2, "account_no", "unknown account number").to_json()
    ]

    assert cli.main(["--db", url, "ingest", str(no_ids)]) == 0
    assert "1 report(s) without an external_id" in capsys.readouterr().err

    assert cli.main(["--db", url, "ingest", str(tmp_path / "nowhere.csv")]) == 2
    assert "refused: cannot read" in capsys.readouterr().err


def test_the_sample_reports_fit_the_sample_territory(database: Database, clock: FakeClock) -> None:
    import_territory(
        database,
        clock,
        CLI_ADMIN,
        network=SAMPLES / "network.csv",
        customers=SAMPLES / "customers.csv",
        crews=SAMPLES / "crews.csv",
        districts=SAMPLES / "districts.geojson",
    )

    summary = ingest_file(database, clock, CLI_INTAKE, SAMPLES / "reports.csv")

    assert summary.problems == []
    assert (summary.stored, summary.duplicates) == (14, 1)
    with database.read() as session:
        states = dict(
            session.execute(
                select(Device.code, Outage.state)
                .join(Device, Device.id == Outage.device_id)
                .where(Outage.state.in_([OutageState.PREDICTED, OutageState.CONFIRMED]))
            ).all()
        )
    assert states["R03"] == OutageState.CONFIRMED, "the SCADA trip confirms an outage at once"
    # The calls under FU01's two transformers and under T05 (below R02) are best explained by one
    # fault at R01, above both (the evidence; the rules predicted FU01 and left T05 apart).
    assert states["R01"] == OutageState.PREDICTED, "calls under two branches of R01 point at R01"
    # One call on FU04's branch does not take the SCADA-confirmed R03 over from their breaker F02.
    assert "F02" not in states


def test_the_intake_benchmark_runs_at_a_small_size() -> None:
    rows = bench_intake(customers=1_000, reports=200, naive=10, batch=100)

    figures = {row.unit: row for row in rows}
    assert figures["reports/s"].value > 0 and figures["reports/s"].baseline
    assert figures["outages"].value >= 1
