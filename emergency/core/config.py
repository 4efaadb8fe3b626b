"""Settings read from the environment, with the defaults a demo needs.

Operational thresholds (SLA limits, trouble-call rules, lockout) live in the database's
`settings` table instead, so a utility can change them without a deploy.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from zoneinfo import ZoneInfo

REPO_ROOT = Path(__file__).resolve().parents[2]
RUNTIME_DIR = REPO_ROOT / "data" / "runtime"
DEFAULT_DB_PATH = RUNTIME_DIR / "outage-desk.db"
LANGUAGES = ("en", "zh")
SWITCHED_OFF = ("off", "0", "false", "no")


@dataclass(frozen=True)
class Settings:
    db_url: str
    db_url_is_default: bool
    tiles: str | None
    language: str
    timezone: ZoneInfo
    # The demo database's background storm; OUTAGE_DEMO_SIMULATOR=off holds the demo still.
    demo_simulator: bool
    # The bearer token for the SMS gateway's webhook (OUTAGE_NOTIFY_WEBHOOK_TOKEN), if any.
    notify_webhook_token: str | None
    # Signs the staff session cookie (OUTAGE_SECRET_KEY); None: the key the database generated.
    secret_key: str | None = None
    # The bearer token the meter head-end asks of our pings (OUTAGE_HEAD_END_TOKEN), if any.
    head_end_token: str | None = None


def load_settings(env: dict[str, str] | None = None) -> Settings:
    env = dict(os.environ) if env is None else env
    url = env.get("OUTAGE_DB_URL", "").strip()
    language = env.get("OUTAGE_LANG", "en").strip().lower().replace("_", "-")
    language = "zh" if language.startswith("zh") else "en"
    return Settings(
        db_url=url or f"sqlite:///{DEFAULT_DB_PATH}",
        db_url_is_default=not url,
        tiles=env.get("OUTAGE_TILES", "").strip() or None,
        language=language,
        timezone=ZoneInfo(env.get("OUTAGE_TZ", "Asia/Shanghai").strip() or "Asia/Shanghai"),
        demo_simulator=env.get("OUTAGE_DEMO_SIMULATOR", "on").strip().lower() not in SWITCHED_OFF,
        notify_webhook_token=env.get("OUTAGE_NOTIFY_WEBHOOK_TOKEN", "").strip() or None,
        secret_key=env.get("OUTAGE_SECRET_KEY", "").strip() or None,
        head_end_token=env.get("OUTAGE_HEAD_END_TOKEN", "").strip() or None,
    )
