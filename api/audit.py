"""A case's audit trail: its hash-chained events, for the case's reviewers and auditors.

Anyone else who may see the case (its applicant, an admin) is refused with 403; anyone who
may not is told the case does not exist. Personal data in the events (ID numbers, fields
marked sensitive, in form changes, record data and transition inputs) is masked unless the
reader may see it in full (engine.permissions.sees_personal_data).
"""
from __future__ import annotations

from flask_smorest import Blueprint
from marshmallow import fields
from sqlalchemy.orm import Session

from api.auth import current_actor
from api.fields import LocalDateTime
from api.schemas import ApiSchema, ErrorSchema
from engine.audit import AuditEvent, case_events
from engine.cases import get_case
from engine.definitions import Definition, FieldSpec, definition_by_hash
from engine.errors import PermissionDenied
from engine.forms import masked_personal_data
from engine.org import Actor
from engine.permissions import covers, sees_personal_data
from web import request_session

blp = Blueprint("audit", __name__, url_prefix="/api/v1", description="审计记录")

READER_ROLES = ("reviewer", "auditor")


class EventActorSchema(ApiSchema):
    id = fields.Integer(allow_none=True, metadata={"description": "公众或系统操作时为空"})
    name = fields.String()


class EventUnitSchema(ApiSchema):
    id = fields.Integer()
    name = fields.String()


class AuditEventSchema(ApiSchema):
    seq = fields.Integer()
    at = LocalDateTime(attribute="occurred_dt")
    actor = fields.Nested(EventActorSchema, metadata={"description": "操作人"})
    role = fields.String(attribute="actor_role", allow_none=True)
    unit = fields.Nested(EventUnitSchema, allow_none=True, metadata={"description": "操作人以哪个单位的身份操作"})
    action = fields.String()
    from_state = fields.String(allow_none=True)
    to_state = fields.String(allow_none=True)
    comment = fields.String(allow_none=True)
    changes = fields.Dict(allow_none=True, metadata={"description": "表单字段 → {before, after}；个人信息按权限遮蔽"})
    details = fields.Dict(allow_none=True)
    prev_hash = fields.String()
    hash = fields.String(metadata={"description": "本事件的 SHA-256，覆盖除 id 外的全部内容与上一事件的散列"})


class AuditTrailSchema(ApiSchema):
    case_id = fields.Integer()
    events = fields.List(fields.Nested(AuditEventSchema))


@blp.route("/cases/<int:case_id>/audit-events")
@blp.response(200, AuditTrailSchema)
@blp.alt_response(403, schema=ErrorSchema, description="申报人等可见此案件但不可查看审计记录")
@blp.alt_response(404, schema=ErrorSchema, description="案件不存在或您无权查看")
def list_audit_events(case_id):
    """案件的审计记录（哈希链）：本案审核人与覆盖该案件的审计人员可查看。"""
    return {"case_id": case_id, "events": readable_audit_trail(request_session(), current_actor(), case_id)}


# --- What a reader is shown (engine rules only; see the module docstring) --------------------------

def readable_audit_trail(session: Session, actor: Actor, case_id: int) -> list[dict]:
    case = get_case(session, actor, case_id)
    if not any(grant.role in READER_ROLES and covers(grant, case) for grant in actor.grants):
        raise PermissionDenied("只有本案审核人和审计人员可以查看审计记录")
    masked_by = None if sees_personal_data(actor, case) else definition_by_hash(session, case.definition_hash)
    return [_shown(event, masked_by) for event in case_events(session, case.id)]


def _shown(event: AuditEvent, masked_by: Definition | None) -> dict:
    """The event as read: a copy, personal data masked by the definition's fields when
    ``masked_by`` is given (the stored row and its hash are untouched)."""
    shown = {column.key: getattr(event, column.key) for column in AuditEvent.__mapper__.column_attrs}
    shown["actor"] = {"id": event.actor_id, "name": event.actor_name}
    shown["unit"] = {"id": event.actor_unit_id, "name": event.actor_unit_name} if event.actor_unit_id else None
    if masked_by is None:
        return shown
    if event.changes:
        shown["changes"] = _masked_changes(masked_by.fields, event.changes)
    details = dict(event.details or {})
    if "data" in details and details.get("record_type") in {spec.type for spec in masked_by.records}:
        details["data"] = masked_personal_data(masked_by.record(details["record_type"]).fields, details["data"])
    if "inputs" in details:
        details["inputs"] = masked_personal_data(_input_specs(masked_by, event), details["inputs"])
    shown["details"] = details or None
    return shown


def _masked_changes(specs: tuple[FieldSpec, ...], changes: dict) -> dict:
    before = masked_personal_data(specs, {name: change.get("before") for name, change in changes.items()})
    after = masked_personal_data(specs, {name: change.get("after") for name, change in changes.items()})
    return {name: {**change, "before": before[name], "after": after[name]} for name, change in changes.items()}


def _input_specs(definition: Definition, event: AuditEvent) -> tuple[FieldSpec, ...]:
    """The input fields of the transition the event records."""
    return next((spec.inputs for spec in definition.transitions
                 if spec.trigger == event.action and event.from_state in spec.sources), ())
