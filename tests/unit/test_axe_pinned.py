"""axe-core, which the accessibility test injects into Chromium, is pinned and CI installs it.

A new axe-core release adds rules; an unpinned one would fail (or pass) CI for reasons no commit
of ours made. CI installs exactly the locked version before the tests, and nobody commits it.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
EXACT_VERSION = re.compile(r"^\d+\.\d+\.\d+$")


def test_axe_core_is_pinned_to_one_version_in_package_and_lock() -> None:
    package = json.loads((ROOT / "package.json").read_text(encoding="utf-8"))
    lock = json.loads((ROOT / "package-lock.json").read_text(encoding="utf-8"))
    wanted = package["devDependencies"]["axe-core"]

    assert EXACT_VERSION.match(wanted), f"axe-core must be an exact version, not {wanted!r}"
    assert lock["packages"]["node_modules/axe-core"]["version"] == wanted
    assert lock["packages"]["node_modules/axe-core"]["integrity"].startswith("sha512-")


def test_ci_installs_the_locked_axe_core_before_the_tests() -> None:
    lines = [line.strip() for line in (ROOT / ".ci" / "run").read_text(encoding="utf-8").splitlines()]
    installs = [i for i, line in enumerate(lines) if line.startswith("npm ci")]
    tests = [i for i, line in enumerate(lines) if ".venv/bin/python -m pytest" in line]

    assert installs, ".ci/run does not run `npm ci`"
    assert tests and installs[0] < tests[0], "`npm ci` must come before the tests"


def test_node_modules_is_not_committed() -> None:
    ignored = (ROOT / ".gitignore").read_text(encoding="utf-8").splitlines()

    assert "node_modules/" in ignored
