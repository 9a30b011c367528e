"""Files attached to a case's file fields: rows in ``attachments``, bytes in a content-addressed store.

The bytes are written before the row is flushed, so a committed row never points at a
missing file; a rolled-back upload leaves only an unreferenced file behind, which is
harmless (same content, same name) and never served.
"""
from __future__ import annotations

import hashlib
import os
import tempfile
from datetime import datetime
from pathlib import Path, PurePath

from sqlalchemy import CheckConstraint, ForeignKey, Integer, String, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from engine.audit.chain import append_event
from engine.base.db import MAX_ROW_ID, Base, UTCDateTime, utcnow
from engine.base.errors import NotFound, ValidationFailed
from engine.base.inputs import text_problem
from engine.cases.case import Case, check_version, conflict_on_stale
from engine.cases.permissions import can_view_case, draft_editor_grant, require_visible
from engine.cases.record_types import record_file_field
from engine.cases.tasks import follow_form
from engine.org.units import Actor


class FileTooLarge(ValidationFailed):
    """An upload over the field's size limit (HTTP 413)."""


class UnsupportedFileType(ValidationFailed):
    """An upload whose extension the field does not accept (HTTP 415)."""


class Attachment(Base):
    __tablename__ = "attachments"
    __table_args__ = (CheckConstraint("size_bytes > 0", name="size_positive"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="RESTRICT"), index=True)
    field_name: Mapped[str] = mapped_column(String(63))
    filename: Mapped[str] = mapped_column(String(255))
    content_type: Mapped[str] = mapped_column(String(127))
    size_bytes: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    uploaded_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    uploaded_dt: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class FileStore:
    """Bytes on disk under their SHA-256: ``root/ab/abcdef...``."""

    def __init__(self, root: Path):
        self.root = Path(root)

    def path_for(self, sha256: str) -> Path:
        return self.root / sha256[:2] / sha256

    def put(self, data: bytes) -> str:
        digest = hashlib.sha256(data).hexdigest()
        target = self.path_for(digest)
        if not target.exists():
            target.parent.mkdir(parents=True, exist_ok=True)
            # Write then rename: a reader never sees half a file.
            with tempfile.NamedTemporaryFile(dir=target.parent, delete=False) as tmp:
                tmp.write(data)
                tmp.flush()
                os.fsync(tmp.fileno())
            os.replace(tmp.name, target)
        return digest

    def read(self, sha256: str) -> bytes:
        return self.path_for(sha256).read_bytes()


def attach_file(
    session: Session, actor: Actor, case, field_name: str, *, filename: str, content_type: str,
    data: bytes, store: FileStore, expected_version: int, now: datetime | None = None,
) -> Attachment:
    """Upload a file into one of the case's file fields (while the case is a draft), or for a
    record about to be added ("home_visit.photos": kept aside until the record cites it)."""
    now = now or utcnow()
    require_visible(actor, case)
    check_version(case, expected_version)
    definition = case.definition
    record_type, _, record_field = field_name.partition(".")
    if record_field:
        spec, grant = record_file_field(actor, case, definition, record_type, record_field)
        current = []
    else:
        spec = next((f for f in definition.fields if f.name == field_name and f.type == "file"), None)
        if spec is None:
            raise ValidationFailed({"field": [f"表单中没有附件项「{field_name}」"]})
        grant = draft_editor_grant(actor, case, definition, "上传附件")
        current = list(case.form_data.get(field_name) or [])
    name = _clean_filename(filename)
    _check_file(spec, name, data)
    if len(current) >= spec.max_files:
        raise ValidationFailed({field_name: [f"最多上传 {spec.max_files} 个附件"]})
    digest = store.put(data)
    with conflict_on_stale(case):
        attachment = Attachment(
            case_id=case.id, field_name=field_name, filename=name, content_type=content_type[:127] or "application/octet-stream",
            size_bytes=len(data), sha256=digest, uploaded_by_id=actor.user_id, uploaded_dt=now,
        )
        session.add(attachment)
        session.flush()
        changes = None
        if not record_field:
            case.form_data = {**case.form_data, field_name: [*current, attachment.id]}
            changes = {field_name: {"before": current or None, "after": case.form_data[field_name]}}
        case.updated_dt = now
        append_event(
            session, case, actor=actor, grant=grant, action="attach_file", now=now, changes=changes,
            details={"attachment_id": attachment.id, "field": field_name, "filename": name, "sha256": digest,
                     "size_bytes": len(data)},
        )
        follow_form(session, case, definition, now)
        session.flush()
    return attachment


def get_attachment(session: Session, actor: Actor, attachment_id: int, *, case_id: int | None = None) -> Attachment:
    """An attachment of a case the actor may see (of case ``case_id`` when given); others are
    reported missing."""
    attachment = session.get(Attachment, attachment_id)
    if attachment is None or (case_id is not None and attachment.case_id != case_id) \
            or not can_view_case(actor, session.get(Case, attachment.case_id)):
        raise NotFound("附件不存在或您无权查看")
    return attachment


def attachments_of(session: Session, actor: Actor, case) -> list[Attachment]:
    """Every file uploaded to the case (its form's and its records' file fields), oldest first,
    for those who may see the case. Files later taken out of a field stay listed: the trail cites them."""
    require_visible(actor, case)
    return list(session.scalars(select(Attachment).where(Attachment.case_id == case.id).order_by(Attachment.id)))


def unknown_attachment_ids(session: Session, case, field_name: str, ids: list[int]) -> list[int]:
    """Ids in ``ids`` that are not files uploaded into this case's ``field_name``."""
    if not ids:
        return []
    # An id no integer key can hold names no file (and must not reach the database as a parameter).
    possible = [i for i in ids if 1 <= i <= MAX_ROW_ID]
    known = set(session.scalars(
        select(Attachment.id).where(Attachment.case_id == case.id, Attachment.field_name == field_name,
                                    Attachment.id.in_(possible))
    )) if possible else set()
    return [i for i in ids if i not in known]


def _clean_filename(filename: str) -> str:
    # Keep only the last path component: a name like "../../x" must not look like a path anywhere.
    name = PurePath((filename or "").replace("\\", "/")).name.strip()
    if not name or text_problem(name):
        raise ValidationFailed({"filename": ["文件名无效"]})
    return name[-255:]


def _check_file(spec, name: str, data: bytes) -> None:
    extension = name.rsplit(".", 1)[-1].lower() if "." in name else ""
    if extension not in spec.accept:
        message = f"不支持此文件类型，请上传 {'、'.join(spec.accept)} 格式的文件"
        raise UnsupportedFileType({spec.name: [message]}, message)
    if not data:
        raise ValidationFailed({spec.name: ["文件为空"]})
    if len(data) > spec.max_size_mb * 1024 * 1024:
        message = f"文件不能超过 {spec.max_size_mb} MB"
        raise FileTooLarge({spec.name: [message]}, message)
