"""Someone's text inside Markdown, shown as written: the one escape for the pages and the exports.

`st.markdown`, `st.caption`, `st.error` and friends read Markdown with Streamlit's extensions, and a
situation report downloaded as Markdown is read by any Markdown viewer: a district name such as
`[call us](javascript:...)` would become a link, `![x](http://...)` an image fetched from the
internet, `:red[...]` coloured text, `:material/...:` an icon, `- x` or `1. x` a list. Every
character that could start markup where it stands is escaped with a backslash (CommonMark lets any
ASCII punctuation be escaped, and shows it as itself), so the text reads exactly as typed:

- always: ``\\ ` * _ { } [ ] ( ) # ! | < > ~ $ &`` (emphasis, code, links, images, headings,
  tables, HTML and entities, strikethrough, Streamlit's LaTeX);
- colons: every one on a page, where Streamlit reads `:red[...]`, `:material/...:` and emoji
  `:name:`; in a Markdown file only one that could open an emoji or an `http://` autolink, so
  times (08:00) and "note: ..." read plainly there;
- at the start of a line: `-`, `+`, `=` (lists, thematic breaks, underlined headings) and the
  dot that ends a number (`1. ` ordered lists); elsewhere they mean nothing, so codes like TX-4
  and figures like 3.5 read plainly;
- the dot of `www.` (GitHub-flavoured Markdown links it without any brackets).
"""

from __future__ import annotations

import re

_ALWAYS = r"[\\`*_{}\[\]()#!|<>~$&]"
_LINE_START = r"(?<![^\n])[ \t]*[-+=]|(?<![^\n])[ \t]*\d+\.(?!\S)"
_WWW_DOT = r"(?i:(?<![\w.])www\.)"
_ON_A_PAGE = re.compile(f"{_ALWAYS}|:|{_LINE_START}|{_WWW_DOT}")
_IN_A_FILE = re.compile(rf"{_ALWAYS}|:(?=[\w-]*[:/\[])|{_LINE_START}|{_WWW_DOT}")


def _escape_last(match: re.Match[str]) -> str:
    text = match.group()
    return f"{text[:-1]}\\{text[-1]}"


def plain(text: object, *, streamlit: bool = True) -> str:
    """`text` (any value, as `str`) escaped for Markdown: for a page (Streamlit's extensions
    included), or with `streamlit=False` for a Markdown file."""
    return (_ON_A_PAGE if streamlit else _IN_A_FILE).sub(_escape_last, str(text))
