"""Keeping the working calendar: the city federation's admins enter and remove days, and every open
deadline counted over a changed day is worked out again."""
from __future__ import annotations

from datetime import date, datetime
from datetime import time as dtime
from datetime import timedelta
from typing import Iterable

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session

from engine.base.config import LOCAL_TZ
from engine.base.db import utcnow
from engine.base.errors import NotFound, PermissionDenied, ValidationFailed
from engine.base.inputs import text_problem
from engine.calendar.working_days import (
    MAX_DAYS_AT_ONCE, NOTE_MAX, NUL, SOURCE_MAX, CalendarDay, CalendarEntry, CalendarEntryResult, CalendarYear,
    forget_cached_calendars, last_covered_year, package_last_year, too_many_days,
)
from engine.cases.case import Case
from engine.cases.deadlines import due_in_state
from engine.cases.tasks import Task, reschedule
from engine.org.units import Actor, Grant, path_ids


def recompute_deadlines(session: Session, now: datetime, changed_days: Iterable[date] = ()) -> int:
    """Work due times out again after the working-day calendar changed: those it could not
    cover before (an admin entered the year), and open ones whose span holds a changed day.
    Returns how many due times changed."""
    changed_days = sorted(changed_days)
    affected = [Task.due_dt.is_(None)]
    if changed_days:
        first = datetime.combine(changed_days[0], dtime(0), tzinfo=LOCAL_TZ)
        after_last = datetime.combine(changed_days[-1] + timedelta(days=1), dtime(0), tzinfo=LOCAL_TZ)
        affected.append(and_(Task.entered_dt < after_last, Task.due_dt >= first))
    tasks = session.scalars(select(Task).where(Task.closed_dt.is_(None), Task.has_deadline, or_(*affected))).all()
    moved = 0
    for task in tasks:
        case = session.get(Case, task.case_id)
        definition = case.definition
        state = definition.state(task.state)
        applies, due = due_in_state(session, case, state, task.entered_dt)
        if not applies or due == task.due_dt:
            continue
        task.due_dt, task.reminders_done, moved = due, 0, moved + 1
        reschedule(session, definition, state, task, now, skip_past=True)
    session.flush()
    return moved


CALENDAR_KEEPERS_ONLY = "工作日历全市统一，只有市总工会的管理员可以维护"


def union_wide(grant: Grant) -> bool:
    """A grant at the city federation: the unit at the top of the tree, without a parent."""
    return len(path_ids(grant.unit_path)) == 1


def may_keep_calendar(actor: Actor | None) -> bool:
    """The calendar is one for the whole union: kept by the admins of the city federation, or
    by the operator on the command line (no actor)."""
    return actor is None or any(union_wide(grant) for grant in actor.grants_for("admin"))


def _require_keeper(actor: Actor | None) -> None:
    if not may_keep_calendar(actor):
        raise PermissionDenied(CALENDAR_KEEPERS_ONLY)


def enter_calendar_days(
    session: Session, actor: Actor | None, rows: Iterable[CalendarEntry | tuple], *, year: int | None = None,
    source: str = "",
) -> CalendarEntryResult:
    """Store working days and days off, replacing what was stored for those dates.

    With ``year`` the rows are that year's published schedule (its holidays and make-up
    working days): every row must lie in it, and from then on its other weekdays count as
    working days. Years must follow one another (a gap would leave dates unknown), and a year
    the package covers is adjusted day by day, not entered whole. ``actor`` None: the operator
    on the command line.
    """
    _require_keeper(actor)
    entries = [row if isinstance(row, CalendarEntry) else CalendarEntry(*row) for row in rows]
    source = (source or "").strip()
    errors = _entry_problems(entries, year)
    if year is not None:
        errors |= _year_problems(session, year)
    if len(source) > SOURCE_MAX:
        errors["source"] = [f"来源说明不能超过 {SOURCE_MAX} 个字"]
    elif NUL in source:  # PostgreSQL's text cannot hold one
        errors["source"] = ["来源说明不能包含空字符（U+0000）"]
    elif text_problem(source):
        errors["source"] = [f"来源说明{text_problem(source)}"]
    if errors:
        raise ValidationFailed(errors)
    counts = {"added": 0, "changed": 0, "unchanged": 0}
    for entry in entries:
        counts[_store_day(session, entry)] += 1
    if year is not None:
        entered = session.get(CalendarYear, year) or CalendarYear(year=year, source="")
        entered.source = source or entered.source
        session.add(entered)
    session.flush()
    forget_cached_calendars()
    _deadlines_follow(session, [entry.day for entry in entries])
    return CalendarEntryResult(year=year, **counts)


def _deadlines_follow(session: Session, days: list[date]) -> None:
    """Open deadlines counted over a changed day (or not countable before) are worked out again."""
    recompute_deadlines(session, utcnow(), days)


def _place(entry: CalendarEntry, index: int) -> str:
    return f"第 {entry.line} 行" if entry.line is not None else f"第 {index + 1} 条"


def _entry_problems(entries: list[CalendarEntry], year: int | None) -> dict[str, list[str]]:
    """Problems by field, "days.<index>.<field>" (as the API names a list's items), each
    message naming the file's line or the item (unless a single day was entered by hand)."""
    if not entries:
        return {"days": ["请至少录入一天"]}
    if len(entries) > MAX_DAYS_AT_ONCE:
        return {"days": [too_many_days()]}
    errors: dict[str, list[str]] = {}
    first_at: dict[date, int] = {}
    alone = len(entries) == 1 and entries[0].line is None

    def problem(index: int, field: str, message: str) -> None:
        prefix = "" if alone else f"{_place(entries[index], index)}："
        errors.setdefault(f"days.{index}.{field}", []).append(prefix + message)

    for index, entry in enumerate(entries):
        if len(entry.note) > NOTE_MAX:
            problem(index, "note", f"说明不能超过 {NOTE_MAX} 个字")
        if NUL in entry.note:
            problem(index, "note", "说明不能包含空字符（U+0000）")
        elif text_problem(entry.note):
            problem(index, "note", f"说明{text_problem(entry.note)}")
        if year is not None and entry.day.year != year:
            problem(index, "day", f"{entry.day.isoformat()} 不在 {year} 年内")
        if entry.day in first_at:
            earlier = first_at[entry.day]
            problem(index, "day", f"{entry.day.isoformat()} 与{_place(entries[earlier], earlier)}重复")
        else:
            first_at[entry.day] = index
    return errors


def _year_problems(session: Session, year: int) -> dict[str, list[str]]:
    package_last = package_last_year()
    if year <= package_last:
        return {"year": [(f"{year} 年的节假日安排已包含在 chinesecalendar 中，不能整年录入；"
                          "个别日期的调整请逐日录入（不填年度）")]}
    following = last_covered_year(session) + 1
    if year > following:
        return {"year": [f"请先录入 {following} 年的安排：工作日历须逐年连续"]}
    return {}


def _store_day(session: Session, entry: CalendarEntry) -> str:
    row = session.get(CalendarDay, entry.day)
    if row is None:
        session.add(CalendarDay(day=entry.day, is_working=entry.is_working, note=entry.note))
        return "added"
    if (row.is_working, row.note) == (entry.is_working, entry.note):
        return "unchanged"
    row.is_working, row.note = entry.is_working, entry.note
    return "changed"


def remove_calendar_day(session: Session, actor: Actor | None, day: date) -> None:
    """Forget what was entered for ``day``: the package (or, in an entered year, the weekday)
    decides again."""
    _require_keeper(actor)
    row = session.get(CalendarDay, day)
    if row is None:
        raise NotFound(f"{day.isoformat()} 没有录入过")
    session.delete(row)
    session.flush()
    forget_cached_calendars()
    _deadlines_follow(session, [day])
