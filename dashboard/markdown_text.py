"""Someone's text inside Markdown, shown as written.

`st.markdown`, `st.caption`, `st.subheader`, `st.error` and friends read Markdown: a district name
such as `[call us](javascript:...)` would become a link, `![x](http://...)` an image fetched from
the internet, `:red[...]` coloured text and `:material/...:` an icon. Every character Markdown or
Streamlit's extensions give a meaning to is escaped with a backslash, so the text reads exactly as
typed. (Raw HTML is not rendered in these elements in any case.) Hyphens, dots and plus signs,
which only start a list at the beginning of a line, are left alone so codes like TX-4 read plainly.
"""

from __future__ import annotations

import re

MARKDOWN_SPECIAL = re.compile(r"([\\`*_{}\[\]()#!|<>~$:&])")


def plain(text: object) -> str:
    """`text` (any value, as `str`) escaped for Markdown."""
    return MARKDOWN_SPECIAL.sub(r"\\\1", str(text))
