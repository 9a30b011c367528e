"""Who holds a waiting case: the task's holder, and what a reader may do about it.

A reviewer of the unit may claim its task (认领); the holder may hand it back (释放) or to a
named colleague (转交); a colleague may take it over (接手) — engine.operations.holding does them. A claim says whose work
the task is (「我的待办」 for the holder, 「由某某办理」 for colleagues); it never strands the case:
everyone holding the role at the unit may still act on it. ``holding_of`` is what pages and the
API offer; the operations refuse exactly what it does not offer.
"""
from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select, true
from sqlalchemy.orm import Session

from engine.base.errors import InvalidAction, PermissionDenied
from engine.cases.case import Case, check_version
from engine.cases.permissions import require_visible
from engine.cases.tasks import Task, waiting_task
from engine.org.units import Actor, Grant, RoleAssignment, User

CLAIM, RELEASE, TAKE_OVER, TRANSFER = "claim", "release", "take_over", "transfer"
# Only reviewers' tasks are held by one of them: an applicant's draft is the applicant's own.
HELD_ROLES = ("reviewer",)


@dataclass(frozen=True)
class Holding:
    """The task a case waits on as a reader sees it: who holds it (None: the unit), which of
    claim, release, transfer and take over the reader may do, and to whom it may be transferred."""

    task_id: int
    holder_id: int | None
    holder_name: str | None
    offered: tuple[str, ...]
    colleagues: tuple[tuple[int, str], ...] = ()  # (user id, name), when TRANSFER is offered


def holding_of(session: Session, actor: Actor, case: Case) -> Holding | None:
    """Who holds the case's waiting task, and what ``actor`` may do about it; None when the case
    waits for no one who can hold it."""
    return holding_at(session, actor, waiting_task(session, case.id))


def holding_at(session: Session, actor: Actor, task: Task | None) -> Holding | None:
    """``holding_of`` for the waiting task the caller has read already."""
    if task is None or task.role not in HELD_ROLES:
        return None
    holder = session.get(User, task.assignee_id) if task.assignee_id is not None else None
    offered = offers(task, actor) if holding_grant(actor, task) is not None else ()
    colleagues = tuple(colleagues_of(session, task, actor)) if TRANSFER in offered else ()
    return Holding(task.id, task.assignee_id, holder.display_name if holder else None, offered, colleagues)


def offers(task: Task, actor: Actor) -> tuple[str, ...]:
    """What the actor, one who may hold the task, may do about its holder now."""
    if task.assignee_id is None:
        return (CLAIM,)
    return (RELEASE, TRANSFER) if task.assignee_id == actor.user_id else (TAKE_OVER,)


def colleagues_of(session: Session, task: Task, actor: Actor) -> list[tuple[int, str]]:
    """(id, name) of the active people who hold the task's role at its unit, the actor aside."""
    return [(user_id, name) for user_id, name in session.execute(
        select(User.id, User.display_name).join(RoleAssignment, RoleAssignment.user_id == User.id)
        .where(RoleAssignment.role == task.role, RoleAssignment.org_unit_id == task.unit_id, User.is_active == true(),
               User.id != actor.user_id)
        .order_by(User.display_name, User.id))]


def holding_grant(actor: Actor, task: Task) -> Grant | None:
    """The actor's grant of the task's role at the task's unit: who may hold it."""
    return next((grant for grant in actor.grants if grant.role == task.role and grant.unit_id == task.unit_id), None)


def deciding_grant(actor: Actor, task: Task | None) -> Grant | None:
    """The actor's grant to decide the waiting task (and so to copy the case to others, engine.cases.copies):
    a reviewer of its unit while no one holds it, its holder once claimed."""
    if task is None or task.role not in HELD_ROLES:
        return None
    grant = holding_grant(actor, task)
    if grant is None or task.assignee_id not in (None, actor.user_id):
        return None
    return grant


def decider_of(session: Session, actor: Actor, case: Case, expected_version: int, *, doing: str) -> tuple[Task, Grant]:
    """The waiting task and the actor's grant to decide it, for a step only its decider takes
    (``doing``: 抄送, 征求意见…); refused otherwise."""
    require_visible(actor, case)
    check_version(case, expected_version)
    task = waiting_task(session, case.id)
    if task is None or task.role not in HELD_ROLES:
        raise InvalidAction(f"案件当前不在审核中，不能{doing}")
    grant = deciding_grant(actor, task)
    if grant is None:
        raise PermissionDenied(f"只有当前环节的办理人可以{doing}（已认领的案件由认领人{doing}）")
    return task, grant
