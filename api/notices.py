"""Public notices (公示) and objections (异议): open to anyone, no login.

A notice shows only the definition's public fields, for its whole period (an objection under
investigation leaves it listed, 「异议核查中」); a case not under notice is "not found",
whether or not it exists. Objections are rate-limited per address; the objectors' contact
details are read back only by the case's reviewers (in full) and auditors (masked); the
nominating unit, which answers, reads what each objection says but not who lodged it.
"""
from __future__ import annotations

from flask import url_for
from marshmallow import fields, pre_dump

from api.auth import public
from api.blueprint import Blueprint
from api.fields import LastDay, LocalDateTime
from api.schemas import ApiSchema, ErrorSchema
from engine.operations.objections import lodge_objection
from engine.procedures.notices import (
    OBJECTOR_KINDS, ObjectionSchema, case_objections, cases_on_notice, notice_of, objection_progress,
)
from web.auth import current_actor
from web.database import request_session, unit_of_work
from web.limits import objection_limits, objection_lookup_limits

blp = Blueprint("notices", __name__, url_prefix="/api/v1", description="公示与异议")

HOW_TO_OBJECT = ("对公示对象有异议的，请在公示期内实名提出：以个人名义提出须填写真实姓名和联系电话，"
                 "以单位名义提出须写明单位名称、联系人和联系电话，并写明异议的具体事实。匿名异议不予受理。")


class NoticeQuerySchema(ApiSchema):
    kind = fields.String(metadata={"description": "只看某一业务种类，如 honours、hardship_aid"})


class ShownFieldSchema(ApiSchema):
    label = fields.String()
    value = fields.String()


class ObjectorKindSchema(ApiSchema):
    value = fields.String()
    label = fields.String()


class HowToObjectSchema(ApiSchema):
    accepted = fields.Boolean(metadata={"description": "现在是否可以提出异议"})
    url = fields.String(metadata={"description": "提出异议的地址（POST）"})
    objector_kinds = fields.List(fields.Nested(ObjectorKindSchema))
    deadline = LocalDateTime(allow_none=True, metadata={"description": "异议截止时间"})
    instructions = fields.String()


class ProposedSchema(ApiSchema):
    label = fields.String(metadata={"description": "如「拟授予荣誉」「拟给予帮扶」（定义的 notice_proposed）"})
    value = fields.String(metadata={"description": "拟授予的荣誉或拟给予的帮扶"})


class NoticeContactSchema(ApiSchema):
    unit_id = fields.Integer()
    unit_name = fields.String(metadata={"description": "受理异议的单位（办理公示的单位）"})
    person = fields.String(allow_none=True, metadata={"description": "联系人；单位管理员未设置时为 null"})
    phone = fields.String(allow_none=True, metadata={"description": "联系电话；未设置时为 null"})
    address = fields.String(allow_none=True, metadata={"description": "地址；未设置时为 null"})


class NoticeSchema(ApiSchema):
    case_id = fields.Integer()
    kind = fields.String()
    kind_label = fields.String()
    unit_name = fields.String(metadata={"description": "申报（推荐）单位"})
    proposed = fields.Nested(ProposedSchema, allow_none=True, metadata={
        "description": "拟授予的荣誉或拟给予的帮扶；定义未配置时为 null"})
    contact = fields.Nested(NoticeContactSchema, metadata={"description": "异议受理单位及联系方式"})
    state_label = fields.String(metadata={"description": "公示；收到的异议正在调查时为「异议核查中」"})
    under_investigation = fields.Boolean(metadata={
        "description": "收到的异议正在调查核实：公示期内仍列出，但暂不受理新的异议"})
    fields_shown = fields.List(fields.Nested(ShownFieldSchema), attribute="shown", data_key="fields",
                               metadata={"description": "公示字段（只有定义列为公示的字段；敏感字段已遮蔽）"})
    notice_starts_at = LocalDateTime(attribute="notice_starts")
    notice_ends_at = LocalDateTime(attribute="notice_ends", allow_none=True,
                                   metadata={"description": "公示截止时间（按工作日计算）；日历未覆盖时为空"})
    notice_last_day = LastDay(attribute="notice_ends", allow_none=True,
                              metadata={"description": "公示最后一天（本地日期，可提出异议的最后一天）；日历未覆盖时为空"})
    how_to_object = fields.Nested(HowToObjectSchema, metadata={"description": "如何提出异议"})

    @pre_dump
    def _for_the_public(self, entry: dict, **kwargs) -> dict:
        how_to_object = {
            "accepted": entry["accepts_objections"], "url": url_for("api_notices.lodge", case_id=entry["case_id"]),
            "objector_kinds": [{"value": value, "label": label} for value, label in OBJECTOR_KINDS.items()],
            "deadline": entry["notice_ends"], "instructions": HOW_TO_OBJECT,
        }
        shown = [{"label": label, "value": value} for label, value in entry["fields"]]
        return {**entry, "shown": shown, "how_to_object": how_to_object}


class NoticeListSchema(ApiSchema):
    notices = fields.List(fields.Nested(NoticeSchema))


class ObjectionRequestSchema(ApiSchema, ObjectionSchema):
    """The engine's contact rules (real name, phone, a unit named), documented for clients."""


class ObjectionReceiptSchema(ApiSchema):
    receipt = fields.String(metadata={"description": "异议受理编号（如 YY2026-7KQ4-M9XD，随机生成）：凭它查询办理进度"})
    received_at = LocalDateTime(attribute="lodged_dt")
    progress_url = fields.Method("_progress_url", metadata={"description": "查询办理进度的地址（GET）"})

    def _progress_url(self, objection) -> str:
        return url_for("api_notices.get_objection_progress", receipt=objection.receipt)


class ProgressStepSchema(ApiSchema):
    step = fields.String(metadata={"description": "received（已受理）、investigating（核查中）、answered（已答复）、"
                                                  "decided（裁定：成立或不成立）"})
    label = fields.String()
    reached = fields.Boolean(metadata={"description": "是否已到这一步"})
    at = LocalDateTime(allow_none=True, metadata={"description": "到这一步的时间；未到为 null"})
    current = fields.Boolean(metadata={"description": "当前所处的一步"})
    skipped = fields.Boolean(metadata={"description": "被跳过（逾期未答复）"})


class ObjectionProgressSchema(ApiSchema):
    receipt = fields.String()
    kind_label = fields.String()
    status = fields.String(metadata={"description": "open、answered、upheld、dismissed、lapsed"})
    status_label = fields.String()
    received_at = LocalDateTime(attribute="lodged_dt")
    steps = fields.List(fields.Nested(ProgressStepSchema))
    notice_case_id = fields.Integer(allow_none=True, metadata={"description": "公示仍在列出时的公示编号，否则为 null"})
    contact = fields.Nested(NoticeContactSchema, allow_none=True)


class ObjectionEntrySchema(ApiSchema):
    id = fields.Integer()
    objector_withheld = fields.Boolean(metadata={
        "description": "异议人信息不向被异议的推荐（申报）单位公开：为 true 时异议人各项为 null"})
    objector_kind = fields.String(allow_none=True)
    objector_kind_label = fields.String(allow_none=True)
    objector_name = fields.String(allow_none=True)
    unit_name = fields.String(allow_none=True)
    contact = fields.String(allow_none=True, metadata={"description": "联系电话；审计人员看到的是遮蔽后的号码"})
    content = fields.String()
    status = fields.String()
    status_label = fields.String()
    lodged_at = LocalDateTime(attribute="lodged_dt")
    answer = fields.String(allow_none=True)
    answered_at = LocalDateTime(attribute="answered_dt", allow_none=True)
    judged_at = LocalDateTime(attribute="judged_dt", allow_none=True)


class ObjectionListSchema(ApiSchema):
    objections = fields.List(fields.Nested(ObjectionEntrySchema))


@blp.route("/public/notices")
@public
@blp.arguments(NoticeQuerySchema, location="query")
@blp.response(200, NoticeListSchema)
def list_notices(query):
    """正在公示的案件：只含公示字段、单位、公示起止时间和异议方式（无需登录）。"""
    return {"notices": cases_on_notice(request_session(), query.get("kind"))}


@blp.route("/public/notices/<int:case_id>")
@public
@blp.response(200, NoticeSchema)
@blp.alt_response(404, schema=ErrorSchema, description="没有这一公示（案件不在公示中或不存在）")
def get_notice(case_id):
    """一则公示（无需登录）。"""
    return notice_of(request_session(), case_id)


@blp.route("/public/notices/<int:case_id>/objections", methods=["POST"])
@public
@objection_limits
@blp.arguments(ObjectionRequestSchema)
@blp.response(201, ObjectionReceiptSchema)
@blp.alt_response(404, schema=ErrorSchema, description="没有这一公示，或公示期已结束")
@blp.alt_response(409, schema=ErrorSchema, description="已收到的异议正在调查核实，暂不受理新的异议")
@blp.alt_response(429, schema=ErrorSchema, description="提交过于频繁")
@unit_of_work
def lodge(data, case_id):
    """对公示提出异议（实名，无需登录，限制提交频率）；案件随即转入异议调查。
    回复中的受理编号（receipt）供异议人查询办理进度。"""
    return lodge_objection(request_session(), case_id, data)


@blp.route("/public/objections/<receipt>")
@public
@objection_lookup_limits
@blp.response(200, ObjectionProgressSchema)
@blp.alt_response(404, schema=ErrorSchema, description="没有这一受理编号（格式不对的编号同样如此）")
@blp.alt_response(429, schema=ErrorSchema, description="查询过于频繁")
def get_objection_progress(receipt):
    """凭受理编号查询异议的办理进度（无需登录，限制查询频率）：只有各步骤及日期，
    不含异议人、异议内容、核查答复和任何个人信息。"""
    return objection_progress(request_session(), receipt)


@blp.route("/cases/<int:case_id>/objections")
@blp.response(200, ObjectionListSchema)
@blp.alt_response(403, schema=ErrorSchema, description="管理员等不可查看异议")
def list_objections(case_id):
    """案件收到的异议：本案审核人可见异议人及联系方式，审计人员看到遮蔽后的电话；
    推荐（申报）单位须答复异议，可见异议内容、日期和办理情况，不可见异议人（objector_withheld）。"""
    return {"objections": case_objections(request_session(), current_actor(), case_id)}
