"""Workflow definitions: which kinds exist, and everything a client needs to render a form."""
from __future__ import annotations

from marshmallow import fields

from api.blueprint import Blueprint
from api.schemas import ApiSchema, DefinitionSchema, DefinitionSummarySchema
from engine.definitions.store import current_definition, list_kinds
from web.database import request_session

blp = Blueprint("definitions", __name__, url_prefix="/api/v1", description="流程定义与表单")


class DefinitionListSchema(ApiSchema):
    definitions = fields.List(fields.Nested(DefinitionSummarySchema))


@blp.route("/definitions")
@blp.response(200, DefinitionListSchema)
def list_definitions():
    """可办理的业务种类。"""
    return {"definitions": list_kinds(request_session())}


@blp.route("/definitions/<kind>")
@blp.response(200, DefinitionSchema)
def get_definition(kind: str):
    """一种业务的定义：环节、流转、表单字段（客户端据此渲染表单）。"""
    return current_definition(request_session(), kind)
