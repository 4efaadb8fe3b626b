"""Someone's text inside Markdown, shown as written: the one escape for the pages and the exports.

`st.markdown`, `st.caption`, `st.error` and friends read Markdown with Streamlit's extensions, and a
situation report downloaded as Markdown is read by any Markdown viewer: a district name such as
`[call us](javascript:...)` would become a link, `![x](http://...)` an image fetched from the
internet, `:red[...]` coloured text, `:material/...:` an icon, `- x` or `1. x` a list. Every
character that could start markup where it stands is escaped with a backslash (CommonMark lets any
ASCII punctuation be escaped, and shows it as itself), so the text reads exactly as typed:

- always: ``\\ ` * _ { } [ ] ( ) # ! | < > ~ $ &`` (emphasis, code, links, images, headings,
  tables, HTML and entities, strikethrough, Streamlit's LaTeX);
- a colon that could open Streamlit's `:red[`, `:material/...:` or an emoji `:name:`, or an
  `http://` autolink; other colons (08:00, "note: ...") mean nothing and read plainly;
- at the start of a line: `-`, `+`, `=` (lists, thematic breaks, underlined headings) and the
  dot that ends a number (`1. ` ordered lists); elsewhere they mean nothing, so codes like TX-4
  and figures like 3.5 read plainly;
- the dot of `www.` (GitHub-flavoured Markdown links it without any brackets).
"""

from __future__ import annotations

import re

_ALWAYS = r"[\\`*_{}\[\]()#!|<>~$&]"
_COLON = r":(?=[\w-]*[:/\[])"
_LINE_START = r"(?<![^\n])[ \t]*[-+=]|(?<![^\n])[ \t]*\d+\.(?!\S)"
_WWW_DOT = r"(?i:(?<![\w.])www\.)"
MARKDOWN_SPECIAL = re.compile(f"{_ALWAYS}|{_COLON}|{_LINE_START}|{_WWW_DOT}")


def _escape_last(match: re.Match[str]) -> str:
    text = match.group()
    return f"{text[:-1]}\\{text[-1]}"


def plain(text: object) -> str:
    """`text` (any value, as `str`) escaped for Markdown."""
    return MARKDOWN_SPECIAL.sub(_escape_last, str(text))
