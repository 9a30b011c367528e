"""What every benchmark script reports beside its figures: the machine, the database server, peak RSS."""
from __future__ import annotations

import os
import platform
import resource
import sys
import threading

import psutil

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


class RssSampler:
    """The process's largest RSS while the block runs, sampled every ``interval`` seconds (for a
    peak that ru_maxrss would mix with the setup's). Sampling costs the measured code a little:
    each wake-up takes the GIL."""

    def __init__(self, interval: float):
        self.interval = interval

    def __enter__(self) -> "RssSampler":
        self.peak_mib, self._done = 0.0, threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def _sample(self) -> None:
        process = psutil.Process()
        while True:
            self.peak_mib = max(self.peak_mib, process.memory_info().rss / 2**20)
            if self._done.wait(self.interval):
                return

    def __exit__(self, *_exc) -> None:
        self._done.set()
        self._thread.join()
