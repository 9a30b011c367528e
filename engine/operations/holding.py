"""Changing who holds a waiting case: claim (认领), release (释放), take over (接手).

What a reader may do is engine.cases.holders.holding_of; these refuse anything else. Each change
is an audit event on the case (so it moves the case's version, as a comment does); the one whose
task was taken over is told.
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from engine.audit.chain import AuditEvent, append_event
from engine.base.db import utcnow
from engine.base.errors import InvalidAction, PermissionDenied
from engine.cases.case import Case, check_version, conflict_on_stale
from engine.cases.holders import CLAIM, HELD_ROLES, RELEASE, TAKE_OVER, holding_grant, offer_to
from engine.cases.permissions import require_visible
from engine.cases.tasks import Task, waiting_task
from engine.notify.notifications import Message, notify
from engine.org.units import Actor, Grant, User


def claim_task(session: Session, actor: Actor, case: Case, *, expected_version: int,
               now: datetime | None = None) -> AuditEvent:
    """The actor takes the unit's task as his own (认领)."""
    return _change_holder(session, actor, case, CLAIM, expected_version, now)


def release_task(session: Session, actor: Actor, case: Case, *, expected_version: int,
                 now: datetime | None = None) -> AuditEvent:
    """The holder hands the task back to the unit (释放)."""
    return _change_holder(session, actor, case, RELEASE, expected_version, now)


def take_over_task(session: Session, actor: Actor, case: Case, *, expected_version: int,
                   now: datetime | None = None) -> AuditEvent:
    """A colleague takes over a task another holds (接手); the one who held it is told."""
    return _change_holder(session, actor, case, TAKE_OVER, expected_version, now)


_REFUSALS = {
    CLAIM: "该案件已由{holder}认领，可以接手",
    RELEASE: "该案件不是由您认领的，不能释放",
    TAKE_OVER: "该案件尚未被认领，请直接认领",
}


def _change_holder(session: Session, actor: Actor, case: Case, how: str, expected_version: int,
                   now: datetime | None) -> AuditEvent:
    now = now or utcnow()
    require_visible(actor, case)
    check_version(case, expected_version)
    task = waiting_task(session, case.id)
    if task is None or task.role not in HELD_ROLES:
        raise InvalidAction("案件当前不在审核中，没有可认领的待办")
    grant = holding_grant(actor, task)
    if grant is None:
        raise PermissionDenied("只有当前环节所在单位的审核人可以认领、释放或接手")
    previous = session.get(User, task.assignee_id) if task.assignee_id is not None else None
    if offer_to(task, actor) != how:
        raise InvalidAction(_REFUSALS[how].format(holder=previous.display_name if previous else ""))
    with conflict_on_stale(case):
        task.assignee_id = None if how == RELEASE else actor.user_id
        case.updated_dt = now
        details = {"task_id": task.id, "state": task.state}
        if previous is not None and how == TAKE_OVER:
            details["from"] = {"id": previous.id, "name": previous.display_name}
        event = append_event(session, case, actor=actor, grant=grant, action=how, now=now, details=details)
        session.flush()
    if previous is not None and how == TAKE_OVER:
        notify(session, [(previous.id, _taken_over(case, task, actor, grant))], now)
    return event


def _taken_over(case: Case, task: Task, actor: Actor, grant: Grant) -> Message:
    state = case.definition.state(task.state)
    return Message(
        kind="taken_over", key=f"task:{task.id}:taken_over:{case.audit_seq}", case_id=case.id,
        subject=f"【已被接手】{case.title}：{state.label}",
        body=f"{actor.name}（{grant.unit_name}）已接手您认领的{case.definition.label}「{case.title}」"
             f"（编号 {case.id}），该案件在「{state.label}」改由其办理。",
    )
