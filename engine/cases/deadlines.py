"""Deadlines: one row per stay of a case in a state that has a time limit.

Entering such a state (``deadline_working_days: N`` counted on the working-day calendar, or
``deadline_at: <deadline rule>`` such as the round's closing time) opens a row naming whom it
concerns (the party the state waits for) and when it falls due; leaving the state closes it.
``next_check_dt`` says when the scan must next look at the row (the next reminder, then the
due time), so a scan reads only the rows that need it, by one index.

The scan (``process_deadlines``, driven by engine.worker every minute or by
``unionflow deadlines scan``) sends the latest reminder that has come (a scan after downtime
sends one, not each one missed), and once the due time has passed either fires the state's
timer transition as the system (a notice ending, an answer not given, a draft locked) or, with
no timer or when it is refused, escalates: the case is marked overdue, and the people it
waits for, the supervising unit one level up and the applicant are told. Every notification
has a key, so a second scanner or a retried task never sends one twice.
"""
from __future__ import annotations

from datetime import date, datetime
from datetime import time as dtime
from datetime import timedelta, tzinfo

from sqlalchemy import ForeignKey, Index, String, bindparam, insert, or_, select, update
from sqlalchemy.orm import Mapped, Session, mapped_column
from sqlalchemy.orm.util import identity_key

from engine.base.config import LOCAL_TZ, DeliverySettings
from engine.base.db import Base, UTCDateTime
from engine.base.errors import CalendarNotCovered
from engine.calendar.working_days import end_of_working_days, working_calendar
from engine.cases.case import Case
from engine.cases.rule_context import RuleContext
from engine.definitions import rules
from engine.definitions.spec import Definition, StateSpec
from engine.org.units import SYSTEM_ACTOR

# Reminders go out at this local hour of their day (UNIONFLOW_REMINDER_HOUR).
REMINDER_HOUR = DeliverySettings.from_env().reminder_hour


class Deadline(Base):
    __tablename__ = "deadlines"
    __table_args__ = (
        Index("ix_deadlines_next_check", "next_check_dt"),
        Index("ix_deadlines_case_closed", "case_id", "closed_dt"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"))
    state: Mapped[str] = mapped_column(String(63))
    # Whom it concerns: the party the state waits for.
    role: Mapped[str] = mapped_column(String(20))
    unit_id: Mapped[int] = mapped_column(ForeignKey("org_units.id"))
    entered_dt: Mapped[datetime] = mapped_column(UTCDateTime)
    # Null while the working-day calendar does not cover the dates (listed for the admin).
    due_dt: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # When the scan must look next; null once nothing is left to do (or the row is closed).
    next_check_dt: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # How many of the state's reminders (furthest from the deadline first) are behind us.
    reminders_done: Mapped[int] = mapped_column(default=0)
    # When the scan found the deadline passed and escalated: the case is overdue.
    overdue_dt: Mapped[datetime | None] = mapped_column(UTCDateTime)
    closed_dt: Mapped[datetime | None] = mapped_column(UTCDateTime)


# --- Opening and closing, with every transition -----------------------------------------------------

_table = Deadline.__table__
_OPENED = ("case_id", "state", "role", "unit_id", "entered_dt", "due_dt", "next_check_dt", "reminders_done")
_OPEN_ROW = insert(_table).values({name: bindparam(name) for name in _OPENED})
_CLOSE_ROW = (
    update(_table).where(_table.c.case_id == bindparam("row_case_id"), _table.c.closed_dt.is_(None))
    .values(closed_dt=bindparam("closed_dt"), next_check_dt=None).returning(_table.c.id)
)


def track_deadline(session: Session, case: Case, definition: Definition, now: datetime, *,
                   state_changed: bool, left_state: str | None = None) -> datetime | None:
    """Keep the case's deadline rows in step with its state; returns the open deadline's due time.

    Called by engine.cases.inbox.refresh_inbox on every change of a case. A state left closes its
    row; a state entered opens one. A form change moves a ``deadline_at`` deadline (a claim's
    filing window follows its discharge date).
    """
    state = definition.state(case.state)
    if state_changed and left_state is not None and _keeps_deadline(definition.state(left_state)):
        _close_open_deadline(session, case.id, now)
    if not _keeps_deadline(state):
        return None
    open_row = None if state_changed else open_deadline(session, case.id)
    if open_row is None:
        if not state_changed and state.deadline_at is None:
            return None  # a case whose state has no row (made before deadlines were kept)
        applies, due = due_in_state(session, case, state, now)
        if not applies:
            return None
        return _open_deadline(session, case, definition, state, now, due)
    if state.deadline_at is not None:
        applies, due = due_in_state(session, case, state, now)
        if not applies:
            open_row.closed_dt, open_row.next_check_dt = now, None
            return None
        if due != open_row.due_dt:
            open_row.due_dt, open_row.reminders_done, open_row.overdue_dt = due, 0, None
            schedule_checks(session, definition, state, open_row, now, skip_past=True)
    session.flush()
    return open_row.due_dt


def _open_deadline(session: Session, case: Case, definition: Definition, state: StateSpec, now: datetime,
                   due: datetime | None) -> datetime | None:
    """A state entered: its row inserted by one prebuilt INSERT (the ORM's unit of work costs more
    than the row); the scan and the inbox read it from the table."""
    row = Deadline(case_id=case.id, state=state.id, role=state.waits_for.role,
                   unit_id=case.unit_at(state.waits_for.level), entered_dt=now, due_dt=due, reminders_done=0)
    schedule_checks(session, definition, state, row, now, skip_past=True)  # on the row not added: a holder
    session.flush()  # the case row first: locks are always taken case, then deadline row
    session.connection().execute(_OPEN_ROW, {name: getattr(row, name) for name in _OPENED})
    return due


def _keeps_deadline(state: StateSpec) -> bool:
    """A stay in the state has a deadline row (the only states that do; leaving another closes none)."""
    return state.has_deadline and state.waits_for is not None


def _close_open_deadline(session: Session, case_id: int, now: datetime) -> None:
    """The state left: its row closed by one prebuilt UPDATE, without reading it first (the ORM's
    own bulk update costs more Python than the SELECT it saves); a copy loaded earlier in this
    session (the scan's, a timer's) reloads on next use."""
    session.flush()  # the case row first: locks are always taken case, then deadline row
    closed = session.connection().execute(_CLOSE_ROW, {"row_case_id": case_id, "closed_dt": now}).scalars()
    for row_id in closed:
        loaded = session.identity_map.get(identity_key(Deadline, row_id))
        if loaded is not None:
            session.expire(loaded)


def open_deadline(session: Session, case_id: int) -> Deadline | None:
    return session.scalar(select(Deadline).where(Deadline.case_id == case_id, Deadline.closed_dt.is_(None)))


# A stage is overdue once its open deadline has passed: by the clock, or as the scan found it
# and escalated (``overdue_dt``: the supervising unit was told then).

def is_overdue(deadline: Deadline, now: datetime) -> bool:
    return deadline.overdue_dt is not None or (deadline.due_dt is not None and deadline.due_dt < now)


def overdue_deadline(session: Session, case_id: int, now: datetime) -> Deadline | None:
    """The case's open deadline, when it has passed."""
    deadline = open_deadline(session, case_id)
    return deadline if deadline is not None and is_overdue(deadline, now) else None


def overdue_case_ids(session: Session, case_ids: list[int], now: datetime) -> set[int]:
    """Which of ``case_ids`` wait past their open deadline (one query, for a page of cases)."""
    if not case_ids:
        return set()
    return set(session.scalars(select(Deadline.case_id).where(
        Deadline.case_id.in_(case_ids), Deadline.closed_dt.is_(None),
        or_(Deadline.overdue_dt.is_not(None), Deadline.due_dt < now))))


def due_in_state(session: Session, case: Case, state: StateSpec, now: datetime) -> tuple[bool, datetime | None]:
    """(whether a deadline applies, its due time); the time is None when the calendar does not cover it."""
    try:
        due = _work_out_due(session, case, state, now)
    except CalendarNotCovered:
        return True, None
    return due is not None, due


def _work_out_due(session: Session, case: Case, state: StateSpec, start: datetime) -> datetime | None:
    """The due time of a stay in ``state`` begun at ``start`` (None: no deadline applies);
    CalendarNotCovered names the year the working-day calendar lacks."""
    if state.deadline_working_days is not None:
        return end_of_working_days(session, start, state.deadline_working_days)
    return rules.deadline_of(state.deadline_at, RuleContext(session, SYSTEM_ACTOR, case, start))


def missing_calendar_year(session: Session, case_id: int) -> int | None:
    """The year the working-day calendar lacks, when the case's open deadline could not be worked
    out for want of it: pages say so (「无法计算期限：2028 年的工作日历尚未导入」) instead of nothing."""
    row = open_deadline(session, case_id)
    if row is None or row.due_dt is not None:
        return None
    case = session.get(Case, case_id)
    state = case.definition.state(row.state)
    try:
        _work_out_due(session, case, state, row.entered_dt)
    except CalendarNotCovered as uncovered:
        return uncovered.year
    return None


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


def schedule_checks(session: Session, definition: Definition, state: StateSpec, row: Deadline, now: datetime, *,
              skip_past: bool) -> None:
    """Set when the scan looks next. ``skip_past``: a state just entered skips the reminders whose
    time has gone (the case has only just arrived; the inbox shows it)."""
    if row.due_dt is None:
        row.next_check_dt = None
        return
    times = reminder_times(session, definition, state, row.due_dt)
    if skip_past:
        while row.reminders_done < len(times) and times[row.reminders_done][1] <= now:
            row.reminders_done += 1
    if row.reminders_done < len(times):
        row.next_check_dt = times[row.reminders_done][1]
    else:
        row.next_check_dt = row.due_dt if row.overdue_dt is None else None
