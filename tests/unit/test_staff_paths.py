"""Every staff page's address is in session.STAFF_PATHS (so a signed-out visitor's bookmark of it
shows the login form there), and no public page's is."""

from __future__ import annotations

import ast
from pathlib import Path

from dashboard.session import STAFF_PATHS

APP = Path(__file__).resolve().parents[2] / "dashboard" / "app.py"
PUBLIC_PATHS = {"status", "check", "report", "feedback"}
# The login page's own address, the crew leader's root (it opens /crew) and logout, which only
# ends a session.
NOT_PAGES_TO_KEEP = {"login", "crew-root", "logout"}


def registered_paths() -> set[str]:
    """The literal url_path of every st.Page dashboard/app.py registers."""
    found = set()
    for node in ast.walk(ast.parse(APP.read_text(encoding="utf-8"))):
        if isinstance(node, ast.keyword) and node.arg == "url_path" and isinstance(node.value, ast.Constant):
            found.add(node.value.value)
    return found


def test_the_staff_paths_are_exactly_the_staff_pages() -> None:
    paths = registered_paths()
    assert paths >= PUBLIC_PATHS
    assert paths - PUBLIC_PATHS - NOT_PAGES_TO_KEEP == STAFF_PATHS
