"""The inbox: the open tasks whose party (role at unit) the reader is, soonest due first.

"Cases waiting for me" is one indexed query on the tasks (engine.cases.tasks), joined to the
cases for what the rows show.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Iterable, Mapping

from sqlalchemy import and_, false, func, or_, select
from sqlalchemy.orm import Session

from engine.base.db import MAX_ROW_ID, utcnow
from engine.base.errors import PermissionDenied, ValidationFailed
from engine.calendar.working_days import due_after
from engine.cases.case import Case, cases_with_ids
from engine.cases.machines import AvailableAction, available_actions
from engine.cases.tasks import STAGE, Task
from engine.definitions.store import current_definition, definition_by_hash
from engine.org.units import ROLE_LABELS, Actor, OrgUnit, User


def _waiting(role: str, unit_ids: list[int]) -> list:
    """The open stage tasks of ``role`` at ``unit_ids``: what the inbox index (ix_tasks_open_by_party) serves."""
    return [Task.role == role, Task.unit_id.in_(unit_ids), Task.closed_dt.is_(None), Task.purpose == STAGE]


# --- Reading the inbox: filters, keyset pages, counts ---------------------------------------------

DUE_FILTERS = ("any", "overdue", "due_soon")
DEFAULT_DUE_SOON_WORKING_DAYS = 3


@dataclass(frozen=True)
class InboxFilter:
    """What a reader narrows the inbox to; None means "all"."""

    role: str = "reviewer"
    kind: str | None = None
    round_id: int | None = None
    state: str | None = None
    unit_id: int | None = None
    due: str = "any"
    due_soon_working_days: int = DEFAULT_DUE_SOON_WORKING_DAYS
    # Only the tasks the reader holds (「我的待办」).
    mine: bool = False
    # A case number (「12」「#12」「第 12 号」) or words of the title (the nominee's or applicant's name).
    search: str | None = None


@dataclass(frozen=True)
class InboxEntry:
    """One waiting case as a reader sees it: the row, with labels from the case's own definition version."""

    case_id: int
    kind: str
    kind_label: str
    state: str
    state_label: str
    title: str
    origin_unit_id: int
    origin_unit_name: str
    round_id: int | None
    entered_dt: datetime
    due_dt: datetime | None
    overdue: bool
    # Who holds the task (engine.operations.holding); None while it is the unit's.
    holder_id: int | None = None
    holder_name: str | None = None

    @property
    def sort_key(self) -> tuple[datetime | None, int]:
        return (self.due_dt, self.case_id)


def _reader_unit_ids(actor: Actor, wanted: InboxFilter) -> list[int]:
    """The units whose rows the actor reads in the role: refused when they hold no grant of the
    role, and a unit filter must name one of those units."""
    unit_ids = sorted({grant.unit_id for grant in actor.grants_for(wanted.role)})
    if not unit_ids:
        raise PermissionDenied(f"您没有{ROLE_LABELS.get(wanted.role, wanted.role)}角色，没有待办")
    if wanted.unit_id is None:
        return unit_ids
    if wanted.unit_id not in unit_ids:
        raise ValidationFailed({"unit_id": [f"您在该单位没有{ROLE_LABELS.get(wanted.role, wanted.role)}角色"]})
    return [wanted.unit_id]


def _filtered(session: Session, actor: Actor, wanted: InboxFilter, now: datetime):
    """The conditions of a filtered inbox, on the tasks joined to their cases."""
    conditions = _waiting(wanted.role, _reader_unit_ids(actor, wanted))
    if wanted.kind is not None:
        conditions.append(Task.case_kind == wanted.kind)
    if wanted.state is not None:
        conditions.append(Task.state == wanted.state)
    if wanted.mine:  # held by me, or by someone I stand in for (engine.org.delegations)
        conditions.append(or_(Task.assignee_id == actor.user_id, *(
            and_(Task.assignee_id == stand_in.principal_id, Task.unit_id == stand_in.unit_id)
            for stand_in in actor.stands_in if stand_in.role == wanted.role)))
    if wanted.round_id is not None:
        conditions.append(Case.round_id == wanted.round_id)
    if wanted.search:
        conditions.append(_found_by(wanted.search, Task.case_id))
    if wanted.due == "overdue":
        conditions.append(Task.due_dt < now)
    elif wanted.due == "due_soon":
        # Not yet overdue, and due by the end of the N-th working day from today.
        horizon = due_after(session, now, wanted.due_soon_working_days)
        conditions += [Task.due_dt >= now, Task.due_dt < horizon] if horizon else [false()]
    return conditions


# 「12」「#12」「12号」「第 12 号」: a case number as lists and pages show it.
_CASE_NUMBER = re.compile(r"(?:第\s*|#\s*|＃\s*)?(\d{1,10})(?:\s*号)?")


def case_number(search: str) -> int | None:
    """The case id ``search`` names, when it is a case number as the pages write it."""
    match = _CASE_NUMBER.fullmatch(search.strip())
    number = int(match.group(1)) if match else None
    return number if number is not None and 1 <= number <= MAX_ROW_ID else None


def _found_by(search: str, case_id_column):
    """A case number goes straight to that case (one key); anything else is looked for in the
    titles of the rows the other conditions have narrowed to (the reader's own tasks), never
    across all cases."""
    number = case_number(search)
    return case_id_column == number if number is not None else Case.title.icontains(search.strip(), autoescape=True)


def _after(key: tuple[datetime | None, int]):
    """Rows after ``key`` in the order (due_dt ascending, undated last, case_id): a condition on
    the sort key itself, so rows inserted meanwhile never shift what follows."""
    due_dt, case_id = key
    if due_dt is None:
        return and_(Task.due_dt.is_(None), Task.case_id > case_id)
    return or_(Task.due_dt > due_dt, and_(Task.due_dt == due_dt, Task.case_id > case_id), Task.due_dt.is_(None))


def inbox_page(
    session: Session, actor: Actor, wanted: InboxFilter, *, after: tuple[datetime | None, int] | None = None,
    limit: int = 50, now: datetime | None = None,
) -> list[InboxEntry]:
    """Up to ``limit`` waiting cases for ``actor`` after the sort key ``after``, soonest due first."""
    now = now or utcnow()
    rows = session.execute(inbox_statement(session, actor, wanted, now, after=after, limit=limit)).all()
    return [_entry(session, row, now) for row in rows]


def inbox_statement(session: Session, actor: Actor, wanted: InboxFilter, now: datetime, *,
                    after: tuple[datetime | None, int] | None = None, limit: int = 50):
    """The one query of an inbox page: the open tasks, soonest due first (undated last), with what
    the rows show of their cases."""
    conditions = _filtered(session, actor, wanted, now)
    if after is not None:
        conditions.append(_after(after))
    return (
        select(Task.case_id, Task.case_kind, Task.state, Task.entered_dt, Task.due_dt, Task.assignee_id, Case.title,
               Case.definition_hash, Case.round_id, Case.origin_unit_id, OrgUnit.name.label("origin_unit_name"),
               User.display_name.label("holder_name"))
        .join(Case, Case.id == Task.case_id)
        .join(OrgUnit, OrgUnit.id == Case.origin_unit_id)
        .outerjoin(User, User.id == Task.assignee_id)
        .where(*conditions)
        .order_by(Task.due_dt.asc().nulls_last(), Task.case_id)
        .limit(limit)
    )


def _entry(session: Session, row, now: datetime) -> InboxEntry:
    definition = definition_by_hash(session, row.definition_hash)
    return InboxEntry(
        case_id=row.case_id, kind=row.case_kind, kind_label=definition.label, state=row.state,
        state_label=definition.state(row.state).label, title=row.title, origin_unit_id=row.origin_unit_id,
        origin_unit_name=row.origin_unit_name, round_id=row.round_id, entered_dt=row.entered_dt, due_dt=row.due_dt,
        overdue=row.due_dt is not None and row.due_dt < now, holder_id=row.assignee_id, holder_name=row.holder_name,
    )


# --- 「我已办」: the tasks a person closed ---------------------------------------------------------

@dataclass(frozen=True)
class DoneEntry:
    """A task the reader closed: the case, the stage it was in, when and how it ended, and where
    the case is now."""

    task_id: int
    case_id: int
    title: str
    kind_label: str
    state_label: str
    closed_dt: datetime
    closed_how: str | None
    now_state_label: str

    @property
    def sort_key(self) -> tuple[datetime, int]:
        return (self.closed_dt, self.task_id)


def done_page(session: Session, actor: Actor, *, search: str | None = None,
              after: tuple[datetime, int] | None = None, limit: int = 50) -> list[DoneEntry]:
    """The tasks ``actor`` closed, latest first, after the key ``after``: by the case's number
    when ``search`` is one, else by words of its title."""
    conditions = [Task.closed_by_id == actor.user_id, Task.purpose == STAGE]
    if search:
        conditions.append(_found_by(search, Task.case_id))
    if after is not None:
        closed_dt, task_id = after
        conditions.append(or_(Task.closed_dt < closed_dt, and_(Task.closed_dt == closed_dt, Task.id < task_id)))
    rows = session.execute(
        select(Task.id, Task.case_id, Task.state, Task.closed_dt, Task.closed_how, Case.title, Case.state.label("now"),
               Case.definition_hash)
        .join(Case, Case.id == Task.case_id).where(*conditions)
        .order_by(Task.closed_dt.desc(), Task.id.desc()).limit(limit)).all()
    return [_done_entry(session, row) for row in rows]


def _done_entry(session: Session, row) -> DoneEntry:
    definition = definition_by_hash(session, row.definition_hash)
    return DoneEntry(row.id, row.case_id, row.title, definition.label, definition.state(row.state).label,
                     row.closed_dt, row.closed_how, definition.state(row.now).label)


def waiting_count(session: Session, role: str, unit_id: int) -> int:
    """How many open tasks wait for ``role`` at the unit (the header's 待办 badge): one count over
    the inbox's index."""
    return session.scalar(select(func.count(Task.id)).where(*_waiting(role, [unit_id])))


@dataclass(frozen=True)
class InboxCount:
    kind: str
    kind_label: str
    waiting: int
    overdue: int


def inbox_counts(session: Session, actor: Actor, role: str = "reviewer", *, now: datetime | None = None) -> list[InboxCount]:
    """How many cases wait for ``actor`` in ``role``, and how many of them are overdue, per kind."""
    now = now or utcnow()
    rows = session.execute(
        select(Task.case_kind, func.count(Task.id), func.count(Task.id).filter(Task.due_dt < now))
        .where(*_waiting(role, _reader_unit_ids(actor, InboxFilter(role=role))))
        .group_by(Task.case_kind).order_by(Task.case_kind)
    ).all()
    return [InboxCount(kind, current_definition(session, kind).label, waiting, late)
            for kind, waiting, late in rows]


def inbox_titles(session: Session, actor: Actor, case_ids: Iterable[int], role: str = "reviewer") -> dict[int, str]:
    """The titles of those of the cases that wait for ``actor`` in ``role`` (their own open tasks
    only), so a case they may not see stays unnamed."""
    case_ids = list(case_ids)
    if not case_ids:
        return {}
    unit_ids = [grant.unit_id for grant in actor.grants_for(role)]
    return dict(session.execute(select(Task.case_id, Case.title).join(Case, Case.id == Task.case_id).where(
        Task.case_id.in_(case_ids), *_waiting(role, unit_ids))).all())


# --- Acting on a page of the inbox at once --------------------------------------------------------

@dataclass(frozen=True)
class BatchChoice:
    """One trigger offered for a batch: its labels (they differ by stage) and whether it needs a comment."""

    trigger: str
    labels: tuple[str, ...]
    comment_required: bool


def batch_choices(session: Session, actor: Actor, waiting: Mapping[int, tuple[str, str]],
                  now: datetime) -> list[BatchChoice]:
    """The triggers the engine offers on every (definition version, state) of ``waiting`` (case id
    → definition hash and state), asked of one case of each: the cases of one group wait at the
    same unit and stage, so they are offered the same actions (rules may still refuse one case;
    the batch then reports it). Actions whose transition asks for input fields are done case by
    case on the case page."""
    sample: dict[tuple[str, str], int] = {}
    for case_id, group in waiting.items():
        sample.setdefault(group, case_id)
    if not sample:
        return []
    offered: list[dict[str, AvailableAction]] = [
        {action.trigger: action for action in available_actions(session, actor, case, now) if not action.inputs}
        for case in cases_with_ids(session, sample.values())]
    common = [trigger for trigger in offered[0] if all(trigger in group for group in offered[1:])]
    return [BatchChoice(trigger, tuple(dict.fromkeys(group[trigger].label for group in offered)),
                        any(group[trigger].comment_required for group in offered))
            for trigger in common]
