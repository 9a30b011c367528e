"""Changing who holds a waiting case: claim (认领), release (释放), transfer (转交), take over (接手).

What a reader may do is engine.cases.holders.holding_of; these refuse anything else. Each change
is an audit event on the case (so it moves the case's version, as a comment does); the one a
task is transferred to, and the one whose task was taken over, are told (engine.operations.telling).
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from engine.audit.chain import AuditEvent, append_event
from engine.base.db import utcnow
from engine.base.errors import InvalidAction, PermissionDenied, ValidationFailed
from engine.base.inputs import clean_note
from engine.cases.case import Case, check_version, conflict_on_stale
from engine.cases.holders import CLAIM, HELD_ROLES, RELEASE, TAKE_OVER, TRANSFER, colleagues_of, holding_grant, offers
from engine.cases.permissions import require_visible
from engine.cases.tasks import Task, waiting_task
from engine.operations.telling import TOLD_ACTIONS, tell_later
from engine.operations.transitions import MAX_COMMENT_LENGTH
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


def transfer_task(session: Session, actor: Actor, case: Case, *, to_user_id: int | None, reason: str | None,
                  expected_version: int, now: datetime | None = None) -> AuditEvent:
    """The holder hands the task to a named colleague of the same role at the same unit (转交),
    with the reason; the colleague is told."""
    now = now or utcnow()
    task, grant, _holder = _held_task(session, actor, case, TRANSFER, expected_version)
    errors: dict[str, list[str]] = {}
    try:
        reason = clean_note(reason, field="reason", label="转交理由", max_length=MAX_COMMENT_LENGTH,
                            required_message="请填写转交理由")
    except ValidationFailed as refused:
        errors |= refused.fields
    colleague = dict(colleagues_of(session, task, actor)).get(to_user_id)
    if colleague is None:
        errors["to_user_id"] = ["只能转交给本单位同一角色的其他人员"]
    if errors:
        raise ValidationFailed(errors)
    return _record(session, actor, case, task, grant, TRANSFER, now, assignee=to_user_id, comment=reason,
                   details={"to": {"id": to_user_id, "name": colleague}})


_REFUSALS = {
    CLAIM: "该案件已由{holder}认领，可以接手",
    RELEASE: "该案件不是由您认领的，不能释放",
    TRANSFER: "只有认领了该案件的人可以转交",
    TAKE_OVER: "该案件尚未被认领，请直接认领",
}


def _change_holder(session: Session, actor: Actor, case: Case, how: str, expected_version: int,
                   now: datetime | None) -> AuditEvent:
    now = now or utcnow()
    task, grant, previous = _held_task(session, actor, case, how, expected_version)
    details = {"from": {"id": previous.id, "name": previous.display_name}} if how == TAKE_OVER else {}
    return _record(session, actor, case, task, grant, how, now,
                   assignee=None if how == RELEASE else actor.user_id, details=details)


def _held_task(session: Session, actor: Actor, case: Case, how: str,
               expected_version: int) -> tuple[Task, Grant, User | None]:
    """The case's waiting task, the actor's grant to hold it and its holder, once ``how`` is
    what ``offers`` gives the actor; refused otherwise."""
    require_visible(actor, case)
    check_version(case, expected_version)
    task = waiting_task(session, case.id)
    if task is None or task.role not in HELD_ROLES:
        raise InvalidAction("案件当前不在审核中，没有可认领的待办")
    grant = holding_grant(actor, task)
    if grant is None:
        raise PermissionDenied("只有当前环节所在单位的审核人可以认领、释放、转交或接手")
    holder = session.get(User, task.assignee_id) if task.assignee_id is not None else None
    if how not in offers(task, actor):
        raise InvalidAction(_REFUSALS[how].format(holder=holder.display_name if holder else ""))
    return task, grant, holder


def _record(session: Session, actor: Actor, case: Case, task: Task, grant: Grant, how: str, now: datetime, *,
            assignee: int | None, comment: str | None = None, details: dict | None = None) -> AuditEvent:
    with conflict_on_stale(case):
        task.assignee_id = assignee
        case.updated_dt = now
        event = append_event(session, case, actor=actor, grant=grant, action=how, now=now, comment=comment,
                             details={"task_id": task.id, "state": task.state, **(details or {})})
        session.flush()
    if how in TOLD_ACTIONS:
        tell_later(session, event)
    return event
