"""The one Markdown escape: markup, Streamlit's directives and autolinks read as text; codes, figures
and times read plainly."""

from __future__ import annotations

import pytest

from dashboard.markdown_text import plain as page_plain
from emergency.core.markdown import plain
from emergency.reporting.sitrep_export import escape_markdown


@pytest.mark.parametrize(
    ("text", "escaped"),
    [
        ("[click me](javascript:alert(1))", r"\[click me\]\(javascript:alert\(1\)\)"),
        ("![pixel](http://evil.example/p.png)", r"\!\[pixel\]\(http\://evil.example/p.png\)"),
        (":red[ALARM] :material/warning: **bold**", r"\:red\[ALARM\] \:material/warning: \*\*bold\*\*"),
        (
            "# heading | cell <b> &amp; ~x~ $x$ `code` _e_",
            r"\# heading \| cell \<b\> \&amp; \~x\~ \$x\$ \`code\` \_e\_",
        ),
        ("- item\n+ item\n1. first\n===", "\\- item\n\\+ item\n1\\. first\n\\==="),
        ("see www.evil.example", r"see www\.evil.example"),
        ("back\\slash", "back\\\\slash"),
    ],
)
def test_markup_is_escaped(text, escaped):
    assert plain(text) == escaped


@pytest.mark.parametrize(
    "text", ["TX-4", "3.5 km", "a+b", "08:00 update", "Note: as written", "12. Juli"[:2]]
)
def test_codes_figures_and_times_read_plainly(text):
    assert plain(text) == text


def test_the_pages_and_the_situation_report_share_it():
    assert page_plain is plain
    assert escape_markdown("two\nlines [x](y)") == r"two lines \[x\]\(y\)"
