"""Deployment settings, read from the environment (never from code constants)."""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from zoneinfo import ZoneInfo

import workflows

DEFAULT_SQLITE_PATH = Path("instance") / "unionflow.db"


@dataclass(frozen=True)
class Settings:
    database_url: str
    workflows_dir: Path
    timezone: ZoneInfo
    attachments_dir: Path
    # Where rate-limit counters live: memory in one process, Redis when several web processes serve.
    rate_limit_storage: str = "memory://"

    @classmethod
    def from_env(cls) -> "Settings":
        return cls(
            database_url=normalize_database_url(
                os.environ.get("UNIONFLOW_DATABASE_URL", f"sqlite:///{DEFAULT_SQLITE_PATH}")
            ),
            workflows_dir=Path(os.environ.get("UNIONFLOW_WORKFLOWS_DIR", Path(workflows.__file__).parent)),
            timezone=ZoneInfo(os.environ.get("UNIONFLOW_TIMEZONE", "Asia/Shanghai")),
            attachments_dir=Path(os.environ.get("UNIONFLOW_ATTACHMENTS_DIR", "instance/attachments")),
            rate_limit_storage=os.environ.get("UNIONFLOW_RATELIMIT_STORAGE_URI", "memory://"),
        )


def normalize_database_url(url: str) -> str:
    """Route plain ``postgresql://`` URLs to psycopg 3, the driver we support."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    return url
