"""Read-only questions the pages ask beside notifications: is a case's current stage overdue?

A stage is overdue when its open deadline has passed: by the clock (``due_dt`` before now), or
as the scan found it and escalated (``overdue_dt``; the supervising unit was told then). The
case page shows one case's, a list marks the cases of its page in one query.
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from engine.deadlines import Deadline, open_deadline


def is_overdue(deadline: Deadline, now: datetime) -> bool:
    return deadline.overdue_dt is not None or (deadline.due_dt is not None and deadline.due_dt < now)


def overdue_deadline(session: Session, case_id: int, now: datetime) -> Deadline | None:
    """The case's open deadline, when it has passed."""
    deadline = open_deadline(session, case_id)
    return deadline if deadline is not None and is_overdue(deadline, now) else None


def overdue_case_ids(session: Session, case_ids: list[int], now: datetime) -> set[int]:
    """Which of ``case_ids`` wait past their open deadline (one query, for a page of cases)."""
    if not case_ids:
        return set()
    return set(session.scalars(select(Deadline.case_id).where(
        Deadline.case_id.in_(case_ids), Deadline.closed_dt.is_(None),
        or_(Deadline.overdue_dt.is_not(None), Deadline.due_dt < now))))
