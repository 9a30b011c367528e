"""Telling people what concerns them, from the audit events, after the commit.

An operation whose event concerns someone marks it with ``tell_later``; once the unit of work has
committed, ``tell_about_events`` (a worker task; in-process in the embedded profile) reads the
events and stores a notification for each person concerned:

- a new task for me, or for my unit (the case arrived at a state that waits for us);
- my case returned to me, with the reason; my case decided (a final state), with the opinion;
- a case sent back to my level to be reviewed again (退回重审), with the reason and the level it returns to;
- what the system did on its own when a deadline passed;
- an objection lodged against my nomination;
- a task transferred to me, or taken over from me;
- an opinion asked of me (加签), and the opinion I asked for, given;
- a case copied to me (抄送), by a person or by the definition (``copy_to``).

Told after the commit, an approval stays five statements (tests/test_approval_statements.py);
the people are worked out where the notifications are written. Each notification's key names its
event (``event:<id>:<kind>``): told twice (a redelivered task, the catch-up below), a person still
gets one. A kick lost on the way (the broker down, the process gone) is made good by
``catch_up_telling``, which the deadline scan runs every minute over the events older than
``CATCH_UP_AFTER`` not yet covered.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import BigInteger, String, func, or_, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from engine.audit.chain import AuditEvent
from engine.base import effects
from engine.base.config import LOCAL_TZ
from engine.base.db import Base, insert_for
from engine.cases.case import Case, event_label
from engine.cases.deadlines import last_day_text
from engine.cases.tasks import STAGE, Task
from engine.definitions.spec import Definition
from engine.notify.notifications import Message, holders_of, notify
from engine.org.delegations import deputies_for
from engine.org.units import OrgUnit

PUBLISHED_AS = "people_concerned"
CATCH_UP_AFTER = timedelta(minutes=5)
CATCH_UP_BATCH = 500


class TellingMark(Base):
    """How far the catch-up has looked: every event up to ``event_id`` has been told."""

    __tablename__ = "telling_marks"

    name: Mapped[str] = mapped_column(String(30), primary_key=True)
    event_id: Mapped[int] = mapped_column(BigInteger)


def tell_later(session: Session, event: AuditEvent) -> None:
    """Tell the people ``event`` concerns once the unit of work has committed."""
    effects.publish(session, PUBLISHED_AS, event_id=event.id)


# --- Who is concerned -----------------------------------------------------------------------------

class People:
    """Who holds a role at a unit, asked once per batch."""

    def __init__(self, session: Session, now: datetime):
        self.session = session
        self.today = now.astimezone(LOCAL_TZ).date()
        self._holders: dict[tuple[str, int], list[int]] = {}
        self._deputies: dict[tuple[tuple[int, str, int], date], int | None] = {}
        self._units: dict[int, OrgUnit] = {}  # held here: the session keeps only weak references

    def as_of(self, moment: datetime) -> None:
        """Deputies as on the day of ``moment`` (an event is told as of when it happened)."""
        self.today = moment.astimezone(LOCAL_TZ).date()

    def unit(self, unit_id: int) -> OrgUnit:
        if unit_id not in self._units:
            self._units[unit_id] = self.session.get(OrgUnit, unit_id)
        return self._units[unit_id]

    def at(self, role: str, unit_id: int) -> list[int]:
        if (role, unit_id) not in self._holders:
            self._holders[(role, unit_id)] = holders_of(self.session, role, unit_id)
        return self._holders[(role, unit_id)]

    def concerned(self, task: Task, case: Case) -> list[int]:
        """Whom the task concerns: its holder once someone holds it, the case's own applicant where
        the applicant acts, else everyone holding the role at the unit."""
        if task.assignee_id is not None:
            return [self.in_place_of(task.assignee_id, task.role, task.unit_id)]
        if task.role == "applicant" and case.applicant_id is not None:
            return [case.applicant_id]
        return self.at(task.role, task.unit_id)

    def in_place_of(self, user_id: int, role: str, unit_id: int) -> int:
        """The person himself, or his deputy while he is away (engine.org.delegations)."""
        key = (user_id, role, unit_id)
        if (key, self.today) not in self._deputies:
            self._deputies[(key, self.today)] = deputies_for(self.session, {key}, self.today).get(key)
        return self._deputies[(key, self.today)] or user_id

    def applicant(self, case: Case) -> list[int]:
        return [case.applicant_id] if case.applicant_id is not None else self.at("applicant", case.origin_unit_id)


def case_line(case: Case, definition: Definition) -> str:
    return f"{definition.label}「{case.title}」（编号 {case.id}）"


# --- Telling --------------------------------------------------------------------------------------

@dataclass
class _Told:
    deliveries: list[tuple[int, Message]]

    def add(self, user_ids, message: Message, *, not_to: int | None = None) -> None:
        self.deliveries += [(user_id, message) for user_id in user_ids if user_id != not_to]


def tell_about_events(session: Session, event_ids: list[int], now: datetime) -> int:
    """Store the notifications the events call for (each once); the caller commits. Returns how
    many were new."""
    events = list(session.scalars(
        select(AuditEvent).where(AuditEvent.id.in_(event_ids), _concerns_people()).order_by(AuditEvent.id)))
    if not events:
        return 0
    cases = {case.id: case for case in session.scalars(select(Case).where(Case.id.in_({e.case_id for e in events})))}
    entered = session.scalars(select(Task).where(
        Task.case_id.in_(cases), Task.purpose == STAGE, Task.closed_dt.is_(None)))
    open_stage = {task.case_id: task for task in entered}
    told, people = _Told([]), People(session, now)
    for event in events:
        case = cases[event.case_id]
        people.as_of(event.occurred_dt)
        _tell_one(event, case, open_stage.get(case.id), people, told)
    return len(notify(session, told.deliveries, now))


def _concerns_people():
    return or_(AuditEvent.action.in_(TOLD_ACTIONS),
               (AuditEvent.to_state.is_not(None)) & (AuditEvent.action != "create"))


@dataclass(frozen=True)
class _Step:
    """One event to tell of, with what every message about it says."""

    event: AuditEvent
    case: Case
    definition: Definition
    line: str  # the case, named as messages name it
    by: str    # who acted, with his unit

    def state_label(self, state_id: str | None) -> str:
        return _state_label(self.definition, state_id)


def _tell_transfer(step: _Step, people: People, told: _Told) -> None:
    event = step.event
    reason = f"转交理由：{event.comment}" if event.comment else ""
    to = people.in_place_of(event.details["to"]["id"], event.actor_role, event.actor_unit_id)
    told.add([to], _message(event, "transferred", f"【转交给您】{step.case.title}",
             f"{step.by}将{step.line}转交给您办理，该案件在「{step.state_label(event.details['state'])}」。{reason}"))


def _tell_take_over(step: _Step, people: People, told: _Told) -> None:
    event = step.event
    told.add([event.details["from"]["id"]], _message(event, "taken_over", f"【已被接手】{step.case.title}",
             f"{step.by}已接手您认领的{step.line}，该案件在「{step.state_label(event.details['state'])}」改由其办理。"))


def _tell_opinion_asked(step: _Step, people: People, told: _Told) -> None:
    event = step.event
    due = datetime.fromisoformat(event.details["due"])
    note = f"说明：{event.comment}。" if event.comment else ""
    told.add([person["id"] for person in event.details["asked"]], _message(
        event, "opinion_asked", f"【征求意见】{step.case.title}",
        f"{step.by}就{step.line}征求您的意见。{note}请在{last_day_text(due, LOCAL_TZ)}前答复（在案件页「发表意见」）。"))


def _tell_opinion_given(step: _Step, people: People, told: _Told) -> None:
    event = step.event
    asker = (event.details or {}).get("asked_by")
    left = (event.details or {}).get("still_pending", 0)
    after = "所征求的意见均已答复，可以办理。" if not left else f"还有 {left} 人尚未答复。"
    if asker and asker.get("id"):
        told.add([asker["id"]], _message(event, "opinion_given", f"【意见已答复】{step.case.title}",
                 f"{step.by}对{step.line}的意见：{event.comment}。{after}"))


def _tell_copy(step: _Step, people: People, told: _Told) -> None:
    event = step.event
    note = f"抄送说明：{event.details['note']}" if event.details.get("note") else ""
    told.add([copied["id"] for copied in event.details["copies"]], _message(
        event, "copied", f"【抄送】{step.case.title}",
        f"{step.by}将{step.line}抄送给您，该案件在「{step.state_label(event.details['state'])}」。{note}"))


def _tell_objection(step: _Step, people: People, told: _Told) -> None:
    told.add(people.applicant(step.case), _message(step.event, "objection", f"【收到异议】{step.case.title}",
             f"{step.line}在公示期间收到异议，已转入调查核实。核实结果将另行通知。"))


# Events other than a change of state that concern someone, and who hears of them.
_TELLERS = {"transfer": _tell_transfer, "take_over": _tell_take_over, "ask_opinion": _tell_opinion_asked,
            "opinion": _tell_opinion_given, "copy": _tell_copy, "objection": _tell_objection}
TOLD_ACTIONS = tuple(_TELLERS)


def _tell_one(event: AuditEvent, case: Case, stage: Task | None, people: People, told: _Told) -> None:
    definition = case.definition
    line, by = case_line(case, definition), _by(event)
    teller = _TELLERS.get(event.action)
    if teller is not None:
        teller(_Step(event, case, definition, line, by), people, told)
        return
    state = definition.state(event.to_state)
    _tell_copied(event, case, definition, state.label, told)
    # The task the event opened, while it still waits: one acted on since needs no telling.
    arrived = stage if stage is not None and stage.state == event.to_state and \
        stage.entered_dt == event.occurred_dt else None
    if (event.details or {}).get("deadline") is not None:  # fired by the clock
        label = (event.details or {}).get("label", event.action)
        message = _message(event, "automatic", f"【系统自动处理】{case.title}：{label}",
                           f"{line}「{_state_label(definition, event.from_state)}」期限届满，系统已自动执行「{label}」，"
                           f"案件现处于「{state.label}」。")
        to = set(people.applicant(case))
        if arrived is not None and arrived.role != "applicant":
            to |= set(people.concerned(arrived, case))
        told.add(sorted(to), message)
    elif state.is_final:
        opinion = f"办理意见：{event.comment}" if event.comment else ""
        told.add(people.applicant(case), _message(event, "decided", f"【办理结果】{case.title}：{state.label}",
                 f"{line}已办结，结果为「{state.label}」（{by}）。{opinion}"), not_to=event.actor_id)
    elif arrived is not None and state.kind == "draft":  # back to the applicant to be changed
        reason = f"退回理由：{event.comment}。" if event.comment else ""
        told.add(people.concerned(arrived, case), _message(event, "returned", f"【退回修改】{case.title}",
                 f"{line}已被{by}退回，现处于「{state.label}」。{reason}请修改后重新提交。"), not_to=event.actor_id)
    elif arrived is not None and (event.details or {}).get("sent_back_to"):  # an earlier level to review again
        told.add(people.concerned(arrived, case), _sent_back_message(event, case, definition, arrived, by),
                 not_to=event.actor_id)
    elif arrived is not None:
        due = f"{last_day_text(arrived.due_dt, LOCAL_TZ)}，" if arrived.due_dt is not None else ""
        told.add(people.concerned(arrived, case), _message(event, "new_task", f"【待办】{case.title}：{state.label}",
                 f"{line}已由{by}送达「{state.label}」，{due}请及时办理。"), not_to=event.actor_id)


def _sent_back_message(event: AuditEvent, case: Case, definition: Definition, arrived: Task, by: str) -> Message:
    sender, state = _state_label(definition, event.from_state), _state_label(definition, event.to_state)
    reason = f"退回理由：{event.comment}。" if event.comment else ""
    due = f"{last_day_text(arrived.due_dt, LOCAL_TZ)}，" if arrived.due_dt is not None else ""
    return _message(event, "sent_back", f"【退回重审】{case.title}：{state}",
                    f"{case_line(case, definition)}已被{by}在「{sender}」退回「{state}」重新审核。{reason}"
                    f"{due}请重新审核；审核通过后将直接送回「{sender}」。")


def _tell_copied(event: AuditEvent, case: Case, definition: Definition, state_label: str, told: _Told) -> None:
    """The people the definition copied on this step (``copy_to``), named in the step's own event."""
    copied = (event.details or {}).get("copies")
    if copied:
        told.add([person["id"] for person in copied], _message(
            event, "copied", f"【抄送】{case.title}",
            f"{case_line(case, definition)}经{_by(event)}「{event_label(event.action, event.details)}」，"
            f"现处于「{state_label}」，按流程抄送给您。"))


def _by(event: AuditEvent) -> str:
    return f"{event.actor_name}（{event.actor_unit_name}）" if event.actor_unit_name else event.actor_name


def _state_label(definition: Definition, state_id: str | None) -> str:
    try:
        return definition.state(state_id).label
    except KeyError:  # a state a later definition version no longer has
        return state_id or ""


def _message(event: AuditEvent, kind: str, subject: str, body: str) -> Message:
    return Message(kind=kind, key=f"event:{event.id}:{kind}", case_id=event.case_id, subject=subject, body=body)


# --- The catch-up ---------------------------------------------------------------------------------

def catch_up_telling(session: Session, now: datetime, *, limit: int = CATCH_UP_BATCH) -> int:
    """Tell once more about the events older than ``CATCH_UP_AFTER`` the mark has not passed (a
    person told already is not told again), then move the mark past them; the caller commits.
    Scanners take turns: one holding the mark is left to it. Returns how many events it passed
    (``limit``: call again)."""
    _ensure_mark(session)
    mark = session.scalar(select(TellingMark).where(TellingMark.name == PUBLISHED_AS)
                          .with_for_update(skip_locked=True))
    if mark is None:  # another scanner is catching up
        return 0
    rows = session.execute(
        select(AuditEvent.id, AuditEvent.occurred_dt).where(AuditEvent.id > mark.event_id)
        .order_by(AuditEvent.id).limit(limit)).all()
    # Up to the first event too recent: its own kick is still on its way.
    settled = []
    for event_id, occurred_dt in rows:
        if occurred_dt > now - CATCH_UP_AFTER:
            break
        settled.append(event_id)
    if not settled:
        return 0
    tell_about_events(session, settled, now)
    mark.event_id = settled[-1]
    session.flush()
    return len(settled)


def _ensure_mark(session: Session) -> None:
    """The mark, made at the last event where it went missing (a restored table): what happened
    before is not told again."""
    if session.scalar(select(TellingMark.name).where(TellingMark.name == PUBLISHED_AS)) is not None:
        return
    last = select(func.coalesce(func.max(AuditEvent.id), 0)).scalar_subquery()
    session.execute(insert_for(session, TellingMark).values(name=PUBLISHED_AS, event_id=last)
                    .on_conflict_do_nothing(index_elements=["name"]))
