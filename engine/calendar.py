"""Working days on China's statutory calendar (holidays and 调休 make-up days).

The chinesecalendar package knows the State Council's published schedules. The
``calendar_days`` table holds what it does not: local adjustments (an extra closure
day) and whole years published after the installed package (marked in
``calendar_years``). A date in a year that neither covers raises CalendarNotCovered:
never a silent weekends-only guess.
"""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from datetime import date, datetime, time as dtime, timedelta

import chinese_calendar
from sqlalchemy import Boolean, Date, Integer, String, func, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from engine.config import Settings
from engine.db import Base
from engine.errors import CalendarNotCovered

CACHE_SECONDS = 60
LOCAL_TZ = Settings.from_env().timezone


class CalendarDay(Base):
    """An override: this date is (or is not) a working day, whatever the package says."""

    __tablename__ = "calendar_days"

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    is_working: Mapped[bool] = mapped_column(Boolean)
    note: Mapped[str] = mapped_column(String(100), default="")


class CalendarYear(Base):
    """A year whose holiday schedule an admin entered (its days live in calendar_days)."""

    __tablename__ = "calendar_years"

    year: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    source: Mapped[str] = mapped_column(String(200), default="")


@dataclass(frozen=True)
class WorkingCalendar:
    overrides: dict[date, bool]
    entered_years: frozenset[int]
    # (start, count) -> result: chinesecalendar scans its whole table per day asked.
    _memo: dict[tuple[date, int], date] = field(default_factory=dict, compare=False, repr=False)
    _days: dict[date, bool] = field(default_factory=dict, compare=False, repr=False)

    def is_working_day(self, day: date) -> bool:
        if day not in self._days:
            self._days[day] = self._look_up(day)
        return self._days[day]

    def _look_up(self, day: date) -> bool:
        if day in self.overrides:
            return self.overrides[day]
        try:
            return chinese_calendar.is_workday(day)
        except NotImplementedError:
            if day.year in self.entered_years:
                return day.weekday() < 5  # an entered year lists its holidays and make-up days
            raise CalendarNotCovered(day.year) from None

    def working_days_between(self, start: date, end: date) -> int:
        """Working days after ``start`` up to and including ``end``, counted as deadlines count
        them (``add_working_days``): a stay of N working days met a deadline of N."""
        days, day = 0, start
        while day < end:
            day += timedelta(days=1)
            days += self.is_working_day(day)
        return days

    def add_working_days(self, start: date, count: int) -> date:
        """The ``count``-th working day after ``start`` (the start day itself does not count)."""
        key = (start, count)
        if key not in self._memo:
            self._memo[key] = self._walk(start, count)
        return self._memo[key]

    def _walk(self, start: date, count: int) -> date:
        day = start
        while count > 0:
            day += timedelta(days=1)
            if self.is_working_day(day):
                count -= 1
        return day


_cache: dict[object, tuple[float, WorkingCalendar]] = {}
_cache_lock = threading.Lock()


def working_calendar(session: Session) -> WorkingCalendar:
    """The calendar with its overrides, reloaded at most every CACHE_SECONDS per database."""
    key = session.get_bind().engine.url
    cached = _cache.get(key)
    if cached is not None and time.monotonic() - cached[0] < CACHE_SECONDS:
        return cached[1]
    calendar = WorkingCalendar(
        overrides={day: working for day, working in session.execute(select(CalendarDay.day, CalendarDay.is_working))},
        entered_years=frozenset(session.scalars(select(CalendarYear.year))),
    )
    with _cache_lock:
        _cache[key] = (time.monotonic(), calendar)
    return calendar


def last_covered_year(session: Session) -> int:
    """The last year whose working days are known: the package's or one an admin entered."""
    package_last = max(day.year for day in chinese_calendar.holidays)
    entered_last = session.scalar(select(func.max(CalendarYear.year)))
    return max(package_last, entered_last or package_last)


def forget_cached_calendars() -> None:
    with _cache_lock:
        _cache.clear()


def due_after(session: Session, start: datetime, working_days: int) -> datetime | None:
    """End of the ``working_days``-th working day after ``start`` (local time), as UTC.

    None when the calendar does not cover the dates involved: the deadline is then
    unknown (shown as such) rather than guessed.
    """
    calendar = working_calendar(session)
    local_start = start.astimezone(LOCAL_TZ).date()
    try:
        last_day = calendar.add_working_days(local_start, working_days)
    except CalendarNotCovered:
        return None
    return datetime.combine(last_day + timedelta(days=1), dtime(0, 0), tzinfo=LOCAL_TZ).astimezone(
        start.tzinfo
    )


def set_calendar_day(session: Session, day: date, is_working: bool, note: str = "") -> CalendarDay:
    row = session.get(CalendarDay, day) or CalendarDay(day=day)
    row.is_working, row.note = is_working, note
    session.add(row)
    session.flush()
    forget_cached_calendars()
    return row
