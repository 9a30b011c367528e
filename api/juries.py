"""Juries (评审委员会): forming a round's jury, members' votes, and what each reader may see.

Ballots are secret: no response lists who voted how. A member learns only whether they
voted; the case's reviewers see the count (not while they sit on the jury and the vote
runs). Each vote is an audit event of the case, as the engine logs it.
"""
from __future__ import annotations

from marshmallow import ValidationError, fields, validate, validates_schema

from api.blueprint import Blueprint
from api.case_views import CaseSummarySchema
from api.fields import LocalDateTime
from api.schemas import ApiSchema, ErrorSchema, RowId
from engine.base.errors import NotFound
from engine.cases.case import Case
from engine.definitions.forms import PlainText
from engine.procedures.juries import CHOICES, cast_vote, form_jury, juror_case_view, jury_duties, jury_of_case
from engine.procedures.rounds import get_round
from engine.reading.case_views import case_summary
from web.auth import current_actor
from web.database import request_session, unit_of_work

blp = Blueprint("juries", __name__, url_prefix="/api/v1", description="评审委员会与表决")

MAX_MEMBERS = 200


class FractionSchema(ApiSchema):
    numerator = fields.Integer(required=True, strict=True, validate=validate.Range(min=0, max=1000, error="应在 0 到 1000 之间"))
    denominator = fields.Integer(required=True, strict=True, validate=validate.Range(min=1, max=1000, error="应在 1 到 1000 之间"))

    @validates_schema
    def _at_most_one(self, data, **kwargs):
        if data.get("numerator", 0) > data.get("denominator", 1):
            raise ValidationError("比例不能大于 1", "numerator")


class NewJurySchema(ApiSchema):
    title = PlainText(required=True, validate=validate.Length(min=1, max=200, error="应为 1 到 200 个字"))
    member_ids = fields.List(RowId(strict=True), required=True, validate=validate.Length(
        min=1, max=MAX_MEMBERS, error=f"评委应为 1 到 {MAX_MEMBERS} 人"), metadata={"description": "评委的用户 id"})
    pass_fraction = fields.Nested(FractionSchema, load_default=None,
                                  metadata={"description": "同意票占到会评委的最低比例，默认 2/3"})
    quorum = fields.Nested(FractionSchema, load_default=None, metadata={"description": "到会评委占全体的最低比例，默认 2/3"})


class MemberSchema(ApiSchema):
    user_id = fields.Integer(attribute="id")
    name = fields.String(attribute="display_name")


class JurySchema(ApiSchema):
    id = fields.Integer()
    round_id = fields.Integer()
    title = fields.String()
    pass_fraction = fields.Function(lambda jury: {"numerator": jury.pass_numerator, "denominator": jury.pass_denominator})
    quorum = fields.Function(lambda jury: {"numerator": jury.quorum_numerator, "denominator": jury.quorum_denominator})


class FormedJurySchema(JurySchema):
    member_ids = fields.List(fields.Integer())


class TallySchema(ApiSchema):
    members = fields.Integer()
    present = fields.Integer()
    approve = fields.Integer()
    reject = fields.Integer()
    abstain = fields.Integer()
    rule = fields.String()
    quorum_met = fields.Boolean()
    passed = fields.Boolean()


class CaseJurySchema(ApiSchema):
    jury = fields.Nested(JurySchema)
    members = fields.List(fields.Nested(MemberSchema))
    votes_cast = fields.Integer(metadata={"description": "已投票的评委人数（不公开谁投了什么）"})
    voting_open = fields.Boolean(metadata={"description": "案件正处于评审表决阶段"})
    voted_by_me = fields.Boolean()
    tally = fields.Nested(TallySchema, allow_none=True,
                          metadata={"description": "计票结果：仅案件的审核人可见；兼任评委的审核人在表决结束后可见"})


class VoteSchema(ApiSchema):
    choice = fields.String(required=True, validate=validate.OneOf(list(CHOICES), error="应为以下之一：{choices}"),
                           metadata={"description": "approve 同意、reject 不同意、abstain 弃权"})


class VoteReceiptSchema(ApiSchema):
    case_id = fields.Integer()
    cast_at = LocalDateTime(attribute="cast_dt")


class DutySchema(ApiSchema):
    case_id = fields.Integer(attribute="case.id")
    kind = fields.String(attribute="case.kind")
    title = fields.String(attribute="case.title")
    state = fields.String(attribute="case.state")
    round_id = fields.Integer()
    voted = fields.Boolean(metadata={"description": "我是否已对该案件投票"})


class DutyListSchema(ApiSchema):
    duties = fields.List(fields.Nested(DutySchema))


class JurorRecordSchema(ApiSchema):
    id = fields.Integer()
    type = fields.String()
    type_label = fields.String()
    record_fields = fields.Dict(data_key="fields", metadata={"description": "记录内容；个人信息已遮蔽"})
    author = fields.String()
    unit = fields.String(allow_none=True)
    created_at = LocalDateTime()


class JurorCaseSchema(CaseSummarySchema):
    form = fields.Dict(metadata={"description": "表单字段值：身份证号等个人信息已遮蔽，附件项不列出"})
    records = fields.List(fields.Nested(JurorRecordSchema), metadata={"description": "案件的有效记录（如征求意见）"})
    jury = fields.Nested(CaseJurySchema, metadata={"description": "评审委员会、已投票人数、我是否已投（无计票结果）"})


def _fraction(value: dict | None, default: tuple[int, int]) -> tuple[int, int]:
    return default if value is None else (value["numerator"], value["denominator"])


@blp.route("/rounds/<int:round_id>/jury", methods=["POST"])
@blp.arguments(NewJurySchema)
@blp.response(201, FormedJurySchema)
@blp.alt_response(403, schema=ErrorSchema, description="调用人不是发布批次单位的审核人或管理员")
@blp.alt_response(404, schema=ErrorSchema, description="批次不存在或不在调用人的范围内")
@unit_of_work
def create_jury(data, round_id):
    """组建批次的评审委员会（每个批次一个；批次发布单位的审核人或管理员）。"""
    session, actor = request_session(), current_actor()
    jury = form_jury(session, actor, get_round(session, actor, round_id), title=data["title"],
                     member_ids=data["member_ids"], pass_fraction=_fraction(data["pass_fraction"], (2, 3)),
                     quorum=_fraction(data["quorum"], (2, 3)))
    jury.member_ids = list(dict.fromkeys(data["member_ids"]))  # not a column: this response only
    return jury


@blp.route("/cases/<int:case_id>/jury")
@blp.response(200, CaseJurySchema)
@blp.alt_response(404, schema=ErrorSchema, description="案件不存在、无权查看或尚无评审委员会")
def get_case_jury(case_id):
    """案件的评审委员会：评委、已投票人数、我是否已投；计票结果仅对案件的审核人显示。"""
    return jury_of_case(request_session(), current_actor(), case_id)


@blp.route("/cases/<int:case_id>/jury/votes", methods=["POST"])
@blp.arguments(VoteSchema)
@blp.response(201, VoteReceiptSchema)
@blp.alt_response(403, schema=ErrorSchema, description="调用人不是评委")
@blp.alt_response(409, schema=ErrorSchema, description="案件不在表决阶段")
@unit_of_work
def vote(data, case_id):
    """评委投票（同意、不同意或弃权），每人每案一次；重复投票返回 422。"""
    session = request_session()
    case = session.get(Case, case_id)
    if case is None:
        raise NotFound("案件不存在或您无权查看")
    return cast_vote(session, current_actor(), case, data["choice"])


@blp.route("/jury-duties")
@blp.response(200, DutyListSchema)
def list_jury_duties():
    """等我表决的案件：我任评委的批次中正处于表决阶段的案件（含已投票的，标明 voted）。"""
    return {"duties": jury_duties(request_session(), current_actor())}


@blp.route("/jury-duties/<int:case_id>")
@blp.response(200, JurorCaseSchema)
@blp.alt_response(404, schema=ErrorSchema, description="案件不存在，或不是提交调用人所在评审委员会表决的案件")
def get_jury_case(case_id):
    """评委查看提交本评审委员会表决的案件（只读，不论评委来自哪个单位）：申报内容和记录，
    身份证号等个人信息按审计人员的标准遮蔽；不含附件和办理过程。"""
    view = juror_case_view(request_session(), current_actor(), case_id)
    return case_summary(request_session(), view.case) | {"form": view.form, "records": view.records, "jury": view.jury}
