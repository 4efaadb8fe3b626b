"""Someone's text inside Markdown, shown as written: the pages' name for `emergency.core.markdown`,
the one escape the pages and the situation report's Markdown export share."""

from __future__ import annotations

from emergency.core.markdown import plain

__all__ = ["plain"]
