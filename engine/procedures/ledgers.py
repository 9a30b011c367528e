"""Capped counters that hold under concurrency: quota places, yearly caps per person.

A ledger is one row per (account, period) with its cap and what has been drawn; each
draw is an entry tied to the case that drew it. Drawing locks the ledger row (SELECT ...
FOR UPDATE on PostgreSQL; SQLite serialises writers with BEGIN IMMEDIATE), so two
approvals at the same moment cannot both take the last place or the last yuan. A case
draws at most once per ledger: firing again after a return draws nothing new.
"""
from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy import ForeignKey, Numeric, String, UniqueConstraint, and_, delete, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from engine.base.db import Base, UTCDateTime, insert_for, utcnow
from engine.cases.rule_context import RuleContext
from engine.definitions.rules import action
from engine.procedures.amounts import RELEASED

ZERO = Decimal("0.00")


class Ledger(Base):
    __tablename__ = "ledgers"
    __table_args__ = (UniqueConstraint("account", "period"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    # e.g. "quota:round=3:unit=12:labour_medal", "medical_subsidy:cap:320602199001011234"
    account: Mapped[str] = mapped_column(String(200))
    period: Mapped[str] = mapped_column(String(20))
    cap: Mapped[Decimal] = mapped_column(Numeric(14, 2))
    used: Mapped[Decimal] = mapped_column(Numeric(14, 2), default=ZERO)


class LedgerEntry(Base):
    __tablename__ = "ledger_entries"
    __table_args__ = (UniqueConstraint("ledger_id", "case_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    ledger_id: Mapped[int] = mapped_column(ForeignKey("ledgers.id", ondelete="RESTRICT"))
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="RESTRICT"), index=True)
    amount: Mapped[Decimal] = mapped_column(Numeric(14, 2))
    created_dt: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


def _ensure_ledger(session: Session, account: str, period: str, cap: Decimal) -> None:
    session.execute(
        insert_for(session, Ledger).values(account=account, period=period, cap=cap, used=ZERO)
        .on_conflict_do_nothing(index_elements=["account", "period"])
    )


def draw(session: Session, account: str, period: str, *, cap: Decimal, wanted: Decimal, case_id: int,
         partial: bool, now: datetime | None = None) -> tuple[Decimal, Decimal]:
    """Take up to ``wanted`` from the (account, period) ledger for ``case_id``.

    Returns (granted, left after). With ``partial`` the grant is cut to what is left;
    without it, it is all or nothing (0 granted when not enough is left). ``cap`` is the
    configured cap now: a changed configuration applies from the next draw. A case that
    already drew from this ledger gets its earlier amount again and draws nothing more.
    """
    cap, wanted = Decimal(cap), Decimal(wanted)
    _ensure_ledger(session, account, period, cap)
    ledger = session.scalars(
        select(Ledger).where(Ledger.account == account, Ledger.period == period)
        .with_for_update().execution_options(populate_existing=True)
    ).one()
    ledger.cap = cap
    earlier = session.scalar(select(LedgerEntry.amount).where(LedgerEntry.ledger_id == ledger.id,
                                                              LedgerEntry.case_id == case_id))
    if earlier is not None:
        return Decimal(earlier), cap - ledger.used
    granted = _grantable(cap, ledger.used, wanted, partial)
    if granted > ZERO:
        ledger.used = ledger.used + granted
        session.add(LedgerEntry(ledger_id=ledger.id, case_id=case_id, amount=granted, created_dt=now or utcnow()))
    session.flush()
    return granted, cap - ledger.used


def _grantable(cap: Decimal, used: Decimal, wanted: Decimal, partial: bool) -> Decimal:
    left = max(cap - used, ZERO)
    return min(wanted, left) if partial else (wanted if wanted <= left else ZERO)


def would_draw(session: Session, account: str, period: str, *, cap: Decimal, wanted: Decimal, case_id: int,
               partial: bool) -> tuple[Decimal, Decimal]:
    """What ``draw`` would return now, without writing or locking anything (one read): the
    preview of an amount before it is approved. Another approval may still draw first."""
    cap, wanted = Decimal(cap), Decimal(wanted)
    row = session.execute(
        select(Ledger.used, LedgerEntry.amount).outerjoin(
            LedgerEntry, and_(LedgerEntry.ledger_id == Ledger.id, LedgerEntry.case_id == case_id))
        .where(Ledger.account == account, Ledger.period == period)
    ).first()
    used = Decimal(row.used) if row else ZERO
    if row is not None and row.amount is not None:
        return Decimal(row.amount), cap - used
    granted = _grantable(cap, used, wanted, partial)
    return granted, cap - used - granted


def balance(session: Session, account: str, period: str) -> tuple[Decimal, Decimal] | None:
    """(cap, used) of a ledger, or None if nothing was drawn from it yet."""
    row = session.execute(select(Ledger.cap, Ledger.used).where(Ledger.account == account, Ledger.period == period)).first()
    return (Decimal(row.cap), Decimal(row.used)) if row else None


def drawn_by_cases(session: Session, account_prefix: str) -> list[int]:
    """Ids of the cases that drew from any ledger whose account starts with ``account_prefix``."""
    return list(session.scalars(
        select(LedgerEntry.case_id).join(Ledger, Ledger.id == LedgerEntry.ledger_id)
        .where(Ledger.account.startswith(account_prefix, autoescape=True)).order_by(LedgerEntry.id)
    ))


def release_case(session: Session, case_id: int) -> list[dict]:
    """Give back everything ``case_id`` drew, ledger by ledger (each row locked first, in id
    order, so two releases and a draw cannot deadlock). Returns what was given back."""
    entries = session.execute(
        select(LedgerEntry.id, LedgerEntry.ledger_id, LedgerEntry.amount)
        .where(LedgerEntry.case_id == case_id).order_by(LedgerEntry.ledger_id)
    ).all()
    released = []
    for entry_id, ledger_id, amount in entries:
        ledger = session.scalars(select(Ledger).where(Ledger.id == ledger_id).with_for_update()
                                 .execution_options(populate_existing=True)).one()
        ledger.used = ledger.used - amount
        session.execute(delete(LedgerEntry).where(LedgerEntry.id == entry_id))
        released.append({"account": ledger.account, "period": ledger.period, "amount": Decimal(amount),
                         "left": ledger.cap - ledger.used})
    session.flush()
    return released


@action("release_drawn")
def release_drawn(ctx: RuleContext) -> dict:
    """Cited on a transition that cancels an approval before payment: the amounts (or places)
    the case drew go back to their ledgers, so a person's yearly cap is not used by money
    never paid. The audit event lists what went back; the outcome says so, for those who read it."""
    released = release_case(ctx.session, ctx.case.id)
    ctx.case.record_outcome(**{RELEASED: True})
    return {"released": released}
