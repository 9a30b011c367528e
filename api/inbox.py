"""The inbox: cases waiting for the caller, filtered and paged by due date."""
from __future__ import annotations

from marshmallow import fields, validate

from api.blueprint import Blueprint
from api.fields import LastDay, LocalDateTime
from api.pagination import PageQuerySchema, page_schema
from api.schemas import ApiSchema, ErrorSchema, RowId
from engine.cases.inbox import (
    DEFAULT_DUE_SOON_WORKING_DAYS, DUE_FILTERS, InboxFilter, done_page, inbox_counts, inbox_page,
)
from engine.definitions.forms import PlainText
from web.auth import current_actor
from web.database import request_session
from web.paging import done_cursor_key, done_key_of, inbox_cursor_key, inbox_key_of, page

blp = Blueprint("inbox", __name__, url_prefix="/api/v1", description="待办")

INBOX_ROLES = ("reviewer", "applicant")


class RoleQuerySchema(ApiSchema):
    role = fields.String(load_default="reviewer", validate=validate.OneOf(INBOX_ROLES, error="应为以下之一：{choices}"),
                         metadata={"description": "reviewer：等我审核的案件；applicant：等我填报或修改的草稿"})


class InboxQuerySchema(PageQuerySchema, RoleQuerySchema):
    kind = PlainText(load_default=None, validate=validate.Length(min=1, max=63, error="应为 1 到 63 个字符"))
    round_id = RowId(load_default=None)
    state = PlainText(load_default=None, validate=validate.Length(min=1, max=63, error="应为 1 到 63 个字符"))
    unit_id = RowId(load_default=None,
                    metadata={"description": "只看在我任职的某一单位等待的案件"})
    due = fields.String(load_default="any", validate=validate.OneOf(DUE_FILTERS, error="应为以下之一：{choices}"),
                        metadata={"description": "overdue：已超期；due_soon：未超期且在 due_soon_days 个工作日内到期"})
    mine = fields.Boolean(load_default=False, metadata={"description": "只看我认领的（我的待办）"})
    q = PlainText(load_default=None, validate=validate.Length(min=1, max=100, error="应为 1 到 100 个字符"),
                  metadata={"description": "查找：案件编号（12、#12、第 12 号，直接定位该案件），或标题中的字词"
                                           "（被推荐人、申请人姓名），只在我的待办中查找"})
    due_soon_days = fields.Integer(load_default=DEFAULT_DUE_SOON_WORKING_DAYS, validate=validate.Range(
        min=1, max=30, error="应在 1 到 30 之间"), metadata={"description": "「即将到期」的工作日数"})


class OriginUnitSchema(ApiSchema):
    id = fields.Integer(attribute="origin_unit_id")
    name = fields.String(attribute="origin_unit_name")


class InboxItemSchema(ApiSchema):
    case_id = fields.Integer()
    kind = fields.String()
    kind_label = fields.String()
    state = fields.String()
    state_label = fields.String()
    title = fields.String()
    round_id = fields.Integer(allow_none=True)
    origin_unit = fields.Function(lambda entry: OriginUnitSchema().dump(entry))
    entered_at = LocalDateTime(attribute="entered_dt")
    due_at = LocalDateTime(attribute="due_dt", allow_none=True, metadata={"description": "办理期限；无期限或日历未覆盖时为 null"})
    last_day = LastDay(attribute="due_dt", allow_none=True, metadata={
        "description": "最迟办理日（本地日期）：due_at 为零点时是其前一天；无期限或日历未覆盖时为 null"})
    overdue = fields.Boolean()
    holder = fields.Function(lambda entry: {"id": entry.holder_id, "name": entry.holder_name} if entry.holder_id
                             else None, metadata={"description": "认领了该待办的人；null 表示尚未认领"})


InboxPageSchema = page_schema(InboxItemSchema, "InboxPage")


class DoneQuerySchema(PageQuerySchema):
    q = PlainText(load_default=None, validate=validate.Length(min=1, max=100, error="应为 1 到 100 个字符"),
                  metadata={"description": "案件编号，或标题中的字词"})


class DoneItemSchema(ApiSchema):
    task_id = fields.Integer()
    case_id = fields.Integer()
    title = fields.String()
    kind_label = fields.String()
    state_label = fields.String(metadata={"description": "我办理时案件所在的环节"})
    closed_at = LocalDateTime(attribute="closed_dt")
    closed_how = fields.String(allow_none=True, metadata={
        "description": "acted：我办理的；timed_out、withdrawn、moved_on 见 README「Deadlines」；早于待办记录的为 null"})
    now_state_label = fields.String(metadata={"description": "案件现在所在的环节"})


DonePageSchema = page_schema(DoneItemSchema, "DonePage")


class InboxCountSchema(ApiSchema):
    kind = fields.String()
    kind_label = fields.String()
    waiting = fields.Integer()
    overdue = fields.Integer()


class InboxCountsSchema(ApiSchema):
    counts = fields.List(fields.Nested(InboxCountSchema))


@blp.route("/inbox")
@blp.arguments(InboxQuerySchema, location="query")
@blp.response(200, InboxPageSchema)
@blp.alt_response(403, schema=ErrorSchema, description="调用人没有所查角色")
def list_inbox(query):
    """我的待办：按到期时间排序（无期限的在后），游标分页；新到的案件不会使已取的页重复或遗漏。"""
    wanted = InboxFilter(role=query["role"], kind=query["kind"], round_id=query["round_id"], state=query["state"],
                         unit_id=query["unit_id"], due=query["due"], due_soon_working_days=query["due_soon_days"],
                         mine=query["mine"], search=query["q"])
    entries = inbox_page(request_session(), current_actor(), wanted, after=inbox_cursor_key(query["cursor"]),
                         limit=query["limit"] + 1)
    return page(entries, query["limit"], inbox_key_of)


@blp.route("/inbox/done")
@blp.arguments(DoneQuerySchema, location="query")
@blp.response(200, DonePageSchema)
def list_done(query):
    """我已办：我办理过的待办，最近的在前；q 按案件编号或标题查找。"""
    entries = done_page(request_session(), current_actor(), search=query["q"], after=done_cursor_key(query["cursor"]),
                        limit=query["limit"] + 1)
    return page(entries, query["limit"], done_key_of)


@blp.route("/inbox/counts")
@blp.arguments(RoleQuerySchema, location="query")
@blp.response(200, InboxCountsSchema)
@blp.alt_response(403, schema=ErrorSchema, description="调用人没有所查角色")
def count_inbox(query):
    """我的待办数：按业务种类统计等待数和超期数。"""
    return {"counts": inbox_counts(request_session(), current_actor(), query["role"])}
