"""`python -m emergency import-roster FILE --as NAME`: the sample roster imports with a line per company;
a roster with bad rows lists each as FILE:ROW: column: reason, imports nothing and exits 2."""

from __future__ import annotations

import json
from pathlib import Path

from sqlalchemy import func, select

from emergency.cli import main
from emergency.core.models import Crew, Depot
from tests.support.small_territory import build_small_territory

SAMPLE = Path(__file__).resolve().parents[2] / "data" / "samples" / "mutual-aid-roster.xlsx"


def territory_with_staging(database, clock) -> None:
    built = build_small_territory(database, clock)
    with database.write() as session:
        for code, name_zh in (("SA-PORT", "澜海港应急集结点"), ("SA-WEST", "西部山区应急集结点")):
            session.add(
                Depot(
                    code=code,
                    name_en=code,
                    name_zh=name_zh,
                    district_id=built.district_ids["E"],
                    lon=121.15,
                    lat=28.05,
                    is_staging=True,
                )
            )


def crews(database) -> int:
    with database.read() as session:
        return session.scalar(select(func.count()).select_from(Crew).where(Crew.company.is_not(None))) or 0


def test_import_roster_from_the_command_line(database, clock, tmp_path, capsys):
    territory_with_staging(database, clock)
    bad = tmp_path / "bad.csv"
    bad.write_text("company,crew,leader,phone,size,staging site\n东屿电力,DY-1,陈立,13812345678,0,SA-PORT\n")

    assert main(["--db", database.url, "import-roster", str(bad), "--as", "dispatcher"]) == 2
    err = capsys.readouterr().err
    assert f"{bad}:2: size: '0' is not a whole number of workers from 1 to 50" in err
    assert "refused: 1 problem(s); nothing was imported" in err
    assert crews(database) == 0

    assert main(["--db", database.url, "import-roster", str(SAMPLE), "--as", "dispatcher", "--json"]) == 0
    said = json.loads(capsys.readouterr().out)
    assert said["stored"] == 50 and [c["crews"] for c in said["companies"]] == [22, 28]
    assert crews(database) == 50

    assert main(["--db", database.url, "import-roster", str(SAMPLE), "--as", "admin"]) == 2
    assert "refused" in capsys.readouterr().err
