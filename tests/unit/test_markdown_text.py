"""The one Markdown escape: markup, Streamlit's directives and autolinks read as text; codes and
figures read plainly, and times too in a Markdown file."""

from __future__ import annotations

import pytest

from dashboard.markdown_text import plain as page_plain
from emergency.core.markdown import plain
from emergency.reporting.sitrep_export import escape_markdown


@pytest.mark.parametrize(
    ("text", "escaped"),
    [
        ("[click me](javascript:alert(1))", r"\[click me\]\(javascript\:alert\(1\)\)"),
        ("![pixel](http://evil.example/p.png)", r"\!\[pixel\]\(http\://evil.example/p.png\)"),
        (":red[ALARM] :material/warning: **bold**", r"\:red\[ALARM\] \:material/warning\: \*\*bold\*\*"),
        ("# heading | cell <b> &amp;", r"\# heading \| cell \<b\> \&amp;"),
        ("~x~ $x$ `code` _e_", r"\~x\~ \$x\$ \`code\` \_e\_"),
        ("- item\n+ item\n1. first\n===", "\\- item\n\\+ item\n1\\. first\n\\==="),
        ("see www.evil.example", r"see www\.evil.example"),
        ("back\\slash", "back\\\\slash"),
        ("phone: 08:00", r"phone\: 08\:00"),
    ],
)
def test_markup_on_a_page_is_escaped(text, escaped):
    assert plain(text) == escaped


@pytest.mark.parametrize(
    ("text", "escaped"),
    [
        ("[click](javascript:x)", r"\[click\]\(javascript:x\)"),
        ("http://evil.example :smile: :red[x]", r"http\://evil.example \:smile: \:red\[x\]"),
        ("Outage situation: 08:00 update", "Outage situation: 08:00 update"),
    ],
)
def test_in_a_markdown_file_only_colons_that_open_something_are_escaped(text, escaped):
    assert plain(text, streamlit=False) == escaped


@pytest.mark.parametrize("text", ["TX-4", "3.5 km", "a+b", "12.5"])
def test_codes_and_figures_read_plainly(text):
    assert plain(text) == text


def test_the_pages_and_the_situation_report_share_it():
    assert page_plain is plain
    assert escape_markdown("two\nlines [x](y)") == r"two lines \[x\]\(y\)"
