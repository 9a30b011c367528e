"""Administration: org units, people and their roles, within the admin's own subtree
(engine.org.admin decides the scope; these views only map)."""
from __future__ import annotations

from marshmallow import fields, validate

from api.blueprint import Blueprint
from api.fields import LocalDateTime
from api.pagination import PageQuerySchema, page_schema
from api.schemas import ApiSchema, ChangesSchema, ErrorSchema
from engine.org.admin import (
    NewPersonSchema, PersonChangesSchema, add_org_unit, add_user, get_org_unit, get_user, grant_role, list_org_units,
    list_users, revoke_role, update_user,
)
from engine.org.units import LEVEL_LABELS, LEVELS, ROLE_LABELS, ROLES, UNIT_KIND_LABELS, UNIT_KINDS
from web.auth import current_actor
from web.database import request_session, unit_of_work
from web.paging import decode_cursor, page

blp = Blueprint("admin", __name__, url_prefix="/api/v1", description="单位与用户管理（管理员，限本单位及下级）")

# --- Org units -------------------------------------------------------------------------------------

class OrgUnitSchema(ApiSchema):
    id = fields.Integer()
    name = fields.String()
    level = fields.String()
    level_label = fields.Function(lambda unit: LEVEL_LABELS[unit.level])
    kind = fields.String()
    kind_label = fields.Function(lambda unit: UNIT_KIND_LABELS[unit.kind])
    parent_id = fields.Integer(allow_none=True)
    path = fields.String(metadata={"description": "自市总工会起的单位编号路径，如 /1/4/9/"})
    created_at = LocalDateTime(attribute="created_dt")


class OrgUnitListSchema(ApiSchema):
    units = fields.List(fields.Nested(OrgUnitSchema))


class OrgUnitQuerySchema(ApiSchema):
    parent_id = fields.Integer(metadata={"description": "只列出这一单位的直属下级"})


class NewOrgUnitSchema(ApiSchema):
    name = fields.String(required=True, validate=validate.Length(min=1, max=100, error="应为 1 到 100 个字"))
    level = fields.String(required=True, validate=validate.OneOf(LEVELS, error="应为以下之一：{choices}"))
    kind = fields.String(load_default="union", validate=validate.OneOf(UNIT_KINDS, error="应为以下之一：{choices}"))
    parent_id = fields.Integer(required=True, metadata={"description": "上级单位，须在您的管理范围内"})


@blp.route("/org-units")
@blp.arguments(OrgUnitQuerySchema, location="query")
@blp.response(200, OrgUnitListSchema)
def list_units(query):
    """我管理的单位（按路径排列，上级在前）；可只列某单位的直属下级。"""
    return {"units": list_org_units(request_session(), current_actor(), parent_id=query.get("parent_id"))}


@blp.route("/org-units", methods=["POST"])
@blp.arguments(NewOrgUnitSchema)
@blp.response(201, OrgUnitSchema)
@blp.alt_response(403, schema=ErrorSchema, description="上级单位不在您的管理范围内")
@unit_of_work
def create_unit(data):
    """在我管理的单位之下新建单位；层级须低于上级单位。"""
    return add_org_unit(request_session(), current_actor(), **data)


@blp.route("/org-units/<int:unit_id>")
@blp.response(200, OrgUnitSchema)
def get_unit(unit_id):
    """一个单位（须在我的管理范围内）。"""
    return get_org_unit(request_session(), current_actor(), unit_id)


# --- People ----------------------------------------------------------------------------------------

class RoleAssignmentSchema(ApiSchema):
    id = fields.Integer(metadata={"description": "角色授予编号（收回时用）"})
    role = fields.String()
    role_label = fields.Function(lambda assignment: ROLE_LABELS[assignment.role])
    unit_id = fields.Integer(attribute="org_unit_id")
    unit_name = fields.Function(lambda assignment: assignment.org_unit.name)
    unit_level = fields.Function(lambda assignment: assignment.org_unit.level)
    full_data = fields.Boolean(metadata={"description": "审计人员可否导出不遮蔽的完整个人信息（每次使用都记入系统日志）"})


class UserSchema(ApiSchema):
    id = fields.Integer()
    username = fields.String()
    display_name = fields.String()
    email = fields.String(allow_none=True)
    is_active = fields.Boolean()
    has_password = fields.Function(lambda user: user.password_hash is not None,
                                   metadata={"description": "是否已设密码（密码本身从不返回）"})
    created_at = LocalDateTime(attribute="created_dt")
    roles = fields.List(fields.Nested(RoleAssignmentSchema), attribute="assignments")


class UserQuerySchema(PageQuerySchema):
    unit_id = fields.Integer(metadata={"description": "只列出在这一单位有角色的人"})
    q = fields.String(validate=validate.Length(min=1, max=64, error="应为 1 到 64 个字"),
                      metadata={"description": "用户名或姓名中的一段"})


class NewUserSchema(NewPersonSchema, ApiSchema):
    """The engine's rules for a new account (engine.org.admin), with the API's input rules."""

    password = fields.String(load_only=True, validate=validate.Length(max=256, error="不能超过 256 个字符"),
                             metadata={"description": "8 到 256 个字符，且不易猜到（不能是常用密码、用户名、姓名或邮箱，"
                                                      "不能是重复或键盘顺序的字符）；不填则此人暂不能登录"})


class UserChangesSchema(PersonChangesSchema, ChangesSchema):
    is_active = fields.Boolean(metadata={"description": "停用后此人的会话和令牌立即失效"})
    password = fields.String(load_only=True, validate=validate.Length(max=256, error="不能超过 256 个字符"),
                             metadata={"description": "重设密码：要求同新建用户；此人的全部登录会话随即结束，API 令牌一并吊销"})


class RoleRequestSchema(ApiSchema):
    role = fields.String(required=True, validate=validate.OneOf(ROLES, error="应为以下之一：{choices}"))
    unit_id = fields.Integer(required=True, metadata={"description": "须在您的管理范围内"})
    full_data = fields.Boolean(load_default=False, metadata={
        "description": "仅审计人员：可导出不遮蔽的身份证号、银行卡号等完整个人信息"})


@blp.route("/users")
@blp.arguments(UserQuerySchema, location="query")
@blp.response(200, page_schema(UserSchema, "UserPageSchema"))
def list_people(query):
    """我管理的人（其全部角色都在我的管理范围内），按编号分页。"""
    after = decode_cursor(query["cursor"], 1)
    rows = list_users(request_session(), current_actor(), unit_id=query.get("unit_id"), text=query.get("q"),
                      after_id=after[0] if after else None, limit=query["limit"] + 1)
    return page(rows, query["limit"], lambda user: [user.id])


@blp.route("/users", methods=["POST"])
@blp.arguments(NewUserSchema)
@blp.response(201, UserSchema)
@unit_of_work
def create_person(data):
    """新建账号（尚无角色，另行授予）；密码以 argon2 散列保存。"""
    return add_user(request_session(), current_actor(), **data)


@blp.route("/users/<int:user_id>")
@blp.response(200, UserSchema)
def get_person(user_id):
    """一个账号及其角色。"""
    return get_user(request_session(), current_actor(), user_id)


@blp.route("/users/<int:user_id>", methods=["PATCH"])
@blp.arguments(UserChangesSchema)
@blp.response(200, UserSchema)
@unit_of_work
def change_person(changes, user_id):
    """修改姓名、邮箱、密码，或停用/启用账号。"""
    return update_user(request_session(), current_actor(), user_id, changes)


@blp.route("/users/<int:user_id>/roles", methods=["POST"])
@blp.arguments(RoleRequestSchema)
@blp.response(201, RoleAssignmentSchema)
@blp.alt_response(403, schema=ErrorSchema, description="单位不在您的管理范围内")
@blp.alt_response(409, schema=ErrorSchema, description="此人在该单位已有此角色")
@blp.alt_response(422, schema=ErrorSchema, description="角色或单位有误；或给审计人员以外的角色 full_data")
@unit_of_work
def grant(data, user_id):
    """在我管理的单位授予此人一个角色；审计人员可同时授予查看完整个人信息的权限。"""
    return grant_role(request_session(), current_actor(), user_id, role=data["role"], unit_id=data["unit_id"],
                      full_data=data["full_data"])


@blp.route("/users/<int:user_id>/roles/<int:assignment_id>", methods=["DELETE"])
@blp.response(204)
@unit_of_work
def revoke(user_id, assignment_id):
    """收回此人的一个角色。"""
    revoke_role(request_session(), current_actor(), user_id, assignment_id)
