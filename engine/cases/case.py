"""The case: one application, nomination or claim moving through its definition."""
from __future__ import annotations

from contextlib import contextmanager
from datetime import datetime
from typing import Iterable

from sqlalchemy import CheckConstraint, ForeignKey, Index, Integer, String, and_, or_, select
from sqlalchemy.orm import Mapped, Session, mapped_column, object_session, relationship, selectinload
from sqlalchemy.orm.exc import StaleDataError

from engine.base.db import Base, JSONDocument, PathString, UTCDateTime, utcnow
from engine.base.errors import Conflict
from engine.definitions.spec import Definition
from engine.definitions.store import definition_by_hash
from engine.org.units import Actor, OrgUnit, User, subtree_clause


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
    # The review state that sent the case back to an earlier level (退回重审); when that level passes
    # it again the case goes straight back there. Apart from return_state: the earlier level may
    # itself return the case to the applicant meanwhile.
    sent_back_from: Mapped[str | None] = mapped_column(String(63))
    # Opinions asked before deciding (加签, engine.cases.opinions) and not yet given: the decision waits.
    opinions_pending: Mapped[int] = mapped_column(default=0, server_default="0")
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

    @property
    def definition(self) -> Definition:
        """The definition version the case runs under (pinned at creation; cached per process)."""
        return definition_by_hash(object_session(self), self.definition_hash)

    def unit_at(self, level: str) -> int:
        return self.origin_unit_id if level == "origin" else self.chain[level]

    def record_outcome(self, **values) -> None:
        """Merge values into ``outcome`` (a new dict, so the JSON column is seen as changed)."""
        self.outcome = {**(self.outcome or {}), **values}

    def __repr__(self) -> str:
        return f"<Case {self.id} {self.kind} {self.state} v{self.version}>"


def cases_under(unit: OrgUnit):
    """Select every case originating at ``unit`` or below it: one range scan on origin_path."""
    return select(Case).where(subtree_clause(Case.origin_path, unit.path))


def my_cases(
    session: Session, actor: Actor, *, kind: str | None = None, state: str | None = None,
    before_id: int | None = None, limit: int = 50,
) -> list[Case]:
    """The actor's own cases, newest first: those they started, and the drafts the engine
    prepared for a unit where they are an applicant (to be completed by them)."""
    query = select(Case).where(own_cases(actor)).options(selectinload(Case.origin_unit))
    if kind is not None:
        query = query.where(Case.kind == kind)
    if state is not None:
        query = query.where(Case.state == state)
    if before_id is not None:
        query = query.where(Case.id < before_id)
    return list(session.scalars(query.order_by(Case.id.desc()).limit(limit)))


def own_cases(actor: Actor):
    """The condition on cases that ``my_cases`` lists: started by the actor, or drafts the engine
    prepared for a unit where they are an applicant."""
    units = sorted({grant.unit_id for grant in actor.grants_for("applicant")})
    mine = Case.applicant_id == actor.user_id
    if units:
        mine = or_(mine, and_(Case.applicant_id.is_(None), Case.origin_unit_id.in_(units)))
    return mine


def case_versions(session: Session, case_ids: Iterable[int]) -> dict[int, tuple[int, str]]:
    """Each case's version and definition version (hash), in one query: what a list acts on."""
    rows = session.execute(select(Case.id, Case.version, Case.definition_hash).where(Case.id.in_(list(case_ids))))
    return {case_id: (version, definition_hash) for case_id, version, definition_hash in rows}


def cases_with_ids(session: Session, case_ids: Iterable[int]) -> list[Case]:
    """The cases with these ids, in one query and in no set order; no visibility check (callers ask
    the engine about each case, which checks it)."""
    return list(session.scalars(select(Case).where(Case.id.in_(list(case_ids)))))


# What the trail's own events (not transitions: those carry their label) are called.
EVENT_LABELS = {
    "create": "创建", "update_form": "修改表单", "comment": "发表意见", "attach_file": "上传附件",
    "record": "添加记录", "void_record": "作废记录", "import_table": "导入表格", "vote": "评审投票",
    "objection": "收到异议", "revoke": "撤销荣誉", "urge": "催办", "claim": "认领", "release": "释放",
    "take_over": "接手", "transfer": "转交", "ask_opinion": "征求意见", "opinion": "答复意见",
    "withdraw_opinions": "撤回征求意见", "copy": "抄送",
}
# Events whose label names what they were about (the record type).
_LABELLED_EVENTS = frozenset({"record", "void_record", "import_table"})


def event_label(action: str, details: dict | None) -> str:
    """A trail event in words: a transition's own label, or the kind of event."""
    label = (details or {}).get("label")
    if action not in EVENT_LABELS:
        return label or action
    if action in _LABELLED_EVENTS and label:
        return f"{EVENT_LABELS[action]}：{label}"
    return EVENT_LABELS[action]


def check_version(case: Case, expected_version: int) -> None:
    """Optimistic lock, first half: the caller must have seen the current version."""
    if case.version != expected_version:
        raise Conflict("案件已被他人更新，请刷新后再操作", current_version=case.version)


@contextmanager
def conflict_on_stale(case: Case):
    """Optimistic lock, second half: another session changed the row between our read and our
    flush (UPDATE ... WHERE version = seen matched nothing). Nothing of ours is written; the
    Conflict names the case, whose version is read after the rollback (``case_version``)."""
    case_id = case.id  # read now: after the failed flush, reading the row would need a rollback
    try:
        yield
    except StaleDataError as err:
        raise Conflict("案件已被他人更新，请刷新后再操作", case_id=case_id) from err


def case_version(session: Session, case_id: int) -> int | None:
    """The case's committed version, read from the row (not the session's copy of it): call it
    after a Conflict's transaction (or savepoint) was rolled back, to tell the caller which
    version won the race."""
    return session.scalar(select(Case.version).where(Case.id == case_id))
