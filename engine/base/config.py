"""Deployment settings, read from the environment (never from code constants)."""
from __future__ import annotations

import importlib.util
import os
from dataclasses import dataclass
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy.engine import make_url

DEFAULT_SQLITE_PATH = Path("instance") / "unionflow.db"


def installed_workflows_dir() -> Path:
    """Where the ``workflows`` package (the definitions shipped with unionflow) is installed. Found,
    not imported: the definitions' rule modules import the engine, never the other way round."""
    return Path(importlib.util.find_spec("workflows").origin).parent


@dataclass(frozen=True)
class Settings:
    database_url: str
    workflows_dir: Path
    timezone: ZoneInfo
    attachments_dir: Path
    # The Ed25519 private key that signs audit exports (created by `unionflow audit create-key`).
    signing_key_file: Path = Path("instance") / "audit-signing-key.pem"
    # Where rate-limit counters live: memory in one process, Redis when several web processes serve.
    rate_limit_storage: str = "memory://"
    # How many calendar days before the working-day calendar runs out admins are warned.
    calendar_warning_days: int = 90

    def __post_init__(self) -> None:
        # Every path is made absolute once, against the working directory the process started
        # in: a relative path handed on would be read against whatever a library takes as its
        # base (Flask's send_file takes the web package's folder), not where the file was written.
        for name in ("workflows_dir", "attachments_dir", "signing_key_file"):
            object.__setattr__(self, name, absolute_path(getattr(self, name)))
        object.__setattr__(self, "database_url", absolute_sqlite_url(self.database_url))

    @classmethod
    def from_env(cls) -> "Settings":
        return cls(
            database_url=normalize_database_url(
                os.environ.get("UNIONFLOW_DATABASE_URL", f"sqlite:///{DEFAULT_SQLITE_PATH}")
            ),
            workflows_dir=Path(os.environ.get("UNIONFLOW_WORKFLOWS_DIR") or installed_workflows_dir()),
            timezone=ZoneInfo(os.environ.get("UNIONFLOW_TIMEZONE", "Asia/Shanghai")),
            attachments_dir=Path(os.environ.get("UNIONFLOW_ATTACHMENTS_DIR", "instance/attachments")),
            signing_key_file=Path(os.environ.get("UNIONFLOW_SIGNING_KEY_FILE", "instance/audit-signing-key.pem")),
            rate_limit_storage=os.environ.get("UNIONFLOW_RATELIMIT_STORAGE_URI", "memory://"),
            calendar_warning_days=int(os.environ.get("UNIONFLOW_CALENDAR_WARNING_DAYS", "90")),
        )


def absolute_path(path: Path | str) -> Path:
    return Path(os.path.abspath(Path(path).expanduser()))


def absolute_sqlite_url(url: str) -> str:
    """A SQLite URL with a relative file path made absolute; other URLs as they are."""
    parsed = make_url(url)
    database = parsed.database
    if parsed.get_backend_name() != "sqlite" or not database or database == ":memory:" \
            or database.startswith("file:") or os.path.isabs(database):
        return url
    return parsed.set(database=str(absolute_path(database))).render_as_string(hide_password=False)


def normalize_database_url(url: str) -> str:
    """Route plain ``postgresql://`` URLs to psycopg 3, the driver we support."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    return url


@dataclass(frozen=True)
class DeliverySettings:
    """How the deadline worker runs and how notifications are mailed."""

    # Celery broker (Redis in production); None runs the tasks in-process (the embedded profile).
    broker_url: str | None = None
    # Local hour at which reminders of a day go out.
    reminder_hour: int = 9
    # No SMTP server: notifications stay in the web pages only.
    smtp_host: str | None = None
    smtp_port: int = 25
    smtp_user: str | None = None
    smtp_password: str | None = None
    smtp_starttls: bool = False
    mail_from: str = "unionflow@localhost"
    # Seconds before the first retry of a failed mail; each next one waits twice as long.
    mail_retry_seconds: int = 30
    # The site's address, for the link to the case in each mail.
    base_url: str = "http://127.0.0.1:5000"

    @classmethod
    def from_env(cls) -> "DeliverySettings":
        env = os.environ.get
        hour = int(env("UNIONFLOW_REMINDER_HOUR", "9"))
        if not 0 <= hour <= 23:
            raise ValueError(f"UNIONFLOW_REMINDER_HOUR must be 0 to 23, not {hour}")
        return cls(
            broker_url=env("UNIONFLOW_BROKER_URL") or None,
            reminder_hour=hour,
            smtp_host=env("UNIONFLOW_SMTP_HOST") or None,
            smtp_port=int(env("UNIONFLOW_SMTP_PORT", "25")),
            smtp_user=env("UNIONFLOW_SMTP_USER") or None,
            smtp_password=env("UNIONFLOW_SMTP_PASSWORD") or None,
            smtp_starttls=env("UNIONFLOW_SMTP_STARTTLS", "").lower() in ("1", "true", "yes"),
            mail_from=env("UNIONFLOW_MAIL_FROM", "unionflow@localhost"),
            mail_retry_seconds=int(env("UNIONFLOW_MAIL_RETRY_SECONDS", "30")),
            base_url=env("UNIONFLOW_BASE_URL", "http://127.0.0.1:5000").rstrip("/"),
        )


# The union's local time zone (UNIONFLOW_TIMEZONE): calendar days, deadlines at midnight, "today".
LOCAL_TZ = Settings.from_env().timezone
