"""Out-of-office delegation (委托/代理): a person names a deputy, of the same role at the same unit,
for a range of days. While it runs, the tasks held by the person show in the deputy's 「我的待办」,
what would be told to the person is told to the deputy, and the deputy's steps on those tasks are
recorded as taken on the person's behalf (代 某某). It ends by itself after its last day.

The rows and what reads them live here; setting and cancelling one is
engine.operations.delegating (it logs and tells).
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import Date, ForeignKey, Index, String, Text, and_, select, tuple_
from sqlalchemy.orm import Mapped, Session, mapped_column

from engine.base.db import Base, UTCDateTime


class Delegation(Base):
    __tablename__ = "delegations"
    __table_args__ = (
        Index("ix_delegations_deputy_id_ends_on", "deputy_id", "ends_on"),
        Index("ix_delegations_principal_id_ends_on", "principal_id", "ends_on"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    principal_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    deputy_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    role: Mapped[str] = mapped_column(String(20))
    unit_id: Mapped[int] = mapped_column(ForeignKey("org_units.id"))
    # Local days, both included.
    starts_on: Mapped[date] = mapped_column(Date)
    ends_on: Mapped[date] = mapped_column(Date)
    reason: Mapped[str | None] = mapped_column(Text)
    created_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    created_dt: Mapped[datetime] = mapped_column(UTCDateTime)
    cancelled_dt: Mapped[datetime | None] = mapped_column(UTCDateTime)

    def runs_on(self, day: date) -> bool:
        return self.cancelled_dt is None and self.starts_on <= day <= self.ends_on


@dataclass(frozen=True)
class StandIn:
    """The deputy stands in for ``principal_id`` in ``role`` at ``unit_id`` today."""

    principal_id: int
    principal_name: str
    role: str
    unit_id: int


def running_on(day: date):
    return and_(Delegation.cancelled_dt.is_(None), Delegation.starts_on <= day, Delegation.ends_on >= day)


def deputies_for(session: Session, holders: set[tuple[int, str, int]], day: date) -> dict[tuple[int, str, int], int]:
    """(person, role, unit) → the deputy standing in for them on ``day``, for those away."""
    if not holders:
        return {}
    rows = session.execute(
        select(Delegation.principal_id, Delegation.role, Delegation.unit_id, Delegation.deputy_id)
        .where(tuple_(Delegation.principal_id, Delegation.role, Delegation.unit_id).in_(list(holders)), running_on(day))
        .order_by(Delegation.id)).all()
    return {(principal, role, unit): deputy for principal, role, unit, deputy in rows}


def overlapping(session: Session, principal_id: int, role: str, unit_id: int, starts_on: date,
                ends_on: date) -> Delegation | None:
    """A delegation of the person's, not cancelled, sharing a day with the range."""
    return session.scalar(select(Delegation).where(
        Delegation.principal_id == principal_id, Delegation.role == role, Delegation.unit_id == unit_id,
        Delegation.cancelled_dt.is_(None), Delegation.starts_on <= ends_on, Delegation.ends_on >= starts_on))
