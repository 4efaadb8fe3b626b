"""The one CSV reader and the one problem type, without a database."""

from __future__ import annotations

import csv
import io

import pytest

from emergency.core.csv_input import CsvReader, not_text, width_problem
from emergency.core.errors import InvalidInput, Problem


def test_a_record_knows_the_lines_it_starts_and_ends_on() -> None:
    text = 'code,name\nA,"two\nlines"\n\n,\nB,one\n'
    records = list(CsvReader(io.StringIO(text, newline="")))
    assert [(r.start, r.end, r.values) for r in records] == [
        (1, 1, ["code", "name"]),
        (2, 3, ["A", "two\nlines"]),
        (4, 4, []),
        (5, 5, ["", ""]),
        (6, 6, ["B", "one"]),
    ]
    assert [r.blank for r in records] == [False, False, True, True, False]


def test_a_broken_file_raises_as_the_csv_module_does_and_says_how_far_it_got() -> None:
    reader = CsvReader(io.StringIO('a,b\n1,"x' + "y" * 200_000 + '"\n', newline=""))
    with pytest.raises(csv.Error):
        list(reader)
    assert reader.lines_read == 2


def test_a_record_of_the_wrong_width_is_explained() -> None:
    assert width_problem(["1", "2"], 2) is None
    assert width_problem(["1"], 2) == "row has 1 values, the header has 2"
    assert width_problem(["1", "open\nquote"], 3) == (
        "row has 2 values, the header has 3 (is a quote left open?)"
    )


def test_files_saved_as_something_else_are_named() -> None:
    assert not_text(b"PK\x03\x04rest") == (
        "a ZIP archive or an Excel workbook, not a text file; save as CSV UTF-8"
    )
    assert not_text("a,b".encode("utf-16")) == "UTF-16 text; save it as UTF-8"
    assert not_text(b"a,b\n") is None


def test_a_problem_reads_the_same_wherever_it_was_found() -> None:
    assert str(Problem.in_file("crews.csv", 4, "size", "not a whole number: '4.5'")) == (
        "crews.csv:4: size: not a whole number: '4.5'"
    )
    assert str(Problem.in_file("crews.csv", None, "", "is a directory, not a file")) == (
        "crews.csv: is a directory, not a file"
    )
    assert str(Problem.in_file("d.geojson", 0, "geometry", "is empty", "feature")) == (
        "d.geojson: feature 0: geometry: is empty"
    )
    assert Problem.in_item(3, "kind", "required").to_json() == {
        "index": 3,
        "field": "kind",
        "reason": "required",
    }
    assert Problem.in_file("calls.csv", 2, "account_no", "unknown").to_json() == {
        "line": 2,
        "field": "account_no",
        "reason": "unknown",
    }
    row = Problem.on_line(5, "A-1", "grade", "unknown grade 'grade9'")
    assert (row.line, row.subject, row.message) == (5, "A-1", "grade: unknown grade 'grade9'")
    assert row.message == str(InvalidInput("unknown grade 'grade9'", field="grade"))
    assert Problem.at_device("T01", "is part of a cycle: the network must be radial").subject == "T01"
