"""Stored UTC moments shown in the deployment's time zone (``UNIONFLOW_TIMEZONE``), today's date
there, and the working calendar's coverage as of today (both faces warn with it).

Templates have ``local_time``, ``local_day`` and ``last_day`` both as functions and as filters;
a deadline is shown by the ``deadline`` macro of macros.html, as its last day to act.
"""
from __future__ import annotations

from datetime import date, datetime, tzinfo

from flask import current_app
from flask_babel import gettext as _

from engine.base.db import utcnow
from engine.calendar.working_days import CalendarCoverage, calendar_coverage
from engine.cases.deadlines import closing_hour, last_day_to_act
from web.database import request_session


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
        return last_day_to_act(moment, local_timezone()).isoformat()
    return moment.astimezone(local_timezone()).date().isoformat()


def last_day(due: datetime | None) -> str:
    """A deadline as people act on it: 「最迟办理日 2026-12-10」 for one due at midnight after that
    day (engine.cases.deadlines.last_day_to_act), 「… 17:00 前」 for one ending earlier in its day."""
    if due is None:
        return ""
    tz = local_timezone()
    day, hour = last_day_to_act(due, tz).isoformat(), closing_hour(due, tz)
    if hour is not None:
        return _("最迟办理日 %(day)s %(hour)s 前", day=day, hour=hour.strftime("%H:%M"))
    return _("最迟办理日 %(day)s", day=day)


def local_today() -> date:
    return utcnow().astimezone(local_timezone()).date()


def current_coverage() -> CalendarCoverage:
    """As of today (local), warning as many days ahead as the deployment says."""
    warning_days = current_app.extensions["unionflow"].settings.calendar_warning_days
    return calendar_coverage(request_session(), local_today(), warning_days)
