"""Copies (抄送): a case put before people who do not act on it, so they know of it.

A copy is a row per (case, person): the person finds the case in 「抄送我的」, read or unread, and
is told (engine.operations.telling). It is made by hand, by whoever may decide the waiting case
(engine.operations.copying), or by the definition (``copy_to`` on a state or a transition) inside
the transition's unit of work.

Who may be copied is kept simple: an active person holding the reviewer or auditor role at a unit
of the case's chain (its own unit and every unit above it). Those people may already see the case
as their role allows, so a copy widens nobody's view. It gives no right to act either: acting is
decided by grants alone (``permissions.grant_for``). One exception keeps the list honest: a copied
person who no longer holds such a role (moved, retired) may still open the case from 「抄送我的」,
read as an auditor reads it (personal data masked, internal comments hidden, nothing to do) —
``permissions.get_case`` asks ``is_copied`` only when the grants refuse.

Copied twice, a person keeps one row: the later copy refreshes it (who, when, the note, the event)
and marks it unread again, so it comes back to the top of 「抄送我的」.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Iterable

from sqlalchemy import (
    BigInteger, ForeignKey, Index, String, Text, UniqueConstraint, and_, func, or_, select, true, update,
)
from sqlalchemy.orm import Mapped, Session, aliased, mapped_column

from engine.base.db import Base, UTCDateTime, insert_for
from engine.base.errors import NotFound
from engine.cases.case import Case
from engine.definitions.spec import COPIED_ROLES, Party
from engine.definitions.store import definition_by_hash
from engine.org.units import Actor, RoleAssignment, User

MAX_COPIED_AT_ONCE = 50
MAX_COPY_NOTE_LENGTH = 500


class CaseCopy(Base):
    __tablename__ = "case_copies"
    __table_args__ = (
        UniqueConstraint("case_id", "user_id"),
        # 「抄送我的」: a person's copies, latest first.
        Index("ix_case_copies_user_id_copied_dt", "user_id", "copied_dt"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    # Null: the definition copied (copy_to), not a person.
    copied_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    # The audit event that made (or last refreshed) the copy: the copy event, or the transition's.
    event_id: Mapped[int] = mapped_column(BigInteger)
    note: Mapped[str | None] = mapped_column(Text)
    # Why a definition copied (the transition or state, as the trail labels it); null for a person's copy.
    reason: Mapped[str | None] = mapped_column(String(200))
    copied_dt: Mapped[datetime] = mapped_column(UTCDateTime)
    read_dt: Mapped[datetime | None] = mapped_column(UTCDateTime)


# --- Who ------------------------------------------------------------------------------------------

def chain_unit_ids(case: Case) -> list[int]:
    return sorted({case.origin_unit_id, *case.chain.values()})


def copy_candidates(session: Session, case: Case, *, besides: int | None = None) -> list[tuple[int, str]]:
    """(id, name) of the people who may be copied on the case (see the module), ``besides`` aside."""
    rows = session.execute(
        select(User.id, User.display_name).join(RoleAssignment, RoleAssignment.user_id == User.id)
        .where(RoleAssignment.role.in_(COPIED_ROLES), RoleAssignment.org_unit_id.in_(chain_unit_ids(case)),
               User.is_active == true(), User.id != (besides or 0))
        .distinct().order_by(User.display_name, User.id))
    return [(user_id, name) for user_id, name in rows]


def party_members(session: Session, case: Case, parties: Iterable[Party]) -> list[tuple[int, str]]:
    """(id, name) of the active people who are ``parties`` for the case (a definition's copy_to): one
    statement for them all. A level the case's chain lacks names nobody."""
    wanted = [(party.role, case.unit_at(party.level)) for party in parties
              if party.level == "origin" or party.level in case.chain]
    if not wanted:
        return []
    rows = session.execute(
        select(User.id, User.display_name).join(RoleAssignment, RoleAssignment.user_id == User.id)
        .where(or_(*(and_(RoleAssignment.role == role, RoleAssignment.org_unit_id == unit_id)
                     for role, unit_id in wanted)), User.is_active == true())
        .distinct().order_by(User.display_name, User.id))
    return [(user_id, name) for user_id, name in rows]


# --- Writing --------------------------------------------------------------------------------------

def store_copies(session: Session, case: Case, user_ids: Iterable[int], *, event_id: int, now: datetime,
                 copied_by_id: int | None, note: str | None = None, reason: str | None = None) -> None:
    """One row per person, in one statement; a person copied before has the row refreshed and unread."""
    rows = [{"case_id": case.id, "user_id": user_id, "copied_by_id": copied_by_id, "event_id": event_id,
             "note": note, "reason": reason, "copied_dt": now, "read_dt": None} for user_id in user_ids]
    if not rows:
        return
    statement = insert_for(session, CaseCopy).values(rows)
    session.execute(statement.on_conflict_do_update(
        index_elements=["case_id", "user_id"],
        set_={name: statement.excluded[name] for name in
              ("copied_by_id", "event_id", "note", "reason", "copied_dt", "read_dt")}))


# --- Reading --------------------------------------------------------------------------------------

def is_copied(session: Session, user_id: int | None, case_id: int) -> bool:
    if user_id is None:
        return False
    return session.scalar(select(CaseCopy.id).where(CaseCopy.case_id == case_id, CaseCopy.user_id == user_id)) \
        is not None


@dataclass(frozen=True)
class CopiedPerson:
    """Someone the case was copied to, as its reviewers see the list."""

    user_id: int
    name: str
    copied_by_name: str | None  # None: the definition copied
    copied_dt: datetime
    read: bool


def copies_of(session: Session, case_id: int) -> list[CopiedPerson]:
    copier = aliased(User)
    rows = session.execute(
        select(CaseCopy.user_id, User.display_name, copier.display_name, CaseCopy.copied_dt, CaseCopy.read_dt)
        .join(User, User.id == CaseCopy.user_id).outerjoin(copier, copier.id == CaseCopy.copied_by_id)
        .where(CaseCopy.case_id == case_id).order_by(CaseCopy.copied_dt, CaseCopy.id))
    return [CopiedPerson(user_id, name, by, copied_dt, read_dt is not None)
            for user_id, name, by, copied_dt, read_dt in rows]


@dataclass(frozen=True)
class CopyEntry:
    """One line of 「抄送我的」."""

    id: int
    case_id: int
    title: str
    kind_label: str
    state_label: str
    copied_by_name: str | None  # None: the definition copied
    reason: str | None
    note: str | None
    copied_dt: datetime
    read_dt: datetime | None

    @property
    def read(self) -> bool:
        return self.read_dt is not None


def copies_page(session: Session, actor: Actor, *, unread_only: bool = False,
                after: tuple[datetime, int] | None = None, limit: int = 50) -> list[CopyEntry]:
    """The copies made to ``actor``, latest first, after the key ``after`` (copied_dt, id)."""
    conditions = [CaseCopy.user_id == actor.user_id]
    if unread_only:
        conditions.append(CaseCopy.read_dt.is_(None))
    if after is not None:
        copied_dt, copy_id = after
        conditions.append(or_(CaseCopy.copied_dt < copied_dt, and_(CaseCopy.copied_dt == copied_dt,
                                                                   CaseCopy.id < copy_id)))
    return _entries(session, conditions, limit)


def copy_entry(session: Session, actor: Actor, copy_id: int) -> CopyEntry:
    """One of the actor's copies as 「抄送我的」 shows it."""
    found = _entries(session, [CaseCopy.user_id == actor.user_id, CaseCopy.id == copy_id], 1)
    if not found:
        raise NotFound("抄送不存在")
    return found[0]


def _entries(session: Session, conditions: list, limit: int) -> list[CopyEntry]:
    copier = aliased(User)
    rows = session.execute(
        select(CaseCopy.id, CaseCopy.case_id, Case.title, Case.state, Case.definition_hash, copier.display_name,
               CaseCopy.reason, CaseCopy.note, CaseCopy.copied_dt, CaseCopy.read_dt)
        .join(Case, Case.id == CaseCopy.case_id).outerjoin(copier, copier.id == CaseCopy.copied_by_id)
        .where(*conditions).order_by(CaseCopy.copied_dt.desc(), CaseCopy.id.desc()).limit(limit)).all()
    entries = []
    for row in rows:
        definition = definition_by_hash(session, row.definition_hash)
        entries.append(CopyEntry(row.id, row.case_id, row.title, definition.label, definition.state(row.state).label,
                                 row.display_name, row.reason, row.note, row.copied_dt, row.read_dt))
    return entries


def unread_copies(session: Session, actor: Actor) -> int:
    return session.scalar(select(func.count(CaseCopy.id)).where(
        CaseCopy.user_id == actor.user_id, CaseCopy.read_dt.is_(None))) or 0


# --- Marking read ---------------------------------------------------------------------------------

def mark_copy_read(session: Session, actor: Actor, copy_id: int, now: datetime) -> CaseCopy:
    """The actor has read his copy (a copy of someone else's is missing, not forbidden)."""
    copy = session.get(CaseCopy, copy_id)
    if copy is None or copy.user_id != actor.user_id:
        raise NotFound("抄送不存在")
    if copy.read_dt is None:
        copy.read_dt = now
        session.flush()
    return copy


def mark_case_copy_read(session: Session, actor: Actor, case_id: int, now: datetime) -> None:
    """Opening a copied case reads its copy: one statement, nothing when there is none unread."""
    if actor.user_id is None:
        return
    session.execute(update(CaseCopy).where(CaseCopy.case_id == case_id, CaseCopy.user_id == actor.user_id,
                                           CaseCopy.read_dt.is_(None)).values(read_dt=now))
