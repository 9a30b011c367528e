"""「我的申报」: an applicant's own cases with who holds each now, those waiting for him first.

A page is one query: the cases joined to the task their state waits on (if any), its unit
and its holder. A case waits for the applicant when that task is an applicant's (a draft, a
case returned to him, an objection for him to answer); those come first, newest first, then
the others, newest first. Pages follow on that key, so a case's turn moving meanwhile never
repeats or skips another.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import and_
from sqlalchemy import case as when
from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session, aliased

from engine.base.db import MAX_ROW_ID, utcnow
from engine.base.errors import ValidationFailed
from engine.cases.case import Case, own_cases
from engine.cases.tasks import STAGE, Task, is_overdue, missing_year_of
from engine.org.units import ROLE_LABELS, Actor, OrgUnit, User

APPLICANT = "applicant"
BAD_PAGE = "分页参数无效，请从第一页重新查看"


@dataclass(frozen=True)
class MyCaseRow:
    """One of the applicant's cases as the list shows it, with who holds it now: the applicant
    himself (``waits_for_me``), else the person who claimed its task (``holder_name``), else the
    unit and role it waits for; none of them once it waits for no one (closed)."""

    case: Case
    waits_for_me: bool
    holder_name: str | None
    waiting_unit: str | None
    waiting_role: str | None  # the role's label (审核人)
    due_dt: datetime | None
    overdue: bool
    missing_year: int | None  # the year the working-day calendar lacks to work the deadline out

    @property
    def sort_key(self) -> tuple[int, int]:
        return (int(self.waits_for_me), self.case.id)


def my_case_rows(session: Session, actor: Actor, *, kind: str | None = None, state: str | None = None,
                 waiting_for_me: bool = False, after: tuple[int, int] | None = None, limit: int = 20,
                 now: datetime | None = None) -> list[MyCaseRow]:
    """Up to ``limit`` of the actor's cases after the key ``after`` (see ``MyCaseRow.sort_key``):
    those waiting for the actor first."""
    now = now or utcnow()
    task_unit, holder = aliased(OrgUnit), aliased(User)
    mine_now = when((Task.role == APPLICANT, 1), else_=0)
    conditions = [own_cases(actor)]
    if kind is not None:
        conditions.append(Case.kind == kind)
    if state is not None:
        conditions.append(Case.state == state)
    if waiting_for_me:
        conditions.append(Task.role == APPLICANT)
    if after is not None:
        waits, case_id = _checked(after)
        conditions.append(or_(mine_now < waits, and_(mine_now == waits, Case.id < case_id)))
    rows = session.execute(
        select(Case, Task, task_unit.name, holder.display_name)
        .outerjoin(Task, and_(Task.case_id == Case.id, Task.purpose == STAGE, Task.closed_dt.is_(None)))
        .outerjoin(task_unit, task_unit.id == Task.unit_id)
        .outerjoin(holder, holder.id == Task.assignee_id)
        .where(*conditions)
        .order_by(mine_now.desc(), Case.id.desc()).limit(limit)
    ).all()
    return [_row(session, case, task, unit_name, holder_name, now) for case, task, unit_name, holder_name in rows]


def waiting_for_me_count(session: Session, actor: Actor) -> int:
    """How many of the actor's cases wait for the actor."""
    return session.scalar(select(func.count(Case.id)).join(Task, and_(
        Task.case_id == Case.id, Task.purpose == STAGE, Task.closed_dt.is_(None), Task.role == APPLICANT))
        .where(own_cases(actor)))


def _checked(after: tuple[int, int]) -> tuple[int, int]:
    waits, case_id = after
    if any(isinstance(part, bool) or not isinstance(part, int) for part in after) \
            or waits not in (0, 1) or not 1 <= case_id <= MAX_ROW_ID:
        raise ValidationFailed({"after": [BAD_PAGE]})
    return waits, case_id


def _row(session: Session, case: Case, task: Task | None, unit_name: str | None, holder_name: str | None,
         now: datetime) -> MyCaseRow:
    if task is None:
        return MyCaseRow(case, False, None, None, None, None, False, None)
    # Deadlines matter to the applicant while the case is with a reviewer or on public notice.
    shows_due = case.definition.state(case.state).kind in ("review", "notice")
    return MyCaseRow(
        case, task.role == APPLICANT, holder_name, unit_name, ROLE_LABELS.get(task.role, task.role),
        task.due_dt if shows_due else None, is_overdue(task, now),
        missing_year_of(session, case, task) if shows_due else None,
    )
