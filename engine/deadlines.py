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

from dataclasses import dataclass, field
from datetime import date, datetime, time as dtime, timedelta, tzinfo
from typing import Iterable

from sqlalchemy import ForeignKey, Index, String, and_, or_, select, update
from sqlalchemy.orm import Mapped, Session, mapped_column

from engine import rules
from engine.calendar import LOCAL_TZ, working_calendar
from engine.cases import Case
from engine.config import DeliverySettings
from engine.db import Base, UTCDateTime
from engine.definitions import Definition, StateSpec, definition_by_hash
from engine.errors import CalendarNotCovered
from engine.notifications import Message, holders_of, notify
from engine.org import ROLE_LABELS, SYSTEM_ACTOR, OrgUnit

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

def track_deadline(session: Session, case: Case, definition: Definition, now: datetime, *,
                   state_changed: bool) -> datetime | None:
    """Keep the case's deadline rows in step with its state; returns the open deadline's due time.

    Called by engine.inbox.refresh_inbox on every change of a case. A state left closes its
    row; a state entered opens one. A form change moves a ``deadline_at`` deadline (a claim's
    filing window follows its discharge date).
    """
    state = definition.state(case.state)
    open_row = open_deadline(session, case.id)
    if state_changed and open_row is not None:
        open_row.closed_dt, open_row.next_check_dt = now, None
        open_row = None
    if not state.has_deadline or state.waits_for is None:
        return None
    if open_row is None:
        if not state_changed and state.deadline_at is None:
            return None  # a case whose state has no row (made before deadlines were kept)
        applies, due = _due_for(session, case, state, now)
        if not applies:
            return None
        open_row = Deadline(case_id=case.id, state=state.id, role=state.waits_for.role,
                            unit_id=case.unit_at(state.waits_for.level), entered_dt=now, due_dt=due, reminders_done=0)
        _schedule(session, definition, state, open_row, now, skip_past=True)
        session.add(open_row)
    elif state.deadline_at is not None:
        applies, due = _due_for(session, case, state, now)
        if not applies:
            open_row.closed_dt, open_row.next_check_dt = now, None
            return None
        if due != open_row.due_dt:
            open_row.due_dt, open_row.reminders_done, open_row.overdue_dt = due, 0, None
            _schedule(session, definition, state, open_row, now, skip_past=True)
    session.flush()
    return open_row.due_dt


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


def _due_for(session: Session, case: Case, state: StateSpec, now: datetime) -> tuple[bool, datetime | None]:
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
        local_start = start.astimezone(LOCAL_TZ).date()
        last_day = working_calendar(session).add_working_days(local_start, state.deadline_working_days)
        return datetime.combine(last_day + timedelta(days=1), dtime(0), tzinfo=LOCAL_TZ).astimezone(start.tzinfo)
    return rules.deadline_of(state.deadline_at, rules.RuleContext(session, SYSTEM_ACTOR, case, start))


def missing_calendar_year(session: Session, case_id: int) -> int | None:
    """The year the working-day calendar lacks, when the case's open deadline could not be worked
    out for want of it: pages say so (「无法计算期限：2028 年的工作日历尚未导入」) instead of nothing."""
    row = open_deadline(session, case_id)
    if row is None or row.due_dt is not None:
        return None
    case = session.get(Case, case_id)
    state = definition_by_hash(session, case.definition_hash).state(row.state)
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


def recompute_deadlines(session: Session, now: datetime, changed_days: Iterable[date] = ()) -> int:
    """Work due times out again after the working-day calendar changed: those it could not
    cover before (an admin entered the year), and open ones whose span holds a changed day.
    Returns how many due times changed."""
    changed_days = sorted(changed_days)
    affected = [Deadline.due_dt.is_(None)]
    if changed_days:
        first = datetime.combine(changed_days[0], dtime(0), tzinfo=LOCAL_TZ)
        after_last = datetime.combine(changed_days[-1] + timedelta(days=1), dtime(0), tzinfo=LOCAL_TZ)
        affected.append(and_(Deadline.entered_dt < after_last, Deadline.due_dt >= first))
    rows = session.scalars(select(Deadline).where(Deadline.closed_dt.is_(None), or_(*affected))).all()
    moved = 0
    for row in rows:
        case = session.get(Case, row.case_id)
        definition = definition_by_hash(session, case.definition_hash)
        state = definition.state(row.state)
        applies, due = _due_for(session, case, state, row.entered_dt)
        if not applies or due == row.due_dt:
            continue
        row.due_dt, row.reminders_done, moved = due, 0, moved + 1
        _schedule(session, definition, state, row, now, skip_past=True)
        _set_inbox_due(session, row)
    session.flush()
    return moved


def _set_inbox_due(session: Session, row: Deadline) -> None:
    from engine.inbox import InboxItem  # the inbox shows the deadline: built on this module

    session.execute(update(InboxItem).where(InboxItem.case_id == row.case_id).values(due_dt=row.due_dt))


# --- Reminder times --------------------------------------------------------------------------------

def reminder_times(session: Session, definition: Definition, state: StateSpec, due: datetime) -> list[tuple[int, datetime]]:
    """(offset, when) for each reminder of the state, furthest first: the reminder "N working
    days before" goes out at REMINDER_HOUR on the N-th working day before the deadline's last day."""
    calendar = working_calendar(session)
    last_day = (due - timedelta(microseconds=1)).astimezone(LOCAL_TZ).date()
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


def _schedule(session: Session, definition: Definition, state: StateSpec, row: Deadline, now: datetime, *,
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


# --- The scan --------------------------------------------------------------------------------------

@dataclass
class ScanReport:
    reminders: int = 0
    escalations: int = 0
    transitions: list[tuple[int, str]] = field(default_factory=list)  # (case id, trigger)
    refused: list[tuple[int, str, str]] = field(default_factory=list)  # (case id, trigger, reason)
    notifications: int = 0
    # Handed over but not acted on: locked by another scanner, or no longer due.
    skipped: int = 0

    def add(self, other: "ScanReport") -> None:
        self.reminders += other.reminders
        self.escalations += other.escalations
        self.transitions += other.transitions
        self.refused += other.refused
        self.notifications += other.notifications
        self.skipped += other.skipped


def due_deadline_ids(session: Session, now: datetime, *, limit: int = 1000, after_id: int = 0) -> list[int]:
    """Ids of the rows the scan must look at by ``now`` (read without locking: the tasks lock)."""
    return list(session.scalars(
        select(Deadline.id).where(Deadline.next_check_dt <= now, Deadline.id > after_id)
        .order_by(Deadline.id).limit(limit)
    ))


def process_deadlines(session: Session, deadline_ids: list[int], now: datetime) -> ScanReport:
    """Act on the given rows that are still due, each once; the caller commits.

    Rows and their cases are locked FOR UPDATE SKIP LOCKED (PostgreSQL): a row another scanner
    holds is left to it, and a case a reviewer is acting on waits for the next scan. Locking the
    case with the row keeps the lock order of every operation (case first), so no deadlock.
    """
    report = ScanReport()
    locked = session.execute(
        select(Deadline, Case).join(Case, Case.id == Deadline.case_id)
        .where(Deadline.id.in_(deadline_ids), Deadline.next_check_dt <= now)
        .order_by(Deadline.id).with_for_update(skip_locked=True)
    ).all()
    report.skipped = len(set(deadline_ids)) - len(locked)
    outbox: list[tuple[int, Message]] = []
    people = _People(session)
    for row, case in locked:
        definition = definition_by_hash(session, case.definition_hash)
        state = definition.state(row.state)
        if row.due_dt is not None and now >= row.due_dt:
            _on_due(session, row, case, definition, state, now, people, outbox, report)
        else:
            with session.no_autoflush:  # the rows' changes go out together at the end
                _remind(session, row, case, definition, state, now, people, outbox, report)
    report.notifications += len(notify(session, outbox, now))
    session.flush()
    return report


def _remind(session, row: Deadline, case: Case, definition: Definition, state: StateSpec, now: datetime,
            people: "_People", outbox: list, report: ScanReport) -> None:
    times = reminder_times(session, definition, state, row.due_dt)
    come = [index for index in range(row.reminders_done, len(times)) if times[index][1] <= now]
    if come:
        offset = times[come[-1]][0]  # after downtime only the latest one: the earlier ones are moot
        row.reminders_done = come[-1] + 1
        message = _reminder_message(row, case, definition, state, offset)
        outbox += [(user_id, message) for user_id in people.concerned(row, case)]
        report.reminders += 1
    _schedule(session, definition, state, row, now, skip_past=False)


def _on_due(session, row: Deadline, case: Case, definition: Definition, state: StateSpec, now: datetime,
            people: "_People", outbox: list, report: ScanReport) -> None:
    from engine.timers import fire_timer  # timers fire through the operations, built on this module

    fired = fire_timer(session, case, definition, now)
    if fired is not None and fired.fired:
        report.transitions.append((case.id, fired.trigger))
        outbox += _automatic_messages(session, case, definition, state, fired.trigger, people)
        return
    if fired is not None:
        report.refused.append((case.id, fired.trigger, fired.reason))
    row.overdue_dt, row.next_check_dt = now, None
    report.escalations += 1
    with session.no_autoflush:
        outbox += _escalation_messages(session, row, case, state, people)


# --- What people are told ---------------------------------------------------------------------------

class _People:
    """Who holds a role at a unit, asked once per scan batch."""

    def __init__(self, session: Session):
        self.session = session
        self._holders: dict[tuple[str, int], list[int]] = {}
        self._units: dict[int, OrgUnit] = {}  # held here: the session keeps only weak references

    def unit(self, unit_id: int) -> OrgUnit:
        if unit_id not in self._units:
            self._units[unit_id] = self.session.get(OrgUnit, unit_id)
        return self._units[unit_id]

    def at(self, role: str, unit_id: int) -> list[int]:
        if (role, unit_id) not in self._holders:
            self._holders[(role, unit_id)] = holders_of(self.session, role, unit_id)
        return self._holders[(role, unit_id)]

    def concerned(self, row: Deadline, case: Case) -> list[int]:
        """The people the deadline concerns: the case's own applicant where the applicant acts."""
        if row.role == "applicant" and case.applicant_id is not None:
            return [case.applicant_id]
        return self.at(row.role, row.unit_id)

    def applicant(self, case: Case) -> list[int]:
        return [case.applicant_id] if case.applicant_id is not None else self.at("applicant", case.origin_unit_id)


def _case_line(case: Case, definition: Definition) -> str:
    return f"{definition.label}「{case.title}」（编号 {case.id}）"


def _reminder_message(row: Deadline, case: Case, definition: Definition, state: StateSpec, offset: int) -> Message:
    when = "今天到期" if offset == 0 else f"还有 {offset} 个工作日到期"
    return Message(
        kind="reminder", key=f"deadline:{row.id}:reminder:{offset}", case_id=case.id,
        subject=f"【待办提醒】{case.title}：{state.label}{when}",
        body=(f"{_case_line(case, definition)}处于「{state.label}」，{last_day_text(row.due_dt, LOCAL_TZ)}，{when}。"
              "请及时办理。"),
    )


def _escalation_messages(session: Session, row: Deadline, case: Case, state: StateSpec,
                         people: _People) -> list[tuple[int, Message]]:
    definition = definition_by_hash(session, case.definition_hash)
    unit = people.unit(row.unit_id)
    waiting_for = f"{unit.name}{ROLE_LABELS.get(row.role, row.role)}"
    line, due = _case_line(case, definition), last_day_text(row.due_dt, LOCAL_TZ)
    to_them = Message(
        kind="overdue", key=f"deadline:{row.id}:overdue", case_id=case.id,
        subject=f"【已逾期】{case.title}：{state.label}",
        body=f"{line}处于「{state.label}」，{due}，期限已过，已通报上级单位。请尽快办理。")
    to_supervisor = Message(
        kind="escalation", key=f"deadline:{row.id}:escalation", case_id=case.id,
        subject=f"【逾期督办】{waiting_for}：{case.title}",
        body=f"{line}在「{state.label}」等待{waiting_for}办理，{due}，期限已过，请督促办理。")
    to_applicant = Message(
        kind="overdue", key=f"deadline:{row.id}:overdue", case_id=case.id,
        subject=f"【进度提示】{case.title} 的办理已逾期",
        body=f"{line}在「{state.label}」等待{waiting_for}办理，{due}，期限已过，系统已通报其上级单位督办。")
    deliveries = [(user_id, to_them) for user_id in people.concerned(row, case)]
    if unit.parent_id is not None:
        deliveries += [(user_id, to_supervisor) for user_id in people.at("reviewer", unit.parent_id)]
    if row.role != "applicant":
        told = {user_id for user_id, _ in deliveries}
        deliveries += [(user_id, to_applicant) for user_id in people.applicant(case) if user_id not in told]
    return deliveries


def _automatic_messages(session: Session, case: Case, definition: Definition, state: StateSpec, trigger: str,
                        people: _People) -> list[tuple[int, Message]]:
    """The applicant learns what the system did on its own; so do those the case now waits for."""
    spec = next(t for t in definition.transitions if t.trigger == trigger and state.id in t.sources)
    now_state = definition.state(case.state)
    message = Message(
        kind="automatic", key=f"case:{case.id}:auto:{case.audit_seq}", case_id=case.id,
        subject=f"【系统自动处理】{case.title}：{spec.label}",
        body=f"{_case_line(case, definition)}「{state.label}」期限届满，系统已自动执行「{spec.label}」，"
             f"案件现处于「{now_state.label}」。")
    user_ids = set(people.applicant(case))
    if now_state.waits_for is not None and now_state.waits_for.role != "applicant":
        user_ids |= set(people.at(now_state.waits_for.role, case.unit_at(now_state.waits_for.level)))
    return [(user_id, message) for user_id in sorted(user_ids)]


def scan_deadlines(session_factory, now: datetime, *, batch_size: int = 500) -> ScanReport:
    """Every row due by ``now``, batch by batch, each batch its own unit of work.

    After downtime this is the catch-up: whatever fell due meanwhile is due now, and is acted
    on once. Rows locked by another scanner are skipped (it handles them).
    """
    report, after_id = ScanReport(), 0
    while True:
        with session_factory() as session:
            ids = due_deadline_ids(session, now, limit=batch_size, after_id=after_id)
            if not ids:
                return report
            report.add(process_deadlines(session, ids, now))
            session.commit()
        after_id = ids[-1]
