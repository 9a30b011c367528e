"""Tasks: one stay of a case with a party, open while the case waits for it, then kept as history.

A state that waits for someone (``waits_for``: a role at a level of the case's chain) opens a
task on entry and closes it on exit, saying when, by whom and how it ended. The open tasks are
the inbox (one indexed query by role and unit); those with a ``next_check_dt`` are the deadline
scan's work (reminders, escalation, timers); the closed ones are the record of how long each
stage took. A task names its candidates (role at unit) and has room for a person: an assignee
(null until claimed or assigned) and whom it was delegated from.

A case may hold several open tasks; ``purpose`` says what each is for. ``stage`` is the one its
state waits for: at most one open per case (a partial unique index), and the only one the
inbox, the deadlines and the timers read today.

Every transition writes its tasks through two prebuilt Core statements (close the state's task,
open the next one's): the ORM's unit of work cost more than the rows (bench/README.md).
"""
from __future__ import annotations

from datetime import datetime
from typing import Iterable

from sqlalchemy import Boolean, ForeignKey, Index, String, bindparam, insert, or_, select, text, update
from sqlalchemy.orm import Mapped, Session, mapped_column
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.orm.util import identity_key

from engine.base.db import Base, UTCDateTime
from engine.base.errors import CalendarNotCovered
from engine.cases.case import Case
from engine.cases.deadlines import due_in_state, keeps_deadline, next_checks, work_out_due
from engine.definitions.spec import Definition, StateSpec
from engine.org.units import Grant

# What a task is for. ``stage``: the task the case's state waits for.
STAGE = "stage"

# How a task ended.
ACTED = "acted"            # the party it waited for acted
TIMED_OUT = "timed_out"    # its deadline passed and the engine moved the case on
WITHDRAWN = "withdrawn"    # the applicant took the case back
MOVED_ON = "moved_on"      # someone else moved the case (an objection, an administrator, the system)


class Task(Base):
    __tablename__ = "tasks"
    __table_args__ = (
        # The inbox: a party's open tasks, soonest due first.
        Index("ix_tasks_open_by_party", "role", "unit_id", "due_dt", "case_id",
              postgresql_where=text("closed_dt IS NULL"), sqlite_where=text("closed_dt IS NULL")),
        # A person's own open tasks: claimed or assigned (「我的待办」), opinions asked of him.
        Index("ix_tasks_open_by_assignee", "assignee_id", "due_dt",
              postgresql_where=text("closed_dt IS NULL AND assignee_id IS NOT NULL"),
              sqlite_where=text("closed_dt IS NULL AND assignee_id IS NOT NULL")),
        # The deadline scan: what to look at next.
        Index("ix_tasks_next_check", "next_check_dt",
              postgresql_where=text("next_check_dt IS NOT NULL"), sqlite_where=text("next_check_dt IS NOT NULL")),
        Index("ix_tasks_case_id_closed_dt", "case_id", "closed_dt"),
        # 「我已办」: the tasks a person closed, latest first.
        Index("ix_tasks_closed_by_id_closed_dt", "closed_by_id", "closed_dt"),
        # At most one open task is the one the case's state waits for.
        Index("uq_tasks_open_stage", "case_id", unique=True,
              postgresql_where=text("closed_dt IS NULL AND purpose = 'stage'"),
              sqlite_where=text("closed_dt IS NULL AND purpose = 'stage'")),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"))
    purpose: Mapped[str] = mapped_column(String(20))
    # The case's kind and the state the task waits in (the inbox filters on them without the case).
    case_kind: Mapped[str] = mapped_column(String(63))
    state: Mapped[str] = mapped_column(String(63))
    # The candidates: whoever holds the role at the unit.
    role: Mapped[str] = mapped_column(String(20))
    unit_id: Mapped[int] = mapped_column(ForeignKey("org_units.id"))
    # One person of them, once claimed or assigned; and whom it was delegated from.
    assignee_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    delegated_from_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    # What the task is about within its purpose: the body a consultation waits to hear from.
    topic: Mapped[str | None] = mapped_column(String(63))
    entered_dt: Mapped[datetime] = mapped_column(UTCDateTime)
    # Whether the stay has a time limit; ``due_dt`` is then null only while the working-day
    # calendar does not cover the dates (listed for the admin).
    has_deadline: Mapped[bool] = mapped_column(Boolean, default=False)
    due_dt: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # When the scan must look next; null once nothing is left to do (or the task is closed).
    next_check_dt: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # How many of the state's reminders (furthest from the deadline first) are behind us.
    reminders_done: Mapped[int] = mapped_column(default=0)
    # When the scan found the deadline passed and escalated: the case is overdue.
    overdue_dt: Mapped[datetime | None] = mapped_column(UTCDateTime)
    closed_dt: Mapped[datetime | None] = mapped_column(UTCDateTime)
    closed_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    closed_how: Mapped[str | None] = mapped_column(String(20))


# --- Following the case's state, on every transition ----------------------------------------------

_table = Task.__table__
_OPENED = ("case_id", "purpose", "case_kind", "state", "role", "unit_id", "entered_dt", "has_deadline", "due_dt",
           "next_check_dt", "reminders_done")
_OPEN_TASK = insert(_table).values({name: bindparam(name) for name in _OPENED})
_CLOSE_STAGE_TASK = (
    update(_table).where(_table.c.case_id == bindparam("task_case_id"), _table.c.purpose == STAGE,
                         _table.c.closed_dt.is_(None))
    .values(closed_dt=bindparam("closed_dt"), closed_by_id=bindparam("closed_by_id"),
            closed_how=bindparam("closed_how"), next_check_dt=None)
    .returning(_table.c.id)
)


def follow_state(session: Session, case: Case, definition: Definition, now: datetime, *,
                 left_state: str | None, closed_by: int | None = None, closed_how: str = ACTED) -> None:
    """The case has entered its state (from ``left_state``, or as a new case when None): the task
    of the state left is closed, one for the state entered opened. Two statements at most, and
    the case row is flushed first: locks are always taken case, then task."""
    session.flush()
    connection = session.connection()
    if left_state is not None and definition.state(left_state).waits_for is not None:
        closed = connection.execute(_CLOSE_STAGE_TASK, {
            "task_case_id": case.id, "closed_dt": now, "closed_by_id": closed_by, "closed_how": closed_how})
        for task_id in closed.scalars():
            loaded = session.identity_map.get(identity_key(Task, task_id))
            if loaded is not None:
                session.expire(loaded)  # a copy loaded earlier in this session (the scan's) reloads
    state = definition.state(case.state)
    if state.waits_for is not None:
        connection.execute(_OPEN_TASK, _opened(session, case, definition, state, now))


def _opened(session: Session, case: Case, definition: Definition, state: StateSpec, now: datetime) -> dict:
    values = {
        "case_id": case.id, "purpose": STAGE, "case_kind": case.kind, "state": state.id,
        "role": state.waits_for.role, "unit_id": case.unit_at(state.waits_for.level), "entered_dt": now,
        "has_deadline": False, "due_dt": None, "next_check_dt": None, "reminders_done": 0,
    }
    if keeps_deadline(state):
        applies, due = due_in_state(session, case, state, now)
        if applies:
            # A state just entered skips the reminders whose time has gone: the case has only just arrived.
            done, next_check = next_checks(session, definition, state, due, 0, now, overdue=False, skip_past=True)
            values |= {"has_deadline": True, "due_dt": due, "next_check_dt": next_check, "reminders_done": done}
    return values


def follow_form(session: Session, case: Case, definition: Definition, now: datetime) -> None:
    """The case's content changed: a deadline set by a rule on it moves with it (a claim's filing
    window follows its discharge date). Nothing to do, and nothing read, in any other state."""
    state = definition.state(case.state)
    if state.deadline_at is None or not keeps_deadline(state):
        return
    task = waiting_task(session, case.id)
    if task is None:
        return
    applies, due = due_in_state(session, case, state, now)
    if not applies:
        task.has_deadline, task.due_dt, task.next_check_dt, task.reminders_done, task.overdue_dt = (
            False, None, None, 0, None)
    elif due != task.due_dt or not task.has_deadline:
        task.has_deadline, task.due_dt, task.reminders_done, task.overdue_dt = True, due, 0, None
        reschedule(session, definition, state, task, now, skip_past=True)
    session.flush()


def reschedule(session: Session, definition: Definition, state: StateSpec, task: Task, now: datetime, *,
               skip_past: bool) -> None:
    """Set when the scan looks at the task next (see engine.cases.deadlines.next_checks)."""
    task.reminders_done, task.next_check_dt = next_checks(
        session, definition, state, task.due_dt, task.reminders_done, now,
        overdue=task.overdue_dt is not None, skip_past=skip_past)


_SCHEDULE = (
    update(_table).where(_table.c.id == bindparam("task_id"))
    .values(reminders_done=bindparam("new_reminders_done"), next_check_dt=bindparam("new_next_check_dt"),
            overdue_dt=bindparam("new_overdue_dt"))
)
_SCHEDULED = ("reminders_done", "next_check_dt", "overdue_dt")


def write_schedules(session: Session, tasks: list[Task]) -> None:
    """Write the reminders done, next checks and overdue marks of loaded ``tasks`` in one
    executemany UPDATE, and mark them written. The flush writes a row per task whenever
    consecutive tasks changed different columns (a reminder, then an escalation): 5,000 round
    trips for a scan of 5,000 (bench/README.md)."""
    if not tasks:
        return
    session.connection().execute(_SCHEDULE, [
        {"task_id": task.id, **{f"new_{key}": getattr(task, key) for key in _SCHEDULED}} for task in tasks])
    for task in tasks:
        for key in _SCHEDULED:
            set_committed_value(task, key, getattr(task, key))


def how_it_ended(definition: Definition, case: Case, left_state: str, grant: Grant, *, timer: bool) -> str:
    """How the task of ``left_state`` ended when ``grant`` fired a transition out of it."""
    waits_for = definition.state(left_state).waits_for
    if timer:
        return TIMED_OUT
    if waits_for is not None and grant.role == waits_for.role and grant.unit_id == case.unit_at(waits_for.level):
        return ACTED
    if grant.role == "applicant":
        return WITHDRAWN
    return MOVED_ON


# --- Reading a case's tasks -----------------------------------------------------------------------

def waiting_task(session: Session, case_id: int) -> Task | None:
    """The open task the case's state waits for (None when the state waits for no one)."""
    return session.scalar(select(Task).where(Task.case_id == case_id, Task.purpose == STAGE,
                                             Task.closed_dt.is_(None)))


def due_of(session: Session, case: Case) -> datetime | None:
    """When the party the case waits for must act, if set."""
    return session.scalar(select(Task.due_dt).where(Task.case_id == case.id, Task.purpose == STAGE,
                                                    Task.closed_dt.is_(None)))


def dues_of(session: Session, case_ids: Iterable[int]) -> dict[int, datetime | None]:
    """``due_of`` for many cases in one query: the due time of those that wait (None if unset)."""
    case_ids = list(case_ids)
    if not case_ids:
        return {}
    return dict(session.execute(select(Task.case_id, Task.due_dt).where(
        Task.case_id.in_(case_ids), Task.purpose == STAGE, Task.closed_dt.is_(None))).all())


# A stage is overdue once its deadline has passed: by the clock, or as the scan found it and
# escalated (``overdue_dt``: the supervising unit was told then).

def is_overdue(task: Task, now: datetime) -> bool:
    return task.overdue_dt is not None or (task.due_dt is not None and task.due_dt < now)


def overdue_task(session: Session, case_id: int, now: datetime) -> Task | None:
    """The task the case waits on, when its deadline has passed."""
    task = waiting_task(session, case_id)
    return task if task is not None and task.has_deadline and is_overdue(task, now) else None


def overdue_case_ids(session: Session, case_ids: list[int], now: datetime) -> set[int]:
    """Which of ``case_ids`` wait past their deadline (one query, for a page of cases)."""
    if not case_ids:
        return set()
    return set(session.scalars(select(Task.case_id).where(
        Task.case_id.in_(case_ids), Task.purpose == STAGE, Task.closed_dt.is_(None),
        or_(Task.overdue_dt.is_not(None), Task.due_dt < now))))


def missing_calendar_year(session: Session, case_id: int) -> int | None:
    """The year the working-day calendar lacks, when the case's deadline could not be worked out
    for want of it: pages say so (「无法计算期限：2028 年的工作日历尚未导入」) instead of nothing."""
    task = waiting_task(session, case_id)
    return missing_year_of(session, session.get(Case, case_id), task) if task is not None else None


def missing_year_of(session: Session, case: Case, task: Task | None) -> int | None:
    """``missing_calendar_year`` for a case whose waiting task the caller has read already."""
    if task is None or not task.has_deadline or task.due_dt is not None:
        return None
    try:
        work_out_due(session, case, case.definition.state(task.state), task.entered_dt)
    except CalendarNotCovered as uncovered:
        return uncovered.year
    return None
