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

from sqlalchemy import Date, ForeignKey, Index, String, Text, and_, or_, select, tuple_
from sqlalchemy.orm import Mapped, Session, aliased, mapped_column

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


def _running(day: date):
    return and_(Delegation.cancelled_dt.is_(None), Delegation.starts_on <= day, Delegation.ends_on >= day)


def stand_ins_of(session: Session, deputy_id: int, day: date) -> tuple[StandIn, ...]:
    """Whom the person stands in for on ``day``."""
    from engine.org.units import User  # units loads actors with their stand-ins: imported here, not above
    rows = session.execute(
        select(Delegation.principal_id, User.display_name, Delegation.role, Delegation.unit_id)
        .join(User, User.id == Delegation.principal_id)
        .where(Delegation.deputy_id == deputy_id, _running(day)).order_by(Delegation.id)).all()
    return tuple(StandIn(*row) for row in rows)


def deputies_for(session: Session, holders: set[tuple[int, str, int]], day: date) -> dict[tuple[int, str, int], int]:
    """(person, role, unit) → the deputy standing in for them on ``day``, for those away."""
    if not holders:
        return {}
    rows = session.execute(
        select(Delegation.principal_id, Delegation.role, Delegation.unit_id, Delegation.deputy_id)
        .where(tuple_(Delegation.principal_id, Delegation.role, Delegation.unit_id).in_(list(holders)), _running(day))
        .order_by(Delegation.id)).all()
    return {(principal, role, unit): deputy for principal, role, unit, deputy in rows}


def overlapping(session: Session, principal_id: int, role: str, unit_id: int, starts_on: date,
                ends_on: date) -> Delegation | None:
    """A delegation of the person's, not cancelled, sharing a day with the range."""
    return session.scalar(select(Delegation).where(
        Delegation.principal_id == principal_id, Delegation.role == role, Delegation.unit_id == unit_id,
        Delegation.cancelled_dt.is_(None), Delegation.starts_on <= ends_on, Delegation.ends_on >= starts_on))


@dataclass(frozen=True)
class DelegationView:
    id: int
    principal_id: int
    principal_name: str
    deputy_id: int
    deputy_name: str
    role: str
    unit_id: int
    unit_name: str
    starts_on: date
    ends_on: date
    reason: str | None
    cancelled: bool
    running: bool


def delegations_concerning(session: Session, user_id: int, today: date, *,
                           unit_paths: list[str] = ()) -> list[DelegationView]:
    """Delegations given by or to the person, or (for an admin) at the units under ``unit_paths``,
    not ended before ``today``, latest first."""
    from engine.org.units import OrgUnit, User, subtree_clause
    principal, deputy = aliased(User), aliased(User)
    whose = or_(Delegation.principal_id == user_id, Delegation.deputy_id == user_id,
                *(subtree_clause(OrgUnit.path, path) for path in unit_paths))
    rows = session.execute(
        select(Delegation, principal.display_name, deputy.display_name, OrgUnit.name)
        .join(principal, principal.id == Delegation.principal_id).join(deputy, deputy.id == Delegation.deputy_id)
        .join(OrgUnit, OrgUnit.id == Delegation.unit_id)
        .where(whose, Delegation.ends_on >= today)
        .order_by(Delegation.starts_on.desc(), Delegation.id.desc()).limit(200)).all()
    return [DelegationView(d.id, d.principal_id, principal_name, d.deputy_id, deputy_name, d.role, d.unit_id,
                           unit_name, d.starts_on, d.ends_on, d.reason, d.cancelled_dt is not None, d.runs_on(today))
            for d, principal_name, deputy_name, unit_name in rows]
