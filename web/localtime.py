"""Stored UTC moments shown in the deployment's time zone (``UNIONFLOW_TIMEZONE``).

Templates have ``local_time`` and ``local_day`` both as functions and as filters.
"""
from __future__ import annotations

from datetime import datetime, timedelta, tzinfo

from flask import current_app


def local_timezone() -> tzinfo:
    return current_app.extensions["unionflow"].settings.timezone


def local_time(moment: datetime | None, *, seconds: bool = False) -> str:
    """"2026-05-06 09:30" (with ``seconds``, "09:30:15"); empty for no moment."""
    if moment is None:
        return ""
    return moment.astimezone(local_timezone()).strftime("%Y-%m-%d %H:%M:%S" if seconds else "%Y-%m-%d %H:%M")


def local_day(moment: datetime | None, *, last: bool = False) -> str:
    """The local date of a moment; with ``last``, of a period ending at that moment (a deadline
    at midnight is the end of the day before)."""
    if moment is None:
        return ""
    if last:
        moment -= timedelta(microseconds=1)
    return moment.astimezone(local_timezone()).date().isoformat()
