"""The README's commands are tested, not just written: CI runs the test command as given there.

If someone edits the Quick start, CI must follow; if someone edits CI, the README must follow.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
CI_SCRIPT = ROOT / ".ci" / "run"


def quick_start_commands() -> list[str]:
    """The fenced `sh` blocks of the README's "Quick start" section, in order."""
    text = README.read_text(encoding="utf-8")
    section = re.search(r"^## Quick start\s*$(.*?)(?=^## |\Z)", text, flags=re.MULTILINE | re.DOTALL)
    assert section is not None, "README.md has no '## Quick start' section"
    return [
        block.strip()
        for block in re.findall(r"^```sh\n(.*?)^```", section.group(1), re.MULTILINE | re.DOTALL)
    ]


@pytest.fixture(scope="module")
def commands() -> list[str]:
    found = quick_start_commands()
    assert len(found) == 2, f"expected a run command and a test command in Quick start, found {found}"
    assert all("\n" not in command for command in found), "each Quick start command is one line"
    return found


def test_ci_runs_the_readme_test_command_word_for_word(commands: list[str]) -> None:
    test_command = commands[1]
    ci_lines = [line.strip() for line in CI_SCRIPT.read_text(encoding="utf-8").splitlines()]

    assert test_command in ci_lines, f".ci/run does not run the README's test command:\n{test_command}"


def test_the_readme_test_command_runs_pytest_in_the_venv(commands: list[str]) -> None:
    steps = [step.strip() for step in commands[1].split("&&")]

    assert steps[0] == "python3 -m venv .venv"
    assert steps[1].startswith(".venv/bin/pip install") and "requirements-dev.txt" in steps[1]
    assert steps[-1].startswith(".venv/bin/python -m pytest")
    # Everything runs: the tests outside the browser in two workers, then the browser tests alone.
    assert steps[2:] == [
        ".venv/bin/python -m pytest -q -n 2 --ignore=tests/e2e",
        ".venv/bin/python -m pytest -q tests/e2e",
    ]


def test_the_readme_run_command_starts_the_server(commands: list[str]) -> None:
    steps = [step.strip() for step in commands[0].split("&&")]
    last = steps[-1].removeprefix(".venv/bin/")

    assert last.startswith("streamlit run dashboard/server.py"), commands[0]
    assert "requirements.txt" in commands[0]
    assert (ROOT / "dashboard" / "server.py").is_file()


def test_the_ci_script_runs_ruff_and_mypy_before_the_tests(commands: list[str]) -> None:
    lines = [line.strip() for line in CI_SCRIPT.read_text(encoding="utf-8").splitlines()]
    tests = lines.index(commands[1])

    for check in ("if ! .venv/bin/ruff check .; then", "if ! .venv/bin/mypy; then"):
        assert check in lines[:tests], f".ci/run does not run `{check}` before the tests"


def test_the_ci_script_is_strict_and_executable() -> None:
    lines = CI_SCRIPT.read_text(encoding="utf-8").splitlines()

    assert lines[0] in ("#!/usr/bin/env bash", "#!/bin/bash")
    assert "set -euo pipefail" in lines
    assert os.access(CI_SCRIPT, os.X_OK)
