"""Urging (催办): the applicant, or a reviewer above the unit a case waits at, prods its reviewers.

At most once per working day per case, whoever urges: a unique (case, working day) row makes
that hold even when two people press the button at the same moment. An urge is an audit
event on the case and a notification to each reviewer the case waits for.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import Date, ForeignKey, String, UniqueConstraint, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, Session, mapped_column

from engine.audit.chain import append_event
from engine.base.config import LOCAL_TZ
from engine.base.db import Base, UTCDateTime, utcnow
from engine.base.errors import CalendarNotCovered, Conflict, InvalidAction, PermissionDenied
from engine.base.inputs import clean_note
from engine.calendar.working_days import working_calendar
from engine.cases.case import Case
from engine.cases.permissions import require_visible
from engine.cases.tasks import STAGE, Task, waiting_task
from engine.notify.notifications import Message, holders_of, notify
from engine.org.units import Actor, Grant, OrgUnit

MAX_URGE_NOTE_LENGTH = 200


class Urge(Base):
    __tablename__ = "urges"
    __table_args__ = (UniqueConstraint("case_id", "work_day"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"))
    # The working day the urge counts for (an urge on a weekend counts for the next working day).
    work_day: Mapped[date] = mapped_column(Date)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    state: Mapped[str] = mapped_column(String(63))
    # The stay urged: a second urge is refused on the same working day, and the case page shows
    # the last urge of the stay it waits in now (null for an urge older than the tasks).
    task_id: Mapped[int | None] = mapped_column(ForeignKey("tasks.id", ondelete="CASCADE"))
    created_dt: Mapped[datetime] = mapped_column(UTCDateTime)


@dataclass(frozen=True)
class UrgeResult:
    case_id: int
    work_day: date
    notified: int


def urge_grant(session: Session, actor: Actor, case: Case) -> Grant | None:
    """The grant under which ``actor`` may urge the case now, or None.

    The case must wait for reviewers; the applicant of the case (or of its unit) may urge, and
    so may a reviewer at a unit above the one the case waits at.
    """
    definition = case.definition
    waits_for = definition.state(case.state).waits_for
    if waits_for is None or waits_for.role != "reviewer":
        return None
    waiting_unit = session.get(OrgUnit, case.unit_at(waits_for.level))
    for grant in actor.grants:
        if grant.role == "applicant" and grant.unit_id == case.origin_unit_id and (
                case.applicant_id in (None, actor.user_id)):
            return grant
        if grant.role == "reviewer" and grant.unit_id != waiting_unit.id and waiting_unit.path.startswith(grant.unit_path):
            return grant
    return None


def urge_work_day(session: Session, now: datetime) -> date:
    """The working day ``now`` counts for: today, or the next working day."""
    calendar = working_calendar(session)
    day = now.astimezone(LOCAL_TZ).date()
    while not calendar.is_working_day(day):
        day += timedelta(days=1)
    return day


def urge_of_stage(session: Session, case: Case) -> Urge | None:
    """The last urge of the stay the case waits in now (an earlier stay's is moot)."""
    return session.scalar(
        select(Urge).join(Task, Task.id == Urge.task_id)
        .where(Task.case_id == case.id, Task.purpose == STAGE, Task.closed_dt.is_(None))
        .order_by(Urge.id.desc()).limit(1))


def urged_this_work_day(session: Session, urge: Urge | None, now: datetime) -> bool:
    """Whether ``urge`` counts for the working day of ``now``: another one would be refused.
    False when the calendar cannot tell (urging then says why)."""
    try:
        return urge is not None and urge.work_day == urge_work_day(session, now)
    except CalendarNotCovered:
        return False


def urge_case(session: Session, actor: Actor, case: Case, *, note: str | None = None,
              now: datetime | None = None) -> UrgeResult:
    """Urge the reviewers the case waits for; refused a second time on the same working day."""
    now = now or utcnow()
    require_visible(actor, case)
    definition = case.definition
    state = definition.state(case.state)
    task = waiting_task(session, case.id)
    if task is None or task.role != "reviewer":
        raise InvalidAction(f"案件处于「{state.label}」，不在审核中，无需催办")
    grant = urge_grant(session, actor, case)
    if grant is None:
        raise PermissionDenied("只有申请人或上级单位审核人可以催办")
    note = clean_note(note, field="note", label="催办说明", max_length=MAX_URGE_NOTE_LENGTH)
    work_day = urge_work_day(session, now)
    try:
        with session.begin_nested():
            session.add(Urge(case_id=case.id, work_day=work_day, user_id=actor.user_id, state=case.state,
                             task_id=task.id, created_dt=now))
            session.flush()
    except IntegrityError:
        raise Conflict(f"该案件 {work_day:%Y-%m-%d} 已催办过，每个工作日只能催办一次") from None
    unit_id = task.unit_id
    reviewers = holders_of(session, "reviewer", unit_id)
    append_event(session, case, actor=actor, grant=grant, action="urge", now=now, comment=note,
                 details={"state": case.state, "work_day": work_day.isoformat(), "unit_id": unit_id,
                          "notified": len(reviewers)})
    message = Message(
        kind="urge", key=f"urge:{case.id}:{work_day.isoformat()}", case_id=case.id,
        subject=f"【催办】{case.title}：{state.label}",
        body=(f"{actor.name}（{grant.unit_name}）催办{definition.label}「{case.title}」（编号 {case.id}），"
              f"该案件在「{state.label}」等待您办理。" + (f"说明：{note}" if note else "")),
    )
    notify(session, [(user_id, message) for user_id in reviewers], now)
    session.flush()
    return UrgeResult(case.id, work_day, len(reviewers))
