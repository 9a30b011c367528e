"""Signing in and out (the browser session) and personal API tokens for scripts."""
from __future__ import annotations

from marshmallow import fields, validate
from werkzeug.exceptions import Unauthorized

from api.auth import public
from api.blueprint import Blueprint
from api.fields import LocalDateTime
from api.schemas import ApiSchema
from engine.org.accounts import MAX_TOKEN_NAME_LENGTH, create_api_token, list_api_tokens, revoke_api_token
from engine.org.units import LEVEL_LABELS, ROLE_LABELS
from web.auth import current_actor, end_session, session_csrf_token, sign_in, sign_in_with_password
from web.database import request_session, unit_of_work
from web.limits import sign_in_limits

blp = Blueprint("account", __name__, url_prefix="/api/v1", description="登录会话与个人 API 令牌")

MAX_TOKEN_DAYS = 3650


class CredentialsSchema(ApiSchema):
    username = fields.String(required=True, validate=validate.Length(min=1, max=64, error="应为 1 到 64 个字符"))
    password = fields.String(required=True, validate=validate.Length(min=1, max=256, error="应为 1 到 256 个字符"),
                             load_only=True)


class GrantSchema(ApiSchema):
    role = fields.String()
    role_label = fields.Function(lambda grant: ROLE_LABELS[grant.role])
    unit_id = fields.Integer()
    unit_name = fields.String()
    unit_level = fields.String()
    unit_level_label = fields.Function(lambda grant: LEVEL_LABELS[grant.unit_level])


class MeSchema(ApiSchema):
    user_id = fields.Integer()
    name = fields.String()
    grants = fields.List(fields.Nested(GrantSchema))
    csrf_token = fields.String(allow_none=True, metadata={"description": "浏览器会话写操作须放在 X-CSRF-Token 头中；令牌调用时为空"})


class TokenRequestSchema(ApiSchema):
    name = fields.String(required=True, validate=validate.Length(min=1, max=MAX_TOKEN_NAME_LENGTH,
                                                                 error=f"应为 1 到 {MAX_TOKEN_NAME_LENGTH} 个字"))
    expires_in_days = fields.Integer(allow_none=True, validate=validate.Range(
        min=1, max=MAX_TOKEN_DAYS, error=f"有效天数应在 1 到 {MAX_TOKEN_DAYS} 之间"))


class TokenSchema(ApiSchema):
    id = fields.Integer()
    name = fields.String()
    created_at = LocalDateTime(attribute="created_dt")
    expires_at = LocalDateTime(attribute="expires_dt", allow_none=True)
    last_used_at = LocalDateTime(attribute="last_used_dt", allow_none=True)


class NewTokenSchema(TokenSchema):
    token = fields.String(attribute="plaintext", metadata={"description": "令牌全文，只在创建时显示这一次；以 Authorization: Bearer 令牌 发送"})


class TokenListSchema(ApiSchema):
    tokens = fields.List(fields.Nested(TokenSchema))


def _me(actor, csrf_token):
    return {"user_id": actor.user_id, "name": actor.name, "grants": actor.grants, "csrf_token": csrf_token}


@blp.route("/session", methods=["POST"])
@public
@sign_in_limits
@blp.arguments(CredentialsSchema)
@blp.response(200, MeSchema)
@unit_of_work
def log_in(credentials):
    """登录（浏览器会话）：与网页使用同一登录。连续失败会被限流（429）。"""
    actor = sign_in_with_password(credentials["username"], credentials["password"])
    if actor is None:
        raise Unauthorized(description="用户名或密码不正确")
    return _me(actor, sign_in(actor))


@blp.route("/session", methods=["GET"])
@blp.response(200, MeSchema)
def who_am_i():
    """当前登录的人及其在各单位的角色。"""
    return _me(current_actor(), session_csrf_token())


@blp.route("/session", methods=["DELETE"])
@public
@blp.response(204)
@unit_of_work
def log_out():
    """退出登录：此人在所有浏览器上的会话一并结束，之前复制的会话 Cookie 也失效（无会话时也返回 204）。"""
    end_session()


@blp.route("/tokens", methods=["GET"])
@blp.response(200, TokenListSchema)
def list_tokens():
    """我的有效令牌（不含令牌全文）。"""
    return {"tokens": list_api_tokens(request_session(), current_actor())}


@blp.route("/tokens", methods=["POST"])
@blp.arguments(TokenRequestSchema)
@blp.response(201, NewTokenSchema)
@unit_of_work
def create_token(data):
    """创建个人 API 令牌；令牌全文只在此响应中出现一次，服务器只保存其散列。"""
    token, plaintext = create_api_token(request_session(), current_actor(), data["name"],
                                        expires_in_days=data.get("expires_in_days"))
    token.plaintext = plaintext  # not a column: it exists in this response only
    return token


@blp.route("/tokens/<int:token_id>", methods=["DELETE"])
@blp.response(204)
@unit_of_work
def revoke_token(token_id):
    """吊销自己的一个令牌，立即失效。"""
    revoke_api_token(request_session(), current_actor(), token_id)
