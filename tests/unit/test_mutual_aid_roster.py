"""Reading a lender's roster before anything is compared with the database: headers in English or
Chinese, XLSX number cells, and the refusals of a file as a whole (each with its reason)."""

from __future__ import annotations

import io
import re

import pytest
from openpyxl import Workbook

from emergency.core.errors import InvalidInput
from emergency.core.models import CrewKind
from emergency.dispatch.mutual_aid import MAX_ROSTER_BYTES, column_of, kind_from_skills, read_roster

HEADER = "单位,班组,负责人,电话,人数,技能,车辆,集结点"


def csv(*lines: str) -> bytes:
    return "\n".join(lines).encode("utf-8")


def test_english_and_chinese_headers_name_the_same_columns():
    assert [
        column_of(h) for h in ("Company", "班组", "Crew Code", "staging site", "Staging_Site", "集结点")
    ] == [
        "company",
        "crew",
        "crew",
        "staging_site",
        "staging_site",
        "staging_site",
    ]
    assert column_of("备注") is None


@pytest.mark.parametrize(
    ("skills", "kind"),
    [
        ("线路抢修", CrewKind.LINE),
        ("线路抢修、树障清理", CrewKind.LINE),
        ("电缆抢修", CrewKind.CABLE),
        ("tree trimming", CrewKind.TREE),
        ("故障巡视", CrewKind.ASSESSMENT),
        ("发电车保障", CrewKind.MUTUAL_AID),
        (None, CrewKind.MUTUAL_AID),
    ],
)
def test_the_crew_kind_comes_from_its_skills(skills, kind):
    assert kind_from_skills(skills) == kind


def test_a_good_row_is_cleaned_and_a_bad_one_is_named_by_its_row():
    roster = read_roster(
        csv(
            HEADER,
            "东屿电力,DY-1,陈立,+86 138-1234-5678,5,电缆,,SA-PORT",
            "",
            "东屿电力,DY-2,李强,13812345678,5,,,SA-PORT,extra",
        )
    )
    (row,) = roster.rows
    assert (row.line, row.crew, row.phone, row.size, row.kind) == (
        2,
        "DY-1",
        "+8613812345678",
        5,
        CrewKind.CABLE,
    )
    (problem,) = roster.problems
    assert (problem.line, problem.subject, problem.reason) == (4, "DY-2", "1 value(s) beyond the last column")


def test_xlsx_number_cells_are_read_as_their_digits():
    book = Workbook()
    sheet = book.active
    sheet.append(HEADER.split(","))
    sheet.append(["东屿电力", "DY-1", "陈立", 13812345678, 6.0, "线路", "工程车1辆", "SA-PORT"])
    data = io.BytesIO()
    book.save(data)
    (row,) = read_roster(data.getvalue(), "roster.xlsx").rows
    assert (row.phone, row.size, row.vehicles) == ("13812345678", 6, "工程车1辆")


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (csv("company,crew,leader,phone,size,staging site,备注"), "unknown column(s): 备注"),
        (csv("company,crew,leader,phone,size"), "missing column(s): staging_site"),
        (csv("company,crew,班组,leader,phone,size,staging site"), "column '班组' appears twice"),
        ("单位,班组".encode("gbk"), "not UTF-8 text"),
        (b"", "no header row"),
        (b"PK\x03\x04 not really a workbook", "not a readable Excel workbook"),
        (b"x" * (MAX_ROSTER_BYTES + 1), "larger than 2 MB"),
    ],
)
def test_a_file_that_cannot_be_used_is_refused_with_why(content, reason):
    with pytest.raises(InvalidInput, match=re.escape(reason)):
        read_roster(content)
