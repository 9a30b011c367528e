"""Inbox read model: one row per case that waits for someone, kept in step with every transition.

"Cases waiting for me" is then one indexed query: the rows whose (role, unit) the
actor holds, sorted by due date.
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, bindparam, delete, select, update
from sqlalchemy.orm import Mapped, Session, mapped_column
from sqlalchemy.orm.util import identity_key

from engine.calendar import due_after
from engine.db import Base, UTCDateTime
from engine.definitions import Definition
from engine.org import Actor


class InboxItem(Base):
    __tablename__ = "inbox_items"
    __table_args__ = (Index("ix_inbox_items_role_unit_due", "role", "unit_id", "due_dt", "case_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), unique=True)
    role: Mapped[str] = mapped_column(String(20))
    unit_id: Mapped[int] = mapped_column(ForeignKey("org_units.id"))
    kind: Mapped[str] = mapped_column(String(63))
    state: Mapped[str] = mapped_column(String(63))
    title: Mapped[str] = mapped_column(String(200))
    origin_unit_id: Mapped[int] = mapped_column(ForeignKey("org_units.id"))
    entered_dt: Mapped[datetime] = mapped_column(UTCDateTime)
    # Null when the state has no deadline or the working-day calendar does not cover it.
    due_dt: Mapped[datetime | None] = mapped_column(UTCDateTime)


def refresh_inbox(session: Session, case, definition: Definition, now: datetime, *, state_changed: bool) -> None:
    """Make the case's inbox row match its state: one UPDATE in the common case."""
    state = definition.state(case.state)
    if state.waits_for is None:
        session.execute(delete(InboxItem).where(InboxItem.case_id == case.id))
        return
    values = {"kind": case.kind, "state": case.state, "title": case.title}
    if not state_changed and _update_row(session, _RETITLE_ROW, case.id, values):
        return
    values |= {
        "role": state.waits_for.role,
        "unit_id": case.unit_at(state.waits_for.level),
        "origin_unit_id": case.origin_unit_id,
        "entered_dt": now,
        "due_dt": due_after(session, now, state.deadline_working_days) if state.deadline_working_days else None,
    }
    if not _update_row(session, _MOVE_ROW, case.id, values):
        session.add(InboxItem(case_id=case.id, **values))


# Every transition runs one of these: built once, as Core statements, because building and
# synchronising an ORM UPDATE per call cost a fifth of an approval (bench/README.md).
_table = InboxItem.__table__
_RETITLE_ROW = (
    update(_table).where(_table.c.case_id == bindparam("row_case_id"))
    .values({name: bindparam(name) for name in ("kind", "state", "title")}).returning(_table.c.id)
)
_MOVE_ROW = (
    update(_table).where(_table.c.case_id == bindparam("row_case_id"))
    .values({name: bindparam(name) for name in (
        "kind", "state", "title", "role", "unit_id", "origin_unit_id", "entered_dt", "due_dt")})
    .returning(_table.c.id)
)


def _update_row(session: Session, statement, case_id: int, values: dict) -> bool:
    session.flush()  # the case row first: locks are always taken case, then inbox row
    row_id = session.connection().execute(statement, {"row_case_id": case_id, **values}).scalar()
    if row_id is None:
        return False
    loaded = session.identity_map.get(identity_key(InboxItem, row_id))
    if loaded is not None:
        session.expire(loaded)  # a copy loaded earlier in this session reloads on next use
    return True


def inbox_query(actor: Actor, role: str = "reviewer"):
    """Rows waiting for ``actor`` in ``role``, soonest due first (undated last)."""
    unit_ids = sorted({grant.unit_id for grant in actor.grants_for(role)})
    return (
        select(InboxItem)
        .where(InboxItem.role == role, InboxItem.unit_id.in_(unit_ids))
        .order_by(InboxItem.due_dt.asc().nulls_last(), InboxItem.case_id)
    )


def inbox_for(session: Session, actor: Actor, role: str = "reviewer", *, limit: int = 50) -> list[InboxItem]:
    return list(session.scalars(inbox_query(actor, role).limit(limit)))
