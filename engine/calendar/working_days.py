"""Working days on China's statutory calendar (holidays and 调休 make-up days).

The chinesecalendar package knows the State Council's published schedules. The
``calendar_days`` table holds what it does not: local adjustments (an extra closure
day) and whole years published after the installed package (marked in
``calendar_years``). A date in a year that neither covers raises CalendarNotCovered:
never a silent weekends-only guess.

The city federation's admins keep the table (``enter_calendar_days``, typed in or read from a
CSV/Excel table by ``parse_calendar_table``), and ``calendar_coverage`` tells them, well ahead,
when the calendar is about to run out.
"""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from datetime import time as dtime
from datetime import timedelta, tzinfo
from pathlib import PurePath

import chinese_calendar
from sqlalchemy import Boolean, Date, Integer, String, func, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from engine.base.config import LOCAL_TZ
from engine.base.db import Base
from engine.base.errors import CalendarNotCovered, ValidationFailed
from engine.base.tables import DATE_TEXT, TableImportFailed, TableLimits, read_table

CACHE_SECONDS = 60
NOTE_MAX = 100  # calendar_days.note
SOURCE_MAX = 200  # calendar_years.source
NUL = "\x00"


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
    package_last = package_last_year()
    entered_last = session.scalar(select(func.max(CalendarYear.year)))
    return max(package_last, entered_last or package_last)


def package_last_year() -> int:
    """The last year the installed chinesecalendar knows."""
    return max(day.year for day in chinese_calendar.holidays)


def forget_cached_calendars() -> None:
    with _cache_lock:
        _cache.clear()


def local_midnight(day: date, tz: tzinfo = LOCAL_TZ) -> datetime:
    """The moment ``day`` begins in local time: where a local day's range starts, and when "N
    working days" fall due (at the midnight after the N-th; engine.cases.deadlines.last_day_to_act
    reads it back as that day)."""
    return datetime.combine(day, dtime(0), tzinfo=tz)


def end_of_working_days(session: Session, start: datetime, working_days: int) -> datetime:
    """End of the ``working_days``-th working day after ``start`` (local time), in ``start``'s zone;
    CalendarNotCovered names the year the calendar lacks."""
    last_day = working_calendar(session).add_working_days(start.astimezone(LOCAL_TZ).date(), working_days)
    return local_midnight(last_day + timedelta(days=1)).astimezone(start.tzinfo)


def due_after(session: Session, start: datetime, working_days: int) -> datetime | None:
    """End of the ``working_days``-th working day after ``start`` (local time), as UTC.

    None when the calendar does not cover the dates involved: the deadline is then
    unknown (shown as such) rather than guessed.
    """
    try:
        return end_of_working_days(session, start, working_days)
    except CalendarNotCovered:
        return None


def set_calendar_day(session: Session, day: date, is_working: bool, note: str = "") -> CalendarDay:
    row = session.get(CalendarDay, day) or CalendarDay(day=day)
    row.is_working, row.note = is_working, note
    session.add(row)
    session.flush()
    forget_cached_calendars()
    return row


# --- Administration: the days the package does not know ------------------------------------------

# What people write in the 类型 column (lower-cased): False for a day off, True for a working day.
DAY_TYPES = {
    "休": False, "休息": False, "休息日": False, "假": False, "节假日": False, "放假": False,
    "holiday": False, "off": False,
    "班": True, "上班": True, "补班": True, "工作日": True, "workday": True, "work": True,
}
# Column headings of an imported calendar table (lower-cased), by the entry field they fill.
CALENDAR_HEADINGS = {
    "day": ("日期", "date", "day"),
    "type": ("类型", "type"),
    "note": ("说明", "备注", "note"),
}
MAX_FILE_ROWS = 1000  # a year has at most 366 days; a file may hold a few years
MAX_FILE_BYTES = 1024 * 1024
# Days entered at once, from a file, the page or the API: as many as a file may hold.
MAX_DAYS_AT_ONCE = MAX_FILE_ROWS


def too_many_days() -> str:
    return f"一次最多录入 {MAX_DAYS_AT_ONCE} 天，请分批录入"


@dataclass(frozen=True)
class CalendarEntry:
    """One day to enter: a working day or a day off, with a note ("春节", "调休上班").
    ``line`` is the row of the imported file it came from, for messages."""

    day: date
    is_working: bool
    note: str = ""
    line: int | None = None


@dataclass(frozen=True)
class CalendarEntryResult:
    added: int
    changed: int
    unchanged: int
    year: int | None  # the whole year entered, if one was


@dataclass(frozen=True)
class CalendarCoverage:
    """How far the working-day calendar reaches, as of ``today``."""

    today: date
    package_last_year: int
    last_covered_year: int
    entered_years: tuple[CalendarYear, ...]
    warning_days: int

    @property
    def covered_until(self) -> date:
        return date(self.last_covered_year, 12, 31)

    @property
    def next_year(self) -> int:
        return self.last_covered_year + 1

    @property
    def days_left(self) -> int:
        """Calendar days from today to the last covered day (negative once past it)."""
        return (self.covered_until - self.today).days

    @property
    def warn(self) -> bool:
        return self.days_left <= self.warning_days

    @property
    def message(self) -> str:
        until = f"{self.covered_until.year} 年 12 月 31 日"
        if self.days_left < 0:
            return (f"工作日历仅覆盖至 {until}，此后的期限无法计算，"
                    f"请管理员尽快录入 {self.next_year} 年的节假日和调休安排")
        if self.warn:
            return f"工作日历仅覆盖至 {until}，请管理员在此之前录入 {self.next_year} 年的节假日和调休安排"
        return f"工作日历已覆盖至 {until}"


def calendar_days(session: Session, year: int | None = None) -> list[CalendarDay]:
    """The entered days, in date order; only those of ``year`` if given."""
    query = select(CalendarDay).order_by(CalendarDay.day)
    if year is not None:
        query = query.where(CalendarDay.day >= date(year, 1, 1), CalendarDay.day <= date(year, 12, 31))
    return list(session.scalars(query))


def calendar_coverage(session: Session, today: date, warning_days: int) -> CalendarCoverage:
    """How far the calendar reaches; ``warn`` within ``warning_days`` of its end, or past it."""
    return CalendarCoverage(
        today=today, package_last_year=package_last_year(), last_covered_year=last_covered_year(session),
        entered_years=tuple(session.scalars(select(CalendarYear).order_by(CalendarYear.year))),
        warning_days=warning_days,
    )


# --- Reading a calendar table ----------------------------------------------------------------------

def parse_calendar_table(data: bytes, filename: str) -> list[CalendarEntry]:
    """The days of a CSV or Excel table with the columns 日期, 类型 (休/班) and optionally 说明
    (other columns are ignored). Every problem is reported at once, by the file's line (the
    header is line 1): ValidationFailed({"file": ["第 3 行：……"]})."""
    (header_line, header), *body = _table_rows(data, filename)
    columns = _calendar_columns(header_line, header)
    entries, problems = [], []
    for line, cells in body:
        entry, messages = _calendar_entry(line, cells, columns)
        problems.extend(f"第 {line} 行：{message}" for message in messages)
        if entry is not None:
            entries.append(entry)
    if problems:
        raise ValidationFailed({"file": problems})
    if not entries:
        raise ValidationFailed({"file": ["文件中只有表头，没有数据行"]})
    return entries


def _table_rows(data: bytes, filename: str) -> list[tuple[int, list]]:
    """(line, cells) of the non-blank rows, read as the record import reads its tables."""
    # The same guard as every table upload (UNIONFLOW_IMPORT_*), a calendar being smaller still.
    configured = TableLimits.from_env()
    limits = replace(configured, max_rows=min(configured.max_rows, MAX_FILE_ROWS),
                     max_bytes=min(configured.max_bytes, MAX_FILE_BYTES))
    name = PurePath((filename or "").replace("\\", "/")).name
    try:
        return read_table(name, data, limits)
    except TableImportFailed as err:
        raise ValidationFailed({"file": [problem.message for problem in err.problems]}) from None


def _calendar_columns(line: int, header: list) -> dict[str, int]:
    columns = {}
    for index, cell in enumerate(header):
        heading = str(cell or "").strip().lower()
        for name, headings in CALENDAR_HEADINGS.items():
            if heading in headings and name not in columns:
                columns[name] = index
    missing = [CALENDAR_HEADINGS[name][0] for name in ("day", "type") if name not in columns]
    if missing:
        raise ValidationFailed({"file": [(f"第 {line} 行：表头缺少「{'」「'.join(missing)}」列；"
                                          "表头应为：日期、类型、说明（说明可省略）")]})
    return columns


def _calendar_entry(line: int, cells: list, columns: dict[str, int]) -> tuple[CalendarEntry | None, list[str]]:
    """The row as an entry, or None and every problem of the row."""
    def cell(name: str):
        index = columns.get(name)
        value = cells[index] if index is not None and index < len(cells) else None
        return value.strip() if isinstance(value, str) else value

    messages = []
    try:
        day = _cell_day(cell("day"))
    except ValueError as err:
        messages.append(str(err))
    kind = cell("type")
    if kind in (None, ""):
        messages.append("缺少类型（休或班）")
    elif str(kind).lower() not in DAY_TYPES:
        messages.append(f"类型「{kind}」无法识别，应为「休」或「班」")
    if messages:
        return None, messages
    note = cell("note")
    return CalendarEntry(day, DAY_TYPES[str(kind).lower()], "" if note is None else str(note), line), []


def _cell_day(value) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if value in (None, ""):
        raise ValueError("缺少日期")
    found = DATE_TEXT.match(str(value))
    if not found:
        raise ValueError("日期格式应为 YYYY-MM-DD")
    try:
        return date(*(int(part) for part in found.groups()))
    except ValueError:
        raise ValueError(f"日期「{value}」不存在") from None
