"""Copying a case (抄送) by hand: whoever may decide the waiting case puts it before named people, with
an optional note. Who may be copied, and what a copy gives, is engine.cases.copies.

A copy is an audit event on the case (``copy``, its details naming who), so it moves the case's
version as a comment does; the people copied are told after the commit (engine.operations.telling).
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from engine.audit.chain import AuditEvent, append_event
from engine.base.db import utcnow
from engine.base.errors import ValidationFailed
from engine.base.inputs import clean_note
from engine.cases.case import Case, conflict_on_stale
from engine.cases.copies import MAX_COPIED_AT_ONCE, MAX_COPY_NOTE_LENGTH, copy_candidates, store_copies
from engine.cases.holders import decider_of
from engine.operations.telling import tell_later
from engine.org.units import Actor

COPY = "copy"
NOT_A_CANDIDATE = "只能抄送给本案件申报单位及其上级单位的审核人或审计人员"


def copy_case(session: Session, actor: Actor, case: Case, *, user_ids: list[int] | None, note: str | None,
              expected_version: int, now: datetime | None = None) -> AuditEvent:
    """Copy the case to ``user_ids`` (抄送), with ``note``. Refused unless the actor may decide the
    waiting case; everything wrong with the input is said at once, on its field."""
    now = now or utcnow()
    task, grant = decider_of(session, actor, case, expected_version, doing="抄送")
    errors: dict[str, list[str]] = {}
    try:
        note = clean_note(note, field="note", label="抄送说明", max_length=MAX_COPY_NOTE_LENGTH)
    except ValidationFailed as refused:
        errors |= refused.fields
    wanted = list(dict.fromkeys(user_ids or ()))
    candidates = dict(copy_candidates(session, case, besides=actor.user_id))
    if not wanted:
        errors["user_ids"] = ["请选择抄送对象"]
    elif len(wanted) > MAX_COPIED_AT_ONCE:
        errors["user_ids"] = [f"一次最多抄送 {MAX_COPIED_AT_ONCE} 人"]
    elif any(user_id not in candidates for user_id in wanted):
        errors["user_ids"] = [NOT_A_CANDIDATE]
    if errors:
        raise ValidationFailed(errors)
    with conflict_on_stale(case):
        case.updated_dt = now
        # The note rides in the details, not as the event's comment: it is for the people copied, and
        # the trail shows comments to applicants.
        details = {"task_id": task.id, "state": task.state,
                   "copies": [{"id": user_id, "name": candidates[user_id]} for user_id in wanted]}
        if note:
            details["note"] = note
        event = append_event(session, case, actor=actor, grant=grant, action=COPY, now=now, details=details)
        store_copies(session, case, wanted, event_id=event.id, now=now, copied_by_id=actor.user_id, note=note)
        session.flush()
    tell_later(session, event)
    return event
