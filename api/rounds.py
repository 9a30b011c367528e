"""Rounds (评选批次) and their quota tables (名额)."""
from __future__ import annotations

from marshmallow import ValidationError, fields, validate, validates_schema

from api.blueprint import Blueprint
from api.fields import LocalDateTime
from api.schemas import ApiSchema, ErrorSchema, RowId
from engine.definitions.forms import PlainText
from engine.procedures.parameters import existing_unit
from engine.procedures.rounds import (
    MAX_PLACES, QuotaRow, get_round, open_round, quota_status, quota_table, set_quota, visible_rounds,
)
from web.auth import current_actor
from web.database import request_session, unit_of_work

blp = Blueprint("rounds", __name__, url_prefix="/api/v1", description="评选批次与名额")


class RoundQuerySchema(ApiSchema):
    kind = PlainText(load_default=None, validate=validate.Length(min=1, max=63, error="应为 1 到 63 个字符"))


class UnitRefSchema(ApiSchema):
    id = fields.Integer()
    name = fields.String()


class RoundSummarySchema(ApiSchema):
    id = fields.Integer()
    kind = fields.String()
    unit_id = fields.Integer(metadata={"description": "发布批次的单位"})
    title = fields.String()
    year = fields.Integer()
    opens_at = LocalDateTime(attribute="opens_dt")
    closes_at = LocalDateTime(attribute="closes_dt")
    categories = fields.List(fields.String(), metadata={"description": "本批次的类别（如奖项），取自表单的类别字段"})


class RoundSchema(RoundSummarySchema):
    settings = fields.Dict(metadata={"description": "批次设置：差额推荐比例、比例限制及该业务自己的设置"})


class RoundListSchema(ApiSchema):
    rounds = fields.List(fields.Nested(RoundSummarySchema))


class NewRoundSchema(ApiSchema):
    kind = PlainText(required=True, validate=validate.Length(min=1, max=63, error="应为 1 到 63 个字符"))
    unit_id = RowId(required=True)
    title = PlainText(required=True, validate=validate.Length(min=1, max=200, error="应为 1 到 200 个字"))
    year = fields.Integer(required=True, validate=validate.Range(min=2000, max=2100, error="应在 2000 到 2100 之间"))
    opens_at = fields.AwareDateTime(required=True, metadata={"description": "开始接受推荐的时间（带时区）"})
    closes_at = fields.AwareDateTime(required=True, metadata={"description": "截止时间（带时区），应晚于开始时间"})
    categories = fields.List(PlainText(validate=validate.Length(min=1, max=63, error="应为 1 到 63 个字符")),
                             required=True)
    settings = fields.Dict(load_default=dict, metadata={"description": "批次设置；不认识的设置项会被拒绝"})

    @validates_schema
    def _window_not_empty(self, data, **kwargs):
        if "opens_at" in data and "closes_at" in data and data["closes_at"] <= data["opens_at"]:
            raise ValidationError("截止时间应晚于开始时间", "closes_at")


class QuotaSchema(ApiSchema):
    unit = fields.Function(lambda row: {"id": row.unit_id, "name": row.unit_name})
    category = fields.String()
    places = fields.Integer(attribute="status.places", metadata={"description": "分配的名额"})
    allowed = fields.Integer(attribute="status.allowed", metadata={"description": "按差额推荐比例可报送的数目"})
    used = fields.Integer(attribute="status.used")
    left = fields.Integer(attribute="status.left")


class QuotaTableSchema(ApiSchema):
    quotas = fields.List(fields.Nested(QuotaSchema))


class SetQuotaSchema(ApiSchema):
    unit_id = RowId(required=True)
    category = PlainText(required=True, validate=validate.Length(min=1, max=63, error="应为 1 到 63 个字符"))
    places = fields.Integer(required=True, strict=True, validate=validate.Range(
        min=0, max=MAX_PLACES, error=f"应在 0 到 {MAX_PLACES} 之间"))


@blp.route("/rounds")
@blp.arguments(RoundQuerySchema, location="query")
@blp.response(200, RoundListSchema)
def list_rounds(query):
    """我能看到的评选批次：本单位、上级单位和下级单位发布的，最近开始的在前。"""
    return {"rounds": visible_rounds(request_session(), current_actor(), query["kind"])}


@blp.route("/rounds", methods=["POST"])
@blp.arguments(NewRoundSchema)
@blp.response(201, RoundSchema)
@blp.alt_response(403, schema=ErrorSchema, description="调用人不是发布单位的审核人或管理员")
@unit_of_work
def create_round(data):
    """发布评选批次（发布单位的审核人或管理员）。"""
    session = request_session()
    return open_round(session, current_actor(), kind=data["kind"], unit=existing_unit(session, data["unit_id"]),
                      title=data["title"], year=data["year"], opens_dt=data["opens_at"], closes_dt=data["closes_at"],
                      categories=data["categories"], settings=data["settings"])


@blp.route("/rounds/<int:round_id>")
@blp.response(200, RoundSchema)
@blp.alt_response(404, schema=ErrorSchema, description="批次不存在或不在调用人的范围内")
def get_one_round(round_id):
    """一个评选批次及其设置。"""
    return get_round(request_session(), current_actor(), round_id)


@blp.route("/rounds/<int:round_id>/quotas")
@blp.response(200, QuotaTableSchema)
@blp.alt_response(404, schema=ErrorSchema, description="批次不存在或不在调用人的范围内")
def list_quotas(round_id):
    """批次的名额表：我的上级和下级单位各类别的名额、可报数、已用和剩余。"""
    session, actor = request_session(), current_actor()
    return {"quotas": quota_table(session, actor, get_round(session, actor, round_id))}


@blp.route("/rounds/<int:round_id>/quotas", methods=["PUT"])
@blp.arguments(SetQuotaSchema)
@blp.response(200, QuotaSchema)
@blp.alt_response(403, schema=ErrorSchema, description="调用人既非批次发布单位也非该单位的上级单位")
@blp.alt_response(404, schema=ErrorSchema, description="批次不存在或不在调用人的范围内")
@unit_of_work
def put_quota(data, round_id):
    """设置某下级单位某类别的名额（批次发布单位或该单位的上级单位的审核人、管理员）。"""
    session, actor = request_session(), current_actor()
    round_ = get_round(session, actor, round_id)
    unit = existing_unit(session, data["unit_id"])
    set_quota(session, actor, round_, unit, data["category"], data["places"])
    return QuotaRow(unit.id, unit.name, data["category"], quota_status(session, round_, unit.id, data["category"]))
