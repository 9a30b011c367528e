"""The route of a case (办理流程): the step it is at, who holds it and until when, and the steps still
ahead as the definition will take them, with their parties and deadlines.

The steps behind it are the timeline (engine.reading.trail). The steps ahead are the definition's
forward path from the current state: at each state, the first transition declared out of it that
its waiting party (or its clock) fires and that moves the case on — not back to a draft, not to a
state already on the way, not a send-back, not a decision against the case (those ask a reason) —
until a final state. A case sent back to an earlier level (退回重审) goes straight back to the level that sent it.
One statement: the names of the units ahead.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.cases.case import Case
from engine.cases.tasks import Task
from engine.definitions.spec import RETURN_POINT, Definition, StateSpec, TransitionSpec
from engine.org.units import OrgUnit, User


@dataclass(frozen=True)
class RouteStep:
    state: str
    label: str
    kind: str
    # Whom the step waits for: the party ("县（区）总工会审核人") and the unit's name, where one waits.
    party: str | None
    unit_name: str | None
    # The current step only: the person holding it (None: the unit's), its deadline.
    holder_name: str | None = None
    due_dt: datetime | None = None
    # Steps ahead: their time limit as the definition sets it.
    working_days: int | None = None
    deadline_by_rule: bool = False


@dataclass(frozen=True)
class Route:
    current: RouteStep
    ahead: list[RouteStep]


def path_ahead(definition: Definition, state_id: str, *, sent_back_from: str | None = None) -> list[StateSpec]:
    """The states the case will pass through from ``state_id`` if every step goes forward."""
    path: list[StateSpec] = []
    seen = {state_id}
    state = state_id
    while not definition.state(state).is_final:
        if sent_back_from is not None and state == state_id:
            following = sent_back_from  # resuming goes straight back to the level that sent it back
        else:
            following = next((t.dest for t in definition.transitions
                              if state in t.sources and _moves_on(definition, t, state, seen)), None)
        if following is None or following in seen:
            break
        seen.add(following)
        path.append(definition.state(following))
        state = following
    return path


def _moves_on(definition: Definition, transition: TransitionSpec, state: str, seen: set[str]) -> bool:
    if transition.dest == RETURN_POINT or transition.send_back is not None or transition.dest in seen:
        return False
    # The party the state waits for decides it (an applicant withdrawing does not), or its clock does.
    waiting = definition.state(state).waits_for
    if not transition.timer and waiting not in definition.parties_for(transition, state):
        return False
    dest = definition.state(transition.dest)
    return dest.kind != "draft" and not (dest.is_final and transition.comment_required)


def case_route(session: Session, case: Case, task: Task | None) -> Route:
    """The case's current step (with the waiting task the caller has read) and the steps ahead."""
    definition = case.definition
    state = definition.state(case.state)
    ahead = [] if state.is_final else path_ahead(definition, case.state, sent_back_from=case.sent_back_from)
    unit_ids = {case.unit_at(s.waits_for.level) for s in [state, *ahead] if s.waits_for is not None}
    names = dict(session.execute(select(OrgUnit.id, OrgUnit.name).where(OrgUnit.id.in_(unit_ids))).all()) if unit_ids else {}
    holder = session.get(User, task.assignee_id) if task is not None and task.assignee_id is not None else None
    current = _step(case, state, names, holder_name=holder.display_name if holder else None,
                    due_dt=task.due_dt if task is not None else None)
    return Route(current, [_step(case, s, names) for s in ahead])


def _step(case: Case, state: StateSpec, names: dict[int, str], **now) -> RouteStep:
    party = state.waits_for
    unit_name = names.get(case.unit_at(party.level)) if party is not None else None
    return RouteStep(state.id, state.label, state.kind, party.label if party is not None else None, unit_name,
                     working_days=state.deadline_working_days, deadline_by_rule=state.deadline_at is not None, **now)
