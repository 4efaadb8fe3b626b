"""The demo's shipped parameters (data/demo/territory.json) and its size defaults."""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Any

from emergency.core.config import REPO_ROOT

DATA_FILE = REPO_ROOT / "data" / "demo" / "territory.json"
MIN_CUSTOMERS = 1_000
DEFAULT_CUSTOMERS = 50_000
DEFAULT_SEED = 7


@lru_cache(maxsize=4)
def load_parameters(path: Path = DATA_FILE) -> dict[str, Any]:
    """The shipped territory parameters (cached: treat the result as read-only)."""
    with open(path, encoding="utf-8") as handle:
        return json.load(handle)
