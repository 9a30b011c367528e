"""Added approvers (加签): opinions a case's decider asks of named people before deciding.

Each person asked holds a task of its own (``purpose = 'opinion'``, assigned to him, with a
deadline in working days) until he answers or the request is withdrawn. While any is open the
decision waits: ``cases.opinions_pending`` counts them, so an approval, which reads the case
anyway, learns it without another statement. The operations are engine.operations.opinions.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select, true, update
from sqlalchemy.orm import Session

from engine.base.errors import InvalidAction
from engine.cases.case import Case
from engine.cases.consultations import AwaitedBody, awaited_bodies
from engine.cases.holders import deciding_grant
from engine.cases.tasks import Task
from engine.org.units import Actor, OrgUnit, RoleAssignment, User, path_ids

OPINION = "opinion"
# The audit actions of 加签 (engine.operations.opinions): asking, an opinion given, the request withdrawn.
ASK, GIVE, WITHDRAW = "ask_opinion", "opinion", "withdraw_opinions"
# Who may be asked: the reviewers of the unit the case waits at and of the units above it.
ASKED_ROLES = ("reviewer",)


@dataclass(frozen=True)
class PendingOpinion:
    task_id: int
    user_id: int
    name: str
    unit_name: str
    asked_dt: datetime
    due_dt: datetime | None


def pending_opinions(session: Session, case_id: int) -> list[PendingOpinion]:
    """The opinions asked on the case and not yet given, oldest first."""
    rows = session.execute(
        select(Task.id, Task.assignee_id, User.display_name, OrgUnit.name, Task.entered_dt, Task.due_dt)
        .join(User, User.id == Task.assignee_id).join(OrgUnit, OrgUnit.id == Task.unit_id)
        .where(Task.case_id == case_id, Task.purpose == OPINION, Task.closed_dt.is_(None))
        .order_by(Task.id)).all()
    return [PendingOpinion(*row) for row in rows]


def open_opinion_task(session: Session, case_id: int, user_id: int) -> Task | None:
    """The opinion task the person holds on the case, while unanswered."""
    return session.scalar(select(Task).where(Task.case_id == case_id, Task.purpose == OPINION,
                                             Task.assignee_id == user_id, Task.closed_dt.is_(None)))


def askable(session: Session, actor: Actor, waiting: Task) -> list[tuple[int, str, int, str]]:
    """(user id, name, unit id, unit name) of those the decider may ask: the reviewers of the waiting
    unit and of the units above it, the decider and those already asked aside."""
    unit = session.get(OrgUnit, waiting.unit_id)
    asked = select(Task.assignee_id).where(Task.case_id == waiting.case_id, Task.purpose == OPINION,
                                           Task.closed_dt.is_(None))
    rows = session.execute(
        select(User.id, User.display_name, OrgUnit.id, OrgUnit.name)
        .join(RoleAssignment, RoleAssignment.user_id == User.id).join(OrgUnit, OrgUnit.id == RoleAssignment.org_unit_id)
        .where(RoleAssignment.role.in_(ASKED_ROLES), OrgUnit.id.in_(path_ids(unit.path)), User.is_active == true(),
               User.id != actor.user_id, User.id.not_in(asked))
        .order_by(OrgUnit.path.desc(), User.display_name, User.id)).all()
    seen, people = set(), []
    for user_id, name, unit_id, unit_name in rows:  # one line per person: his nearest unit
        if user_id not in seen:
            seen.add(user_id)
            people.append((user_id, name, unit_id, unit_name))
    return people


def close_opinions(session: Session, case_id: int, now: datetime, *, closed_by: int | None, how: str) -> None:
    session.execute(update(Task).where(Task.case_id == case_id, Task.purpose == OPINION, Task.closed_dt.is_(None))
                    .values(closed_dt=now, closed_by_id=closed_by, closed_how=how, next_check_dt=None)
                    .execution_options(synchronize_session=False))


def unanswered_refusal(session: Session, case: Case) -> InvalidAction:
    """Why a decision must wait: whose opinions are still to come."""
    names = "、".join(p.name for p in pending_opinions(session, case.id)) or "—"
    return InvalidAction(f"正在征求意见，尚未答复：{names}。请等待答复，或撤回征求意见后再办理")


@dataclass(frozen=True)
class AskedOfMe:
    task_id: int
    case_id: int
    title: str
    state: str
    asked_dt: datetime
    due_dt: datetime | None


def asked_of(session: Session, actor: Actor, *, limit: int = 100) -> list[AskedOfMe]:
    """The opinions asked of the actor and not yet given, soonest due first (「征求我意见的」)."""
    if actor.user_id is None:
        return []
    rows = session.execute(
        select(Task.id, Task.case_id, Case.title, Task.state, Task.entered_dt, Task.due_dt)
        .join(Case, Case.id == Task.case_id)
        .where(Task.assignee_id == actor.user_id, Task.purpose == OPINION, Task.closed_dt.is_(None))
        .order_by(Task.due_dt, Task.id).limit(limit)).all()
    return [AskedOfMe(*row) for row in rows]


def asked_count(session: Session, actor: Actor) -> int:
    """How many opinions are asked of the actor and not yet given (part of his 待办 count)."""
    if actor.user_id is None:
        return 0
    return session.scalar(select(func.count()).select_from(Task).where(
        Task.assignee_id == actor.user_id, Task.closed_dt.is_(None), Task.purpose == OPINION))


@dataclass(frozen=True)
class OpinionsView:
    """The opinions of a case as a reader sees them: those still to come, whether he may ask (and
    whom) or withdraw, whether one is asked of him."""

    pending: list[PendingOpinion]
    may_ask: bool
    candidates: list[tuple[int, str, int, str]]
    asked_of_me: bool
    # The bodies the state consults and has not heard from (征求意见), for the party recording their replies.
    bodies: list[AwaitedBody]


def opinions_view(session: Session, actor: Actor, case: Case, waiting: Task | None) -> OpinionsView:
    deciding = deciding_grant(actor, waiting) is not None
    pending = pending_opinions(session, case.id) if case.opinions_pending else []
    recording = waiting is not None and any((g.role, g.unit_id) == (waiting.role, waiting.unit_id) for g in actor.grants)
    return OpinionsView(pending=pending, may_ask=deciding,
                        candidates=askable(session, actor, waiting) if deciding else [],
                        asked_of_me=any(p.user_id == actor.user_id for p in pending),
                        bodies=awaited_bodies(session, case, case.definition) if recording else [])
