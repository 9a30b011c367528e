"""Inbox read model: one row per case that waits for someone, kept in step with every transition.

"Cases waiting for me" is then one indexed query: the rows whose (role, unit) the
actor holds, sorted by due date.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Iterable, Mapping

from sqlalchemy import ForeignKey, Index, String, and_, bindparam, delete, false, func, or_, select, update
from sqlalchemy.orm import Mapped, Session, mapped_column
from sqlalchemy.orm.util import identity_key

from engine.base.db import Base, UTCDateTime, utcnow
from engine.base.errors import PermissionDenied, ValidationFailed
from engine.calendar.working_days import due_after
from engine.cases.case import Case, cases_with_ids
from engine.cases.deadlines import track_deadline
from engine.cases.machines import AvailableAction, available_actions
from engine.definitions.spec import Definition
from engine.definitions.store import current_definition, definition_by_hash
from engine.org.units import ROLE_LABELS, Actor, OrgUnit


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


def refresh_inbox(session: Session, case, definition: Definition, now: datetime, *, state_changed: bool,
                  left_state: str | None = None) -> None:
    """Make the case's inbox row (and its deadline row) match its state: one UPDATE in the common case.

    ``left_state``: the state a transition left; a new case (``state_changed`` and no state left)
    has no rows yet, so they are inserted without looking for old ones."""
    due = track_deadline(session, case, definition, now, state_changed=state_changed, left_state=left_state)
    state = definition.state(case.state)
    if state.waits_for is None:
        session.execute(delete(InboxItem).where(InboxItem.case_id == case.id))
        return
    values = {"kind": case.kind, "state": case.state, "title": case.title}
    if not state_changed and _update_row(session, _RETITLE_ROW, case.id, values):
        if state.deadline_at is not None:  # a form change may move such a deadline
            session.execute(update(InboxItem).where(InboxItem.case_id == case.id).values(due_dt=due))
        return
    values |= {
        "role": state.waits_for.role,
        "unit_id": case.unit_at(state.waits_for.level),
        "origin_unit_id": case.origin_unit_id,
        "entered_dt": now,
        "due_dt": due,
    }
    if left_state is None or not _update_row(session, _MOVE_ROW, case.id, values):
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
    """The conditions of a filtered inbox, on InboxItem joined to its case."""
    conditions = [InboxItem.role == wanted.role, InboxItem.unit_id.in_(_reader_unit_ids(actor, wanted))]
    if wanted.kind is not None:
        conditions.append(InboxItem.kind == wanted.kind)
    if wanted.state is not None:
        conditions.append(InboxItem.state == wanted.state)
    if wanted.round_id is not None:
        conditions.append(Case.round_id == wanted.round_id)
    if wanted.due == "overdue":
        conditions.append(InboxItem.due_dt < now)
    elif wanted.due == "due_soon":
        # Not yet overdue, and due by the end of the N-th working day from today.
        horizon = due_after(session, now, wanted.due_soon_working_days)
        conditions += [InboxItem.due_dt >= now, InboxItem.due_dt < horizon] if horizon else [false()]
    return conditions


def _after(key: tuple[datetime | None, int]):
    """Rows after ``key`` in the order (due_dt ascending, undated last, case_id): a condition on
    the sort key itself, so rows inserted meanwhile never shift what follows."""
    due_dt, case_id = key
    if due_dt is None:
        return and_(InboxItem.due_dt.is_(None), InboxItem.case_id > case_id)
    return or_(InboxItem.due_dt > due_dt, and_(InboxItem.due_dt == due_dt, InboxItem.case_id > case_id),
               InboxItem.due_dt.is_(None))


def inbox_page(
    session: Session, actor: Actor, wanted: InboxFilter, *, after: tuple[datetime | None, int] | None = None,
    limit: int = 50, now: datetime | None = None,
) -> list[InboxEntry]:
    """Up to ``limit`` waiting cases for ``actor`` after the sort key ``after``, soonest due first."""
    now = now or utcnow()
    conditions = _filtered(session, actor, wanted, now)
    if after is not None:
        conditions.append(_after(after))
    rows = session.execute(
        select(InboxItem, Case.definition_hash, Case.round_id, OrgUnit.name)
        .join(Case, Case.id == InboxItem.case_id)
        .join(OrgUnit, OrgUnit.id == InboxItem.origin_unit_id)
        .where(*conditions)
        .order_by(InboxItem.due_dt.asc().nulls_last(), InboxItem.case_id)
        .limit(limit)
    ).all()
    return [_entry(session, item, definition_hash, round_id, origin_name, now)
            for item, definition_hash, round_id, origin_name in rows]


def _entry(session: Session, item: InboxItem, definition_hash: str, round_id: int | None, origin_name: str,
           now: datetime) -> InboxEntry:
    definition = definition_by_hash(session, definition_hash)
    return InboxEntry(
        case_id=item.case_id, kind=item.kind, kind_label=definition.label, state=item.state,
        state_label=definition.state(item.state).label, title=item.title, origin_unit_id=item.origin_unit_id,
        origin_unit_name=origin_name, round_id=round_id, entered_dt=item.entered_dt, due_dt=item.due_dt,
        overdue=item.due_dt is not None and item.due_dt < now,
    )


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
        select(InboxItem.kind, func.count(InboxItem.id), func.count(InboxItem.id).filter(InboxItem.due_dt < now))
        .where(InboxItem.role == role, InboxItem.unit_id.in_(_reader_unit_ids(actor, InboxFilter(role=role))))
        .group_by(InboxItem.kind).order_by(InboxItem.kind)
    ).all()
    return [InboxCount(kind, current_definition(session, kind).label, waiting, late)
            for kind, waiting, late in rows]


def due_of(session: Session, case: Case) -> datetime | None:
    """When the party the case waits for must act (its inbox row's due time), if set."""
    return session.scalar(select(InboxItem.due_dt).where(InboxItem.case_id == case.id))


def dues_of(session: Session, case_ids: Iterable[int]) -> dict[int, datetime | None]:
    """``due_of`` for many cases in one query: the due time of those that wait (None if unset)."""
    case_ids = list(case_ids)
    if not case_ids:
        return {}
    return dict(session.execute(select(InboxItem.case_id, InboxItem.due_dt)
                                .where(InboxItem.case_id.in_(case_ids))).all())


def inbox_titles(session: Session, actor: Actor, case_ids: Iterable[int], role: str = "reviewer") -> dict[int, str]:
    """The titles of those of the cases that wait for ``actor`` in ``role`` (their own inbox rows
    only), so a case they may not see stays unnamed."""
    case_ids = list(case_ids)
    if not case_ids:
        return {}
    unit_ids = [grant.unit_id for grant in actor.grants_for(role)]
    return dict(session.execute(select(InboxItem.case_id, InboxItem.title).where(
        InboxItem.case_id.in_(case_ids), InboxItem.role == role, InboxItem.unit_id.in_(unit_ids))).all())


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
