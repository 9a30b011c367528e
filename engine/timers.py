"""Timer transitions: what the engine does on its own when a state's deadline passes.

A definition marks a transition ``timer: true`` (and ``by: system``): once the source
state's deadline has passed, the clock fires it, e.g. a public notice ending with no open
objection, or an objection left unanswered. ``fire_due_timers`` takes an explicit ``now``
so tests and operators drive it; the scheduled scan (Celery) calls the same function.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.cases import Case
from engine.definitions import definition_by_hash
from engine.errors import UnionflowError
from engine.inbox import InboxItem
from engine.org import SYSTEM_ACTOR


@dataclass(frozen=True)
class TimerResult:
    case_id: int
    trigger: str
    fired: bool
    reason: str | None = None


def fire_due_timers(session: Session, now: datetime) -> list[TimerResult]:
    """Fire every timer transition whose state's deadline has passed by ``now``.

    Each case is its own savepoint: one refused (an objection still open, a reviewer acting
    on it at the same moment) is reported and left as it is, and the others go ahead. The
    caller commits.
    """
    from engine.operations import perform_action

    due = session.execute(select(InboxItem.case_id, InboxItem.state).where(InboxItem.due_dt <= now)
                          .order_by(InboxItem.due_dt, InboxItem.case_id)).all()
    results = []
    for case_id, state in due:
        case = session.get(Case, case_id)
        definition = definition_by_hash(session, case.definition_hash)
        timer = next((t for t in definition.transitions if t.timer and state in t.sources), None)
        if timer is None:
            continue
        try:
            with session.begin_nested():
                perform_action(session, SYSTEM_ACTOR, case, timer.trigger, expected_version=case.version, now=now,
                               comment="期限届满，系统自动处理")
            results.append(TimerResult(case_id, timer.trigger, True))
        except UnionflowError as err:  # a rule refused, or someone moved the case meanwhile
            results.append(TimerResult(case_id, timer.trigger, False, err.message))
    return results
