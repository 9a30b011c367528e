"""Parameter sets: the configured figures by org unit and period (standards, schemes, feed rules).

Amounts in ``values`` are strings with their decimals ("820.00"), as the set's schema
stores them. Stored sets are never edited: a change is a new set from a new date.
"""
from __future__ import annotations

from datetime import date

from marshmallow import ValidationError, fields, validates_schema

from api.blueprint import Blueprint
from api.fields import LocalDateTime
from api.schemas import ApiSchema, ErrorSchema, RowId
from engine.base.db import utcnow
from engine.procedures.parameters import (
    existing_unit, parameter_kind, parameter_versions, parameters_in_force, set_parameters,
)
from web.auth import current_actor
from web.database import request_session, unit_of_work
from web.localtime import local_timezone

blp = Blueprint("parameters", __name__, url_prefix="/api/v1", description="参数设置")


class InForceQuerySchema(ApiSchema):
    unit_id = RowId(required=True,
                    metadata={"description": "按该单位向上最近一级的设置查找"})
    on = fields.Date(load_default=None, metadata={"description": "适用日期 YYYY-MM-DD，默认今天"})


class ParameterSetSchema(ApiSchema):
    id = fields.Integer()
    name = fields.String()
    label = fields.Function(lambda row: parameter_kind(row.name).label)
    unit_id = fields.Integer()
    valid_from = fields.Date()
    valid_to = fields.Date(allow_none=True)
    values = fields.Dict(metadata={"description": "参数值；金额为两位小数的字符串"})
    content_hash = fields.String()
    created_at = LocalDateTime(attribute="created_dt")
    citation = fields.Function(lambda row: row.citation(), metadata={"description": "审计事件引用该参数集的方式"})


class ParameterVersionsSchema(ApiSchema):
    versions = fields.List(fields.Nested(ParameterSetSchema))


class NewParameterSetSchema(ApiSchema):
    unit_id = RowId(required=True)
    valid_from = fields.Date(required=True)
    valid_to = fields.Date(load_default=None, allow_none=True)
    values = fields.Dict(required=True, metadata={"description": "按该类参数的格式填写；金额写成 \"1200.00\""})

    @validates_schema
    def _period_not_empty(self, data, **kwargs):
        if data.get("valid_to") is not None and "valid_from" in data and data["valid_to"] < data["valid_from"]:
            raise ValidationError("结束日期不能早于开始日期", "valid_to")


def _today() -> date:
    return utcnow().astimezone(local_timezone()).date()


@blp.route("/parameter-sets/<name>")
@blp.arguments(InForceQuerySchema, location="query")
@blp.response(200, ParameterSetSchema)
@blp.alt_response(404, schema=ErrorSchema, description="未知的参数类别、单位不在范围内或当日没有适用的设置")
def get_in_force(query, name):
    """某单位在某日适用的参数（本级没有则取最近的上级），附审计引用。"""
    return parameters_in_force(request_session(), current_actor(), name, query["unit_id"], query["on"] or _today())


@blp.route("/parameter-sets/<name>/versions")
@blp.response(200, ParameterVersionsSchema)
@blp.alt_response(404, schema=ErrorSchema, description="未知的参数类别")
def list_versions(name):
    """我所在单位的上级、本级和下级设置过的各版参数，开始日期最近的在前。"""
    return {"versions": parameter_versions(request_session(), current_actor(), name)}


@blp.route("/parameter-sets/<name>", methods=["POST"])
@blp.arguments(NewParameterSetSchema)
@blp.response(201, ParameterSetSchema)
@blp.alt_response(403, schema=ErrorSchema, description="调用人不是该单位或其上级的管理员")
@blp.alt_response(404, schema=ErrorSchema, description="未知的参数类别")
@unit_of_work
def create_parameter_set(data, name):
    """新增一版参数（本级或上级管理员）；参数值按该类参数的格式校验。"""
    session = request_session()
    return set_parameters(session, current_actor(), name, unit=existing_unit(session, data["unit_id"]),
                          valid_from=data["valid_from"], valid_to=data["valid_to"], values=data["values"])
