"""Deadlines: when a stay of a case in a state falls due, and when its reminders go out.

A state has a time limit in working days (``deadline_working_days: N``, on the working-day
calendar) or set by a rule (``deadline_at: <deadline rule>``, such as the round's closing time).
The stay's task (engine.cases.tasks) carries the due time and ``next_check_dt``: when the scan
must next look (the next reminder, then the due time), so a scan reads only the tasks that need
it, by one index.

The scan (engine.operations.deadline_scan, driven by engine.worker every minute or by
``unionflow deadlines scan``) sends the latest reminder that has come (a scan after downtime
sends one, not each one missed), and once the due time has passed either fires the state's
timer transition as the system (a notice ending, an answer not given, a draft locked) or, with
no timer or when it is refused, escalates: the task is marked overdue, and the people it
waits for, the supervising unit one level up and the applicant are told. Where the definition
says so (``remind_overdue_every_working_days``), the people it waits for are then reminded
again every N working days until someone acts. Every notification has a key, so a second
scanner or a retried task never sends one twice.
"""
from __future__ import annotations

from datetime import date, datetime
from datetime import time as dtime
from datetime import timedelta, tzinfo

from sqlalchemy.orm import Session

from engine.base.config import LOCAL_TZ, DeliverySettings
from engine.base.errors import CalendarNotCovered
from engine.calendar.working_days import end_of_working_days, working_calendar
from engine.cases.case import Case
from engine.cases.rule_context import RuleContext
from engine.definitions import rules
from engine.definitions.spec import Definition, StateSpec
from engine.org.units import SYSTEM_ACTOR

# Reminders go out at this local hour of their day (UNIONFLOW_REMINDER_HOUR).
REMINDER_HOUR = DeliverySettings.from_env().reminder_hour


def keeps_deadline(state: StateSpec) -> bool:
    """A stay in the state has a time limit the scan keeps: it waits for someone, within a time."""
    return state.has_deadline and state.waits_for is not None


def due_in_state(session: Session, case: Case, state: StateSpec, now: datetime) -> tuple[bool, datetime | None]:
    """(whether a deadline applies, its due time); the time is None when the calendar does not cover it."""
    try:
        due = work_out_due(session, case, state, now)
    except CalendarNotCovered:
        return True, None
    return due is not None, due


def work_out_due(session: Session, case: Case, state: StateSpec, start: datetime) -> datetime | None:
    """The due time of a stay in ``state`` begun at ``start`` (None: no deadline applies);
    CalendarNotCovered names the year the working-day calendar lacks."""
    if state.deadline_working_days is not None:
        return end_of_working_days(session, start, state.deadline_working_days)
    return rules.deadline_of(state.deadline_at, RuleContext(session, SYSTEM_ACTOR, case, start))


# --- How a deadline reads -------------------------------------------------------------------------
# Every page, mail and API field shows a deadline as its last day to act, worked out here once.

def last_day_to_act(due_dt: datetime, tz: tzinfo) -> date:
    """The last local day on which to act. "N working days" fall due at local midnight after the
    N-th working day, so that day is the last one (not the date of the midnight); a deadline at
    another hour (a round closing at 17:00) ends on its own day."""
    return (due_dt - timedelta(microseconds=1)).astimezone(tz).date()


def closing_hour(due_dt: datetime, tz: tzinfo) -> dtime | None:
    """The local time the last day ends at, when not at its end (a round closing at 17:00); else None."""
    local = due_dt.astimezone(tz)
    return None if local.time() == dtime(0) else local.time()


def last_day_text(due_dt: datetime, tz: tzinfo) -> str:
    """「最迟办理日 2026-12-10」 (「… 17:00 前」 when the day ends earlier), as mails say it."""
    day, hour = last_day_to_act(due_dt, tz), closing_hour(due_dt, tz)
    return f"最迟办理日 {day.isoformat()}" + (f" {hour:%H:%M} 前" if hour else "")


# --- Reminder times --------------------------------------------------------------------------------

def reminder_times(session: Session, definition: Definition, state: StateSpec, due: datetime) -> list[tuple[int, datetime]]:
    """(offset, when) for each reminder of the state, furthest first: the reminder "N working
    days before" goes out at REMINDER_HOUR on the N-th working day before the deadline's last day."""
    calendar = working_calendar(session)
    last_day = last_day_to_act(due, LOCAL_TZ)
    times = []
    for offset in definition.reminders_for(state):
        day = last_day
        try:
            for _ in range(offset):
                day -= timedelta(days=1)
                while not calendar.is_working_day(day):
                    day -= timedelta(days=1)
        except CalendarNotCovered:
            continue
        when = datetime.combine(day, dtime(REMINDER_HOUR), tzinfo=LOCAL_TZ).astimezone(due.tzinfo)
        if when < due:
            times.append((offset, when))
    return times


def next_checks(session: Session, definition: Definition, state: StateSpec, due: datetime | None,
                reminders_done: int, now: datetime, *, overdue: bool, skip_past: bool) -> tuple[int, datetime | None]:
    """(reminders behind us, when the scan looks next) for a stay due at ``due``: the next
    reminder's time, then the due time itself, then never (once escalated, or with no due time).
    ``skip_past``: a state just entered skips the reminders whose time has gone."""
    if due is None:
        return reminders_done, None
    times = reminder_times(session, definition, state, due)
    if skip_past:
        while reminders_done < len(times) and times[reminders_done][1] <= now:
            reminders_done += 1
    if reminders_done < len(times):
        return reminders_done, times[reminders_done][1]
    if overdue:
        return reminders_done, overdue_reminder(session, definition, state, due, now)[1]
    return reminders_done, due


def overdue_reminder(session: Session, definition: Definition, state: StateSpec, due: datetime,
                     now: datetime) -> tuple[int, datetime | None]:
    """(the latest reminder of an overdue stay come by ``now``, 0 for none; when the next goes out,
    None for never). With a repeat every N working days, the k-th goes out at REMINDER_HOUR on the
    (k × N)-th working day after the last day to act, until someone acts."""
    every = definition.overdue_reminders_every(state)
    if every is None:
        return 0, None
    calendar = working_calendar(session)
    last_day = last_day_to_act(due, LOCAL_TZ)

    def goes_out(number: int) -> datetime:
        day = calendar.add_working_days(last_day, number * every)
        return datetime.combine(day, dtime(REMINDER_HOUR), tzinfo=LOCAL_TZ).astimezone(due.tzinfo)

    try:
        come = calendar.working_days_between(last_day, now.astimezone(LOCAL_TZ).date()) // every
        while come > 0 and goes_out(come) > now:
            come -= 1
        return come, goes_out(come + 1)
    except CalendarNotCovered:  # listed for the admin; the calendar's recompute schedules it again
        return 0, None
