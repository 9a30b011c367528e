"""Out-of-office delegation (委托/代理): a reviewer names a colleague to stand in for him for a range
of days; an admin may set one for someone absent."""
from __future__ import annotations

from marshmallow import fields

from api.blueprint import Blueprint
from api.schemas import ApiSchema
from engine.operations.delegating import cancel_delegation, delegate, delegation_view, delegations_for
from engine.org.units import ROLE_LABELS
from web.auth import current_actor
from web.database import request_session, unit_of_work

blp = Blueprint("delegations", __name__, url_prefix="/api/v1", description="委托代理：不在岗期间由同单位同角色的同事代为办理")


class NewDelegationSchema(ApiSchema):
    deputy_id = fields.Integer(required=True, metadata={"description": "代理人：本单位同一角色的其他在岗人员"})
    role = fields.String(load_default="reviewer")
    unit_id = fields.Integer(required=True)
    starts_on = fields.Date(required=True)
    ends_on = fields.Date(required=True, metadata={"description": "最后一天（含），之后自动结束；最长一年"})
    reason = fields.String(allow_none=True, metadata={"description": "委托事由，最多 200 字"})
    principal_id = fields.Integer(allow_none=True, metadata={"description": "被代理人；不填为本人，管理员可为本单位及下级单位人员设置"})


class DelegationSchema(ApiSchema):
    id = fields.Integer()
    principal = fields.Function(lambda d: {"id": d.principal_id, "name": d.principal_name})
    deputy = fields.Function(lambda d: {"id": d.deputy_id, "name": d.deputy_name})
    role = fields.String()
    role_label = fields.Function(lambda d: ROLE_LABELS.get(d.role, d.role))
    unit = fields.Function(lambda d: {"id": d.unit_id, "name": d.unit_name})
    starts_on = fields.Date()
    ends_on = fields.Date()
    reason = fields.String(allow_none=True)
    cancelled = fields.Boolean()
    running = fields.Boolean(metadata={"description": "今天是否生效"})


class DelegationListSchema(ApiSchema):
    items = fields.List(fields.Nested(DelegationSchema))


@blp.route("/delegations", methods=["GET"])
@blp.response(200, DelegationListSchema)
def list_delegations():
    """我设置的、委托给我的（管理员还有本单位及下级单位的）当前和将来的委托。"""
    return {"items": delegations_for(request_session(), current_actor())}


@blp.route("/delegations", methods=["POST"])
@blp.arguments(NewDelegationSchema)
@blp.response(201, DelegationSchema)
@unit_of_work
def create_delegation(data):
    """设置委托：期间由代理人代为办理被代理人认领的待办，代理人办理时记为「代 某某」，代理人会收到通知。"""
    session = request_session()
    return delegation_view(session, delegate(session, current_actor(), **data))


@blp.route("/delegations/<int:delegation_id>/cancel", methods=["POST"])
@blp.response(200, DelegationSchema)
@unit_of_work
def cancel(delegation_id):
    """提前结束委托（被代理人、代理人或管理员）。"""
    session = request_session()
    return delegation_view(session, cancel_delegation(session, current_actor(), delegation_id))
