"""A case's audit trail: its hash-chained events, for the case's reviewers and auditors.

Anyone else who may see the case (its applicant, an admin) is refused with 403; anyone who
may not is told the case does not exist. Personal data in the events (ID numbers, fields
marked sensitive, in form changes, record data and transition inputs) is masked unless the
reader may see it in full (engine.permissions.sees_personal_data).
"""
from __future__ import annotations

from flask_smorest import Blueprint
from marshmallow import fields

from api.auth import current_actor
from api.fields import LocalDateTime
from api.schemas import ApiSchema, ErrorSchema
from engine.trail import readable_audit_trail
from web import request_session

blp = Blueprint("audit", __name__, url_prefix="/api/v1", description="审计记录")


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
