"""The case: one application, nomination or claim moving through its definition."""
from __future__ import annotations

from contextlib import contextmanager
from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, Integer, String, select
from sqlalchemy.orm import Mapped, Session, mapped_column, relationship
from sqlalchemy.orm.exc import StaleDataError

from engine.db import Base, JSONDocument, PathString, UTCDateTime, utcnow
from engine.errors import Conflict, NotFound
from engine.org import Actor, OrgUnit, User, subtree_clause
from engine.permissions import can_view_case


class Case(Base):
    __tablename__ = "cases"
    __table_args__ = (
        CheckConstraint("revision_round >= 0", name="revision_round_not_negative"),
        CheckConstraint("audit_seq >= 0", name="audit_seq_not_negative"),
        CheckConstraint("version >= 1", name="version_positive"),
        Index("ix_cases_origin_path", "origin_path"),
        Index("ix_cases_kind_state", "kind", "state"),
        Index("ix_cases_kind_subject_key", "kind", "subject_key"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(63))
    # Pinned at creation: a changed definition file never moves a running case.
    definition_hash: Mapped[str] = mapped_column(ForeignKey("definition_versions.content_hash"))
    state: Mapped[str] = mapped_column(String(63))
    version: Mapped[int] = mapped_column(Integer, nullable=False)
    origin_unit_id: Mapped[int] = mapped_column(ForeignKey("org_units.id"), index=True)
    # Copied from the origin unit so subtree queries on cases need no join.
    origin_path: Mapped[str] = mapped_column(PathString)
    # {"city": id, "county": id, ...}: the units that act on the case at each level.
    chain: Mapped[dict] = mapped_column(JSONDocument)
    # Null for a draft the engine prepared for a unit (e.g. a nomination from a competition result).
    applicant_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)
    title: Mapped[str] = mapped_column(String(200), default="")
    form_data: Mapped[dict] = mapped_column(JSONDocument, default=dict)
    # The round (名额 and window) a nomination was made into, for kinds that use rounds.
    round_id: Mapped[int | None] = mapped_column(ForeignKey("rounds.id"), index=True)
    # The validated ID number of the person the case is about (definition's subject_field).
    subject_key: Mapped[str | None] = mapped_column(String(32))
    # The case this one follows from: a yearly re-check of a file, a nomination from a
    # competition result, a revocation of an honour. ``link_relation`` says which.
    linked_case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id"), index=True)
    link_relation: Mapped[str | None] = mapped_column(String(32))
    # What the procedure decided: category, amounts, decision number... Written by actions
    # and transition inputs; each change is also in the audit event that made it.
    outcome: Mapped[dict] = mapped_column(JSONDocument, default=dict)
    revision_round: Mapped[int] = mapped_column(default=0)
    # The review state that returned the case; resubmission goes back there.
    return_state: Mapped[str | None] = mapped_column(String(63))
    # Head of the case's audit chain (last sequence number and hash); verification
    # compares it with the events, so deleting the latest events is detected.
    audit_seq: Mapped[int] = mapped_column(default=0)
    audit_head: Mapped[str | None] = mapped_column(String(64))
    created_dt: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_dt: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    submitted_dt: Mapped[datetime | None] = mapped_column(UTCDateTime)
    closed_dt: Mapped[datetime | None] = mapped_column(UTCDateTime)

    origin_unit: Mapped[OrgUnit] = relationship()
    applicant: Mapped[User] = relationship()

    __mapper_args__ = {"version_id_col": version}

    def unit_at(self, level: str) -> int:
        return self.origin_unit_id if level == "origin" else self.chain[level]

    def record_outcome(self, **values) -> None:
        """Merge values into ``outcome`` (a new dict, so the JSON column is seen as changed)."""
        self.outcome = {**(self.outcome or {}), **values}

    def __repr__(self) -> str:
        return f"<Case {self.id} {self.kind} {self.state} v{self.version}>"


def get_case(session: Session, actor: Actor, case_id: int) -> Case:
    """Load a case the actor may see. Others' cases are reported as missing, not forbidden."""
    case = session.get(Case, case_id)
    if case is None:
        raise NotFound("案件不存在或您无权查看")
    require_visible(actor, case)
    return case


def require_visible(actor: Actor, case: Case) -> None:
    """Refuse an operation on a case the actor may not even see, without saying anything about it."""
    if not can_view_case(actor, case):
        raise NotFound("案件不存在或您无权查看")


def cases_under(unit: OrgUnit):
    """Select every case originating at ``unit`` or below it: one range scan on origin_path."""
    return select(Case).where(subtree_clause(Case.origin_path, unit.path))


def check_version(case: Case, expected_version: int) -> None:
    """Optimistic lock, first half: the caller must have seen the current version."""
    if case.version != expected_version:
        raise Conflict("案件已被他人更新，请刷新后再操作", current_version=case.version)


@contextmanager
def conflict_on_stale():
    """Optimistic lock, second half: another session changed the row between our read and our
    flush (UPDATE ... WHERE version = seen matched nothing). Nothing of ours is written."""
    try:
        yield
    except StaleDataError as err:
        raise Conflict("案件已被他人更新，请刷新后再操作") from err
