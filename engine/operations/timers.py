"""Timer transitions: what the engine does on its own when a state's deadline passes.

A definition marks a transition ``timer: true`` (and ``by: system``): once the source
state's deadline has passed, the clock fires it, e.g. a public notice ending with no open
objection, an objection left unanswered, a draft locked when its round closes. The deadline
scan (engine.operations.deadline_scan) fires them; ``fire_due_timers`` fires every due one at an explicit
``now``, for tests and operators.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.base.errors import UnionflowError
from engine.cases.case import Case
from engine.cases.tasks import STAGE, Task
from engine.definitions.spec import Definition, TransitionSpec
from engine.operations.transitions import perform_action
from engine.org.units import SYSTEM_ACTOR


@dataclass(frozen=True)
class TimerResult:
    case_id: int
    trigger: str
    fired: bool
    reason: str | None = None


def fire_timer(session: Session, case: Case, definition: Definition, now: datetime) -> TimerResult | None:
    """Fire the timer transition leaving the case's state, if it has one, as the system.

    In its own savepoint: a refusal (an objection still open, a rule) is reported and leaves
    the case as it was. The audit event names the deadline and the rules checked.
    """
    timer = timer_transition(definition, case.state)
    if timer is None:
        return None
    try:
        with session.begin_nested():
            perform_action(session, SYSTEM_ACTOR, case, timer.trigger, expected_version=case.version, now=now,
                           comment="期限届满，系统自动处理")
    except UnionflowError as err:  # a rule refused, or someone moved the case meanwhile
        return TimerResult(case.id, timer.trigger, False, err.message)
    return TimerResult(case.id, timer.trigger, True)


def timer_transition(definition: Definition, state: str) -> TransitionSpec | None:
    """The transition the clock fires out of ``state`` when its deadline passes, if it has one."""
    return next((t for t in definition.transitions if t.timer and state in t.sources), None)


def fire_due_timers(session: Session, now: datetime) -> list[TimerResult]:
    """Fire every timer transition whose state's deadline has passed by ``now``; the caller commits."""
    due = session.scalars(select(Task.case_id).where(Task.purpose == STAGE, Task.closed_dt.is_(None), Task.due_dt <= now)
                          .order_by(Task.due_dt, Task.case_id)).all()
    results = []
    for case_id in due:
        case = session.get(Case, case_id)
        result = fire_timer(session, case, case.definition, now)
        if result is not None:
            results.append(result)
    return results
