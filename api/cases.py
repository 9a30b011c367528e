"""Cases: start and fill in a draft, read one with its trail and the caller's actions, list
one's own, and act on cases — one at a time, in a batch (each on its own) or jointly (all or
none). Submitting is the ``submit`` action; there is no separate endpoint for it.
"""
from __future__ import annotations

from marshmallow import fields, validate

from api.blueprint import Blueprint
from api.case_views import ApprovalSheetSchema, CaseSummarySchema, CaseViewSchema, TimelineEventSchema
from api.errors import domain_error_body
from api.fields import LocalDateTime
from api.pagination import PageQuerySchema, page_schema
from api.schemas import ApiSchema, ErrorBodySchema, ErrorSchema, RowId
from engine.base.db import MAX_ROW_ID
from engine.cases.case import my_cases
from engine.cases.copies import MAX_COPY_NOTE_LENGTH
from engine.cases.opinions import asked_of
from engine.cases.permissions import get_case
from engine.definitions.forms import PlainText
from engine.operations.copying import copy_case
from engine.operations.holding import claim_task, release_task, take_over_task, transfer_task
from engine.operations.opinions import ask_opinions, give_opinion, withdraw_opinion_request
from engine.operations.transitions import (
    MAX_BATCH_SIZE, MAX_COMMENT_LENGTH, BatchOutcome, comment_on_case, create_draft, perform_action,
    perform_batch_action, perform_joint_action, update_draft,
)
from engine.operations.urging import MAX_URGE_NOTE_LENGTH, urge_case
from engine.reading.approval_sheet import approval_sheet
from engine.reading.case_views import case_summary, case_view
from web.auth import current_actor
from web.database import request_session, unit_of_work
from web.paging import id_cursor, page

blp = Blueprint("cases", __name__, url_prefix="/api/v1", description="案件：填报、查看、审核操作")

Identifier = lambda **kw: fields.String(validate=validate.Length(min=1, max=63, error="应为 1 到 63 个字符"), **kw)  # noqa: E731
Version = lambda **kw: fields.Integer(  # noqa: E731
    strict=True, validate=validate.Range(min=1, max=MAX_ROW_ID, error="版本号应为正整数"),
    metadata={"description": "您看到的案件版本号；案件已被他人更新时返回 409 和 current_version"}, **kw)
Comment = lambda **kw: PlainText(  # noqa: E731
    multiline=True, validate=validate.Length(max=MAX_COMMENT_LENGTH, error=f"意见不能超过 {MAX_COMMENT_LENGTH} 个字"), **kw)


# --- Input and result schemas ---------------------------------------------------------------------

class NewCaseSchema(ApiSchema):
    kind = Identifier(required=True, metadata={"description": "业务种类，见 GET /definitions"})
    origin_unit_id = RowId(strict=True, allow_none=True, metadata={"description": "申报单位；在多个单位有申报权限时必填"})
    round_id = RowId(strict=True, allow_none=True, metadata={"description": "评选批次（分批次的业务）"})
    form = fields.Dict(keys=fields.String(), allow_none=True, metadata={"description": "表单字段（可只填一部分）"})


class DraftUpdateSchema(ApiSchema):
    version = Version(required=True)
    form = fields.Dict(keys=fields.String(), required=True, metadata={"description": "要修改的字段；空字符串或 null 清空该项"})


class CaseListQuerySchema(PageQuerySchema):
    kind = Identifier(load_default=None)
    state = Identifier(load_default=None)


class ActionSchema(ApiSchema):
    version = Version(required=True)
    comment = Comment(allow_none=True)
    inputs = fields.Dict(keys=fields.String(), allow_none=True, metadata={"description": "该操作须填写的字段"})


class CommentSchema(ApiSchema):
    comment = Comment(required=True)


class UrgeSchema(ApiSchema):
    note = PlainText(allow_none=True, multiline=True, validate=validate.Length(
        max=MAX_URGE_NOTE_LENGTH, error=f"催办说明不能超过 {MAX_URGE_NOTE_LENGTH} 个字"),
        metadata={"description": "催办说明（选填），随通知发给审核人"})


class UrgeResultSchema(ApiSchema):
    case_id = fields.Integer()
    work_day = fields.Date(metadata={"description": "这次催办计入的工作日（非工作日催办计入下一个工作日）"})
    notified = fields.Integer(metadata={"description": "收到通知的审核人数"})


class CaseRefSchema(ApiSchema):
    id = RowId(strict=True, required=True)
    version = Version(required=True)


class ManyCasesActionSchema(ApiSchema):
    trigger = Identifier(required=True)
    comment = Comment(allow_none=True)
    cases = fields.List(fields.Nested(CaseRefSchema), required=True, validate=validate.Length(
        min=1, max=MAX_BATCH_SIZE, error=f"应选择 1 到 {MAX_BATCH_SIZE} 件案件"))


class ActionResultSchema(ApiSchema):
    case = fields.Nested(CaseViewSchema)
    event = fields.Nested(TimelineEventSchema, metadata={"description": "这次操作写入的审计事件"})


class BatchItemSchema(ApiSchema):
    case_id = fields.Integer()
    ok = fields.Boolean()
    status = fields.Integer(metadata={"description": "单独执行该案件时的 HTTP 状态码"})
    version = fields.Integer(metadata={"description": "成功时案件的新版本号"})
    state = fields.String()
    error = fields.Nested(ErrorBodySchema, metadata={"description": "失败时的错误，格式同单件操作"})


class BatchResultSchema(ApiSchema):
    results = fields.List(fields.Nested(BatchItemSchema))


class JointResultSchema(ApiSchema):
    cases = fields.List(fields.Nested(CaseSummarySchema))


CasePageSchema = page_schema(CaseSummarySchema, "CasePage")


# --- Views ----------------------------------------------------------------------------------------

@blp.route("/cases", methods=["POST"])
@blp.arguments(NewCaseSchema)
@blp.response(201, CaseViewSchema)
@blp.alt_response(422, schema=ErrorSchema, description="业务种类、申报单位或表单字段有误")
@unit_of_work
def create_case(data):
    """新建草稿（可同时填写部分表单）。"""
    session, actor = request_session(), current_actor()
    case = create_draft(session, actor, data["kind"], origin_unit_id=data.get("origin_unit_id"),
                        round_id=data.get("round_id"), form=data.get("form"))
    return case_view(session, actor, case)


@blp.route("/cases", methods=["GET"])
@blp.arguments(CaseListQuerySchema, location="query")
@blp.response(200, CasePageSchema)
def list_my_cases(query):
    """我的案件（我发起的，以及系统为我所在申报单位预填的），按新建先后倒序，可按业务种类和环节筛选。"""
    session = request_session()
    cases = my_cases(session, current_actor(), kind=query["kind"], state=query["state"],
                     before_id=id_cursor(query["cursor"]), limit=query["limit"] + 1)
    result = page(cases, query["limit"], lambda case: [case.id])
    return result | {"items": [case_summary(session, case) for case in result["items"]]}


@blp.route("/cases/<int:case_id>", methods=["GET"])
@blp.response(200, CaseViewSchema)
@blp.alt_response(404, schema=ErrorSchema, description="案件不存在或您无权查看")
def get_one_case(case_id):
    """一件案件：表单、办理记录，以及您现在可以执行的操作（个人信息和内部意见按您的角色显示）。"""
    session, actor = request_session(), current_actor()
    return case_view(session, actor, get_case(session, actor, case_id))


@blp.route("/cases/<int:case_id>/sheet", methods=["GET"])
@blp.response(200, ApprovalSheetSchema)
@blp.alt_response(404, schema=ErrorSchema, description="案件不存在或您无权查看")
def get_approval_sheet(case_id):
    """一件案件的审批表：表单和各级审核意见（办理人、单位、日期），供打印盖章；个人信息和内部意见按您的角色显示。"""
    session, actor = request_session(), current_actor()
    return approval_sheet(session, actor, get_case(session, actor, case_id))


@blp.route("/cases/<int:case_id>", methods=["PATCH"])
@blp.arguments(DraftUpdateSchema)
@blp.response(200, CaseViewSchema)
@blp.alt_response(409, schema=ErrorSchema, description="版本已过期（带 current_version），或案件已不是草稿")
@unit_of_work
def update_case(data, case_id):
    """修改草稿或退回修改的案件的表单（只改所给字段）。"""
    session, actor = request_session(), current_actor()
    case = update_draft(session, actor, get_case(session, actor, case_id), data["form"],
                        expected_version=data["version"])
    return case_view(session, actor, case)


@blp.route("/cases/<int:case_id>/actions/<trigger>", methods=["POST"])
@blp.arguments(ActionSchema)
@blp.response(200, ActionResultSchema)
@blp.alt_response(409, schema=ErrorSchema, description="版本已过期（带 current_version），或当前环节不能执行此操作")
@blp.alt_response(422, schema=ErrorSchema, description="输入有误，或不满足规则（带 reasons）")
@unit_of_work
def act_on_case(data, case_id, trigger):
    """执行一项操作（提交即 submit，另有 approve、return、reject 等，见案件的 available_actions）。"""
    session, actor = request_session(), current_actor()
    case = get_case(session, actor, case_id)
    event = perform_action(session, actor, case, trigger, expected_version=data["version"],
                           comment=data.get("comment"), inputs=data.get("inputs"))
    return _with_event(case_view(session, actor, case), event.seq)


@blp.route("/cases/<int:case_id>/comments", methods=["POST"])
@blp.arguments(CommentSchema)
@blp.response(201, ActionResultSchema)
@unit_of_work
def add_comment(data, case_id):
    """发表意见（不改变环节）；申报单位和审核单位的人员可用。"""
    session, actor = request_session(), current_actor()
    case = get_case(session, actor, case_id)
    event = comment_on_case(session, actor, case, data["comment"])
    return _with_event(case_view(session, actor, case), event.seq)


@blp.route("/cases/<int:case_id>/urge", methods=["POST"])
@blp.arguments(UrgeSchema)
@blp.response(201, UrgeResultSchema)
@blp.alt_response(403, schema=ErrorSchema, description="只有申请人或上级单位审核人可以催办")
@blp.alt_response(404, schema=ErrorSchema, description="案件不存在或您无权查看")
@blp.alt_response(409, schema=ErrorSchema, description="本工作日已催办过，或案件不在审核中")
@unit_of_work
def urge(data, case_id):
    """催办：通知案件当前环节的审核人；申请人或上级单位审核人可用，每件案件每个工作日一次。"""
    session, actor = request_session(), current_actor()
    return urge_case(session, actor, get_case(session, actor, case_id), note=data.get("note"))


class HoldingChangeSchema(ApiSchema):
    version = Version(required=True)


def _holding_route(path: str, summary: str):
    """POST /cases/{id}/<path>: one change of who holds the case's waiting task."""
    def register(change):
        @blp.route(f"/cases/<int:case_id>/{path}", methods=["POST"], endpoint=change.__name__)
        @blp.arguments(HoldingChangeSchema)
        @blp.response(200, ActionResultSchema)
        @blp.alt_response(403, schema=ErrorSchema, description="您不是当前环节所在单位的审核人")
        @blp.alt_response(409, schema=ErrorSchema, description="版本已过期（带 current_version），或已由他人认领、尚未认领等")
        @blp.doc(summary=summary)
        @unit_of_work
        def view(data, case_id):
            session, actor = request_session(), current_actor()
            case = get_case(session, actor, case_id)
            event = change(session, actor, case, expected_version=data["version"])
            return _with_event(case_view(session, actor, case), event.seq)
        return view
    return register


_holding_route("claim", "认领当前环节的待办：我的待办；同事仍可办理或接手")(claim_task)
_holding_route("release", "释放我认领的待办，交回单位")(release_task)
_holding_route("take-over", "接手同事认领的待办；原认领人会收到通知")(take_over_task)


class TransferSchema(ApiSchema):
    version = Version(required=True)
    to_user_id = RowId(required=True, metadata={"description": "接收人：本单位同一角色的同事（见 holding.colleagues）"})
    reason = Comment(required=True, metadata={"description": "转交理由，会通知接收人"})


@blp.route("/cases/<int:case_id>/transfer", methods=["POST"])
@blp.arguments(TransferSchema)
@blp.response(200, ActionResultSchema)
@blp.alt_response(403, schema=ErrorSchema, description="您不是当前环节所在单位的审核人")
@blp.alt_response(409, schema=ErrorSchema, description="版本已过期（带 current_version），或您没有认领该案件")
@blp.alt_response(422, schema=ErrorSchema, description="接收人不是本单位同一角色的同事，或没有填写理由")
@unit_of_work
def transfer(data, case_id):
    """转交：把我认领的待办交给本单位同一角色的同事，附理由；接收人会收到通知。"""
    session, actor = request_session(), current_actor()
    case = get_case(session, actor, case_id)
    event = transfer_task(session, actor, case, to_user_id=data["to_user_id"], reason=data["reason"],
                          expected_version=data["version"])
    return _with_event(case_view(session, actor, case), event.seq)


class AskOpinionsSchema(ApiSchema):
    version = Version(required=True)
    user_ids = fields.List(RowId(), required=True, metadata={"description": "征求意见的人（见 opinions.candidates），最多 10 人"})
    note = Comment(required=True, metadata={"description": "请对方就什么发表意见"})


class OpinionSchema(ApiSchema):
    opinion = Comment(required=True)


@blp.route("/cases/<int:case_id>/opinions/ask", methods=["POST"])
@blp.arguments(AskOpinionsSchema)
@blp.response(200, ActionResultSchema)
@blp.alt_response(403, schema=ErrorSchema, description="您不是当前环节的办理人")
@blp.alt_response(409, schema=ErrorSchema, description="版本已过期（带 current_version）")
@blp.alt_response(422, schema=ErrorSchema, description="人员不可征求，或没有说明")
@unit_of_work
def ask_opinions_route(data, case_id):
    """加签：办理前征求本单位或上级单位审核人的意见；每人一项有期限的待办，全部答复或撤回前不能作出决定。"""
    session, actor = request_session(), current_actor()
    case = get_case(session, actor, case_id)
    event = ask_opinions(session, actor, case, user_ids=data["user_ids"], note=data["note"],
                         expected_version=data["version"])
    return _with_event(case_view(session, actor, case), event.seq)


@blp.route("/cases/<int:case_id>/opinions", methods=["POST"])
@blp.arguments(OpinionSchema)
@blp.response(200, ActionResultSchema)
@blp.alt_response(409, schema=ErrorSchema, description="没有向您征求意见，或您已答复")
@unit_of_work
def give_opinion_route(data, case_id):
    """答复征求的意见；征求人会收到通知。"""
    session, actor = request_session(), current_actor()
    case = get_case(session, actor, case_id)
    event = give_opinion(session, actor, case, opinion=data["opinion"])
    return _with_event(case_view(session, actor, case), event.seq)


@blp.route("/cases/<int:case_id>/opinions/withdraw", methods=["POST"])
@blp.arguments(HoldingChangeSchema)
@blp.response(200, ActionResultSchema)
@blp.alt_response(409, schema=ErrorSchema, description="没有尚未答复的征求意见，或版本已过期")
@unit_of_work
def withdraw_opinions_route(data, case_id):
    """撤回尚未答复的征求意见（记入审计），以便作出决定。"""
    session, actor = request_session(), current_actor()
    case = get_case(session, actor, case_id)
    event = withdraw_opinion_request(session, actor, case, expected_version=data["version"])
    return _with_event(case_view(session, actor, case), event.seq)


class AskedOfMeSchema(ApiSchema):
    case_id = fields.Integer()
    title = fields.String()
    state = fields.String()
    asked_at = LocalDateTime(attribute="asked_dt")
    due_at = LocalDateTime(attribute="due_dt", allow_none=True)


class AskedOfMeListSchema(ApiSchema):
    items = fields.List(fields.Nested(AskedOfMeSchema))


@blp.route("/opinions", methods=["GET"])
@blp.response(200, AskedOfMeListSchema)
def opinions_asked_of_me():
    """征求我意见的案件（尚未答复），最早到期的在前。"""
    return {"items": asked_of(request_session(), current_actor())}


class CopySchema(ApiSchema):
    version = Version(required=True)
    user_ids = fields.List(RowId(), required=True, metadata={
        "description": "抄送给谁：见案件的 copy_candidates（本案件申报单位及其上级单位的审核人、审计人员）"})
    # Its length is checked by the engine, with the recipients, so that both are said at once.
    note = PlainText(allow_none=True, multiline=True, metadata={
        "description": f"抄送说明（选填，最多 {MAX_COPY_NOTE_LENGTH} 字），随通知发给被抄送人"})


@blp.route("/cases/<int:case_id>/copy", methods=["POST"])
@blp.arguments(CopySchema)
@blp.response(200, ActionResultSchema)
@blp.alt_response(403, schema=ErrorSchema, description="您不是当前环节的办理人（已认领的案件由认领人抄送）")
@blp.alt_response(409, schema=ErrorSchema, description="版本已过期（带 current_version），或案件不在审核中")
@blp.alt_response(422, schema=ErrorSchema, description="没有选择抄送对象、对象不可抄送，或说明过长")
@unit_of_work
def copy(data, case_id):
    """抄送：当前环节的办理人把案件抄送给本案件所在单位及上级单位的审核人或审计人员，附说明；被抄送人可以查看（个人信息遮蔽）、不能办理，并会收到通知。"""
    session, actor = request_session(), current_actor()
    case = get_case(session, actor, case_id)
    event = copy_case(session, actor, case, user_ids=data["user_ids"], note=data.get("note"),
                      expected_version=data["version"])
    return _with_event(case_view(session, actor, case), event.seq)


@blp.route("/batch-actions", methods=["POST"])
@blp.arguments(ManyCasesActionSchema)
@blp.response(200, BatchResultSchema)
@unit_of_work
def batch_action(data):
    """批量执行同一操作：逐件办理，一件失败不影响其他；每件的结果和错误与单件操作相同。"""
    outcomes = perform_batch_action(request_session(), current_actor(),
                                    [(ref["id"], ref["version"]) for ref in data["cases"]],
                                    data["trigger"], comment=data.get("comment"))
    return {"results": [_batch_item(outcome) for outcome in outcomes]}


@blp.route("/joint-actions", methods=["POST"])
@blp.arguments(ManyCasesActionSchema)
@blp.response(200, JointResultSchema)
@blp.alt_response(409, schema=ErrorSchema, description="有案件版本已过期或不能执行此操作：全部未办理")
@blp.alt_response(422, schema=ErrorSchema, description="不满足规则（如比例要求）：全部未办理")
@unit_of_work
def joint_action(data):
    """联合执行同一操作：作为一个决定全部办理或全部不办理（如按比例要求一并上报的推荐）。"""
    session, actor = request_session(), current_actor()
    cases = [(get_case(session, actor, ref["id"]), ref["version"]) for ref in data["cases"]]
    perform_joint_action(session, actor, cases, data["trigger"], comment=data.get("comment"))
    return {"cases": [case_summary(session, case) for case, _ in cases]}


# --- Helpers --------------------------------------------------------------------------------------

def _with_event(view: dict, seq: int) -> dict:
    return {"case": view, "event": next(entry for entry in view["timeline"] if entry["seq"] == seq)}


def _batch_item(outcome: BatchOutcome) -> dict:
    if outcome.ok:
        return {"case_id": outcome.case_id, "ok": True, "status": 200, "version": outcome.case.version,
                "state": outcome.case.state}
    # The error body and status the single action would have answered with.
    status, error = domain_error_body(outcome.error)
    return {"case_id": outcome.case_id, "ok": False, "status": status, "error": error}
