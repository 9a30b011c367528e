"""Records kept on a case: background-check opinions, home visits, disbursements, result rows.

A definition declares its record types (fields, who may add one, in which states, what
makes two records the same). Adding a record is one operation: checked like a transition
(visibility, party, state), validated like a form, written with an audit event carrying
the stored values. Rules in workflows/ read records to decide transitions.
"""
from __future__ import annotations

import hashlib
import json
from datetime import datetime

from sqlalchemy import ForeignKey, Integer, String, UniqueConstraint, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from engine.audit.chain import append_event
from engine.base.db import Base, JSONDocument, UTCDateTime, utcnow
from engine.base.errors import NotFound, ValidationFailed
from engine.base.inputs import check_text
from engine.cases.attachments import unknown_attachment_ids
from engine.cases.case import Case, conflict_on_stale
from engine.cases.consultations import body_field, heard_from, reply_voided
from engine.cases.permissions import require_visible
from engine.cases.record_types import record_grant, record_spec
from engine.cases.tasks import follow_form
from engine.definitions.forms import clean_fields, dump_fields
from engine.definitions.spec import Definition, RecordSpec, StateSpec
from engine.org.units import Actor


class CaseRecord(Base):
    __tablename__ = "case_records"
    # unique_key is null for record types without unique_by: NULLs never collide.
    __table_args__ = (UniqueConstraint("case_id", "record_type", "unique_key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="RESTRICT"), index=True)
    record_type: Mapped[str] = mapped_column(String(63))
    data: Mapped[dict] = mapped_column(JSONDocument)
    unique_key: Mapped[str | None] = mapped_column(String(64))
    author_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    author_name: Mapped[str] = mapped_column(String(64))
    unit_id: Mapped[int | None] = mapped_column(Integer)
    unit_name: Mapped[str | None] = mapped_column(String(100))
    created_dt: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # A record is never edited or deleted; a wrong one is voided (and its unique key freed,
    # so a corrected one can take its place). Rules read only records that are not voided.
    voided_dt: Mapped[datetime | None] = mapped_column(UTCDateTime)
    voided_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    void_reason: Mapped[str | None] = mapped_column(String(500))


def add_record(
    session: Session, actor: Actor, case: Case, record_type: str, data: dict, *, now: datetime | None = None,
) -> CaseRecord:
    """Add one record of ``record_type`` to the case (all required fields filled)."""
    now = now or utcnow()
    require_visible(actor, case)
    definition = case.definition
    spec = record_spec(definition, record_type)
    grant = record_grant(actor, case, definition, spec)
    stored = dump_fields(spec.fields, clean_fields(spec.fields, data))
    _check_record_files(session, case, spec, stored)
    key = _unique_key(spec, stored)
    if key is not None and session.scalar(select(CaseRecord.id).where(
            CaseRecord.case_id == case.id, CaseRecord.record_type == record_type, CaseRecord.unique_key == key)):
        labels = "、".join(f"「{spec.field(name).label}」" for name in spec.unique_by)
        raise ValidationFailed({spec.unique_by[0]: [f"已有{labels}相同的「{spec.label}」"]})
    with conflict_on_stale(case):
        record = CaseRecord(case_id=case.id, record_type=record_type, data=stored, unique_key=key,
                            author_id=actor.user_id, author_name=actor.name, unit_id=grant.unit_id,
                            unit_name=grant.unit_name, created_dt=now)
        session.add(record)
        case.updated_dt = now
        session.flush()
        append_event(session, case, actor=actor, grant=grant, action="record", now=now,
                     details={"record_type": record_type, "label": spec.label, "record_id": record.id,
                              "data": stored})
        heard_from(session, case, definition, record_type, stored, now, recorded_by=actor.user_id)
        follow_form(session, case, definition, now)
        session.flush()
    return record


def void_record(
    session: Session, actor: Actor, case: Case, record_id: int, reason: str, *, now: datetime | None = None,
) -> CaseRecord:
    """Void a record added in error (same parties and states as adding one), with the reason.
    The record stays, marked void, and the trail says who voided it and why."""
    now = now or utcnow()
    require_visible(actor, case)
    record = session.get(CaseRecord, record_id)
    if record is None or record.case_id != case.id or record.voided_dt is not None:
        raise NotFound("记录不存在或已作废")
    definition = case.definition
    spec = record_spec(definition, record.record_type)
    grant = record_grant(actor, case, definition, spec)
    reason = (reason or "").strip()
    if not reason or len(reason) > 500:
        raise ValidationFailed({"reason": ["请填写作废理由（500字以内）"]})
    check_text({"reason": reason})
    with conflict_on_stale(case):
        record.voided_dt, record.voided_by_id, record.void_reason = now, actor.user_id, reason
        record.unique_key = None
        case.updated_dt = now
        append_event(session, case, actor=actor, grant=grant, action="void_record", now=now, comment=reason,
                     details={"record_type": record.record_type, "label": spec.label, "record_id": record.id})
        state = definition.state(case.state)
        if state.consultations is not None:
            reply_voided(session, case, definition, record.record_type, record.data, now,
                         heard=bodies_heard(session, case, definition, state))
        session.flush()
    return record


def records_of(session: Session, case: Case, record_type: str | None = None, *,
               include_voided: bool = False) -> list[CaseRecord]:
    query = select(CaseRecord).where(CaseRecord.case_id == case.id)
    if not include_voided:
        query = query.where(CaseRecord.voided_dt.is_(None))
    if record_type is not None:
        query = query.where(CaseRecord.record_type == record_type)
    return list(session.scalars(query.order_by(CaseRecord.id)))


def bodies_heard(session: Session, case: Case, definition: Definition, state: StateSpec) -> set[str]:
    """The bodies ``state`` consults whose reply is on record (and not voided)."""
    field = body_field(definition, state)
    return {record.data.get(field) for record in records_of(session, case, state.consultations.record)}


def _unique_key(spec: RecordSpec, stored: dict) -> str | None:
    if not spec.unique_by:
        return None
    values = [stored.get(name) for name in spec.unique_by]
    return hashlib.sha256(json.dumps(values, ensure_ascii=False).encode("utf-8")).hexdigest()


def _check_record_files(session: Session, case: Case, spec: RecordSpec, stored: dict) -> None:
    errors = {}
    for field in spec.fields:
        ids = stored.get(field.name)
        if field.type == "file" and ids and unknown_attachment_ids(session, case, f"{spec.type}.{field.name}", ids):
            errors[field.name] = ["附件不存在或不属于此案件"]
    if errors:
        raise ValidationFailed(errors)
