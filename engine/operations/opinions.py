"""Asking opinions before deciding (加签), giving one, withdrawing the request.

The decider of a waiting case (a reviewer of its unit; its holder once claimed) asks named
people (engine.cases.opinions.askable) for an opinion, with a note; each gets a task with a
deadline of ``opinion_working_days`` (definition setting) and is told. The decision is refused,
naming who has not answered, until every one has answered (an ``opinion`` audit event, shown on
the case page) or the decider withdraws the request (logged). Each is an audit event that moves
the case's version.
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from engine.audit.chain import AuditEvent, append_event
from engine.base.db import utcnow
from engine.base.errors import InvalidAction, ValidationFailed
from engine.base.inputs import clean_note
from engine.calendar.working_days import end_of_working_days
from engine.cases.case import Case, conflict_on_stale
from engine.cases.holders import decider_of
from engine.cases.opinions import (
    ASK, GIVE, OPINION, WITHDRAW, askable, close_opinions, open_opinion_task, pending_opinions,
)
from engine.cases.permissions import require_visible
from engine.cases.tasks import WITHDRAWN, Task
from engine.operations.telling import tell_later
from engine.operations.transitions import MAX_COMMENT_LENGTH
from engine.org.units import Actor

MAX_ASKED = 10


def ask_opinions(session: Session, actor: Actor, case: Case, *, user_ids: list[int] | None, note: str | None,
                 expected_version: int, now: datetime | None = None) -> AuditEvent:
    """The decider asks the named people for their opinion before deciding (加签)."""
    now = now or utcnow()
    waiting, grant = decider_of(session, actor, case, expected_version, doing="征求意见")
    errors: dict[str, list[str]] = {}
    try:
        note = clean_note(note, field="note", label="征求意见说明", max_length=MAX_COMMENT_LENGTH,
                          required_message="请说明需要对方就什么发表意见")
    except ValidationFailed as refused:
        errors |= refused.fields
    candidates = {user_id: (name, unit_id, unit_name) for user_id, name, unit_id, unit_name
                  in askable(session, actor, waiting)}
    wanted = list(dict.fromkeys(user_ids or []))
    if not wanted:
        errors["user_ids"] = ["请选择征求意见的人员"]
    elif len(wanted) > MAX_ASKED:
        errors["user_ids"] = [f"一次最多征求 {MAX_ASKED} 人的意见"]
    elif any(user_id not in candidates for user_id in wanted):
        errors["user_ids"] = ["只能征求本单位或上级单位审核人的意见（已在征求中的除外）"]
    if errors:
        raise ValidationFailed(errors)
    definition = case.definition
    due = end_of_working_days(session, now, definition.opinion_working_days)
    rows = [{"case_id": case.id, "purpose": OPINION, "case_kind": case.kind, "state": case.state, "role": "reviewer",
             "unit_id": candidates[user_id][1], "assignee_id": user_id, "entered_dt": now, "has_deadline": True,
             "due_dt": due, "next_check_dt": due, "reminders_done": 0} for user_id in wanted]
    with conflict_on_stale(case):
        case.opinions_pending += len(wanted)
        case.updated_dt = now
        session.flush()
        task_ids = list(session.execute(insert(Task).returning(Task.id), rows).scalars())
        event = append_event(session, case, actor=actor, grant=grant, action=ASK, now=now, comment=note, details={
            "state": case.state, "task_ids": task_ids, "due": due.isoformat(),
            "asked": [{"id": user_id, "name": candidates[user_id][0], "unit": candidates[user_id][2]}
                      for user_id in wanted]})
        session.flush()
    tell_later(session, event)
    return event


def give_opinion(session: Session, actor: Actor, case: Case, *, opinion: str | None,
                 now: datetime | None = None) -> AuditEvent:
    """One asked gives his opinion; the decider is told. (No version: the case may have moved
    meanwhile by another opinion, and this one still counts.)"""
    now = now or utcnow()
    require_visible(actor, case)
    task = open_opinion_task(session, case.id, actor.user_id) if actor.user_id is not None else None
    if task is None:
        raise InvalidAction("没有向您征求这件案件的意见，或您已答复")
    opinion = clean_note(opinion, field="opinion", label="意见", max_length=MAX_COMMENT_LENGTH,
                         required_message="请填写意见")
    grant = next((g for g in actor.grants if g.role == task.role and g.unit_id == task.unit_id), None)
    asker = _asker_of(session, case, task)
    with conflict_on_stale(case):
        case.opinions_pending = max(0, case.opinions_pending - 1)
        case.updated_dt = now
        task.closed_dt, task.closed_by_id, task.closed_how, task.next_check_dt = now, actor.user_id, "acted", None
        event = append_event(session, case, actor=actor, grant=grant, action=GIVE, now=now, comment=opinion,
                             details={"state": task.state, "task_id": task.id, "asked_by": asker,
                                      "still_pending": case.opinions_pending})
        session.flush()
    tell_later(session, event)
    return event


def withdraw_opinion_request(session: Session, actor: Actor, case: Case, *, expected_version: int,
                             now: datetime | None = None) -> AuditEvent:
    """The decider withdraws the opinions still unanswered, to decide without them (logged)."""
    now = now or utcnow()
    _waiting, grant = decider_of(session, actor, case, expected_version, doing="征求意见")
    pending = pending_opinions(session, case.id)
    if not pending:
        raise InvalidAction("没有尚未答复的征求意见")
    with conflict_on_stale(case):
        case.opinions_pending = 0
        case.updated_dt = now
        session.flush()
        close_opinions(session, case.id, now, closed_by=actor.user_id, how=WITHDRAWN)
        event = append_event(session, case, actor=actor, grant=grant, action=WITHDRAW, now=now, details={
            "withdrawn": [{"id": p.user_id, "name": p.name} for p in pending]})
        session.flush()
    return event


def _asker_of(session: Session, case: Case, task: Task) -> dict | None:
    """Who asked for the opinion the task holds: the ask event naming it."""
    asks = session.scalars(select(AuditEvent).where(AuditEvent.case_id == case.id, AuditEvent.action == ASK)
                           .order_by(AuditEvent.seq.desc()))
    ask = next((event for event in asks if task.id in (event.details or {}).get("task_ids", ())), None)
    return {"id": ask.actor_id, "name": ask.actor_name} if ask is not None else None
