"""What every benchmark script reports beside its figures: the machine, the database server, peak RSS."""
from __future__ import annotations

import os
import platform
import resource
import sys

from sqlalchemy import text
from sqlalchemy.engine import Engine


def machine() -> str:
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return (f"{platform.node()} ({os.cpu_count()} cores, {memory:.0f} GiB), Python {platform.python_version()}, "
            f"load average {os.getloadavg()[0]:.2f}")


def server_version(engine: Engine) -> str:
    with engine.connect() as conn:
        if engine.dialect.name == "sqlite":
            return "SQLite " + conn.scalar(text("SELECT sqlite_version()"))
        return "PostgreSQL " + conn.scalar(text("SHOW server_version")).split()[0]


def peak_rss_mib() -> float:
    scale = 1 if sys.platform == "darwin" else 1024  # ru_maxrss: KiB on Linux, bytes on macOS
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale / 2**20
