"""The deadline scan: reminders before a stage's deadline, escalation once it has passed, and the
timers a definition fires when it is due."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.base.config import LOCAL_TZ
from engine.calendar.working_days import working_calendar
from engine.cases.case import Case
from engine.cases.consultations import CONSULTATION, body_labels
from engine.cases.deadlines import last_day_text, last_day_to_act, overdue_reminder, reminder_times
from engine.cases.tasks import STAGE, Task, reschedule, write_schedules
from engine.definitions.spec import Definition, StateSpec
from engine.notify.notifications import Message, notify
from engine.operations.telling import People, case_line
from engine.operations.timers import fire_timer, timer_transition
from engine.org.units import ROLE_LABELS


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


def due_task_ids(session: Session, now: datetime, *, limit: int = 1000, after_id: int = 0) -> list[int]:
    """Ids of the tasks the scan must look at by ``now`` (read without locking: the workers lock)."""
    return list(session.scalars(
        select(Task.id).where(Task.next_check_dt <= now, Task.id > after_id).order_by(Task.id).limit(limit)
    ))


def process_deadlines(session: Session, task_ids: list[int], now: datetime) -> ScanReport:
    """Act on the given tasks that are still due, each once; the caller commits.

    Tasks and their cases are locked FOR UPDATE SKIP LOCKED (PostgreSQL): a task another scanner
    holds is left to it, and a case a reviewer is acting on waits for the next scan. Locking the
    case with the task keeps the lock order of every operation (case first), so no deadlock.
    """
    report = ScanReport()
    locked = session.execute(
        select(Task, Case).join(Case, Case.id == Task.case_id)
        .where(Task.id.in_(task_ids), Task.next_check_dt <= now)
        .order_by(Task.id).with_for_update(skip_locked=True)
    ).all()
    report.skipped = len(set(task_ids)) - len(locked)
    outbox: list[tuple[int, Message]] = []
    people = People(session, now)
    rescheduled: list[Task] = []  # written together (write_schedules), not a flush per task
    for task, case in locked:
        definition = case.definition
        state = definition.state(task.state)
        if task.purpose == CONSULTATION:  # a body consulted (征求意见) is late: whoever records its reply is told
            outbox += [(user_id, _consultation_overdue(task, case, definition, state))
                       for user_id in people.concerned(task, case)]
            task.next_check_dt = None
            rescheduled.append(task)
            report.reminders += 1
            continue
        if task.purpose != STAGE:  # an opinion asked (加签): its person is told once it is due
            outbox += [(task.assignee_id, _opinion_overdue(task, case, definition))]
            task.next_check_dt = None
            rescheduled.append(task)
            report.reminders += 1
            continue
        if task.due_dt is None or now < task.due_dt:
            with session.no_autoflush:
                _remind(session, task, case, definition, state, now, people, outbox, report)
            rescheduled.append(task)
            continue
        if task.overdue_dt is not None:  # escalated already: reminded again, every N working days
            _remind_overdue(session, task, case, definition, state, now, people, outbox, report)
            rescheduled.append(task)
            continue
        if timer_transition(definition, state.id) is not None:
            write_schedules(session, rescheduled)  # before the timer's savepoint flushes them one by one
            rescheduled = []
        if _on_due(session, task, case, definition, state, now, people, outbox, report):
            rescheduled.append(task)
    write_schedules(session, rescheduled)
    report.notifications += len(notify(session, outbox, now))
    session.flush()
    return report


def _remind(session, task: Task, case: Case, definition: Definition, state: StateSpec, now: datetime,
            people: People, outbox: list, report: ScanReport) -> None:
    times = reminder_times(session, definition, state, task.due_dt)
    come = [index for index in range(task.reminders_done, len(times)) if times[index][1] <= now]
    if come:
        offset = times[come[-1]][0]  # after downtime only the latest one: the earlier ones are moot
        task.reminders_done = come[-1] + 1
        message = _reminder_message(task, case, definition, state, offset)
        outbox += [(user_id, message) for user_id in people.concerned(task, case)]
        report.reminders += 1
    reschedule(session, definition, state, task, now, skip_past=False)


def _on_due(session, task: Task, case: Case, definition: Definition, state: StateSpec, now: datetime,
            people: People, outbox: list, report: ScanReport) -> bool:
    """Fire the state's timer, or escalate; True when the task stays open, marked overdue."""
    fired = fire_timer(session, case, definition, now)
    if fired is not None and fired.fired:
        report.transitions.append((case.id, fired.trigger))  # told after the commit, as any transition
        return False
    if fired is not None:
        report.refused.append((case.id, fired.trigger, fired.reason))
    task.overdue_dt = now
    task.next_check_dt = overdue_reminder(session, definition, state, task.due_dt, now)[1]
    report.escalations += 1
    with session.no_autoflush:
        outbox += _escalation_messages(session, task, case, state, people)
    return True


def _remind_overdue(session, task: Task, case: Case, definition: Definition, state: StateSpec, now: datetime,
                    people: People, outbox: list, report: ScanReport) -> None:
    number, task.next_check_dt = overdue_reminder(session, definition, state, task.due_dt, now)
    if number == 0:
        return
    late = working_calendar(session).working_days_between(last_day_to_act(task.due_dt, LOCAL_TZ),
                                                          now.astimezone(LOCAL_TZ).date())
    message = Message(
        kind="overdue", key=f"deadline:{task.id}:overdue:{number}", case_id=case.id,
        subject=f"【仍未办理】{case.title}：{state.label}已逾期 {late} 个工作日",
        body=(f"{case_line(case, definition)}处于「{state.label}」，{last_day_text(task.due_dt, LOCAL_TZ)}，"
              f"已逾期 {late} 个工作日，上级单位已督办。请尽快办理。"))
    outbox += [(user_id, message) for user_id in people.concerned(task, case)]
    report.reminders += 1


def _opinion_overdue(task: Task, case: Case, definition: Definition) -> Message:
    return Message(
        kind="overdue", key=f"deadline:{task.id}:overdue", case_id=case.id,
        subject=f"【意见逾期】{case.title}：请尽快答复",
        body=f"{case_line(case, definition)}向您征求的意见{last_day_text(task.due_dt, LOCAL_TZ)}，已到期。请尽快答复，办理人在等待您的意见。")


def _consultation_overdue(task: Task, case: Case, definition: Definition, state: StateSpec) -> Message:
    body = body_labels(definition, state).get(task.topic, task.topic) if state.consultations else task.topic
    return Message(
        kind="overdue", key=f"deadline:{task.id}:overdue", case_id=case.id,
        subject=f"【征求意见逾期】{case.title}：{body}尚未回复",
        body=(f"{case_line(case, definition)}向{body}征求的意见{last_day_text(task.due_dt, LOCAL_TZ)}，已到期，"
              "尚未录入其回复。请催告该部门，收到回复后录入。"))


def _reminder_message(task: Task, case: Case, definition: Definition, state: StateSpec, offset: int) -> Message:
    when = "今天到期" if offset == 0 else f"还有 {offset} 个工作日到期"
    return Message(
        kind="reminder", key=f"deadline:{task.id}:reminder:{offset}", case_id=case.id,
        subject=f"【待办提醒】{case.title}：{state.label}{when}",
        body=(f"{case_line(case, definition)}处于「{state.label}」，{last_day_text(task.due_dt, LOCAL_TZ)}，{when}。"
              "请及时办理。"),
    )


def _escalation_messages(session: Session, task: Task, case: Case, state: StateSpec,
                         people: People) -> list[tuple[int, Message]]:
    definition = case.definition
    unit = people.unit(task.unit_id)
    waiting_for = f"{unit.name}{ROLE_LABELS.get(task.role, task.role)}"
    line, due = case_line(case, definition), last_day_text(task.due_dt, LOCAL_TZ)
    to_them = Message(
        kind="overdue", key=f"deadline:{task.id}:overdue", case_id=case.id,
        subject=f"【已逾期】{case.title}：{state.label}",
        body=f"{line}处于「{state.label}」，{due}，期限已过，已通报上级单位。请尽快办理。")
    to_supervisor = Message(
        kind="escalation", key=f"deadline:{task.id}:escalation", case_id=case.id,
        subject=f"【逾期督办】{waiting_for}：{case.title}",
        body=f"{line}在「{state.label}」等待{waiting_for}办理，{due}，期限已过，请督促办理。")
    to_applicant = Message(
        kind="overdue", key=f"deadline:{task.id}:overdue", case_id=case.id,
        subject=f"【进度提示】{case.title} 的办理已逾期",
        body=f"{line}在「{state.label}」等待{waiting_for}办理，{due}，期限已过，系统已通报其上级单位督办。")
    deliveries = [(user_id, to_them) for user_id in people.concerned(task, case)]
    if unit.parent_id is not None:
        deliveries += [(user_id, to_supervisor) for user_id in people.at("reviewer", unit.parent_id)]
    if task.role != "applicant":
        told = {user_id for user_id, _ in deliveries}
        deliveries += [(user_id, to_applicant) for user_id in people.applicant(case) if user_id not in told]
    return deliveries


def scan_deadlines(session_factory, now: datetime, *, batch_size: int = 500) -> ScanReport:
    """Every task due by ``now``, batch by batch, each batch its own unit of work.

    After downtime this is the catch-up: whatever fell due meanwhile is due now, and is acted
    on once. Tasks locked by another scanner are skipped (it handles them).
    """
    report, after_id = ScanReport(), 0
    while True:
        with session_factory() as session:
            ids = due_task_ids(session, now, limit=batch_size, after_id=after_id)
            if not ids:
                return report
            report.add(process_deadlines(session, ids, now))
            session.commit()
        after_id = ids[-1]
