"""Consultations (征求意见): the bodies a state must hear from before its decision.

A definition's review state may list bodies to consult (engine.definitions.spec.Consultations):
tax, labour inspection, safety... for an enterprise head nominated for an honour. The bodies
have no accounts; their replies come by letter and the party the state waits for records each
one as a record of the consultation's type. So entering the state opens one task per body not
yet heard from (``purpose = 'consultation'``, ``topic`` = the body, held by the state's party,
due in working days, reminded of by the deadline scan); recording the body's reply closes it;
voiding the reply opens it again; leaving the state closes what is left. The transitions the
definition lists in ``before`` wait, naming the bodies still silent, on the engine's rule
(engine.cases.review_rules.bodies_replied), which reads the replies on record.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session

from engine.calendar.working_days import end_of_working_days
from engine.cases.case import Case
from engine.cases.rule_context import RuleContext
from engine.cases.tasks import ACTED, Task
from engine.definitions import rules
from engine.definitions.spec import Definition, StateSpec
from engine.org.units import SYSTEM_ACTOR

CONSULTATION = "consultation"


@dataclass(frozen=True)
class AwaitedBody:
    task_id: int
    body: str
    label: str
    due_dt: datetime | None


def body_field(definition: Definition, state: StateSpec) -> str:
    """The field of the consultation's record that names the body (checked at load: a choice)."""
    return definition.record(state.consultations.record).unique_by[0]


def body_labels(definition: Definition, state: StateSpec) -> dict[str, str]:
    record = definition.record(state.consultations.record)
    return dict(record.field(record.unique_by[0]).choices)


def bodies_required(session: Session, case: Case, state: StateSpec, now: datetime) -> list[str]:
    """The bodies this case must hear from in ``state``: the definition's list, or its rule's choice."""
    consulting = state.consultations
    if consulting.bodies_from is None:
        return list(consulting.bodies)
    with session.no_autoflush:  # the rule reads; the case's pending changes are flushed once, later
        return list(dict.fromkeys(rules.bodies_to_consult(consulting.bodies_from,
                                                          RuleContext(session, SYSTEM_ACTOR, case, now))))


def consultation_rows(session: Session, case: Case, definition: Definition, state: StateSpec, now: datetime,
                      heard: set[str]) -> list[dict]:
    """The tasks to open on entering ``state``: one per body required and not yet ``heard`` from."""
    bodies = [body for body in bodies_required(session, case, state, now) if body not in heard]
    if not bodies:
        return []
    due = end_of_working_days(session, now, state.consultations.working_days or definition.opinion_working_days)
    return [{"case_id": case.id, "purpose": CONSULTATION, "topic": body, "case_kind": case.kind, "state": state.id,
             "role": state.waits_for.role, "unit_id": case.unit_at(state.waits_for.level), "entered_dt": now,
             "has_deadline": True, "due_dt": due, "next_check_dt": due, "reminders_done": 0} for body in bodies]


def open_consultations(session: Session, rows: list[dict]) -> None:
    if rows:
        session.execute(insert(Task), rows)


def close_consultations(session: Session, case_id: int, now: datetime, *, closed_by: int | None, how: str,
                        body: str | None = None) -> int:
    """Close the case's open consultation tasks (only ``body``'s when given); how many were open."""
    conditions = [Task.case_id == case_id, Task.purpose == CONSULTATION, Task.closed_dt.is_(None)]
    if body is not None:
        conditions.append(Task.topic == body)
    result = session.execute(update(Task).where(*conditions).values(
        closed_dt=now, closed_by_id=closed_by, closed_how=how, next_check_dt=None)
        .execution_options(synchronize_session=False))
    return result.rowcount


def heard_from(session: Session, case: Case, definition: Definition, record_type: str, data: dict, now: datetime,
               *, recorded_by: int | None) -> None:
    """A record was added: if it is the reply of a body the case's state awaits, its task is done."""
    state = definition.state(case.state)
    if state.consultations is None or state.consultations.record != record_type:
        return
    close_consultations(session, case.id, now, closed_by=recorded_by, how=ACTED, body=data.get(body_field(definition, state)))


def reply_voided(session: Session, case: Case, definition: Definition, record_type: str, data: dict,
                 now: datetime, heard: set[str]) -> None:
    """A body's reply was voided while the state awaits it: the body is to be heard from again."""
    state = definition.state(case.state)
    if state.consultations is None or state.consultations.record != record_type:
        return
    body = data.get(body_field(definition, state))
    if body not in heard:  # no valid reply of that body is left
        rows = consultation_rows(session, case, definition, state, now, heard)
        open_consultations(session, [row for row in rows if row["topic"] == body])


def awaited_bodies(session: Session, case: Case, definition: Definition) -> list[AwaitedBody]:
    """The bodies the case's state still waits to hear from, soonest due first."""
    state = definition.state(case.state)
    if state.consultations is None:
        return []
    labels = body_labels(definition, state)
    rows = session.execute(select(Task.id, Task.topic, Task.due_dt).where(
        Task.case_id == case.id, Task.purpose == CONSULTATION, Task.closed_dt.is_(None))
        .order_by(Task.due_dt, Task.id)).all()
    return [AwaitedBody(task_id, body, labels.get(body, body), due) for task_id, body, due in rows]
